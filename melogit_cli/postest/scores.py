"""Scores of a fit in the metric of e(b).

A multilevel likelihood is a sum over the top-level clusters, not over observations:
each cluster's score (the derivative of its log likelihood, by the fit's quadrature,
with the nodes held fixed) is the unit of the OPG and robust variances.  The columns
follow e(b): fixed effects (zero for omitted and base levels), then the variances and
covariances (the internal scores mapped through the inverse Jacobian of Stata's metric).
"""

from __future__ import annotations

import numpy as np

from melogit_cli.errors import StataError


def cluster_scores(estimation) -> np.ndarray:
    """Each top-level cluster's score (G x columns of e(b)), without its weight."""
    from melogit_cli.results.build import stata_metric

    design, fit = estimation.design, estimation.fit
    model, state = fit.model, fit.state
    if model.layout == "crossed" and design.levels.crossed:
        # the first term is then not the top-level clusters, and H does not split by them
        raise StataError("option scores not allowed after crossed random-effects models", 198)
    internal = model.cluster_scores(fit.beta, fit.theta, state)
    fx = design.fixed
    keep = fx.keep.copy()
    if design.spec.noconstant:
        keep = np.append(keep, False)
    p = int(keep.sum())
    cov = model.cov
    _, J = stata_metric(cov, fit.theta)
    G = internal.shape[0]
    out = np.zeros((G, len(keep) + J.shape[0]))
    out[:, : len(keep)][:, keep] = internal[:, :p]
    if J.size:
        out[:, len(keep) :] = np.linalg.solve(J.T, internal[:, p:].T).T
    return out


def observation_scores(estimation) -> np.ndarray:
    """Scores per estimation-sample row (design order): each cluster's score on its first
    row, zero on the others, so that sums over rows are sums over clusters."""
    design = estimation.design
    S = cluster_scores(estimation)
    codes = design.levels.levels[0].codes
    out = np.zeros((len(codes), S.shape[1]))
    first = np.full(S.shape[0], -1)
    first[codes[::-1]] = np.arange(len(codes))[::-1]
    out[first] = S
    return out

