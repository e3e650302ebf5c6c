"""The Python results object: data from pandas, the statsmodels-like attributes checked
against the printed table and the do-file's commands, and its errors."""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
import pytest
from conftest import DATA

from melogit_cli.api import Results, fit, run_dofile
from melogit_cli.commandline import run_command
from melogit_cli.errors import StataError
from melogit_cli.render.formats import fmt
from melogit_cli.results.eresults import EResults, Matrix

EX1 = "melogit c_use i.urban age i.children || district:"
BANGLADESH = DATA / "bangladesh.dta"


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return pd.read_stata(BANGLADESH)


@pytest.fixture(scope="module")
def from_file() -> Results:
    return fit(EX1, BANGLADESH)


@pytest.fixture(scope="module")
def from_frame(frame) -> Results:
    return fit(EX1, frame)


@pytest.fixture(scope="module")
def cli_output() -> str:
    out = io.StringIO()
    assert run_command(EX1, str(BANGLADESH), None, out) == 0
    return out.getvalue()


# ---------------------------------------------------------------------- data


def test_read_stata_categoricals_fit_as_the_dta_file(from_file, from_frame):
    assert from_frame.e.b.colnames == from_file.e.b.colnames
    assert np.array_equal(from_frame.e.b.data, from_file.e.b.data)
    assert np.array_equal(from_frame.e.V.data, from_file.e.V.data)
    assert from_frame.llf == from_file.llf
    # the categories are the value labels of the factor rows
    assert from_frame.summary() == from_file.summary()
    assert "2 children  |" in from_frame.summary()


def test_dict_of_arrays(frame, from_file):
    data = {
        "c_use": frame["c_use"].cat.codes.to_numpy(),
        "urban": frame["urban"].cat.codes.to_numpy(),
        "children": frame["children"].cat.codes.to_numpy(),
        "age": frame["age"].to_numpy(),
        "district": frame["district"].to_numpy(),
    }
    r = fit(EX1, data)
    assert np.array_equal(r.e.b.data, from_file.e.b.data)


def test_string_level_id_bool_and_string_categorical(frame, from_file):
    df = pd.DataFrame({
        "c_use": frame["c_use"] == "yes",  # bool
        "urban": frame["urban"].astype(str).astype("category"),  # categories rural, urban
        "age": frame["age"],
        "children": frame["children"],
        "district": "d" + frame["district"].astype(str),  # a string level id
    })
    r = fit(EX1, df)
    assert r.e.b.colnames == from_file.e.b.colnames
    np.testing.assert_allclose(r.e.b.data, from_file.e.b.data, rtol=1e-7, atol=1e-9)
    re = r.random_effects()
    assert re.index.name == "district" and "d1" in re.index
    ours = from_file.random_effects()
    assert re.loc["d17", "_cons"] == pytest.approx(ours.loc[17, "_cons"], rel=1e-6)


def test_bad_data_is_a_stata_error():
    with pytest.raises(StataError) as err:
        fit(EX1, {"c_use": 1.0})
    assert err.value.rc == 198
    assert err.value.message == (
        "data: every value of the dict must be an array of the column's values"
    )
    with pytest.raises(StataError) as err:
        fit(EX1, 3)
    assert err.value.message == (
        "data must be a file path, a Dataset, a pandas DataFrame or a dict of arrays"
    )


# ---------------------------------------------------------------------- as printed


def _printed_rows(text: str) -> list[list[str]]:
    """The numbers of each coefficient-table row (fixed: 6, var(): 4)."""
    rows = []
    for line in text.splitlines():
        if "|" not in line:
            continue
        cells = line.split("|", 1)[1].split()
        if cells and all(_number(c) for c in cells) and len(cells) in (4, 6):
            rows.append(cells)
    return rows


def _number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def test_conf_int_and_pvalues_are_the_printed_ones(from_file, cli_output):
    r = from_file
    names = [n for n in r.params.index if not n.split(":")[1].startswith("0b.")]
    rows = _printed_rows(cli_output)
    assert len(rows) == len(names) == 7
    ci, p, z = r.conf_int(), r.pvalues, r.tvalues
    for name, cells in zip(names, rows, strict=True):
        assert cells[0] == fmt(r.params[name], "%9.0g").strip(), name
        assert cells[1] == fmt(r.bse[name], "%9.0g").strip(), name
        assert cells[-2] == fmt(ci.loc[name, "lower"], "%9.0g").strip(), name
        assert cells[-1] == fmt(ci.loc[name, "upper"], "%9.0g").strip(), name
        if len(cells) == 6:
            assert cells[2] == fmt(z[name], "%8.2f").strip(), name
            assert cells[3] == fmt(p[name], "%5.3f").strip(), name
        else:  # a variance: its interval on the log scale, no z or P
            assert math.isnan(p[name]) and math.isnan(z[name])
            b, se, lo = r.params[name], r.bse[name], ci.loc[name, "lower"]
            assert lo == pytest.approx(b / math.exp(1.959963984540054 * se / b), rel=1e-12)


