"""Empty cells of an interaction: kept in e(b) as omitted columns, shown ``(empty)``, and
hidden by ``noemptycells``, as Stata's _rmcoll and coefficient table do."""

from __future__ import annotations

import pandas as pd
from conftest import DATA

from melogit_cli.api import fit
from melogit_cli.render import render_results

MODEL = "melogit c_use i.urban#i.children || district:"


def _data() -> pd.DataFrame:
    df = pd.read_stata(DATA / "bangladesh.dta", convert_categoricals=False)
    df = df[df["district"] <= 12]
    # no urban woman with 3 or more children: the cell 1.urban#3.children is empty
    return df[~((df["urban"] == 1) & (df["children"] == 3))].reset_index(drop=True)


DF = _data()


def _table(options: str = "") -> tuple[str, object]:
    res = fit(f"{MODEL}{options}", DF, log=True)
    return res.log, res, render_results(res.e, res.options, 80)


def test_an_empty_cell_is_noted_kept_in_eb_and_shown_empty() -> None:
    log, res, text = _table()
    assert "note: 1.urban#3.children identifies no observations in the sample." in log
    assert "c_use:1o.urban#3o.children" in res.e.b.colnames
    assert "        1 3  |          0  (empty)\n" in text
    assert "(omitted)" not in text


def test_noemptycells_hides_the_row_only() -> None:
    _, res, text = _table()
    _, res_no, text_no = _table(", noemptycells")
    assert "(empty)" not in text_no
    assert "        1 2  |   2.870112" in text_no
    # the rest of the table is unchanged, e(b) too
    dropped = [line for line in text.splitlines() if "(empty)" not in line]
    assert dropped == text_no.splitlines()
    assert res_no.e.b.colnames == res.e.b.colnames
