"""Linear (``lincom``) and nonlinear (``nlcom``) combinations of the coefficients.

``lincom``: ``est = w'b + c`` with ``se = sqrt(w'Vw)``; ``or``/``eform`` report ``exp(est)``
with ``exp(est)*se`` and the exponentiated interval (an additive constant is refused then,
as Stata refuses it).

``nlcom``: each expression is parsed by the project's expression parser and evaluated with
``_b[]`` read from a coefficient vector; the delta method uses ``G V G'`` where ``G`` holds
the expressions' derivatives, taken numerically as Stata's ``nlcom`` takes them: central
differences with a relative step, improved by one Richardson extrapolation.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from melogit_cli.data.evaluate import Results, evaluate_scalar
from melogit_cli.errors import StataError
from melogit_cli.postest.coefs import CoefNames, linear_form
from melogit_cli.postest.wald import Constraint, constraint_text
from melogit_cli.results.eresults import EResults, Matrix
from melogit_cli.results.rtable import critical_value
from melogit_cli.special import ndtr
from melogit_cli.syntax.expr import Binary, Call, Coef, Expr, Subscript, Unary, Var
from melogit_cli.syntax.expr_parser import parse_expr
from melogit_cli.syntax.textscan import paren_groups

STAT_COLUMNS = ["estimate", "se", "z", "p", "ll", "ul"]


def _stats(est: float, se: float, level: float) -> tuple[float, float, float, float, float]:
    """z, p and the interval of an estimate with standard error ``se``."""
    if not (np.isfinite(est) and np.isfinite(se) and se > 0):
        return math.nan, math.nan, math.nan, math.nan, math.nan
    z = est / se
    crit = critical_value(level)
    return z, float(2.0 * ndtr(-abs(z))), est - crit * se, est + crit * se, crit


@dataclass
class Lincom:
    """One linear combination: the constraint as ``test`` lists it and its statistics."""

    constraint_line: str
    estimate: float
    se: float
    z: float
    p: float
    lb: float
    ub: float
    level: float
    eform: str = ""  # "", "or" or "eform"

    def row(self) -> list[float]:
        return [self.estimate, self.se, self.z, self.p, self.lb, self.ub]

    def to_frame(self):  # -> pandas.DataFrame
        import pandas as pd

        return pd.DataFrame([self.row()], index=["(1)"], columns=STAT_COLUMNS)

    def __repr__(self) -> str:
        head = {"or": "Odds ratio", "eform": "exp(b)"}.get(self.eform, "Coefficient")
        return (
            f"{self.constraint_line}\n{head} = {self.estimate:.7g}  se = {self.se:.7g}  "
            f"z = {self.z:.2f}  p = {self.p:.3f}  "
            f"[{self.level:g}% CI {self.lb:.7g}, {self.ub:.7g}]"
        )


def _b_v(e: EResults) -> tuple[np.ndarray, np.ndarray]:
    k = len(e.b.colnames)
    b = np.asarray(e.b.data, dtype=float).reshape(-1)
    v = np.asarray(e.V.data, dtype=float).reshape(k, k)
    return b, v


def lincom(e: EResults, text: str, level: float = 95.0, eform: str = "") -> Lincom:
    """``lincom exp [, or eform level(#)]`` on the results ``e``."""
    if "=" in text:
        raise StataError('"=" not allowed in expression', 198)
    names = CoefNames.of(e)
    form = linear_form(text, names)
    if eform and form.const != 0:
        raise StataError(f"additive constant term not allowed with {eform} option", 198)
    b, v = _b_v(e)
    est = float(form.w @ b + form.const)
    var = float(form.w @ v @ form.w)
    se = math.sqrt(var) if var >= 0 else math.nan
    z, p, lo, hi, _ = _stats(est, se, level)
    line = f" ( 1)  {constraint_text(Constraint(form.w, -form.const), names)}"
    if eform:
        est, se = math.exp(est), math.exp(est) * se
        lo, hi = math.exp(lo), math.exp(hi)
    return Lincom(line, est, se, z, p, lo, hi, level, eform)


# ---------------------------------------------------------------------- nlcom

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,31}$")


def _top_split(text: str, sep: str) -> tuple[str, str] | None:
    depth = 0
    for i, ch in enumerate(text):
        depth += ch in "(["
        depth -= ch in ")]"
        if ch == sep and depth == 0:
            return text[:i], text[i + 1 :]
    return None


def parse_nlcom(text: str) -> list[tuple[str, str]]:
    """``(ratio: _b[a]/_b[b]) (exp(_b[c]))`` or ``[name:] exp`` -> ``[(name, exp), ...]``;
    unnamed expressions are called ``_nl_1``, ``_nl_2``, ..."""
    text = text.strip()
    if not text:
        raise StataError("invalid syntax", 198)
    specs = paren_groups(text)
    out = []
    for i, spec in enumerate(specs or [text], start=1):
        split = _top_split(spec, ":")
        if split is None:
            name, exp = f"_nl_{i}", spec.strip()
        else:
            name, exp = split[0].strip(), split[1].strip()
            if not name:
                raise StataError("invalid name", 198)
            if not _NAME_RE.match(name):
                raise StataError(f"invalid name: {name}", 198)
        if "=" in exp:
            raise StataError('"=" not allowed in expression', 198)
        if not exp:
            raise StataError("invalid syntax", 198)
        out.append((name, exp))
    return out


class _AtCoefficients:
    """The :class:`Results` an expression sees: ``_b[]`` from a vector that the delta method
    moves; ``_se[]``, ``e()``, ``r()`` and scalars from the fitted results (or ``outer``)."""

    def __init__(self, names: CoefNames, e: EResults, outer: Results | None) -> None:
        self.names = names
        self.e = e
        self.outer = outer
        self.b, self.v = _b_v(e)

    def column(self, name: str) -> int:
        try:
            return self.names.index(None, name)
        except StataError:
            raise StataError(f"[{name}] not found", 111) from None

    def coef(self, kind: str, name: str) -> float:
        j = self.column(name)
        if kind == "_se":
            return math.sqrt(max(float(self.v[j, j]), 0.0))
        return float(self.b[j])

    def result(self, kind: str, name: str, nobs: int) -> float | str | np.ndarray | None:
        if self.outer is not None:
            return self.outer.result(kind, name, nobs)
        if kind == "e":
            if name in self.e.scalars:
                return self.e.scalars[name]
            return self.e.macros.get(name, math.nan)
        return None if kind == "name" else math.nan


def _walk(expr: Expr) -> Iterable[Expr]:
    stack = [expr]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, Unary):
            stack.append(node.operand)
        elif isinstance(node, Binary):
            stack += [node.left, node.right]
        elif isinstance(node, Call):
            stack += list(node.args)
        elif isinstance(node, Subscript):
            stack.append(node.index)


