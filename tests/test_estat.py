"""estat after melogit: icc at every level of a nested model, sd, recovariance, vce,
summarize and ic, against e(b) and e(V) (fits cached per module)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import DATA, reference, run_in, session_with

from melogit_cli.errors import StataError
from melogit_cli.interp.runner import execute

GUIM = reference("guimmun_lr3_ghermite12")["command"]
EX2_UN = "melogit c_use i.urban age i.children || district: i.urban, cov(unstructured)"


@pytest.fixture(scope="module")
def lr3():
    return session_with(f"use {DATA / 'guimmun.dta'}", f"quietly {GUIM}")


@pytest.fixture(scope="module")
def ex2():
    return session_with(f"use {DATA / 'bangladesh.dta'}", f"quietly {EX2_UN}")


def b_of(e, name: str) -> float:
    return float(e.b.data[0, e.b.colnames.index(name)])


def test_icc_of_the_three_level_model_at_both_levels(lr3):
    session, stream = lr3
    text = run_in(session, stream, "estat icc")
    e = session.current.e
    v3 = b_of(e, "/:var(_cons[cluster])")
    v2 = b_of(e, "/:var(_cons[cluster>mom])")
    total = v3 + v2 + math.pi**2 / 3
    assert abs(session.r_scalars["icc3"] - v3 / total) < 1e-12
    assert abs(session.r_scalars["icc2"] - (v3 + v2) / total) < 1e-12
    assert session.r_macros["label2"] == "mom|cluster"
    lines = text.splitlines()
    assert any(line.startswith(f"{'cluster':>28} |") for line in lines)
    assert any(line.startswith(f"{'mom|cluster':>28} |") for line in lines)


def test_sd_and_correlation_with_delta_method_errors(ex2):
    session, stream = ex2
    text = run_in(session, stream, "estat sd")
    e = session.current.e
    names = e.b.colnames
    v1, v0 = b_of(e, "/:var(1.urban[district])"), b_of(e, "/:var(_cons[district])")
    c = b_of(e, "/:cov(1.urban[district],_cons[district])")
    b = session.r_matrices["b"]
    assert b.colnames == [
        "district:sd(1.urban)", "district:sd(_cons)", "district:corr(1.urban,_cons)"
    ]
    assert np.allclose(b.data[0], [math.sqrt(v1), math.sqrt(v0), c / math.sqrt(v1 * v0)])
    j = names.index("/:var(_cons[district])")
    se = math.sqrt(e.V.data[j, j]) / (2 * math.sqrt(v0))
    assert abs(math.sqrt(session.r_matrices["V"].data[1, 1]) - se) < 1e-12
    assert "                   sd(_cons) |" in text
    assert "  Random-effects parameters  |   Estimate   Std. err.     [95% conf. interval]" in text
    text = run_in(session, stream, "estat sd, variance")
    assert "                  var(_cons) |" in text


def test_recovariance_and_its_correlation(ex2):
    session, stream = ex2
    text = run_in(session, stream, "estat recovariance, relevel(district) correlation")
    e = session.current.e
    assert "Random-effects correlation matrix for level district" in text
    # as Stata's estat recovariance: with relevel() the displayed matrix is r(Corr)
    R = session.r_matrices["Corr"].data
    v1, v0 = b_of(e, "/:var(1.urban[district])"), b_of(e, "/:var(_cons[district])")
    c = b_of(e, "/:cov(1.urban[district],_cons[district])")
    assert abs(R[0, 1] - c / math.sqrt(v1 * v0)) < 1e-15
    run_in(session, stream, "estat recovariance")
    assert session.r_matrices["Cov2"].data[0, 1] == c
    assert session.r_scalars["relevels"] == 2
    with pytest.raises(StataError) as err:
        execute(session, "estat recovariance, relevel(region)")
    assert (err.value.message, err.value.rc) == ("variable region not found", 111)


def test_vce_summarize_and_ic(ex2):
    session, stream = ex2
    e = session.current.e
    text = run_in(session, stream, "estat vce")
    assert "Covariance matrix of coefficients of melogit model" in text
    # as Stata's vce: r(V) is the matrix shown, base levels left out
    keep = [j for j, n in enumerate(e.b.colnames) if "b." not in n]
    assert np.array_equal(session.r_matrices["V"].data, e.V.data[np.ix_(keep, keep)])
    run_in(session, stream, "estat summarize")
    stats = session.r_matrices["stats"]
    assert stats.rownames == ["c_use", "urban", "age", "children"]
    f = session.ds.frame
    assert abs(stats.data[0, 0] - f.c_use.mean()) < 1e-12
    assert abs(stats.data[2, 1] - f.age.std()) < 1e-12
    text = run_in(session, stream, "estat ic, n(60)")
    assert text.rstrip().endswith("Note: BIC uses N = 60.")
    S = session.r_matrices["S"].data[0]
    assert abs(S[5] - (-2 * e.scalars["ll"] + math.log(60) * S[3])) < 1e-9


@pytest.mark.parametrize(
    "command,message,rc",
    [
        ("estat sd, bogus", "option bogus not allowed", 198),
        ("estat vce, foo", "option foo not allowed", 198),
        ("estat ic, n(x)", "n() invalid", 198),
        ("estat ic, bic", "option bic not allowed", 198),
        ("estat sd, level(5)", "level() must be between 10 and 99.99 inclusive", 198),
        ("estat icc, foo", "option foo not allowed", 198),
        ("estat icc, level(90) post", "option post not allowed", 198),
        ("estat group, foo", "option foo not allowed", 198),
    ],
)
def test_bad_input(ex2, command, message, rc):
    session, _ = ex2
    with pytest.raises(StataError) as err:
        execute(session, command)
    assert (err.value.message, err.value.rc) == (message, rc)
