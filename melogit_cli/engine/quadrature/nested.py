"""Log likelihood and derivatives of a nested (three or more level) logistic model.

Integration is recursive, bottom-up.  Level ``l`` has ``K_l`` nodes per unit; a
unit's nodes are placed separately for every combination ("path") of its ancestors'
nodes, so arrays of level ``l`` have shape ``(units, M_{l-1}, K_l, ...)`` with
``M_l = K_0 ... K_l``.  The rows of a chunk of top-level units are evaluated at all
``M_{L-1}`` paths of their lowest-level unit and summed into that unit, as the
two-level engine sums a cluster's rows at its nodes (the same compiled loops for large
data, ``rows`` otherwise: a bottom unit's paths are its nodes); the sums are integrated
over the unit's own nodes (``logsumexp``), summed into the parent, and so on up to the
top.  The joint grid over all units is never formed; rows enter the derivatives only
through their sums per bottom unit and path; memory is bounded by chunks of top units.

Node placement, in the metric ``v`` of standardized effects (``u_l = A_l v_l``), as
``v = mu + C a_k`` with ``a_k`` the Gauss-Hermite nodes:

- ``ghermite``: ``mu = 0, C = I``.
- ``mvaghermite``: for every unit and every path of its ancestors' nodes, the posterior
  mean and Cholesky factor of the posterior covariance of the unit's effects
  conditional on those ancestors' values (computed by the quadrature itself), iterated
  to a fixed point as in the two-level code.
- ``mcaghermite``/``pcaghermite``/``laplace``/``pclaplace``: Pinheiro and Chao's
  scheme: the joint posterior mode ``v_hat`` and negative Hessian ``H`` of each
  top-level unit's effects; a unit's nodes given its ancestors' nodes are centred at the
  conditional mean of ``N(v_hat, H^-1)`` and scaled by its conditional covariance (see
  ``nested_tree``).  With one point this is the Laplace approximation of the whole
  top-level integral, ``h(v_hat) - log|H|/2``.

Every scheme is a valid quadrature rule that converges to the likelihood as the points
grow.  Derivatives of the quadrature methods hold the nodes fixed in the v-metric, as
the two-level code does: the gradient is the posterior-weighted score and the Hessian
is analytic too (``nested_hessian``).  Laplace uses its exact gradient, with the modes
moving with the parameters (the joint engine's, ``laplace.crossed``), and differences
of it for the Hessian (forward while iterating, central at the end).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import ClassVar, NamedTuple

import numpy as np

from melogit_cli.engine.compiled import kernels
from melogit_cli.engine.integration import LAPLACE, PlacedNodes
from melogit_cli.engine.model.covariance import NestedCovariance
from melogit_cli.engine.model.nested_data import Chunk, NestedData
from melogit_cli.engine.quadrature import rows
from melogit_cli.engine.quadrature.nested_hessian import chunk_hessian
from melogit_cli.engine.quadrature.nested_tree import (
    MODE_TOLERANCE,
    Modes,
    Tree,
    conditional_locations,
    joint_modes,
)
from melogit_cli.engine.quadrature.rules import Rule, normal_rule
from melogit_cli.engine.quadrature.twolevel import Evaluation
from melogit_cli.engine.shared import adaptation
from melogit_cli.engine.shared.cholesky import safe_cholesky
from melogit_cli.engine.shared.modes import MODE_ITERATIONS

Locations = list[tuple[np.ndarray, np.ndarray]]  # per level: mu, C in the v-metric


@dataclass
class NestedState:
    """Node placement: per level ``mu``/``C`` (v-metric) and what carries over."""

    locations: Locations
    m: list[np.ndarray] = field(default_factory=list)  # mvaghermite: u-metric means per path
    R: list[np.ndarray] = field(default_factory=list)  # and covariance factors
    modes: Modes | None = None  # mode-curvature methods: joint modes at this point


@dataclass
class PassResult:
    ll: float
    moments: list[tuple[np.ndarray, np.ndarray]] | None = None
    scores: np.ndarray | None = None  # per top-level unit, without its own weight
    hessian: np.ndarray | None = None


class ChunkPosterior(NamedTuple):
    """A chunk of top-level units integrated bottom-up at fixed nodes."""

    V: list[np.ndarray]  # per level: nodes, units x M_l x q (v-metric)
    post: list[np.ndarray]  # per level: a unit's node weights given its path, G x M_{l-1} x K_l
    paths: np.ndarray  # each bottom unit's effects of all levels at every path, g x M x Q (v)
    U: np.ndarray  # the same in the u-metric
    lse: np.ndarray  # top level: log integral of each unit, units x 1


class NestedQuadrature(PlacedNodes):
    """Quadrature approximation of a nested logistic likelihood."""

    layout: ClassVar[str] = "nested"

    def __init__(self, data: NestedData, cov: NestedCovariance, method: str, points: int) -> None:
        super().__init__(data, cov, method, points)
        self.adapt_passes = adaptation.PASSES  # at most, from the modes
        self.mode_tolerance = MODE_TOLERANCE  # largest Newton step at the joint modes
        self.mode_iterations = MODE_ITERATIONS
        self.dims = cov.dims
        self.L = len(self.dims)
        self.rules: list[Rule] = [normal_rule(self.points, q) for q in self.dims]
        self.K = [r.size for r in self.rules]
        self.M = list(np.cumprod(self.K).astype(int))
        self._sums = kernels if kernels.use_kernels(len(data.y), self.M[-1]) else rows
        self.Mp = [1] + self.M[:-1]
        self.slices = cov.theta_slices()
        self.tree = Tree(data, self.dims)
        self.Zall = np.hstack(data.Z)
        self.bottom_unit = [ru[data.row_starts[-1][:-1]] for ru in data.row_unit]

    # ------------------------------------------------------------ parameters
    def factors(self, theta: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        return [
            lv.factor_derivatives(theta[s])
            for lv, s in zip(self.cov.levels, self.slices, strict=False)
        ]

    def prior_state(self, theta: np.ndarray) -> NestedState:
        """Non-adaptive nodes: ``mu = 0``, ``C = I`` for every unit and path."""
        locs: Locations = []
        for lv in range(self.L):
            G, Mp, q = self.data.n_units[lv], self.Mp[lv], self.dims[lv]
            mu = np.broadcast_to(np.zeros(q), (G, Mp, q))
            locs.append((mu, np.broadcast_to(np.eye(q), (G, Mp, q, q))))
        return NestedState(locs)

    def start_state(self, beta: np.ndarray, theta: np.ndarray) -> NestedState:
        """The nodes to start the fit from (adaptation without a carried state starts
        from the joint modes by itself)."""
        del beta
        return self.prior_state(theta)

    # ------------------------------------------------------------ one pass
    def evaluate(
        self,
        beta: np.ndarray,
        theta: np.ndarray,
        locs: Locations,
        moments: bool = False,
        scores: bool = False,
        hessian: bool = False,
    ) -> PassResult:
        """Log likelihood at fixed nodes; optionally posterior moments, unit scores, Hessian."""
        d = self.data
        facs = self.factors(theta)
        total = 0.0
        mom = None
        if moments:
            mom = [
                (np.empty((G, Mp, q)), np.empty((G, Mp, q, q)))
                for G, Mp, q in zip(d.n_units, self.Mp, self.dims, strict=False)
            ]
        P = self.p + self.T
        out = np.zeros((d.n_clusters, P)) if scores or hessian else None
        hess = np.zeros((P, P)) if hessian else None
        # the numpy row sums form rows x paths x (p + Q) (1 + Q) products
        per_row = self.M[-1] * (4 + 2 * self.q + (P + self.q) * (1 + self.q) * (out is not None))
        for ch in d.chunks(per_row):
            total += self._chunk(beta, facs, locs, ch, mom, out, hess)
        return PassResult(total + self.constant, mom, out, hess)

    def chunk_posterior(
        self, beta: np.ndarray, facs, locs: Locations, ch: Chunk, arrays: rows.Rows | None = None
    ) -> ChunkPosterior:
        """Integrate one chunk bottom-up at the nodes ``locs``: each unit's conditional
        posterior weights over its own nodes, and the top-level log integrals
        (``arrays``: the chunk's rows, when already formed)."""
        d, L = self.data, self.L
        V, LW = [], []
        for lv in range(L):
            mu, C = locs[lv]
            us = ch.units[lv]
            mu, C = mu[us], C[us]
            rule = self.rules[lv]
            v = mu[:, :, None, :] + np.einsum("gmab,kb->gmka", C, rule.nodes)
            q = self.dims[lv]
            logdet = np.log(np.abs(C[..., 0, 0] if q == 1 else np.linalg.det(C)))
            lw = (
                rule.log_weights
                - rule.log_phi
                + logdet[..., None]
                - 0.5 * np.sum(v * v, axis=3)
                - 0.5 * q * np.log(2 * np.pi)
            )
            V.append(v.reshape(v.shape[0], self.M[lv], q))
            LW.append(lw)
        paths, U = self._paths(facs, V, ch)
        if arrays is None:
            arrays = self._row_arrays(beta, ch)
        S = self._sums.node_loglik(arrays, U)
        post: list[np.ndarray] = [np.empty(0)] * L
        for lv in reversed(range(L)):
            g = S.shape[0]
            Tm = S.reshape(g, self.Mp[lv], self.K[lv]) + LW[lv]
            top_k = Tm.max(axis=2, keepdims=True)
            top_k = np.where(np.isfinite(top_k), top_k, 0.0)
            e = np.exp(Tm - top_k)
            total_k = e.sum(axis=2, keepdims=True)
            post[lv] = e / total_k
            lse = (np.log(total_k) + top_k)[..., 0]
            if lv > 0:
                wl = d.unit_weight[lv][ch.units[lv]]
                cs = d.child_starts[lv - 1][ch.units[lv - 1]] - ch.units[lv].start
                S = np.add.reduceat(wl[:, None] * lse, cs, axis=0)
        return ChunkPosterior(V, post, paths, U, lse)

    def _paths(self, facs, V: list[np.ndarray], ch: Chunk) -> tuple[np.ndarray, np.ndarray]:
        """Each bottom unit's effects of all levels at every path of nodes (g x M x Q),
        in the v- and u-metrics: the rows' linear predictors depend on nothing else."""
        bottom = ch.units[-1]
        g = bottom.stop - bottom.start
        paths = np.empty((g, self.M[-1], self.q))
        U = np.empty_like(paths)
        for lv, (o, e) in enumerate(itertools.pairwise(self.tree.offsets)):
            anc = self.bottom_unit[lv][bottom] - ch.units[lv].start
            v = V[lv][anc][:, :, None, :]
            paths.reshape(g, self.M[lv], -1, self.q)[..., o:e] = v
            U.reshape(g, self.M[lv], -1, self.q)[..., o:e] = v @ facs[lv][0].T
        return paths, U

    def _row_arrays(self, beta: np.ndarray, ch: Chunk) -> rows.Rows:
        """The chunk's rows, with its bottom units as the clusters."""
        d, rs = self.data, ch.rows
        bounds = d.row_starts[-1][ch.units[-1].start : ch.units[-1].stop + 1] - rs.start
        X, Z = d.X[rs], self.Zall[rs]
        xb = X @ beta + d.offset[rs]
        return rows.Rows(xb, X, Z, d.y[rs], d.trials[rs], d.obs_weight[rs], bounds)

    def _chunk(self, beta, facs, locs, ch: Chunk, mom, out, hess) -> float:
        arrays = self._row_arrays(beta, ch)
        V, post, paths, U, lse = self.chunk_posterior(beta, facs, locs, ch, arrays)
        if mom is not None:
            for lv in range(self.L):
                g = V[lv].shape[0]
                u = V[lv].reshape(g, self.Mp[lv], self.K[lv], -1) @ facs[lv][0].T
                mean = np.einsum("gmk,gmka->gma", post[lv], u)
                dev = u - mean[:, :, None, :]
                mom[lv][0][ch.units[lv]] = mean
                mom[lv][1][ch.units[lv]] = np.einsum("gmk,gmka,gmkb->gmab", post[lv], dev, dev)
        if out is not None:  # also when the Hessian is asked
            self._chunk_derivatives(arrays, facs, ch, post, paths, U, out, hess)
        return float(self.data.unit_weight[0][ch.g0 : ch.g1] @ lse[:, 0])

    def _chunk_derivatives(self, arrays, facs, ch: Chunk, post, paths, U, out, hess) -> None:
        """The chunk's top-level unit scores into ``out`` and its Hessian into ``hess``
        (``arrays``: the chunk's rows)."""
        d, bottom = self.data, ch.units[-1]
        cums = [post[0].reshape(-1, self.M[0])]  # path weights, with the weights below the top
        for lv in range(1, self.L):
            par = d.parent[lv][ch.units[lv]] - ch.units[lv - 1].start
            wl = d.unit_weight[lv][ch.units[lv]][:, None, None]
            cums.append((cums[-1][par][:, :, None] * wl * post[lv]).reshape(-1, self.M[lv]))
        w0 = d.unit_weight[0][ch.g0 : ch.g1]
        top_weight = w0[self.bottom_unit[0][bottom] - ch.g0, None]
        sums = self._sums.node_sums(arrays, U, cums[-1] * top_weight)
        # d u / d theta along every path: the theta columns of d eta / d psi are Z times these
        D = np.zeros(paths.shape + (self.T,))
        for lv, s in enumerate(self.slices):
            o, e = self.tree.offsets[lv], self.tree.offsets[lv + 1]
            D[:, :, o:e, s] = np.einsum("tab,gmb->gmat", facs[lv][1], paths[..., o:e])
        scores = np.concatenate([sums[0], np.matmul(sums[1][:, :, None], D)[:, :, 0]], axis=2)
        starts = d.first[-1][ch.g0 : ch.g1] - bottom.start
        weighted = np.einsum("gm,gmP->gP", cums[-1], scores)
        out[ch.g0 : ch.g1] = np.add.reduceat(weighted, starts, axis=0)
        if hess is not None:
            hess += chunk_hessian(self, facs, ch, post, cums, w0, arrays.X, sums, paths, D, scores)

    # ------------------------------------------------------------ likelihood
    def fixed_loglik(self, beta: np.ndarray, theta: np.ndarray, state: NestedState) -> float:
        """The log likelihood at the nodes of ``state``."""
        return self.evaluate(beta, theta, state.locations).ll

    def mode_curvature_state(
        self, beta: np.ndarray, theta: np.ndarray, state: NestedState
    ) -> NestedState:
        """Pinheiro-Chao nodes from the joint modes (warm-started from ``state``)."""
        As = [f[0] for f in self.factors(theta)]
        if state.modes is not None:
            v0 = state.modes.v
        else:
            v0 = [np.zeros((G, q)) for G, q in zip(self.data.n_units, self.dims, strict=False)]
        modes = joint_modes(
            self.tree, beta, As, v0, tolerance=self.mode_tolerance, iterations=self.mode_iterations
        )
        locs = conditional_locations(self.data, modes, [r.nodes for r in self.rules])
        return NestedState(locs, modes=modes)

    def _from_u(self, theta: np.ndarray, m: list, R: list) -> NestedState:
        """The mean-variance state of u-metric means ``m`` and factors ``R`` at ``theta``."""
        locs: Locations = []
        for (A, _, _), m_l, R_l in zip(self.factors(theta), m, R, strict=False):
            Ainv = np.linalg.inv(A)
            locs.append((m_l @ Ainv.T, np.einsum("ab,...bc->...ac", Ainv, R_l)))
        return NestedState(locs, m, R)

    def _posterior_moments(
        self, beta: np.ndarray, theta: np.ndarray, state: NestedState
    ) -> tuple[float, NestedState]:
        """One adaptation pass: the log likelihood at the nodes of ``state`` and the nodes
        moved to every unit's conditional posterior mean and SD there."""
        res = self.evaluate(beta, theta, state.locations, moments=True)
        if res.moments is None or not np.isfinite(res.ll):
            return res.ll, state
        m = [mean for mean, _ in res.moments]
        R = [safe_cholesky(cov) for _, cov in res.moments]
        return res.ll, self._from_u(theta, m, R)

    def adapt_mean_variance(
        self, beta: np.ndarray, theta: np.ndarray, state: NestedState, floor: float | None
    ) -> tuple[float, NestedState]:
        """Move every unit's nodes to its conditional posterior mean and SD, to a fixed
        point, from the carried state or, when there is none, from the modes."""
        return adaptation.adapt(
            lambda st: self._posterior_moments(beta, theta, st),
            self._from_u(theta, state.m, state.R) if state.m else None,
            lambda: self._mode_start(beta, theta, state),
            floor=floor,
            tolerance=self.adapt_tolerance,
            passes=self.adapt_passes,
        )

    def _mode_start(self, beta: np.ndarray, theta: np.ndarray, state: NestedState) -> NestedState:
        """Mode-curvature node locations and scales as a mean-variance state."""
        locs = self.mode_curvature_state(beta, theta, NestedState([], modes=state.modes)).locations
        m, R = [], []
        for (A, _, _), (mu, C) in zip(self.factors(theta), locs, strict=False):
            m.append(mu @ A.T)
            R.append(np.einsum("ab,...bc->...ac", A, C))
        return self._from_u(theta, m, R)

    # ------------------------------------------------------------ derivatives
    def cluster_scores(self, beta: np.ndarray, theta: np.ndarray, state: NestedState) -> np.ndarray:
        """Per top-level unit score vectors (G x P)."""
        if self.method in LAPLACE:
            from melogit_cli.engine.laplace.crossed import joint_scores
            from melogit_cli.engine.model.crossed_data import from_nested

            return joint_scores(from_nested(self.data, self.cov), beta, theta)
        res = self.evaluate(beta, theta, state.locations, scores=True)
        assert res.scores is not None
        return res.scores

    def gradient(self, beta: np.ndarray, theta: np.ndarray, state: NestedState) -> np.ndarray:
        return self.data.cluster_weight @ self.cluster_scores(beta, theta, state)

    def loglik_nodes_held(
        self, beta: np.ndarray, theta: np.ndarray, state: NestedState, theta_state: np.ndarray
    ) -> float:
        """The log likelihood at (beta, theta) with the nodes of ``state`` held where they
        are in the metric of the random effects, where this engine keeps them (so
        ``theta_state``, where they were placed, does not enter)."""
        del theta_state
        return float(self.evaluate(beta, theta, state.locations).ll)

    def derivatives(self, beta: np.ndarray, theta: np.ndarray, state: NestedState) -> Evaluation:
        """Log likelihood, gradient and Hessian.

        Quadrature: the analytic Hessian with the nodes fixed.  Laplace: the exact
        gradient (the modes move with the parameters) and its forward differences, as
        the Laplace objective computes them.
        """
        if self.method in LAPLACE:
            return Evaluation(*self.objective(state).derivatives(np.concatenate([beta, theta])))
        res = self.evaluate(beta, theta, state.locations, hessian=True)
        assert res.scores is not None and res.hessian is not None
        H = 0.5 * (res.hessian + res.hessian.T)
        return Evaluation(res.ll, self.data.cluster_weight @ res.scores, H)
