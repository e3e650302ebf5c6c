"""The posterior-mode search every engine shares.

The log integrand of a group of random effects, ``h(v) = sum_i ll_i(eta_i(v)) - v'v/2``,
is concave in ``v``; its mode is found by Newton's method with step halving, separately
for every group (a cluster, or a top-level unit with its descendants) whose value a full
step lowers.  The engines differ only in how they solve with the negative Hessian: a
batch of ``q x q`` matrices (``cluster_modes``), the nesting tree (``nested_tree``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import numpy as np

from melogit_cli.special import expit

MODE_ITERATIONS = 200
HALVINGS = 40
SLACK = 1e-12  # relative decrease of a group's h that a step may cause and still be taken

Effects = TypeVar("Effects")  # G x q array, or one array per level


def find_modes(
    v: Effects,
    *,
    objective: Callable[[Effects], np.ndarray],
    newton_step: Callable[[Effects], Effects],
    move: Callable[[Effects, Effects, np.ndarray], Effects],
    step_size: Callable[[Effects, np.ndarray], float],
    tolerance: float,
    iterations: int = MODE_ITERATIONS,
) -> Effects:
    """Newton iterations from ``v`` until the largest step taken is below ``tolerance``.

    ``objective`` gives each group's ``h``; ``move(v, step, t)`` is ``v + t step`` with
    one factor ``t`` per group; ``step_size(step, t)`` the largest ``|t step|``.
    """
    f0 = objective(v)
    for _ in range(iterations):
        step = newton_step(v)
        t = np.ones_like(f0)
        new = move(v, step, t)
        for _ in range(HALVINGS):
            f_new = objective(new)
            worse = f_new < f0 - SLACK * (np.abs(f0) + 1)
            if not worse.any():
                break
            t = np.where(worse, t / 2, t)
            new = move(v, step, t)
        else:
            f_new = objective(new)
        v, f0 = new, f_new
        if step_size(step, t) < tolerance:
            break
    return v


def cluster_modes(
    xb: np.ndarray,
    B: np.ndarray,
    y: np.ndarray,
    trials: np.ndarray,
    weight: np.ndarray,
    starts: np.ndarray,
    v0: np.ndarray,
    *,
    tolerance: float,
    iterations: int = MODE_ITERATIONS,
) -> tuple[np.ndarray, np.ndarray]:
    """Each cluster's mode of ``h`` (G x q) for ``eta = xb + B v`` (rows sorted by cluster,
    ``starts`` their G + 1 boundaries), and the negative Hessian ``I + B'WB`` there."""
    q = B.shape[1]
    sizes = np.diff(starts)
    first = starts[:-1]
    eye = np.eye(q)

    def eta_of(v: np.ndarray) -> np.ndarray:
        return xb + np.einsum("iq,iq->i", B, np.repeat(v, sizes, axis=0))

    def information(mu: np.ndarray) -> np.ndarray:
        wgt = weight * trials * mu * (1 - mu)
        info = np.add.reduceat(wgt[:, None, None] * B[:, :, None] * B[:, None, :], first, axis=0)
        return info + eye

    def objective(v: np.ndarray) -> np.ndarray:
        eta = eta_of(v)
        ll = weight * (y * eta - trials * np.logaddexp(0.0, eta))
        return np.add.reduceat(ll, first) - 0.5 * np.sum(v * v, axis=1)

    def newton_step(v: np.ndarray) -> np.ndarray:
        mu = expit(eta_of(v))
        grad = np.add.reduceat((weight * (y - trials * mu))[:, None] * B, first, axis=0) - v
        info = information(mu)
        if q == 1:
            return grad / info[:, 0]
        return np.linalg.solve(info, grad[..., None])[..., 0]

    v = find_modes(
        v0,
        objective=objective,
        newton_step=newton_step,
        move=lambda v, step, t: v + t[:, None] * step,
        step_size=lambda step, t: float(np.max(np.abs(step * t[:, None]), initial=0.0)),
        tolerance=tolerance,
        iterations=iterations,
    )
    return v, information(expit(eta_of(v)))
