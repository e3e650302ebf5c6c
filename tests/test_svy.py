"""svyset and svy: melogit: the pweighted fit with linearized standard errors."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from melogit_cli.data.dataset import Dataset
from melogit_cli.errors import StataError
from melogit_cli.interp.runner import execute
from melogit_cli.interp.session import Output, Session
from melogit_cli.results.build import stata_metric


def _sample() -> Dataset:
    """Two-stage sample: 3 strata of 8 PSUs (of N_h = 40, 60, 80), 6-14 persons per PSU."""
    rng = np.random.default_rng(18)
    rows = []
    for h, N_h in enumerate((40, 60, 80)):
        for j in range(8):
            psu = 100 * h + j
            u = rng.normal(0.0, 0.8)
            m = int(rng.integers(6, 15))
            wpsu = N_h / 8
            for _ in range(m):
                x = rng.normal()
                wobs = float(rng.choice([1.0, 2.0, 3.0]))
                y = float(rng.random() < 1 / (1 + np.exp(-(-0.3 + 0.7 * x + u))))
                rows.append((h, psu, N_h, x, y, wpsu, wobs, wpsu * wobs))
    frame = pd.DataFrame(rows, columns=["s", "psu", "N", "x", "y", "wpsu", "wobs", "w"])
    return Dataset(frame)


def _session() -> tuple[Session, io.StringIO]:
    stream = io.StringIO()
    session = Session(Output(stream))
    session.set_data(_sample())
    return session, stream


def _linearized_by_hand(est, ds: Dataset, fpc: bool) -> np.ndarray:
    """V = D [sum_h (1-f_h) n_h/(n_h-1) sum_i (s_hi - s_h.)(s_hi - s_h.)'] D in e(b)'s metric,
    with the PSUs (the model's groups) as units and D the inverse negative Hessian."""
    fit, design = est.fit, est.design
    D = np.linalg.inv(-0.5 * (fit.hessian + fit.hessian.T))
    S = fit.model.cluster_scores(fit.beta, fit.theta, fit.state)
    S = S * fit.model.data.cluster_weight[:, None]
    codes = design.levels.levels[0].codes
    frame = ds.frame.loc[design.sample].reset_index(drop=True)
    stratum = np.zeros(S.shape[0], int)
    N = np.zeros(S.shape[0])
    stratum[codes] = frame["s"].to_numpy()
    N[codes] = frame["N"].to_numpy()
    B = np.zeros((S.shape[1], S.shape[1]))
    for h in np.unique(stratum):
        Sh = S[stratum == h]
        n_h = Sh.shape[0]
        f = n_h / N[stratum == h][0] if fpc else 0.0
        dev = Sh - Sh.mean(axis=0)
        B += (1 - f) * n_h / (n_h - 1) * dev.T @ dev
    V = D @ B @ D
    _, J = stata_metric(fit.model.cov, fit.theta)
    p = fit.beta.size
    T = np.eye(V.shape[0])
    T[p:, p:] = J
    return T @ V @ T.T


@pytest.mark.parametrize("fpc", [False, True])
def test_svy_melogit_is_the_pweighted_fit_with_linearized_errors(fpc):
    session, stream = _session()
    execute(session, "melogit y x [pw=w] || psu:")
    plain = session.last()
    execute(session, "svyset psu [pw=w], strata(s)" + (" fpc(N)" if fpc else ""))
    execute(session, "svy: melogit y x || psu:")
    e = session.last().e
    np.testing.assert_allclose(e.b.data, plain.e.b.data, rtol=1e-10)
    V = _linearized_by_hand(session.last().estimation, session.ds, fpc)
    np.testing.assert_allclose(e.V.data, V, rtol=1e-8)
    s = e.scalars
    assert (s["N_strata"], s["N_psu"], s["df_r"]) == (3.0, 24.0, 21.0)
    assert s["N_pop"] == pytest.approx(session.ds.frame["w"].sum())
    chi2 = e.b.data[0, 0] ** 2 / e.V.data[0, 0]
    assert s["F"] == pytest.approx(chi2 * (21 - 1 + 1) / (21 * 1))
    text = stream.getvalue()
    assert "(running melogit on estimation sample)" in text
    assert "Survey: Mixed-effects logistic regression" in text
    assert "Number of strata = 3" in text and "Number of PSUs   = 24" in text
    assert "Design df         =         21" in text
    assert "F(1, 21)          =" in text and "Prob > F          =" in text
    assert "Linearized" in text and "P>|t|" in text


def test_stage_weights_weight_the_levels():
    """svyset psu, weight(wpsu) || _n, weight(wobs): the PSU level's and the observations'
    pweights, as melogit ... [pw=wobs] || psu:, pweight(wpsu)."""
    session, _ = _session()
    execute(session, "melogit y x [pw=wobs] || psu:, pweight(wpsu)")
    plain = session.last().e
    execute(session, "svyset psu, weight(wpsu) strata(s) || _n, weight(wobs)")
    execute(session, "svy: melogit y x || psu:")
    e = session.last().e
    np.testing.assert_allclose(e.b.data, plain.b.data, rtol=1e-10)
    assert e.macros["weight1"] == "wpsu" and e.macros["weight2"] == "wobs"
    assert e.scalars["N_pop"] == pytest.approx(session.ds.frame["w"].sum())


@pytest.mark.parametrize(
    ("commands", "message", "rc"),
    [
        (["svy: melogit y x || psu:"], "data not set up for svy, use svyset", 119),
        (["svyset"], "data not set up for svy, use svyset", 119),
        (["svyset psu [pw=w]", "svy: melogit y x [pw=w] || psu:"],
         "weights can only be specified using svyset", 101),
        (["svyset psu [pw=w]", "svy: melogit y x || psu:, vce(robust)"],
         "option vce() not allowed with the svy prefix", 198),
        (["svyset psu [pw=w]", "svy: display 1"], "display is not supported by svy", 199),
        (["svyset psu [pw=w]", "constraint 1 x = 0", "svy: melogit y x || psu:, constraints(1)"],
         "option constraints() not allowed with the svy prefix", 198),
        (["svyset psu [pw=w]", "svy melogit y x || psu:"], "invalid syntax", 198),
        (["svyset wobs [pw=w]", "svy: melogit y x || psu:"],
         "highest-level groups are not nested within wobs", 459),
        (["svyset psu [pw=w]", "svy jackknife: melogit y x || psu:"],
         "vce(jackknife) not supported with svy: melogit", 198),
        (["svyset psu [pw=w], strata(s)", "svyset, clear", "svy: melogit y x || psu:"],
         "data not set up for svy, use svyset", 119),
        (["svyset psu [pw=w], strata(s) clear"], "option clear not allowed", 198),
    ],
)
def test_svy_errors(commands, message, rc):
    session, _ = _session()
    with pytest.raises(StataError) as err:
        for cmd in commands:
            execute(session, cmd)
    assert (err.value.message, err.value.rc) == (message, rc)


def test_svyset_reports_the_design():
    session, stream = _session()
    execute(session, "svyset psu [pw=w], strata(s) fpc(N)")
    assert stream.getvalue().splitlines()[1:] == [
        "Sampling weights: w",
        "             VCE: linearized",
        "     Single unit: missing",
        "        Strata 1: s",
        " Sampling unit 1: psu",
        "           FPC 1: N",
    ]


def test_subpop_fits_the_subpopulation_with_the_whole_design():
    """svy, subpop(): the pweighted fit on the subpopulation; the variance sums over every
    PSU of the sample, those without subpopulation observations contributing zero."""
    session, stream = _session()
    frame = session.ds.frame
    # PSUs 0 and 1 of each stratum drop out entirely, the others keep weights 1 and 2
    frame["sub"] = (((frame["psu"] % 100) >= 2) & (frame["wobs"] < 3)).astype(float)
    execute(session, "melogit y x [pw=w] if sub == 1 || psu:")
    plain = session.last().e
    execute(session, "svyset psu [pw=w], strata(s)")
    execute(session, "svy, subpop(sub): melogit y x || psu:")
    est = session.last().estimation
    e = session.last().e
    np.testing.assert_allclose(e.b.data, plain.b.data, rtol=1e-10)
    fit, design = est.fit, est.design
    D = np.linalg.inv(-0.5 * (fit.hessian + fit.hessian.T))
    S = fit.model.cluster_scores(fit.beta, fit.theta, fit.state)
    S = S * fit.model.data.cluster_weight[:, None]
    rows = frame.loc[design.sample].reset_index(drop=True)
    group_psu = np.zeros(S.shape[0], int)
    group_psu[design.levels.levels[0].codes] = rows["psu"].to_numpy()
    B = np.zeros((S.shape[1], S.shape[1]))
    for h in range(3):
        z = np.array([S[group_psu == 100 * h + j].sum(axis=0) for j in range(8)])
        dev = z - z.mean(axis=0)
        B += 8 / 7 * dev.T @ dev
    V = D @ B @ D
    _, J = stata_metric(fit.model.cov, fit.theta)
    T = np.eye(V.shape[0])
    T[fit.beta.size :, fit.beta.size :] = J
    np.testing.assert_allclose(e.V.data, T @ V @ T.T, rtol=1e-8)
    s = e.scalars
    assert (s["N"], s["N_sub"], s["N_psu"], s["df_r"]) == (len(frame), plain.scalars["N"], 24, 21)
    assert s["N_subpop"] == pytest.approx(frame.loc[frame["sub"] == 1, "w"].sum())
    text = stream.getvalue()
    assert "Subpop. no. obs   =" in text and "Subpop. size      =" in text


@pytest.mark.parametrize(
    ("option", "message", "rc"),
    [
        ("subpop()", "option subpop() incorrectly specified", 198),
        ("subpop(nosuch)", "variable nosuch not found", 111),
        ("subpop(if x > 100)", "no observations in subpopulation", 461),
        ("nosuch", "option nosuch not allowed", 198),
    ],
)
def test_subpop_errors(option, message, rc):
    session, _ = _session()
    execute(session, "svyset psu [pw=w], strata(s)")
    with pytest.raises(StataError) as err:
        execute(session, f"svy, {option}: melogit y x || psu:")
    assert (err.value.message, err.value.rc) == (message, rc)


def test_a_stratum_with_one_psu_leaves_the_standard_errors_missing():
    session, stream = _session()
    execute(session, "svyset psu [pw=w], strata(psu)")
    execute(session, "svy: melogit y x || psu:")
    e = session.last().e
    assert np.all(np.isnan(np.diag(e.V.data)))
    assert e.scalars["df_r"] == 0.0
    assert stream.getvalue().rstrip().endswith(
        "Note: Missing standard errors because of stratum with single sampling unit."
    )


def test_svyset_refuses_other_weights():
    session, _ = _session()
    with pytest.raises(StataError) as err:
        execute(session, "svyset psu [fw=w]")
    assert (err.value.message, err.value.rc) == ("fweights not allowed", 101)


def test_svy_header_is_stata_prefix_header():
    """svy results get _coef_table_header's block alone (Stata's _me_display hands them to
    _prefix_display): no group table, no integration method, a blank line before the
    table."""
    session, stream = _session()
    execute(session, "svyset psu [pw=w], strata(s)")
    execute(session, "svy: melogit y x || psu:")
    lines = stream.getvalue().splitlines()
    i = lines.index("Survey: Mixed-effects logistic regression")
    assert lines[i - 1 : i + 10] == [
        "",
        "Survey: Mixed-effects logistic regression",
        "",
        "Number of strata = 3                            Number of obs     =        232",
        "Number of PSUs   = 24                           Population size   =      3,220",
        "                                                Design df         =         21",
        "                                                F(1, 21)          =       9.96",
        "                                                Prob > F          =     0.0048",
        "",
        "-" * 78,
        "             |              Linearized",
    ]
    text = "\n".join(lines)
    assert "Group variable" not in text and "Integration method" not in text


def test_svy_header_moves_left_for_a_long_population_size():
    from melogit_cli.render.header import header_lines
    from melogit_cli.results.eresults import EResults

    e = EResults(
        scalars=dict(N=10351, N_pop=117157513.0, N_strata=31, N_psu=62, df_r=31, df_m=3,
                     df2=29, F=81.04, p=1e-12),
        macros=dict(prefix="svy", title="Mixed-effects logistic regression"),
    )
    assert header_lines(e)[3:8] == [
        "Number of strata = 31                         Number of obs     =       10,351",
        "Number of PSUs   = 62                         Population size   =  117,157,513",
        "                                              Design df         =           31",
        "                                              F(3, 29)          =        81.04",
        "                                              Prob > F          =       0.0000",
    ]


@pytest.mark.parametrize("prefix", ["svy:", "svy, subpop(if x > -5):"])
def test_svy_melogit_from_a_matrix(prefix):
    """from(b) reads the session's matrix under the svy prefix too: started at the
    estimates, the fit is the same one at once."""
    session, _ = _session()
    execute(session, "svyset psu [pw=w], strata(s)")
    execute(session, f"{prefix} melogit y x || psu:")
    first = session.last().e
    execute(session, "matrix b = e(b)")
    execute(session, f"{prefix} melogit y x || psu:, from(b)")
    again = session.last().e
    # (the variance is weakly identified with 24 PSUs: the likelihood, not each
    # parameter, is where both fits agree to the convergence tolerance)
    assert again.scalars["ic"] <= 2
    assert again.scalars["ll"] == pytest.approx(first.scalars["ll"], rel=1e-9)
    np.testing.assert_allclose(again.b.data, first.b.data, rtol=1e-3)
