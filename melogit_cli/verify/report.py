"""The verification report: text for the screen, JSON for machines, and a self-contained
HTML page with the published output and ours side by side, differences highlighted."""

from __future__ import annotations

import html
import json

from melogit_cli.verify.compare import Comparison
from melogit_cli.verify.core import CommandReport, Report

_STATUS = {
    "run": "run, output not compared",
    "omitted": "run, output omitted in the log",
    "skipped": "skipped",
    "failed": "FAILED",
}


def _pct(x: float) -> str:
    return f"{x * 100:g}%"


def _short(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _rel(c: Comparison) -> str:
    r = c.relative
    return "" if r is None else f"{r:.2e}"


def summary_line(report: Report) -> str:
    """``34 numbers compared in 1 command: 34 matched, 0 differ; 0 commands skipped``."""
    compared = [c for c in report.commands if c.status == "compared"]
    skipped = [c for c in report.commands if c.status == "skipped"]
    plural = "s" if len(compared) != 1 else ""
    line = (
        f"{report.compared} numbers compared in {len(compared)} command{plural}: "
        f"{report.compared - report.differing} matched, {report.differing} differ; "
        f"{len(skipped)} command{'s' if len(skipped) != 1 else ''} skipped"
    )
    if report.failed:
        line += f"; {len(report.failed)} failed"
    return line


def text_report(report: Report) -> str:
    """The report for the screen."""
    kind = "SMCL log" if report.smcl else "log"
    out = [f"Verifying {report.path} ({kind}, {len(report.commands)} commands)"]
    if report.tolerance:
        given = ", ".join(f"{k} {_pct(v)}" for k, v in report.tolerance.items())
        out.append(f"Tolerance: {given} (and the numbers computed from them)")
    out.append("")
    for note in report.notes:
        out.append(f"note: {note}")
    if report.notes:
        out.append("")
    for item in report.commands:
        status = _STATUS.get(item.status, "")
        if item.status == "compared":
            n = len(item.comparisons)
            status = f"{n} compared, {n - len(item.differences)} matched"
            if item.differences:
                status += f", {len(item.differences)} differ"
        out.append(f"line {item.line:>4}  {_short(item.command):<60}  {status}")
        if item.note:
            out.append(f"           {item.note}")
        for c in item.differences:
            ours = c.ours if c.ours is not None else "(not in our output)"
            rel = f"  relative {_rel(c)}" if c.relative is not None else ""
            out.append(
                f"           line {c.line}: {c.label}: published {c.published}, ours {ours}{rel}"
            )
    out.append("")
    for warning in report.warnings:
        out.append(f"warning: {warning}")
    out.append(summary_line(report))
    out.append("verified: every number compared matches" if report.ok else "NOT verified")
    return "\n".join(out) + "\n"


def _comparison_json(c: Comparison) -> dict:
    return {
        "line": c.line,
        "label": c.label,
        "kind": c.kind,
        "published": c.published,
        "ours": c.ours,
        "our_line": c.our_line,
        "relative_difference": c.relative,
        "allowed_difference": c.allowed,
        "match": c.ok,
    }


def json_report(report: Report) -> str:
    """The report as JSON: per command its numbers compared, matched and differing."""
    commands = []
    for item in report.commands:
        commands.append(
            {
                "line": item.line,
                "command": item.command,
                "status": item.status,
                "note": item.note,
                "compared": len(item.comparisons),
                "matched": len(item.comparisons) - len(item.differences),
                "differences": [_comparison_json(c) for c in item.differences],
                "numbers": [_comparison_json(c) for c in item.comparisons],
            }
        )
    data = {
        "log": report.path,
        "smcl": report.smcl,
        "tolerance": report.tolerance,
        "iterations": report.iterations,
        "ok": report.ok,
        "summary": {
            "compared": report.compared,
            "matched": report.compared - report.differing,
            "differ": report.differing,
            "commands": len(report.commands),
            "skipped": [c.line for c in report.commands if c.status == "skipped"],
            "failed": [c.line for c in report.failed],
            "text": summary_line(report),
        },
        "commands": commands,
        "notes": report.notes,
        "warnings": report.warnings,
    }
    return json.dumps(data, indent=1) + "\n"


_CSS = """
body { font-family: sans-serif; margin: 1.5em; }
pre { font-family: monospace; font-size: 12px; margin: 0; white-space: pre; }
table.side { border-collapse: collapse; margin-bottom: 2em; }
table.side td { vertical-align: top; padding: 0.3em 1em; border: 1px solid #ccc; }
table.side th { text-align: left; padding: 0.3em 1em; background: #eee; }
.diff { background: #ffb3b3; color: #900; font-weight: bold; }
.match { background: #e3f6e3; }
.summary.ok { color: #060; } .summary.bad { color: #900; }
.status { color: #555; font-size: 90%; }
"""


def _marked(lines: list[tuple[int, str]], marks: dict[int, list[tuple[int, int, str, str]]]) -> str:
    """The lines as HTML, each (start, end, class, title) span of a line wrapped."""
    out = []
    for number, text in lines:
        pieces, pos = [], 0
        for start, end, cls, title in sorted(marks.get(number, [])):
            if start < pos:
                continue
            pieces.append(html.escape(text[pos:start]))
            pieces.append(
                f'<span class="{cls}" title="{html.escape(title, quote=True)}">'
                f"{html.escape(text[start:end])}</span>"
            )
            pos = end
        pieces.append(html.escape(text[pos:]))
        out.append("".join(pieces))
    return "\n".join(out)


def _section(item: CommandReport) -> str:
    published: dict[int, list[tuple[int, int, str, str]]] = {}
    ours: dict[int, list[tuple[int, int, str, str]]] = {}
    for c in item.comparisons:
        cls = "match" if c.ok else "diff"
        other = c.ours if c.ours is not None else "not in our output"
        published.setdefault(c.line, []).append((*c.span, cls, f"{c.label}: ours {other}"))
        if c.our_line is not None:
            ours.setdefault(c.our_line, []).append(
                (*c.our_span, cls, f"{c.label}: published {c.published}")
            )
    status = _STATUS.get(item.status, f"{len(item.comparisons)} compared, "
                         f"{len(item.differences)} differ")  # fmt: skip
    note = f" ({html.escape(item.note)})" if item.note else ""
    left = _marked(item.published, published)
    right = _marked(list(enumerate(item.ours, 1)), ours)
    return (
        f'<h2 id="line{item.line}">line {item.line}: <code>. {html.escape(item.command)}'
        f"</code></h2>\n"
        f'<p class="status">{html.escape(status)}{note}</p>\n'
        '<table class="side"><tr><th>published</th><th>ours</th></tr>\n'
        f"<tr><td><pre>{left}</pre></td><td><pre>{right}</pre></td></tr></table>\n"
    )


def html_report(report: Report) -> str:
    """A self-contained page: per command the published output and ours side by side,
    every compared number marked (class ``match`` or ``diff``; its title names the other)."""
    ok = "ok" if report.ok else "bad"
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in [*report.notes, *report.warnings])
    sections = "".join(_section(item) for item in report.commands)
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">\n'
        f"<title>melogit verify {html.escape(report.path)}</title>\n"
        f"<style>{_CSS}</style></head><body>\n"
        f"<h1>melogit verify {html.escape(report.path)}</h1>\n"
        f'<p class="summary {ok}">{html.escape(summary_line(report))}</p>\n'
        + (f"<ul>{notes}</ul>\n" if notes else "")
        + sections
        + "</body></html>\n"
    )
