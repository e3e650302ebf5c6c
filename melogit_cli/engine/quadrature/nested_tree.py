"""Joint posterior modes of nested random effects and the block elimination behind them.

Within a top-level unit the negative Hessian of
``h(v) = sum_i ll_i(x_i b + sum_l z_il' A_l v_l) - |v|^2 / 2`` is
``H = I + sum_i W_i b_i b_i'`` where ``b_i`` stacks ``A_l' z_il`` over the row's units.
A unit is coupled only to its ancestors and descendants, so eliminating the units from
the lowest level up (block Gaussian elimination on the tree) needs, for each unit, only
a dense matrix over its path (itself and its ancestors).  Eliminating unit ``u`` leaves
its pivot ``D_u`` and ``Gamma_u = D_u^-1 H_u,anc``; under the Gaussian approximation
``N(v_hat, H^-1)`` the effects of ``u`` given its ancestors are
``N(v_hat_u - Gamma_u (v_anc - v_hat_anc), D_u^-1)`` and ``log|H| = sum log|D_u|``.

Weights at the levels below the top (``unit_weight``) count a unit as that many copies:
``h`` and ``H`` are those of the data with the units replicated.  Copies share their
mode, so ``v`` keeps one vector per unit; a unit's equations are one copy's, in which
its rows count with the weights of the levels below it (``row_scale``), and eliminating
a unit adds its weight times its Schur complement to its parent.  ``log|H|`` is then the
sum of the pivots' ``log|D_u|`` times the units' cumulative weights (``unit_scale``), which
the one-point quadrature at the conditional locations reproduces.

Everything is vectorized over the units of a level; the only Python loops run over the
levels, the parameters or the Newton iterations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from melogit_cli.engine.model.nested_data import NestedData
from melogit_cli.engine.shared.cholesky import safe_cholesky
from melogit_cli.engine.shared.modes import MODE_ITERATIONS, find_modes
from melogit_cli.special import expit

MODE_TOLERANCE = 1e-10


@dataclass
class TreeFactor:
    """Per level: pivot inverses ``Dinv`` (G x q x q), ``Gamma`` (G x q x Q_anc)."""

    Dinv: list[np.ndarray]
    Gamma: list[np.ndarray]
    cross: list[np.ndarray]  # H_own,anc (G x q x Q_anc)


class Tree:
    """Block elimination on the nesting tree for effects of sizes ``dims`` (top first)."""

    def __init__(self, data: NestedData, dims: list[int]) -> None:
        self.data = data
        self.offsets = np.concatenate([[0], np.cumsum(dims)]).astype(int)
        self.L = len(dims)
        # unit_scale[l]: each unit's copies (the product of its and its ancestors' weights
        # below the top); row_scale[l]: each row's copies within one copy of its level-l unit
        L = self.L
        self.unit_scale = [np.ones(data.n_units[0])]
        for lv in range(1, L):
            self.unit_scale.append(self.unit_scale[-1][data.parent[lv]] * data.unit_weight[lv])
        self.row_scale: list[np.ndarray] = [np.empty(0)] * L
        rel = np.ones(len(data.row_unit[0]))
        for lv in reversed(range(L)):
            self.row_scale[lv] = rel
            rel = rel * data.unit_weight[lv][data.row_unit[lv]]
        self.weighted = any(np.any(w != 1) for w in data.unit_weight[1:])

    def to_parent(self, x: np.ndarray, lv: int) -> np.ndarray:
        """Sum level ``lv``'s per-unit ``x`` into the parents, each unit counted by its weight."""
        if self.weighted:
            w = self.data.unit_weight[lv]
            x = w.reshape((-1,) + (1,) * (x.ndim - 1)) * x
        return np.add.reduceat(x, self.data.child_starts[lv - 1][:-1], axis=0)

    def factor(self, Mb: np.ndarray) -> TreeFactor:
        """Eliminate bottom-up; ``Mb`` (G_bottom x Q x Q) holds the rows' ``sum W b b'``."""
        L = self.L
        Dinv: list[np.ndarray] = [np.empty(0)] * L
        Gam: list[np.ndarray] = [np.empty(0)] * L
        cross: list[np.ndarray] = [np.empty(0)] * L
        M = Mb
        for lv in reversed(range(L)):
            o, e = self.offsets[lv], self.offsets[lv + 1]
            D = M[:, o:e, o:e] + np.eye(e - o)
            if np.any(np.linalg.slogdet(D)[0] <= 0):
                raise np.linalg.LinAlgError("pivot not positive definite")
            Di = np.linalg.inv(D)
            Bt = M[:, o:e, :o]  # own x ancestors
            G = Di @ Bt
            Dinv[lv], Gam[lv], cross[lv] = Di, G, Bt
            if lv > 0:
                M = self.to_parent(M[:, :o, :o] - np.swapaxes(Bt, 1, 2) @ G, lv)
        return TreeFactor(Dinv, Gam, cross)

    def solve(self, F: TreeFactor, r: list[np.ndarray]) -> list[np.ndarray]:
        """``H^-1 r`` for ``r`` given per level as (G_l x q_l x ...) own components."""
        d, L = self.data, self.L
        tail = r[0].shape[2:]
        ys: list[np.ndarray] = [np.empty(0)] * L
        acc = np.zeros((d.n_units[-1], self.offsets[-1]) + tail)  # per bottom unit's path
        for lv in reversed(range(L)):
            o, e = self.offsets[lv], self.offsets[lv + 1]
            acc[:, o:e] += r[lv]
            y = np.einsum("gab,gb...->ga...", F.Dinv[lv], acc[:, o:e])
            ys[lv] = y
            if lv > 0:
                acc = self.to_parent(acc[:, :o] - np.einsum("gab,ga...->gb...", F.cross[lv], y), lv)
        xs: list[np.ndarray] = [ys[0]]
        path = ys[0]
        for lv in range(1, L):
            anc = path[d.parent[lv]]
            x = ys[lv] - np.einsum("gab,gb...->ga...", F.Gamma[lv], anc)
            xs.append(x)
            path = np.concatenate([anc, x], axis=1)
        return xs

    def path_covariance(self, F: TreeFactor) -> np.ndarray:
        """Blocks of ``H^-1`` over each bottom unit's path (G_bottom x Q x Q)."""
        d = self.data
        S = F.Dinv[0]
        for lv in range(1, self.L):
            Sa = S[d.parent[lv]]
            G = F.Gamma[lv]
            cross = -G @ Sa  # own x anc
            own = F.Dinv[lv] + cross @ np.swapaxes(-G, 1, 2)
            top = np.concatenate([Sa, np.swapaxes(cross, 1, 2)], axis=2)
            bottom = np.concatenate([cross, own], axis=2)
            S = np.concatenate([top, bottom], axis=1)
        return S


