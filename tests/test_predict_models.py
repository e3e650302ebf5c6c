"""predict after nested and crossed models, scores and residuals, against computations
written out here (fits cached per module)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import DATA, reference, session_with
from scipy.special import expit

from melogit_cli.errors import StataError
from melogit_cli.interp.runner import execute

GUIM = reference("guimmun_lr3_ghermite12")["command"]
EX2 = "melogit c_use i.urban age i.children || district: i.urban"
EX5 = "melogit attain_gt_6 sex || _all:R.sid || pid:"


def value(e, name: str) -> float:
    return float(e.b.data[0, e.b.colnames.index(name)])


@pytest.fixture(scope="module")
def lr3():
    return session_with(
        f"use {DATA / 'guimmun.dta'}",
        f"quietly {GUIM}",
        "predict double re*, reffects reses(se*) intpoints(30)",
        "predict double mu, mu intpoints(30)",
        "predict double pe, pearson intpoints(30)",
        "predict double xb, xb",
    )


def test_nested_reffects_and_reses_give_two_variables_per_level(lr3):
    session, stream = lr3
    f = session.ds.frame
    assert {"re1", "re2", "se1", "se2"} <= set(f.columns)
    labels = session.ds.variable_labels
    assert labels["re2"] == "empirical Bayes' means for _cons[cluster>mom]"
    assert labels["se1"] == "S.E. of empirical Bayes' means for _cons[cluster]"
    assert "(calculating posterior means of random effects)\n(using 30 quadrature points)" in (
        stream.getvalue()
    )
    # one value per unit: constant within mothers and within clusters
    assert f.groupby("mom").re2.nunique().max() == 1
    assert f.groupby("cluster").re1.nunique().max() == 1
    assert (f.se1 > 0).all() and (f.se2 > 0).all()


def _posterior_by_quadrature(f, e, mom: int, nodes: int = 48) -> tuple[float, float, float]:
    """E[u_mom | data], SD[u_mom | data] and E[u_cluster | data] by a nested Gauss-Hermite
    integral over the mother's cluster (``nodes`` points at each level)."""
    sc = value(e, "/:var(_cons[cluster])") ** 0.5
    sm = value(e, "/:var(_cons[cluster>mom])") ** 0.5
    names = [c for c in e.b.colnames if c.startswith("immun:")]
    x, w = np.polynomial.hermite_e.hermegauss(nodes)
    w = w / w.sum()
    cluster = f.loc[f.mom == mom, "cluster"].iloc[0]
    rows = f[f.cluster == cluster]
    xb = np.zeros(len(rows))
    for name in names:
        term = name.split(":", 1)[1]
        b = value(e, name)
        if term == "_cons":
            xb += b
        elif "." in term:
            level, var = term.split(".")
            if level[-1] != "b":
                xb += b * (rows[var] == int(level)).to_numpy()
        else:
            xb += b * rows[term].to_numpy()
    y = rows.immun.to_numpy()
    log_total = np.zeros(nodes)
    for m in np.unique(rows.mom):
        r = (rows.mom == m).to_numpy()
        eta = xb[r][:, None, None] + sc * x[None, :, None] + sm * x[None, None, :]
        like = np.exp((y[r][:, None, None] * eta - np.logaddexp(0, eta)).sum(axis=0))
        L_m = like @ w
        log_total += np.log(L_m)
        if m == mom:
            first = (like @ (w * sm * x)) / L_m
            second = (like @ (w * (sm * x) ** 2)) / L_m
    wc = w * np.exp(log_total - log_total.max())
    wc /= wc.sum()
    mean = float(wc @ first)
    sd = float(np.sqrt(wc @ second - mean**2))
    return mean, sd, float(wc @ (sc * x))


def test_nested_eb_means_equal_a_high_order_quadrature_of_the_posterior(lr3):
    session, _ = lr3
    f = session.ds.frame
    e = session.current.e
    for mom in (f.mom.iloc[0], f.mom.iloc[500], f.mom.iloc[-1]):
        mean, sd, mean_c = _posterior_by_quadrature(f, e, mom)
        row = f[f.mom == mom].iloc[0]
        assert abs(row.re2 - mean) < 1e-6
        assert abs(row.se2 - sd) < 1e-6
        assert abs(row.re1 - mean_c) < 1e-6


def test_nested_mu_and_pearson_residuals(lr3):
    session, _ = lr3
    f = session.ds.frame
    e = session.current.e
    # the plug-in linear predictor: the fixed portion plus both levels' EB means
    assert np.allclose(f.mu, expit(f.xb + f.re1 + f.re2), rtol=1e-13, atol=0)
    pearson = (f.immun - f.mu) / np.sqrt(f.mu * (1 - f.mu))
    assert abs((f.pe**2).sum() - (pearson**2).sum()) < 1e-8 * (pearson**2).sum()
    assert e.macros["cmd2"] == "melogit"


def test_nested_ebmodes_and_fixedonly():
    session, stream = session_with(
        f"use {DATA / 'guimmun.dta'}",
        f"quietly {GUIM}",
        "predict double m*, reffects ebmodes",
        "predict double xb, xb",
        "predict double fo, conditional(fixedonly)",
    )
    f = session.ds.frame
    assert "(calculating posterior modes of random effects)" in stream.getvalue()
    assert np.allclose(f.fo, expit(f.xb), rtol=0, atol=1e-15)
    # at the joint mode the score of each mother's effect is zero
    e = session.current.e
    vm = value(e, "/:var(_cons[cluster>mom])")
    p = expit(f.xb + f.m1 + f.m2)
    score = (f.immun - p).groupby(f.mom).sum()
    assert np.max(np.abs(score - f.groupby("mom").m2.first() / vm)) < 1e-7


