"""Log likelihood, gradient and Hessian of a two-level logistic model by quadrature.

Rows are sorted by cluster; ``starts`` marks where each cluster begins, so every sum
over a cluster's observations is one ``np.add.reduceat`` over a block of rows.

Random effects are written ``u_j = A(theta) v_j`` with ``v_j ~ N(0, I)``.  Each
cluster's quadrature nodes are ``v_jk = mu_j + C_j a_k`` (``a_k`` the Gauss-Hermite
nodes).  Non-adaptive quadrature uses ``mu = 0, C = I``; the adaptive methods move
``mu_j, C_j`` to each cluster's posterior mean and standard deviation (``mvaghermite``)
or mode and curvature (``mcaghermite``, ``laplace``).  The adaptive state is kept in
the metric of ``u`` (``m_j = A mu_j``, ``R_j = A C_j``) so that it carries over when
``theta`` changes.  Derivatives are those of the quadrature formula with the nodes
``v_jk`` held fixed: the log integrand then depends on the parameters only through
the linear predictor, and the scores are posterior-weighted sums of node scores.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from melogit_cli.engine.compiled import kernels
from melogit_cli.engine.integration import LAPLACE, PlacedNodes
from melogit_cli.engine.model.covariance import LevelCovariance
from melogit_cli.engine.quadrature import rows
from melogit_cli.engine.quadrature.rows import PaddedClusters, Rows, chunk_slices
from melogit_cli.engine.quadrature.rules import Rule, normal_rule
from melogit_cli.engine.shared import adaptation
from melogit_cli.engine.shared.cholesky import safe_cholesky
from melogit_cli.engine.shared.modes import cluster_modes
from melogit_cli.special import logsumexp

MIN_NODE_SCALE = 1e-4  # posterior SD (in prior SD units) below which nodes have collapsed


@dataclass
class ClusterData:
    """The arrays of a two-level model, rows sorted by cluster."""

    layout: ClassVar[str] = "clusters"
    y: np.ndarray  # successes
    trials: np.ndarray  # 1 for Bernoulli
    X: np.ndarray  # n x p fixed-effects design (estimable columns only)
    offset: np.ndarray
    obs_weight: np.ndarray  # level-1 weights (1 when none)
    Z: np.ndarray  # n x q random-effects design
    starts: np.ndarray  # G + 1 row boundaries
    cluster_weight: np.ndarray  # level-2 weights (1 when none)

    @property
    def n_clusters(self) -> int:
        return len(self.starts) - 1

    @property
    def sizes(self) -> np.ndarray:
        return np.diff(self.starts)

    def row_weight(self) -> np.ndarray:
        """Each row's total weight: its own times its cluster's."""
        return self.obs_weight * np.repeat(self.cluster_weight, self.sizes)


@dataclass
class AdaptiveState:
    """Per-cluster node location ``m`` (G x q) and scale ``R`` (G x q x q), in u-metric."""

    m: np.ndarray
    R: np.ndarray


@dataclass
class ChunkNodes:
    """One chunk's quadrature nodes and what one pass over its rows gives."""

    log_integrand: np.ndarray  # g x K
    ll_nodes: np.ndarray  # g x K: the data's log likelihood at each node
    v: np.ndarray  # g x K x q, standardized effects
    u: np.ndarray  # g x K x q, effects (A v)
    odds: np.ndarray | None = None  # n x K, e^eta, when the random-intercept pass formed it


@dataclass
class Evaluation:
    """Log likelihood and, when asked, gradient and Hessian in (beta, theta)."""

    ll: float
    gradient: np.ndarray | None = None
    hessian: np.ndarray | None = None


