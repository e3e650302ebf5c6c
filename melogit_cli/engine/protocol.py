"""What every likelihood engine offers the fit, and the Newton objective it hands it.

An engine is built from its arrays and covariance structure as
``Engine(data, cov, method=..., points=...)``; everything across the seam is passed by
keyword where it is optional.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from melogit_cli.engine.optimize import newton


@runtime_checkable
class Objective(newton.Objective, Protocol):
    """The function Newton-Raphson maximizes (value, derivatives, final Hessian), with
    the engine's state at the point it was last evaluated at."""

    state: Any


@runtime_checkable
class Engine(Protocol):
    """A likelihood engine: start state, log likelihood, derivatives (through its Newton
    objective), per-top-cluster scores and the refined final Hessian."""

    layout: ClassVar[str]  # the arrays it fits: "clusters", "nested" or "crossed"
    method: str
    points: int  # per random effect (1 for the Laplace approximation)
    p: int

    def start_state(self, beta: np.ndarray, theta: np.ndarray) -> Any: ...

    def loglik(
        self, beta: np.ndarray, theta: np.ndarray, state: Any, *, floor: float | None = None
    ) -> tuple[float, Any]: ...

    def objective(self, state: Any) -> Objective: ...

    def cluster_scores(self, beta: np.ndarray, theta: np.ndarray, state: Any) -> np.ndarray: ...

    def refined_hessian(self, x: np.ndarray) -> np.ndarray | None: ...
