"""``matrix list``: Stata's layout of a matrix with its row and column names.

The layout, as in Stata's logs:

* the title ``[symmetric ]name[r,c]`` after a blank line;
* one column width for the whole matrix: two blanks plus the widest of the
  displayed values (the format's output without its padding), of the
  equation names with their colon, of the factor-variable level parts with
  their dot (``0b.``) and of the variable names;
* the column names split over up to three header lines: the equation
  (``c_use:``), the factor-variable level (``1.``), the variable (``urban``);
  the equation and level lines are printed one place further right, so that
  the colon and the dot stand just past the column's right edge; a line is
  printed only when some column of the matrix needs it, and then in every block;
* row names right-aligned in a column as wide as the longest (``c_use:1.urban``);
* names longer than 12 characters shortened as Stata's ``abbrev()`` does
  (``var(_cons[~)``);
* a symmetric matrix shows its lower triangle unless ``nohalf``;
* columns that do not fit in the line size continue in further blocks, each
  after a blank line and with its own header lines.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from melogit_cli.render.formats import FormatSpec, fmt, parse_format
from melogit_cli.results.eresults import Matrix

NAME_WIDTH = 12
_LEVEL_RE = re.compile(r"^(\d+[bno]*|[bno]+)\.(.+)$")


@dataclass
class ListOptions:
    """The options of ``matrix list``."""

    format: str = "%10.0g"
    half: bool = True
    blank: bool = True
    header: bool = True
    names: bool = True
    title: str | None = None
    linesize: int = 80


def abbreviate(name: str, width: int = NAME_WIDTH) -> str:
    """Stata's ``abbrev()``: the first ``width - 2`` characters, ``~`` and the last one."""
    if len(name) <= width:
        return name
    return name[: width - 2] + "~" + name[-1]


def split_name(name: str) -> tuple[str, str, str]:
    """(equation, factor-variable level with its dot, variable) of a row or column name."""
    eq, colon, rest = name.partition(":")
    if not colon:
        eq, rest = "", name
    m = _LEVEL_RE.match(rest) if "#" not in rest else None
    if m:
        return eq, m.group(1) + ".", m.group(2)
    return eq, "", rest


def is_symmetric(data: np.ndarray) -> bool:
    """Square and equal to its transpose (missing values equal to missing values)."""
    r, c = data.shape
    if r != c:
        return False
    a, b = data, data.T
    return bool(np.all((a == b) | (np.isnan(a) & np.isnan(b))))


def _row_label(name: str) -> str:
    eq, level, var = split_name(name)
    label = level + abbreviate(var)
    return f"{abbreviate(eq)}:{label}" if eq else label


def matrix_list_lines(name: str, mat: Matrix, opts: ListOptions | None = None) -> list[str]:
    """The lines ``matrix list name`` prints for ``mat``."""
    opts = opts or ListOptions()
    spec: FormatSpec = parse_format(opts.format)
    data = np.atleast_2d(np.asarray(mat.data, dtype=float))
    r, c = data.shape
    symmetric = is_symmetric(data)
    half = symmetric and opts.half
    cells = [[_cell(data[i, j], spec) for j in range(c)] for i in range(r)]

    lines: list[str] = [""] if opts.blank else []
    if opts.header:
        title = f"{'symmetric ' if symmetric else ''}{name}[{r},{c}]"
        lines.append(f"{title}:  {opts.title}" if opts.title else title)

    parts = [split_name(n) for n in mat.colnames]
    eqs = [f"{abbreviate(e)}:" if e else "" for e, _, _ in parts]
    levels = [lv for _, lv, _ in parts]
    variables = [abbreviate(v) for _, _, v in parts]
    widest = max((len(s) for row in cells for s in row), default=1)
    if opts.names:
        widest = max([widest, *map(len, eqs), *map(len, levels), *map(len, variables)])
        labels = [_row_label(n) for n in mat.rownames]
        rw = max(map(len, labels), default=0)
    else:
        labels = [""] * r
        rw = 0
    w = widest + 2
    per_block = max(1, (opts.linesize - rw - 1) // w)

    for start in range(0, c, per_block):
        cols = range(start, min(c, start + per_block))
        if start:
            lines.append("")
        if opts.names:
            if any(eqs):
                lines.append(" " * (rw + 1) + "".join(eqs[j].rjust(w) for j in cols))
            if any(levels):
                lines.append(" " * (rw + 1) + "".join(levels[j].rjust(w) for j in cols))
            lines.append(" " * rw + "".join(variables[j].rjust(w) for j in cols))
        for i in range(r):
            shown = [j for j in cols if not half or j <= i]
            if not shown:
                continue
            lines.append(labels[i].rjust(rw) + "".join(cells[i][j].rjust(w) for j in shown))
    return [line.rstrip() for line in lines]


def _cell(x: float, spec: FormatSpec) -> str:
    return "." if math.isnan(x) else fmt(x, spec).strip()
