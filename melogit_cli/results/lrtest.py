"""The likelihood-ratio test of two nested models (``lrtest``), from their e() results."""

from __future__ import annotations

import math
from dataclasses import dataclass

from melogit_cli.errors import StataError
from melogit_cli.render.formats import fmt
from melogit_cli.results.eresults import EResults
from melogit_cli.results.names import parse
from melogit_cli.special import chi2_tail


@dataclass
class LRTest:
    """``LR chi2(df) = chi2``, ``Prob > chi2 = p``; ``restricted`` nested in ``unrestricted``."""

    chi2: float
    df: float
    p: float
    restricted: str
    unrestricted: str
    boundary: bool  # the unrestricted model adds variances: the test is conservative


def model_df(e: EResults) -> float:
    """The model's degrees of freedom: e(rank), else e(k)."""
    rank = e.scalars.get("rank")
    return float(rank if rank is not None else e.scalars.get("k", len(e.b.colnames)))


def _var_names(e: EResults) -> set[str]:
    return {p.name for p in map(parse, e.b.colnames) if p.kind == "var"}


def lrtest(
    e1: EResults, e2: EResults, names: tuple[str, str] = ("A", "B"), *,
    df: float | None = None, force: bool = False,
) -> LRTest:
    """Compare two fits; the one with fewer parameters is the restricted model.

    Without ``force``: robust variances, different dependent variables or samples, and a
    restricted model with the larger log likelihood are refused with Stata's r(498).
    """
    n1, n2 = names
    if not force:
        for e in (e1, e2):
            if e.macros.get("vce") not in (None, "", "oim", "opg"):
                raise StataError("LR test likely invalid for models with robust vce", 498)
        if e1.macros.get("depvar") != e2.macros.get("depvar"):
            raise StataError(
                "models are not nested: the dependent variables differ "
                f"({e1.macros.get('depvar')} vs. {e2.macros.get('depvar')})",
                498,
            )
        N1, N2 = e1.scalars.get("N"), e2.scalars.get("N")
        if N1 != N2:
            raise StataError(
                f"observations differ: {fmt(N1, '%12.0g').strip()} vs. "
                f"{fmt(N2, '%12.0g').strip()}",
                498,
            )
    df1, df2 = model_df(e1), model_df(e2)
    if df1 == df2 and df is None:
        raise StataError(f"df(unrestricted) = df(restricted) = {fmt(df1, '%9.0g').strip()}", 498)
    if df1 > df2:
        (n1, e1, df1), (n2, e2, df2) = (n2, e2, df2), (n1, e1, df1)
    ll0, ll1 = e1.scalars["ll"], e2.scalars["ll"]
    if not force and ll0 > ll1 + 1e-6 * (1 + abs(ll1)):
        raise StataError(
            f"models are not nested: the restricted model {n1} has the larger log likelihood",
            498,
        )
    dof = float(df) if df is not None else df2 - df1
    chi2 = max(0.0, 2.0 * (ll1 - ll0))
    p = float(chi2_tail(dof, chi2)) if dof > 0 else math.nan
    return LRTest(chi2, dof, p, n1, n2, bool(_var_names(e2) - _var_names(e1)))