@pytest.fixture(scope="module")
def ex5():
    return session_with(
        f"use {DATA / 'fifeschool.dta'}",
        "generate byte attain_gt_6 = attain > 6",
        f"quietly {EX5}",
        "predict double re_sid re_pid, reffects",
        "predict double mu",
        "predict double xb, xb",
    )


def test_crossed_reffects_are_the_joint_laplace_modes(ex5):
    session, stream = ex5
    f = session.ds.frame
    e = session.current.e
    assert "(calculating posterior means of random effects)" in stream.getvalue()
    v_sid = value(e, "/:var(_cons[_all>sid])")
    v_pid = value(e, "/:var(_cons[pid])")
    p = expit(f.xb + f.re_sid + f.re_pid)
    resid = f.attain_gt_6 - p
    # the joint mode: each effect's posterior score is zero
    s_sid = resid.groupby(f.sid).sum() - f.groupby("sid").re_sid.first() / v_sid
    s_pid = resid.groupby(f.pid).sum() - f.groupby("pid").re_pid.first() / v_pid
    assert max(np.max(np.abs(s_sid)), np.max(np.abs(s_pid))) < 1e-7


def test_crossed_mu_averages_to_the_engines_fitted_values(ex5):
    from melogit_cli.engine.laplace.crossed import CrossedLaplace
    from melogit_cli.estimate import crossed_arrays

    session, _ = ex5
    f = session.ds.frame
    estimation = session.current.estimation
    data, cov = crossed_arrays(estimation.design)
    engine = CrossedLaplace(data, cov)
    fit = estimation.fit
    factors = engine._factors(fit.theta)
    v = engine.modes(fit.beta, fit.theta, factors, engine.prior_state(fit.theta))[0]
    rows = engine._values(factors)
    eta = engine._eta(engine.data.X @ fit.beta + engine.data.offset, rows, v)
    fitted = expit(eta) @ engine.data.obs_weight / engine.data.obs_weight.sum()
    assert abs(f.mu.mean() - fitted) < 1e-9


def test_scores_sum_to_the_gradient_and_give_the_opg_variance():
    session, _ = session_with(
        f"use {DATA / 'bangladesh.dta'}",
        f"quietly {EX2}, vce(opg)",
        "predict double s*, scores",
    )
    e = session.current.e
    k = len(e.b.colnames)
    S = session.ds.frame[[f"s{j + 1}" for j in range(k)]].fillna(0).to_numpy()
    assert np.allclose(S.sum(axis=0), e.matrices["gradient"].data[0], rtol=0, atol=1e-10)
    V = e.V.data
    idx = np.flatnonzero(np.diag(V) > 0)
    opg = np.linalg.inv(S[:, idx].T @ S[:, idx])
    assert np.max(np.abs(opg - V[np.ix_(idx, idx)])) < 1e-8
    assert session.ds.variable_labels["s1"] == "parameter 1 score"


def test_residuals_density_and_distribution_two_level():
    session, _ = session_with(
        f"use {DATA / 'bangladesh.dta'}",
        f"quietly {EX2}",
        "predict double mu",
        "predict double pe, pearson",
        "predict double de, deviance",
        "predict double an, anscombe",
        "predict double dens, density",
        "predict double dist, distribution",
        "predict double mm, marginal",
    )
    f = session.ds.frame
    y, mu = f.c_use.to_numpy(), f.mu.to_numpy()
    pearson = (y - mu) / np.sqrt(mu * (1 - mu))
    assert abs((f.pe**2).sum() - (pearson**2).sum()) < 1e-9 * (pearson**2).sum()
    assert np.allclose(f.de**2, -2 * np.log(np.where(y == 1, mu, 1 - mu)), rtol=1e-12)
    assert np.all(np.sign(f.an) == np.sign(y - mu))
    assert np.allclose(f.dens, np.where(y == 1, mu, 1 - mu), rtol=1e-12)
    assert np.allclose(f.dist, np.where(y == 1, 1.0, 1 - mu), rtol=1e-12)
    assert f.mm.between(0, 1).all()


@pytest.mark.parametrize(
    "command,message,rc",
    [
        ("predict z, bogus", "option bogus not allowed", 198),
        ("predict a, reffects", "too few variables specified", 102),
        ("predict a b c, reffects", "too many variables specified", 103),
        ("predict a b, reffects reses(s1)", "too few variables specified", 102),
        ("predict c_use, xb", "variable c_use already defined", 110),
        ("predict z, xb reses(s*)", "option reses() not allowed", 198),
        ("predict z, pearson marginal", "option marginal not allowed with pearson", 198),
        ("predict z, intpoints(0)", "intpoints() must be a positive integer", 198),
        ("predict z, tolerance(x)", "tolerance() invalid", 198),
        ("predict z, mu eta", "only one statistic may be specified", 198),
        ("predict a*, reffects reses(a*)", "variable a1 already defined", 110),
    ],
)
def test_bad_input(command, message, rc):
    session, _ = session_with(
        f"use {DATA / 'bangladesh.dta'}", f"quietly {EX2}, intmethod(laplace)"
    )
    with pytest.raises(StataError) as err:
        execute(session, command)
    assert (err.value.message, err.value.rc) == (message, rc)
