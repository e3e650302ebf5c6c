"""The output header of ``melogit`` (Stata 18/19 layout).

::

    <blank>
    Mixed-effects logistic regression               Number of obs     =      1,934
    Group variable: district                        Number of groups  =         60
    <blank>
                                                    Obs per group:
                                                                  min =          2
                                                                  avg =       32.2
                                                                  max =        118
    <blank>
    Integration method: mvaghermite                 Integration pts.  =          7
    <blank>
                                                    Wald chi2(5)      =     109.60
    Log likelihood = -1206.8322                     Prob > chi2       =     0.0000

Right-hand labels start in column 49, ``=`` sits in column 67 and the numbers end in
column 78.  Several grouping levels print the "Grouping information" table instead.
"""

from __future__ import annotations

import math

import numpy as np

from melogit_cli.render.formats import fmt
from melogit_cli.render.terms import abbrev
from melogit_cli.results.eresults import EResults
from melogit_cli.special import chi2_tail


def col(line: str, column: int, text: str) -> str:
    """Append ``text`` starting at 1-based ``column`` (SMCL's ``_col()``: never moves back)."""
    return line.ljust(column - 1) + text


def _right(line: str, label: str, value: str) -> str:
    """``label`` at column 49, ``=`` at 67 and ``value`` (10 wide) ending in column 78."""
    return col(col(col(line, 49, label), 67, "="), 69, value)


def _stat(label: str, value: str) -> str:
    """``min``/``avg``/``max`` at column 63 under "Obs per group:"."""
    return col(col(col("", 63, label), 67, "="), 69, value)


def _levels(e: EResults) -> list[str]:
    out: list[str] = []
    for name in e.macros.get("ivars", "").split():
        if name not in out:
            out.append(name)
    return out


def _gstat(e: EResults, key: str, i: int) -> float:
    """Element ``i`` of e(N_g)/e(g_min)/..., found by the level's name when it is a colname."""
    m = e.matrices.get(key)
    if m is None:
        return math.nan
    levels = _levels(e)
    if i < len(levels) and levels[i] in m.colnames:
        i = list(m.colnames).index(levels[i])
    data = np.asarray(m.data, dtype=float).reshape(-1)
    return float(data[i]) if i < data.size else math.nan


def _gfmt(e: EResults, key: str, spec: str, i: int = 0) -> str:
    return fmt(_gstat(e, key, i), spec)


def group_lines(e: EResults) -> list[str]:
    """Group-size block: one level in the right column, several as a table."""
    levels = _levels(e)
    if not levels or not e.scalars.get("k_r", 1):
        return []
    if len(levels) == 1:
        name = abbrev(levels[0], 14)
        return [
            _right(f"Group variable: {name}", "Number of groups", _gfmt(e, "N_g", "%10.0gc")),
            "",
            col("", 49, "Obs per group:"),
            _stat("min", _gfmt(e, "g_min", "%10.0gc")),
            _stat("avg", _gfmt(e, "g_avg", "%10.1fc")),
            _stat("max", _gfmt(e, "g_max", "%10.0gc")),
            "",
        ]
    lines = [
        "",
        "Grouping information",
        "-" * 61,
        col(col(col("", 17, "|"), 23, "No. of"), 36, "Observations per group"),
        " Group variable |     groups    Minimum    Average    Maximum",
        "-" * 16 + "+" + "-" * 44,
    ]
    for i, name in enumerate(levels):
        lev = abbrev(name, 12)
        lines.append(
            lev.rjust(15)
            + " |"
            + "   "
            + _gfmt(e, "N_g", "%8.0gc", i)
            + "  "
            + _gfmt(e, "g_min", "%9.0gc", i)
            + "  "
            + _gfmt(e, "g_avg", "%9.1fc", i)
            + "  "
            + _gfmt(e, "g_max", "%9.0gc", i)
        )
    lines += ["-" * 61, ""]
    return lines


def crit_label(e: EResults) -> str:
    """``Log likelihood``, or ``Log pseudolikelihood`` with robust standard errors."""
    crit = e.macros.get("crittype", "")
    if crit:
        return crit[:1].upper() + crit[1:]
    if e.macros.get("vce", "oim") in ("robust", "cluster") or e.macros.get("wtype") == "pweight":
        return "Log pseudolikelihood"
    return "Log likelihood"


