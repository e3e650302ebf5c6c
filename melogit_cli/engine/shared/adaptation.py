"""Mean-variance adaptation (``mvaghermite``): each cluster's nodes move to its posterior
mean and variance under the current nodes, pass after pass, until the log likelihood
settles.  The engines supply one pass; this module owns when to stop and restart.

A pass maps a node state to the log likelihood at those nodes and the state of the
posterior moments they give.  Starting from the nodes carried from the last point is
fast near convergence; far from it (a long Newton step) the passes can collapse a
cluster onto one node or wander, so an unsettled start is replaced by the modes and
curvatures, unless the point is a line search's trial far below what it must reach.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import numpy as np

from melogit_cli.engine.optimize.newton import far_below

TOLERANCE = 1e-8  # relative change of the log likelihood at which the nodes have settled
PASSES = 1001  # at most, from the modes (Stata's limit)
CARRIED_PASSES = 100  # at most from the carried nodes before starting afresh
# passes without a new smallest change after which the passes are judged not to settle
# (their changes wander instead of shrinking geometrically)
NO_PROGRESS = 20
SETTLE_CHECK = 10  # a line search's trial point still far below its floor by then is let go

State = TypeVar("State")
Pass = Callable[[State], tuple[float, State]]


def adapt(
    one_pass: Pass,
    carried: State | None,
    from_modes: Callable[[], State],
    *,
    floor: float | None,
    tolerance: float = TOLERANCE,
    sound: Callable[[State], bool] | None = None,
    passes: int = PASSES,
) -> tuple[float, State]:
    """The settled log likelihood and nodes, from ``carried`` (None: from the modes,
    at most ``passes`` passes).

    ``sound`` tells whether settled nodes can be kept (no collapsed cluster); nodes
    that are not are replaced by a start from the modes, as unsettled ones are.
    """
    if carried is not None:
        ll, state, ok = iterate(one_pass, carried, CARRIED_PASSES, floor, tolerance, sound)
        if ok or far_below(ll, floor):
            return ll, state
    ll, state, _ = iterate(one_pass, from_modes(), passes, floor, tolerance, sound)
    return ll, state


def iterate(
    one_pass: Pass,
    state: State,
    limit: int,
    floor: float | None = None,
    tolerance: float = TOLERANCE,
    sound: Callable[[State], bool] | None = None,
) -> tuple[float, State, bool]:
    """At most ``limit`` passes from ``state``: the last log likelihood, the nodes, and
    whether they settled on sound nodes."""
    ll_old = None
    smallest, since = np.inf, 0
    ll = -np.inf
    for it in range(limit):
        ll, moments = one_pass(state)
        if not np.isfinite(ll):
            return ll, state, False
        if ll_old is not None:
            change = abs(ll - ll_old)
            if change <= tolerance * (abs(ll_old) + 1):
                return ll, state, sound is None or sound(state)
            smallest, since = (change, 0) if change < smallest else (smallest, since + 1)
            if since >= NO_PROGRESS:
                return ll, state, False
        if it + 1 >= SETTLE_CHECK and far_below(ll, floor):
            return ll, state, False
        ll_old = ll
        state = moments
    return ll, state, False
