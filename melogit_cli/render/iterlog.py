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

import numpy as np

from melogit_cli.engine.events import Detail, Event, GridNode, Iteration, Message, PhaseStart
from melogit_cli.render.formats import fmt

RULE = "-" * 78  # SMCL's {hline} across the log


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
        if isinstance(event, Detail):
            return "".join(line + "\n" for line in detail_lines(event, self.crit))
        if isinstance(event, GridNode):
            return grid_line(event.number, event.ll, self.crit) + "\n"
        if isinstance(event, Message):
            if event.text.startswith("note:"):  # SMCL's {p 0 6 2}
                from melogit_cli.render.footer import wrap_note

                return "\n".join(wrap_note(event.text)) + "\n"
            return event.text + "\n"
        return ""


def flush_right(label: str, value: float, fmt_spec: str = "%10.0g") -> str:
    """``label = value`` ending in column 77, as optimize() shows values in a detailed log."""
    return " " * (65 - len(label)) + f"{label} = {fmt(value, fmt_spec)}"


def _vector_lines(values: tuple[float, ...], names: tuple[str, ...]) -> list[str]:
    from melogit_cli.render.matrix_list import ListOptions, matrix_list_lines
    from melogit_cli.results.eresults import Matrix

    cols = list(names) if names else [f"c{j + 1}" for j in range(len(values))]
    mat = Matrix(["r1"], cols, np.array([values], dtype=float))
    return matrix_list_lines("", mat, ListOptions(format="%9.0g", header=False, blank=False))


def _matrix_lines(rows: tuple[tuple[float, ...], ...], names: tuple[str, ...]) -> list[str]:
    from melogit_cli.render.matrix_list import ListOptions, matrix_list_lines
    from melogit_cli.results.eresults import Matrix

    k = len(rows)
    labels = list(names) if names else [f"c{j + 1}" for j in range(k)]
    rlabels = list(names) if names else [f"r{j + 1}" for j in range(k)]
    mat = Matrix(rlabels, labels, np.array(rows, dtype=float))
    opts = ListOptions(format="%9.0g", header=False, blank=False, half=False)
    return matrix_list_lines("", mat, opts)


def detail_lines(d: Detail, crit: str = "Log likelihood") -> list[str]:
    """The lines of one part of the detailed log (see :class:`Detail`)."""
    lines: list[str] = []
    if d.kind == "head":
        if d.number > 0:
            lines.append(RULE)
        lines.append(f"Iteration {d.number}:")
    elif d.kind == "params":
        lines += ["Parameter vector:", *_vector_lines(d.vector, d.names), ""]
    elif d.kind == "value":
        lines.append(flush_right(crit, d.value))
        if d.text:
            lines.append(" " * (78 - len(d.text)) + d.text)
    elif d.kind == "tolerance":
        if d.full:
            lines.append(flush_right(d.text, d.value))
        else:
            pad = max(len(crit) - len(d.text) + 1, 1)
            lines.append(" " * 14 + d.text + " " * pad + f"= {fmt(d.value, '%10.0g')}")
    elif d.kind == "gradient":
        lines += _length_or_vector("Gradient", d)
    elif d.kind == "hessian":
        if d.blank_before:
            lines.append("")
        lines += ["Hessian matrix:", *_matrix_lines(d.matrix, d.names)]
    elif d.kind == "step":
        if d.blank_before:
            lines.append("")
        lines += _length_or_vector("Step", d)
        if d.full:
            lines.append("")
        lines.append("Parameters + step -> new parameters")
        if d.full:
            lines += [*_vector_lines(d.matrix[0], d.names), ""]
    elif d.kind == "halving":
        if d.full:
            lines += [
                "",
                f"({d.number}) Reducing step size (step length ={fmt(d.length, '%9.0g')})",
            ]
            lines += ["New parameter vector:", *_vector_lines(d.vector, d.names), ""]
        else:
            lines.append(f"({d.number}) Reducing step size, step length ={fmt(d.length, '%9.0g')}")
        lines.append(flush_right(crit, d.value))
    return lines


def _length_or_vector(name: str, d: Detail) -> list[str]:
    length = float(np.linalg.norm(np.asarray(d.vector, dtype=float)))
    if not d.full:
        return [f"{name} length".ljust(21) + f" ={fmt(length, '%9.0g')}"]
    return [f"{name} vector (length ={fmt(length, '%9.0g')}):", *_vector_lines(d.vector, d.names)]