@dataclass
class Modes:
    """Joint posterior modes (v-metric, per level) and the factor of ``H`` there."""

    v: list[np.ndarray]
    factor: TreeFactor


def joint_modes(
    tree: Tree,
    beta: np.ndarray,
    As: list[np.ndarray],
    v0: list[np.ndarray],
    *,
    tolerance: float = MODE_TOLERANCE,
    iterations: int = MODE_ITERATIONS,
) -> Modes:
    """Maximize ``h`` in every top-level unit at once (Newton with per-unit step halving,
    at most ``iterations`` steps, until the largest is below ``tolerance``)."""
    d = tree.data
    xb = d.X @ beta + d.offset
    B = np.concatenate([Z @ A for Z, A in zip(d.Z, As, strict=False)], axis=1)
    w, y, r = d.obs_weight, d.y, d.trials
    G0 = d.n_units[0]
    bottom = d.row_starts[-1][:-1]

    def eta_of(v: list[np.ndarray]) -> np.ndarray:
        path = np.concatenate([v_l[ru] for v_l, ru in zip(v, d.row_unit, strict=False)], axis=1)
        return xb + np.einsum("iq,iq->i", B, path)  # each row's effects at its path

    def objective(v: list[np.ndarray]) -> np.ndarray:
        eta = eta_of(v)
        copies = tree.row_scale[0] * w
        f = np.bincount(d.row_unit[0], copies * (y * eta - r * np.logaddexp(0.0, eta)), G0)
        for v_l, top, c in zip(v, d.top_of_unit, tree.unit_scale, strict=False):
            f -= 0.5 * np.bincount(top, c * np.sum(v_l * v_l, axis=1), G0)
        return f

    def hessian(eta: np.ndarray) -> TreeFactor:
        m = expit(eta)
        W = w * r * m * (1 - m)
        Mb = np.add.reduceat(W[:, None, None] * B[:, :, None] * B[:, None, :], bottom, axis=0)
        return tree.factor(Mb)

    def newton_step(v: list[np.ndarray]) -> list[np.ndarray]:
        eta = eta_of(v)
        resid = w * (y - r * expit(eta))
        grad = [
            np.add.reduceat(
                (tree.row_scale[lv] * resid)[:, None]
                * B[:, tree.offsets[lv] : tree.offsets[lv + 1]],
                d.row_starts[lv][:-1],
                axis=0,
            )
            - v[lv]
            for lv in range(tree.L)
        ]
        return tree.solve(hessian(eta), grad)

    def move(v: list[np.ndarray], step: list[np.ndarray], t: np.ndarray) -> list[np.ndarray]:
        return [
            v_l + t[top][:, None] * s for v_l, s, top in zip(v, step, d.top_of_unit, strict=False)
        ]

    def step_size(step: list[np.ndarray], t: np.ndarray) -> float:
        return max(
            float(np.max(np.abs(t[top][:, None] * s)))
            for s, top in zip(step, d.top_of_unit, strict=False)
        )

    v = find_modes(
        [np.array(x, dtype=float, copy=True) for x in v0],
        objective=objective,
        newton_step=newton_step,
        move=move,
        step_size=step_size,
        tolerance=tolerance,
        iterations=iterations,
    )
    return Modes(v, hessian(eta_of(v)))


