"""Do-file text -> statements: comments removed, continuations joined, delimiters applied.

Stata's rules: ``/* ... */`` may appear anywhere (and span lines); ``//`` at the start of a
line or after a blank starts a comment running to the end of the line; ``///`` there joins
the next line; a command whose first character is ``*`` is a comment; ``#delimit ;`` makes
``;`` end commands (lines then join freely) until ``#delimit cr``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_DELIMIT_RE = re.compile(r"^\s*#d(?:e(?:l(?:i(?:m(?:it?)?)?)?)?)?(?:\s+(\S*))?\s*$")


@dataclass
class Statement:
    """One logical command and the physical lines it came from (for the echo)."""

    line: int  # 1-based number of its first line
    text: str  # the command with comments removed and continuations joined
    raw: list[str] = field(default_factory=list)
    kind: str = "command"  # command, comment, blank, delimit


def _strip_comments(line: str, in_block: bool) -> tuple[str, bool, bool]:
    """Remove ``/* */`` and ``//`` comments from one line.

    Returns the text, whether a ``/*`` comment is still open, and whether the line ends in
    a ``///`` continuation.
    """
    out: list[str] = []
    i, n = 0, len(line)
    in_str = False
    while i < n:
        if in_block:
            end = line.find("*/", i)
            if end < 0:
                return "".join(out), True, False
            i = end + 2
            in_block = False
            out.append(" ")
            continue
        ch = line[i]
        if ch == '"':
            in_str = not in_str
            out.append(ch)
            i += 1
            continue
        if not in_str and line.startswith("/*", i):
            in_block = True
            i += 2
            continue
        if not in_str and line.startswith("//", i) and (i == 0 or line[i - 1] in " \t"):
            return "".join(out), False, line.startswith("///", i)
        out.append(ch)
        i += 1
    return "".join(out), in_block, False


def split_statements(text: str) -> list[Statement]:
    """The statements of a do-file, in order."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    out: list[Statement] = []
    semicolon = False
    in_block = False
    pending: Statement | None = None  # a command being continued
    buffer = ""  # ; mode: text of the command being collected
    buffer_raw: list[str] = []
    buffer_line = 0
    for number, line in enumerate(lines, start=1):
        m = _DELIMIT_RE.match(line) if not in_block and pending is None else None
        if m and not buffer.strip():
            arg = (m.group(1) or "").lower()
            if arg in (";", "cr"):
                semicolon = arg == ";"
                out.append(Statement(number, line.strip(), [line], "delimit"))
                buffer, buffer_raw = "", []
                continue
        text_part, in_block, cont = _strip_comments(line, in_block)
        if semicolon:
            if not buffer.strip():
                buffer_line = number
                buffer_raw = []
            buffer_raw.append(line)
            buffer += text_part + " "
            while ";" in _outside_strings(buffer):
                cut = _semicolon_at(buffer)
                stmt = buffer[:cut].strip()
                buffer = buffer[cut + 1 :]
                out.append(_classify(Statement(buffer_line, " ".join(stmt.split()), buffer_raw)))
                buffer_raw = []
                buffer_line = number
            continue
        if pending is None:
            pending = Statement(number, "", [])
        pending.raw.append(line)
        pending.text += text_part
        if cont or in_block:
            pending.text += " "
            continue
        out.append(_classify(pending))
        pending = None
    if pending is not None:
        out.append(_classify(pending))
    if semicolon and buffer.strip():
        out.append(_classify(Statement(buffer_line, " ".join(buffer.split()), buffer_raw)))
    return out


def _outside_strings(text: str) -> str:
    """``text`` with the insides of double-quoted strings blanked."""
    return re.sub(r'"[^"]*"', lambda m: " " * len(m.group(0)), text)


def _semicolon_at(text: str) -> int:
    return _outside_strings(text).index(";")


def _classify(stmt: Statement) -> Statement:
    body = stmt.text.strip()
    stmt.text = body
    if not body:
        stmt.kind = "blank" if not any(r.strip() for r in stmt.raw) else "comment"
    elif body.startswith("*"):
        stmt.kind = "comment"
    return stmt
