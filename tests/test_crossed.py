"""Crossed random effects (``R.varname``, ``_all``): the manual's example 5, the joint
sparse Laplace approximation against a dense computation, its exact gradient, the
integration-method rules and the refusals."""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import pandas as pd
import pytest
from conftest import DATA, lme4, reference
from scipy.special import expit
from test_render import EX5 as MANUAL_TABLE

from melogit_cli.api import as_dataset, fit, parse
from melogit_cli.design.build import build_design
from melogit_cli.engine.fit import Problem, make_model
from melogit_cli.engine.laplace.crossed import CrossedLaplace
from melogit_cli.errors import StataError
from melogit_cli.estimate import CROSSED_NOTE, crossed_arrays, nested_arrays
from melogit_cli.render.formats import fmt

EX5 = "melogit attain_gt_6 sex || _all:R.sid || pid:, or"
EX5_EXACT = EX5 + " tolerance(1e-12) ltolerance(1e-15) nrtolerance(1e-15)"  # gradient < 1e-12
EX5_WIDE = "melogit attain_gt_6 sex || _all:R.pid || _all:R.sid, or"
MANUAL = reference("fifeschool_example5")
LME4 = lme4("fifeschool_crossed_laplace")


@cache
def fife() -> pd.DataFrame:
    df = pd.read_csv(DATA / "fifeschool.csv")
    df["attain_gt_6"] = (df["attain"] > 6).astype(np.int8)  # generate byte attain_gt_6 = attain > 6
    return df


@cache
def fitted_frame(command: str, which: str = "fife"):
    data = fife() if which == "fife" else simulated()
    return fit(command, data, log=True)


@cache
def simulated(n_subj: int = 300, n_item: int = 24, seed: int = 20261123) -> pd.DataFrame:
    """Every subject answers every item once: a fully crossed binary design."""
    rng = np.random.default_rng(seed)
    subj = np.repeat(np.arange(n_subj), n_item)
    item = np.tile(np.arange(n_item), n_subj)
    x = rng.normal(size=subj.size)
    eta = -0.4 + 0.6 * x + rng.normal(0, 0.9, n_subj)[subj] + rng.normal(0, 0.6, n_item)[item]
    y = (rng.random(subj.size) < expit(eta)).astype(int)
    return pd.DataFrame({"y": y, "x": x, "subj": subj + 1, "item": item + 1})


# ---------------------------------------------------------------------------
# the manual's example 5
# ---------------------------------------------------------------------------


