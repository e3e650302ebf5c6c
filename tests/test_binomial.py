"""Binomial form and weights give the same estimates as the expanded Bernoulli data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import DATA

from melogit_cli.api import fit

MODEL = "|| district:, nolog"


@pytest.fixture(scope="module")
def bernoulli():
    df = pd.read_csv(DATA / "bangladesh.csv")
    return df, fit(f"melogit c_use i.urban {MODEL}", df)


def test_binomial_form_matches_bernoulli(bernoulli):
    df, r = bernoulli
    grouped = df.groupby(["district", "urban"], as_index=False).agg(
        succ=("c_use", "sum"), n=("c_use", "size")
    )
    rb = fit(f"melogit succ i.urban {MODEL} binomial(n)", grouped)
    for name, value in r.params.items():
        assert rb.params[name.replace("c_use:", "succ:")] == pytest.approx(value, abs=1e-6)
    # the log likelihoods differ by the sum of log binomial coefficients
    from scipy.special import gammaln

    const = np.sum(
        gammaln(grouped.n + 1) - gammaln(grouped.succ + 1) - gammaln(grouped.n - grouped.succ + 1)
    )
    assert rb.ll == pytest.approx(r.ll + const, abs=1e-6)
    assert rb.e.macros["family"] == "binomial" and rb.e.macros["binomial"] == "n"


def test_frequency_weights_match_expanded_data(bernoulli):
    df, r = bernoulli
    counted = df.groupby(["district", "urban", "c_use"], as_index=False).size()
    rw = fit(f"melogit c_use i.urban [fweight=size] {MODEL}", counted)
    for name, value in r.params.items():
        assert rw.params[name] == pytest.approx(value, abs=1e-6)
    assert rw.ll == pytest.approx(r.ll, abs=1e-6)
    assert rw.e.scalars["N"] == len(df)  # Stata counts frequency-weighted observations


def test_constant_trials(bernoulli):
    df, r = bernoulli
    rb = fit(f"melogit c_use i.urban {MODEL} binomial(1)", df)
    assert rb.ll == pytest.approx(r.ll, abs=1e-9)
