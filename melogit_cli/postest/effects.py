"""Empirical Bayes predictions of the random effects, for every model structure.

``random_effects`` returns one ``LevelEffects`` per level (two-level and nested models)
or per term (crossed models: each ``R.varname`` equation and each level's ordinary
effects), in the order of the model's equations.  Means come from the fit's adaptive
quadrature with its number of points (mean-variance adaptive, whatever the fit's
method); after Laplace fits, and for crossed models, the posterior is the Gaussian
approximation at the joint mode, so means are the modes.  Standard errors are posterior
standard deviations.

``iterate`` and ``tolerance`` (predict's ``iterate(#)``/``tolerance(#)``) bound every
iterative step of these computations: the Newton steps of the mode searches and the
passes of the mean-variance adaptation, and the step (or change) below which each stops.
None keeps each computation's own limits (modes to 1e-10 or finer).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LAPLACE = ("laplace", "pclaplace")
ESTIMATORS = ("ebmeans", "ebmodes")


@dataclass
class LevelEffects:
    """Predictions of one level's (or one crossed term's) random effects."""

    level: str  # the level's path (``school>class``) or an R. term's (``_all>sid``)
    names: list[str]  # one per effect (``_cons``, ``x``)
    mean: np.ndarray  # units x q: posterior means or modes
    se: np.ndarray  # units x q: posterior standard deviations
    unit: np.ndarray  # each estimation-sample row's unit (design row order)
    estimator: str  # "ebmeans" or "ebmodes"
    Z: np.ndarray  # the estimation sample's covariates of the effects (n x q)
    indicator: bool = False  # an R. term: one effect per group, covariate 1
    cov: np.ndarray | None = None  # the prior covariance of one unit's effects (q x q)

    @property
    def q(self) -> int:
        return self.mean.shape[1]

    def at_rows(self) -> np.ndarray:
        """Each estimation-sample row's effects (n x q)."""
        return self.mean[self.unit]


@dataclass(frozen=True)
class Limits:
    """Iteration limit and convergence tolerance of the empirical Bayes computations
    (None: each computation's own)."""

    iterate: int | None = None
    tolerance: float | None = None

    def of(self, iterate: int, tolerance: float) -> dict:
        """Keyword values for one computation whose own limits are given."""
        return {
            "iterations": iterate if self.iterate is None else self.iterate,
            "tolerance": tolerance if self.tolerance is None else self.tolerance,
        }