class TestExample5:
    @pytest.fixture
    def r(self):
        return fitted_frame(EX5)

    def test_note_and_log(self, r):
        # wrapped as the manual prints it
        assert r.log.startswith(
            "note: crossed random-effects model specified; option intmethod(laplace)\n"
            "      implied.\n"
        )
        assert CROSSED_NOTE == (
            "note: crossed random-effects model specified; option intmethod(laplace) implied."
        )
        assert "Grid node 0:  Log likelihood = -2234.6403" in r.log  # the manual's value
        assert r.converged

    def test_loglik(self, r):
        assert fmt(r.ll, "%10.0g").strip() == "-2220.0035" == str(MANUAL["loglik"])
        assert abs(r.ll - LME4["loglik"]) < 1e-6

    def test_odds_ratios_and_variances(self, r):
        p = r.params
        or_sex, or_cons = math.exp(p["attain_gt_6:sex"]), math.exp(p["attain_gt_6:_cons"])
        # the manual's printed odds ratio of sex to +-2 in its last digit
        assert abs(or_sex - MANUAL["odds_ratio"]["sex"]) <= 2e-6
        ours = {
            "sex": p["attain_gt_6:sex"],
            "_cons": p["attain_gt_6:_cons"],
            "var(_cons[_all>sid])": p["/:var(_cons[_all>sid])"],
            "var(_cons[pid])": p["/:var(_cons[pid])"],
        }
        # the exact Laplace optimum (lme4 refined) to 1e-5 relative
        for name, value in LME4["coef"].items():
            assert abs(ours[name] / value - 1) < 1e-5, name
        for name, value in LME4["var"].items():
            assert abs(ours[name] / value - 1) < 1e-5, name
        # and within 1e-4 relative of the manual's printed values (Stata stops early)
        assert abs(or_cons / MANUAL["odds_ratio"]["_cons"] - 1) < 1e-4
        assert abs(ours["var(_cons[_all>sid])"] / MANUAL["var(_cons[_all>sid])"] - 1) < 1e-4
        assert abs(ours["var(_cons[pid])"] / MANUAL["var(_cons[pid])"] - 1) < 1e-4

    def test_standard_errors_of_the_laplace_hessian(self, r):
        # against the numerical Hessian of the same Laplace likelihood at its optimum
        own = LME4["hessian_own"]
        se = r.bse
        assert abs(se["attain_gt_6:sex"] / own["se"]["sex"] - 1) < 1e-4
        assert abs(se["attain_gt_6:_cons"] / own["se"]["_cons"] - 1) < 1e-4
        for name, value in own["se_var"].items():
            assert abs(se[f"/:{name}"] / value - 1) < 1e-4, name

    def test_e_results(self, r):
        e = r.e
        assert e.b.colnames == [
            "attain_gt_6:sex",
            "attain_gt_6:_cons",
            "/:var(_cons[_all>sid])",
            "/:var(_cons[pid])",
        ]
        assert e.macros["ivars"] == "_all pid"
        assert e.macros["intmethod"] == "laplace"
        assert e.scalars["k_r"] == 2 and e.scalars["df_c"] == 2
        assert e.matrices["N_g"].data.tolist() == [[1.0, 148.0]]

    def test_printed_table(self, r):
        out = r.table().split("\n")
        assert out[:14] == MANUAL_TABLE[:14]  # header and grouping table, as the manual
        assert out[14].startswith(" " * 48 + "Wald chi2(1)      =")
        assert out[15] == (
            "Log likelihood = -2220.0035                     Prob > chi2       =     0.0002"
        )
        assert out[17] == (
            " attain_gt_6 | Odds ratio   Std. err.      z    P>|z|     [95% conf. interval]"
        )
        assert out[19].split()[:3] == ["sex", "|", "1.32512"]  # the manual: 1.325119
        assert out[22] == "_all>sid     |"
        # the variances are those of the exact optimum to the printed digit (the
        # likelihood is flat there to 1e-13 over the 7th digit: lme4 refined gives
        # .1239748 and .4520478; the manual .1239764 and .452049)
        exact_fit = fitted_frame(EX5_EXACT)
        assert np.max(np.abs(exact_fit.e.matrices["gradient"].data)) < 1e-12
        exact = exact_fit.params
        var_sid = fmt(exact["/:var(_cons[_all>sid])"], "%9.0g").strip()
        var_pid = fmt(exact["/:var(_cons[pid])"], "%9.0g").strip()
        assert (var_sid, var_pid) == (".1239747", ".4520479")
        assert out[23].split()[:2] == ["var(_cons)|", var_sid]
        assert out[25] == "pid          |"
        assert out[26].split()[:2] == ["var(_cons)|", var_pid]
        lr = "LR test vs. logistic model: chi2(2) = 195.80              Prob > chi2 = 0.0000"
        assert lr in out
        assert "Note: LR test is conservative and provided only for reference." in out

    def test_167_dimensional_formulation(self, r):
        wide = fitted_frame(EX5_WIDE)
        assert abs(wide.ll - r.ll) < 1e-6
        assert wide.e.b.colnames[2:] == ["/:var(_cons[_all>pid])", "/:var(_cons[_all>sid])"]
        assert abs(wide.params["/:var(_cons[_all>pid])"] / r.params["/:var(_cons[pid])"] - 1) < 1e-5
        assert "Group variable: _all" in wide.table()


# ---------------------------------------------------------------------------
# the sparse Laplace against a dense computation of the same formula
# ---------------------------------------------------------------------------


def dense_laplace(df: pd.DataFrame, beta: np.ndarray, sd_subj: float, sd_item: float) -> float:
    """``h(v_hat) - log|H|/2`` with dense matrices: Newton for the modes, slogdet."""
    X = np.column_stack([df["x"].to_numpy(), np.ones(len(df))])
    s = df["subj"].to_numpy() - 1
    t = df["item"].to_numpy() - 1
    S, J = s.max() + 1, t.max() + 1
    B = np.zeros((len(df), S + J))
    B[np.arange(len(df)), s] = sd_subj
    B[np.arange(len(df)), S + t] = sd_item
    y = df["y"].to_numpy(float)
    xb = X @ beta
    v = np.zeros(S + J)
    for _ in range(100):
        mu = expit(xb + B @ v)
        grad = B.T @ (y - mu) - v
        H = B.T @ (B * (mu * (1 - mu))[:, None]) + np.eye(S + J)
        step = np.linalg.solve(H, grad)
        v += step
        if np.max(np.abs(step)) < 1e-13:
            break
    eta = xb + B @ v
    mu = expit(eta)
    H = B.T @ (B * (mu * (1 - mu))[:, None]) + np.eye(S + J)
    h = float(np.sum(y * eta - np.logaddexp(0, eta)) - 0.5 * v @ v)
    return h - 0.5 * np.linalg.slogdet(H)[1]


