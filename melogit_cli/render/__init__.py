"""Text rendering of ``melogit`` results and iteration logs, laid out as Stata prints them.

Everything is drawn from an :class:`~melogit_cli.results.eresults.EResults` alone, as
Stata's replay draws from ``e()``.  Output is plain text; the caller decides how to show it.
"""

from __future__ import annotations

from melogit_cli.render.coeftable import TableStyle, constraint_lines, table_lines
from melogit_cli.render.footer import (
    convergence_lines,
    eform_notes,
    lr_test_lines,
)
from melogit_cli.render.formats import FormatSpec, fmt, parse_format, validate_display_format
from melogit_cli.render.header import header_lines
from melogit_cli.render.iterlog import IterationLog
from melogit_cli.results.eresults import EResults
from melogit_cli.syntax.spec import Options

__all__ = [
    "FormatSpec",
    "IterationLog",
    "TableStyle",
    "fmt",
    "parse_format",
    "render_results",
    "result_lines",
    "table_style",
]


def table_style(opts: Options, linesize: int = 80) -> TableStyle:
    """The table-shaping part of ``opts`` (display formats checked as Stata checks them)."""
    for name, value, width in (
        ("cformat", opts.cformat, 9),
        ("pformat", opts.pformat, 5),
        ("sformat", opts.sformat, 8),
    ):
        if value:
            validate_display_format(value, name, width)
    return TableStyle(
        level=opts.level,
        eform=opts.or_,
        cformat=opts.cformat,
        pformat=opts.pformat,
        sformat=opts.sformat,
        noci=opts.noci,
        nopvalues=opts.nopvalues,
        coeflegend=opts.coeflegend,
        vsquish=opts.vsquish,
        baselevels=opts.baselevels,
        allbaselevels=opts.allbaselevels,
        noomitted=opts.noomitted,
        noemptycells=opts.noemptycells,
        nofvlabel=opts.nofvlabel,
        nolstretch=opts.nolstretch,
        fvwrap=opts.fvwrap,
        fvwrapon=opts.fvwrapon,
        linesize=linesize,
    )


def _cluster_line(e: EResults, width: int) -> list[str]:
    n = e.scalars.get("N_clust")
    var = e.macros.get("clustvar") or (e.macros.get("ivars", "").split() or [""])[0]
    if e.macros.get("vce") not in ("robust", "cluster") or n is None or not var:
        return []
    text = f"(Std. err. adjusted for {fmt(n, '%12.0fc').strip()} clusters in {var})"
    return [text.rjust(width)]


def result_lines(e: EResults, opts: Options, linesize: int = 80) -> list[str]:
    """Header, constraints, coefficient table, notes, LR test and warnings, as lines."""
    style = table_style(opts, linesize)
    if e.scalars.get("estimates", 1) == 0:
        style.coeflegend = True  # noestimate: Stata shows the legend of the start values
    lines: list[str] = []
    if not opts.noheader:
        lines += header_lines(e, nogroup=opts.nogroup)
    if not opts.notable:
        table = table_lines(e, style)
        if not opts.nocnsreport:
            lines += constraint_lines(e)
        lines += _cluster_line(e, len(table[0]))
        lines += table
        if style.eform and not style.coeflegend:
            lines += eform_notes(e, linesize)
    lines += lr_test_lines(e, linesize)
    if not opts.notable:
        lines += convergence_lines(e)
    return lines


def render_results(e: EResults, opts: Options, linesize: int = 80) -> str:
    """The results display of ``melogit`` (or its replay) as one string ending in a newline."""
    return "\n".join(result_lines(e, opts, linesize)) + "\n"