def random_effects(
    estimation,
    estimator: str = "ebmeans",
    points: int | None = None,
    iterate: int | None = None,
    tolerance: float | None = None,
) -> list[LevelEffects]:
    """Empirical Bayes means (or modes) and standard errors of every level's effects.

    ``estimation`` is the ``Estimation`` of a fit; ``points`` the quadrature points per
    effect (the fit's by default); ``iterate`` the most iterations and ``tolerance`` the
    convergence tolerance of the mode searches and the adaptation (None: their own).
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS}")
    design, fit = estimation.design, estimation.fit
    e = estimation.eresults
    method = e.macros.get("intmethod", "mvaghermite")
    if points is None:
        points = int(e.macros.get("n_quad") or e.scalars.get("n_quad", 7) or 7)
    modes = estimator == "ebmodes" or method in LAPLACE or points == 1
    kind = "ebmodes" if estimator == "ebmodes" else "ebmeans"
    limits = Limits(iterate, tolerance)
    if design.levels.crossed:
        return _crossed(design, fit, kind, limits)
    if len(design.levels.levels) == 1:
        return [_two_level(design, fit, modes, points, kind, limits)]
    return _nested(design, fit, modes, points, kind, limits)


def _two_level(
    design, fit, modes: bool, points: int, kind: str, limits: Limits
) -> LevelEffects:
    from melogit_cli.engine import predict as engine
    from melogit_cli.engine.shared.modes import MODE_ITERATIONS
    from melogit_cli.estimate import cluster_arrays

    data, cov = cluster_arrays(design)
    A = cov.factor_derivatives(fit.theta)[0]
    lim = limits.of(MODE_ITERATIONS, 1e-12)
    post = engine.posterior_modes(data, fit.beta, A, lim["tolerance"], lim["iterations"])
    if not modes:
        lim = limits.of(engine.MAX_ADAPT, engine.ADAPT_TOLERANCE)
        post = engine.posterior_means(
            data, fit.beta, A, points, start=post,
            tolerance=lim["tolerance"], passes=lim["iterations"],
        )
    level = design.levels.levels[0]
    return LevelEffects(
        level.name, list(level.re_names), post.mean, post.sd, level.codes, kind, level.Z,
        cov=A @ A.T,
    )


def _nested(
    design, fit, modes: bool, points: int, kind: str, limits: Limits
) -> list[LevelEffects]:
    from melogit_cli.engine.quadrature.nested import NestedQuadrature
    from melogit_cli.estimate import nested_arrays
    from melogit_cli.postest.nested_means import nested_posterior

    data, cov = nested_arrays(design)
    levels = design.levels.levels
    As = [
        lv.factor_derivatives(fit.theta[s])[0]
        for lv, s in zip(cov.levels, cov.theta_slices(), strict=True)
    ]
    if modes:
        moments = _nested_modes(data, cov, fit.beta, fit.theta, limits)
    else:
        engine = NestedQuadrature(data, cov, "mvaghermite", points)
        lim = limits.of(engine.mode_iterations, engine.mode_tolerance)
        engine.mode_iterations, engine.mode_tolerance = lim["iterations"], lim["tolerance"]
        lim = limits.of(engine.adapt_passes, engine.adapt_tolerance)
        engine.adapt_passes, engine.adapt_tolerance = lim["iterations"], lim["tolerance"]
        moments = nested_posterior(engine, fit.beta, fit.theta)
    out = []
    for i, (lv, (mean, covs)) in enumerate(zip(levels, moments, strict=True)):
        sd = np.sqrt(np.maximum(np.einsum("gaa->ga", covs), 0.0))
        path = ">".join(x.name for x in levels[: i + 1])
        out.append(
            LevelEffects(
                path, list(lv.re_names), mean, sd, lv.codes, kind, lv.Z, cov=As[i] @ As[i].T
            )
        )
    return out


def _nested_modes(
    data, cov, beta, theta, limits: Limits
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Joint posterior modes and the blocks of the inverse negative Hessian (u-metric)."""
    from melogit_cli.engine.quadrature.nested_tree import MODE_TOLERANCE, Tree, joint_modes
    from melogit_cli.engine.shared.modes import MODE_ITERATIONS

    dims = cov.dims
    As = [
        lv.factor_derivatives(theta[s])[0]
        for lv, s in zip(cov.levels, cov.theta_slices(), strict=True)
    ]
    tree = Tree(data, dims)
    v0 = [np.zeros((G, q)) for G, q in zip(data.n_units, dims, strict=True)]
    modes = joint_modes(tree, beta, As, v0, **limits.of(MODE_ITERATIONS, MODE_TOLERANCE))
    paths = tree.path_covariance(modes.factor)  # per bottom unit, over its path
    out = []
    for lv, A in enumerate(As):
        o, e = tree.offsets[lv], tree.offsets[lv + 1]
        bottom = data.row_unit[-1][data.row_starts[lv][:-1]]  # a bottom unit below each unit
        S = paths[bottom][:, o:e, o:e]
        out.append((modes.v[lv] @ A.T, np.einsum("ab,gbc,dc->gad", A, S, A)))
    return out


def _crossed(design, fit, kind: str, limits: Limits) -> list[LevelEffects]:
    """Joint Laplace modes of all terms, with the blocks of ``H^-1`` for their errors."""
    from melogit_cli.engine.laplace.crossed import (
        MODE_ITERATIONS,
        MODE_TOLERANCE,
        CrossedLaplace,
    )
    from melogit_cli.estimate import crossed_arrays

    data, cov = crossed_arrays(design)
    engine = CrossedLaplace(data, cov)
    factors = engine._factors(fit.theta)
    v, _, _, f = engine.modes(
        fit.beta, fit.theta, factors, engine.prior_state(fit.theta),
        **limits.of(MODE_ITERATIONS, MODE_TOLERANCE),
    )
    Minv = engine._selected_inverse(f)  # each (collapsed) row's block of H^-1
    out: list[LevelEffects | None] = [None] * len(data.terms)
    for k, term in enumerate(engine.terms):
        A = factors[k][0]
        q = term.q
        vk = v[engine.starts[k] : engine.starts[k + 1]].reshape(term.n_groups, q)
        a = engine.slot_starts[k]
        first = np.full(term.n_groups, -1)
        first[term.group[::-1]] = np.arange(len(term.group))[::-1]
        S = Minv[first][:, a : a + q, a : a + q]
        cov_u = np.einsum("ab,gbc,dc->gad", A, S, A)
        sd = np.sqrt(np.maximum(np.einsum("gaa->ga", cov_u), 0.0))
        original = engine.order[k]
        row_group = data.terms[original].group
        indicator = ">" in term.label
        names = ["_cons"] if indicator else _term_names(design, term)
        Z = data.terms[original].Z
        out[original] = LevelEffects(
            term.label, names, vk @ A.T, sd, row_group, kind, Z, indicator, A @ A.T
        )
    return [x for x in out if x is not None]


def _term_names(design, term) -> list[str]:
    for lv in design.levels.levels:
        if lv.name == term.label:
            return list(lv.re_names)
    return [f"_re{i + 1}" for i in range(term.q)]
