"""``dnumerical`` differentiates the same function as the default derivatives and so finds
the same estimates, for every engine and integration method.

Both fits run with tight convergence tolerances, so that what is compared is the maximum
of the function each differentiates rather than where each run happened to stop (with
the default tolerances two runs stop about 1e-5 standard errors apart).  Larger cases
run on part of their data to keep the test fast.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import DATA

from melogit_cli.api import fit

TIGHT = "tolerance(1e-10) ltolerance(1e-12) nrtolerance(1e-10)"


def _bangladesh(districts: int | None = None) -> pd.DataFrame:
    df = pd.read_csv(DATA / "bangladesh.csv")
    return df if districts is None else df[df["district"] <= districts]


def _fife() -> pd.DataFrame:
    df = pd.read_csv(DATA / "fifeschool.csv")
    df["attain_gt_6"] = (df["attain"] > 6).astype(np.int8)
    return df


def _guimmun(clusters: int) -> pd.DataFrame:
    df = pd.read_csv(DATA / "guimmun.csv")
    keep = np.sort(df["cluster"].unique())[:clusters]
    return df[df["cluster"].isin(keep)]


def _binomial() -> pd.DataFrame:
    df = pd.read_csv(DATA / "bangladesh.csv")
    return df.groupby(["district", "urban"], as_index=False).agg(
        succ=("c_use", "sum"), n=("c_use", "size")
    )


CASES = {
    "example 1": ("c_use i.urban age i.children || district:", lambda: _bangladesh()),
    "example 2, unstructured": (
        "c_use i.urban age i.children || district: urban, covariance(unstructured)",
        lambda: _bangladesh(30),
    ),
    "hospital": ("dropout || hosp:", lambda: pd.read_csv(DATA / "hospital.csv")),
    "guimmun, three levels, 7 points": (
        "immun kid2p rural || cluster: || mom:", lambda: _guimmun(40)
    ),
    "example 5, crossed": ("attain_gt_6 sex || _all:R.sid || pid:", _fife),
    "binomial trials": ("succ urban || district:, binomial(n)", _binomial),
    "Laplace": ("c_use i.urban age i.children || district:, intmethod(laplace)",
                lambda: _bangladesh()),
    "two adaptive points": ("c_use urban age || district:, intpoints(2)",
                            lambda: _bangladesh()),
}


@pytest.mark.parametrize("case", list(CASES))
def test_dnumerical_finds_the_default_estimates(case):
    model, data = CASES[case]
    df = data()
    sep = " " if "," in model else ", "
    exact = fit(f"melogit {model}{sep}{TIGHT}", df)
    numerical = fit(f"melogit {model}{sep}{TIGHT} dnumerical", df)
    assert exact.converged and numerical.converged
    assert numerical.llf == pytest.approx(exact.llf, rel=1e-10)
    for name, value in exact.params.items():
        assert numerical.params[name] == pytest.approx(value, rel=1e-6, abs=1e-12), name
    if "R." in model:
        return  # the crossed engine's Hessian is not the second difference of its
        # Laplace likelihood (standard errors 0.4% apart): only the estimates must agree
    for name, se in exact.bse.items():
        assert numerical.bse[name] == pytest.approx(se, rel=1e-3, abs=1e-12), name
