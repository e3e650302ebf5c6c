"""predict and estat after melogit, checked against computations written out here."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from conftest import session_with
from scipy.special import expit, ndtri

from melogit_cli.errors import StataError
from melogit_cli.interp.runner import execute
from melogit_cli.interp.session import Session
from melogit_cli.render.formats import fmt

EXAMPLE_1 = "melogit c_use i.urban age i.children, nofvlabel || district:"


@pytest.fixture(scope="module")
def ex1():
    session, stream = session_with(
        "webuse bangladesh",
        f"quietly {EXAMPLE_1}",
        "predict re, reffects",
        "predict double re_d, reffects",
        "predict double se_d, reses",
        "predict double mode_d, reffects ebmodes",
        "predict double modese_d, reses conditional(ebmodes)",
        "predict double mu_d",
        "predict double eta_d, eta",
        "predict double xb_d, xb",
        "predict double stdp_d, stdp",
        "predict double fo_d, mu conditional(fixedonly)",
        "predict double marg_d, mu marginal",
    )
    return session, stream.getvalue()


def _fixed_part(session: Session) -> np.ndarray:
    f = session.ds.frame
    e = session.current.e
    b = dict(zip(e.b.colnames, e.b.data[0], strict=True))
    xb = b["c_use:_cons"] + b["c_use:1.urban"] * (f.urban == 1) + b["c_use:age"] * f.age
    for k in (1, 2, 3):
        xb = xb + b[f"c_use:{k}.children"] * (f.children == k)
    return xb.to_numpy(dtype=float)


def _posterior_by_quadrature(session: Session, points: int = 60):
    """Posterior mean and SD of each district's intercept, with a `points`-point
    Gauss-Hermite rule against the N(0, var) prior, one district at a time in numpy."""
    f = session.ds.frame
    e = session.current.e
    var = float(e.b.data[0, e.b.colnames.index("/:var(_cons[district])")])
    xb = _fixed_part(session)
    x, w = np.polynomial.hermite_e.hermegauss(points)
    w = w / w.sum()
    u = math.sqrt(var) * x
    y = f.c_use.to_numpy(dtype=float)
    means, sds = {}, {}
    for district, rows in f.groupby("district").indices.items():
        eta = xb[rows, None] + u[None, :]
        loglik = (y[rows, None] * eta - np.logaddexp(0.0, eta)).sum(axis=0)
        logw = loglik + np.log(w)
        p = np.exp(logw - logw.max())
        p /= p.sum()
        means[district] = float(p @ u)
        sds[district] = float(np.sqrt(p @ u**2 - (p @ u) ** 2))
    d = f.district.to_numpy()
    return np.array([means[k] for k in d]), np.array([sds[k] for k in d]), xb, u, w


def test_reffects_are_posterior_means(ex1):
    session, out = ex1
    mean, sd, _, _, _ = _posterior_by_quadrature(session)
    f = session.ds.frame
    assert np.max(np.abs(f.re_d - mean)) < 1e-5
    assert np.max(np.abs(f.re - mean)) < 1e-5  # float storage
    assert np.max(np.abs(f.se_d - sd)) < 1e-5
    assert "(calculating posterior means of random effects)\n(using 7 quadrature points)" in out
    assert session.ds.variable_labels["re"] == "empirical Bayes' means for _cons[district]"
    assert session.ds.storage_type("re") == "float"
    assert np.array_equal(f.re.to_numpy(), f.re_d.to_numpy().astype(np.float32).astype(float))


def test_ebmodes_solve_the_posterior_score(ex1):
    session, _ = ex1
    f = session.ds.frame
    e = session.current.e
    var = float(e.b.data[0, e.b.colnames.index("/:var(_cons[district])")])
    xb = _fixed_part(session)
    u = f.mode_d.to_numpy()
    p = expit(xb + u)
    score = pd.Series(f.c_use - p).groupby(f.district).sum()
    modes = pd.Series(u).groupby(f.district).first()
    assert np.max(np.abs(score - modes / var)) < 1e-8
    info = pd.Series(p * (1 - p)).groupby(f.district).sum() + 1 / var
    se = pd.Series(f.modese_d.to_numpy()).groupby(f.district).first()
    assert np.allclose(se, 1 / np.sqrt(info), atol=1e-10)
    assert np.max(np.abs(f.mode_d - f.re_d)) > 1e-3  # modes are not means


def test_mu_eta_xb_stdp_and_marginal(ex1):
    session, _ = ex1
    f = session.ds.frame
    mean, _, xb, u, w = _posterior_by_quadrature(session)
    assert np.allclose(f.xb_d, xb, atol=1e-12)
    assert np.allclose(f.eta_d, xb + f.re_d, atol=1e-12)
    assert np.allclose(f.mu_d, expit(xb + f.re_d), atol=1e-12)
    assert np.max(np.abs(f.mu_d - expit(xb + mean))) < 1e-5
    assert np.allclose(f.fo_d, expit(xb), atol=1e-12)
    marginal = expit(xb[:, None] + u[None, :]) @ w
    assert np.max(np.abs(f.marg_d - marginal)) < 1e-6
    e = session.current.e
    names = ["1.urban", "age", "1.children", "2.children", "3.children", "_cons"]
    idx = [e.b.colnames.index(f"c_use:{n}") for n in names]
    V = e.V.data[np.ix_(idx, idx)]
    X = np.column_stack(
        [f.urban == 1, f.age, f.children == 1, f.children == 2, f.children == 3,
         np.ones(len(f))]
    ).astype(float)
    stdp = np.sqrt(np.einsum("ij,jk,ik->i", X, V, X))
    assert np.allclose(f.stdp_d, stdp, rtol=1e-10)


def test_estat_icc_is_the_latent_scale_formula(ex1):
    session, _ = ex1
    stream = session.out.stream
    start = len(stream.getvalue())
    execute(session, "estat icc")
    out = stream.getvalue()[start:]
    e = session.current.e
    j = e.b.colnames.index("/:var(_cons[district])")
    var, se_var = e.b.data[0, j], math.sqrt(e.V.data[j, j])
    icc = var / (var + math.pi**2 / 3)
    se = (math.pi**2 / 3) / (var + math.pi**2 / 3) ** 2 * se_var
    z = ndtri(0.975)
    half = z * se / (icc * (1 - icc))
    lo, hi = expit(math.log(icc / (1 - icc)) - half), expit(math.log(icc / (1 - icc)) + half)
    assert math.isclose(session.r_scalars["icc2"], icc, rel_tol=1e-12)
    assert math.isclose(session.r_scalars["se2"], se, rel_tol=1e-12)
    assert np.allclose(session.r_matrices["ci2"].data, [[lo, hi]])
    lines = out.splitlines()
    assert lines[:3] == ["", "Residual intraclass correlation", ""]
    assert lines[4] == f"{'Level':>28} |        ICC   Std. err.     [95% conf. interval]"
    row = (
        f"{'district':>28} |{fmt(icc, '%9.0g'):>11}{fmt(se, '%9.0g'):>11}"
        f"{fmt(lo, '%9.0g'):>14}{fmt(hi, '%9.0g'):>12}"
    )
    assert lines[6] == row
    assert row == "                    district |   .0614766   .0196228       .032539    .1131392"


def test_estat_icc_titles_and_refusals():
    session, stream = session_with("webuse bangladesh", "quietly melogit c_use || district:")
    execute(session, "estat icc, level(90)")
    out = stream.getvalue()
    assert "\nIntraclass correlation\n" in out and "[90% conf. interval]" in out
    execute(session, "quietly melogit c_use age || district: urban")
    execute(session, "estat icc")
    out = stream.getvalue()
    assert "\nConditional intraclass correlation\n" in out
    assert "Note: ICC is conditional on zero values of random-effects covariates." in out
    execute(session, "quietly melogit c_use age || district: urban, noconstant")
    with pytest.raises(StataError) as err:
        execute(session, "estat icc")
    assert err.value.rc == 459


def test_estat_group_and_ic(ex1):
    session, _ = ex1
    stream = session.out.stream
    start = len(stream.getvalue())
    execute(session, "estat group")
    execute(session, "estat ic")
    lines = stream.getvalue()[start:].splitlines()
    assert " Group variable |     groups    Minimum    Average    Maximum" in lines
    assert "       district |         60          2       32.2        118" in lines
    e = session.current.e
    ll = e.scalars["ll"]
    aic, bic = -2 * ll + 14, -2 * ll + math.log(1934) * 7
    S = session.r_matrices["S"].data[0]
    assert np.allclose(S[[0, 2, 3, 4, 5]], [1934, ll, 7, aic, bic])
    assert math.isnan(S[1])
    row = [x for x in lines if x.startswith("           . |")][0]
    assert row.split() == [".", "|", "1,934", ".", fmt(ll, "%9.0g").strip(), "7",
                           fmt(aic, "%9.0g").strip(), fmt(bic, "%9.0g").strip()]


def test_predictions_survive_export_delimited(ex1, tmp_path):
    session, _ = ex1
    path = tmp_path / "pred.csv"
    execute(session, f"export delimited district re re_d mu_d using {path}, replace")
    back = pd.read_csv(path)
    f = session.ds.frame
    assert np.array_equal(back.district, f.district)
    # a float variable is written as the shortest text that reads back to the same float
    assert np.array_equal(back.re.to_numpy(np.float32), f.re.to_numpy(np.float32))
    assert np.max(np.abs(back.re - f.re)) < 1e-7
    assert np.array_equal(back.re_d.to_numpy(), f.re_d.to_numpy())  # double: full precision
    assert np.array_equal(back.mu_d.to_numpy(), f.mu_d.to_numpy())


def test_predict_follows_the_observations_and_uses_the_data_in_memory():
    session, _ = session_with(
        "webuse bangladesh",
        f"quietly {EXAMPLE_1}",
        "predict double a, reffects",
        "predict double xa, xb",
        "sort age",
        "predict double b, reffects",
        "drop if district == 1",
        "predict double c, reffects",
        "replace urban = 1 - urban",
        "predict double xc, xb",
    )
    f = session.ds.frame
    assert np.allclose(f.a, f.b, rtol=0, atol=1e-12)
    assert np.allclose(f.a, f.c, rtol=0, atol=1e-12)  # the other districts are unchanged
    e = session.current.e
    b_urban = e.b.data[0, e.b.colnames.index("c_use:1.urban")]
    assert np.allclose(f.xc - f.xa, np.where(f.urban == 1, b_urban, -b_urban))


def test_predict_outside_the_sample_and_with_if():
    session, _ = session_with(
        "webuse bangladesh",
        "quietly melogit c_use age if urban == 0 || district:",
        "predict double p if age > 0",
        "predict double x, xb",
        "predict double m, marginal",
    )
    f = session.ds.frame
    assert f.x.notna().all() and f.m.notna().all()  # the fixed portion: every observation
    assert f.p[(f.urban == 1)].isna().all()
    assert f.p[(f.urban == 0) & (f.age <= 0)].isna().all()
    assert f.p[(f.urban == 0) & (f.age > 0)].notna().all()


def test_predict_random_slopes_and_names():
    session, _ = session_with(
        "webuse bangladesh",
        "quietly melogit c_use age || district: urban, cov(unstructured)",
        "predict u*, reffects",
        "predict s1 s2, reses",
    )
    assert {"u1", "u2", "s1", "s2"} <= set(session.ds.varnames)
    assert session.ds.variable_labels["u1"] == "empirical Bayes' means for urban[district]"
    with pytest.raises(StataError) as err:
        execute(session, "predict only_one, reffects")
    assert (err.value.message, err.value.rc) == ("too few variables specified", 102)
    with pytest.raises(StataError) as err:
        execute(session, "predict a b, mu")
    assert err.value.rc == 103
    with pytest.raises(StataError) as err:
        execute(session, "predict u1, xb")
    assert err.value.rc == 110
    with pytest.raises(StataError) as err:
        execute(session, "predict z, bogus")
    assert (err.value.message, err.value.rc) == ("option bogus not allowed", 198)


def test_predict_after_a_laplace_fit():
    """intmethod(laplace) fits a two-level model with the joint Laplace engine; predict
    still works from the model's clusters: the modes solve the posterior score."""
    session, _ = session_with(
        "webuse bangladesh",
        f"quietly {EXAMPLE_1}, intmethod(laplace)",
        "predict double mode_d, reffects ebmodes",
        "predict double mu_d",
    )
    f = session.ds.frame
    e = session.current.e
    assert e.macros["intmethod"] == "laplace"
    var = float(e.b.data[0, e.b.colnames.index("/:var(_cons[district])")])
    u = f.mode_d.to_numpy()
    p = expit(_fixed_part(session) + u)
    score = pd.Series(f.c_use - p).groupby(f.district).sum()
    modes = pd.Series(u).groupby(f.district).first()
    assert np.max(np.abs(score - modes / var)) < 1e-8
    assert np.all(np.isfinite(f.mu_d)) and np.all((f.mu_d > 0) & (f.mu_d < 1))


