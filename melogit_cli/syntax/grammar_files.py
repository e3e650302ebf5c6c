"""Load the Lark grammars shipped as package data, and build cached parsers.

Installed, the ``*.lark`` files live in the package ``melogit_cli.grammar``; in a
source checkout they sit in ``grammar/`` next to the package directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from functools import cache
from pathlib import Path

import lark
from lark import Lark, Token, Tree

from melogit_cli.syntax.textscan import mask_deep
from melogit_cli.user_cache import user_cache_dir

_PACKAGE_GRAMMAR_DIR = Path(__file__).resolve().parents[1] / "grammar"  # installed
_REPO_GRAMMAR_DIR = Path(__file__).resolve().parents[2] / "grammar"  # source checkout


@cache
def grammar_text(name: str) -> str:
    """The text of ``grammar/<name>`` (e.g. ``"expr.lark"``).  The file is read from
    the installed package or the source checkout directly; the resource loader, which
    an editable install sends through a failing import first, is the last resort
    (installs without plain files, such as zip archives)."""
    for folder in (_PACKAGE_GRAMMAR_DIR, _REPO_GRAMMAR_DIR):
        path = folder / name
        if path.is_file():
            return path.read_text(encoding="utf-8")
    import importlib.resources

    try:
        resource = importlib.resources.files("melogit_cli.grammar").joinpath(name)
        if resource.is_file():
            return resource.read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError):
        pass
    raise FileNotFoundError(
        f"grammar file {name} not found (looked in {_PACKAGE_GRAMMAR_DIR} and {_REPO_GRAMMAR_DIR})"
    )


MAX_GRAMMAR_DEPTH = 2
"""The deepest ``PAREN`` a grammar is built with; deeper text is masked (:func:`parse_balanced`)."""


def balanced_terminals(depth: int) -> str:
    """Lark definitions of ``PAREN``: parenthesised text (with quoted strings) nested up
    to ``depth`` levels.  A regular expression cannot match any depth, and the deeper
    the pattern the longer it takes to compile (a sixth of a one-liner's parse at six
    levels, seconds at forty), so each text is parsed with the depth it needs, at most
    :data:`MAX_GRAMMAR_DEPTH`."""
    lines = ['P1: "(" (PCHAR | QSTR)* ")"']
    lines += [f'P{k}: "(" (PCHAR | QSTR | P{k - 1})* ")"' for k in range(2, depth + 1)]
    return "\n".join(lines) + f"\nPAREN: P{depth}\n"


def lalr_parser(name: str, depth: int = 1, variant: str = "") -> Lark:
    """A LALR parser (contextual lexer) for ``grammar/<name>``, built once per process;
    a grammar that uses ``PAREN`` gets it with ``depth`` levels of parentheses (at
    least one, so text without parentheses shares the parser of text with one level).
    ``variant`` names a set of ``%override`` lines of :data:`VARIANTS` added to the grammar.

    Lark's grammar-analysis cache (a file checked by a hash of the grammar) makes later
    start-ups faster; if it cannot be used the parser is simply built from scratch.
    """
    return _lalr_parser(name, max(1, depth), variant)


VARIANTS = {
    # melogit.lark with its varlists parsed token by token rather than as one VARLIST token
    "tokenwise": "%override varlist: term+\n",
}


def _grammar(name: str, depth: int, variant: str) -> str:
    """The text of ``grammar/<name>`` with ``depth`` levels of ``PAREN`` and ``variant``."""
    text = grammar_text(name)
    if "PAREN" in text:
        text += "\n" + balanced_terminals(depth)
    if variant:
        text += "\n" + VARIANTS[variant]
    return text


@cache
def _lalr_parser(name: str, depth: int, variant: str = "") -> Lark:
    options = dict(parser="lalr", lexer="contextual", start="start", maybe_placeholders=True)
    text = _grammar(name, depth, variant)
    try:
        return Lark(text, cache=_cache_file(name, depth, variant, text), **options)
    except Exception:  # noqa: BLE001 - an unusable cache must never stop a parse
        return Lark(text, **options)


def _cache_file(name: str, depth: int, variant: str, text: str) -> str | bool:
    """Where Lark keeps the analysed grammar: a file of the user's cache directory, named
    by the grammar, the depth, Lark's version, Python's and a hash of the grammar's text
    (Lark checks a hash of the grammar and options in the file too, but one name per text
    lets installs of different versions share the directory without rebuilding each
    other's files).  Naming the file spares Lark looking up the user and probing the
    temporary directory by writing a file there (0.5-0.8 ms of every process); when the
    directory cannot be made, Lark's own file in the temporary directory is used."""
    folder = _cache_folder()
    if folder is None:
        return True
    return str(folder / f"{_cache_stem(name, depth, variant, text)}.cache")


def _cache_folder() -> Path | None:
    """The user's cache directory, made if need be; None when it cannot be made."""
    folder = user_cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return folder


def _cache_stem(name: str, depth: int, variant: str, text: str) -> str:
    python = "".join(map(str, sys.version_info[:2]))
    stem = name.removesuffix(".lark") + (f"+{variant}" if variant else "")
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    return f"grammar-{stem}-{depth}-lark-{lark.__version__}-py{python}-{digest}"


@cache
def terminal_patterns(name: str, names: tuple[str, ...], variant: str = "") -> tuple[str, ...]:
    """The regular expressions Lark compiles for the terminals ``names`` of
    ``grammar/<name>`` with ``variant`` (one level of ``PAREN``), in that order.

    They are kept in the user's cache directory (a small JSON file named like the
    analysed grammar), so a process that needs only these patterns, not the variant's
    parser, does not load that parser (about 7 ms); without the file, or with one that
    does not hold them, the parser is built and the file written again.
    """
    text = _grammar(name, 1, variant)
    folder = _cache_folder()
    stem = _cache_stem(name, 1, variant, text)
    path = None if folder is None else folder / f"{stem}.terminals.json"
    if path is not None:
        try:
            kept = json.loads(path.read_text(encoding="utf-8"))
            patterns = tuple(kept[n] for n in names)
            if all(isinstance(p, str) for p in patterns):
                return patterns
        except (OSError, ValueError, KeyError, TypeError):
            pass
    parser = _lalr_parser(name, 1, variant)
    patterns = tuple(parser.get_terminal(n).pattern.to_regexp() for n in names)
    if path is not None:
        _write_atomically(path, json.dumps(dict(zip(names, patterns, strict=True))))
    return patterns


def _write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file, so that a reader in another
    process sees the old file or the new one, never part of one; failures are ignored
    (the file is a cache)."""
    temp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        temp.write_text(text, encoding="utf-8")
        os.replace(temp, path)
    except OSError:
        try:
            temp.unlink(missing_ok=True)
        except OSError:
            pass


def parse_balanced(name: str, text: str, depth: int, mark: str = "", variant: str = "") -> Tree:
    """Parse ``mark + text`` with ``grammar/<name>`` (and its ``variant``); ``text`` is
    balanced and ``depth`` is its deepest nesting of parentheses.

    Text nested deeper than :data:`MAX_GRAMMAR_DEPTH` is masked before it is lexed (it
    only ever lies inside a balanced-text token), and every token then takes its text
    back from the original, so the work stays linear in the length of the text at any
    depth.  Lark's errors carry positions that hold in the original text.
    """
    if depth <= MAX_GRAMMAR_DEPTH:
        return lalr_parser(name, depth, variant).parse(mark + text)
    masked = mask_deep(text, MAX_GRAMMAR_DEPTH)
    tree = lalr_parser(name, MAX_GRAMMAR_DEPTH, variant).parse(mark + masked)
    return _unmask(tree, mark + text)


def _unmask(tree: Tree, original: str) -> Tree:
    for subtree in tree.iter_subtrees():
        subtree.children = [
            Token.new_borrow_pos(c.type, original[c.start_pos : c.end_pos], c)
            if isinstance(c, Token) and c.start_pos is not None
            else c
            for c in subtree.children
        ]
    return tree