class TwoLevelQuadrature(PlacedNodes):
    """Quadrature approximation of a two-level logistic likelihood."""

    layout: ClassVar[str] = "clusters"

    def __init__(self, data: ClusterData, cov: LevelCovariance, method: str, points: int) -> None:
        super().__init__(data, cov, method, points)
        self.rule: Rule = normal_rule(self.points, cov.dim)
        self.compiled = kernels.use_kernels(len(data.y), self.rule.size)
        self._sums = kernels if self.compiled else rows
        # the compiled loops are faster than the random intercept's separate terms
        self.intercept_only = not self.compiled and self.q == 1 and bool(np.all(data.Z == 1.0))
        self.bernoulli = bool(np.all(data.trials == 1.0) and np.all(data.obs_weight == 1.0))
        self._last_pass: tuple | None = None
        self._padding: tuple[tuple[int, int], PaddedClusters | None] | None = None
        self._factor_cache: tuple[bytes, tuple[np.ndarray, ...]] | None = None
        self._xb_cache: tuple[bytes, int, np.ndarray] | None = None
        self._chunks = list(chunk_slices(data.starts, self.rule.size))  # (clusters, rows)
        self._bounds = {  # each chunk's cluster boundaries, counted from its first row
            g.start: data.starts[g.start : g.stop + 1] - r.start for g, r in self._chunks
        }

    # ------------------------------------------------------------ per point
    def _factor(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``A``, ``dA``, ``d2A`` and ``A^-1`` at ``theta``; the passes of one point share
        them (a fit visits each point several times), so they are read-only."""
        key = np.asarray(theta, dtype=float).tobytes()
        if self._factor_cache is None or self._factor_cache[0] != key:
            A, dA, d2A = self.cov.factor_derivatives(theta)
            shared = (A, dA, d2A, np.linalg.inv(A))
            for array in shared:
                array.setflags(write=False)
            self._factor_cache = (key, shared)
        A, dA, d2A, Ainv = self._factor_cache[1]
        return A, dA, d2A, Ainv

    def _xb(self, beta: np.ndarray, rs: slice) -> np.ndarray:
        """The chunk's fixed part ``X beta + offset``, kept for the passes at one ``beta``
        (the last chunk's only: data in one chunk reuse it, data in several hold one)."""
        key = np.asarray(beta, dtype=float).tobytes()
        if self._xb_cache is None or self._xb_cache[:2] != (key, rs.start):
            self._xb_cache = (key, rs.start, self.data.X[rs] @ beta + self.data.offset[rs])
        return self._xb_cache[2]

    def _rows(self, beta: np.ndarray, gs: slice, rs: slice) -> Rows:
        d, bounds = self.data, self._bounds[gs.start]
        xb = self._xb(beta, rs)
        return Rows(xb, d.X[rs], d.Z[rs], d.y[rs], d.trials[rs], d.obs_weight[rs], bounds)

    # ------------------------------------------------------------------ state
    def prior_state(self, theta: np.ndarray) -> AdaptiveState:
        """Nodes of non-adaptive quadrature: ``mu = 0``, ``C = I``."""
        A = self._factor(theta)[0]
        G = self.data.n_clusters
        return AdaptiveState(np.zeros((G, self.q)), np.broadcast_to(A, (G, self.q, self.q)).copy())

    def start_state(self, beta: np.ndarray, theta: np.ndarray) -> AdaptiveState:
        """The nodes to start the fit from: mean-variance adaptation converges in fewer
        passes from the modes and curvatures than from the prior."""
        state = self.prior_state(theta)
        if self.method == "mvaghermite":
            state = self.mode_curvature_state(beta, theta, state)
        return state

    def _v_nodes(self, Ainv: np.ndarray, state: AdaptiveState) -> tuple[np.ndarray, np.ndarray]:
        """``mu_j`` (G x q) and ``C_j`` (G x q x q) in the metric of ``v``."""
        mu = state.m @ Ainv.T
        C = np.einsum("ab,gbc->gac", Ainv, state.R)
        return mu, C

    # ------------------------------------------------------------ per chunk
    def _node_loglik(
        self,
        beta: np.ndarray,
        A: np.ndarray,
        mu: np.ndarray,
        C: np.ndarray,
        gs: slice,
        rs: slice,
        known: tuple[np.ndarray, np.ndarray | None] | None = None,
    ) -> ChunkNodes:
        """The chunk's nodes and their log integrand.  ``known``: the chunk's node log
        likelihoods (and odds, if formed) from an earlier pass at the same point and
        nodes."""
        a = self.rule.nodes
        v = mu[gs, None, :] + np.matmul(C[gs], a.T).transpose(0, 2, 1)  # g x K x q
        u = v @ A.T
        odds = None
        if known is not None:
            ll_nodes, odds = known
        elif self.intercept_only and np.max(xb := self._xb(beta, rs)) + np.max(u) < 300.0:
            ll_nodes, odds = self._intercept_node_loglik(xb, u[:, :, 0], gs, rs)
        else:
            ll_nodes = self._sums.node_loglik(self._rows(beta, gs, rs), u)
        log_phi_v = -0.5 * np.sum(v * v, axis=2) - 0.5 * self.q * np.log(2 * np.pi)
        detC = C[gs, 0, 0] if self.q == 1 else np.linalg.det(C[gs])
        logdetC = np.log(np.abs(detC))
        log_integrand = (
            ll_nodes + log_phi_v - self.rule.log_phi + self.rule.log_weights + logdetC[:, None]
        )
        return ChunkNodes(log_integrand, ll_nodes, v, u, odds)

    def _intercept_node_loglik(
        self, xb: np.ndarray, u: np.ndarray, gs: slice, rs: slice
    ) -> tuple[np.ndarray, np.ndarray]:
        """Node log likelihoods of a random intercept (``eta_ik = xb_i + u_gk``), g x K,
        and the odds ``e^eta`` (n x K), from which the derivatives take the probabilities.

        The linear part separates, ``sum_i w y (xb_i + u_gk) = sum_i w y xb_i +
        u_gk sum_i w y``, and ``e^eta = e^xb_i e^u_gk``, so only ``log(1 + e^xb e^u)``
        is formed per row and node: one product and one logarithm.
        """
        d = self.data
        bounds = self._bounds[gs.start]
        starts, sizes = bounds[:-1], np.diff(bounds)
        wy = d.obs_weight[rs] * d.y[rs]
        linear = np.add.reduceat(wy * xb, starts)[:, None]
        linear = linear + u * np.add.reduceat(wy, starts)[:, None]
        odds = np.repeat(np.exp(u), sizes, axis=0)
        odds *= np.exp(xb)[:, None]
        soft = np.log1p(odds)
        if not self.bernoulli:
            soft *= (d.obs_weight[rs] * d.trials[rs])[:, None]
        return linear - np.add.reduceat(soft, starts, axis=0), odds

    def _node_sums(
        self, beta: np.ndarray, nodes: ChunkNodes, post: np.ndarray, gs: slice, rs: slice
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Node sums of a chunk: resid X (g x K x p), resid Z (g x K x q), wgt Z Z'
        (g x K x q x q), wgt X Z' (g x K x p x q), and per row sum_k wgt post."""
        arrays = self._rows(beta, gs, rs)
        if self.compiled:
            return kernels.node_sums(arrays, nodes.u, post)
        m = None if nodes.odds is None else nodes.odds / (1.0 + nodes.odds)
        padded = self._padded(rs, self._bounds[gs.start])
        return rows.node_sums(arrays, nodes.u, post, m=m, padded=padded)

    def _padded(self, rs: slice, bounds: np.ndarray) -> PaddedClusters | None:
        """The chunk's clusters padded to equal size, when that wastes little.  The last
        chunk's layout is kept: a fit in one chunk builds it once, and a fit in several
        holds one chunk's at a time."""
        key = (rs.start, rs.stop)
        if self._padding is None or self._padding[0] != key:
            X, Z = self.data.X[rs], self.data.Z[rs]
            layout = (bounds[:-1], np.diff(bounds), self.rule.size)
            self._padding = (key, PaddedClusters.build(X, Z, *layout))
        return self._padding[1]

    # ------------------------------------------------------------ likelihood
    def fixed_loglik(self, beta: np.ndarray, theta: np.ndarray, state: AdaptiveState) -> float:
        """The log likelihood at the nodes of ``state``."""
        return self._posterior_moments(beta, theta, state)[0]

    def _posterior_moments(
        self, beta: np.ndarray, theta: np.ndarray, state: AdaptiveState
    ) -> tuple[float, AdaptiveState]:
        """Log likelihood and each cluster's posterior mean and covariance factor of u."""
        A, _, _, Ainv = self._factor(theta)
        mu, C = self._v_nodes(Ainv, state)
        cw = self.data.cluster_weight
        total = 0.0
        G = self.data.n_clusters
        m_new = np.empty((G, self.q))
        S_new = np.empty((G, self.q, self.q))
        ll_nodes = np.empty((G, self.rule.size))
        odds = None
        for gs, rs in self._chunks:
            nodes = self._node_loglik(beta, A, mu, C, gs, rs)
            ll_nodes[gs] = nodes.ll_nodes
            odds = nodes.odds if len(self._chunks) == 1 else None
            lse = logsumexp(nodes.log_integrand, axis=1)
            total += float(cw[gs] @ lse)
            p = np.exp(nodes.log_integrand - lse[:, None])
            u = nodes.u
            mean = np.matmul(p[:, None, :], u)[:, 0, :]
            dev = u - mean[:, None, :]
            m_new[gs] = mean
            S_new[gs] = np.matmul(dev.transpose(0, 2, 1) * p[:, None, :], dev)
        # derivatives at this point and with these nodes need not redo the pass
        self._last_pass = (beta.copy(), theta.copy(), state, ll_nodes, odds)
        return total + self.constant, AdaptiveState(m_new, safe_cholesky(S_new))

    def _known_pass(
        self, beta: np.ndarray, theta: np.ndarray, state: AdaptiveState
    ) -> Callable[[slice], tuple[np.ndarray, np.ndarray | None] | None]:
        """For each chunk, its node log likelihoods (and odds, when the pass kept them)
        from the last pass, if that pass was at this point and state."""
        if self._last_pass is not None:
            b, t, st, ll_nodes, odds = self._last_pass
            if st is state and np.array_equal(b, beta) and np.array_equal(t, theta):
                return lambda gs: (ll_nodes[gs], odds)
        return lambda gs: None

    def adapt_mean_variance(
        self, beta: np.ndarray, theta: np.ndarray, state: AdaptiveState, floor: float | None
    ) -> tuple[float, AdaptiveState]:
        """Move nodes to posterior means and SDs until the log likelihood settles."""
        return adaptation.adapt(
            lambda st: self._posterior_moments(beta, theta, st),
            state,
            lambda: self.mode_curvature_state(beta, theta, state),
            floor=floor,
            tolerance=self.adapt_tolerance,
            sound=lambda st: self._sound(theta, st),
        )

    def _sound(self, theta: np.ndarray, state: AdaptiveState) -> bool:
        """No cluster's node scale has collapsed relative to the prior."""
        _, C = self._v_nodes(self._factor(theta)[3], state)
        scale = np.einsum("gab,gab->ga", C, C)  # diag(C C') per cluster
        return bool(np.all(np.isfinite(scale)) and scale.min() > MIN_NODE_SCALE**2)

    def mode_curvature_state(
        self, beta: np.ndarray, theta: np.ndarray, state: AdaptiveState
    ) -> AdaptiveState:
        """Nodes at each cluster's posterior mode, scaled by the curvature there."""
        A, _, _, Ainv = self._factor(theta)
        d = self.data
        xb = d.X @ beta + d.offset
        v, info = cluster_modes(
            xb, d.Z @ A, d.y, d.trials, d.obs_weight, d.starts, state.m @ Ainv.T, tolerance=1e-10
        )
        C = safe_cholesky(np.linalg.inv(info))
        return AdaptiveState(v @ A.T, np.einsum("ab,gbc->gac", A, C))

    def loglik_nodes_held(
        self, beta: np.ndarray, theta: np.ndarray, state: AdaptiveState, theta_state: np.ndarray
    ) -> float:
        """The log likelihood at (beta, theta) with the nodes of ``state`` (placed at
        ``theta_state``) held where they are in the metric of the random effects: the
        function ``derivatives`` differentiates.  The nodes are kept standardized
        (``u = A^-1 v``), so they are re-standardized by theta."""
        A0inv = self._factor(theta_state)[3]
        M = self._factor(theta)[0] @ A0inv  # theta's factors stay cached for the pass
        moved = AdaptiveState(state.m @ M.T, np.einsum("ab,gbc->gac", M, state.R))
        return float(self.derivatives(beta, theta, moved).ll)

    # ------------------------------------------------------------ derivatives
    def derivatives(self, beta: np.ndarray, theta: np.ndarray, state: AdaptiveState) -> Evaluation:
        """Log likelihood, gradient and Hessian with the nodes of ``state`` held fixed."""
        return self._scored_pass(beta, theta, state, hessian=True)[0]

    def cluster_scores(
        self, beta: np.ndarray, theta: np.ndarray, state: AdaptiveState
    ) -> np.ndarray:
        """Per-cluster score vectors (G x P), for the opg and robust variance estimators."""
        if self.method in LAPLACE:
            from melogit_cli.engine.laplace.crossed import joint_scores
            from melogit_cli.engine.model.crossed_data import from_clusters

            return joint_scores(from_clusters(self.data, self.cov), beta, theta)
        return self._scored_pass(beta, theta, state, hessian=False)[1]

    def _scored_pass(
        self, beta: np.ndarray, theta: np.ndarray, state: AdaptiveState, hessian: bool
    ) -> tuple[Evaluation, np.ndarray]:
        """Log likelihood, gradient and (when asked) Hessian with the nodes of ``state``
        held fixed, and the per-cluster scores (G x P)."""
        d = self.data
        p, T, q = self.p, self.T, self.q
        P = p + T
        A, dA, d2A, Ainv = self._factor(theta)
        dA_flat = np.ascontiguousarray(dA.reshape(T, q * q).T)  # q*q x T
        mu, C = self._v_nodes(Ainv, state)
        cw = d.cluster_weight
        total = 0.0
        grad = np.zeros(P)
        hess = np.zeros((P, P))
        scores = np.empty((d.n_clusters, P))
        known = self._known_pass(beta, theta, state)
        for gs, rs in self._chunks:
            nodes = self._node_loglik(beta, A, mu, C, gs, rs, known(gs))
            lse = logsumexp(nodes.log_integrand, axis=1)
            c = cw[gs]
            total += float(c @ lse)
            post = np.exp(nodes.log_integrand - lse[:, None])  # g x K posterior node weights
            pc = post * c[:, None]  # the node sums' per-row sums only (wbar) depend on it
            s_beta, Tz, U, Mx, wbar = self._node_sums(beta, nodes, pc, gs, rs)
            v = nodes.v
            g_n, K, _ = v.shape
            n_nodes = g_n * K
            # node scores of theta, sum_ab Tz_a dA_tab v_b (d u / d theta_t = dA_t v)
            Tv = np.einsum("gka,gkb->gkab", Tz, v).reshape(n_nodes, q * q)
            s_theta = (Tv @ dA_flat).reshape(g_n, K, -1)
            s = np.concatenate([s_beta, s_theta], axis=2)  # g x K x P
            g_cl = np.einsum("gk,gkP->gP", post, s)
            scores[gs] = g_cl
            grad += c @ g_cl
            if not hessian:
                continue
            X = d.X[rs]
            vf = v.reshape(n_nodes, q)
            pcf = pc.reshape(n_nodes, 1)
            # expected node Hessians, contracted through v so that BLAS does the work
            hess[:p, :p] -= X.T @ (wbar[:, None] * X)
            vv = (vf[:, :, None] * vf[:, None, :]).reshape(n_nodes, q * q)
            M = ((U.reshape(n_nodes, q * q) * pcf).T @ vv).reshape(q, q, q, q)  # a c b d
            hess[p:, p:] -= np.einsum("tab,scd,acbd->ts", dA, dA, M)
            hess[p:, p:] += np.einsum("tuab,ab->tu", d2A, (Tv * pcf).sum(axis=0).reshape(q, q))
            N = ((Mx.reshape(n_nodes, p * q) * pcf).T @ vf).reshape(p, q, q)  # j a b
            hess[:p, p:] -= np.einsum("tab,jab->jt", dA, N)
            # outer products of node scores minus that of the cluster score
            flat = s.reshape(-1, P)
            hess += (flat * pcf).T @ flat - (g_cl * c[:, None]).T @ g_cl
        hess[p:, :p] = hess[:p, p:].T
        return Evaluation(total + self.constant, grad, hess), scores
