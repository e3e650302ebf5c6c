"""Variable lists resolved against a data set as Stata resolves them.

A pattern is an exact name, a unique abbreviation (prefix), a wildcard pattern
(``*`` any run of characters, ``?`` one character, ``~`` any run but exactly one
match), a range ``first-last`` (by position in the data set), or ``_all``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from melogit_cli.data.dataset import Dataset
from melogit_cli.errors import StataError

_WILD = re.compile(r"[*?~]")


def _names(ds: Dataset | Sequence[str]) -> list[str]:
    return ds.varnames if isinstance(ds, Dataset) else [str(v) for v in ds]


def _not_found(pattern: str) -> StataError:
    return StataError(f"variable {pattern} not found", 111)


def _ambiguous(pattern: str) -> StataError:
    return StataError(f"{pattern} ambiguous abbreviation", 111)


def _single(name: str, names: list[str]) -> str:
    """An exact name, else a unique abbreviation."""
    if name in names:
        return name
    hits = [v for v in names if v.startswith(name)]
    if len(hits) == 1:
        return hits[0]
    if not hits:
        raise _not_found(name)
    raise _ambiguous(name)


def _wildcard(pattern: str, names: list[str]) -> list[str]:
    """Every variable matching ``*``/``?``/``~``; ``~`` must match exactly one."""
    rx = "".join(".*" if ch in "*~" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    comp = re.compile(rf"\A{rx}\Z")
    hits = [v for v in names if comp.match(v)]
    if not hits:
        raise _not_found(pattern)
    if "~" in pattern and len(hits) > 1:
        raise _ambiguous(pattern)
    return hits


def _range(pattern: str, names: list[str]) -> list[str]:
    """``first-last``: the variables from first to last in data-set order."""
    first, _, last = pattern.partition("-")
    if not first or not last or "-" in last or _WILD.search(pattern):
        raise StataError(f"{pattern} invalid varlist", 198)
    a, b = names.index(_single(first, names)), names.index(_single(last, names))
    if a > b:
        raise StataError("variables out of order", 111)
    return names[a : b + 1]


def resolve_pattern(pattern: str, ds: Dataset | Sequence[str]) -> list[str]:
    """The variables one pattern names, in data-set order for wildcards and ranges."""
    names = _names(ds)
    pattern = pattern.strip()
    if not names:
        raise StataError("no variables defined", 111)
    if pattern == "_all":
        return list(names)
    if "-" in pattern:
        return _range(pattern, names)
    if _WILD.search(pattern):
        return _wildcard(pattern, names)
    return [_single(pattern, names)]


def resolve_varlist(patterns: str | Iterable[str], ds: Dataset | Sequence[str]) -> list[str]:
    """Expand patterns (strings, each possibly several blank-separated words).

    Order follows the patterns; duplicates are kept, as in a Stata varlist.
    """
    words = (
        patterns.split()
        if isinstance(patterns, str)
        else [w for p in patterns for w in str(p).split()]
    )
    out: list[str] = []
    for word in words:
        out.extend(resolve_pattern(word, ds))
    return out


def resolve_one(pattern: str, ds: Dataset | Sequence[str]) -> str:
    """A pattern that must name exactly one variable (a level id, an offset, ...)."""
    found = resolve_varlist(pattern, ds)
    if len(found) != 1:
        raise StataError("too many variables specified", 103)
    return found[0]
