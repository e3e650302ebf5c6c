"""Events the engine emits while it fits; the renderer turns them into Stata's log.

The engine never prints: it calls a callback with these objects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class PhaseStart:
    """A new phase: ``Fitting fixed-effects model:``, ``Refining starting values:``,
    ``Fitting full model:`` (``title`` holds that text without the colon)."""

    title: str


@dataclass(frozen=True)
class Iteration:
    """One optimizer iteration: ``Iteration 3:  Log likelihood = -1206.8322``."""

    number: int
    ll: float
    not_concave: bool = False
    backed_up: bool = False


@dataclass(frozen=True)
class GridNode:
    """One start-value grid evaluation: ``Grid node 0:  Log likelihood = -1219.2681``."""

    number: int
    ll: float


@dataclass(frozen=True)
class Message:
    """A line of the log such as ``convergence not achieved`` or a ``note:``."""

    text: str


Event = PhaseStart | Iteration | GridNode | Message
EventSink = Callable[[Event], None]


def ignore(_event: Event) -> None:
    """The sink for ``nolog`` and quiet fits."""
