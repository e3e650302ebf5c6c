"""Newton-Raphson's stopping rules when the likelihood is only known to a precision."""

from __future__ import annotations

import numpy as np

from melogit_cli.engine.events import Message
from melogit_cli.engine.optimize.newton import Settings, maximize


class BlurredQuadratic:
    """``-(x - 1)^2 / 2`` with exact derivatives, but every point other than the start
    evaluates ``noise`` lower, as a likelihood settled only to a tolerance can."""

    def __init__(self, start: float, noise: float) -> None:
        self.start, self.noise = start, noise

    def _f(self, x: np.ndarray) -> float:
        return -0.5 * float((x[0] - 1.0) ** 2)

    def value(self, x: np.ndarray, floor: float | None = None) -> float:
        del floor
        return self._f(x) - (0.0 if x[0] == self.start else self.noise)

    def derivatives(self, x: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        return self.value(x), np.array([1.0 - x[0]]), np.array([[-1.0]])

    def refined_hessian(self, x: np.ndarray) -> None:
        del x


def _run(start: float, noise: float):
    events = []
    res = maximize(BlurredQuadratic(start, noise), np.array([start]), Settings(), events.append)
    return res, [e.text for e in events if isinstance(e, Message)]


def test_no_improvement_within_the_noise_at_a_stationary_point_is_convergence():
    # g'H^-1 g = 1e-6 < nrtolerance: the predicted gain 5e-7 is below the noise 1e-3
    res, messages = _run(1.001, 1e-3)
    assert res.converged
    assert messages == []
    assert res.x[0] == 1.001


def test_no_improvement_away_from_the_optimum_is_not_convergence():
    # g'H^-1 g = 0.01: a real gain of 0.005 that the noise 1.0 hides
    res, messages = _run(1.1, 1.0)
    assert not res.converged
    assert messages == ["convergence not achieved"]


class CurvedQuadratic:
    """``-(x' A x) / 2 - b'x`` whose iteration Hessian is ``scale`` times the truth (an
    approximation, as a secant update is) and whose refined Hessian is exact."""

    def __init__(self, scale: float) -> None:
        self.A = np.array([[2.0, 0.5], [0.5, 1.0]])
        self.b = np.array([1.0, -2.0])
        self.scale = scale
        self.refined = 0

    def value(self, x: np.ndarray, floor: float | None = None) -> float:
        del floor
        return -0.5 * float(x @ self.A @ x) - float(self.b @ x)

    def derivatives(self, x: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        return self.value(x), -self.A @ x - self.b, -self.scale * self.A

    def refined_hessian(self, x: np.ndarray) -> np.ndarray:
        del x
        self.refined += 1
        self.scale = 1.0  # the iterations that follow are Newton steps
        return -self.A


def test_convergence_declared_with_an_approximate_hessian_is_confirmed_with_the_refined():
    # a Hessian 1e8 times too curved makes the first step tiny: tolerance() is met, and
    # g'(-H)^-1 g with the approximate H is below nrtolerance; with the exact Hessian it
    # is not, so the iterations go on
    objective = CurvedQuadratic(1e8)
    res = maximize(objective, np.array([0.0, 0.0]), Settings())
    optimum = np.linalg.solve(objective.A, -objective.b)
    assert res.converged
    np.testing.assert_allclose(res.x, optimum, atol=1e-10)
    np.testing.assert_array_equal(res.hessian, -objective.A)
    assert objective.refined >= 2  # once refused, once confirmed


def test_secant_update():
    from melogit_cli.engine.optimize.differences import secant_update

    rng = np.random.default_rng(5)
    M = rng.normal(size=(4, 4))
    H = -(M @ M.T + 4 * np.eye(4))  # negative definite
    step = rng.normal(size=4)
    true_H = -(np.diag([1.0, 2.0, 3.0, 4.0]))
    change = true_H @ step
    H1 = secant_update(H, step, change)
    assert H1 is not None
    np.testing.assert_allclose(H1 @ step, change)  # the secant equation
    np.testing.assert_allclose(H1, H1.T)
    assert np.all(np.linalg.eigvalsh(H1) < 0)  # still negative definite
    assert secant_update(-H, step, change) is None  # H not negative definite
    assert secant_update(H, step, -change) is None  # the step shows no curvature
