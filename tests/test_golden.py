"""Golden tests against the published and computed references (fixtures/reference)."""

from __future__ import annotations

import math

import pytest
from conftest import fitted, lme4, reference

from melogit_cli.render.formats import fmt


def _coef(r, depvar: str, name: str) -> float:
    return r.params[f"{depvar}:{name}"]


def _se(r, depvar: str, name: str) -> float:
    return r.bse[f"{depvar}:{name}"]


class TestBangladeshExample1:
    """The manual's example 1 on the bundled file, against lme4's 7-point AGQ fit."""

    ref = reference("bangladesh_example1")

    @pytest.fixture
    def r(self):
        return fitted(self.ref["command"], "bangladesh.dta")

    def test_loglik(self, r):
        assert abs(r.ll - self.ref["loglik"]) < 1e-4
        assert r.converged

    def test_coefficients(self, r):
        for name, value in self.ref["coef"].items():
            assert abs(_coef(r, "c_use", name) - value) <= 5e-5 * abs(value), name

    def test_variance(self, r):
        ours = r.params["/:var(_cons[district])"]
        assert abs(ours - self.ref["var(_cons[district])"]) < 2e-6

    def test_standard_errors(self, r):
        # glmer's standard errors come from a finite-difference Hessian
        for name, value in self.ref["se"].items():
            assert abs(_se(r, "c_use", name) - value) <= 2e-5 * value, name

    def test_printed_table(self, r):
        text = r.table(nofvlabel=True)
        assert (
            "     1.urban |   .7324134   .1194816     6.13   0.000     .4982338    .9665931" in text
        )
        assert (
            "   var(_cons)|   .2154978   .0732908                      .1106495    .4196974" in text
        )
        assert "LR test vs. logistic model: chibar2(01) = 43.38" in text


class TestHospitalLr2:
    """lr2's worked example: 12-point non-adaptive Gauss-Hermite quadrature."""

    ref = reference("hospital_lr2_ghermite12")

    @pytest.fixture
    def r(self):
        return fitted(self.ref["command"], "hospital.dta")

    def test_loglik(self, r):
        assert abs(r.ll - self.ref["loglik"]) < 1e-6

    def test_against_lr2(self, r):
        # lr2 stops at S's relative-function convergence; its eighth digits wander by ~1e-6
        for name, value in self.ref["coef"].items():
            assert abs(_coef(r, "hosp", name) - value) < 1.5e-6, name
        for name, value in self.ref["se"].items():
            assert abs(_se(r, "hosp", name) - value) < 3e-7, name
        var = r.params["/:var(_cons[mother])"]
        assert abs(math.sqrt(var) - self.ref["sigma"]) < 1.5e-6

    # Stata's xtlogit output for the same model, as printed in the lr3 notes (seed)
    STATA = {
        "loginc": (".5620118", ".0726935"),
        "distance": ("-.0766127", ".0323459"),
        "dropout": ("-1.997532", ".2557338"),
        "college": ("1.033677", ".3884649"),
        "_cons": ("-3.368159", ".4789281"),
    }

    def test_every_printed_digit_of_stata(self, r):
        for name, (coef, se) in self.STATA.items():
            assert fmt(_coef(r, "hosp", name), "%9.0g").strip() == coef, name
            assert fmt(_se(r, "hosp", name), "%9.0g").strip() == se, name
        sigma = math.sqrt(r.params["/:var(_cons[mother])"])
        assert fmt(sigma, "%9.0g").strip() == "1.242929"


class TestHospitalAgainstLme4:
    """12-point adaptive quadrature against lme4's glmer(nAGQ = 12)."""

    ref = lme4("hospital_agq12")

    def test_default_method_loglik(self):
        r = fitted(
            "melogit hosp loginc distance dropout college || mother:, intpoints(12)", "hospital.dta"
        )
        assert abs(r.ll - self.ref["loglik"]) < 1e-5

    def test_mode_curvature_is_lme4s_method(self):
        r = fitted(
            "melogit hosp loginc distance dropout college || mother:,"
            " intmethod(mcaghermite) intpoints(12)",
            "hospital.dta",
        )
        assert abs(r.ll - self.ref["loglik"]) < 1e-8
        for name, value in self.ref["coef"].items():
            assert abs(_coef(r, "hosp", name) - value) < 2e-5 * max(1, abs(value)), name
        var = r.params["/:var(_cons[mother])"]
        assert abs(var - self.ref["var"]["var(_cons[mother])"]) < 2e-5


LAPLACE_CASES = {
    "hospital_laplace": (
        "melogit hosp loginc distance dropout college || mother:, intmethod(laplace)",
        "hospital.dta",
    ),
    "bangladesh_laplace": (
        "melogit c_use i.urban age i.children || district:, intmethod(laplace)",
        "bangladesh.dta",
    ),
    "bangladesh_slope_laplace": (
        "melogit c_use i.urban age i.children || district: urban, cov(un) intmethod(laplace)",
        "bangladesh.dta",
    ),
    "bangladesh_slope_indep_laplace": (
        "melogit c_use i.urban age i.children || district: urban, intmethod(laplace)",
        "bangladesh.dta",
    ),
}


@pytest.mark.parametrize("case", sorted(LAPLACE_CASES))
def test_laplace_against_lme4(case: str):
    """The Laplace approximation against lme4's (refined) glmer(nAGQ = 1) fits."""
    command, data = LAPLACE_CASES[case]
    ref = lme4(case)
    r = fitted(command, data)
    depvar = command.split()[1]
    # lme4's deviance is a little noisy (its own points come out up to ~3e-5 low)
    assert r.ll >= ref["loglik"] - 1e-9
    assert r.ll - ref["loglik"] < 1e-6
    for name, value in ref["coef"].items():
        assert abs(_coef(r, depvar, name) - value) < 2e-5, name
    for name, value in ref["var"].items():
        assert abs(r.params[f"/:{name}"] - value) < 2e-5 * max(1.0, abs(value)), name
    for name, value in ref["se"].items():
        assert abs(_se(r, depvar, name) / value - 1) < 5e-5, name
