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


def nested_posterior(
    engine: NestedQuadrature, beta: np.ndarray, theta: np.ndarray
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per level (top first): posterior means (G x q) and covariances (G x q x q) of u."""
    if engine.method == "mvaghermite":
        _, state = engine.loglik(beta, theta, NestedState([]))
    else:
        state = engine.mode_curvature_state(beta, theta, NestedState([]))
    d = engine.data
    facs = engine.factors(theta)
    out = [
        (np.empty((G, q)), np.empty((G, q, q)))
        for G, q in zip(d.n_units, engine.dims, strict=True)
    ]
    per_row = engine.M[-1] * (4 + 2 * max(engine.dims))
    for ch in d.chunks(per_row):
        _chunk(engine, beta, facs, state.locations, ch, out)
    return out


def _chunk(engine: NestedQuadrature, beta, facs, locs, ch, out) -> None:
    d, L = engine.data, engine.L
    V, post, _, _, _ = engine.chunk_posterior(beta, facs, locs, ch)
    cum = None  # posterior weight of each path of the level's nodes (units x M_lv)
    for lv in range(L):
        g = post[lv].shape[0]
        if lv == 0:
            weight = post[0]
        else:
            par = d.parent[lv][ch.units[lv]] - ch.units[lv - 1].start
            weight = cum[par][:, :, None] * post[lv]
        u = V[lv].reshape(g, engine.Mp[lv], engine.K[lv], -1) @ facs[lv][0].T  # g x Mp x K x q
        mean = np.einsum("gmk,gmka->ga", weight, u)
        dev = u - mean[:, None, None, :]
        out[lv][0][ch.units[lv]] = mean
        out[lv][1][ch.units[lv]] = np.einsum("gmk,gmka,gmkb->gab", weight, dev, dev)
        cum = weight.reshape(g, engine.M[lv])
