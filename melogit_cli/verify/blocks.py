"""A log's lines -> its commands and their output blocks.

A command starts at a line ``. text`` (Stata's prompt) and goes on over the ``> `` lines
after it: continuations of ``///`` (which is then dropped) and lines Stata wrapped at the
log's width (joined without a space when the line before filled the width).  Its output
is every line up to the next prompt; ``(output omitted)`` there marks an output the log
leaves out, ``r(#);`` an error.  Lines before the first prompt (the log's header) belong to
no command.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_RC_RE = re.compile(r"^r\((\d+)\);$")
WRAP_WIDTH = 79  # a command line this long (prompt included) was wrapped by Stata


@dataclass
class Block:
    """One command of the log and the lines of its output."""

    line: int  # the line of its prompt
    command: str  # the command as Stata ran it (continuations joined)
    echo: list[tuple[int, str]]  # the prompt and continuation lines as printed
    output: list[tuple[int, str]] = field(default_factory=list)
    omitted: bool = False  # ``(output omitted)``
    rc: int = 0  # the ``r(#);`` its output ends with, if any

    @property
    def last_line(self) -> int:
        return (self.output or self.echo)[-1][0]


def split_blocks(lines: list[tuple[int, str]]) -> list[Block]:
    """The commands of a log, in order."""
    blocks: list[Block] = []
    current: Block | None = None
    continuing = False
    for number, text in lines:
        if text == "." or text.startswith(". "):
            current = Block(number, text[2:], [(number, text)])
            blocks.append(current)
            continuing = True
            continue
        if current is None:
            continue
        if continuing and (text == ">" or text.startswith("> ")):
            current.command = _join(current.command, current.echo[-1][1], text[2:])
            current.echo.append((number, text))
            continue
        continuing = False
        current.output.append((number, text))
        if text.strip() == "(output omitted)":
            current.omitted = True
        m = _RC_RE.match(text.strip())
        if m:
            current.rc = int(m.group(1))
    for block in blocks:
        block.command = block.command.strip()
        while block.output and not block.output[-1][1].strip():
            block.output.pop()
    return blocks


def _join(command: str, previous: str, text: str) -> str:
    """``command`` continued by ``text`` (``previous``: the physical line before)."""
    stripped = command.rstrip()
    if stripped.endswith("///"):
        return stripped[:-3].rstrip() + " " + text.lstrip()
    if len(previous) >= WRAP_WIDTH:  # Stata broke the line where the width ended
        return command + text
    return command + " " + text
