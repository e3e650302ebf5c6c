"""estat wcorrelation against an independent quadrature, estat vce / recovariance in
Stata's matlist layout (checked line by line against Stata's own logs), and their
option errors."""

from __future__ import annotations

import io

import numpy as np
import pytest
from conftest import DATA, run_in, session_with

from melogit_cli.errors import StataError
from melogit_cli.interp.runner import execute
from melogit_cli.interp.session import Output, Session
from melogit_cli.render.matlist import matlist
from melogit_cli.special import expit


@pytest.fixture(scope="module")
def ex1():
    return session_with(
        f"use {DATA / 'bangladesh.dta'}",
        "quietly melogit c_use i.urban age i.children || district:",
    )


def test_matlist_matches_stata_logs_of_vce():
    # regress and logit logs of -estat vce- / -vce- (numbers as Stata printed them)
    L = np.array([[.00475492, 0, 0, 0, 0], [-.00040258, .00486445, 0, 0, 0],
                  [-.00042516, .00017355, .00521125, 0, 0],
                  [-.00011915, -.0002568, .00054646, .00386583, 0],
                  [.00030777, -.00031109, -.00023794, .00058926, .00487012]])
    names = ["x1", "x2", "x3", "x4", "_cons"]
    assert matlist(L + np.tril(L, -1).T, names, names, fmt_spec="%10.0g",
                   rowtitle="e(V)", lines="eq") == [
        "",
        "        e(V) |         x1          x2          x3          x4       _cons",
        "-------------+------------------------------------------------------------",
        "          x1 |  .00475492",
        "          x2 | -.00040258   .00486445",
        "          x3 | -.00042516   .00017355   .00521125",
        "          x4 | -.00011915   -.0002568   .00054646   .00386583",
        "       _cons |  .00030777  -.00031109  -.00023794   .00058926   .00487012",
    ]
    V = np.array([[.00011161, -.00710377], [-.00710377, .48458582]])
    assert matlist(V, ["AGE", "_cons"], ["AGE", "_cons"], roweqs=["STA"] * 2,
                   coleqs=["STA"] * 2, fmt_spec="%10.0g", rowtitle="e(V)", lines="eq") == [
        "",
        "             | STA",
        "        e(V) |        AGE       _cons",
        "-------------+------------------------",
        "STA          |",
        "         AGE |  .00011161",
        "       _cons | -.00710377   .48458582",
    ]


def test_matlist_splits_operators_and_wide_matrices():
    V = np.diag([.00157503, .04900125])
    lines = matlist(V, ["L.si", "_cons"], ["L.si", "_cons"], fmt_spec="%10.0g",
                    rowtitle="e(V)", lines="eq")
    assert lines[1:4] == [
        "             |          L.",
        "        e(V) |         si       _cons",
        "-------------+------------------------",
    ]
    assert lines[4] == "        L.si |  .00157503"
    # 12 columns of width 12 at line size 80: blocks of 5, 5 and 2
    k = 12
    names = [f"v{j}" for j in range(k)]
    blocks = matlist(np.eye(k), names, names, fmt_spec="%10.0g", linesize=80)
    heads = [ln for ln in blocks if ln.startswith("             |")]
    assert [h.split("|")[1].split() for h in heads] == [
        names[:5], names[5:10], names[10:]
    ]


def test_vce_layout_options_and_r_V(ex1):
    session, stream = ex1
    e = session.current.e
    text = run_in(session, stream, "estat vce")
    lines = text.splitlines()
    assert lines[:6] == [
        "",
        "Covariance matrix of coefficients of melogit model",
        "",
        "             | c_use",
        "             |          1.                      1.          2.          3.",
        "        e(V) |      urban         age    children    children    children",
    ]
    names = session.r_matrices["V"].colnames
    assert "c_use:0b.urban" not in names and names[0] == "c_use:1.urban"
    j = e.b.colnames.index("c_use:age")
    assert session.r_matrices["V"].data[1, 1] == e.V.data[j, j]
    text = run_in(session, stream, "estat vce, correlation nolines format(%6.3f)")
    R = session.r_matrices["V"].data
    assert np.allclose(np.diag(R), 1.0)
    assert "Correlation matrix of coefficients of melogit model" in text
    assert "c_use        |" in text and "-------------+------------+" not in text
    text = run_in(session, stream, "estat vce, block")
    assert "  covariances of equation / (row) by equation c_use (column)" in text
    text = run_in(session, stream, "estat vce, diag")
    assert "  covariance matrix of equation c_use " in text.splitlines()


def test_recovariance_in_stata_layout(ex1):
    session, stream = ex1
    text = run_in(session, stream, "estat recovariance")
    v = session.current.e.b.data[0, session.current.e.b.colnames.index("/:var(_cons[district])")]
    from melogit_cli.render.formats import fmt

    assert text.splitlines() == [
        "",
        "Random-effects covariance matrix for level district",
        "",
        "             |     _cons",
        "-------------+-----------",
        f"       _cons | {fmt(v, '%9.0g')}",
    ]
    assert session.r_scalars["relevels"] == 2
    assert session.r_matrices["Cov2"].data[0, 0] == v
    run_in(session, stream, "estat recovariance, relevel(district) corr")
    assert session.r_matrices["Corr"].data[0, 0] == 1.0