def test_summary_is_the_cli_table(from_file, cli_output):
    table = from_file.summary()
    assert table.lstrip().startswith("Mixed-effects logistic regression")
    assert cli_output.endswith(table)
    assert from_file._repr_html_().startswith("<pre>")
    assert "Log likelihood = -1206.6742" in table


def test_series_frames_and_statistics(from_file):
    r = from_file
    assert isinstance(r.params, pd.Series) and list(r.params.index) == r.e.b.colnames
    assert r.bse["c_use:age"] == math.sqrt(r.e.V.data[2, 2])
    cov = r.cov_params()
    assert cov.loc["c_use:age", "c_use:age"] == r.e.V.data[2, 2]
    assert r.nobs == 1934 and r.converged
    k = r.e.scalars["rank"]
    assert r.aic == pytest.approx(-2 * r.llf + 2 * k, rel=1e-14)
    assert r.bic == pytest.approx(-2 * r.llf + math.log(1934) * k, rel=1e-14)
    narrow = r.conf_int(alpha=0.1)
    assert narrow.loc["c_use:age", "lower"] > r.conf_int().loc["c_use:age", "lower"]
    assert r.to_json() == r.e.to_json()


# ---------------------------------------------------------------------- post-estimation


@pytest.fixture(scope="module")
def dofile_predictions(tmp_path_factory):
    path = tmp_path_factory.mktemp("do") / "pred.do"
    path.write_text(
        f"use {BANGLADESH}\nquietly {EX1}\n"
        "predict double re, reffects\npredict double se, reses\n"
        "predict double mu\npredict double xb, xb\n"
        "predict double mode, reffects ebmodes\n"
    )
    session, failure = run_dofile(path)
    assert failure is None
    return session.ds.frame


def test_random_effects_equal_the_dofile_predict(from_file, dofile_predictions):
    re = from_file.random_effects()
    assert list(re.columns) == ["_cons", "se(_cons)"] and len(re) == 60
    d = dofile_predictions
    per_row = re.loc[d["district"].astype(int)]
    np.testing.assert_array_equal(per_row["_cons"].to_numpy(), d["re"].to_numpy())
    np.testing.assert_array_equal(per_row["se(_cons)"].to_numpy(), d["se"].to_numpy())
    modes = from_file.random_effects(se=False, conditional="ebmodes")
    assert list(modes.columns) == ["_cons"]
    np.testing.assert_array_equal(
        modes.loc[d["district"].astype(int), "_cons"].to_numpy(), d["mode"].to_numpy()
    )
    assert from_file.random_effects(level="district").equals(re)


def test_predict_equals_the_dofile_predict(from_file, dofile_predictions, frame):
    mu = from_file.predict()
    assert mu.name == "mu"
    np.testing.assert_array_equal(mu.to_numpy(), dofile_predictions["mu"].to_numpy())
    np.testing.assert_array_equal(
        from_file.predict(which="xb").to_numpy(), dofile_predictions["xb"].to_numpy()
    )
    # other data: the fixed portion
    new = frame.head(5).set_axis(list("abcde"))
    fo = from_file.predict(new, conditional="fixedonly")
    assert list(fo.index) == list("abcde")
    np.testing.assert_allclose(
        fo.to_numpy(), 1 / (1 + np.exp(-dofile_predictions["xb"].to_numpy()[:5])), rtol=1e-14
    )


def test_icc_sd_recovariance(from_file):
    r = from_file
    v, se_v = r.params["/:var(_cons[district])"], r.bse["/:var(_cons[district])"]
    icc = r.icc()
    assert icc.loc["district", "icc"] == pytest.approx(v / (v + math.pi**2 / 3), rel=1e-14)
    assert icc.attrs["title"] == "Residual intraclass correlation"
    sd = r.sd()
    assert sd.loc["/:sd(_cons[district])", "coef"] == pytest.approx(math.sqrt(v), rel=1e-14)
    assert sd.loc["/:sd(_cons[district])", "se"] == pytest.approx(
        se_v / (2 * math.sqrt(v)), rel=1e-12
    )
    cov = r.recovariance()
    assert cov.loc["_cons", "_cons"] == v


