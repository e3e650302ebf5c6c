"""Text of ``test``, ``testparm``, ``lincom`` and ``nlcom``, laid out as Stata prints them
(``test.ado``'s chi2 lines and mtest table; ``estimates display``'s coefficient table)."""

from __future__ import annotations

from melogit_cli.postest.combinations import Lincom, Nlcom
from melogit_cli.postest.wald import WaldResult
from melogit_cli.render.coeftable import PADS, TableStyle, column_header
from melogit_cli.render.formats import fmt
from melogit_cli.render.terms import abbrev

_TITLES = {"or": "Odds ratio", "eform": "exp(b)"}


def constraint_block(result: WaldResult) -> list[str]:
    """A blank line, then `` ( 1)  [c_use]1.urban = 0`` for each constraint."""
    return ["", *result.constraint_lines()]


def test_lines(result: WaldResult) -> list[str]:
    """The whole display of ``test``: constraints, dropped notes, then chi2 and p (or the
    ``mtest`` table)."""
    lines = constraint_block(result)
    lines += [f"       Constraint {k} dropped" for k in result.dropped]
    lines.append("")
    if result.mtest is None:
        lines.append(f"           chi2({fmt(result.df, '%3.0f')}) ={fmt(result.chi2, '%8.2f')}")
        lines.append(f"         Prob > chi2 =  {fmt(result.p, '%8.4f')}")
        return lines
    p_col = 3 if result.mtest.shape[1] == 4 else 2
    lines += ["-------+-------------------------------",
              "       |        chi2     df       p",
              "-------+-------------------------------"]
    for i, row in enumerate(result.mtest, start=1):
        lines.append(_mtest_row(f"  ({i})", row[0], row[1], row[p_col]) + " #")
    lines.append("-------+-------------------------------")
    lines.append(_mtest_row("  all", result.chi2, result.df, result.p))
    lines.append("-------+-------------------------------")
    method = result.mtmethod
    txt = "unadjusted" if method == "noadjust" else method[:1].upper() + method[1:] + "-adjusted"
    lines.append(f"# {txt} p-values".rjust(39))
    return lines


def _mtest_row(label: str, chi2: float, df: float, p: float) -> str:
    """Columns as test.ado places them: chi2 at 12, df at 22, p at 33."""
    return (label.ljust(7) + "|" + "   " + fmt(chi2, "%9.2f") + " " + fmt(df, "%6.0f")
            + " " * 5 + fmt(p, "%6.4f"))


def _cells(row: list[float], style: TableStyle) -> str:
    keys = ["b", "se", "z", "p", "ll", "ul"]
    out = ""
    for key, value in zip(keys, row, strict=True):
        spec = style.formats["s" if key == "z" else "p" if key == "p" else "c"]
        base = {"z": 8, "p": 5}.get(key, 9)
        out += " " * PADS[key] + fmt(value, spec).rjust(base)
    return out.rstrip()


def combination_table(
    depvar: str, rows: list[tuple[str, list[float]]], level: float, eform: str = ""
) -> list[str]:
    """The coefficient table of ``lincom``/``nlcom``: one row per combination."""
    style = TableStyle(level=level, eform=eform == "or")
    width = 13
    header = column_header(style)
    if eform == "eform":
        header = " " + _TITLES["eform"].rjust(10) + " " + header[12:]
    w = len("-" * 64)
    lines = ["-" * (width + 1 + w),
             abbrev(depvar, width - 1).rjust(width - 1) + " |" + header,
             "-" * width + "+" + "-" * w]
    for label, values in rows:
        lines.append(abbrev(label, 12).rjust(width - 1) + " |" + _cells(values, style))
    lines.append("-" * (width + 1 + w))
    return lines


def lincom_lines(result: Lincom, depvar: str) -> list[str]:
    """``lincom``: the constraint, a blank line, the table."""
    return ["", result.constraint_line, "",
            *combination_table(depvar, [("(1)", result.row())], result.level, result.eform)]


def nlcom_header(result: Nlcom) -> list[str]:
    """`` _nl_1:  exp(_b[1.urban])`` for each expression, after a blank line."""
    return ["", *(f"{abbrev(n, 12):>12}:  {x}" for n, x in
                  zip(result.names, result.expressions, strict=True))]


def nlcom_table(result: Nlcom, depvar: str) -> list[str]:
    rows = [(n, list(map(float, r))) for n, r in zip(result.names, result.table(), strict=True)]
    return ["", *combination_table(depvar, rows, result.level)]

