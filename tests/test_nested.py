"""Nested models (``|| lev3: || lev2: ...``): golden lr3 fit, integration methods,
derivatives, simulated recovery, the manual's example 4 layout and id coding."""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import pandas as pd
import pytest
from conftest import DATA, fitted, reference

from melogit_cli.api import as_dataset, fit, parse
from melogit_cli.design.build import build_design
from melogit_cli.engine.optimize.differences import GradientDifferences
from melogit_cli.engine.quadrature.nested import NestedQuadrature
from melogit_cli.estimate import nested_arrays

GUIM = "guimmun.dta"
REF = reference("guimmun_lr3_ghermite12")
GUIM_MODEL = REF["command"].split(",")[0]


# ---------------------------------------------------------------------------
# data generators (fixed seeds)
# ---------------------------------------------------------------------------


@cache
def four_level(n3: int = 40, seed: int = 20261123) -> pd.DataFrame:
    """school (n3) > klass (5) > student (4) > 5 binary responses; variances .5 .8 1.

    ``ys`` adds a klass-level random slope on ``x`` (variance .4, covariance .3 with the
    klass intercept) and has no student effect.
    """
    n2, n1, n0 = 5, 4, 5
    rng = np.random.default_rng(seed)
    school = np.repeat(np.arange(1, n3 + 1), n2 * n1 * n0)
    klass = np.tile(np.repeat(np.arange(1, n2 + 1), n1 * n0), n3)
    student = np.tile(np.repeat(np.arange(1, n1 + 1), n0), n3 * n2)
    u3 = rng.normal(0, math.sqrt(0.5), n3)
    u2 = rng.normal(0, math.sqrt(0.8), n3 * n2)
    u1 = rng.normal(0, 1.0, n3 * n2 * n1)
    x = rng.normal(size=len(school))
    i2 = (school - 1) * n2 + klass - 1
    i1 = i2 * n1 + student - 1
    eta = -0.5 + x + u3[school - 1] + u2[i2] + u1[i1]
    y = (rng.uniform(size=len(x)) < 1 / (1 + np.exp(-eta))).astype(int)
    z = rng.normal(size=len(x))
    slope = 0.375 * u2 + rng.normal(0, math.sqrt(0.4 - 0.1125), n3 * n2)
    eta_s = -0.5 + x + u3[school - 1] + u2[i2] + slope[i2] * x
    ys = (rng.uniform(size=len(x)) < 1 / (1 + np.exp(-eta_s))).astype(int)
    w3 = np.where(school <= 3, 2, 1)  # frequency weights of schools and classes
    w2 = np.where(klass <= 2, 2, 1)
    return pd.DataFrame(
        dict(y=y, ys=ys, x=x, z=z, school=school, klass=klass, student=student, w2=w2, w3=w3)
    )


@cache
def towerlondon_standin(seed: int = 12) -> pd.DataFrame:
    """The shape of the manual's example 4: 118 families, 226 subjects, 3 rows each."""
    rng = np.random.default_rng(seed)
    n_fam, n_sub = 118, 226
    per_family = np.ones(n_fam, dtype=int)
    while per_family.sum() < n_sub:
        f = rng.integers(n_fam)
        if per_family[f] < 9:
            per_family[f] += 1
    family = np.repeat(np.arange(1, n_fam + 1), per_family)
    subject = np.arange(1, n_sub + 1) * 2 + 1  # unique, with gaps
    group = rng.integers(1, 4, n_sub)
    u = rng.normal(0, math.sqrt(0.57), n_fam)[family - 1] + rng.normal(0, math.sqrt(1.14), n_sub)
    rows = pd.DataFrame(
        {
            "family": np.repeat(family, 3),
            "subject": np.repeat(subject, 3),
            "difficulty": np.tile([-1, 0, 1], n_sub),
            "group": np.repeat(group, 3),
        }
    )
    eta = (
        math.log(0.226)
        + math.log(0.192) * rows.difficulty
        + np.select([rows.group == 2, rows.group == 3], [math.log(0.78), math.log(0.35)], 0.0)
        + np.repeat(u, 3)
    )
    rows["dtlm"] = (rng.uniform(size=len(rows)) < 1 / (1 + np.exp(-eta))).astype(int)
    return rows