class TestSimulatedCrossed:
    command = "melogit y x || _all:R.item || subj:"

    @pytest.fixture
    def r(self):
        return fitted_frame(self.command, "sim")

    def test_fits(self, r):
        assert r.converged
        assert r.e.macros["ivars"] == "_all subj"
        assert r.e.matrices["N_g"].data.tolist() == [[1.0, 300.0]]
        assert 0.4 < r.params["y:x"] < 0.8

    def test_loglik_equals_dense_computation(self, r):
        p = r.params
        ll = dense_laplace(
            simulated(),
            np.array([p["y:x"], p["y:_cons"]]),
            math.sqrt(p["/:var(_cons[subj])"]),
            math.sqrt(p["/:var(_cons[_all>item])"]),
        )
        assert abs(r.ll - ll) < 1e-6

    def test_gradient_vanishes_at_the_estimates(self, r):
        assert np.max(np.abs(r.e.matrices["gradient"].data)) < 1e-3


# ---------------------------------------------------------------------------
# the exact gradient, for several structures
# ---------------------------------------------------------------------------


@cache
def fife_extra() -> pd.DataFrame:
    df = fife().copy()
    rng = np.random.default_rng(7)
    df["x"] = rng.normal(size=len(df))
    df["g3"] = rng.integers(0, 12, len(df))
    df["kid"] = np.arange(len(df)) // 3
    return df


def central_gradient(model: CrossedLaplace, x: np.ndarray, state) -> np.ndarray:
    """Central differences (step 1e-5) of the model's log likelihood at ``x``."""
    p = model.p
    num = np.empty_like(x)
    for i in range(len(x)):
        e = np.zeros_like(x)
        e[i] = 1e-5
        up = model.loglik((x + e)[:p], (x + e)[p:], state)[0]
        down = model.loglik((x - e)[:p], (x - e)[p:], state)[0]
        num[i] = (up - down) / 2e-5
    return num


@pytest.mark.parametrize(
    "command",
    [
        "melogit attain_gt_6 sex || _all:R.sid || pid:",
        "melogit attain_gt_6 sex || _all:R.sid || pid: x, cov(un)",
        "melogit attain_gt_6 sex x || _all:R.sid || _all:R.g3 || pid: x",
        "melogit attain_gt_6 sex || _all:R.sid || pid: || kid:",
        "melogit attain_gt_6 sex || sid: R.g3 || pid:",
        "melogit attain_gt_6 sex || _all:R.sid",
    ],
)
def test_gradient_is_exact(command: str):
    design = build_design(parse(command), as_dataset(fife_extra()))
    data, cov = crossed_arrays(design)
    model = CrossedLaplace(data, cov)
    p = model.p
    rng = np.random.default_rng(3)
    x = np.concatenate([0.3 * rng.normal(size=p), 0.4 * rng.normal(size=cov.n_params) - 0.5])
    _, state = model.loglik(x[:p], x[p:], model.prior_state(x[p:]))
    g = model.gradient(x[:p], x[p:], state)[0]
    np.testing.assert_allclose(g, central_gradient(model, x, state), rtol=1e-6, atol=2e-6)
    # the derivatives of the mode, asked for, leave the gradient as it is and are exact
    g2, v, dv = model.gradient(x[:p], x[p:], state, mode_derivatives=True)
    assert dv is not None
    np.testing.assert_allclose(g2, g, rtol=1e-12, atol=1e-12)
    for i in (0, len(x) - 1):
        e = np.zeros_like(x)
        e[i] = 1e-5
        vs = [model.gradient((x + s)[:p], (x + s)[p:], state, v)[1] for s in (e, -e)]
        np.testing.assert_allclose(dv[:, i], (vs[0] - vs[1]) / 2e-5, rtol=1e-5, atol=1e-6)


