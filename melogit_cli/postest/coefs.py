"""Coefficient names as ``test`` and ``lincom`` read them, and linear expressions of them.

A coefficient is written ``age``, ``1.urban``, ``[c_use]age``, ``c_use:age``, ``_b[age]``,
``[c_use]_b[age]``, ``_b[c_use:age]``, ``[/]var(_cons[district])`` or
``/var(_cons[district])``.  A name without an equation is looked up in the first equation,
then among the ``/`` parameters.  ``0.urban`` finds the base level ``0b.urban``.

Linear expressions are rewritten so that every coefficient reads ``_b[eq:name]`` and then go
through the project's expression parser; the parse tree is then reduced to weights on the
columns of e(b) and a constant (:func:`linearize`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from melogit_cli.errors import StataError
from melogit_cli.results.eresults import EResults
from melogit_cli.results.names import split_colname
from melogit_cli.syntax.expr import Binary, Coef, Expr, Num, Unary
from melogit_cli.syntax.expr_parser import parse_expr

_FLAG_RE = re.compile(r"^(\d+)[a-z]*\.")


def _plain(name: str) -> str:
    """``0b.urban`` -> ``0.urban``, ``1o.x#c.age`` -> ``1.x#c.age``, ``o._cons`` -> ``_cons``."""
    parts = []
    for part in name.split("#"):
        part = _FLAG_RE.sub(lambda m: m.group(1) + ".", part)
        if part.startswith("o."):
            part = part[2:]
        parts.append(part)
    return "#".join(parts)


@dataclass(frozen=True)
class CoefNames:
    """The columns of e(b): equation and name of each, and lookup by what a user types."""

    colnames: tuple[str, ...]

    @classmethod
    def of(cls, e: EResults) -> CoefNames:
        return cls(tuple(e.b.colnames))

    @property
    def equations(self) -> list[str]:
        seen: list[str] = []
        for col in self.colnames:
            eq = split_colname(col)[0]
            if eq not in seen:
                seen.append(eq)
        return seen

    @property
    def first_equation(self) -> str:
        return next((q for q in self.equations if q != "/"), "")

    @property
    def multi_equation(self) -> bool:
        return len(self.equations) > 1

    def shown(self, j: int) -> str:
        """How ``test`` lists column ``j``: ``[c_use]1.urban`` (``1.urban`` with one equation)."""
        eq, name = split_colname(self.colnames[j])
        return f"[{eq}]{name}" if eq and self.multi_equation else name

    def index(self, eq: str | None, name: str) -> int:
        """The column of ``[eq]name``; ``[eq]name not found`` r(111) when there is none."""
        key = name.replace(" ", "")
        if eq is None and key.startswith("/") and key != "/":
            eq, key = "/", key[1:]
        if eq is None and ":" in key:
            eq, _, key = key.partition(":")
        eqs = [eq] if eq is not None else [self.first_equation, "/"]
        if eq is not None and eq.startswith("#") and eq[1:].isdigit():
            k = int(eq[1:]) - 1
            eqs = [self.equations[k]] if 0 <= k < len(self.equations) else []
        for want in eqs:
            for exact in (True, False):
                for j, col in enumerate(self.colnames):
                    ceq, cname = split_colname(col)
                    if ceq != want:
                        continue
                    cname = cname.replace(" ", "")
                    if (cname == key) if exact else (_plain(cname) == _plain(key)):
                        return j
        shown = f"[{eq}]{name}" if eq is not None else name
        raise StataError(f"{shown} not found", 111)


# ---------------------------------------------------------------------- linear expressions

_EQ_RE = re.compile(r"\[([^\[\]]*)\]")
_B_RE = re.compile(r"_(?:b|coef)\[((?:[^\[\]]|\[[^\[\]]*\])*)\]")
_NUMBER_RE = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![A-Za-z_.#])")
_VC_RE = re.compile(r"(?:var|cov)\((?:[^()]|\([^()]*\))*\)")
_NAME_RE = re.compile(r"[A-Za-z0-9_.#~:]+")


def rewrite(text: str) -> str:
    """Rewrite every coefficient in ``text`` as ``_b[eq:name]`` (``_b[name]`` without an
    equation), leaving numbers, operators, parentheses and ``=`` as they are."""
    out: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch.isspace() or ch in "+-*()=^":
            out.append(ch)
            i += 1
            continue
        eq: str | None = None
        m = _EQ_RE.match(text, i)
        if m:
            eq = m.group(1).strip()
            i = m.end()
            while i < n and text[i] == " ":
                i += 1
        m = _B_RE.match(text, i)
        if m:
            name = m.group(1).strip()
            i = m.end()
        elif eq is None and (m := _NUMBER_RE.match(text, i)):
            out.append(m.group(0))
            i = m.end()
            continue
        elif text.startswith("/", i) and (m := _VC_RE.match(text, i + 1)):
            eq, name = "/", m.group(0)
            i = m.end()
        elif ch == "/" and eq is None:
            out.append(ch)
            i += 1
            continue
        elif m := _VC_RE.match(text, i):
            name = m.group(0)
            i = m.end()
        elif m := _NAME_RE.match(text, i):
            name = m.group(0)
            i = m.end()
        else:
            raise StataError("invalid syntax", 198)
        out.append(f"_b[{eq}:{name}]" if eq is not None else f"_b[{name}]")
    return "".join(out)


@dataclass
class Linear:
    """``sum_j w[j] * b[j] + const``."""

    w: np.ndarray
    const: float

    def __add__(self, other: Linear) -> Linear:
        return Linear(self.w + other.w, self.const + other.const)

    def scale(self, a: float) -> Linear:
        return Linear(self.w * a, self.const * a)

    @property
    def is_constant(self) -> bool:
        return not np.any(self.w != 0)


def _not_possible() -> StataError:
    return StataError("not possible with test", 131)


def linearize(expr: Expr, names: CoefNames) -> Linear:
    """Weights on the columns of e(b) and a constant for a linear expression; a product or
    quotient of coefficients is ``not possible with test`` r(131)."""
    k = len(names.colnames)
    if isinstance(expr, Num):
        return Linear(np.zeros(k), expr.value)
    if isinstance(expr, Coef):
        if expr.kind != "_b":
            raise _not_possible()
        eq, sep, name = expr.name.partition(":")
        if not sep:
            eq, name = None, expr.name  # type: ignore[assignment]
        w = np.zeros(k)
        w[names.index(eq, name)] = 1.0
        return Linear(w, 0.0)
    if isinstance(expr, Unary) and expr.op == "-":
        return linearize(expr.operand, names).scale(-1.0)
    if isinstance(expr, Binary) and expr.op in "+-*/" and len(expr.op) == 1:
        a = linearize(expr.left, names)
        b = linearize(expr.right, names)
        if expr.op == "+":
            return a + b
        if expr.op == "-":
            return a + b.scale(-1.0)
        if expr.op == "*":
            if a.is_constant:
                return b.scale(a.const)
            if b.is_constant:
                return a.scale(b.const)
            raise _not_possible()
        if b.is_constant and b.const != 0:
            return a.scale(1.0 / b.const)
        raise _not_possible()
    raise _not_possible()


def linear_form(text: str, names: CoefNames) -> Linear:
    """A linear expression typed by the user, e.g. ``2*[c_use]age + 1.urban - 0.5``."""
    if not text.strip():
        raise StataError("invalid syntax", 198)
    return linearize(parse_expr(rewrite(text)), names)