def test_estat_icc_of_a_nested_model_from_e():
    from melogit_cli.interp.session import Estimate
    from melogit_cli.results.eresults import EResults, Matrix

    names = ["y:x", "y:_cons", "/:var(_cons[school])", "/:var(_cons[school>class])"]
    V = np.diag([0.01, 0.02, 0.04, 0.09])
    V[2, 3] = V[3, 2] = 0.01
    e = EResults(
        scalars={"N": 100.0},
        macros={"cmd2": "melogit", "ivars": "school class", "covariates": "x"},
        matrices={
            "b": Matrix(["y1"], names, np.array([[0.5, -1.0, 0.4, 0.6]])),
            "V": Matrix(names, names, V),
        },
    )
    session, stream = session_with()
    session.current = Estimate(e)
    execute(session, "estat icc")
    total = 1.0 + math.pi**2 / 3
    assert math.isclose(session.r_scalars["icc3"], 0.4 / total)
    assert math.isclose(session.r_scalars["icc2"], 1.0 / total)
    g3 = np.array([total - 0.4, -0.4]) / total**2
    g2 = np.array([total - 1.0, total - 1.0]) / total**2
    Vv = V[2:, 2:]
    assert math.isclose(session.r_scalars["se3"], math.sqrt(g3 @ Vv @ g3))
    assert math.isclose(session.r_scalars["se2"], math.sqrt(g2 @ Vv @ g2))
    assert session.r_macros == {"label3": "school", "label2": "class|school"}
    lines = stream.getvalue().splitlines()
    assert lines[1] == "Residual intraclass correlation"
    assert lines[6].startswith(f"{'school':>28} |") and lines[7].startswith(
        f"{'class|school':>28} |"
    )
    e.macros["ivars"] = "_all pid"
    with pytest.raises(StataError) as err:
        execute(session, "estat icc")
    assert err.value.rc == 198 and "crossed" in err.value.message
