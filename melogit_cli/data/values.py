"""Stata's operators on value arrays (float64 with NaN = missing; object arrays of str)."""

from __future__ import annotations

import numpy as np

from melogit_cli.errors import StataError

Array = np.ndarray

COMPARISONS = frozenset({"==", "!=", "<", "<=", ">", ">="})


def type_mismatch() -> StataError:
    """r(109)."""
    return StataError("type mismatch", 109)


def is_str(v: Array) -> bool:
    """True for a string (object) array."""
    return v.dtype == object


def num(v: Array) -> Array:
    """``v`` if numeric, else ``type mismatch``."""
    if is_str(v):
        raise type_mismatch()
    return v


def strs(v: Array) -> Array:
    """``v`` if string, else ``type mismatch``."""
    if not is_str(v):
        raise type_mismatch()
    return v


def clean(v: Array) -> Array:
    """Non-finite results (overflow, 0/0, log(0)) become missing."""
    out = np.array(v, dtype=np.float64)
    out[~np.isfinite(out)] = np.nan
    return out


def as01(mask: Array) -> Array:
    """Boolean mask -> 0/1 floats."""
    return np.asarray(mask, dtype=bool).astype(np.float64)


def compare(op: str, a: Array, b: Array) -> Array:
    """0/1 result of ``a op b``; missing sorts above every number and equals missing."""
    if is_str(a) != is_str(b):
        raise type_mismatch()
    if is_str(a):
        fn = {"==": np.equal, "!=": np.not_equal, "<": np.less, "<=": np.less_equal,
              ">": np.greater, ">=": np.greater_equal}[op]
        return as01(fn(a, b))
    na, nb = np.isnan(a), np.isnan(b)
    either = na | nb
    with np.errstate(invalid="ignore"):
        eq = np.where(either, na & nb, a == b)
        lt = np.where(either, ~na & nb, a < b)
    result = {"==": eq, "!=": ~eq, "<": lt, "<=": lt | eq, ">": ~(lt | eq), ">=": ~lt}[op]
    return as01(result)


def arith(op: str, a: Array, b: Array) -> Array:
    """``+ - * / ^``; ``+`` also concatenates two strings."""
    if op == "+" and is_str(a) and is_str(b):
        return a + b
    a, b = num(a), num(b)
    with np.errstate(all="ignore"):
        if op == "+":
            return clean(a + b)
        if op == "-":
            return clean(a - b)
        if op == "*":
            return clean(a * b)
        if op == "/":
            out = a / b
            out[b == 0] = np.nan
            return clean(out)
        if op == "^":
            return clean(np.power(a, b))
    raise StataError("invalid syntax", 198)


def truth(v: Array) -> Array:
    """Stata's truth value: nonzero, missing included."""
    return num(v) != 0
