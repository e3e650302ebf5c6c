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


@dataclass(frozen=True)
class Detail:
    """A part of the maximizer's detailed log (``trace``, ``gradient``, ``hessian``,
    ``showstep``, ``showtolerance``), laid out by the renderer as Stata's ``optimize()``:

    ``head``       a rule (after iteration 0) and ``Iteration #:``
    ``params``     ``Parameter vector:`` and the vector
    ``value``      the log likelihood flush right, ``text`` (a note) on its own line
    ``tolerance``  ``text`` (the criterion's name) ``= value`` (flush right when ``full``)
    ``gradient``   the gradient vector (``full``) or its length
    ``hessian``    ``Hessian matrix:`` and the matrix
    ``step``       the step vector (``full``) or its length, then the new parameters
    ``halving``    ``(#) Reducing step size``, the step length, the new log likelihood
    """

    kind: str
    number: int = 0
    value: float = float("nan")
    vector: tuple[float, ...] = ()
    matrix: tuple[tuple[float, ...], ...] = ()
    names: tuple[str, ...] = ()
    text: str = ""
    full: bool = False
    length: float = float("nan")  # a step's length
    blank_before: bool = False


Event = PhaseStart | Iteration | GridNode | Message | Detail
EventSink = Callable[[Event], None]


def ignore(_event: Event) -> None:
    """The sink for ``nolog`` and quiet fits."""
