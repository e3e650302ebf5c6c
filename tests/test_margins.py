"""margins and marginsplot after melogit: values against independent computations, Stata's
layout, the plot files, bad input."""

from __future__ import annotations

import io
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from conftest import DATA, fitted

from melogit_cli.errors import StataError
from melogit_cli.interp.runner import execute
from melogit_cli.interp.session import Output, Session

EXAMPLE_1 = "melogit c_use i.urban age i.children || district:"


def expit(x):
    return 1.0 / (1.0 + np.exp(-x))


@pytest.fixture(scope="module")
def fit1():
    return fitted(EXAMPLE_1, "bangladesh.dta")


@pytest.fixture(scope="module")
def base_session():
    session = Session(Output(io.StringIO()))
    execute(session, f'use "{DATA / "bangladesh.dta"}"')
    execute(session, f"quietly {EXAMPLE_1}")
    return session


@pytest.fixture
def session(base_session):
    """The fitted session with a fresh output; the estimates are put back afterwards."""
    est = base_session.current
    base_session.out = Output(io.StringIO())
    yield base_session
    base_session.current = est


def run(session: Session, text: str) -> str:
    session.out = Output(io.StringIO())
    execute(session, text)
    return session.out.stream.getvalue()


def pandas_frame(fit1):
    frame = fit1.data.frame
    return frame.to_pandas() if hasattr(frame, "to_pandas") else frame


def average_marginal_mean(fit1, urban=None, age_shift=0.0, points=60):
    """The average over the sample of E_u[invlogit(xb + u)], u ~ N(0, var), by a
    ``points``-point Gauss-Hermite rule, computed from e(b) and the data."""
    frame = pandas_frame(fit1)
    p = fit1.params
    u = frame["urban"].to_numpy(float) if urban is None else np.full(len(frame), urban)
    ch = frame["children"].to_numpy(float)
    xb = (p["c_use:1.urban"] * (u == 1) + p["c_use:age"] * (frame["age"] + age_shift)
          + sum(p[f"c_use:{k}.children"] * (ch == k) for k in (1, 2, 3)) + p["c_use:_cons"])
    x, w = np.polynomial.hermite_e.hermegauss(points)
    sd = np.sqrt(p["/:var(_cons[district])"])
    return float(np.mean(expit(np.asarray(xb)[:, None] + sd * x) @ (w / w.sum())))


# ---------------------------------------------------------------------- values


def test_marginal_prediction_matches_60_point_quadrature(fit1):
    got = fit1.margins()
    assert got.index.tolist() == ["_cons"]
    assert abs(got["estimate"].iloc[0] - average_marginal_mean(fit1)) < 1e-6


def test_dydx_age_is_central_difference_of_average_prediction(fit1):
    h = 1e-4
    fd = (average_marginal_mean(fit1, age_shift=h) - average_marginal_mean(fit1, age_shift=-h))
    fd /= 2 * h
    got = fit1.margins(dydx="age")
    assert got.index.tolist() == ["age"]
    assert abs(got["estimate"].iloc[0] - fd) < 1e-8


def test_urban_margins_equal_averages_of_predict(session):
    text = run(session, "margins i.urban")
    b = session.r_matrices["b"].data[0]
    run(session, "generate double urban0 = urban")
    means = []
    for level in (0, 1):
        run(session, f"replace urban = {level}")
        run(session, f"predict double p{level}, marginal intpoints(30)")
        means.append(float(session.ds.frame[f"p{level}"].mean()))
    run(session, "replace urban = urban0")
    run(session, "drop urban0 p0 p1")
    assert np.allclose(b, means, rtol=0, atol=1e-10)
    assert "      rural  |" in text and "      urban  |" in text


def test_discrete_change_is_difference_of_margins(fit1):
    levels = fit1.margins_result("i.urban")
    change = fit1.margins_result(dydx="urban")
    assert change.rows[0].wrt == "1.urban"
    assert abs(change.b[0] - (levels.b[1] - levels.b[0])) < 1e-12
    J = np.array([[-1.0, 1.0]])
    assert abs(change.V[0, 0] - (J @ levels.V @ J.T)[0, 0]) < 1e-14