def _cluster(session, district: int):
    est = session.current
    design = est.estimation.design
    f = session.ds.frame
    rows = np.flatnonzero(f.district.to_numpy()[design.sample] == district)
    eta = design.fixed.x_est[rows] @ est.estimation.fit.beta
    return eta


def test_wcorrelation_equals_a_one_dimensional_quadrature(ex1):
    """With a random intercept every pair of a cluster shares one u ~ N(0, s2): the
    moments are 1-D integrals, here by a 120-point Gauss-Hermite rule (error far below
    1e-10 for these smooth integrands)."""
    session, stream = ex1
    text = run_in(session, stream, "estat wcorrelation, at(district = 3)")
    assert text.splitlines()[:5] == [
        "",
        "Standard deviations and correlations for district = 3:",
        "",
        "Standard deviations:",
        "",
    ]
    e = session.current.e
    s2 = e.b.data[0, e.b.colnames.index("/:var(_cons[district])")]
    eta = _cluster(session, 3)
    x, w = np.polynomial.hermite_e.hermegauss(120)
    w = w / w.sum()
    P = expit(eta[:, None] + np.sqrt(s2) * x[None, :])
    m1 = P @ w
    cov = (P * w) @ P.T - np.outer(m1, m1)
    np.fill_diagonal(cov, m1 - m1 ** 2)
    assert np.max(np.abs(session.r_matrices["Cov"].data - cov)) < 1e-10
    sd = np.sqrt(np.diag(cov))
    assert np.allclose(session.r_matrices["sd"].data[0], sd, rtol=0, atol=1e-10)
    assert np.allclose(session.r_matrices["Corr"].data, cov / np.outer(sd, sd), atol=1e-9)


def test_wcorrelation_with_a_random_slope_against_a_product_quadrature():
    """Correlated intercept and slope: every pair's moments as one 2-D integral over
    (u1, u0) ~ N(0, G) by a 60 x 60 Gauss-Hermite product rule on G's Cholesky factor
    (not the pairwise bivariate rule of the library)."""
    stream = io.StringIO()
    session = Session(Output(stream))
    execute(session, f"use {DATA / 'bangladesh.dta'}")
    execute(session, "quietly melogit c_use urban age || district: urban, cov(unstructured)")
    run_in(session, stream, "estat wcorrelation, at(district=1) covariance")
    e = session.current.e
    b = dict(zip(e.b.colnames, e.b.data[0], strict=True))
    c10 = b["/:cov(urban[district],_cons[district])"]
    G = np.array([[b["/:var(urban[district])"], c10], [c10, b["/:var(_cons[district])"]]])
    design = session.current.estimation.design
    f = session.ds.frame
    rows = np.flatnonzero(f.district.to_numpy()[design.sample] == 1)
    eta = design.fixed.x_est[rows] @ session.current.estimation.fit.beta
    z = np.column_stack([f.urban.to_numpy()[design.sample][rows], np.ones(len(rows))])
    x, w = np.polynomial.hermite_e.hermegauss(60)
    w = w / w.sum()
    grid = np.array(np.meshgrid(x, x, indexing="ij")).reshape(2, -1)  # 2 x K^2
    weights = np.outer(w, w).ravel()
    u = np.linalg.cholesky(G) @ grid
    P = expit(eta[:, None] + z @ u)  # n x K^2
    m1 = P @ weights
    cov = (P * weights) @ P.T - np.outer(m1, m1)
    np.fill_diagonal(cov, m1 - m1 ** 2)
    assert np.max(np.abs(session.r_matrices["Cov"].data - cov)) < 1e-9


def test_wcorrelation_default_cluster_list_and_errors(ex1):
    session, stream = ex1
    text = run_in(session, stream, "estat wcorrelation, list")
    lines = text.splitlines()
    assert lines[1] == "Standard deviations and correlations for district = 1:"
    assert "Data:" in lines
    assert session.r_matrices["Cov"].data.shape == (117, 117)
    cases = [
        ("estat wcorrelation, at(district=1) all", "at() may not be specified with all", 198),
        ("estat wcorrelation, at(urban=1)", "urban is not a level variable in your model",
         198),
        ("estat wcorrelation, at(district=999)",
         "district == 999 not represented in the estimation sample or at other specified "
         "level values", 459),
        ("estat wcorrelation, at(foo=1)", "variable foo not found", 111),
        ("estat wcorrelation, format(%q)", "invalid %format %q", 120),
        ("estat wcorrelation, iterate(5)", "option iterate(5) not allowed", 198),
        ("estat vce, eqlabels", "option eqlabels not allowed", 198),
        ("estat vce, corr cov", "options correlation and covariance are exclusive", 198),
        ("estat vce, block diag", "options block and diag may not be combined", 184),
        ("estat recovariance, relevel(urban)", "urban is not a level variable in this model",
         198),
        ("estat recovariance, relevel(foo)", "variable foo not found", 111),
    ]
    for command, message, rc in cases:
        with pytest.raises(StataError) as err:
            execute(session, command)
        assert (err.value.message, err.value.rc) == (message, rc), command
