"""Newton-Raphson's stopping rules when the likelihood is only known to a precision."""

from __future__ import annotations

import numpy as np

from melogit_cli.engine.events import Message
from melogit_cli.engine.newton import Settings, maximize


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
