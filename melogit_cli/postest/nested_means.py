"""Posterior means and covariances of nested random effects by adaptive quadrature.

The nodes are the fit's mean-variance adaptive ones (``NestedQuadrature``): at every
level, for every unit and every path of its ancestors' nodes, the conditional posterior
mean and standard deviation of the unit's effects given those ancestors.  One pass
integrates bottom-up (as the likelihood does) and keeps each unit's conditional
posterior weights over its own nodes; top-down, the weight of an ancestors' path is the
product of those conditional weights, so the posterior of a lower-level effect given all
the data of its top-level cluster is the mixture over its ancestors' paths of its
posterior given each path: Stata's level-by-level empirical Bayes means.
"""

from __future__ import annotations

import numpy as np

from melogit_cli.engine.quadrature.nested import NestedQuadrature, NestedState

CHUNK_ELEMENTS = 4_000_000


def nested_posterior(
    engine: NestedQuadrature, beta: np.ndarray, theta: np.ndarray
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per level (top first): posterior means (G x q) and covariances (G x q x q) of u."""
    if engine.method == "mvaghermite":
        _, state = engine.loglik(beta, theta, NestedState([]))
    else:
        state = engine.mode_state(beta, theta, NestedState([]))
    d = engine.data
    facs = engine.factors(theta)
    out = [
        (np.empty((G, q)), np.empty((G, q, q)))
        for G, q in zip(d.n_units, engine.dims, strict=True)
    ]
    per_row = engine.M[-1] * (4 + 2 * max(engine.dims))
    for ch in d.chunks(per_row, CHUNK_ELEMENTS):
        _chunk(engine, beta, facs, state.locations, ch, out)
    return out


def _chunk(engine: NestedQuadrature, beta, facs, locs, ch, out) -> None:
    d, L = engine.data, engine.L
    rs = ch.rows
    n = rs.stop - rs.start
    ru = [d.row_unit[lv][rs] - ch.units[lv].start for lv in range(L)]
    V, LW = [], []
    for lv in range(L):
        mu, C = locs[lv]
        us = ch.units[lv]
        mu, C = mu[us], C[us]
        rule = engine.rules[lv]
        v = mu[:, :, None, :] + np.einsum("gmab,kb->gmka", C, rule.nodes)
        q = engine.dims[lv]
        logdet = np.log(np.abs(C[..., 0, 0] if q == 1 else np.linalg.det(C)))
        LW.append(
            rule.log_weights - rule.log_phi + logdet[..., None] - 0.5 * np.sum(v * v, axis=3)
        )
        V.append(v)
    eta = np.empty((n, engine.M[-1]))
    eta[:] = (d.X[rs] @ beta + d.offset[rs])[:, None]
    for lv in range(L):
        g = V[lv].shape[0]
        Bz = d.Z[lv][rs] @ facs[lv][0]
        flat = V[lv].reshape(g, engine.M[lv], -1)
        eta.reshape(n, engine.M[lv], -1)[:] += np.einsum("iq,imq->im", Bz, flat[ru[lv]])[:, :, None]
    w, y, r = d.obs_weight[rs, None], d.y[rs, None], d.trials[rs, None]
    ll_rows = w * (y * eta - r * np.logaddexp(0.0, eta))
    bstarts = d.row_starts[-1][ch.units[-1].start : ch.units[-1].stop] - rs.start
    S = np.add.reduceat(ll_rows, bstarts, axis=0)
    post: list[np.ndarray] = [np.empty(0)] * L
    for lv in reversed(range(L)):
        g = S.shape[0]
        Tm = S.reshape(g, engine.Mp[lv], engine.K[lv]) + LW[lv]
        top = Tm.max(axis=2, keepdims=True)
        top = np.where(np.isfinite(top), top, 0.0)
        e = np.exp(Tm - top)
        total = e.sum(axis=2, keepdims=True)
        post[lv] = e / total
        if lv > 0:
            lse = (np.log(total) + top)[..., 0]
            wl = d.unit_weight[lv][ch.units[lv]]
            cs = d.child_starts[lv - 1][ch.units[lv - 1]] - ch.units[lv].start
            S = np.add.reduceat(wl[:, None] * lse, cs, axis=0)
    cum = None  # posterior weight of each path of the level's nodes (units x M_lv)
    for lv in range(L):
        g = post[lv].shape[0]
        if lv == 0:
            weight = post[0]
        else:
            par = d.parent[lv][ch.units[lv]] - ch.units[lv - 1].start
            weight = cum[par][:, :, None] * post[lv]
        u = V[lv] @ facs[lv][0].T  # g x Mp x K x q
        mean = np.einsum("gmk,gmka->ga", weight, u)
        dev = u - mean[:, None, None, :]
        out[lv][0][ch.units[lv]] = mean
        out[lv][1][ch.units[lv]] = np.einsum("gmk,gmka,gmkb->gab", weight, dev, dev)
        cum = weight.reshape(g, engine.M[lv])