def sparse_crossed(n_subj: int, n_item: int, per: int, seed: int = 5) -> pd.DataFrame:
    """Each subject answers ``per`` of the items, drawn at random."""
    rng = np.random.default_rng(seed)
    subj = np.repeat(np.arange(n_subj), per)
    item = np.concatenate([rng.choice(n_item, per, replace=False) for _ in range(n_subj)])
    x = rng.normal(size=subj.size)
    eta = -0.2 + 0.5 * x + rng.normal(0, 1.0, n_subj)[subj] + rng.normal(0, 0.7, n_item)[item]
    y = (rng.random(subj.size) < expit(eta)).astype(int)
    return pd.DataFrame({"y": y, "x": x, "subj": subj + 1, "item": item + 1})


def test_a_large_schur_complement_is_factored_on_its_upper_triangle():
    """About 420 items beyond the 600 subjects eliminated first: S is dense and larger than
    ``dense_spd.SMALL``, so only its upper triangle is summed and LAPACK factors it in
    place.  The likelihood equals a dense computation (the full H, slogdet) and the
    gradient a central difference of it."""
    from melogit_cli.engine.laplace.dense_spd import SMALL

    df = sparse_crossed(600, 420, 4)
    design = build_design(parse("melogit y x || _all:R.item || subj:"), as_dataset(df))
    data, cov = crossed_arrays(design)
    model = CrossedLaplace(data, cov)
    assert model.m2 > SMALL and model.pairs is not None and not model.dense
    x = np.array([0.4, -0.1, -0.2, 0.1])  # beta, then log sds of item and subj
    p = model.p
    ll, state = model.loglik(x[:p], x[p:], model.prior_state(x[p:]))
    sds = dict(zip(("item", "subj"), np.exp(x[p:]), strict=True))
    assert ll == pytest.approx(sparse_dense_laplace(df, x[:p], sds), abs=1e-8)
    g = model.gradient(x[:p], x[p:], state)[0]
    np.testing.assert_allclose(g, central_gradient(model, x, state), rtol=1e-6, atol=2e-6)


@pytest.mark.parametrize(
    "command, which",
    [
        ("melogit y x || _all:R.item || subj:", "large"),
        ("melogit attain_gt_6 sex x || _all:R.sid || _all:R.g3 || pid: x", "fife"),
    ],
)
def test_without_the_pairs_list_the_sparse_products_agree(
    monkeypatch: pytest.MonkeyPatch, command: str, which: str
):
    """Designs with too many pairs of C's entries within a cluster form C'H11^-1 C and
    G S^-1 by sparse products in chunks instead: the same likelihood and gradient (for
    a large S, read on its upper triangle, and a small one, read whole; C kept sparse)."""
    import melogit_cli.engine.laplace.crossed as crossed

    df = sparse_crossed(600, 420, 4) if which == "large" else fife_extra()
    data, cov = crossed_arrays(build_design(parse(command), as_dataset(df)))
    monkeypatch.setattr(crossed, "DENSE_C_ALWAYS", 0)
    monkeypatch.setattr(crossed, "DENSE_C_FLOPS", 0)
    paired = CrossedLaplace(data, cov)
    monkeypatch.setattr(crossed, "MAX_PAIRS", 0)
    monkeypatch.setattr(crossed, "CHUNK_ELEMENTS", 20_000)  # several chunks
    chunked = CrossedLaplace(data, cov)
    assert not paired.dense and paired.pairs is not None and chunked.pairs is None
    p, T = paired.p, cov.n_params
    x = np.concatenate([np.linspace(-0.3, 0.4, p), np.linspace(-0.4, 0.2, T)])
    out = []
    for model in (paired, chunked):
        ll, state = model.loglik(x[:p], x[p:], model.prior_state(x[p:]))
        out.append((ll, model.gradient(x[:p], x[p:], state)[0]))
    assert out[0][0] == pytest.approx(out[1][0], abs=1e-9)
    np.testing.assert_allclose(out[0][1], out[1][1], rtol=1e-10, atol=1e-9)