def engine(command: str, data, method: str, points: int) -> tuple[NestedQuadrature, int]:
    design = build_design(parse(command), as_dataset(data))
    arrays, cov = nested_arrays(design)
    return NestedQuadrature(arrays, cov, method, points), arrays.X.shape[1]


# ---------------------------------------------------------------------------
# golden: lr3's three-level example
# ---------------------------------------------------------------------------


class TestGuimmunLr3:
    """lr3's 12-point Gauss-Hermite fit of the Guatemalan immunization data."""

    @pytest.fixture
    def r(self):
        return fitted(REF["command"], GUIM)

    def test_loglik(self, r):
        assert r.converged
        assert abs(r.ll - REF["loglik"]) < 1e-4

    def test_coefficients(self, r):
        # lr3 stops at S's relative-function convergence: 5 significant digits
        for name, value in REF["coef"].items():
            assert abs(r.params[f"immun:{name}"] - value) <= 5e-5 * max(1.0, abs(value)), name

    def test_standard_errors(self, r):
        for name, value in REF["se"].items():
            assert abs(r.bse[f"immun:{name}"] - value) <= 2e-5 * value, name

    def test_sigmas(self, r):
        for level, label in (("mom", "cluster>mom"), ("cluster", "cluster")):
            var = r.params[f"/:var(_cons[{label}])"]
            se_var = r.bse[f"/:var(_cons[{label}])"]
            sigma = math.sqrt(var)
            assert abs(sigma - REF[f"sigma_{level}"]) <= 1e-5 * REF[f"sigma_{level}"]
            se_sigma = se_var / (2 * sigma)  # delta method
            assert abs(se_sigma - REF[f"se_sigma_{level}"]) <= 1e-4 * REF[f"se_sigma_{level}"]

    def test_e_results(self, r):
        e = r.e
        assert list(e.matrices["N_g"].data[0]) == [161, 1595]
        assert list(e.matrices["g_min"].data[0]) == [1, 1]
        assert list(e.matrices["g_max"].data[0]) == [55, 3]
        assert e.scalars["N_clust"] == 161
        assert e.scalars["df_c"] == 2
        assert e.macros["ivars"] == "cluster mom"
        names = list(r.params.index)[-2:]
        assert names == ["/:var(_cons[cluster])", "/:var(_cons[cluster>mom])"]

    def test_printed_layout(self, r):
        text = r.table()
        assert "        cluster |        161          1       13.4         55" in text
        assert "            mom |      1,595          1        1.4          3" in text
        assert "cluster>mom  |" in text
        assert "LR test vs. logistic model: chi2(2) = 151.26" in text
        assert "Note: LR test is conservative and provided only for reference." in text


# ---------------------------------------------------------------------------
# integration methods
# ---------------------------------------------------------------------------


class TestIntegrationMethods:
    """At lr3's estimates: every method converges to the same likelihood as points grow."""

    @pytest.fixture
    def at(self):
        design = build_design(parse(REF["command"]), as_dataset(DATA / GUIM))
        names = [n for n, k in zip(design.fixed.names, design.fixed.keep, strict=False) if k]
        beta = np.array([REF["coef"][n] for n in names])
        theta = np.log([REF["sigma_cluster"], REF["sigma_mom"]])
        arrays, cov = nested_arrays(design)

        def ll(method: str, points: int) -> float:
            m = NestedQuadrature(arrays, cov, method, points)
            return m.loglik(beta, theta, m.prior_state(theta))[0]

        return ll

    def test_lr3_value(self, at):
        assert abs(at("ghermite", 12) - REF["loglik"]) < 1e-8

    def test_convergence_in_points(self, at):
        exact = at("ghermite", 50)
        assert abs(at("ghermite", 30) - exact) < 1e-4
        assert abs(at("mvaghermite", 30) - exact) < 1e-6
        assert abs(at("mcaghermite", 30) - exact) < 1e-6
        assert abs(at("mvaghermite", 15) - exact) < 2e-3
        assert abs(at("mcaghermite", 15) - exact) < 2e-3
        # 7 points: kids of one mother are 1-3 binary responses with sigma 2.3 (the
        # two-level engine shows the same 7-point error on the mothers alone)
        assert abs(at("mvaghermite", 7) - exact) < 0.1

    def test_pinheiro_chao_aliases(self, at):
        assert at("pcaghermite", 9) == at("mcaghermite", 9)
        assert at("pclaplace", 1) == at("laplace", 1)

    def test_default_fit_near_ghermite(self):
        r7 = fitted(GUIM_MODEL, GUIM)
        r12 = fitted(REF["command"], GUIM)
        assert r7.converged
        assert r7.e.macros["intmethod"] == "mvaghermite" and r7.e.macros["n_quad"] == "7"
        assert abs(r7.ll - r12.ll) < 0.1
        for name, value in REF["coef"].items():
            assert abs(r7.params[f"immun:{name}"] - value) < 0.02, name


