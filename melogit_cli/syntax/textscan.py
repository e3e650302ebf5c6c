"""Small text scans shared by the command and expression parsers."""

from __future__ import annotations

import re

from melogit_cli.errors import StataError

_CLOSERS = {")": "(", "]": "["}


def check_balance(text: str) -> int:
    """Raise Stata's r(132) errors for unbalanced quotes, parentheses or brackets;
    return the deepest nesting of parentheses.

    Quoted text (``"..."`` and compound ```"..."'``) is skipped.
    """
    stack: list[str] = []
    depth = opened = 0  # deepest and current nesting of "("
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "`" and text.startswith('`"', i):
            end = text.find("\"'", i + 2)
            if end < 0:
                raise StataError("unmatched quote", 132)
            i = end + 2
            continue
        if ch == '"':
            end = text.find('"', i + 1)
            if end < 0:
                raise StataError("unmatched quote", 132)
            i = end + 1
            continue
        if ch in "([":
            stack.append(ch)
            if ch == "(":
                opened += 1
                depth = max(depth, opened)
        elif ch in ")]":
            if not stack or stack[-1] != _CLOSERS[ch]:
                raise StataError("too many ')' or ']'", 132)
            if stack.pop() == "(":
                opened -= 1
        i += 1
    if stack:
        raise StataError("too few ')' or ']'", 132)
    return depth


def paren_depth(text: str) -> int:
    """The deepest nesting of parentheses outside quotes; for unbalanced text, the
    number of ``(`` (a bound the parser can work with before it reports the error)."""
    try:
        return check_balance(text)
    except StataError:
        return text.count("(")


MASK = "\x00"


def mask_deep(text: str, keep: int) -> str:
    """``text`` (balanced) with everything nested deeper than ``keep`` levels of
    parentheses, those parentheses and quoted text included, replaced by ``MASK``.

    The result has the same length, so positions found in it hold in ``text``: the
    command grammars then need balanced-text terminals only ``keep`` levels deep, and
    what they lex is read back from ``text``.
    """
    out: list[str] = []
    opened = 0
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        end = i + 1
        if ch == "`" and text.startswith('`"', i):
            end = text.find("\"'", i + 2) + 2
        elif ch == '"':
            end = text.find('"', i + 1) + 1
        elif ch == "(":
            opened += 1
        hidden = opened > keep
        if ch == ")":
            opened -= 1
        out.append(MASK * (end - i) if hidden else text[i:end])
        i = end
    return "".join(out)


_WORD_RE = re.compile(r"[^\s,|:\[\]]+")


def word_at(text: str, pos: int) -> str:
    """The blank-delimited word of ``text`` that starts at (or contains) ``pos``."""
    pos = max(0, min(pos, len(text)))
    start = pos
    while start > 0 and not text[start - 1].isspace() and text[start - 1] not in ",|:[]":
        start -= 1
    m = _WORD_RE.match(text, start)
    if m:
        return m.group(0)
    return text[pos : pos + 1]


def top_level_words(text: str, opening: str = "([", closing: str = ")]") -> list[str]:
    """Blank-separated words of ``text``; blanks inside parentheses or brackets do not
    separate (``keep(a b) se`` -> ``["keep(a b)", "se"]``)."""
    out: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in text:
        depth += ch in opening
        depth -= ch in closing
        if ch.isspace() and depth == 0:
            if cur:
                out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if cur:
        out.append("".join(cur))
    return out


def paren_groups(text: str) -> list[str] | None:
    """``(a) (b=c)`` -> ``["a", "b=c"]``; None unless the text is only parenthesized
    groups.  An unclosed group is ``unmatched parentheses`` r(132)."""
    from melogit_cli.errors import StataError

    out: list[str] = []
    i = 0
    text = text.strip()
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        if text[i] != "(":
            return None
        depth = 0
        for j in range(i, len(text)):
            depth += text[j] == "("
            depth -= text[j] == ")"
            if depth == 0:
                break
        else:
            raise StataError("unmatched parentheses", 132)
        out.append(text[i + 1 : j])
        i = j + 1
    return out or None

