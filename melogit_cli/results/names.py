"""e(b) column names: one typed representation, written and read by the same functions.

Fixed effects sit in the depvar's equation: ``c_use:1.urban``, ``c_use:0b.urban``,
``c_use:_cons``.  Variance components sit in the ``/`` equation, each random effect written
``term[level]``: ``/:var(_cons[district])``, ``/:cov(1.urban[district],_cons[district])``.
A nested level is named by its path (``family>subject``, ``_all`` left out), an
``R.varname`` equation by its level's path and the variable (``_all>sid``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FREE_EQ = "/"  # the equation of the variance components
Kind = Literal["fixed", "var", "cov"]


@dataclass(frozen=True)
class Effect:
    """One random effect: its term (``_cons``, ``1.urban``) at a level (``district``)."""

    term: str
    level: str

    def __str__(self) -> str:
        return f"{self.term}[{self.level}]"


@dataclass(frozen=True)
class ParamName:
    """One e(b) column: a fixed effect (``term``) or a variance/covariance (``effects``)."""

    eq: str
    kind: Kind
    term: str = ""  # a fixed effect's term: ``1.urban``, ``_cons``
    effects: tuple[Effect, ...] = ()  # one for ``var``, two for ``cov``

    @property
    def name(self) -> str:
        """The name within the equation: ``1.urban``, ``var(_cons[district])``."""
        if self.kind == "fixed":
            return self.term
        return f"{self.kind}({','.join(map(str, self.effects))})"

    def __str__(self) -> str:
        return f"{self.eq}:{self.name}" if self.eq else self.name

    @property
    def level(self) -> str:
        """The level of a variance (of a covariance's first effect); ``""`` for fixed."""
        return self.effects[0].level if self.effects else ""

    @property
    def label(self) -> str:
        """The coefficient table's row label: ``var(_cons)``, ``cov(1.urban,_cons)``."""
        if self.kind == "fixed":
            return self.term
        return f"{self.kind}({','.join(strip_markers(e.term) for e in self.effects)})"

    @property
    def is_intercept_variance(self) -> bool:
        return self.kind == "var" and self.effects[0].term == "_cons"


def fixed(eq: str, term: str) -> ParamName:
    """``c_use:1.urban``."""
    return ParamName(eq, "fixed", term)


def variance(term: str, level: str) -> ParamName:
    """``/:var(term[level])``."""
    return ParamName(FREE_EQ, "var", effects=(Effect(term, level),))


def covariance(a: Effect, b: Effect) -> ParamName:
    """``/:cov(a,b)`` (a before b as e(b) lists them)."""
    return ParamName(FREE_EQ, "cov", effects=(a, b))


def level_path(levels: list[str]) -> str:
    """A nested level's name from the levels down to it: ``family>subject`` (``_all`` left
    out unless it is the only one)."""
    return ">".join(lv for lv in levels if lv != "_all") or "_all"


def split_colname(col: str) -> tuple[str, str]:
    """``"c_use:1.urban"`` -> ``("c_use", "1.urban")``; no colon -> ``("", name)``."""
    eq, sep, name = col.partition(":")
    return (eq, name) if sep else ("", col)


def parse(col: str) -> ParamName:
    """Read a column name (``eq:name`` or a bare name) back into a ``ParamName``.

    Anything that is not a well-formed ``var()``/``cov()`` is a fixed-effect term.
    """
    eq, name = split_colname(col)
    for kind, count in (("var", 1), ("cov", 2)):
        if name.startswith(f"{kind}(") and name.endswith(")"):
            effects = _effects(name[4:-1])
            if effects is not None and len(effects) == count:
                return ParamName(eq, kind, effects=effects)  # type: ignore[arg-type]
    return ParamName(eq, "fixed", name)


def _effects(inner: str) -> tuple[Effect, ...] | None:
    """``_cons[district]`` or ``1.urban[district],_cons[district]``; None when malformed."""
    out: list[Effect] = []
    rest = inner
    while rest:
        open_ = rest.find("[")
        close = rest.find("]", open_ + 1)
        if open_ <= 0 or close < 0:
            return None
        out.append(Effect(rest[:open_], rest[open_ + 1 : close]))
        rest = rest[close + 1 :]
        if rest:
            if not rest.startswith(","):
                return None
            rest = rest[1:]
            if not rest:
                return None
    return tuple(out) if out else None


def strip_markers(term: str) -> str:
    """Drop base/omitted/empty markers: ``0b.urban`` -> ``0.urban``, ``1o.x#c.age`` ->
    ``1.x#c.age`` (operators such as ``c.`` stay)."""
    parts = []
    for part in term.split("#"):
        head, dot, var = part.partition(".")
        digits = head.rstrip("bnoe")
        if dot and digits.isdigit() and digits != head:
            part = f"{digits}.{var}"
        parts.append(part)
    return "#".join(parts)


def is_base_or_omitted(term: str) -> bool:
    """True for a base level (``0b.urban``) or an omitted term (``o.x``, ``1o.x``)."""
    for part in term.split("#"):
        head, dot, _ = part.partition(".")
        if not dot:
            continue
        flags = head.lstrip("0123456789")
        if "o" in flags or ("b" in flags and "n" not in flags):
            return True
    return False
