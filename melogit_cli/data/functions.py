"""Stata functions for expressions: name -> (min args, max args or None, implementation).

Every implementation takes and returns value arrays (see :mod:`melogit_cli.data.values`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import numpy as np

from melogit_cli.data.values import Array, as01, clean, compare, is_str, num, strs, type_mismatch

Impl = Callable[..., Array]


def _unary(fn: Callable[[Array], Array]) -> Impl:
    def impl(x: Array) -> Array:
        with np.errstate(all="ignore"):
            return clean(fn(num(x)))

    return impl


def _round(x: Array, y: Array | None = None) -> Array:
    x = num(x)
    if y is None:
        y = np.ones_like(x)
    y = num(y)
    with np.errstate(all="ignore"):
        out = np.where(y == 0, x, y * np.floor(x / np.where(y == 0, 1, y) + 0.5))
    return clean(out)


def _minmax(reducer: Callable[[Array, Array], Array]) -> Impl:
    def impl(*args: Array) -> Array:
        out = num(args[0]).copy()
        for a in args[1:]:
            out = reducer(out, num(a))
        return out

    return impl


def _same_type(*args: Array) -> None:
    if len({is_str(a) for a in args}) > 1:
        raise type_mismatch()


def _cond(x: Array, a: Array, b: Array, c: Array | None = None) -> Array:
    x = num(x)
    _same_type(a, b, *(() if c is None else (c,)))
    out = np.where(x != 0, a, b)
    if c is not None:
        out = np.where(np.isnan(x), c, out)
    return out.astype(object) if is_str(a) else out.astype(np.float64)


def _inlist(z: Array, *items: Array) -> Array:
    _same_type(z, *items)
    hit = np.zeros(len(z), dtype=bool)
    for item in items:
        hit |= compare("==", z, item) == 1
    return as01(hit)


def _inrange(z: Array, a: Array, b: Array) -> Array:
    _same_type(z, a, b)
    if is_str(z):
        lo = (a == "") | (compare("<=", a, z) == 1)
        hi = (b == "") | (compare("<=", z, b) == 1)
        return as01(lo & hi & (z != ""))
    with np.errstate(invalid="ignore"):
        lo = np.isnan(a) | (a <= z)
        hi = np.isnan(b) | (z <= b)
    return as01(lo & hi & ~np.isnan(z))


def _missing(*args: Array) -> Array:
    out = np.zeros(len(args[0]), dtype=bool)
    for a in args:
        out |= (a == "") if is_str(a) else np.isnan(a)
    return as01(out)


def _mod(x: Array, y: Array) -> Array:
    x, y = num(x), num(y)
    with np.errstate(all="ignore"):
        out = x - y * np.floor(x / y)
    out[~(y > 0)] = np.nan
    return clean(out)


def _logit(x: Array) -> Array:
    x = num(x)
    with np.errstate(all="ignore"):
        out = np.log(x / (1 - x))
    out[~((x > 0) & (x < 1))] = np.nan
    return clean(out)


def _invlogit(x: Array) -> Array:
    x = num(x)
    with np.errstate(all="ignore"):
        e = np.exp(-np.abs(x))
        out = np.where(x >= 0, 1 / (1 + e), e / (1 + e))
    return clean(out)


def _normal(z: Array) -> Array:
    from scipy.special import ndtr

    return clean(ndtr(num(z)))


def _invnormal(p: Array) -> Array:
    from scipy.special import ndtri

    p = num(p)
    with np.errstate(all="ignore"):
        out = ndtri(p)
    out[~((p > 0) & (p < 1))] = np.nan
    return clean(out)


def _running_sum(x: Array) -> Array:
    return np.nancumsum(num(x))


# ----------------------------------------------------------------- strings


def _str_map(fn: Callable[..., object], nin: int) -> Callable[..., Array]:
    ufunc = np.frompyfunc(fn, nin, 1)

    def apply(*args: Array) -> Array:
        out = ufunc(*args)
        return np.asarray(out, dtype=object)

    return apply


def _strlen(s: Array) -> Array:
    return np.char.str_len(strs(s).astype(str)).astype(np.float64)


def _case(method: str) -> Impl:
    def impl(s: Array) -> Array:
        return getattr(np.char, method)(strs(s).astype(str)).astype(object)

    return impl


def _substr_one(s: str, n1: float, n2: float) -> str:
    if math.isnan(n1) or n1 == 0:
        return ""
    start = int(n1) - 1 if n1 > 0 else len(s) + int(n1)
    if start < 0 or start >= len(s):
        return ""
    if math.isnan(n2):
        return s[start:]
    return s[start : start + max(int(n2), 0)]


def _substr(s: Array, n1: Array, n2: Array) -> Array:
    return _str_map(_substr_one, 3)(strs(s), num(n1), num(n2))


_FMT_RE = re.compile(r"%(-?)(0?)(\d+)(?:\.(\d+))?([efg])(c?)")


def format_number(x: float, fmt: str = "%9.0g") -> str:
    """``x`` in a Stata numeric format (``%9.0g``, ``%6.2f``, ``%10.3e``), no padding."""
    if math.isnan(x):
        return "."
    m = _FMT_RE.fullmatch(fmt)
    if not m:
        return format_number(x)
    width, decimals, kind = int(m.group(3)), int(m.group(4) or 0), m.group(5)
    if kind == "f":
        text = f"{x:,.{decimals}f}" if m.group(6) else f"{x:.{decimals}f}"
    elif kind == "e":
        text = f"{x:.{decimals}e}"
    else:
        text = _format_g(x, width, decimals)
    return text


def _format_g(x: float, width: int, decimals: int) -> str:
    if x == int(x) and len(str(int(x))) <= width:
        return str(int(x))
    digits = decimals if decimals > 0 else max(width - 2, 1)
    for sig in range(digits, 0, -1):
        text = f"{x:.{sig}g}"
        if "e" in text:
            text = f"{x:.{max(sig - 1 - math.floor(math.log10(abs(x))), 0)}f}"
            if "." in text:
                text = text.rstrip("0").rstrip(".")
        text = text.replace("0.", ".", 1) if text.lstrip("-").startswith("0.") else text
        if len(text) <= width and text not in ("", "-", ".", "-."):
            return text
    for dec in range(max(width - 6, 0), -1, -1):
        text = f"{x:.{dec}e}"
        if len(text) <= width:
            return text
    return f"{x:.0e}"


def _string(x: Array, fmt: Array | None = None) -> Array:
    if is_str(x):
        raise type_mismatch()
    fmts = fmt if fmt is not None else np.full(len(x), "%9.0g", dtype=object)
    return _str_map(format_number, 2)(x, strs(fmts))


def _real_one(s: str) -> float:
    try:
        return float(s.strip())
    except ValueError:
        return math.nan


def _real(s: Array) -> Array:
    return clean(_str_map(_real_one, 1)(strs(s)).astype(np.float64))


def _strip(method: str) -> Impl:
    def impl(s: Array) -> Array:
        return getattr(np.char, method)(strs(s).astype(str), " ").astype(object)

    return impl


FUNCTIONS: dict[str, tuple[int, int | None, Impl]] = {
    "abs": (1, 1, _unary(np.abs)),
    "exp": (1, 1, _unary(np.exp)),
    "ln": (1, 1, _unary(np.log)),
    "log": (1, 1, _unary(np.log)),
    "log10": (1, 1, _unary(np.log10)),
    "sqrt": (1, 1, _unary(np.sqrt)),
    "floor": (1, 1, _unary(np.floor)),
    "ceil": (1, 1, _unary(np.ceil)),
    "int": (1, 1, _unary(np.trunc)),
    "trunc": (1, 1, _unary(np.trunc)),
    "sign": (1, 1, _unary(np.sign)),
    "round": (1, 2, _round),
    "min": (1, None, _minmax(np.fmin)),
    "max": (1, None, _minmax(np.fmax)),
    "cond": (3, 4, _cond),
    "inlist": (2, None, _inlist),
    "inrange": (3, 3, _inrange),
    "missing": (1, None, _missing),
    "mi": (1, None, _missing),
    "mod": (2, 2, _mod),
    "logit": (1, 1, _logit),
    "invlogit": (1, 1, _invlogit),
    "normal": (1, 1, _normal),
    "invnormal": (1, 1, _invnormal),
    "sum": (1, 1, _running_sum),
    "strlen": (1, 1, _strlen),
    "ustrlen": (1, 1, _strlen),
    "lower": (1, 1, _case("lower")),
    "upper": (1, 1, _case("upper")),
    "strlower": (1, 1, _case("lower")),
    "strupper": (1, 1, _case("upper")),
    "trim": (1, 1, _strip("strip")),
    "strtrim": (1, 1, _strip("strip")),
    "ltrim": (1, 1, _strip("lstrip")),
    "rtrim": (1, 1, _strip("rstrip")),
    "substr": (3, 3, _substr),
    "usubstr": (3, 3, _substr),
    "string": (1, 2, _string),
    "strofreal": (1, 2, _string),
    "real": (1, 1, _real),
}
