"""Quadrature consistency and exactness of the analytic derivatives."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import DATA

from melogit_cli.api import fit
from melogit_cli.engine.laplace.objective import LaplaceObjective
from melogit_cli.engine.model.covariance import CovBlock, LevelCovariance
from melogit_cli.engine.quadrature.rules import normal_rule
from melogit_cli.engine.quadrature.twolevel import ClusterData, TwoLevelQuadrature

HOSPITAL = "melogit hosp loginc distance dropout college || mother:, intmethod({m}) intpoints({n})"


def _fit(method: str, points: int):
    return fit(HOSPITAL.format(m=method, n=points), DATA / "hospital.dta")


def test_rule_integrates_normal_moments():
    rule = normal_rule(7, 2)
    w = np.exp(rule.log_weights)
    assert w.sum() == pytest.approx(1.0, abs=1e-14)
    assert (w[:, None] * rule.nodes**2).sum(axis=0) == pytest.approx([1.0, 1.0], abs=1e-13)
    assert (w * rule.nodes[:, 0] ** 4).sum() == pytest.approx(3.0, abs=1e-12)


def test_methods_converge_to_the_same_estimates():
    """mvaghermite, mcaghermite and ghermite agree more and more as intpoints() grows."""
    fits = {
        (m, n): _fit(m, n) for m in ("mvaghermite", "mcaghermite", "ghermite") for n in (4, 8, 40)
    }
    ll = {k: r.ll for k, r in fits.items()}
    for m in ("mvaghermite", "mcaghermite", "ghermite"):
        assert abs(ll[(m, 8)] - ll[(m, 40)]) < abs(ll[(m, 4)] - ll[(m, 40)])
    ref = fits[("mvaghermite", 40)]
    for m in ("mcaghermite", "ghermite"):
        other = fits[(m, 40)]
        assert abs(other.ll - ref.ll) < 1e-6
        for name, value in ref.params.items():
            assert abs(other.params[name] - value) < 1e-4 * max(1.0, abs(value)), (m, name)
    # with few points the adaptive methods are far closer than the non-adaptive one
    for m in ("mvaghermite", "mcaghermite"):
        assert abs(ll[(m, 8)] - ref.ll) < abs(ll[("ghermite", 8)] - ref.ll) / 10


def _hospital_model(method: str, points: int) -> TwoLevelQuadrature:
    import pandas as pd

    df = pd.read_csv(DATA / "hospital.csv").sort_values("mother", kind="stable")
    n = len(df)
    X = np.column_stack([df.loginc, df.distance, df.dropout, df.college, np.ones(n)])
    Z = np.column_stack([df.dropout, np.ones(n)])
    _, first = np.unique(df.mother.to_numpy(), return_index=True)
    starts = np.append(np.sort(first), n)
    data = ClusterData(
        df.hosp.to_numpy(float),
        np.ones(n),
        X,
        np.zeros(n),
        np.ones(n),
        Z,
        starts,
        np.ones(len(starts) - 1),
    )
    return TwoLevelQuadrature(data, LevelCovariance((CovBlock("unstructured", 2),)), method, points)


def _numeric_derivatives(f, x: np.ndarray, h: float = 1e-4):
    k = len(x)
    E = np.eye(k) * h
    g = np.array([(f(x + E[i]) - f(x - E[i])) / (2 * h) for i in range(k)])
    H = np.array(
        [
            [
                (f(x + E[i] + E[j]) - f(x + E[i] - E[j]) - f(x - E[i] + E[j]) + f(x - E[i] - E[j]))
                / (4 * h * h)
                for j in range(k)
            ]
            for i in range(k)
        ]
    )
    return g, H


def test_ghermite_derivatives_are_exact():
    """Non-adaptive nodes do not move: gradient and Hessian are those of the formula."""
    model = _hospital_model("ghermite", 9)
    x = np.array([0.5, -0.07, -1.9, 1.0, -3.2, -0.3, 0.2, 0.1])
    p = model.p

    def f(z):
        return model.loglik(z[:p], z[p:], model.prior_state(z[p:]))[0]

    ev = model.derivatives(x[:p], x[p:], model.prior_state(x[p:]))
    g, H = _numeric_derivatives(f, x)
    assert ev.ll == pytest.approx(f(x), abs=1e-10)
    np.testing.assert_allclose(ev.gradient, g, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ev.hessian, H, rtol=1e-4, atol=1e-3)


def test_laplace_gradient_is_exact():
    model = _hospital_model("laplace", 1)
    x = np.array([0.5, -0.07, -1.9, 1.0, -3.2, -0.3, 0.2, 0.1])
    obj = LaplaceObjective(model, model.prior_state(x[model.p :]))
    obj.value(x)
    g = obj.gradient(x, obj.state)
    num, _ = _numeric_derivatives(obj.value, x, h=1e-6)
    np.testing.assert_allclose(g, num, rtol=1e-5, atol=1e-5)


def test_adaptation_recovers_from_a_long_newton_step():
    """Tiny clusters with a large variance: the first Newton step lands far away, where
    iterating posterior moments from the old nodes collapses; the fit must still converge
    and agree with the other rules as the points grow."""
    cmd = (
        "melogit immun kid2p mom25p i.orderc i.eth i.wed i.hed everwork rural pcind81"
        " || mom:, nolog intmethod({}) intpoints({})"
    )
    mv7 = fit(cmd.format("mvaghermite", 7), DATA / "guimmun.dta")
    mv30 = fit(cmd.format("mvaghermite", 30), DATA / "guimmun.dta")
    mc30 = fit(cmd.format("mcaghermite", 30), DATA / "guimmun.dta")
    assert mv7.converged and mv30.converged
    assert abs(mv7.ll - mc30.ll) < 0.5
    assert abs(mv30.ll - mc30.ll) < 1e-4
    var = "/:var(_cons[mom])"
    assert abs(mv30.params[var] - mc30.params[var]) < 1e-3


@pytest.mark.parametrize("intercept_only", [False, True])
def test_padded_cluster_sums_equal_segment_sums(intercept_only: bool):
    """Per-cluster node sums by one batched product over zero-padded clusters equal the
    segment sums, for unequal clusters with two random effects and with a random
    intercept alone (whose weight sums come from the same product as the residual
    sums); a layout that would pad too much is refused."""
    from melogit_cli.engine.quadrature.twolevel import PaddedClusters

    rng = np.random.default_rng(11)
    sizes = rng.integers(1, 6, 40)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    n, K, p, q = int(sizes.sum()), 9, 3, 1 if intercept_only else 2
    X, Z = rng.normal(size=(n, p)), rng.normal(size=(n, q))
    if intercept_only:
        Z = np.ones((n, 1))
    resid, wgt = rng.normal(size=(n, K)), rng.random((n, K))
    padded = PaddedClusters.build(X, Z, starts, sizes, K)
    assert padded is not None
    s_beta, s_z, zz, xz = padded.node_sums(resid, wgt)

    def seg(values: np.ndarray) -> np.ndarray:
        return np.add.reduceat(values, starts, axis=0)

    np.testing.assert_allclose(s_beta, seg(resid[:, :, None] * X[:, None, :]), atol=1e-12)
    np.testing.assert_allclose(s_z, seg(resid[:, :, None] * Z[:, None, :]), atol=1e-12)
    ZZ = Z[:, None, :, None] * Z[:, None, None, :]
    np.testing.assert_allclose(zz, seg(wgt[:, :, None, None] * ZZ), atol=1e-12)
    XZ = X[:, None, :, None] * Z[:, None, None, :]
    np.testing.assert_allclose(xz, seg(wgt[:, :, None, None] * XZ), atol=1e-12)
    lopsided = np.array([200] + [1] * 50)
    lopsided_starts = np.concatenate([[0], np.cumsum(lopsided)[:-1]])
    rows = int(lopsided.sum())
    assert (
        PaddedClusters.build(
            X[:1].repeat(rows, 0), Z[:1].repeat(rows, 0), lopsided_starts, lopsided, K
        )
        is None
    )


def test_random_intercept_derivatives_from_the_likelihood_pass():
    """A random intercept's derivatives take the probabilities from the odds kept by the
    likelihood pass at the same point and nodes; they equal those of the general
    formulation (linear predictor and logistic function)."""
    model = _hospital_model("mvaghermite", 7)
    d = model.data
    data = ClusterData(
        d.y, d.trials, d.X, d.offset, d.obs_weight, d.Z[:, 1:], d.starts, d.cluster_weight
    )
    cov = LevelCovariance((CovBlock("identity", 1),))
    beta, theta = np.array([0.5, -0.07, -1.9, 1.0, -3.2]), np.array([0.2])
    after_pass = TwoLevelQuadrature(data, cov, "mvaghermite", 7)
    assert after_pass.intercept_only
    ll, state = after_pass.loglik(beta, theta, after_pass.start_state(beta, theta))
    assert after_pass._last_pass[-1] is not None  # the odds were kept
    kept = after_pass.derivatives(beta, theta, state)
    general = TwoLevelQuadrature(data, cov, "mvaghermite", 7)
    general.intercept_only = False
    fresh = general.derivatives(beta, theta, state)
    assert kept.ll == pytest.approx(fresh.ll, abs=1e-9)
    np.testing.assert_allclose(kept.gradient, fresh.gradient, rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(kept.hessian, fresh.hessian, rtol=1e-12, atol=1e-9)


def test_gauss_hermite_rule_read_back_from_the_cache(tmp_path, monkeypatch):
    """The cached rule is numpy's, bit for bit; a corrupt cache file is replaced; an
    unwritable cache directory still gives the rule."""
    from melogit_cli.engine.quadrature import rules as quadrature

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    x0, w0 = np.polynomial.hermite_e.hermegauss(11)
    for _ in range(2):  # computed and written, then read back
        x, w = quadrature.hermegauss(11)
        assert np.array_equal(x, x0) and np.array_equal(w, w0)
    (cached,) = (tmp_path / "melogit_cli").glob("hermegauss-11-*.npy")
    cached.write_bytes(b"not a rule")
    x, w = quadrature.hermegauss(11)
    assert np.array_equal(x, x0) and np.array_equal(w, w0)
    assert np.array_equal(np.load(cached), np.vstack([x0, w0]))
    blocked = tmp_path / "file"
    blocked.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))  # a file where the directory goes
    x, w = quadrature.hermegauss(5)
    assert np.array_equal(x, np.polynomial.hermite_e.hermegauss(5)[0])