DERIVATIVE_MODELS = (
    [
        ("melogit y x || school: x, cov(unstructured) || klass: z || klass: || student:", m)
        for m in ("ghermite", "mvaghermite", "mcaghermite", "laplace")
    ]
    + [
        ("melogit y x z || school: x z, cov(exchangeable) || klass: x, cov(identity)", m)
        for m in ("mvaghermite", "laplace")
    ]
    + [
        ("melogit y x || school:, fweight(w3) || klass: x, fweight(w2)", m)
        for m in ("mvaghermite", "laplace")
    ]
    + [("melogit y x || school:, fweight(w3) || klass: || student:, fweight(w2)", "laplace")]
)


@pytest.mark.parametrize("command,method", DERIVATIVE_MODELS)
def test_analytic_gradient(command, method):
    """Fixed-node gradient (quadrature) and exact gradient (Laplace) against differences."""
    model, p = engine(command, four_level(8), method, 3)
    rng = np.random.default_rng(0)
    x = np.concatenate([0.3 * rng.normal(size=p), 0.3 * rng.normal(size=model.T)])
    ll, state = model.loglik(x[:p], x[p:], model.prior_state(x[p:]))
    ev = model.derivatives(x[:p], x[p:], state)
    assert ev.ll == pytest.approx(ll, abs=1e-10)

    def f(z: np.ndarray) -> float:
        if method == "laplace":  # the modes move with the parameters
            return model.loglik(z[:p], z[p:], state)[0]
        return model.evaluate(z[:p], z[p:], state.locations).ll

    h = 1e-5
    numeric = np.array([(f(x + h * e) - f(x - h * e)) / (2 * h) for e in np.eye(len(x))])
    assert np.max(np.abs(numeric - ev.gradient)) < 1e-6
    assert np.max(np.abs(ev.hessian - ev.hessian.T)) < 1e-12
    if method != "laplace":  # analytic Hessian against differences of the gradient
        shifted = GradientDifferences(lambda z, _i, _h: model.gradient(z[:p], z[p:], state), x)
        differenced = shifted.central()
        assert np.max(np.abs(differenced - ev.hessian)) < 1e-5


# ---------------------------------------------------------------------------
# simulated recovery
# ---------------------------------------------------------------------------


def test_four_level_recovers_parameters():
    r = fit("melogit y x || school: || klass: || student:", four_level(40))
    assert r.converged
    truth = {
        "y:x": 1.0,
        "y:_cons": -0.5,
        "/:var(_cons[school])": 0.5,
        "/:var(_cons[school>klass])": 0.8,
        "/:var(_cons[school>klass>student])": 1.0,
    }
    assert list(r.params.index) == list(truth)
    for name, value in truth.items():
        assert abs(r.params[name] - value) < 3 * r.bse[name], name
    assert list(r.e.matrices["N_g"].data[0]) == [40, 200, 800]
    assert r.e.scalars["N_clust"] == 40
    assert r.e.scalars["df_c"] == 3


def test_random_slope_unstructured_names_and_fit():
    r = fit(
        "melogit ys x || school: || klass: x, cov(unstructured) intpoints(5)",
        four_level(40),
    )
    assert r.converged
    names = [n for n in r.params.index if n.startswith("/")]
    assert names == [
        "/:var(_cons[school])",
        "/:var(x[school>klass])",
        "/:var(_cons[school>klass])",
        "/:cov(x[school>klass],_cons[school>klass])",
    ]
    assert np.max(np.abs(r.e.matrices["gradient"].data)) < 1e-2


