"""from(matname [, skip copy]) after matrix b = e(b), and noestimate."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from conftest import DATA

from melogit_cli.api import fit
from melogit_cli.errors import StataError
from melogit_cli.interp.runner import run_dofile
from melogit_cli.results.eresults import Matrix

EX1 = "melogit c_use i.urban age i.children || district:"


def _run(text: str, tmp_path: Path):
    path = tmp_path / "t.do"
    path.write_text(f"use {DATA / 'bangladesh.dta'}, clear\n{text}")
    stream = io.StringIO()
    session, failure = run_dofile(path, stream)
    return session, failure, stream.getvalue()


@pytest.mark.parametrize("opts", ["from(b)", "from(b, copy)", "from(b, skip)"])
def test_from_ebmatrix_converges_at_once(tmp_path, opts) -> None:
    session, failure, out = _run(
        f"{EX1}, nolog\nmatrix b = e(b)\n{EX1}, {opts}\nmatrix b2 = e(b)\n", tmp_path
    )
    assert failure is None, out
    e = session.current.e
    assert e.scalars["ic"] <= 2
    assert e.scalars["converged"] == 1
    np.testing.assert_allclose(
        session.matrices["b2"].data, session.matrices["b"].data, rtol=1e-6, atol=1e-7
    )
    assert out.split("Fitting full model:")[-1].count("Iteration") <= 3


@pytest.mark.parametrize("opts", ["from(B)", "from(B, copy)"])
def test_from_a_matrix_through_the_python_api(opts) -> None:
    """``fit(..., matrices=)`` names the matrix from() reads, as the do-file's matrices
    do: started at the estimates, the fit converges at once to the same point."""
    first = fit(EX1, DATA / "bangladesh.dta")
    again = fit(f"{EX1}, {opts}", DATA / "bangladesh.dta", matrices={"B": first.e.b})
    assert again.e.scalars["converged"] == 1 and again.e.scalars["ic"] <= 2
    np.testing.assert_allclose(again.e.b.data, first.e.b.data, rtol=1e-6, atol=1e-7)
    with pytest.raises(StataError) as err:
        fit(f"{EX1}, {opts}", DATA / "bangladesh.dta")
    assert (err.value.message, err.value.rc) == ("matrix B not found", 111)


@pytest.mark.parametrize(
    ("text", "message", "rc"),
    [
        (f"{EX1}, from(nosuch)", "matrix nosuch not found", 111),
        (
            f"{EX1}, from(c_use:foo=1)",
            "from(): extra parameter c_use:foo found; specify skip option if necessary",
            111,
        ),
    ],
)
def test_from_errors(tmp_path, text, message, rc) -> None:
    _, failure, out = _run(text + "\n", tmp_path)
    assert failure is not None
    assert f"{message}\nr({rc});" in out


def test_from_skip_ignores_extra_names(tmp_path) -> None:
    _, failure, out = _run(f"{EX1}, from(c_use:foo=1 c_use:age=-0.02, skip) nolog\n", tmp_path)
    assert failure is None, out


def test_noestimate_shows_the_start_values() -> None:
    res = fit(f"{EX1}, noestimate", DATA / "bangladesh.dta", log=True)
    assert "Fitting full model" not in res.log
    assert res.e.scalars["converged"] == 0
    assert res.ll == pytest.approx(-1219.1137, abs=1e-4)  # grid node 0 of the log
    assert res.params.iloc[-1] == pytest.approx(1.0)  # var(_cons[district]) starts at 1
    assert "Legend" in res.summary()


def test_startgrid_gives_each_variance_its_own_values() -> None:
    """A level with an identity block (one variance on two effects) and an intercept: the
    grid crosses the two variances (4 nodes after node 0), each node the likelihood at its
    own variances, as from() with noestimate computes it there (from() too gave the
    block's variance to its first effect alone)."""
    model = "melogit c_use age || district: urban age, cov(identity) || district:"
    model += ", intmethod(ghermite)"  # fixed nodes: the likelihood is the point's alone
    data = DATA / "bangladesh.dta"
    grid = fit(f"{model} startgrid(0.5 2) iterate(0)", data, log=True)
    nodes = [float(line.split("=")[1]) for line in grid.log.splitlines() if "Grid node" in line]
    assert len(nodes) == 5 and len(set(nodes)) == 5
    # node 0: the betas of the fixed-effects fit (cut by iterate(0) as well), variances 1
    start = fit(f"{model} noestimate iterate(0)", data).e.b
    for k, variances in enumerate([(0.5, 0.5), (0.5, 2), (2, 0.5), (2, 2)], start=1):
        at = np.asarray(start.data, dtype=float).copy()
        at[0, -2:] = variances
        B = Matrix(start.rownames, start.colnames, at)
        there = fit(f"{model} from(B) noestimate", data, matrices={"B": B})
        assert round(there.ll, 4) == nodes[k]


@pytest.mark.parametrize(
    "structure",
    [
        "urban age, cov(identity)",
        "urban age child1, cov(exchangeable)",
        "urban age, cov(independent)",
        "urban age, cov(unstructured)",
    ],
)
def test_from_then_noestimate_gives_back_the_values(structure: str) -> None:
    """from() sets every parameter to its value: e(b) at the start is the vector given
    (an identity or exchangeable block's variance and covariance are every effect's)."""
    model = f"melogit c_use age || district: {structure} noestimate"
    data = DATA / "bangladesh.dta"
    start = fit(model, data).e.b
    at = np.asarray(start.data, dtype=float).copy()
    names = start.colnames
    for j, name in enumerate(names):
        if "var(" in name:
            at[0, j] = 0.3 + 0.1 * j
        elif "cov(" in name:
            at[0, j] = 0.05
    given = Matrix(start.rownames, names, at)
    back = fit(model.replace("noestimate", "from(B) noestimate"), data, matrices={"B": given})
    np.testing.assert_allclose(np.asarray(back.e.b.data, dtype=float), at, rtol=1e-12)


def test_from_a_matrix_whose_names_do_not_match_its_values() -> None:
    bad = Matrix(["y1"], ["c_use:age"], np.array([[0.1, 0.2]]))
    with pytest.raises(StataError) as err:
        fit(f"{EX1}, from(B)", DATA / "bangladesh.dta", matrices={"B": bad})
    assert (err.value.message, err.value.rc) == ("conformability error", 503)
