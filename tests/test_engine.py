"""The seam between the estimation and the likelihood engines."""

from __future__ import annotations

import pytest
from conftest import fitted

EX1 = "melogit c_use i.urban age i.children || district:"


def test_laplace_with_numerical_derivatives():
    """``intmethod(laplace) dnumerical`` fits the Laplace likelihood by differences of it
    (it crashed: the floor of a line search reached the engine as its mode start)."""
    exact = fitted(f"{EX1}, intmethod(laplace)", "bangladesh.dta")
    numerical = fitted(f"{EX1}, intmethod(laplace) dnumerical", "bangladesh.dta")
    assert numerical.converged
    assert numerical.ll == pytest.approx(exact.ll, rel=1e-10)
    for name, value in exact.params.items():
        assert numerical.params[name] == pytest.approx(value, abs=1e-5)
    for name, se in exact.bse.items():
        assert numerical.bse[name] == pytest.approx(se, rel=1e-2, abs=1e-12)