def test_delta_method_matches_numerical_jacobian(fit1):
    """The analytic Jacobian (fixed effects and the variance) against central differences
    of the margins in e(b)."""
    from melogit_cli.postest import margins as lib

    res = fit1.margins_result("urban", dydx="age", at={"children": [0, 3]})
    design = fit1.estimation.design
    model = lib.margins_model(fit1.e, design)
    sample = lib.sample_from(fit1.data.frame, np.flatnonzero(design.sample),
                             design.obs_weight, model)
    req = lib.make_request("urban", dydx="age", at={"children": [0, 3]})
    b0 = model.b.copy()
    J = np.zeros((len(res.b), len(b0)))
    for j in range(len(b0)):
        if model.V[j, j] == 0:
            continue
        h = 1e-5 * max(1.0, abs(b0[j]))
        model.b = b0.copy()
        model.b[j] += h
        up = lib.compute_margins(model, sample, req).b
        model.b[j] -= 2 * h
        down = lib.compute_margins(model, sample, req).b
        J[:, j] = (up - down) / (2 * h)
    V = J @ model.V @ J.T
    assert np.allclose(np.sqrt(np.diag(V)), res.se, rtol=1e-6)


def test_eyex_is_average_elasticity(fit1):
    h = 1e-4
    frame = pandas_frame(fit1)
    p = fit1.params
    ch = frame["children"].to_numpy(float)
    x, w = np.polynomial.hermite_e.hermegauss(60)
    sd = np.sqrt(p["/:var(_cons[district])"])
    age = frame["age"].to_numpy(float)

    def mean_at(a):
        xb = (p["c_use:1.urban"] * (frame["urban"] == 1) + p["c_use:age"] * a
              + sum(p[f"c_use:{k}.children"] * (ch == k) for k in (1, 2, 3)) + p["c_use:_cons"])
        return expit(np.asarray(xb)[:, None] + sd * x) @ (w / w.sum())

    elasticity = (mean_at(age + h) - mean_at(age - h)) / (2 * h) * age / mean_at(age)
    got = fit1.margins(eyex="age")["estimate"].iloc[0]
    assert abs(got - elasticity.mean()) < 1e-8


def test_fixedonly_and_xb_predictions(fit1):
    frame = pandas_frame(fit1)
    p = fit1.params
    ch = frame["children"].to_numpy(float)
    xb = np.asarray(p["c_use:1.urban"] * (frame["urban"] == 1) + p["c_use:age"] * frame["age"]
                    + sum(p[f"c_use:{k}.children"] * (ch == k) for k in (1, 2, 3))
                    + p["c_use:_cons"])
    assert abs(fit1.margins(predict="xb")["estimate"].iloc[0] - xb.mean()) < 1e-12
    got = fit1.margins(predict="mu fixedonly")["estimate"].iloc[0]
    assert abs(got - expit(xb).mean()) < 1e-12


def test_at_values_and_frame_columns(fit1):
    got = fit1.margins(at="age=(-10(5)10)")
    assert list(got.columns) == ["estimate", "se", "z", "p", "ll", "ul"]
    assert len(got) == 5
    for k, a in enumerate((-10, -5, 0, 5, 10)):
        frame = pandas_frame(fit1).copy()
        expected = _mean_with(fit1, frame.assign(age=float(a)))
        assert abs(got["estimate"].iloc[k] - expected) < 1e-6


def _mean_with(fit1, frame):
    p = fit1.params
    ch = frame["children"].to_numpy(float)
    xb = (p["c_use:1.urban"] * (frame["urban"] == 1) + p["c_use:age"] * frame["age"]
          + sum(p[f"c_use:{k}.children"] * (ch == k) for k in (1, 2, 3)) + p["c_use:_cons"])
    x, w = np.polynomial.hermite_e.hermegauss(60)
    sd = np.sqrt(p["/:var(_cons[district])"])
    return float(np.mean(expit(np.asarray(xb)[:, None] + sd * x) @ (w / w.sum())))


def test_over_is_the_margin_within_each_group(fit1):
    got = fit1.margins(over="urban")
    frame = pandas_frame(fit1)
    for k, level in enumerate((0, 1)):
        expected = _mean_with(fit1, frame[frame["urban"] == level])
        assert abs(got["estimate"].iloc[k] - expected) < 1e-6


# ---------------------------------------------------------------------- the table


def test_predictive_margins_layout(session):
    text = run(session, "margins i.urban").splitlines()
    assert text[1] == "Predictive margins" + " " * 39 + "Number of obs = 1,934"
    assert len(text[1]) == 78
    assert text[2:5] == ["Model VCE: OIM", "", "Expression: Marginal predicted mean, predict()"]
    assert text[7] == "             |            Delta-method"
    assert text[8] == ("             |     Margin   std. err.      z    P>|z|     [95% conf. "
                       "interval]")
    assert text[9] == "-" * 13 + "+" + "-" * 64
    assert text[10] == "       urban |"
    assert text[-1] == "-" * 78