@dataclass
class Nlcom:
    """Nonlinear combinations: their names, expressions, estimates ``b`` and ``V``."""

    names: list[str]
    expressions: list[str]
    b: np.ndarray
    V: np.ndarray  # noqa: N815 - Stata's name
    level: float
    N: float = math.nan  # noqa: N815

    def table(self) -> np.ndarray:
        """One row per expression: estimate, se, z, p, ll, ul."""
        se = np.sqrt(np.clip(np.diag(self.V), 0.0, None))
        return np.array(
            [[b, s, *_stats(b, s, self.level)[:4]] for b, s in zip(self.b, se, strict=True)]
        )

    def to_frame(self):  # -> pandas.DataFrame
        import pandas as pd

        return pd.DataFrame(self.table(), index=list(self.names), columns=STAT_COLUMNS)

    def eresults(self, depvar: str = "") -> EResults:
        """The results ``nlcom, post`` leaves in e()."""
        e = EResults()
        e.matrices["b"] = Matrix(["y1"], list(self.names), self.b.reshape(1, -1).copy())
        e.matrices["V"] = Matrix(list(self.names), list(self.names), 0.5 * (self.V + self.V.T))
        e.macros.update({"cmd": "nlcom", "predict": "nlcom_p", "properties": "b V"})
        if depvar:
            e.macros["depvar"] = depvar
        if np.isfinite(self.N):
            e.scalars["N"] = float(self.N)
        e.scalars["rank"] = float(np.linalg.matrix_rank(self.V)) if self.V.size else 0.0
        return e

    def __repr__(self) -> str:
        rows = self.table()
        lines = [f"{n:>12}:  {x}" for n, x in zip(self.names, self.expressions, strict=True)]
        lines += [
            f"{n:>12}: {r[0]:.7g} (se {r[1]:.7g}, z {r[2]:.2f}, p {r[3]:.3f}, "
            f"{self.level:g}% CI {r[4]:.7g} to {r[5]:.7g})"
            for n, r in zip(self.names, rows, strict=True)
        ]
        return "\n".join(lines)


