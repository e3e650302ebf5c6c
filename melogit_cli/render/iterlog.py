"""The iteration log, written as Stata 18/19 writes it (``~`` marks a trailing blank)::

    <blank>
    Fitting fixed-effects model:
    <blank>
    Iteration 0:  Log likelihood = -1229.5485~~
    Iteration 1:  Log likelihood = -1228.5268~~
    <blank>
    Refining starting values:
    <blank>
    Grid node 0:  Log likelihood = -1219.2681
    <blank>
    Fitting full model:
    <blank>
    Iteration 0:  Log likelihood = -1219.2681  (not concave)
    Iteration 10: Log likelihood =  -3663.222~~

The log likelihood is ``%10.0g``; "Log" starts in column 15 ("Iteration 9:  ",
"Iteration 10: "); iteration lines end in two blanks or in ``  (not concave)`` /
``  (backed up)``; grid-node lines have no trailing blanks.
"""

from __future__ import annotations

from typing import TextIO

from melogit_cli.engine.events import Event, GridNode, Iteration, Message, PhaseStart
from melogit_cli.render.formats import fmt


def iteration_line(number: int, ll: float, suffix: str = "", crit: str = "Log likelihood") -> str:
    """``Iteration 3:  Log likelihood = -1206.8322  `` (``suffix`` like ``(not concave)``)."""
    head = f"Iteration {number}:".ljust(13)
    return f"{head} {crit} = {fmt(ll, '%10.0g')}  {suffix}"


def grid_line(number: int, ll: float, crit: str = "Log likelihood") -> str:
    """``Grid node 0:  Log likelihood = -1219.2681``."""
    head = f"Grid node {number}:".ljust(13)
    return f"{head} {crit} = {fmt(ll, '%10.0g')}"


class IterationLog:
    """An event sink that writes the engine's progress to ``stream`` as Stata's log."""

    def __init__(self, stream: TextIO, crit: str = "Log likelihood") -> None:
        self.stream = stream
        self.crit = crit

    def __call__(self, event: Event) -> None:
        self.stream.write(self.format(event))
        flush = getattr(self.stream, "flush", None)
        if flush is not None:
            flush()

    def format(self, event: Event) -> str:
        """The text (with its newlines) that ``event`` adds to the log."""
        if isinstance(event, PhaseStart):
            return f"\n{event.title}:\n\n"
        if isinstance(event, Iteration):
            suffix = (
                "(not concave)" if event.not_concave else "(backed up)" if event.backed_up else ""
            )
            return iteration_line(event.number, event.ll, suffix, self.crit) + "\n"
        if isinstance(event, GridNode):
            return grid_line(event.number, event.ll, self.crit) + "\n"
        if isinstance(event, Message):
            if event.text.startswith("note:"):  # SMCL's {p 0 6 2}
                from melogit_cli.render.footer import wrap_note

                return "\n".join(wrap_note(event.text)) + "\n"
            return event.text + "\n"
        return ""
