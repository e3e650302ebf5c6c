"""Fits that cannot converge end in bounded time, as Stata's maximizer does.

A flat region (a variance heading to a boundary, a singular random-effects covariance)
ends after a run of iterations without progress with ``convergence not achieved``;
collinear random-effects columns are omitted up front with Stata's note.
"""

from __future__ import annotations

import pandas as pd
from conftest import DATA

from melogit_cli.api import fit


def _bangladesh(max_district: int) -> pd.DataFrame:
    df = pd.read_csv(DATA / "bangladesh.csv")
    return df[df.district <= max_district].reset_index(drop=True)


def test_collinear_random_slopes_are_omitted_with_statas_note():
    df = _bangladesh(20)
    df["age2"] = 2 * df.age
    r = fit("melogit c_use urban age || district: age age2, cov(un)", df)
    assert "note: age2 omitted because of collinearity." in r.notes
    assert [k for k in r.params if "age2" in k] == []
    assert "/:var(age[district])" in r.params


def test_a_random_slope_collinear_with_the_constant_is_omitted():
    r = fit(
        "melogit c_use i.urban##c.age || district: ib(last).urban urban, cov(un)",
        _bangladesh(20),
    )
    assert "note: urban omitted because of collinearity." in r.notes
    assert "/:var(0.urban[district])" in r.params
    assert not [k for k in r.params if k.startswith("/:var(urban")]
