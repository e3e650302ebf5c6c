"""The seam between the estimation and the likelihood engines."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import DATA, fitted, reference

from melogit_cli.api import as_dataset, parse, run
from melogit_cli.design.build import build_design
from melogit_cli.engine.fit import Problem, make_model
from melogit_cli.engine.protocol import Engine
from melogit_cli.engine.registry import DISTRIBUTED, REGISTRY, select
from melogit_cli.estimate import ARRAYS

EX1 = "melogit c_use i.urban age i.children || district:"
REF_GUIM = reference("guimmun_lr3_ghermite12")["command"].split(",")[0]


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


# ---------------------------------------------------------------------------
# the Protocol, the registry and the selector
# ---------------------------------------------------------------------------


def _parameters(function) -> list[tuple[str, object]]:
    return [(p.name, p.kind) for p in inspect.signature(function).parameters.values()]


@pytest.mark.parametrize("registration", (*REGISTRY, DISTRIBUTED), ids=lambda r: r.name)
def test_registered_engine_satisfies_protocol(registration):
    """Every registered engine (the cluster's too) has the Protocol's methods with its
    signatures (the names, kinds and order of the parameters; extra parameters only
    optional)."""
    if registration is DISTRIBUTED:
        pytest.importorskip("distributed")
    engine = registration.engine_class()
    assert engine.layout == registration.layout
    members = [m for m in Engine.__dict__ if not m.startswith("_") and callable(Engine.__dict__[m])]
    assert set(members) == {
        "start_state",
        "loglik",
        "objective",
        "cluster_scores",
        "refined_hessian",
    }
    for name in members:
        wanted = _parameters(getattr(Engine, name))
        have = inspect.signature(getattr(engine, name)).parameters
        got = [(p.name, p.kind) for p in have.values()][: len(wanted)]
        assert got == wanted, (engine.__name__, name)
        extra = list(have.values())[len(wanted) :]
        assert all(p.default is not inspect.Parameter.empty for p in extra), (engine, name)
    init = inspect.signature(engine.__init__).parameters
    assert list(init)[:5] == ["self", "data", "cov", "method", "points"]


def test_no_isinstance_dispatch_on_engines():
    """The engine is chosen once, by the selector: nothing tests an engine's type."""
    root = Path(__file__).resolve().parents[1] / "melogit_cli"
    sources = [root / "estimate.py", *sorted((root / "engine").rglob("*.py"))]
    for path in sources:
        assert "isinstance(" not in path.read_text(), path


SELECTED = [
    (EX1, "bangladesh.dta", "joint Laplace", "two-level quadrature"),
    (
        "melogit hosp loginc distance dropout college || mother:",
        "hospital.dta",
        "joint Laplace",
        "two-level quadrature",
    ),
    (REF_GUIM, "guimmun.dta", "joint Laplace", "nested quadrature"),
]


@pytest.mark.parametrize("command, data, laplace, default", SELECTED)
def test_selector_names_the_engine_that_fits(command, data, laplace, default):
    """Each model kind is fitted by the engine the selector names."""
    kind = "nested" if "|| mom:" in command else "two-level"
    for options, scores, name in [
        ("", False, default),
        (", intmethod(laplace)", False, laplace),
        (", intmethod(laplace) vce(robust)", True, laplace),
        (", vce(robust)", True, default),
    ]:
        method = "laplace" if "laplace" in options else "mvaghermite"
        chosen = select(kind, method, scores=scores, weighted=False)
        assert chosen.name == name
        if kind == "nested" and options == "":
            continue  # the nested default fit is slow; its engine is checked with robust
        est = _estimation(command + options, data)
        assert est.fit.model.layout == chosen.layout
        assert isinstance(est.fit.model, chosen.engine_class())


LAPLACE_VCE = [
    ("ex1_laplace_robust", f"{EX1}, intmethod(laplace) vce(robust)", "bangladesh.dta", 1e-8),
    ("ex1_laplace_opg", f"{EX1}, intmethod(laplace) vce(opg)", "bangladesh.dta", 1e-8),
    (
        "hospital_laplace_robust",
        "melogit hosp loginc distance dropout college || mother:, intmethod(laplace) vce(robust)",
        "hospital.dta",
        1e-8,
    ),
    # the estimates come from the joint engine's fit (as without vce(robust)), 9e-8 from
    # the nested engine's: e(V) moved by 2.0e-8 of its largest entry; at the same
    # estimates the two engines' scores agreed to 1.3e-12
    ("guimmun_lr3_laplace_robust", f"{REF_GUIM}, intmethod(laplace) vce(robust)",
     "guimmun.dta", 1e-7),
]


@pytest.mark.parametrize("name, command, data, rel", LAPLACE_VCE, ids=lambda c: str(c)[:12])
def test_joint_laplace_scores_give_the_former_variance(name, command, data, rel):
    """vce(opg|robust) after a Laplace fit take the joint engine's per-cluster scores;
    e(V) equals the one the two-level and nested engines' Laplace scores gave
    (fixtures/reference/laplace_vce.json, computed by them)."""
    est = _estimation(command, data)
    assert est.fit.model.layout == "crossed"
    ref = np.array(json.loads((DATA.parent / "reference" / "laplace_vce.json").read_text())[name])
    V = np.asarray(est.eresults.V.data)
    assert np.max(np.abs(V - ref)) <= rel * np.max(np.abs(ref))


def test_joint_laplace_scores_sum_to_the_gradient():
    est = _estimation(f"{REF_GUIM}, intmethod(laplace) vce(robust)", "guimmun.dta")
    model, fit = est.fit.model, est.fit
    scores = model.cluster_scores(fit.beta, fit.theta, fit.state)
    assert scores.shape == (model.data.terms[0].n_groups, len(fit.beta) + len(fit.theta))
    gradient = model.gradient(fit.beta, fit.theta, fit.state)[0]
    assert np.allclose(scores.sum(axis=0), gradient, rtol=1e-10, atol=1e-10)


def test_selector_weights_and_crossed():
    assert select("two-level", "laplace", scores=False, weighted=True).name == "joint Laplace"
    fife = pd.read_csv(DATA / "fifeschool.csv")
    fife["attain_gt_6"] = (fife["attain"] > 6).astype(np.int8)
    est = run(parse("melogit attain_gt_6 sex || _all:R.sid || pid:"), as_dataset(fife))
    assert est.fit.model.layout == "crossed"
    with pytest.raises(LookupError):
        select("crossed", "laplace", scores=False, weighted=False)


def _estimation(command: str, data: str):
    return run(parse(command), as_dataset(DATA / data))


# ---------------------------------------------------------------------------
# analytic gradients against central differences of what they differentiate
# ---------------------------------------------------------------------------

GRADIENT_CASES = [
    ("clusters", "ghermite"),
    ("clusters", "mvaghermite"),
    ("clusters", "mcaghermite"),
    ("clusters", "laplace"),
    ("nested", "ghermite"),
    ("nested", "mvaghermite"),
    ("nested", "mcaghermite"),
    ("nested", "laplace"),
    ("crossed", "laplace"),
]
SLOPE = "melogit c_use i.urban age || district: urban, cov(unstructured)"
NESTED = "melogit c_use urban age || district: || children:"


@pytest.mark.parametrize("layout, method", GRADIENT_CASES)
def test_gradient_against_differences(layout, method):
    """At a point away from the optimum, each engine's gradient is the central difference
    of the function it differentiates: the quadrature formula with the nodes held where
    the derivatives hold them (fixed in the metric of the standardized effects), or the
    Laplace likelihood with its modes moving."""
    command = NESTED if layout == "nested" else SLOPE
    design = build_design(parse(command), as_dataset(DATA / "bangladesh.dta"))
    data, cov = ARRAYS[layout](design)
    model = make_model(Problem(data, cov, method, 3))
    p = model.p
    rng = np.random.default_rng(1)
    x = np.concatenate([0.2 * rng.normal(size=p), 0.2 * rng.normal(size=cov.n_params) - 0.5])
    objective = model.objective(model.start_state(x[:p], x[p:]))
    ll, g, _ = objective.derivatives(x)
    held = objective.state

    def f(z: np.ndarray) -> float:
        if method == "laplace":
            return model.loglik(z[:p], z[p:], held)[0]
        if layout == "nested":
            return model.evaluate(z[:p], z[p:], held.locations).ll
        A_x, A_z = (model.cov.factor_derivatives(t)[0] for t in (x[p:], z[p:]))
        mu, C = model._v_nodes(np.linalg.inv(A_x), held)  # the nodes in the v-metric
        state = type(held)(mu @ A_z.T, np.einsum("ab,gbc->gac", A_z, C))
        return model._posterior_moments(z[:p], z[p:], state)[0]

    assert f(x) == pytest.approx(ll, rel=1e-12)
    h = 1e-5
    numeric = np.array([(f(x + h * e) - f(x - h * e)) / (2 * h) for e in np.eye(len(x))])
    assert np.max(np.abs(numeric - g)) < 1e-6 * np.max(np.abs(g))


WEIGHTED_LAPLACE = [
    ("clusters", "melogit c_use urban age [fw=wi] || district: urban, fweight(wd)"),
    (
        "nested",
        "melogit c_use urban age [fw=wi] || district:, fweight(wd) || children:, fweight(wc)",
    ),
]


@pytest.mark.parametrize("layout, command", WEIGHTED_LAPLACE)
def test_weighted_laplace_gradient_against_differences(layout, command):
    """With weights at every level, the Laplace gradient is the central difference of the
    Laplace likelihood (the modes moving with the parameters)."""
    df = pd.read_stata(DATA / "bangladesh.dta").assign(
        wd=lambda d: 1 + d.district.astype(int) % 3,
        wc=lambda d: 1 + d.children.cat.codes % 2,
        wi=lambda d: 1 + np.arange(len(d)) % 2,
    )
    design = build_design(parse(command), as_dataset(df))
    data, cov = ARRAYS[layout](design)
    model = make_model(Problem(data, cov, "laplace", 1))
    p = model.p
    rng = np.random.default_rng(1)
    x = np.concatenate([0.2 * rng.normal(size=p), 0.2 * rng.normal(size=cov.n_params) - 0.5])
    objective = model.objective(model.start_state(x[:p], x[p:]))
    ll, g, _ = objective.derivatives(x)
    held = objective.state

    def f(z: np.ndarray) -> float:
        return model.loglik(z[:p], z[p:], held)[0]

    assert f(x) == pytest.approx(ll, rel=1e-12)
    h = 1e-5
    numeric = np.array([(f(x + h * e) - f(x - h * e)) / (2 * h) for e in np.eye(len(x))])
    assert np.max(np.abs(numeric - g)) < 1e-6 * np.max(np.abs(g))


@pytest.mark.parametrize("layout, command", WEIGHTED_LAPLACE)
def test_joint_engine_counts_weighted_units_as_copies(layout, command):
    """The joint engine's weighted Laplace likelihood is the other engines' (units counted
    as copies: the replicated log determinant), and its gradient is the central
    difference of it."""
    df = pd.read_stata(DATA / "bangladesh.dta").assign(
        wd=lambda d: 1 + d.district.astype(int) % 3,
        wc=lambda d: 1 + d.children.cat.codes % 2,
        wi=lambda d: 1 + np.arange(len(d)) % 2,
    )
    design = build_design(parse(command), as_dataset(df))
    joint = make_model(Problem(*ARRAYS["crossed"](design), "laplace", 1))
    other = make_model(Problem(*ARRAYS[layout](design), "laplace", 1))
    p = joint.p
    rng = np.random.default_rng(2)
    x = np.concatenate([0.2 * rng.normal(size=p), 0.2 * rng.normal(size=joint.T) - 0.5])
    objective = joint.objective(joint.start_state(x[:p], x[p:]))
    ll, g, _ = objective.derivatives(x)
    held = objective.state
    assert ll == pytest.approx(other.loglik(x[:p], x[p:], other.start_state(x[:p], x[p:]))[0],
                               rel=1e-11)

    def f(z: np.ndarray) -> float:
        return joint.loglik(z[:p], z[p:], held)[0]

    h = 1e-5
    numeric = np.array([(f(x + h * e) - f(x - h * e)) / (2 * h) for e in np.eye(len(x))])
    assert np.max(np.abs(numeric - g)) < 1e-6 * np.max(np.abs(g))


def test_integration_is_decided_once():
    """The one place that knows Laplace is one point, and which few-point rules are
    another method."""
    from melogit_cli.engine.integration import Integration

    assert Integration.of("laplace", 7) == Integration("laplace", 1)
    assert Integration.of("pclaplace", 3) == Integration("pclaplace", 1)
    assert Integration.of("mvaghermite", 1) == Integration("laplace", 1)
    assert Integration.of("pcaghermite", 1) == Integration("pclaplace", 1)
    assert Integration.of("mvaghermite", 2) == Integration("mcaghermite", 2)
    assert Integration.of("mvaghermite", 7) == Integration("mvaghermite", 7)
    assert [Integration.of(m, 7).adaptation for m in ("ghermite", "mvaghermite", "laplace")] == [
        "none",
        "mean-variance",
        "mode-curvature",
    ]
    assert Integration.of("laplace", 1).laplace and not Integration.of("mcaghermite", 3).laplace
