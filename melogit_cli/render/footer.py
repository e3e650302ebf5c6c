"""What follows the table: the eform notes, the LR test against logistic regression, and
the convergence warning.

::

    Note: Estimates are transformed only in the first equation to odds ratios.
    Note: _cons estimates baseline odds (conditional on zero random effects).
    LR test vs. logistic model: chi2(2) = 17.54               Prob > chi2 = 0.0002
    <blank>
    Note: LR test is conservative and provided only for reference.

With one variance component the LR line reads
``LR test vs. logistic model: chibar2(01) = 43.39     Prob >= chibar2 = 0.0000``
("Prob" in column 55 instead of 59; the p-value always ends in column 78).
"""

from __future__ import annotations

import math
import textwrap

from melogit_cli.render.formats import fmt
from melogit_cli.render.header import col
from melogit_cli.render.terms import parse_term
from melogit_cli.results.eresults import EResults
from melogit_cli.results.names import FREE_EQ, parse, split_colname
from melogit_cli.special import chi2_tail


def wrap_note(text: str, linesize: int = 80, indent: int = 6) -> list[str]:
    """SMCL's ``{p 0 6 2}``: wrap at the line size with a hanging indent."""
    width = max(linesize - 2, 20)
    return textwrap.wrap(
        text, width=width, subsequent_indent=" " * indent, break_on_hyphens=False
    ) or [""]


def has_constant(e: EResults) -> bool:
    """True when the fixed-effects equation keeps a ``_cons`` that is not omitted."""
    for c in e.b.colnames:
        p = parse(c)
        if p.kind == "fixed" and p.eq != FREE_EQ and p.term.split(".")[-1] == "_cons":
            return not parse_term(p.term).omitted
    return False


def eform_notes(e: EResults, linesize: int = 80) -> list[str]:
    """The two notes Stata prints under an odds-ratio table."""
    lines: list[str] = []
    if any(split_colname(c)[0] == FREE_EQ for c in e.b.colnames):
        lines += wrap_note(
            "Note: Estimates are transformed only in the first equation to odds ratios.", linesize
        )
    if has_constant(e):
        lines += wrap_note(
            "Note: _cons estimates baseline odds (conditional on zero random effects).", linesize
        )
    return lines


def _chi2_text(chi2: float) -> str:
    spec = "%8.2f" if (0.005 < chi2 < 1e5) or chi2 == 0 else "%8.2e"
    return fmt(chi2, spec).strip()


def lr_test_lines(e: EResults, linesize: int = 80) -> list[str]:
    """The LR test vs. logistic regression, or nothing when Stata leaves it out."""
    s, m = e.scalars, e.macros
    ll, ll_c = s.get("ll", math.nan), s.get("ll_c", math.nan)
    if math.isnan(ll_c) or math.isnan(ll) or not s.get("k_r", 1):
        return []
    if m.get("vce", "oim") not in ("", "oim") or s.get("converged", 1) == 0:
        return []
    if s.get("has_cns", 0) or s.get("estimates", 1) == 0:
        return []
    df = s.get("df_c", math.nan)
    chi2 = s.get("chi2_c", math.nan)
    if math.isnan(chi2):
        chi2 = max(0.0, 2.0 * (ll - ll_c))
    p = s.get("p_c", math.nan)
    msg = f"LR test vs. {m.get('model') or 'logistic'} model: "
    chi = _chi2_text(chi2)
    if df == 1:
        if math.isnan(p):
            p = 0.5 * float(chi2_tail(1, chi2)) if chi2 > 0 else 1.0
        line = col(col(msg + f"chibar2(01) = {chi}", 55, "Prob >= chibar2 = "), 73, fmt(p, "%6.4f"))
        return [line]
    if math.isnan(p) and not math.isnan(df):
        p = float(chi2_tail(df, chi2))
    df_text = fmt(df, "%9.0g").strip()
    line = col(col(msg + f"chi2({df_text}) = {chi}", 59, "Prob > chi2 ="), 73, fmt(p, "%6.4f"))
    return [
        line,
        "",
        *wrap_note("Note: LR test is conservative and provided only for reference.", linesize),
    ]


def convergence_lines(e: EResults) -> list[str]:
    """Stata's warning after a fit that stopped without converging."""
    if e.scalars.get("converged", 1) == 0:
        return ["Warning: Convergence not achieved."]
    return []
