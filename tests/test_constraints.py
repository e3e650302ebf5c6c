"""constraint define/list/drop and melogit's constraints(numlist)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from melogit_cli.interp.runner import run_dofile
from melogit_cli.interp.session import Session


def run_text(text: str, tmp_path: Path) -> tuple[Session, object, str]:
    path = tmp_path / "t.do"
    path.write_text(text)
    stream = io.StringIO()
    session, failure = run_dofile(path, stream)
    return session, failure, stream.getvalue()


def coef(session: Session, name: str, col: str) -> tuple[float, float]:
    e = session.stored[name].e
    j = list(e.b.colnames).index(col)
    return float(e.b.data.reshape(-1)[j]), float(np.sqrt(e.V.data[j, j]))


MERGED = """\
webuse bangladesh
constraint 1 [c_use]1.children = [c_use]2.children
melogit c_use i.urban age i.children || district:, constraints(1)
estimates store cns
generate byte ch12 = children == 1 | children == 2
generate byte ch3 = children == 3
melogit c_use i.urban age ch12 ch3 || district:
estimates store merged
"""


def test_equal_dummies_equal_the_merged_dummy(tmp_path: Path) -> None:
    session, failure, out = run_text(MERGED, tmp_path)
    assert failure is None, out
    cns, merged = session.stored["cns"].e, session.stored["merged"].e
    assert abs(cns.scalars["ll"] - merged.scalars["ll"]) < 1e-6
    pairs = [
        ("c_use:1.children", "c_use:ch12"),
        ("c_use:2.children", "c_use:ch12"),
        ("c_use:3.children", "c_use:ch3"),
        ("c_use:1.urban", "c_use:1.urban"),
        ("c_use:age", "c_use:age"),
        ("c_use:_cons", "c_use:_cons"),
        ("/:var(_cons[district])", "/:var(_cons[district])"),
    ]
    for a, b in pairs:
        (ba, sa), (bb, sb) = coef(session, "cns", a), coef(session, "merged", b)
        assert ba == pytest.approx(bb, abs=1e-5), a
        assert sa == pytest.approx(sb, rel=1e-4), a
    # one constraint: Wald df one less, e(Cns) in Stata's layout, no LR test footer
    assert cns.scalars["df_m"] == merged.scalars["df_m"]
    names = list(cns.b.colnames)
    row = np.asarray(cns.matrices["Cns"].data, dtype=float).reshape(1, -1)
    assert cns.matrices["Cns"].colnames == names + ["_r"]
    assert row[0, names.index("c_use:1.children")] == 1.0
    assert row[0, names.index("c_use:2.children")] == -1.0
    assert np.count_nonzero(row) == 2
    assert " ( 1)  [c_use]1.children - [c_use]2.children = 0" in out
    first_fit = out.split("estimates store cns")[0]
    assert "LR test" not in first_fit
    # V has no variance in the constrained direction
    V = np.asarray(cns.V.data, dtype=float)
    i, j = names.index("c_use:1.children"), names.index("c_use:2.children")
    assert V[i, i] + V[j, j] - 2 * V[i, j] == pytest.approx(0.0, abs=1e-12)


def test_fixed_variance_is_reported_constrained(tmp_path: Path) -> None:
    text = (
        "webuse bangladesh\n"
        "constraint 2 [/]var(_cons[district]) = 0.25\n"
        "melogit c_use i.urban age || district:, constraints(2)\n"
    )
    session, failure, out = run_text(text, tmp_path)
    assert failure is None, out
    e = session.current.e
    j = list(e.b.colnames).index("/:var(_cons[district])")
    assert e.b.data.reshape(-1)[j] == pytest.approx(0.25, abs=1e-12)
    assert e.V.data[j, j] == 0.0
    assert " ( 1)  [/]var(_cons[district]) = .25" in out
    assert "(constrained)" in out


@pytest.mark.parametrize(
    ("define", "message", "rc"),
    [
        ("", "constraint 1 not defined", 111),
        ("constraint 1 [c_use]foo = 0\n", "[c_use]foo not found", 111),
        (
            "constraint 1 [c_use]age = 0.1\nconstraint 2 [c_use]age = 0.2\n",
            "constraint (2) inconsistent with the constraints before it",
            412,
        ),
        (
            "constraint 1 [/]var(_cons[district]) = -1\n",
            "constraint (1) invalid: a variance must be positive",
            198,
        ),
        (
            "constraint 1 [/]var(_cons[district]) + [c_use]age = 1\n",
            "constraint (1) not allowed: constraints on variance components may fix "
            "variances and covariances, make two variances proportional, or make two "
            "covariances of pairwise equal variances equal",
            198,
        ),
    ],
)
def test_bad_constraints(tmp_path: Path, define: str, message: str, rc: int) -> None:
    text = f"webuse bangladesh\n{define}melogit c_use age || district:, constraints(1 2)\n"
    if "constraint 2" not in define:
        text = text.replace("constraints(1 2)", "constraints(1)")
    _, failure, out = run_text(text, tmp_path)
    assert failure is not None
    assert failure.error.message == message
    assert failure.error.rc == rc
    assert "Traceback" not in out


def test_redundant_constraint_is_dropped(tmp_path: Path) -> None:
    text = (
        "webuse bangladesh\n"
        "constraint 1 [c_use]age = 0\n"
        "constraint 2 2*[c_use]age = 0\n"
        "melogit c_use i.urban age || district:, constraints(1 2)\n"
    )
    session, failure, out = run_text(text, tmp_path)
    assert failure is None, out
    assert "note: constraint (2) dropped" in out
    assert session.current.e.matrices["Cns"].rownames == ["_ce_1"]


SLOPES = """\
webuse bangladesh
generate byte u = urban
generate byte r = 1 - urban
"""


def test_pattern_with_equal_variances_equals_identity(tmp_path: Path) -> None:
    text = SLOPES + (
        "melogit c_use age || district: u r, nocons cov(identity)\n"
        "estimates store ident\n"
        "matrix P = (1, . \\ ., 1)\n"
        "constraint 5 [/]cov(u[district],r[district]) = 0\n"
        "melogit c_use age || district: u r, nocons cov(pattern(P)) constraints(5)\n"
        "estimates store pat\n"
    )
    session, failure, out = run_text(text, tmp_path)
    assert failure is None, out
    ident, pat = session.stored["ident"].e, session.stored["pat"].e
    assert abs(ident.scalars["ll"] - pat.scalars["ll"]) < 1e-6
    for col in ("c_use:age", "c_use:_cons"):
        (b1, s1), (b2, s2) = coef(session, "ident", col), coef(session, "pat", col)
        assert b1 == pytest.approx(b2, abs=1e-6)
        assert s1 == pytest.approx(s2, rel=1e-4)
    (v1, se1) = coef(session, "ident", "/:var(u[district])")
    for col in ("/:var(u[district])", "/:var(r[district])"):
        v2, se2 = coef(session, "pat", col)
        assert v2 == pytest.approx(v1, rel=1e-6)
        assert se2 == pytest.approx(se1, rel=1e-4)
    assert " ( 2)  [/]var(u[district]) - [/]var(r[district]) = 0" in out
    assert "cov(u,r)|          0  (constrained)" in out


def test_fixed_variance_at_its_estimate_reproduces_the_fit(tmp_path: Path) -> None:
    text = SLOPES + (
        "melogit c_use age || district: u r, nocons cov(unstructured)\n"
        "estimates store un\n"
        "matrix F = (., . \\ ., _b[/var(r[district])])\n"
        "melogit c_use age || district: u r, nocons cov(fixed(F))\n"
        "estimates store fx\n"
    )
    session, failure, out = run_text(text, tmp_path)
    assert failure is None, out
    un, fx = session.stored["un"].e, session.stored["fx"].e
    assert abs(un.scalars["ll"] - fx.scalars["ll"]) < 1e-6
    for col in ("c_use:age", "c_use:_cons", "/:var(u[district])", "/:cov(u[district],r[district])"):
        assert coef(session, "fx", col)[0] == pytest.approx(coef(session, "un", col)[0], abs=1e-5)
    v, se = coef(session, "fx", "/:var(r[district])")
    assert v == pytest.approx(coef(session, "un", "/:var(r[district])")[0], rel=1e-12)
    assert se == 0.0
    assert "var(r)|   .4205399  (constrained)" in out


@pytest.mark.parametrize(
    ("setup", "cov", "message", "rc"),
    [
        ("", "fixed(F)", "matrix F not found", 111),
        ("matrix F = (1, 2, 3)\n", "fixed(F)", "covariance(fixed(F)): matrix F must be 2 x 2", 503),
        (
            "matrix F = (., . \\ .5, .)\n",
            "fixed(F)",
            "constraint covariance(fixed(F)) not allowed: constraints on variance components "
            "may fix variances and covariances, make two variances proportional, or make two "
            "covariances of pairwise equal variances equal",
            198,
        ),
        (
            "matrix P = (1, . \\ 1, .)\n",
            "pattern(P)",
            "constraint covariance(pattern(P)) not allowed: constraints on variance components "
            "may fix variances and covariances, make two variances proportional, or make two "
            "covariances of pairwise equal variances equal",
            198,
        ),
    ],
)
def test_bad_covariance_matrices(
    tmp_path: Path, setup: str, cov: str, message: str, rc: int
) -> None:
    text = SLOPES + setup + f"melogit c_use age || district: u r, nocons cov({cov})\n"
    _, failure, out = run_text(text, tmp_path)
    assert failure is not None
    assert failure.error.message == message
    assert failure.error.rc == rc
    assert "Traceback" not in out


def test_constraint_list_and_drop(tmp_path: Path) -> None:
    text = (
        "constraint 1 [c_use]1.children = [c_use]2.children\n"
        "constraint define 2 [/]var(_cons[district]) = 0.25\n"
        "constraint list\n"
        "constraint drop 1\n"
        "constraint list\n"
    )
    session, failure, out = run_text(text, tmp_path)
    assert failure is None, out
    assert session.constraints == {2: "[/]var(_cons[district]) = 0.25"}
    assert "     1:  [c_use]1.children = [c_use]2.children\n" in out
    assert out.count("     2:  [/]var(_cons[district]) = 0.25\n") == 2


def test_bhhh_matrix_under_constraints_in_the_sd_metric(monkeypatch: pytest.MonkeyPatch) -> None:
    """A constraint on a variance makes the maximizer work in the metric of standard
    deviations and correlations; technique(bhhh)'s matrix in the reduced coordinates z is
    the cross-product of each cluster's scores in z, dx/dz' times those in x (dx/dz here
    by central differences of the map z -> x, not the metric's own Jacobian)."""
    from melogit_cli.api import fit
    from melogit_cli.engine import fit as engine_fit
    from melogit_cli.engine.optimize.differences import central_differences

    made = []
    original = engine_fit._opg

    def kept(model, objective, p, constraints):
        made.append((model, objective, p, constraints, original(model, objective, p, constraints)))
        return made[-1][-1]

    monkeypatch.setattr(engine_fit, "_opg", kept)
    command = (
        "melogit c_use age || district: urban, cov(unstructured) intmethod(laplace) "
        "constraints(1) technique(bhhh 2 nr)"
    )
    data = Path(__file__).parent.parent / "fixtures" / "data" / "bangladesh.dta"
    result = fit(command, data, constraints={1: "_b[/:var(urban[district])] = 0.3"})
    model, objective, p, cns, opg = made[-1]
    assert cns.metric is not None
    z = cns.to_reduced(result.estimation.fit.x)
    x = cns.to_full(z)
    dx_dz = central_differences(cns.to_full, z, np.full(len(z), 1e-6))  # z x x
    scores = model.cluster_scores(x[:p], x[p:], objective.state) @ dx_dz.T  # clusters x z
    expected = (scores * model.data.cluster_weight[:, None]).T @ scores
    np.testing.assert_allclose(opg(z), expected, rtol=1e-6)