def conditional_locations(
    d: NestedData, modes: Modes, nodes: list[np.ndarray]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Pinheiro-Chao node locations and scales, per level and per path of ancestor nodes.

    Returns per level ``mu`` (G x M_anc x q) and ``C`` (G x M_anc x q x q) in the v-metric:
    the Gaussian approximation's conditional mean given each combination of the
    ancestors' nodes, and the Cholesky factor of its conditional covariance.
    """
    F = modes.factor
    out: list[tuple[np.ndarray, np.ndarray]] = []
    # the ancestors' node values per path (G x M x Q) and their modes, held by the one
    # root above the top level (parent 0), which has neither
    paths, vpath = np.zeros((1, 1, 0)), np.zeros((1, 0))
    L = len(modes.v)
    for lv in range(L):
        C = safe_cholesky(F.Dinv[lv])
        vh = modes.v[lv]
        par = d.parent[lv]
        anc, va = paths[par], vpath[par]
        mu = vh[:, None, :] - np.einsum("gqa,gma->gmq", F.Gamma[lv], anc - va[:, None, :])
        G, Mp, q = mu.shape
        out.append((mu, np.broadcast_to(C[:, None], (G, Mp, q, q))))
        if lv < L - 1:
            v = mu[:, :, None, :] + np.einsum("gab,kb->gka", C, nodes[lv])[:, None]
            K = v.shape[2]
            prev = np.broadcast_to(anc[:, :, None, :], (G, Mp, K, anc.shape[2]))
            paths = np.concatenate([prev, v], axis=3).reshape(G, Mp * K, -1)
            vpath = np.concatenate([va, vh], axis=1)
    return out
