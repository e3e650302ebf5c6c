"""Evaluate a Stata expression (:mod:`melogit_cli.syntax.expr`) on a :class:`Dataset`.

Results are numpy arrays with one element per observation: float64 with NaN for
missing, or an object array of ``str`` for string results (``""`` is the missing
string).  Stata semantics:

* missing (``.``) is larger than every number: ``x > 5`` is true when ``x`` is
  missing, ``x < .`` tests for nonmissing, ``. == .`` is true;
* arithmetic with missing, division by zero, and results out of range give missing;
* ``&``, ``|``, ``!`` treat any nonzero value, missing included, as true and
  return 0/1;
* ``+`` concatenates strings; mixing strings and numbers is ``type mismatch`` r(109);
* ``_n``, ``_N``, ``_pi``; ``x[_n-1]`` subscripts (out of range gives missing);
* a variable may be abbreviated when the abbreviation is unique;
* ``_b[name]``, ``_se[name]``, ``e(name)`` and ``r(name)`` are looked up in a
  :class:`Results` object handed over by the caller (missing when there is none).

Numeric work is vectorized with numpy; the few string functions without a numpy
equivalent (``substr``, ``string``, ``real``) apply Python's string methods
element by element.  Functions live in :mod:`melogit_cli.data.functions`.
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np

from melogit_cli.data.dataset import Dataset
from melogit_cli.data.functions import FUNCTIONS
from melogit_cli.data.values import COMPARISONS, Array, arith, as01, compare, is_str, num, truth
from melogit_cli.errors import StataError, variable_not_found
from melogit_cli.syntax.expr import (
    Binary,
    Call,
    Coef,
    Expr,
    Missing,
    Num,
    Str,
    Subscript,
    Unary,
    Var,
)


class Results(Protocol):
    """Stored results an expression may read: e(b)/e(V) coefficients, e() and r()."""

    def coef(self, kind: str, name: str) -> float:
        """``_b[name]`` (kind ``"_b"``) or ``_se[name]`` (kind ``"_se"``)."""
        ...

    def result(self, kind: str, name: str, nobs: int) -> float | str | np.ndarray | None:
        """``e(name)`` / ``r(name)`` (kind ``"e"``/``"r"``): a scalar, a macro, or one value
        per observation (``e(sample)``); kind ``"name"``: a name that is not a variable
        (``_rc``, a scalar), or None."""
        ...


class _Context:
    """The data an expression sees: every observation, or only the first (scalar)."""

    def __init__(self, ds: Dataset | None, scalar: bool, results: Results | None = None) -> None:
        self.ds = ds
        self.results = results
        self.big_n = ds.nobs if ds is not None else 0
        self.scalar = scalar
        self.n = 1 if scalar else self.big_n

    def const(self, value: float | str) -> Array:
        if isinstance(value, str):
            return np.full(self.n, value, dtype=object)
        return np.full(self.n, value, dtype=np.float64)

    def resolve(self, name: str) -> str:
        """A variable name from a name or a unique abbreviation."""
        names = self.ds.varnames if self.ds is not None else []
        if name in names:
            return name
        matches = [v for v in names if v.startswith(name)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise StataError(f"{name} ambiguous abbreviation", 111)
        raise variable_not_found(name)

    def full_column(self, name: str) -> Array:
        """Every observation of variable ``name``."""
        var = self.resolve(name)
        assert self.ds is not None
        series = self.ds.frame[var]
        if self.ds.is_string(var):
            values = series.to_numpy(dtype=object, copy=True)
            values[series.isna().to_numpy()] = ""
            return values
        return series.to_numpy(dtype=np.float64, na_value=np.nan)

    def column(self, name: str) -> Array:
        full = self.full_column(name)
        if not self.scalar:
            return full
        if len(full):
            return full[:1].copy()
        return self.const("" if is_str(full) else math.nan)


def _eval(e: Expr, ctx: _Context) -> Array:
    if isinstance(e, Num):
        return ctx.const(e.value)
    if isinstance(e, Missing):
        return ctx.const(math.nan)
    if isinstance(e, Str):
        return ctx.const(e.value)
    if isinstance(e, Var):
        return _variable(e.name, ctx)
    if isinstance(e, Unary):
        return _unary(e, ctx)
    if isinstance(e, Binary):
        return _binary(e, ctx)
    if isinstance(e, Call):
        return _call(e, ctx)
    if isinstance(e, Subscript):
        return _subscript(e, ctx)
    if isinstance(e, Coef):
        if ctx.results is None:
            raise StataError(f"[{e.name}] not found", 111)
        return ctx.const(float(ctx.results.coef(e.kind, e.name)))
    raise StataError("invalid syntax", 198)


def _variable(name: str, ctx: _Context) -> Array:
    if name == "_n":
        return ctx.const(1.0) if ctx.scalar else np.arange(1, ctx.n + 1, dtype=np.float64)
    if name == "_N":
        return ctx.const(float(ctx.big_n))
    if name == "_pi":
        return ctx.const(math.pi)
    try:
        return ctx.column(name)
    except StataError as err:
        if ctx.results is None or err.rc != 111:
            raise
        value = ctx.results.result("name", name, ctx.big_n)  # _rc, scalars
        if value is None or isinstance(value, np.ndarray):
            raise
        return ctx.const(value if isinstance(value, str) else float(value))


def _unary(e: Unary, ctx: _Context) -> Array:
    # a chain of unary operators is walked, not recursed into: it may be 800 long
    ops: list[str] = []
    node: Expr = e
    while isinstance(node, Unary):
        ops.append(node.op)
        node = node.operand
    v = _eval(node, ctx)
    for op in reversed(ops):
        v = num(v)
        v = -v if op == "-" else as01(v == 0)
    return v


def _binary(e: Binary, ctx: _Context) -> Array:
    # operators of one precedence nest to the left (a & b & c is (a & b) & c): the left
    # spine is walked, not recursed into, so 800 operators need no deep recursion
    spine: list[Binary] = []
    node: Expr = e
    while isinstance(node, Binary):
        spine.append(node)
        node = node.left
    a = _eval(node, ctx)
    for b in reversed(spine):
        a = _apply(b.op, a, _eval(b.right, ctx))
    return a


def _apply(op: str, a: Array, b: Array) -> Array:
    if op in COMPARISONS:
        return compare(op, a, b)
    if op == "&":
        return as01(truth(a) & truth(b))
    if op == "|":
        return as01(truth(a) | truth(b))
    return arith(op, a, b)


def _subscript(e: Subscript, ctx: _Context) -> Array:
    if e.name in ("_n", "_N", "_pi"):
        full = _variable(e.name, _Context(ctx.ds, scalar=False))
    else:
        full = ctx.full_column(e.name)
    idx = num(_eval(e.index, ctx))
    with np.errstate(invalid="ignore"):
        pos = np.trunc(idx)
        ok = np.isfinite(pos) & (pos >= 1) & (pos <= len(full))
    missing = "" if is_str(full) else math.nan
    if not len(full):
        return ctx.const(missing)
    out = full[np.where(ok, pos, 1).astype(np.int64) - 1]
    out[~ok] = missing
    return out


def _stored(e: Call, ctx: _Context) -> Array:
    """``e(name)`` / ``r(name)``."""
    name = e.args[0].name  # type: ignore[union-attr]
    if ctx.results is None:
        return ctx.const("" if name in ("cmd", "cmdline", "depvar", "title") else math.nan)
    value = ctx.results.result(e.name, name, ctx.big_n)
    if isinstance(value, np.ndarray):
        return value[:1].copy() if ctx.scalar else value
    return ctx.const(value if isinstance(value, str) else float(value))


_MATRIX_FUNCTIONS = {"el": 3, "rowsof": 1, "colsof": 1}


def _matrix_call(e: Call, ctx: _Context) -> Array:
    """``el(A, i, j)``, ``rowsof(A)``, ``colsof(A)``: A names a matrix, ``e(b)`` or ``r(table)``."""
    if len(e.args) != _MATRIX_FUNCTIONS[e.name]:
        raise StataError(f"{e.name}(): wrong number of arguments", 198)
    arg = e.args[0]
    if isinstance(arg, Var):
        kind, name, shown = "", arg.name, arg.name
    elif isinstance(arg, Call) and arg.name in ("e", "r") and len(arg.args) == 1 \
            and isinstance(arg.args[0], Var):
        kind, name = arg.name, arg.args[0].name
        shown = f"{kind}({name})"
    else:
        raise StataError("invalid syntax", 198)
    lookup = getattr(ctx.results, "matrix", None)
    data = lookup(kind, name) if lookup is not None else None
    if data is None:
        raise StataError(f"matrix {shown} not found", 111)
    data = np.atleast_2d(np.asarray(data, dtype=float))
    if e.name == "rowsof":
        return ctx.const(float(data.shape[0]))
    if e.name == "colsof":
        return ctx.const(float(data.shape[1]))
    i = num(_eval(e.args[1], ctx))
    j = num(_eval(e.args[2], ctx))
    out = np.full(len(i), math.nan)
    with np.errstate(invalid="ignore"):
        ii, jj = np.trunc(i), np.trunc(j)
        ok = np.isfinite(ii) & np.isfinite(jj) & (ii >= 1) & (jj >= 1)
        ok &= (ii <= data.shape[0]) & (jj <= data.shape[1])
    if ok.any():
        out[ok] = data[ii[ok].astype(int) - 1, jj[ok].astype(int) - 1]
    return out


def _call(e: Call, ctx: _Context) -> Array:
    if e.name in ("e", "r") and len(e.args) == 1 and isinstance(e.args[0], Var):
        return _stored(e, ctx)
    if e.name in _MATRIX_FUNCTIONS:
        return _matrix_call(e, ctx)
    entry = FUNCTIONS.get(e.name)
    if entry is None:
        raise StataError(f"unknown function {e.name}()", 133)
    lo, hi, fn = entry
    if len(e.args) < lo or (hi is not None and len(e.args) > hi):
        raise StataError(f"{e.name}(): wrong number of arguments", 198)
    return fn(*[_eval(a, ctx) for a in e.args])


def evaluate(expr: Expr, ds: Dataset, results: Results | None = None) -> np.ndarray:
    """Values of ``expr`` for every observation of ``ds`` (float64 or object of str)."""
    return _eval(expr, _Context(ds, scalar=False, results=results))


def evaluate_scalar(
    expr: Expr, ds: Dataset | None = None, results: Results | None = None
) -> float | str:
    """One value, as ``display`` computes it: variables are read from observation 1."""
    value = _eval(expr, _Context(ds, scalar=True, results=results))[0]
    return value if isinstance(value, str) else float(value)