def test_marginal_effects_layout_and_note(session):
    text = run(session, "margins, dydx(*)").splitlines()
    assert text[1].startswith("Average marginal effects")
    assert "dy/dx wrt:  1.urban age 1.children 2.children 3.children" in text
    assert text[-1] == "Note: dy/dx for factor levels is the discrete change from the base level."
    assert any(line.startswith("                age |  -.00") for line in text)


def test_at_legend_and_stored_results(session):
    text = run(session, "margins, at(age=(-10(5)10)) level(90)")
    assert "1._at: age = -10\n2._at: age = -5\n3._at: age = 0\n" in text
    assert "[90% conf. interval]" in text
    assert "         _at |\n          1  |" in text
    assert session.r_matrices["b"].colnames == [f"{k}._at" for k in range(1, 6)]
    assert session.r_matrices["table"].rownames[:6] == ["b", "se", "z", "pvalue", "ll", "ul"]
    assert session.r_scalars["N"] == 1934
    assert session.r_scalars["k_margins"] == 0  # no marginlist, five at() margins


def test_k_margins_counts_the_terms_of_the_marginlist(session):
    """r(k_margins) is the number of terms in the marginlist (Stata's margins help), not
    the number of margins: urban#children has 8 margins and is one term."""
    run(session, "margins urban#children")
    assert session.r_scalars["k_margins"] == 1
    assert len(session.r_matrices["b"].colnames) == 8
    run(session, "margins urban children")
    assert session.r_scalars["k_margins"] == 2


def test_atmeans_legend(session):
    text = run(session, "margins urban, atmeans")
    assert "Adjusted predictions" in text
    assert "At: age        = .0021979 (mean)\n    0.children = " in text


def test_expression_lines(session):
    assert "Expression: Predicted mean, fixed portion only, predict(mu fixedonly)" in run(
        session, "margins, predict(mu fixedonly)")
    assert "Expression: Linear prediction, fixed portion only, predict(xb)" in run(
        session, "margins, predict(xb) vce(delta)")


def test_post_replaces_estimates(session):
    run(session, "margins i.urban, post")
    e = session.current.e
    assert e.macros["cmd"] == "margins"
    assert e.b.colnames == ["0.urban", "1.urban"]
    with pytest.raises(StataError) as err:
        run(session, "margins")
    assert (err.value.message, err.value.rc) == ("last estimates not found", 301)


# ---------------------------------------------------------------------- marginsplot


