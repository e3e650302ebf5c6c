"""A VARLIST token of ``grammar/melogit.lark`` split into the tokens of the grammar's
rule ``term`` and grouped as that rule groups them.

The grammar lexes a whole varlist as one token (feeding the LALR parser 5,000 names
one by one costs about 15 us each); the token's terminal is the rules ``term``,
``fvunit`` and ``varspec`` written as one pattern, so a token that matched is a valid
varlist.  Its pieces are lexed here with the grammar's own terminals (:data:`TERMINALS`: the
caller passes their regular expressions as Lark compiles them), in the order the
grammar's lexer tries them.  Anything unexpected raises :class:`VarlistSplitError`, and the
caller parses the text token by token instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

TERMINALS = ("FVOP", "VARPAT", "INTERACT")
"""The terminals of the token-by-token grammar a varlist is split with; the functions below
take their regular expressions as a tuple in this order."""


class VarlistSplitError(ValueError):
    """The text does not split the way the token-by-token grammar would read it."""


@dataclass
class UnitText:
    """``ops`` then one variable spec, or a parenthesised group of them; a spec is
    ``[name]`` or ``[first, last]`` for a range ``first-last``."""

    ops: list[str]
    specs: list[list[str]]
    grouped: bool


@dataclass
class TermText:
    """``u1 # u2 ## u3``: units and the separators between them."""

    units: list[UnitText]
    seps: list[str]


@cache
def _pieces(terminals: tuple[str, ...]) -> re.Pattern[str]:
    fvop, varpat, interact = terminals
    return re.compile(
        rf"(?P<FVOP>{fvop})|(?P<VARPAT>{varpat})|(?P<INTERACT>{interact})"
        r"|(?P<LPAR>\()|(?P<RPAR>\))|(?P<MINUS>-)|\s+"
    )


@cache
def _operator_ahead(terminals: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile(r"\s*(?:" + terminals[0] + ")")


def check_end(text: str, end: int, terminals: tuple[str, ...]) -> None:
    """Raise :class:`VarlistSplitError` when a VARLIST token ending at ``end`` of ``text`` stops
    before an operator: token by token, the lexer takes ``if.`` there for the operator
    of a unit that fails to follow, where the token's end lets it start an ``if``."""
    if _operator_ahead(terminals).match(text, end):
        raise VarlistSplitError(text)


def _lex(text: str, terminals: tuple[str, ...]) -> list[tuple[str, str, int, int]]:
    pieces = _pieces(terminals)
    out: list[tuple[str, str, int, int]] = []
    pos = 0
    for m in pieces.finditer(text):
        if m.start() != pos:
            raise VarlistSplitError(text)
        pos = m.end()
        if m.lastgroup is not None:
            out.append((m.lastgroup, m.group(), m.start(), pos))
    if pos != len(text):
        raise VarlistSplitError(text)
    return out


def split_varlist(text: str, terminals: tuple[str, ...]) -> list[TermText]:
    """The terms of a VARLIST token lexed with ``terminals`` (:data:`TERMINALS`).  Terms
    of the same text are one object, so that the caller can work on each text once."""
    return _split(text, terminals)[0]


def inner_terms(text: str, terminals: tuple[str, ...]) -> tuple[int, int]:
    """Where the terms between the first and the last term of a VARLIST token lie (an
    empty span when there are fewer than three)."""
    spans = _split(text, terminals)[1]
    if len(spans) < 3:
        return spans[0][1], spans[0][1]
    return spans[0][1], spans[-1][0]


def _split(
    text: str, terminals: tuple[str, ...]
) -> tuple[list[TermText], list[tuple[int, int]]]:
    toks = _lex(text, terminals)
    end = len(text)
    toks.append(("END", "", end, end))
    terms: list[TermText] = []
    spans: list[tuple[int, int]] = []
    seen: dict[str, TermText] = {}
    i = 0

    def spec(i: int) -> tuple[list[str], int]:
        kind, value = toks[i][:2]
        if kind != "VARPAT":
            raise VarlistSplitError(text)
        if toks[i + 1][0] != "MINUS":
            return [value], i + 1
        if toks[i + 2][0] != "VARPAT":
            raise VarlistSplitError(text)
        return [value, toks[i + 2][1]], i + 3

    def unit(i: int) -> tuple[UnitText, int]:
        ops = []
        while toks[i][0] == "FVOP":
            ops.append(toks[i][1])
            i += 1
        if toks[i][0] != "LPAR":
            one, i = spec(i)
            return UnitText(ops, [one], False), i
        specs = []
        i += 1
        while toks[i][0] != "RPAR":
            one, i = spec(i)
            specs.append(one)
        if not specs:
            raise VarlistSplitError(text)
        return UnitText(ops, specs, True), i + 1

    while toks[i][0] != "END":
        start = i
        first, i = unit(i)
        term = TermText([first], [])
        while toks[i][0] == "INTERACT":
            term.seps.append(toks[i][1])
            nxt, i = unit(i + 1)
            term.units.append(nxt)
        span = toks[start][2], toks[i - 1][3]
        spans.append(span)
        terms.append(seen.setdefault(text[span[0] : span[1]], term))
    if not terms:
        raise VarlistSplitError(text)
    return terms, spans