def header_lines(e: EResults, nogroup: bool = False) -> list[str]:
    """The header, starting with its blank line.

    ``svy:`` results get the survey header alone (Stata's ``_me_display`` hands them to
    ``_prefix_display``, whose header is ``_coef_table_header``: no group table, no
    integration method) and a blank line before the table."""
    s, m = e.scalars, e.macros
    title = m.get("title") or "Mixed-effects logistic regression"
    if m.get("prefix") == "svy":
        lines = ["", f"Survey: {title}", ""] + survey_lines(e)
        if s.get("estimates", 1) != 0:
            lines += f_test_lines(e)
        return lines + [""]
    lines = ["", _right(title, "Number of obs", fmt(s.get("N", math.nan), "%10.0gc"))]
    binom = m.get("binomial", "")
    if binom:
        try:
            float(binom)
            lines.append(f"Binomial trials: {binom}")
        except ValueError:
            lines.append(f"Binomial variable: {abbrev(binom, 12)}")
    if nogroup:
        lines.append("")
    else:
        lines += group_lines(e) or [""]
    intm = m.get("intmethod", "")
    if s.get("k_r", 1) and intm:
        line = f"Integration method: {intm}"
        if intm not in ("laplace", "pclaplace") and m.get("n_quad", ""):
            line = col(col(line, 49, "Integration pts."), 67, "=")
            line = line.ljust(78 - len(m["n_quad"])) + m["n_quad"]
        lines.append(line)
    lines.append("")
    if s.get("estimates", 1) == 0:
        return lines
    df_m = s.get("df_m", math.nan)
    chi2 = s.get("chi2", math.nan)
    p = s.get("p", math.nan)
    if math.isnan(p) and not math.isnan(chi2) and not math.isnan(df_m) and df_m > 0:
        p = float(chi2_tail(df_m, chi2))
    df_text = fmt(df_m, "%9.0g").strip()
    chi2type = m.get("chi2type") or "Wald"
    wald = col(col("", 49, f"{chi2type} chi2({df_text})"), 67, "=")
    lines.append(col(wald, 70, fmt(chi2, "%9.2f")))
    ll_text = fmt(s.get("ll", math.nan), "%10.0g").strip()
    left = f"{crit_label(e)} = {ll_text}"
    lines.append(col(col(col(left, 49, "Prob > chi2"), 67, "="), 73, fmt(p, "%6.4f")))
    return lines


def _survey_columns(e: EResults) -> tuple[int, int, int]:
    """Where the right column's labels and ``=`` go and its values' width: Stata's
    ``_coef_table_header`` moves them left as far as a long population size needs."""
    pop = fmt(e.scalars.get("N_pop", math.nan), "%19.0fc").strip()
    length = len(pop) + 1
    if 10 <= length <= 20:
        return 49 + 10 - length, 67 + 10 - length, length
    return 49, 67, 10


def survey_lines(e: EResults) -> list[str]:
    """The design block of ``svy:`` results: strata, PSUs, population size, design df."""
    s = e.scalars
    c3, c4, w = _survey_columns(e)

    def count(name: str) -> str:
        return "= " + fmt(s.get(name, math.nan), f"%{w}.0fc")

    def total(name: str) -> str:
        return "=" + fmt(s.get(name, math.nan), f"%{w + 1}.0gc")

    right = [("Number of obs", count("N")), ("Population size", total("N_pop"))]
    if "N_sub" in s:
        right += [("Subpop. no. obs", "=" + fmt(s["N_sub"], f"%{w + 1}.0fc")),
                  ("Subpop. size", total("N_subpop"))]
    right.append(("Design df", count("df_r")))
    left = [
        f"Number of strata = {fmt(s.get('N_strata', math.nan), '%15.0gc').strip()}",
        f"Number of PSUs   = {fmt(s.get('N_psu', math.nan), '%15.0gc').strip()}",
    ] + [""] * (len(right) - 2)
    rows = zip(left, right, strict=True)
    return [col(col(lt, c3, label), c4, value) for lt, (label, value) in rows]


def f_test_lines(e: EResults) -> list[str]:
    """``F(k, d) =`` and ``Prob > F =``: the design-adjusted Wald test of svy results."""
    s = e.scalars
    c3, c4, w = _survey_columns(e)
    k = fmt(s.get("df_m", math.nan), "%9.0g").strip()
    d = fmt(s.get("df2", math.nan), "%9.0g").strip()
    f_line = col(col("", c3, f"F({k}, {d})"), c4, "= " + fmt(s.get("F", math.nan), f"%{w}.2f"))
    p_line = col(col("", c3, "Prob > F"), c4, "= " + fmt(s.get("p", math.nan), f"%{w}.4f"))
    return [f_line, p_line]