def test_sd_and_recovariance_of_correlated_slopes():
    names = ["y:_cons", "/:var(x[g])", "/:var(_cons[g])", "/:cov(x[g],_cons[g])"]
    V = np.diag([0.01, 0.04, 0.09, 0.01])
    e = EResults(matrices={
        "b": Matrix(["y1"], names, np.array([[0.1, 4.0, 9.0, 3.0]])),
        "V": Matrix(names, names, V),
    })
    r = Results(e, options=None)  # type: ignore[arg-type]
    sd = r.sd()
    assert sd.loc["/:corr(x[g],_cons[g])", "coef"] == pytest.approx(0.5)
    # d corr = dcov/6 - corr/2 (dvar_x/4 + dvar_c/9)
    grad = np.array([1 / 6, -0.5 * 0.5 / 4, -0.5 * 0.5 / 9])
    expected = math.sqrt(grad @ np.diag([0.01, 0.04, 0.09]) @ grad)
    assert sd.loc["/:corr(x[g],_cons[g])", "se"] == pytest.approx(expected, rel=1e-12)
    cor = r.recovariance(correlation=True)
    assert list(cor.index) == ["x", "_cons"] and cor.loc["x", "_cons"] == pytest.approx(0.5)
    with pytest.raises(StataError) as err:
        r.recovariance(level="school")
    assert (err.value.message, err.value.rc) == (
        "level(school) invalid: the levels are g", 198
    )
    with pytest.raises(StataError) as err:
        r.predict()
    assert (err.value.message, err.value.rc) == (
        "predictions require the data of the estimation; refit the model", 321
    )


def test_lrtest_is_the_dofile_statistic(from_file):
    small = fit("melogit c_use i.urban age || district:", BANGLADESH)
    t = small.lrtest(from_file)
    assert t.restricted == "self" and t.unrestricted == "other" and t.df == 3
    assert t.chi2 == pytest.approx(2 * (from_file.llf - small.llf), rel=1e-14)
    with pytest.raises(StataError) as err:
        from_file.lrtest(from_file)
    assert (err.value.message, err.value.rc) == ("df(unrestricted) = df(restricted) = 7", 498)


# ---------------------------------------------------------------------- errors


def test_wrong_keywords_name_the_accepted_ones(from_file):
    with pytest.raises(StataError) as err:
        from_file.predict(whch="xb")
    assert err.value.rc == 198
    assert err.value.message == (
        "option whch not allowed; predict() takes data, which, conditional, marginal, "
        "offset, intpoints, iterate, tolerance"
    )
    with pytest.raises(StataError) as err:
        from_file.conf_int(level=90)
    assert err.value.message == "option level not allowed; conf_int() takes alpha"
    with pytest.raises(StataError) as err:
        fit(EX1, BANGLADESH, iterlog=True)
    assert err.value.message == (
        "option iterlog not allowed; fit() takes command, data, log, constraints, matrices, "
        "client"
    )
    with pytest.raises(StataError) as err:
        from_file.predict(conditional="ebmedian")
    assert (err.value.message, err.value.rc) == ("conditional(ebmedian) invalid", 198)
    with pytest.raises(StataError) as err:
        from_file.random_effects(conditional="fixedonly")
    assert (err.value.message, err.value.rc) == ("conditional(fixedonly) invalid", 198)
    with pytest.raises(StataError) as err:
        from_file.predict(which="pr2")
    assert (err.value.message, err.value.rc) == ("option pr2 not allowed", 198)


def test_random_effects_of_a_nested_model_are_those_predict_gives():
    """Every level's frame, indexed by the ids along its path, holds the same empirical
    Bayes means as the library's random_effects, the source of the do-file's predict."""
    from conftest import fitted, reference

    from melogit_cli.postest.effects import random_effects

    ref = reference("guimmun_lr3_ghermite12")
    r = fitted(ref["command"], "guimmun.dta")
    frames = r.random_effects()
    levels = random_effects(r.estimation)
    assert list(frames) == [lev.level for lev in levels]
    for lev in levels:
        frame = frames[lev.level]
        _, first = np.unique(lev.unit, return_index=True)
        assert len(frame) == len(first)
        for i, name in enumerate(lev.names):
            np.testing.assert_array_equal(frame[name].to_numpy(), lev.mean[:, i])
            np.testing.assert_array_equal(frame[f"se({name})"].to_numpy(), lev.se[:, i])
    assert frames[levels[-1].level].index.nlevels == 2  # the lower level: parent and own id
