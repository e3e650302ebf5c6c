"""technique() with switching, and the maximizer's display options."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import DATA

from melogit_cli.api import fit
from melogit_cli.engine.events import Detail
from melogit_cli.engine.optimize.newton import Schedule
from melogit_cli.render.iterlog import detail_lines
from melogit_cli.syntax.optargs import technique_steps

EX1 = "melogit c_use i.urban age i.children || district:"
SMALL = "melogit c_use age if district<=10 || district:"


@pytest.fixture(scope="module")
def nr():
    return fit(EX1, DATA / "bangladesh.dta", log=True)


def test_technique_list_and_schedule() -> None:
    assert technique_steps("bhhh 5 nr 10") == (("bhhh", 5), ("nr", 10))
    assert technique_steps("bhhh nr") == (("bhhh", 5), ("nr", 5))
    assert technique_steps(None) == (("nr", 5),)
    s = Schedule((("bhhh", 2), ("nr", 1)))
    names = []
    for _ in range(5):
        names.append(s.name)
        s.advance()
    assert names == ["bhhh", "bhhh", "nr", "bhhh", "bhhh"]


@pytest.mark.parametrize("technique", ["bhhh 5 nr 10", "bfgs", "dfp 3 nr", "nr 2 bfgs 3"])
def test_techniques_reach_the_newton_optimum(nr, data_dir, technique) -> None:
    res = fit(f"{EX1}, technique({technique})", data_dir / "bangladesh.dta", log=True)
    assert res.converged
    assert res.ll == pytest.approx(nr.ll, abs=1e-6)
    np.testing.assert_allclose(res.params.to_numpy(), nr.params.to_numpy(), atol=1e-4)


def test_switching_is_logged(data_dir) -> None:
    log = fit(f"{EX1}, technique(bhhh 5 nr 10)", data_dir / "bangladesh.dta", log=True).log
    lines = log.splitlines()
    full = lines.index("Fitting full model:")
    assert lines[full + 2] == "(setting technique to bhhh)"
    assert lines[full + 3].startswith("Iteration 0:")
    switch = lines.index("(switching technique to nr)")
    assert lines[switch - 1].startswith("Iteration 4:")
    assert lines[switch + 1].startswith("Iteration 5:")
    one = fit(f"{EX1}, technique(nr)", data_dir / "bangladesh.dta", log=True).log
    assert "technique" not in one


def _log(data_dir, options: str) -> str:
    return fit(f"{SMALL}, {options}", data_dir / "bangladesh.dta", log=True).log


def test_trace_shows_the_parameter_vector(data_dir) -> None:
    log = _log(data_dir, "trace")
    lines = log.splitlines()
    i = lines.index("Parameter vector:")
    assert lines[i - 1] == "Iteration 0:"
    assert lines[i + 1].split() == ["c_use:", "c_use:", "/:"]
    # e(b)'s names and metric: the variance itself, 1 at the start (abbreviated as Stata's
    # abbrev() does to the 12 characters of the column)
    assert lines[i + 2].split() == ["age", "_cons", "var(_cons[~)"]
    assert lines[i + 3].split()[-1] == "1"
    assert lines[i + 3].startswith("r1 ")
    assert " " * 51 + "Log likelihood = -230.03945" in lines
    assert "-" * 78 in lines and "Iteration 1:" in lines
    assert "Gradient" not in log


def test_gradient_hessian_showstep_showtolerance(data_dir) -> None:
    log = _log(data_dir, "gradient")
    assert "Gradient vector (length = " in log and "Hessian" not in log
    log = _log(data_dir, "hessian")
    lines = log.splitlines()
    i = lines.index("Hessian matrix:")
    assert lines[i + 3].split()[0] == "c_use:age"
    log = _log(data_dir, "showstep")
    assert "Parameters + step -> new parameters" in log
    assert " " * 59 + "(initial step good)" in log.splitlines()
    assert any(line.startswith("Gradient length       =") for line in log.splitlines())
    log = _log(data_dir, "showtolerance")
    tol = [line for line in log.splitlines() if line.lstrip().startswith(("vtol", "ptol", "g inv"))]
    assert tol and tol[-1].startswith(" " * 14 + "g inv(H) g' ")


def test_detail_layouts() -> None:
    assert detail_lines(Detail("head", number=0)) == ["Iteration 0:"]
    assert detail_lines(Detail("head", number=2)) == ["-" * 78, "Iteration 2:"]
    assert detail_lines(Detail("value", value=-1.5, text="(not concave)")) == [
        " " * 51 + "Log likelihood =       -1.5",
        " " * 65 + "(not concave)",
    ]
    assert detail_lines(Detail("gradient", vector=(3.0, 4.0))) == [
        "Gradient length       =        5"
    ]
    assert detail_lines(Detail("halving", number=1, value=-2.0, length=0.5)) == [
        "(1) Reducing step size, step length =       .5",
        " " * 51 + "Log likelihood =         -2",
    ]
    assert detail_lines(Detail("tolerance", value=1e-3, text="vtol")) == [
        " " * 14 + "vtol" + " " * 11 + "=       .001"
    ]


def test_iterate0_stops_at_the_start(data_dir) -> None:
    res = fit(f"{SMALL}, iterate(0)", data_dir / "bangladesh.dta", log=True)
    assert not res.converged
    assert "Iteration 1:" not in res.log.split("Fitting full model:")[1]
    assert "convergence not achieved" in res.log


def test_trace_labels_and_metric_of_an_unstructured_model(data_dir) -> None:
    model = "melogit c_use age if district<=10 || district: urban, cov(unstructured)"
    log = fit(f"{model} trace iterate(0)", data_dir / "bangladesh.dta", log=True).log
    lines = log.splitlines()
    i = lines.index("Parameter vector:")
    header = " ".join(lines[i + 1 : i + 3])
    assert "var(urban[~)" in header and "var(_cons[~)" in header and "cov(urban[~)" in header
    # the start: both variances 1, the covariance 0
    assert lines[i + 3].split()[-3:] == ["1", "1", "0"]


def test_shown_metric_derivatives_are_those_of_the_reported_parameters() -> None:
    """Gradient and Hessian mapped to (var, cov) equal central differences in that metric."""
    from melogit_cli.engine.model.covariance import CovBlock, LevelCovariance
    from melogit_cli.engine.optimize.shown_metric import ShownMetric

    cov = LevelCovariance((CovBlock("unstructured", 2),))
    metric = ShownMetric(1, cov)

    def f_theta(x):  # any smooth function of (beta, theta)
        return np.sin(x[0]) * x[1] + np.exp(0.3 * x[2]) * x[3] ** 2 + x[1] * x[3] + x[0] * x[2]

    def to_theta(phi):  # (beta, var1, var2, cov) -> (beta, theta)
        sigma = np.array([[phi[1], phi[3]], [phi[3], phi[2]]])
        return np.concatenate([phi[:1], cov.theta_from_sigma(sigma)])

    def diff(f, x, h=1e-5):
        k = len(x)
        E = np.eye(k) * h
        g = np.array([(f(x + E[i]) - f(x - E[i])) / (2 * h) for i in range(k)])
        H = np.array(
            [[(f(x + E[i] + E[j]) - f(x + E[i] - E[j]) - f(x - E[i] + E[j])
               + f(x - E[i] - E[j])) / (4 * h * h) for j in range(k)] for i in range(k)]
        )
        return g, H

    x = np.array([0.4, 0.2, -0.3, 0.5])
    g, H = diff(f_theta, x)
    phi = metric.params(x)
    g_phi, H_phi = diff(lambda v: f_theta(to_theta(v)), phi)
    np.testing.assert_allclose(to_theta(phi), x, atol=1e-12)
    np.testing.assert_allclose(metric.gradient(x, g), g_phi, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(metric.hessian(x, g, H), H_phi, rtol=1e-4, atol=1e-5)