def sparse_dense_laplace(df: pd.DataFrame, beta: np.ndarray, sds: dict[str, float]) -> float:
    """``h(v_hat) - log|H|/2`` with B sparse and H dense: Newton, slogdet."""
    import scipy.sparse as sp

    X = np.column_stack([df["x"].to_numpy(), np.ones(len(df))])
    s, t = df["subj"].to_numpy() - 1, df["item"].to_numpy() - 1
    S, J, n = s.max() + 1, t.max() + 1, len(df)
    rows = np.repeat(np.arange(n), 2)
    cols = np.column_stack([s, S + t]).ravel()
    vals = np.tile([sds["subj"], sds["item"]], n)
    B = sp.csr_matrix((vals, (rows, cols)), shape=(n, S + J))
    y = df["y"].to_numpy(float)
    xb = X @ beta
    v = np.zeros(S + J)
    for _ in range(100):
        mu = expit(xb + B @ v)
        H = (B.T @ sp.diags(mu * (1 - mu)) @ B).toarray() + np.eye(S + J)
        step = np.linalg.solve(H, B.T @ (y - mu) - v)
        v += step
        if np.max(np.abs(step)) < 1e-13:
            break
    eta = xb + B @ v
    mu = expit(eta)
    H = (B.T @ sp.diags(mu * (1 - mu)) @ B).toarray() + np.eye(S + J)
    h = float(np.sum(y * eta - np.logaddexp(0, eta)) - 0.5 * v @ v)
    return h - 0.5 * np.linalg.slogdet(H)[1]


def test_identical_rows_are_merged_with_their_weights():
    from melogit_cli.engine.model.crossed_data import collapse_identical_rows

    df = pd.DataFrame(
        {
            "y": [1, 0, 1, 1, 0, 1, 0],
            "x": [0.5, 0.5, 0.5, -1.0, 0.5, 0.5, -1.0],
            "g": [1, 1, 1, 2, 1, 2, 2],
        }
    )
    design = build_design(parse("melogit y x || _all:R.g"), as_dataset(df))
    data, _ = crossed_arrays(design)
    assert data.X[:, 0].tolist() == df["x"].tolist()
    data.obs_weight = np.array([1.0, 2.0, 3.0, 1.0, 1.0, 1.0, 1.0])
    merged = collapse_identical_rows(data)
    # rows 0 and 2 repeat (y = 1, x = .5, g = 1), as do 1 and 4; the first occurrences
    # keep the data's order and carry the summed weights
    assert merged.y.tolist() == [1, 0, 1, 1, 0]
    assert merged.X[:, 0].tolist() == [0.5, 0.5, -1.0, 0.5, -1.0]
    assert merged.terms[0].group.tolist() == [0, 0, 1, 1, 1]
    assert merged.obs_weight.tolist() == [4.0, 3.0, 1.0, 1.0, 1.0]
    assert merged.terms[0].n_groups == 2
    distinct = collapse_identical_rows(merged)
    assert distinct is merged


