"""``r(table)``: the statistics behind the coefficient table, one column per e(b) element.

Rows are Stata's: ``b se z pvalue ll ul df crit eform``.

* Fixed effects: ``z = b/se``, ``P = 2*normal(-|z|)``, CI ``b -+ z_crit*se``.  With ``eform``
  the first equation's rows become ``exp(b)``, ``exp(b)*se`` and ``exp()`` of the bounds;
  z and P are unchanged.
* ``var()`` rows: no z or P; CI ``[b/r, b*r]`` with ``r = exp(z_crit*se/b)`` (a Wald interval
  for ``log(b)`` mapped back).
* ``cov()`` rows: z, P and a symmetric Wald CI.

Base levels, omitted terms and zero standard errors leave z, P and the CI missing.
"""

from __future__ import annotations

import math

import numpy as np

from melogit_cli.results.eresults import EResults, Matrix
from melogit_cli.results.names import FREE_EQ, is_base_or_omitted, parse
from melogit_cli.special import ndtr, ndtri

ROWS = ["b", "se", "z", "pvalue", "ll", "ul", "df", "crit", "eform"]


def critical_value(level: float) -> float:
    """``invnormal(1 - (1 - level/100)/2)``."""
    return float(ndtri(1.0 - (1.0 - level / 100.0) / 2.0))


def coef_table(e: EResults, level: float = 95.0, eform: bool = False) -> Matrix:
    """Stata's ``r(table)`` for the results in ``e`` (a 9 x k matrix)."""
    b_mat = e.b
    cols = list(b_mat.colnames)
    b = np.asarray(b_mat.data, dtype=float).reshape(-1)
    k = b.size
    if "V" in e.matrices:
        v = np.diag(np.asarray(e.V.data, dtype=float).reshape(k, k)).copy()
    else:
        v = np.full(k, math.nan)
    df_r = e.scalars.get("df_r")  # survey results: t statistics on the design df
    crit = critical_value(level) if df_r is None else t_critical(level, df_r)
    parsed = [parse(c) for c in cols]
    eqs = [p.eq for p in parsed]
    first_eq = next((q for q in eqs if q != FREE_EQ), "")
    out = np.full((len(ROWS), k), math.nan)
    for j, pname in enumerate(parsed):
        eq, name = pname.eq, pname.name
        bj = float(b[j])  # Python floats: an overflowing interval end is inf, silently
        se = math.sqrt(v[j]) if np.isfinite(v[j]) and v[j] >= 0 else math.nan
        z = p = lo = hi = math.nan
        fixed = pname.kind == "fixed"
        marked = eq != FREE_EQ and is_base_or_omitted(name)
        usable = np.isfinite(bj) and np.isfinite(se) and se > 0 and not marked
        if marked:
            se = math.nan  # Stata leaves a base level's or omitted term's statistics missing
        if usable and eq == FREE_EQ and pname.kind == "var":
            if bj > 0:
                r = math.exp(min(crit * se / bj, 700.0))
                lo, hi = bj / r, bj * r
        elif usable:
            z = bj / se
            p = float(2.0 * ndtr(-abs(z))) if df_r is None else t_two_sided(z, df_r)
            lo, hi = bj - crit * se, bj + crit * se
        transformed = eform and eq != FREE_EQ and eq == first_eq and fixed
        if transformed:
            eb = math.exp(bj) if np.isfinite(bj) else math.nan
            se = eb * se if np.isfinite(se) else se
            bj = eb
            lo = math.exp(lo) if np.isfinite(lo) else lo
            hi = math.exp(hi) if np.isfinite(hi) else hi
        df = math.nan if df_r is None else df_r
        out[:, j] = [bj, se, z, p, lo, hi, df, crit, 1.0 if transformed else 0.0]
    rows = list(ROWS) if df_r is None else ["b", "se", "t", *ROWS[3:]]
    return Matrix(rows, cols, out)


def t_critical(level: float, df: float) -> float:
    """``invttail(df, (1 - level/100)/2)``."""
    from scipy.stats import t

    return float(t.isf((1.0 - level / 100.0) / 2.0, df))


def t_two_sided(stat: float, df: float) -> float:
    """``2*ttail(df, |t|)``."""
    from scipy.stats import t

    return float(2.0 * t.sf(abs(stat), df))
