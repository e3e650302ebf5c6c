"""Stata expressions as an abstract syntax tree (built by our own Lark grammar).

Evaluation lives in :mod:`melogit_cli.data.evaluate`; nothing here ever calls
Python's ``eval``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Num:
    """A numeric literal."""

    value: float


@dataclass(frozen=True)
class Str:
    """A string literal ``"..."``."""

    value: str


@dataclass(frozen=True)
class Missing:
    """A missing-value literal: ``.`` or an extended one ``.a`` ... ``.z``."""

    code: str = "."


@dataclass(frozen=True)
class Var:
    """A variable reference, or the system variables ``_n`` / ``_N`` / ``_pi``."""

    name: str


@dataclass(frozen=True)
class Unary:
    """``-x``, ``!x`` (also written ``~x``); op is ``"-"`` or ``"!"``."""

    op: str
    operand: Expr


@dataclass(frozen=True)
class Binary:
    """Arithmetic ``+ - * / ^``, comparison ``== != < <= > >=``, logic ``& |``."""

    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Call:
    """A function call such as ``log(x)`` or ``cond(a, b, c)``."""

    name: str
    args: tuple[Expr, ...]


@dataclass(frozen=True)
class Subscript:
    """An explicit subscript ``x[_n-1]``."""

    name: str
    index: Expr


@dataclass(frozen=True)
class Coef:
    """``_b[name]`` / ``_se[name]``: a coefficient (or its standard error) of e(b)."""

    kind: str  # "_b" or "_se" ("_coef" is read as "_b")
    name: str


Expr = Num | Str | Missing | Var | Unary | Binary | Call | Subscript | Coef