def test_laplace_and_robust_variance():
    lap = fit("melogit y x || school: || klass:, intmethod(laplace)", four_level(20))
    agq = fit("melogit y x || school: || klass:, intpoints(9)", four_level(20))
    assert lap.converged and agq.converged
    assert abs(lap.ll - agq.ll) < 1.0
    assert lap.e.macros["intmethod"] == "laplace"
    rob = fit("melogit y x || school: || klass:, vce(robust)", four_level(20))
    assert rob.e.macros["vcetype"] == "Robust"
    assert all(v > 0 for v in rob.bse.to_numpy())


def test_nested_laplace_runs_through_the_joint_sparse_engine():
    """Unweighted OIM Laplace fits of nested models use the crossed engine's joint
    Laplace (with a block-diagonal Schur complement); at its estimates the nested
    engine's Laplace likelihood is the same and its exact gradient vanishes, and a
    robust fit (the joint engine's per-school scores) has the same estimates.  (The
    robust comparison is made on the random-intercept model: the slope's variance here
    is at the boundary, where the likelihood is flat to 1e-6 and two optimizers stop at
    different points.)"""
    from melogit_cli.api import run

    command = "melogit y x || school: || klass: x, intmethod(laplace)"
    lap = run(parse(command), as_dataset(four_level(20)))
    assert type(lap.fit.model).__name__ == "CrossedLaplace"
    assert lap.fit.model.nested_schur  # klass within school: S block diagonal
    model, p = engine(command, four_level(20), "laplace", 1)
    x = lap.fit.x
    ll, state = model.loglik(x[:p], x[p:], model.prior_state(x[p:]))
    assert ll == pytest.approx(lap.fit.ll, abs=1e-8)
    assert np.max(np.abs(model.gradient(x[:p], x[p:], state))) < 1e-3
    intercepts = "melogit y x || school: || klass:, intmethod(laplace)"
    lap = run(parse(intercepts), as_dataset(four_level(20)))
    assert type(lap.fit.model).__name__ == "CrossedLaplace"
    rob = run(parse(intercepts + " vce(robust)"), as_dataset(four_level(20)))
    assert type(rob.fit.model).__name__ == "CrossedLaplace"
    assert rob.fit.ll == pytest.approx(lap.fit.ll, abs=1e-6)
    np.testing.assert_allclose(rob.fit.x, lap.fit.x, atol=1e-5)


# ---------------------------------------------------------------------------
# the manual's example 4 and id coding
# ---------------------------------------------------------------------------

EX4 = "melogit dtlm difficulty i.group || family: || subject:, or"


def test_example4_layout():
    r = fit(EX4, towerlondon_standin(), log=True)
    assert r.converged
    text = r.table()
    lines = text.splitlines()
    assert "Grouping information" in lines
    assert " Group variable |     groups    Minimum    Average    Maximum" in lines
    assert "         family |        118          3        5.7         15" in lines
    assert "        subject |        226          3        3.0          3" in lines
    assert "dtlm | Odds ratio   Std. err." in text
    i = lines.index("family>      |")
    assert lines[i + 1] == "subject      |"
    assert lines[i + 2].startswith("   var(_cons)|")
    assert "LR test vs. logistic model: chi2(2) = " in text
    assert "Note: LR test is conservative and provided only for reference." in text
    assert "Grid node 0:" in r.log and "Fitting full model:" in r.log


def test_ids_relative_to_the_level_above():
    df = towerlondon_standin().copy()
    df["sub_in_family"] = df.groupby("family").subject.rank(method="dense").astype(int)
    df["sub_string"] = "s" + df["sub_in_family"].astype(str)
    df["fam_string"] = "f" + df["family"].astype(str)
    base = fit(EX4, df)
    for cmd in (
        "melogit dtlm difficulty i.group || family: || sub_in_family:, or",
        "melogit dtlm difficulty i.group || fam_string: || sub_string:, or",
    ):
        r = fit(cmd, df)
        assert abs(r.ll - base.ll) < 1e-9
        for a, b in zip(r.e.b.data[0], base.e.b.data[0], strict=False):
            assert abs(a - b) < 1e-7
        assert list(r.e.matrices["N_g"].data[0]) == [118, 226]


@pytest.mark.parametrize("level,var", [("school", "w3"), ("klass", "w2")])
def test_level_frequency_weights_duplicate_units(level, var):
    df = four_level(10)
    copies = df[df[var] == 2].assign(**{level: lambda d: d[level] + 100})
    weighted = fit(
        f"melogit y x || school:{', fweight(w3)' if var == 'w3' else ''} || klass:"
        f"{', fweight(w2)' if var == 'w2' else ''}",
        df,
    )
    duplicated = fit("melogit y x || school: || klass:", pd.concat([df, copies]))
    assert abs(weighted.ll - duplicated.ll) < 1e-8
    for name, value in duplicated.params.items():
        assert abs(weighted.params[name] - value) < 1e-7, name