@pytest.mark.parametrize(
    "command",
    [
        "melogit attain_gt_6 sex || _all:R.sid || pid:",
        "melogit k sex, binomial(n) offset(off) || _all:R.sid || pid:",
        "melogit attain_gt_6 sex || _all:R.sid || pid: sex, cov(un)",
    ],
)
def test_merged_rows_leave_the_likelihood_and_gradient(
    monkeypatch: pytest.MonkeyPatch, command: str
):
    """fifeschool's 3,435 rows are 722 distinct ones; the engine on the merged rows gives
    the likelihood and gradient of the engine on every row."""
    import melogit_cli.engine.laplace.crossed as crossed

    df = fife().assign(n=3, k=np.minimum(fife()["attain"] // 4, 3), off=0.1)
    design = build_design(parse(command), as_dataset(df))
    data, cov = crossed_arrays(design)
    merged = CrossedLaplace(data, cov)
    monkeypatch.setattr(crossed, "collapse_identical_rows", lambda d: d)
    every = CrossedLaplace(data, cov)
    assert merged.n < every.n == len(df)
    p = merged.p
    T = cov.n_params
    for x in (np.array([0.3, -0.4] + [-0.3] * T), np.array([-0.1, 0.2] + [0.2] * T)):
        out = []
        for model in (merged, every):
            ll, state = model.loglik(x[:p], x[p:], model.prior_state(x[p:]))
            out.append((ll, model.gradient(x[:p], x[p:], state)[0]))
        assert out[0][0] == pytest.approx(out[1][0], abs=1e-9)
        np.testing.assert_allclose(out[0][1], out[1][1], rtol=1e-10, atol=1e-9)


# ---------------------------------------------------------------------------
# integration methods and refusals
# ---------------------------------------------------------------------------


@cache
def small_crossed() -> pd.DataFrame:
    df = simulated(60, 4, seed=11).copy()
    return df


@pytest.mark.parametrize(
    "which, command",
    [
        ("small", "melogit y x || _all:R.item || subj:"),
        ("fife", "melogit attain_gt_6 sex || _all:R.sid || pid:"),
        ("fife", "melogit k sex, binomial(n) offset(off) || _all:R.sid || pid:"),
    ],
)
def test_sparse_laplace_equals_the_nested_engines_laplace(which: str, command: str):
    """The nested engine integrates the R. indicators as ordinary effects of ``_all``."""
    df = small_crossed() if which == "small" else fife()
    if which == "fife":
        df = df.assign(n=3, k=np.minimum(df["attain"] // 4, 3), off=0.1)
    design = build_design(parse(command), as_dataset(df))
    data, cov = crossed_arrays(design)
    sparse = CrossedLaplace(data, cov)
    ndata, ncov = nested_arrays(design)
    nested = make_model(Problem(ndata, ncov, "laplace", 1))
    for x in ([0.3, -0.4, -0.3, -0.2], [-0.1, 0.2, 0.4, -1.0]):
        b, t = np.array(x[:2]), np.array(x[2:])
        ll_sparse = sparse.loglik(b, t, sparse.prior_state(t))[0]
        ll_nested = nested.loglik(b, t, nested.prior_state(t))[0]
        assert abs(ll_sparse - ll_nested) < 1e-8


def test_quadrature_allowed_when_the_dimension_is_small():
    """Four R. effects and a random intercept: dimension 5, quadrature still allowed."""
    df = small_crossed()
    lap = fit("melogit y x || _all:R.item || subj:", df, log=True)
    mv = fit("melogit y x || _all:R.item || subj:, intmethod(mvaghermite) intp(5)", df, log=True)
    mc = fit("melogit y x || _all:R.item || subj:, intmethod(mcaghermite) intp(5)", df)
    assert mv.converged and mc.converged
    assert mv.e.macros["intmethod"] == "mvaghermite" and mv.e.macros["n_quad"] == "5"
    assert mv.e.b.colnames == lap.e.b.colnames
    assert abs(mv.ll - mc.ll) < 1e-3  # two quadratures of the same likelihood
    assert "crossed" not in mv.log and lap.log.startswith("note: crossed")
    single = fit("melogit y x || _all:R.item, intmethod(mvaghermite) intpoints(3)", df)
    assert single.converged and single.e.b.colnames[-1] == "/:var(_cons[_all>item])"


def test_explicit_laplace_prints_no_note():
    r = fit("melogit y x || _all:R.item || subj:, intmethod(laplace)", small_crossed(), log=True)
    assert "note: crossed" not in r.log


def test_quadrature_refused_when_the_dimension_is_large():
    with pytest.raises(StataError, match=r"intmethod\(mvaghermite\) not allowed with crossed"):
        fit("melogit attain_gt_6 sex || _all:R.sid || pid:, intmethod(mvaghermite)", fife())


@pytest.mark.parametrize(
    "command, message",
    [
        ("melogit y x [fw=w] || _all:R.item || subj:", "weights not allowed"),
        ("melogit y x || _all:R.item || subj:, vce(robust)", r"vce\(robust\) not allowed"),
    ],
)
def test_refusals(command: str, message: str):
    df = small_crossed().assign(w=1)
    with pytest.raises(StataError, match=message):
        fit(command, df)


@pytest.mark.parametrize(
    "command",
    [
        "melogit attain_gt_6 sex || _all:R.sid || pid: x, cov(un)",
        "melogit attain_gt_6 sex x || _all:R.sid || _all:R.g3 || pid: x",
    ],
)
def test_dense_and_sparse_schur_paths_agree(monkeypatch: pytest.MonkeyPatch, command: str):
    """C = H12 dense (small crossed designs) or by its entries (nested-like ones)."""
    import melogit_cli.engine.laplace.crossed as crossed

    design = build_design(parse(command), as_dataset(fife_extra()))
    data, cov = crossed_arrays(design)
    p = data.X.shape[1]
    rng = np.random.default_rng(5)
    x = np.concatenate([0.3 * rng.normal(size=p), 0.4 * rng.normal(size=cov.n_params) - 0.5])
    out = []
    for always in (10**12, 0):
        monkeypatch.setattr(crossed, "DENSE_C_ALWAYS", always)
        monkeypatch.setattr(crossed, "DENSE_C_FLOPS", always)
        model = CrossedLaplace(data, cov)
        assert model.dense == (always > 0)
        ll, state = model.loglik(x[:p], x[p:], model.prior_state(x[p:]))
        out.append((ll, model.gradient(x[:p], x[p:], state)[0]))
    assert out[0][0] == pytest.approx(out[1][0], abs=1e-9)
    np.testing.assert_allclose(out[0][1], out[1][1], rtol=1e-9, atol=1e-9)