def nlcom(
    e: EResults,
    specs: str | list[tuple[str, str]],
    level: float = 95.0,
    outer: Results | None = None,
    variables: Iterable[str] = (),
) -> Nlcom:
    """``nlcom (name: exp) ...``: estimates and delta-method variance of each expression.

    ``outer`` supplies ``e()``, ``r()`` and scalars; ``variables`` are the data's variable
    names, which an expression may not use (Stata: ``contains reference to X rather than
    _b[X]``, r(198)).  An expression that evaluates to missing is r(498).
    """
    if isinstance(specs, str):
        specs = parse_nlcom(specs)
    names = CoefNames.of(e)
    ctx = _AtCoefficients(names, e, outer)
    datavars = set(variables)
    exprs: list[Expr] = []
    for _, text in specs:
        expr = parse_expr(text)
        for node in _walk(expr):
            if isinstance(node, (Var, Subscript)) and node.name in datavars:
                raise StataError(
                    f"expression ({text}) contains reference to X rather than _b[X]", 198
                )
            if isinstance(node, Coef):
                ctx.column(node.name)
        exprs.append(expr)
    b0 = ctx.b.copy()

    def value(expr: Expr, b: np.ndarray) -> float:
        ctx.b = b
        out = evaluate_scalar(expr, None, ctx)
        if isinstance(out, str):
            raise StataError("type mismatch", 109)
        return float(out)

    est = np.array([value(x, b0) for x in exprs])
    for (_, text), v in zip(specs, est, strict=True):
        if not np.isfinite(v):
            raise StataError(f"expression ({text}) evaluates to missing", 498)
    k = b0.size
    g = np.zeros((len(exprs), k))
    used = _used_columns(exprs, ctx)
    for j in used:
        h = 1e-4 * (abs(b0[j]) + 1e-2)
        for i, expr in enumerate(exprs):
            g[i, j] = _derivative(lambda t, j=j, expr=expr: value(expr, _moved(b0, j, t)), h)
    ctx.b = b0
    if not np.all(np.isfinite(g)):
        raise StataError("could not calculate numerical derivatives", 498)
    v = g @ ctx.v @ g.T
    return Nlcom([n for n, _ in specs], [t for _, t in specs], est, v, level,
                 e.scalars.get("N", math.nan))


def _moved(b: np.ndarray, j: int, t: float) -> np.ndarray:
    out = b.copy()
    out[j] += t
    return out


def _used_columns(exprs: list[Expr], ctx: _AtCoefficients) -> list[int]:
    cols: set[int] = set()
    for expr in exprs:
        for node in _walk(expr):
            if isinstance(node, Coef) and node.kind == "_b":
                cols.add(ctx.column(node.name))
    return sorted(cols)


def _derivative(f, h: float) -> float:
    """Central difference at steps ``h`` and ``h/2``, Richardson-extrapolated (error h^4)."""
    d1 = (f(h) - f(-h)) / (2 * h)
    d2 = (f(h / 2) - f(-h / 2)) / h
    return (4 * d2 - d1) / 3