def test_line_search_lets_go_of_a_trial_point_far_below(monkeypatch):
    """A trial point still far below the line search's floor after SETTLE_CHECK passes is
    not adapted further, and its nodes are not carried to the next trial."""
    from melogit_cli.engine.fit import QuadratureObjective
    from melogit_cli.engine.quadrature import nested
    from melogit_cli.engine.shared.adaptation import SETTLE_CHECK

    model, p = engine("melogit y x || school: || klass:", four_level(8), "mvaghermite", 5)
    x0 = np.concatenate([np.zeros(p), np.zeros(model.T)])
    objective = QuadratureObjective(model, model.prior_state(x0[p:]))
    ll0 = objective.value(x0)
    settled = objective.state
    passes = []
    evaluate = nested.NestedQuadrature.evaluate
    monkeypatch.setattr(
        nested.NestedQuadrature,
        "evaluate",
        lambda self, *a, **k: passes.append(1) or evaluate(self, *a, **k),
    )
    wild = x0.copy()
    wild[:p] = 8.0  # every linear predictor far out: a hopeless step
    ll = objective.value(wild, floor=ll0)
    assert ll < ll0 - 0.01 * (abs(ll0) + 1)
    assert len(passes) == SETTLE_CHECK
    assert objective.state is settled
    passes.clear()
    objective.value(wild)  # without a floor the point is adapted until it settles
    assert len(passes) > SETTLE_CHECK


def test_combined_codes_number_id_paths_as_unique_rows():
    """A cluster of a nested level is a path of ids; the codes number the distinct
    paths in lexicographic order, as ``np.unique(axis=0)`` does."""
    from melogit_cli.design.levels import _combined_codes

    rng = np.random.default_rng(3)
    for _ in range(100):
        n = int(rng.integers(1, 300))
        keys = [rng.integers(0, int(rng.integers(1, 30)), n) for _ in range(rng.integers(1, 5))]
        _, expected = np.unique(np.column_stack(keys), axis=0, return_inverse=True)
        np.testing.assert_array_equal(_combined_codes(keys), expected.reshape(-1))


@pytest.mark.parametrize(
    "weights,options",
    [
        ("|| school: || klass:, fweight(w2)", "intpoints(1)"),
        ("|| school:, fweight(w3) || klass: x, fweight(w2)", "intpoints(1)"),
        ("|| school: || klass:, fweight(w2) || student:, fweight(w1)", "intpoints(1)"),
        ("|| school: || klass: x, fweight(w2)", "intmethod(mcaghermite) intpoints(3)"),
    ],
)
def test_mode_methods_level_frequency_weights_replicate_units(weights, options):
    """Laplace (``intpoints(1)``; ``intmethod(laplace)`` refuses weights) and Pinheiro-Chao
    quadrature with frequency weights below the top are the fits on the data with those
    units replicated: the modes, curvatures and gradient count each unit's copies."""
    df = four_level(6).assign(w1=lambda d: np.where(d.student == 3, 3, 1))
    copies = [df]
    for level, var, offset in (("klass", "w2", 100), ("student", "w1", 1000)):
        if var in weights:
            base = pd.concat(copies)
            copies = [base]
            for k in (1, 2):
                extra = base[base[var] > k].copy()
                extra[level] += offset * k
                copies.append(extra)
    replicated = pd.concat(copies)
    if "w3" in weights:
        extra = replicated[replicated.w3 == 2].assign(school=lambda d: d.school + 100)
        replicated = pd.concat([replicated, extra])
    unweighted = weights
    for var in ("w1", "w2", "w3"):
        unweighted = unweighted.replace(f", fweight({var})", "")
    weighted = fit(f"melogit y x {weights} {options}", df)
    duplicated = fit(f"melogit y x {unweighted}, {options}", replicated)
    assert weighted.converged and duplicated.converged
    assert abs(weighted.ll - duplicated.ll) < 1e-6
    for name, value in duplicated.params.items():
        assert abs(weighted.params[name] - value) < 1e-6, name
