"""The text of ``margins`` results, laid out as Stata prints them."""

from __future__ import annotations

import numpy as np

from melogit_cli.postest.margins import FACTOR_NOTE, MarginRow, MarginsResult
from melogit_cli.render.formats import fmt

MAX_LABEL = 32
STAT_NAMES = {"": "Margin", "dydx": "dy/dx", "eyex": "ey/ex", "dyex": "dy/ex", "eydx": "ey/dx"}


def _header(res: MarginsResult) -> list[str]:
    n = f"Number of obs = {fmt(res.N, '%12.0fc').strip()}"
    lines = ["", res.title + n.rjust(max(78 - len(res.title), len(n) + 1)),
             f"Model VCE: {res.vcetype}", "", f"Expression: {res.expression}"]
    if res.effect:
        lines.append(f"{STAT_NAMES[res.effect]} wrt:  {res.wrt_text}")
    for prefix, entries in res.at_legend:
        width = max(len(name) for name, _, _ in entries)
        for i, (name, value, note) in enumerate(entries):
            head = prefix if i == 0 else " " * len(prefix)
            lines.append(f"{head}{name.ljust(width)} = {value}" + (f" {note}" if note else ""))
    lines.append("")
    return lines


def _key(row: MarginRow) -> tuple[str, str, bool, str]:
    """(left header, right header, headed, row label) of one margin."""
    if row.term:
        return row.wrt, "#".join(row.term), True, "#".join(row.labels)
    if "." in row.wrt:
        return "", row.wrt.split(".", 1)[1], True, row.wrt_label
    return "", "", False, row.wrt or "_cons"


def _blocks(res: MarginsResult) -> list[tuple[str, str, bool, list[tuple[str, int]]]]:
    blocks: list[tuple[str, str, bool, list[tuple[str, int]]]] = []
    for i, row in enumerate(res.rows):
        left, right, headed, label = _key(row)
        if headed and blocks and blocks[-1][:3] == (left, right, headed):
            blocks[-1][3].append((label, i))
        else:
            blocks.append((left, right, headed, [(label, i)]))
    return blocks


def margins_lines(res: MarginsResult) -> list[str]:
    """The full output of one ``margins`` command."""
    blocks = _blocks(res)
    width = 12
    for left, right, headed, rows in blocks:
        width = max(width, len(left), len(right),
                    *(len(lab) + (1 if headed else 0) for lab, _ in rows))
    width = min(width, MAX_LABEL)
    table = res.table()
    level = fmt(res.level, "%9.0g").strip()
    ci = f"[{level}% conf. interval]".rjust(25)
    pad = " " * (width + 1)
    out = _header(res)
    out.append("-" * (width + 66))
    out.append(pad + "|            Delta-method")
    out.append(pad + f"|{STAT_NAMES[res.effect]:>11}   std. err.      z    P>|z|{ci}")
    out.append("-" * (width + 1) + "+" + "-" * 64)
    previous = 0
    for k, (left, right, headed, rows) in enumerate(blocks):
        if k and (headed or previous > 1):
            out.append(pad + "|")
        if left:
            out.append(f"{left[:width].ljust(width)} |")
        if headed:
            out.append(f"{right[-width:]:>{width}} |")
        for lab, i in rows:
            if headed:
                text = f"{lab[: width - 1]:>{width - 1}}  |"
            else:
                text = f"{lab[:width]:>{width}} |"
            out.append(text + ("  (not estimable)" if i in res.not_estimable
                               else cells(table[:, i])))
        previous = len(rows) + (1 if headed else 0)
    out.append("-" * (width + 66))
    if res.factor_note:
        out.append(FACTOR_NOTE)
    return out


def cells(t: np.ndarray) -> str:
    """Margin, std. err., z, P>|z| and the interval, in Stata's columns."""
    b, se, z, p, ll, ul = (float(x) for x in t[:6])
    return (
        "  " + fmt(b, "%9.0g").rjust(9) + "  " + fmt(se, "%9.0g").rjust(9)
        + " " + fmt(z, "%8.2f").rjust(8) + "   " + fmt(p, "%5.3f").rjust(5)
        + "    " + fmt(ll, "%9.0g").rjust(9) + "   " + fmt(ul, "%9.0g").rjust(9)
    ).rstrip()
