"""Reading e(b) column names the way Stata's coefficient table does.

Fixed effects: ``1.urban``, ``0b.urban`` (base), ``1o.x``/``o.x`` (omitted), ``2e.x`` (empty
cell), ``1.urban#c.age``, ``c.age#c.age``, ``_cons``.  Variance components:
``var(_cons[district])``, ``cov(1.urban[district],_cons[district])``, nested paths
``family>subject`` and crossed ``_all>sid``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from melogit_cli.results.names import FREE_EQ, parse, strip_markers

_PART_RE = re.compile(r"^(?:(\d+)([a-z]*)\.|([a-z]+)\.)?(.+)$")


@dataclass(frozen=True)
class Part:
    """One factor of a term: ``level`` is None for a continuous variable."""

    var: str
    level: int | None
    flags: str = ""

    @property
    def is_factor(self) -> bool:
        return self.level is not None

    @property
    def base(self) -> bool:
        return "b" in self.flags and "n" not in self.flags

    @property
    def omitted(self) -> bool:
        return "o" in self.flags

    @property
    def empty(self) -> bool:
        return "e" in self.flags

    @property
    def display(self) -> str:
        """The name without markers: ``1.urban``, ``c.age`` (in interactions) or ``age``."""
        return f"{self.level}.{self.var}" if self.is_factor else self.var


@dataclass(frozen=True)
class Term:
    """A fixed-effect coefficient name split into its parts."""

    parts: tuple[Part, ...]

    @property
    def is_factor(self) -> bool:
        return any(p.is_factor for p in self.parts)

    @property
    def is_interaction(self) -> bool:
        return len(self.parts) > 1

    @property
    def base(self) -> bool:
        return any(p.base for p in self.parts)

    @property
    def omitted(self) -> bool:
        return not self.base and any(p.omitted for p in self.parts)

    @property
    def empty(self) -> bool:
        return any(p.empty for p in self.parts)

    @property
    def key(self) -> tuple[tuple[str, bool], ...]:
        """Identifies the term (``i.children``, ``urban#c.age``) regardless of levels."""
        return tuple((p.var, p.is_factor) for p in self.parts)

    @property
    def header(self) -> str:
        """The term's name as Stata heads a factor block: ``children``, ``urban#c.age``."""
        if not self.is_interaction:
            return self.parts[0].var
        return "#".join(p.var if p.is_factor else f"c.{p.var}" for p in self.parts)

    @property
    def display(self) -> str:
        """The single-row name: ``1.urban``, ``1.urban#c.age``, ``age``, ``c.age#c.age``."""
        if not self.is_interaction:
            return self.parts[0].display
        return "#".join(p.display if p.is_factor else f"c.{p.var}" for p in self.parts)


def parse_part(text: str) -> Part:
    """``0b.urban`` -> Part("urban", 0, "b"); ``c.age`` -> Part("age", None)."""
    m = _PART_RE.match(text)
    if not m:
        return Part(text, None)
    level, lflags, ops, var = m.groups()
    if level is not None:
        return Part(var, int(level), lflags or "")
    if ops is not None:
        flags = ops.replace("c", "")
        return Part(var, None, flags)
    return Part(text, None)


def parse_term(name: str) -> Term:
    """Split ``1.urban#c.age`` into its parts."""
    return Term(tuple(parse_part(p) for p in name.split("#")))


@dataclass(frozen=True)
class VarComp:
    """A ``var()``/``cov()`` element of the ``/`` equation."""

    kind: str  # "var", "cov" or "" for anything else
    level: str  # "district", "family>subject", "_all>sid"
    label: str  # "var(_cons)", "cov(1.urban,_cons)"


def parse_varcomp(name: str) -> VarComp:
    """``var(_cons[family>subject])`` -> VarComp("var", "family>subject", "var(_cons)")."""
    p = parse(f"{FREE_EQ}:{name}")
    if p.kind == "fixed":
        return VarComp("", "", strip_markers(name))
    return VarComp(p.kind, p.level, p.label)


def abbrev(name: str, n: int) -> str:
    """Stata's ``abbrev()``: ``transformed_grams`` -> ``transforme~s`` for ``n = 12``."""
    if len(name) <= n:
        return name
    if n < 3:
        return name[:n]
    return name[: n - 2] + "~" + name[-1]
