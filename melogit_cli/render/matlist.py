"""Stata's ``matlist`` layout: a matrix with row and column names, equation headers,
separator lines between equations, and column blocks that fit the line size."""

from __future__ import annotations

import re

import numpy as np

from melogit_cli.render.formats import fmt

_OP = re.compile(r"^(.*\.)([^.]+)$")


def abbrev(name: str, width: int) -> str:
    """Stata's ``abbrev()``: keep the start and the last character around a ``~``."""
    if len(name) <= width:
        return name
    return name[: width - 2] + "~" + name[-1]


def _op_parts(name: str) -> re.Match[str] | None:
    """``1.`` and ``urban`` of ``1.urban``; None for plain names and parameter names
    such as ``var(_cons[district])``."""
    return None if "(" in name else _OP.match(name)


def _has_op(name: str) -> bool:
    return _op_parts(name) is not None


def _split_col(name: str, width: int, ops: bool) -> list[str]:
    """A column name on the header lines: ``1.`` above ``urban`` when any column has
    factor-variable or time-series operators (as ``_ms_split``), otherwise one line."""
    if not ops:
        return [abbrev(name, width)]
    m = _op_parts(name)
    if m is None:
        return ["", abbrev(name, width)]
    return [abbrev(m.group(1), width), abbrev(m.group(2), width)]


def _split_row(name: str, width: int) -> list[str]:
    if len(name) <= width:
        return [name]
    m = _op_parts(name)
    if m is None:
        return [abbrev(name, width)]
    return [abbrev(m.group(1), width), abbrev(m.group(2), width)]


def matlist(
    M: np.ndarray,
    rownames: list[str],
    colnames: list[str],
    *,
    roweqs: list[str] | None = None,
    coleqs: list[str] | None = None,
    fmt_spec: str = "%9.0g",
    rowtitle: str = "",
    title: str | None = None,
    lines: str | None = None,
    linesize: int = 80,
    twidth: int = 12,
    half: bool = True,
    left: int = 0,
) -> list[str]:
    """The lines ``matlist`` displays (trailing blanks removed), the leading blank line
    included.  ``lines`` is ``eq``, ``oneline`` or ``none`` (default: ``eq`` when the
    matrix has equation names, else ``oneline``)."""
    M = np.atleast_2d(np.asarray(M, dtype=float))
    r, c = M.shape
    roweqs = roweqs or ["_"] * r
    coleqs = coleqs or ["_"] * c
    show_roweq = set(roweqs) != {"_"}
    show_coleq = set(coleqs) != {"_"}
    style = lines or ("eq" if show_roweq or show_coleq else "oneline")
    lower = (
        half and r == c and bool(np.allclose(M, M.T, rtol=1e-12, atol=0.0, equal_nan=True))
    )

    wcol0 = twidth
    w = len(fmt(1.0, fmt_spec))
    wcol = [0] + [w] * c
    # separators 0..c+1: spaces before, a vertical line or not, spaces after
    bsep = [left] + [1] * c + [1]
    sep = [0] * (c + 2)
    asep = [0] + [1] * c + [0]
    rsep = [0] * (r + 2)
    if style == "oneline":
        sep[1], rsep[1] = 1, 1
    elif style == "eq":
        sep[1], rsep[1] = 1, 1
        for j in range(2, c + 1):
            if coleqs[j - 1] != coleqs[j - 2]:
                sep[j] = 1
        for i in range(2, r + 1):
            if roweqs[i - 1] != roweqs[i - 2]:
                rsep[i] = 1
    W0 = asep[0] + wcol0 + bsep[1]
    pad = " " * left
    W = [0] + [asep[j] + wcol[j] + bsep[j + 1] for j in range(1, c + 1)]

    def bar(s: int) -> str:
        return "|" if s else ""

    def cross(s: int) -> str:
        return "+" if s else ""

    ops = any(_has_op(n) for n in colnames)
    headers = [_split_col(n, wcol[j + 1], ops) for j, n in enumerate(colnames)]
    kcs = max(len(h) for h in headers) if headers else 1
    cells = [[fmt(x, fmt_spec).strip() for x in row] for row in M]

    out: list[str] = [""]
    if title:
        out += [title, ""]
    j2 = 0
    while j2 < c:
        if j2 > 0:
            out.append("")
        j1 = j2 + 1
        j2 = j1
        width = bsep[0] + sep[0] + W[j1] + sep[c + 1] + asep[c + 1] + W0 + sep[1]
        while j2 < c and width < linesize:
            nxt = width + sep[j2 + 1] + W[j2 + 1]
            if nxt > linesize:
                break
            j2, width = j2 + 1, nxt

        def close(j: int, last: int = j2) -> str:
            return bar(sep[c + 1]) if j == last else bar(sep[j + 1])

        if show_coleq:
            text = " " * W0 + bar(sep[1])
            hold = None
            for j in range(j1, j2 + 1):
                eq = coleqs[j - 1]
                if eq != hold:
                    text += " " * asep[j] + abbrev(eq, wcol[j]).ljust(wcol[j]) + " " * bsep[j + 1]
                    hold = eq
                else:
                    text += " " * W[j]
                text += close(j)
            out.append((pad + text).rstrip())
        for k in range(kcs):
            label = rowtitle[:wcol0] if k == kcs - 1 else ""
            text = label.rjust(wcol0) + " " * bsep[1] + bar(sep[1])
            for j in range(j1, j2 + 1):
                h = headers[j - 1]
                part = h[k - (kcs - len(h))] if k >= kcs - len(h) else ""
                wc, bs = wcol[j], bsep[j + 1]
                if k < kcs - 1 and part.endswith(".") and h[-1]:
                    wc, bs = wc + 1, max(bs - 1, 0)
                text += " " * asep[j] + part.rjust(wc) + " " * bs + close(j)
            out.append((pad + text).rstrip())
        hold_eq = None
        for i in range(j1 if lower else 1, r + 1):
            show = rsep[1] if (lower and i == j1) else rsep[i]
            if show:
                text = "-" * W0 + cross(sep[1])
                for j in range(j1, j2):
                    text += "-" * W[j] + cross(sep[j + 1])
                out.append(pad + text + "-" * W[j2] + cross(sep[c + 1]))
            if show_roweq and roweqs[i - 1] != hold_eq:
                text = abbrev(roweqs[i - 1], W0).ljust(W0) + bar(sep[1])
                for j in range(j1, j2 + 1):
                    text += " " * W[j] + close(j)
                out.append((pad + text).rstrip())
                hold_eq = roweqs[i - 1]
            labels = _split_row(rownames[i - 1], wcol0)
            for extra in labels[:-1]:
                text = extra.rjust(wcol0) + " " * bsep[1] + bar(sep[1])
                for j in range(j1, j2 + 1):
                    text += " " * W[j] + close(j)
                out.append((pad + text).rstrip())
            text = labels[-1].rjust(wcol0) + " " * bsep[1] + bar(sep[1])
            for j in range(j1, j2 + 1):
                cell = "" if (lower and j > i) else cells[i - 1][j - 1]
                text += " " * asep[j] + cell.rjust(wcol[j]) + " " * bsep[j + 1] + close(j)
            out.append((pad + text).rstrip())
    return out
