"""The start-up special functions against scipy.special."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.special as sc

from melogit_cli import special


@pytest.mark.parametrize("df", [1, 2, 3, 4, 5, 7, 10, 25, 60, 151])
def test_chi2_tail(df: int):
    for x in np.concatenate([[1e-10, 1e-3, 0.5], np.linspace(0.01, 400, 2000), [2e3, 1e4]]):
        ours, ref = special.chi2_tail(df, float(x)), float(sc.chdtrc(df, x))
        assert ours == pytest.approx(ref, rel=1e-12, abs=1e-300)
    assert special.chi2_tail(df, 0.0) == 1.0
    assert special.chi2_tail(df, np.inf) == 0.0


def test_chi2_tail_needs_whole_df():
    with pytest.raises(ValueError):
        special.chi2_tail(1.5, 2.0)


def test_normal_distribution_and_quantile():
    for z in np.linspace(-37, 37, 3001):
        assert special.ndtr(float(z)) == pytest.approx(float(sc.ndtr(z)), rel=1e-10, abs=1e-300)
    for p in np.concatenate([[1e-15, 1e-8], np.linspace(0.001, 0.999, 999), [1 - 1e-12]]):
        assert special.ndtri(float(p)) == pytest.approx(float(sc.ndtri(p)), rel=1e-13, abs=1e-14)
    assert special.ndtri(0.975) == pytest.approx(1.959963984540054, rel=1e-15)


def test_expit_and_logsumexp():
    x = np.linspace(-800, 800, 400_001)
    assert np.max(np.abs(special.expit(x) - sc.expit(x))) <= 2.3e-16
    a = np.random.default_rng(0).normal(0, 30, (200, 49))
    a[5] = -np.inf
    a[6, :3] = -np.inf
    assert np.allclose(special.logsumexp(a, axis=1), sc.logsumexp(a, axis=1), rtol=1e-14, atol=0)


def test_log_binomial_coefficients():
    r = np.array([1, 1, 5, 5, 5, 12, 40])
    y = np.array([0, 1, 0, 2, 5, 7, 13])
    ref = sc.gammaln(r + 1) - sc.gammaln(y + 1) - sc.gammaln(r - y + 1)
    assert np.allclose(special.log_binomial_coefficients(r, y), ref, rtol=1e-14, atol=1e-13)
    assert not special.log_binomial_coefficients(np.ones(4), np.array([0, 1, 1, 0])).any()
