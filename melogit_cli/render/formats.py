"""Stata's numeric display formats: ``%w.dg``, ``%w.df``, ``%w.de``, with ``c`` and ``-``.

The rules follow what Stata prints:

* ``%w.0g`` shows as many significant digits as fit in ``w - 1`` characters (one column is
  kept for the sign, so positive and negative numbers get the same digits), drops the leading
  zero (``.7322765``) and trailing zeros of fixed notation, and switches to exponent notation
  (``1.41e-31``, ``1.23e+08``) as C's ``%g`` does; in exponent notation the mantissa keeps its
  zeros (``1.00e-10``).  ``%w.dg`` with ``d > 0`` shows at most ``d`` significant digits.
* ``%w.df`` keeps the leading zero (``0.000``) and may use the whole width; a number too wide
  for it is shown as ``%w.0g`` would show it.
* ``%w.de`` shows ``d`` decimals, fewer when the number would not fit in ``w - 1``
  characters (``%8.2e`` of 2,012,345 is ``2.0e+06``).
* ``c`` adds thousands separators (``1,934``); ``%w.0gc`` adds them only when they leave two
  columns free (``%10.0gc`` of 1,000,000 is ``1000000``).
* Missing values (NaN, infinities, ``None``) are ``.``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

_FORMAT_RE = re.compile(r"^%(-?)(0?)(\d+)\.(\d+)([gfe])(c?)$")


@dataclass(frozen=True)
class FormatSpec:
    """A parsed numeric display format."""

    width: int
    decimals: int
    kind: str  # "g", "f" or "e"
    comma: bool = False
    left: bool = False

    def __str__(self) -> str:
        return f"%{'-' if self.left else ''}{self.width}.{self.decimals}{self.kind}" + (
            "c" if self.comma else ""
        )


def parse_format(spec: str) -> FormatSpec:
    """Parse ``%[-]w.d{g|f|e}[c]``; raise ValueError when ``spec`` is not such a format."""
    m = _FORMAT_RE.match(spec.strip())
    if not m:
        raise ValueError(f"invalid format {spec}")
    left, _zero, w, d, kind, comma = m.groups()
    width, decimals = int(w), int(d)
    if width < 1 or width > 253:
        raise ValueError(f"invalid format {spec}")
    if kind != "g" and decimals >= width:
        raise ValueError(f"invalid format {spec}")
    if comma and kind == "e":
        raise ValueError(f"invalid format {spec}")
    return FormatSpec(width, decimals, kind, bool(comma), bool(left))


def is_missing(x: float | None) -> bool:
    """True for Stata's missing value: None, NaN or an infinity."""
    return x is None or not math.isfinite(float(x))


def fmt(x: float | None, spec: str | FormatSpec) -> str:
    """Display ``x`` in the Stata format ``spec`` (padded to the format's width)."""
    f = spec if isinstance(spec, FormatSpec) else parse_format(spec)
    body = "." if is_missing(x) else _body(float(x), f)  # type: ignore[arg-type]
    return body.ljust(f.width) if f.left else body.rjust(f.width)


def _body(x: float, f: FormatSpec) -> str:
    if f.kind == "f":
        return _fixed(x, f.width, f.decimals, f.comma)
    if f.kind == "e":
        return _expo(x, f.width, f.decimals)
    return _general(x, f.width, f.decimals, f.comma)


def _sign(x: float) -> str:
    return "-" if x < 0 else ""


def _commas(s: str) -> str:
    """Insert thousands separators into the integer part of a fixed-notation string."""
    head, dot, tail = s.partition(".")
    if len(head) <= 3 or not head.isdigit():
        return s
    groups = []
    while len(head) > 3:
        groups.insert(0, head[-3:])
        head = head[:-3]
    return ",".join([head, *groups]) + dot + tail


def _fixed(x: float, width: int, decimals: int, comma: bool) -> str:
    s = f"{abs(x):.{decimals}f}"
    if comma:
        s = _commas(s)
    s = _sign(x) + s
    if len(s) <= width:
        return s
    return _general(x, width, 0, False)


def _expo(x: float, width: int, decimals: int) -> str:
    room = max(width - 1, 1)
    for d in range(decimals, -1, -1):
        s = _exp_string(abs(x), d)
        if len(s) <= room:
            return _sign(x) + s
    return _sign(x) + _exp_string(abs(x), 0)


def _exp_string(a: float, decimals: int) -> str:
    """``1.23e-05`` with at least two exponent digits (Python's own spelling)."""
    return f"{a:.{decimals}e}"


def _general(x: float, width: int, digits: int, comma: bool) -> str:
    a = abs(x)
    if a == 0.0:
        return "0"
    room = max(width - 1, 1)
    top = digits if digits > 0 else 17
    for p in range(top, 0, -1):
        s = _g_string(a, p)
        if comma and "e" not in s:
            c = _commas(s)
            if len(c) <= width - 2:
                s = c
        if len(s) <= room:
            return _sign(x) + s
    return _sign(x) + _exp_string(a, 0)


def _g_string(a: float, p: int) -> str:
    """C's ``%.{p}g`` of ``a >= 0``: fixed notation without trailing zeros or leading zero,
    exponent notation keeping the mantissa's zeros."""
    e = f"{a:.{p - 1}e}"
    exponent = int(e.partition("e")[2])
    if -4 <= exponent < p:
        s = f"{a:.{max(p - 1 - exponent, 0)}f}"
        if "." in s:
            s = s.rstrip("0").rstrip(".")
        if s.startswith("0."):
            s = s[1:]
        return s
    return e


def validate_display_format(spec: str, option: str, max_width: int) -> FormatSpec:
    """Check a ``cformat()``/``pformat()``/``sformat()`` argument as Stata does."""
    try:
        f = parse_format(spec)
    except ValueError:
        from melogit_cli.errors import StataError

        raise StataError(f"invalid {option}() format: {spec}", 198) from None
    if f.width > max_width:
        from melogit_cli.errors import StataError

        raise StataError(f"invalid {option}(); width too large", 198)
    return f