def test_marginsplot_png(session, tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib.image as mpimg

    run(session, "margins urban, at(age=(-10(5)10))")
    path = tmp_path / "m.png"
    out = run(session, f'marginsplot, saving("{path}") title("By urban") name(g1)')
    assert out == f"(file {path} saved)\n"
    img = mpimg.imread(path)
    assert img.shape[0] >= 300 and img.shape[1] >= 400
    rgb = img[..., :3]
    assert rgb.std() > 0.05  # not blank
    assert (rgb < 0.5).any()  # drawn marks
    assert "g1" in session.graphs
    with pytest.raises(StataError) as err:
        run(session, f'marginsplot, saving("{path}")')
    assert (err.value.message, err.value.rc) == (f"file {path} already exists", 602)
    run(session, f'marginsplot, saving("{path}", replace) noci')


def test_marginsplot_svg_is_xml(fit1, tmp_path):
    pytest.importorskip("matplotlib")
    fit1.margins("i.children")
    path = tmp_path / "m.svg"
    fig = fit1.marginsplot(saving=path)
    assert fig.axes[0].get_title() == "Predictive margins with 95% CIs"
    root = ET.parse(path).getroot()
    assert root.tag.endswith("svg")


def test_marginsplot_refuses_other_formats(session):
    run(session, "margins")
    with pytest.raises(StataError) as err:
        run(session, "marginsplot, saving(m.gph)")
    assert (err.value.message, err.value.rc) == (
        "file type .gph not supported by marginsplot; use .png or .svg", 198)


def test_marginsplot_without_matplotlib(session, monkeypatch):
    run(session, "margins")
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(StataError) as err:
        run(session, "marginsplot")
    assert (err.value.message, err.value.rc) == (
        "marginsplot requires matplotlib: pip install 'melogit-cli[plot]'", 199)


# ---------------------------------------------------------------------- bad input


def test_margins_before_estimation():
    s = Session(Output(io.StringIO()))
    execute(s, f'use "{DATA / "bangladesh.dta"}"')
    for cmd, msg, rc in (("margins", "last estimates not found", 301),
                         ("marginsplot", "previous command was not margins", 301)):
        with pytest.raises(StataError) as err:
            execute(s, cmd)
        assert (err.value.message, err.value.rc) == (msg, rc)


@pytest.mark.parametrize("cmd, msg, rc", [
    ("margins, dydx(nosuch)", "variable nosuch not found", 111),
    ("margins, dydx(district)", "'district' not found in list of covariates", 322),
    ("margins age", "factor 'age' not found in list of covariates", 322),
    ("margins nosuch", "variable nosuch not found", 111),
    ("margins, at(nosuch=1)", "variable nosuch not found", 111),
    ("margins, at(age=(1(0)3))", "invalid numlist", 121),
    ("margins, at(age)", "at() invalid", 198),
    ("margins, over(nosuch)", "variable nosuch not found", 111),
    ("margins, dydx(age) eyex(age)", "options dydx() and eyex() may not be combined", 198),
    ("margins, eyex(urban)", "factor variable urban not allowed in eyex()", 198),
    ("margins, predict(reffects)", "option reffects not allowed", 198),
    ("margins, predict(mu conditional(ebmeans))", "option conditional(ebmeans) not allowed",
     198),
    ("margins, vce(unconditional)", "option vce(unconditional) not allowed", 198),
    ("margins, level(5)", "level() must be between 10 and 99.99 inclusive", 198),
    ("margins, dydx", "varlist required", 100),
    ("margins, nosuchopt", "option nosuchopt not allowed", 198),
    ("marginsplot, nosuchopt", "option nosuchopt not allowed", 198),
])
def test_bad_input(session, cmd, msg, rc):
    if cmd.startswith("marginsplot"):
        run(session, "margins")
    with pytest.raises(StataError) as err:
        run(session, cmd)
    assert (err.value.message, err.value.rc) == (msg, rc)


@pytest.mark.parametrize("arg", ["5", "100", "99.999", "abc", "9.99", "1e1x"])
def test_level_is_checked_as_melogit_checks_it(session, arg):
    for cmd in (f"margins, level({arg})", f"melogit, level({arg})"):
        with pytest.raises(StataError) as err:
            run(session, cmd)
        assert (err.value.message, err.value.rc) == (
            "level() must be between 10 and 99.99 inclusive", 198)


@pytest.mark.parametrize("level", [5, 100, float("nan")])
def test_python_level_is_checked(fit1, level):
    with pytest.raises(StataError) as err:
        fit1.margins("urban", level=level)
    assert (err.value.message, err.value.rc) == (
        "level() must be between 10 and 99.99 inclusive", 198)


def test_random_slope_variance_enters_the_marginal_mean():
    """With ``|| district: urban, cov(unstr)`` the random part's variance is
    var(urban) u^2 + 2 cov u + var(_cons); urban is a factor in the fixed part and a
    continuous slope in the random part."""
    r = fitted(EXAMPLE_1 + " urban, cov(unstr)", "bangladesh.dta")
    p = r.params
    frame = pandas_frame(r)
    ch = frame["children"].to_numpy(float)
    x, w = np.polynomial.hermite_e.hermegauss(60)
    got = r.margins("i.urban")["estimate"].to_numpy()
    for level in (0, 1):
        xb = (p["c_use:1.urban"] * level + p["c_use:age"] * frame["age"].to_numpy(float)
              + sum(p[f"c_use:{k}.children"] * (ch == k) for k in (1, 2, 3)) + p["c_use:_cons"])
        v = (p["/:var(urban[district])"] * level**2 + p["/:var(_cons[district])"]
             + 2 * p["/:cov(urban[district],_cons[district])"] * level)
        expected = np.mean(expit(xb[:, None] + np.sqrt(v) * x) @ (w / w.sum()))
        assert abs(got[level] - expected) < 1e-6
    assert "At: 0.urban" in r.margins_text(dydx="age", atmeans=True)


def test_if_restricts_the_sample(session, fit1):
    text = run(session, "margins if urban == 1")
    assert "Number of obs = 562" in text
    frame = pandas_frame(fit1)
    expected = _mean_with(fit1, frame[frame["urban"] == 1])
    assert abs(session.r_matrices["b"].data[0, 0] - expected) < 1e-6
