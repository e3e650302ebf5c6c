"""Comparing the published numbers of a block with ours.

A number matches when ours differs from the published one by at most one unit in the last
printed digit (of the coarser of the two: Stata rounds for display, and so do we).  A
relative tolerance per kind (``--tolerance se=0.3%``) widens that by the given fraction of
the published value; it carries over to the numbers computed from that kind, by first-order
propagation: a tolerance on ``se`` (or ``b``, ``var``) widens the z statistic, its P>|z|,
the confidence limits of the same table row and the Wald chi2 and its p-value of the
header, by what the allowed difference in the standard errors (estimates) implies.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace

from melogit_cli.errors import StataError
from melogit_cli.verify.numbers import KINDS, Number

_SPEC_RE = re.compile(r"^([a-z0-9]+)\s*=\s*([0-9]*\.?[0-9]+(?:e-?[0-9]+)?)\s*(%?)$", re.I)
_DF_RE = re.compile(r"chi(?:bar)?2\((\d+)\)")
_Z95 = 1.959963984540054
NRTOLERANCE = 1e-5  # Stata's default nrtolerance()


def parse_tolerance(specs: list[str] | tuple[str, ...]) -> dict[str, float]:
    """``["se=0.3%", "b=1e-5,var=0.002%"]`` -> relative tolerances by kind; r(198) for a
    kind that does not exist or a value that is not a non-negative number."""
    out: dict[str, float] = {}
    for spec in specs:
        for item in spec.split(","):
            if not item.strip():
                continue
            m = _SPEC_RE.match(item.strip())
            if not m:
                raise StataError(
                    f"--tolerance {item.strip()}: give KIND=VALUE, e.g. se=0.3% or se=0.003", 198
                )
            kind = m.group(1).lower()
            if kind not in KINDS:
                raise StataError(
                    f"--tolerance: unknown kind {kind} (kinds: {', '.join(KINDS)})", 198
                )
            value = float(m.group(2)) / (100.0 if m.group(3) else 1.0)
            out[kind] = value
    return out


@dataclass
class Comparison:
    """One published number against ours."""

    line: int  # the published line
    label: str
    kind: str
    published: str
    ours: str | None  # None: our output has no number of that label
    our_line: int | None
    allowed: float  # the largest absolute difference that matches
    ok: bool
    span: tuple[int, int] = (0, 0)  # the published number's columns on its line
    our_span: tuple[int, int] = (0, 0)

    @property
    def difference(self) -> float | None:
        if self.ours is None:
            return None
        return abs(_value(self.ours) - _value(self.published))

    @property
    def relative(self) -> float | None:
        """|ours - published| / |published| (None when not defined)."""
        d = self.difference
        p = abs(_value(self.published))
        if d is None or math.isnan(d) or p == 0:
            return None
        return d / p


def _value(text: str) -> float:
    from melogit_cli.verify.numbers import parse_number

    return parse_number(text)


def compare(
    published: list[Number],
    ours: list[Number],
    tolerance: dict[str, float],
    iterations: bool = False,
    nrtolerance: float = NRTOLERANCE,
) -> list[Comparison]:
    """Each published number (iteration logs only with ``iterations``) against ours.

    A published fit that converged by Stata's rule has a scaled gradient ``g' V g`` below
    ``nrtolerance``; its estimates are then within ``sqrt(nrtolerance)`` standard errors of
    the optimum (Cauchy-Schwarz on the Newton step ``V g``), on the estimation scale and, to
    first order, on the displayed one (odds ratios, variances).  Estimates may differ from
    ours by that much, and the Wald chi2 by ``2 sqrt(chi2 nrtolerance)``; 0 makes the rule
    strict.
    """
    converged = math.sqrt(max(nrtolerance, 0.0))
    by_label = {n.label: n for n in ours}
    rows = _rows(published)
    out: list[Comparison] = []
    last_chi2: tuple[Number, float] | None = None
    for num in published:
        if num.kind == "iter" and not iterations:
            continue
        mine = by_label.get(num.label)
        extra = tolerance.get(num.kind, 0.0) * _abs(num.value)
        if num.row:
            extra += _row_extra(num, rows[(num.line, num.row)], tolerance, converged)
        elif num.kind == "chi2":
            if num.label.startswith("Wald"):
                t = tolerance.get("b", 0.0) + tolerance.get("se", 0.0)
                extra += _abs(num.value) * 2 * t + 2 * math.sqrt(_abs(num.value) * nrtolerance)
            last_chi2 = (num, extra)
        elif num.kind == "p" and last_chi2 is not None:
            extra += _p_extra(*last_chi2)
            last_chi2 = None
        found = Comparison(
            num.line, num.label, num.kind, num.text, None, None, 0, False, (num.start, num.end)
        )
        if mine is not None:
            allowed = max(num.unit, mine.unit) * (1 + 1e-6) + extra
            a, b = num.value, mine.value
            ok = (math.isnan(a) and math.isnan(b)) or abs(a - b) <= allowed
            found = replace(
                found, ours=mine.text, our_line=mine.line, allowed=allowed, ok=ok,
                our_span=(mine.start, mine.end),
            )
        out.append(found)
    return out


def _abs(x: float) -> float:
    return 0.0 if math.isnan(x) else abs(x)


def _rows(numbers: list[Number]) -> dict[tuple[int, str], dict[str, Number]]:
    rows: dict[tuple[int, str], dict[str, Number]] = {}
    for num in numbers:
        if num.row:
            rows.setdefault((num.line, num.row), {})[num.column] = num
    return rows


def _row_extra(
    num: Number, row: dict[str, Number], tolerance: dict[str, float], converged: float
) -> float:
    """The tolerance a table cell inherits from the estimate and standard error of its row
    (``converged``: the estimate's allowance in standard errors, see :func:`compare`)."""
    est, se = row.get("b"), row.get("se")
    if est is None or num.column in ("se", ""):
        return 0.0
    b = est.value
    s = se.value if se is not None and not math.isnan(se.value) else 0.0
    allow_b = tolerance.get(est.kind, 0.0) * _abs(b) + converged * s
    t_se = tolerance.get("se", 0.0)
    if num.column == "b":
        return converged * s
    if allow_b == 0 and t_se == 0:
        return 0.0
    if num.column == "z":
        return (allow_b / s if s else 0.0) + _abs(num.value) * t_se
    if num.column == "p":
        z = row["z"].value if "z" in row else (b / s if s else math.nan)
        if math.isnan(z) or not s:
            return 0.0
        return 2 * _phi(z) * (allow_b / s + abs(z) * t_se)
    if num.column in ("lo", "hi"):
        bound = num.value
        if math.isnan(bound) or math.isnan(b):
            return 0.0
        spread = max(abs(bound - b), _Z95 * s)
        shift = allow_b
        if bound > 0 and b > 0:  # limits computed on the log scale (odds ratios, variances)
            spread = max(spread, abs(bound * math.log(bound / b)))
            shift = max(shift, abs(bound) * allow_b / b)
        return shift + t_se * spread
    return 0.0


def _phi(z: float) -> float:
    return math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)


def _p_extra(chi2: Number, chi2_extra: float) -> float:
    """The tolerance a chi2 test's p-value inherits from that of its statistic."""
    m = _DF_RE.search(chi2.label)
    x = chi2.value
    if not m or chi2_extra == 0 or math.isnan(x) or x <= 0:
        return 0.0
    k = int(m.group(1)) or 1
    log_pdf = (k / 2 - 1) * math.log(x) - x / 2 - (k / 2) * math.log(2) - math.lgamma(k / 2)
    return math.exp(log_pdf) * chi2_extra
