"""The compiled row-by-node loops: their exp/log against numpy's, and fits through them
against the numpy formulation, digit for digit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import DATA
from scipy.special import expit

from melogit_cli.api import fit

loops = pytest.importorskip("melogit_cli.engine.compiled.loops")


def _grid() -> np.ndarray:
    rng = np.random.default_rng(7)
    edges = [0.0, -0.0, 1e-300, -1e-300, 1e-10, -1e-10, 36.7, -36.7, 40.0, -40.0, 41.0, -41.0]
    edges += [709.0, -709.0, 745.0, -745.0, 1e6, -1e6]
    return np.concatenate([np.linspace(-60, 60, 2_000_001), rng.normal(0, 4, 200_000), edges])


def test_softplus_matches_numpy_to_double_precision():
    eta = _grid()
    ours = np.empty_like(eta)
    loops.softplus_array(eta, ours, 0, eta.size)
    reference = np.logaddexp(0.0, eta)
    assert np.max(np.abs(ours - reference)) <= 1e-15 * np.maximum(1.0, np.abs(reference)).max()
    small = reference < 1.0
    assert np.max(np.abs(ours[small] - reference[small])) <= 1e-15


def test_logistic_function_matches_scipy():
    eta = _grid()
    ours = np.empty_like(eta)
    loops.expit_array(eta, ours, 0, eta.size)
    reference = expit(eta)
    assert np.max(np.abs(ours - reference)) <= 5e-16
    moderate = np.abs(eta) < 36
    relative = np.abs(ours[moderate] / reference[moderate] - 1)
    assert relative.max() <= 1e-14


def _both_ways(monkeypatch: pytest.MonkeyPatch, command: str, data: object):
    results = []
    for setting in ("off", "on"):
        monkeypatch.setenv("MELOGIT_KERNELS", setting)
        results.append(fit(command, data))
    return results


def _assert_same(numpy_fit, compiled_fit) -> None:
    assert compiled_fit.ll == pytest.approx(numpy_fit.ll, rel=1e-12, abs=0)
    assert compiled_fit.e.scalars["ic"] == numpy_fit.e.scalars["ic"]
    for name, value in numpy_fit.params.items():
        assert compiled_fit.params[name] == pytest.approx(value, rel=1e-9, abs=1e-12), name
        assert compiled_fit.bse[name] == pytest.approx(numpy_fit.bse[name], rel=1e-8), name
    assert compiled_fit.table() == numpy_fit.table()


@pytest.mark.parametrize(
    "command",
    [
        "melogit c_use i.urban age i.children || district:",
        "melogit c_use i.urban age i.children || district: i.urban, cov(unstructured)",
        "melogit c_use i.urban age i.children || district: i.urban, intmethod(mcaghermite)",
        "melogit c_use i.urban age || district:, intmethod(ghermite) intpoints(9)",
        "melogit c_use i.urban age || district:, intmethod(laplace)",
        "melogit c_use i.urban age || district:, vce(robust)",
    ],
)
def test_compiled_loops_give_the_numpy_fit(monkeypatch: pytest.MonkeyPatch, command: str):
    numpy_fit, compiled_fit = _both_ways(monkeypatch, command, DATA / "bangladesh.dta")
    _assert_same(numpy_fit, compiled_fit)


def test_compiled_loops_with_trials_offset_and_weights(monkeypatch: pytest.MonkeyPatch):
    rng = np.random.default_rng(11)
    n_groups = 120
    g = np.repeat(np.arange(n_groups), rng.integers(1, 15, n_groups))
    x = rng.normal(size=g.size)
    n = rng.integers(1, 6, g.size)
    eta = 0.3 + 0.8 * x + rng.normal(0, 0.7, n_groups)[g]
    df = pd.DataFrame(
        {
            "g": g,
            "x": x,
            "n": n,
            "k": rng.binomial(n, 1 / (1 + np.exp(-eta))),
            "off": rng.normal(0, 0.1, g.size),
            "w1": rng.integers(1, 3, g.size),
            "w2": rng.uniform(0.5, 2.0, n_groups)[g],
        }
    )
    command = (
        "melogit k x [pw=w1], binomial(n) offset(off) || g: x, pweight(w2) cov(unstructured)"
    )
    numpy_fit, compiled_fit = _both_ways(monkeypatch, command, df)
    _assert_same(numpy_fit, compiled_fit)


@pytest.mark.parametrize("options", ["intpoints(5)", "intmethod(ghermite) intpoints(4)"])
def test_compiled_loops_give_the_numpy_fit_of_a_nested_model(
    monkeypatch: pytest.MonkeyPatch, options: str
):
    command = (
        "melogit immun kid2p mom25p i.orderc i.eth everwork rural || cluster: || mom:, " + options
    )
    numpy_fit, compiled_fit = _both_ways(monkeypatch, command, DATA / "guimmun.dta")
    _assert_same(numpy_fit, compiled_fit)
