"""Load the Lark grammars shipped as package data, and build cached parsers.

Installed, the ``*.lark`` files live in the package ``melogit_cli.grammar``; in a
source checkout they sit in ``grammar/`` next to the package directory.
"""

from __future__ import annotations

import importlib.resources
from functools import cache
from pathlib import Path

from lark import Lark

_REPO_GRAMMAR_DIR = Path(__file__).resolve().parents[2] / "grammar"


@cache
def grammar_text(name: str) -> str:
    """The text of ``grammar/<name>`` (e.g. ``"expr.lark"``)."""
    try:
        resource = importlib.resources.files("melogit_cli.grammar").joinpath(name)
        if resource.is_file():
            return resource.read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError):
        pass
    path = _REPO_GRAMMAR_DIR / name
    if not path.is_file():
        raise FileNotFoundError(f"grammar file {name} not found (looked in {_REPO_GRAMMAR_DIR})")
    return path.read_text(encoding="utf-8")


def balanced_terminals(depth: int) -> str:
    """Lark definitions of ``PAREN``: parenthesised text (with quoted strings) nested up
    to ``depth`` levels.  A regular expression cannot match any depth, and the deeper
    the pattern the longer it takes to compile (a sixth of a one-liner's parse at six
    levels), so each text is parsed with the depth it needs."""
    lines = ['P1: "(" (PCHAR | QSTR)* ")"']
    lines += [f'P{k}: "(" (PCHAR | QSTR | P{k - 1})* ")"' for k in range(2, depth + 1)]
    return "\n".join(lines) + f"\nPAREN: P{depth}\n"


def lalr_parser(name: str, depth: int = 1) -> Lark:
    """A LALR parser (contextual lexer) for ``grammar/<name>``, built once per process;
    a grammar that uses ``PAREN`` gets it with ``depth`` levels of parentheses (at
    least one, so text without parentheses shares the parser of text with one level).

    Lark's own grammar-analysis cache (keyed by a hash of the grammar) makes later
    start-ups faster; if it cannot be used the parser is simply built from scratch.
    """
    return _lalr_parser(name, max(1, depth))


@cache
def _lalr_parser(name: str, depth: int) -> Lark:
    options = dict(parser="lalr", lexer="contextual", start="start", maybe_placeholders=True)
    text = grammar_text(name)
    if "PAREN" in text:
        text += "\n" + balanced_terminals(depth)
    try:
        return Lark(text, cache=True, **options)
    except Exception:  # noqa: BLE001 - an unusable cache must never stop a parse
        return Lark(text, **options)
