"""Reading a Stata log: plain text (``.log``) as it is, SMCL (``.smcl``) translated to the
text Stata's ``translate`` would give, line for line, with a note for each tag it does
not know (the tag is dropped; the text of ``{tag:text}`` is kept)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from melogit_cli.errors import StataError
from melogit_cli.files import read_text

LINESIZE = 79  # the width {hline}, {.-} and {right:} fill in a log

_TAG_RE = re.compile(r"\{([^{}]*)\}")
# tags that only change the style of what follows
_STYLES = {
    "smcl", "com", "res", "txt", "text", "result", "err", "error", "inp", "input", "sf", "bf",
    "it", "hi", "ul on", "ul off", "reset", "p_end", "pstd", "phang", "pmore", "psee", "pin",
    "break", "bind", "tab", "s6hlp", "hline off",
}  # fmt: skip
_STYLE_PREFIXES = ("p ", "p2colset", "p2colreset", "synoptset", "marker ", "title")
_TEXT_TAGS = {
    "com", "res", "txt", "text", "result", "err", "error", "inp", "input", "sf", "bf", "it",
    "hi", "ul", "bind", "help", "helpb", "stata", "browse", "view", "manlink", "mansection",
    "search", "net", "ado", "update", "dialog", "matacmd", "cmd", "opt", "var", "hilite",
}  # fmt: skip
# {c X}: the characters of Stata's line drawing as its text translation prints them
_CHARS = {
    "|": "|", "+": "+", "-": "-", "TT": "-", "BT": "-", "TLC": "-", "TRC": "-", "BLC": "-",
    "BRC": "-", "LT": "|", "RT": "|", "-(": "{", ")-": "}", "S|": "$", "'g": "`",
}  # fmt: skip


@dataclass
class LogText:
    """The log's lines as text (1-based line numbers of the file) and notes on reading it."""

    path: str
    lines: list[tuple[int, str]]
    smcl: bool = False
    notes: list[str] = field(default_factory=list)


def read_log(path: str | Path) -> LogText:
    """The lines of the log at ``path``; r(601) when it does not exist, r(610) when it is not
    text."""
    p = Path(path)
    if not p.exists():
        raise StataError(f"file {path} not found", 601)
    if p.is_dir():
        raise StataError(f"file {path} could not be opened", 603)
    text = read_text(p)
    if "\x00" in text:
        raise StataError(f"file {path} not a Stata log (it is not text)", 610)
    raw = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if raw and raw[-1] == "":
        raw.pop()
    smcl = p.suffix.lower() == ".smcl" or bool(raw and raw[0].strip().startswith("{smcl}"))
    if not smcl:
        return LogText(str(path), [(i, line.rstrip()) for i, line in enumerate(raw, 1)])
    log = LogText(str(path), [], smcl=True)
    pending, start = "", 0
    for number, line in enumerate(raw, 1):
        if not pending:
            start = number
        if line.endswith("{...}"):  # SMCL joins the next line to this one
            pending += line[:-5]
            continue
        log.lines.append((start, smcl_to_text(pending + line, start, log.notes).rstrip()))
        pending = ""
    if pending:
        log.lines.append((start, smcl_to_text(pending, start, log.notes).rstrip()))
    if log.lines and not log.lines[0][1].strip():
        log.lines.pop(0)  # what {smcl} left
    return log


def smcl_to_text(line: str, number: int, notes: list[str]) -> str:
    """One line of SMCL as text; unknown tags are noted in ``notes`` and dropped."""
    out = ""
    pos = 0
    for m in _TAG_RE.finditer(line):
        out += line[pos : m.start()]
        pos = m.end()
        out = _apply(m.group(1), out, number, notes)
    return out + line[pos:]


def _apply(tag: str, out: str, number: int, notes: list[str]) -> str:
    """``out`` with the effect of ``{tag}`` added."""
    body = tag.strip()
    name, _, arg = body.partition(" ")
    head, colon, text = body.partition(":")
    if body in _STYLES or body.startswith(_STYLE_PREFIXES):
        return out
    if body == ".-":
        return out + "-" * (LINESIZE - len(out))
    if name in ("hline", "dup") and not colon:
        width = _int(arg) if arg else LINESIZE - len(out)
        if width is not None:
            return out + "-" * max(width, 0)
    if name in ("c", "char") and arg:
        if arg in _CHARS:
            return out + _CHARS[arg]
        code = _int(arg, base=16 if arg.lower().startswith("0x") else 10)
        if code is not None and 0 < code < 0x110000:
            return out + chr(code)
    if name == "space" and _int(arg) is not None:
        return out + " " * _int(arg)
    if name == "col" and _int(arg) is not None:
        return out + " " * max(_int(arg) - 1 - len(out), 0)
    if colon:
        kind, _, width_text = head.partition(" ")
        width = _int(width_text) if width_text else None
        if kind == "right":
            return out + text.rjust(LINESIZE - len(out))
        if kind == "center":
            return out + text.center(width or LINESIZE - len(out))
        if kind in ("ralign", "lalign") and width is not None:
            return out + (text.rjust(width) if kind == "ralign" else text.ljust(width))
        if kind == "dup" and width is not None:
            return out + text * width
        if kind in _TEXT_TAGS or kind.startswith(("help", "stata", "browse")):
            return out + text
        notes.append(f"line {number}: unknown SMCL tag {{{tag}}}: its text is kept")
        return out + text
    notes.append(f"line {number}: unknown SMCL tag {{{tag}}} ignored")
    return out


def _int(text: str, base: int = 10) -> int | None:
    try:
        return int(text.strip(), base)
    except ValueError:
        return None
