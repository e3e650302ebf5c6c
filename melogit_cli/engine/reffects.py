"""Empirical Bayes predictions of the random effects at the estimates, level by level:
the one entry point the Python API (``Results.random_effects``) calls.

Two-level models are integrated with :mod:`melogit_cli.engine.predict` on the fit's own
arrays (the rows and clusters of e(sample)), as the do-file's ``predict, reffects``
does; other structures are refused with Stata's r(198) until their posterior is there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from melogit_cli.engine import predict
from melogit_cli.errors import StataError

if TYPE_CHECKING:
    from melogit_cli.estimate import Estimation

ESTIMATORS = ("ebmeans", "ebmodes")
LAPLACE_METHODS = ("laplace", "pclaplace")


@dataclass
class LevelEffects:
    """One level's predicted random effects, one row per unit (cluster)."""

    level: str  # the level's path: ``district``, ``family>subject``
    names: list[str]  # the effects: ``_cons``, ``1.urban``
    mean: np.ndarray  # units x effects: posterior means (ebmeans) or modes (ebmodes)
    se: np.ndarray  # units x effects: posterior standard deviations
    unit: np.ndarray  # each estimation-sample row's unit (design row order)
    estimator: str  # "ebmeans" or "ebmodes"


def random_effects(
    estimation: Estimation, *, estimator: str = "ebmeans", points: int | None = None
) -> list[LevelEffects]:
    """Every level's empirical Bayes means (or modes) and posterior SDs, highest level
    first; ``points`` overrides the fit's integration points for the means."""
    from melogit_cli.estimate import cluster_arrays

    if estimator not in ESTIMATORS:
        raise StataError(f"conditional({estimator}) invalid", 198)
    design, fit = estimation.design, estimation.fit
    levels = design.levels.levels
    if len(levels) != 1 or design.levels.crossed:
        raise StataError(
            "random effects after models with more than one grouping level (nested or "
            "crossed random effects) are not available yet",
            198,
        )
    level = levels[0]
    data, cov = cluster_arrays(design)
    A = cov.factor_derivatives(fit.theta)[0]
    e = estimation.eresults
    if estimator == "ebmodes":
        post = predict.posterior_modes(data, fit.beta, A)
    else:
        method = e.macros.get("intmethod", "mvaghermite")
        use = points if points is not None else int(e.macros.get("n_quad") or 1)
        if use < 1:
            raise StataError("intpoints() must be a positive integer", 198)
        post = predict.posterior_means(data, fit.beta, A, 1 if method in LAPLACE_METHODS else use)
    return [
        LevelEffects(level.name, list(level.re_names), post.mean, post.sd, level.codes, estimator)
    ]
