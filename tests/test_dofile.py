"""The do-file interpreter: the manual's examples as a do-file, the commands, bad scripts."""

from __future__ import annotations

import io
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT
from scipy.special import chdtrc

from melogit_cli.errors import StataError
from melogit_cli.interp.runner import execute, run_dofile
from melogit_cli.interp.session import Output, Session
from melogit_cli.interp.source import split_statements
from melogit_cli.render.formats import fmt

EXAMPLES_1_TO_3 = """\
* melogit manual, examples 1, 2, 3 and 5
use https://www.stata-press.com/data/r19/bangladesh
describe
melogit c_use i.urban age i.children, nofvlabel|| district:
estimates store r_int
melogit c_use i.urban age i.children, nofvlabel || district: i.urban
estimates store r_urban
lrtest r_int r_urban
melogit c_use i.urban age i.children, nofvlabel ///
    || district: i.urban, covariance(unstructured)
estimates store r_urban_corr
lrtest r_urban r_urban_corr
melogit c_use ibn.urban age i.children, noconstant nofvlabel ///
    || district: ibn.urban, noconstant cov(unstructured)
estimates store r_ibn
"""

EXAMPLE_5 = """\
* example 5
webuse fifeschool, clear
describe
generate byte attain_gt_6 = attain > 6
melogit attain_gt_6 sex || _all:R.sid || pid:, or
estimates store crossed
"""


def run_text(text: str, tmp_path: Path, name: str = "t.do") -> tuple[Session, object, str]:
    path = tmp_path / name
    path.write_text(text)
    stream = io.StringIO()
    session, failure = run_dofile(path, stream)
    return session, failure, stream.getvalue()


def melogit_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "melogit_cli.cli", *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd,
    )


def new_session() -> tuple[Session, io.StringIO]:
    stream = io.StringIO()
    return Session(Output(stream)), stream


@pytest.fixture(scope="module")
def examples(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("examples")
    return run_text(EXAMPLES_1_TO_3, tmp)


# ---------------------------------------------------------------------- the manual


def _lr_lines(e0, e1) -> tuple[str, str]:
    chi2 = 2 * (e1.scalars["ll"] - e0.scalars["ll"])
    df = e1.scalars["rank"] - e0.scalars["rank"]
    p = chdtrc(df, chi2)
    return f" LR chi2({int(df)}) = {fmt(chi2, '%6.2f')}", f"Prob > chi2 = {fmt(p, '%6.4f')}"


def test_examples_1_to_3_run_end_to_end(examples):
    session, failure, out = examples
    assert failure is None, out
    assert set(session.stored) == {"r_int", "r_urban", "r_urban_corr", "r_ibn"}
    assert out.count("Mixed-effects logistic regression") == 4
    assert out.count("Fitting full model:") == 4
    assert "(Bangladesh Fertility Survey, 1989)" in out
    assert ". melogit c_use i.urban age i.children, nofvlabel ///" in out
    assert ">     || district: i.urban, covariance(unstructured)" in out
    for s in session.stored.values():
        assert s.e.scalars["converged"] == 1


def test_example_1_numbers(examples):
    session, _, out = examples
    e = session.stored["r_int"].e
    assert e.scalars["rank"] == 7
    assert math.isclose(e.scalars["ll"], -1206.6742, abs_tol=1e-3)
    assert "LR test vs. logistic model: chibar2(01) =" in out


def test_lrtest_output_as_the_manual(examples):
    session, _, out = examples
    lines = out.splitlines()
    stored = session.stored
    # lrtest r_int r_urban: one variance on the boundary
    i = lines.index(". lrtest r_int r_urban")
    block = lines[i + 1 : i + 12]
    assert block[:3] == ["", "Likelihood-ratio test", "Assumption: r_int nested within r_urban"]
    chi_line, p_line = _lr_lines(stored["r_int"].e, stored["r_urban"].e)
    assert block[4] == chi_line and block[5] == p_line
    assert chi_line == " LR chi2(1) =   3.64"  # the manual (Stata's file): 3.66
    assert p_line == "Prob > chi2 = 0.0564"  # the manual: 0.0558
    note = " ".join(" ".join(block[7:10]).split())
    assert note == (
        "Note: The reported degrees of freedom assumes the null hypothesis is not on the "
        "boundary of the parameter space. If this is not true, then the reported test is "
        "conservative."
    )
    assert "the null hypothesis is not on" in block[7]
    # lrtest r_urban r_urban_corr: a covariance, no boundary note
    j = lines.index(". lrtest r_urban r_urban_corr")
    block = lines[j + 1 : j + 8]
    assert block[2] == "Assumption: r_urban nested within r_urban_corr"
    chi_line, p_line = _lr_lines(stored["r_urban"].e, stored["r_urban_corr"].e)
    assert block[4] == chi_line == " LR chi2(1) =  11.35"  # the manual: 11.38
    assert block[5] == p_line == "Prob > chi2 = 0.0008"  # the manual: 0.0007
    assert block[6] == "" and not any("Note:" in x for x in lines[j + 1 : j + 9])
    assert session.r_scalars["df"] == 1


def test_examples_2_and_3_are_the_same_model(examples):
    session, _, _ = examples
    e2, e3 = session.stored["r_urban_corr"].e, session.stored["r_ibn"].e
    assert math.isclose(e2.scalars["ll"], e3.scalars["ll"], abs_tol=1e-4)


def test_examples_in_order_with_example_5_via_the_cli(tmp_path):
    path = ROOT / "fixtures" / "dofiles" / "manual_examples.do"
    assert path.read_text() == EXAMPLES_1_TO_3 + EXAMPLE_5
    res = melogit_cli("do", str(path), cwd=tmp_path)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr
    out = res.stdout
    assert "Assumption: r_int nested within r_urban" in out
    assert "Assumption: r_urban nested within r_urban_corr" in out
    assert ". generate byte attain_gt_6 = attain > 6" in out
    assert "(School data from Fife, Scotland)" in out
    tail = out[out.index(". melogit attain_gt_6 sex || _all:R.sid || pid:, or") :]
    # the manual's lines for example 5
    assert "note: crossed random-effects model specified; option intmethod(laplace)\n" in tail
    assert "Grid node 0:  Log likelihood = -2234.6403" in tail
    assert "           _all |          1      3,435    3,435.0      3,435" in tail
    assert "            pid |        148          1       23.2         72" in tail
    assert "Integration method: laplace" in tail
    assert "Log likelihood = -2220.0035 " in tail
    assert "LR test vs. logistic model: chi2(2) = 195.80              Prob > chi2 = 0.0000" in tail
    assert "_all>sid     |" in tail and ". estimates store crossed" in tail


# ---------------------------------------------------------------------- bad scripts

BAD = [
    ("unknown", "webuse bangladesh\nfoo x y\n", 2, "unrecognized command:  foo", 199),
    (
        "syntax",
        "webuse bangladesh\n* a comment\n\n/* a block\n   comment */\ngenerate x = 1\n"
        "summarize x,, detail\n",
        7,
        "invalid syntax",
        198,
    ),
    ("missing_file", "use no_such_file.dta\n", 1, "file no_such_file.dta not found", 601),
    ("existing", "webuse bangladesh\ngenerate age = 1\n", 2, "variable age already defined", 110),
    (
        "lrtest",
        "webuse bangladesh\nquietly melogit c_use age || district:\nestimates store A\n"
        "lrtest A B\n",
        4,
        "estimation result B not found",
        111,
    ),
    ("predict", "webuse bangladesh\npredict p\n", 2, "last estimates not found", 301),
]


@pytest.mark.parametrize(("name", "text", "line", "message", "rc"), BAD, ids=[b[0] for b in BAD])
def test_bad_script_stops_with_line_message_and_rc(tmp_path, name, text, line, message, rc):
    path = tmp_path / f"{name}.do"
    path.write_text(text + "display \"not reached\"\n")
    res = melogit_cli("do", str(path))
    assert res.returncode != 0
    assert f"{message}\nr({rc});" in res.stdout
    assert "end of do-file" in res.stdout
    assert "not reached" not in res.stdout
    assert f"line {line}:" in res.stderr
    assert f"{message}\nr({rc});" in res.stderr


def test_error_under_capture_sets_rc_and_continues(tmp_path):
    session, failure, out = run_text(
        "webuse bangladesh\ncapture generate age = 1\ndisplay _rc\ncapture foo\n"
        "display _rc\ncapture display 1\ndisplay _rc\n",
        tmp_path,
    )
    assert failure is None
    lines = out.splitlines()
    assert lines[lines.index(". display _rc") + 1] == "110"
    assert "199" in lines and "0" in lines
    assert "already defined" not in out


def test_capture_noisily_shows_the_error(tmp_path):
    _, failure, out = run_text("capture noisily foo\ndisplay _rc\n", tmp_path)
    assert failure is None
    assert "unrecognized command:  foo\nr(199);" in out


def test_missing_do_file_is_an_error(tmp_path):
    res = melogit_cli("do", str(tmp_path / "nothere.do"))
    assert res.returncode != 0
    assert "not found" in res.stderr and "r(601);" in res.stderr


# ---------------------------------------------------------------------- source text


def test_comments_continuations_and_delimit():
    text = (
        "* star comment\n"
        "display 1 // trailing\n"
        "display 2 /* inline */ + 3\n"
        "display 4 ///\n"
        "  + 5\n"
        "/* spanning\n"
        "   lines */ display 6\n"
        "#delimit ;\n"
        "display\n 7 ;  display 8;\n"
        "#delimit cr\n"
        'display "http://x.y" // comment\n'
    )
    stmts = [s for s in split_statements(text) if s.kind == "command"]
    assert [(s.line, " ".join(s.text.split())) for s in stmts] == [
        (2, "display 1"),
        (3, "display 2 + 3"),
        (4, "display 4 + 5"),
        (6, "display 6"),
        (9, "display 7"),
        (10, "display 8"),
        (12, 'display "http://x.y"'),
    ]
    session, stream = new_session()
    for s in stmts:
        execute(session, s.text)
    assert stream.getvalue().split() == ["1", "5", "9", "6", "7", "8", "http://x.y"]


def test_echo_is_statas_log(tmp_path):
    _, _, out = run_text("display 1\n* note\ndisplay 2 ///\n  + 3\n", tmp_path)
    assert out.splitlines() == [". display 1", "1", "", ". * note", ". display 2 ///", ">   + 3",
                                "5", ""]


# ---------------------------------------------------------------------- commands


def test_prefixes_quietly_and_noisily(tmp_path):
    _, _, out = run_text(
        "quietly display 1\nqui: display 2\nquietly noisily display 3\n", tmp_path
    )
    assert out.splitlines() == [". quietly display 1", "", ". qui: display 2", "",
                                ". quietly noisily display 3", "3", ""]


def test_display_expressions_and_results():
    session, stream = new_session()
    execute(session, "webuse bangladesh")
    execute(session, "quietly melogit c_use age || district:")
    stream.truncate(0)
    stream.seek(0)
    e = session.current.e
    j = e.b.colnames.index("c_use:age")
    execute(session, 'display "b=" _b[age] " se=" _se[c_use:age]')
    execute(session, "display %9.4f e(ll)")
    execute(session, "display e(cmd) + e(depvar)")
    execute(session, "display _b[/var(_cons[district])] - _b[/:var(_cons[district])]")
    execute(session, 'display e(N) * 2 " " 1/3')
    execute(session, "summarize age")
    execute(session, 'display r(N) _col(10) "|" _skip(2) "x" _n "next"')
    execute(session, "display 2^10")
    lines = stream.getvalue().splitlines()
    b, se = float(e.b.data[0, j]), math.sqrt(e.V.data[j, j])
    assert lines[0] == f"b={fmt(b, '%10.0g').strip()} se={fmt(se, '%10.0g').strip()}"
    assert lines[1] == fmt(e.scalars["ll"], "%9.4f")
    assert lines[2] == "meglmc_use"
    assert lines[3] == "0"
    assert lines[4] == "3868 .33333333"
    assert "1934     |  x" in lines
    assert lines[-2:] == ["next", "1024"]


def test_display_unknown_coefficient_and_no_estimates():
    session, _ = new_session()
    with pytest.raises(StataError) as err:
        execute(session, "display _b[age]")
    assert err.value.rc == 301
    execute(session, "webuse bangladesh")
    execute(session, "quietly melogit c_use age || district:")
    with pytest.raises(StataError) as err:
        execute(session, "display _b[nothere]")
    assert (err.value.message, err.value.rc) == ("[nothere] not found", 111)


def test_generate_storage_types_and_messages():
    session, stream = new_session()
    execute(session, "webuse bangladesh")
    execute(session, "generate f = 1/3")
    execute(session, "generate double d = 1/3")
    execute(session, "generate byte b = 2.7 if urban")
    execute(session, "generate s = \"a\" + string(district)")
    execute(session, "generate byte big = 1000")
    f = session.ds.frame
    assert f["f"][0] == float(np.float32(1 / 3)) and f["f"][0] != 1 / 3
    assert f["d"][0] == 1 / 3
    assert set(np.unique(f["b"][f.urban == 1])) == {2.0}
    assert f["b"][f.urban == 0].isna().all()
    assert f["s"][0] == "a1" and session.ds.storage_type("s") == "str3"
    assert f["big"].isna().all()
    assert session.ds.storage_type("b") == "byte" and session.ds.storage_type("f") == "float"
    out = stream.getvalue()
    assert "(1,372 missing values generated)" in out
    assert "(1,934 missing values generated)" in out
    with pytest.raises(StataError) as err:
        execute(session, "generate byte s2 = \"x\"")
    assert err.value.rc == 109
    with pytest.raises(StataError) as err:
        execute(session, "generate 2x = 1")
    assert err.value.rc == 198


def test_replace_counts_and_promotes():
    session, stream = new_session()
    execute(session, "webuse bangladesh")
    execute(session, "generate byte k = 1")
    execute(session, "replace k = 2 if urban == 1")
    execute(session, "replace k = k + .5 in 1/3")
    execute(session, "replace k = . in 4")
    out = stream.getvalue()
    assert "(562 real changes made)" in out
    assert "(variable k was byte now float)" in out
    assert "(3 real changes made)" in out
    assert "(1 real change made, 1 to missing)" in out
    with pytest.raises(StataError) as err:
        execute(session, "replace nothere = 1")
    assert err.value.rc == 111


def test_keep_drop_sort():
    session, stream = new_session()
    execute(session, "webuse bangladesh")
    execute(session, "sort age district")
    ages = session.ds.frame["age"].to_numpy()
    assert np.all(np.diff(ages) >= 0)
    execute(session, "drop if urban == 1")
    execute(session, "keep in 1/100")
    execute(session, "drop child1-child3")
    execute(session, "keep district c_use age")
    assert session.ds.varnames == ["district", "c_use", "age"]
    assert session.ds.nobs == 100
    assert "(562 observations deleted)" in stream.getvalue()
    assert "(1,272 observations deleted)" in stream.getvalue()
    with pytest.raises(StataError) as err:
        execute(session, "drop")
    assert err.value.rc == 100


def test_save_use_export_import_roundtrip(tmp_path):
    session, stream = new_session()
    execute(session, "webuse bangladesh")
    execute(session, "generate double r = age / 7")
    execute(session, "generate byte k = urban + 1")
    execute(session, "generate f = age / 3")
    dta, csv = tmp_path / "b.dta", tmp_path / "b.csv"
    execute(session, f"save {dta}")
    with pytest.raises(StataError) as err:
        execute(session, f"save {dta}")
    assert (err.value.message, err.value.rc) == (f"file {dta} already exists", 602)
    execute(session, f"export delimited district c_use r using {csv}, replace")
    execute(session, f"use {dta}, clear")
    assert session.ds.value_labels["urban"] == {0: "rural", 1: "urban"}
    assert session.ds.label == "Bangladesh Fertility Survey, 1989"
    assert session.ds.frame["r"].equals(session.ds.frame["age"] / 7)
    assert [session.ds.storage_type(v) for v in ("r", "k", "f")] == ["double", "byte", "float"]
    assert session.ds.frame["f"].equals((session.ds.frame["age"] / 3).astype(np.float32)
                                        .astype(float))
    execute(session, f"import delimited {csv}, clear")
    assert session.ds.varnames == ["district", "c_use", "r"]
    assert set(session.ds.frame["c_use"]) == {"no", "yes"}  # labels exported
    assert "(3 vars, 1,934 obs)" in stream.getvalue()


def test_use_without_clear_after_changes():
    session, _ = new_session()
    execute(session, "webuse bangladesh")
    execute(session, "generate x = 1")
    with pytest.raises(StataError) as err:
        execute(session, "webuse hospital")
    assert err.value.rc == 4
    execute(session, "webuse hospital, clear")


def test_webuse_serves_only_bundled_data():
    session, stream = new_session()
    with pytest.raises(StataError) as err:
        execute(session, "webuse nlswork")
    assert (err.value.message, err.value.rc) == ("file nlswork.dta not found", 601)
    assert "only the bundled data sets" in stream.getvalue()
    with pytest.raises(StataError) as err:
        execute(session, "use https://www.stata-press.com/data/r19/nlswork")
    assert err.value.rc == 601
    for name in ("bangladesh", "fifeschool", "hospital", "guimmun"):
        execute(session, f"webuse {name}, clear")
        assert session.ds.nobs > 0


def test_describe_and_summarize():
    session, stream = new_session()
    execute(session, "webuse bangladesh")
    execute(session, "describe")
    execute(session, "summarize age")
    out = stream.getvalue()
    assert " Observations:         1,934" in out
    assert "Variable      Storage   Display    Value" in out
    assert "c_use           long    %12.0g" in out
    assert "    Variable |        Obs        Mean    Std. dev.       Min        Max" in out
    assert "         age |      1,934" in out
    assert session.r_scalars["N"] == 1934
    ages = session.ds.frame["age"]
    assert math.isclose(session.r_scalars["mean"], ages.mean())
    assert math.isclose(session.r_scalars["sd"], ages.std())


def test_log_file_receives_the_output(tmp_path):
    log = tmp_path / "out.log"
    _, failure, out = run_text(
        f"display 1\nlog using {log}, replace text\ndisplay 2\nquietly display 3\n"
        "log close\ndisplay 4\n",
        tmp_path,
    )
    assert failure is None
    text = log.read_text()
    assert "log type:  text" in text and "closed on:" in text
    assert ". display 2\n2\n" in text
    assert ". display 4" not in text and ". display 1" not in text
    assert "\n3\n" not in text
    session, _ = new_session()
    with pytest.raises(StataError) as err:
        execute(session, f"log using {log}")
    assert err.value.rc == 602


def test_matrix_and_constraint():
    session, stream = new_session()
    execute(session, "matrix define A = (1, 2 \\ 3, 4)")
    execute(session, "matrix B = A'")
    execute(session, "matrix list A")
    execute(session, "matrix S = (2, 1 \\ 1, 2)")
    execute(session, "matrix list S")
    assert np.array_equal(session.matrices["B"].data, [[1, 3], [2, 4]])
    assert stream.getvalue().splitlines() == [
        "", "A[2,2]", "    c1  c2", "r1   1   2", "r2   3   4",
        "", "symmetric S[2,2]", "    c1  c2", "r1   2", "r2   1   2",
    ]
    execute(session, "constraint define 1 [c_use]age = 0")
    execute(session, "constraint 2 _b[age] = 1")
    assert session.constraints == {1: "[c_use]age = 0", 2: "_b[age] = 1"}
    with pytest.raises(StataError) as err:
        execute(session, "matrix list nothere")
    assert err.value.rc == 111
    with pytest.raises(StataError) as err:
        execute(session, "matrix C = (1, 2 \\ 3)")
    assert err.value.rc == 503


def test_estimates_restore_replay_dir_table_drop():
    session, stream = new_session()
    execute(session, "webuse bangladesh")
    execute(session, "quietly melogit c_use age || district:")
    execute(session, "estimates store small")
    execute(session, "quietly melogit c_use age i.urban || district:")
    execute(session, "estimates store big")
    execute(session, "estimates restore small")
    assert session.current is session.stored["small"]
    stream.truncate(0)
    stream.seek(0)
    execute(session, "melogit, or")
    assert "Odds ratio" in stream.getvalue()
    execute(session, "estimates replay big")
    execute(session, "estimates dir")
    execute(session, "estimates table small big, se stats(N ll)")
    out = stream.getvalue()
    assert "Model big" in out
    # estimates table heads the factor and labels its level, as Stata's _ms_display does
    assert "       urban |\n      urban  |" in out
    assert "       small | meglm        c_use" in out
    execute(session, "lrtest big small")
    assert "Assumption: small nested within big" in stream.getvalue()
    execute(session, "estimates drop small")
    with pytest.raises(StataError) as err:
        execute(session, "estimates restore small")
    assert (err.value.message, err.value.rc) == ("estimation result small not found", 111)


def test_lrtest_refuses_models_that_cannot_be_compared():
    session, _ = new_session()
    execute(session, "webuse bangladesh")
    execute(session, "quietly melogit c_use age || district:")
    execute(session, "estimates store a")
    execute(session, "quietly melogit c_use age if urban == 0 || district:")
    execute(session, "estimates store b")
    with pytest.raises(StataError) as err:
        execute(session, "lrtest a b")
    assert err.value.rc == 498 and err.value.message.startswith("observations differ")
    execute(session, "quietly melogit c_use urban || district:")
    with pytest.raises(StataError) as err:
        execute(session, "lrtest a .")
    assert err.value.message == "df(unrestricted) = df(restricted) = 3"
    execute(session, "quietly melogit urban age || district:")
    with pytest.raises(StataError) as err:
        execute(session, "lrtest a")
    assert err.value.rc == 498 and "not nested" in err.value.message


def test_lrtest_options():
    """df(#) replaces the degrees of freedom, force compares what lrtest would refuse;
    lrtest's other options (stats, dir) are not implemented and refused."""
    session, _ = new_session()
    execute(session, "webuse bangladesh")
    execute(session, "quietly melogit c_use age || district:")
    execute(session, "estimates store a")
    execute(session, "quietly melogit c_use age urban || district:")
    execute(session, "lrtest a ., df(4)")
    chi2 = session.r_scalars["chi2"]
    assert session.r_scalars["df"] == 4
    assert session.r_scalars["p"] == pytest.approx(chdtrc(4, chi2), rel=1e-12)
    execute(session, "quietly melogit c_use age urban if age < 10 || district:")
    with pytest.raises(StataError) as err:
        execute(session, "lrtest a .")
    assert err.value.rc == 498 and err.value.message.startswith("observations differ")
    execute(session, "lrtest a ., force")
    assert session.r_scalars["df"] == 1
    for options, message in [
        ("stats", "option stats not allowed"),
        ("foo", "option foo not allowed"),
        ("df(x)", "df(x) invalid"),
    ]:
        with pytest.raises(StataError) as err:
            execute(session, f"lrtest a ., {options}")
        assert (err.value.message, err.value.rc) == (message, 198)


def test_replay_before_any_fit():
    session, _ = new_session()
    execute(session, "webuse bangladesh")
    with pytest.raises(StataError) as err:
        execute(session, "melogit")
    assert (err.value.message, err.value.rc) == ("last estimates not found", 301)


def test_expressions_never_reach_python_eval(tmp_path, monkeypatch):
    import builtins

    def forbidden(*args, **kwargs):
        raise AssertionError("eval/exec called")

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    _, failure, out = run_text(
        'webuse hospital\ngenerate z = 2^3 + sqrt(16) if _n < 5\ndisplay "__import__(1)"\n'
        "display z[1] * 2\n",
        tmp_path,
    )
    assert failure is None, out
    assert "__import__(1)" in out and "24" in out


def test_cli_do_keeps_one_command_mode(tmp_path):
    path = tmp_path / "short.do"
    path.write_text("webuse hospital\ndescribe\n")
    res = melogit_cli("do", str(path))
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith(". webuse hospital\n")


def test_local_and_global_macros(tmp_path):
    session, failure, out = run_text(
        "webuse bangladesh\n"
        "local covs i.urban age\n"
        'global lev "district"\n'
        "local third = 1/3\n"
        "quietly melogit c_use `covs' || $lev:\n"
        "display \"`third' `=2+2' ${lev}\"\n"
        "local n = e(N)\n"
        "display `n' + 1\n",
        tmp_path,
    )
    assert failure is None, out
    assert session.current.e.macros["cmdline"] == "melogit c_use i.urban age || district:"
    assert ".3333333333333333 4 district" in out.splitlines()
    assert "1935" in out.splitlines()
    assert ". local covs i.urban age" in out  # the echo shows the line as typed


def test_nested_do_run_and_exit(tmp_path):
    (tmp_path / "inner.do").write_text('display "inner"\nlocal z 5\n')
    (tmp_path / "bad.do").write_text("foo\n")
    session, failure, out = run_text(
        f"local z 1\ndo {tmp_path / 'inner.do'}\ndisplay `z'\nrun {tmp_path / 'inner'}\n"
        f"capture do {tmp_path / 'bad.do'}\ndisplay _rc\nexit\ndisplay \"after exit\"\n",
        tmp_path,
    )
    assert failure is None, out
    lines = out.splitlines()
    assert lines.count("inner") == 1  # run shows nothing
    assert lines[lines.index(". display `z'") + 1] == "1"  # locals are local to a do-file
    assert "199" in lines and "after exit" not in lines


def test_blocks_and_loops(tmp_path):
    session, failure, out = run_text(
        "webuse bangladesh\n"
        "forvalues i = 1/3 {\n"
        "    generate byte c`i' = children == `i'\n"
        "}\n"
        "foreach v of varlist c1-c3 {\n"
        "    quietly summarize `v'\n"
        "    display \"`v' \" r(sum)\n"
        "}\n"
        "local total 0\n"
        "foreach k of numlist 2(2)6 {\n"
        "    local total = `total' + `k'\n"
        "}\n"
        "display `total'\n"
        "quietly {\n"
        "    generate one = 1\n"
        '    display "hidden"\n'
        "}\n"
        "capture {\n"
        "    generate two = 2\n"
        "    generate two = 3\n"
        "}\n"
        "display _rc\n",
        tmp_path,
    )
    assert failure is None, out
    f = session.ds.frame
    assert [int(f[f"c{i}"].sum()) for i in (1, 2, 3)] == [
        int((f.children == i).sum()) for i in (1, 2, 3)
    ]
    lines = out.splitlines()
    assert "  2.     generate byte c`i' = children == `i'" in lines and "  3. }" in lines
    assert f"c1 {int((f.children == 1).sum())}" in lines
    assert "12" in lines and "hidden" not in lines and "110" in lines
    assert "one" in session.ds.varnames and "two" in session.ds.varnames


def test_error_inside_a_block_reports_its_line(tmp_path):
    path = tmp_path / "loop.do"
    path.write_text("forvalues i = 1/2 {\n    display `i'\n    foo\n}\n")
    res = melogit_cli("do", str(path))
    assert res.returncode != 0
    assert "line 3:" in res.stderr and "unrecognized command:  foo" in res.stdout
    path.write_text("quietly {\n    display 1\n")
    res = melogit_cli("do", str(path))
    assert res.returncode != 0 and "unexpected end of file\nr(612);" in res.stdout


def test_options_a_command_does_not_take_are_refused():
    session, stream = new_session()
    execute(session, "webuse bangladesh")
    for text, option in (
        ("summarize age, detail", "detail"),
        ("describe, fullnames", "fullnames"),
        ("generate x = 1, replace", "replace"),
        ("sort age, stable", "stable"),
        ("webuse hospital, clear foo(1)", "foo(1)"),
    ):
        with pytest.raises(StataError) as err:
            execute(session, text)
        assert (err.value.message, err.value.rc) == (f"option {option} not allowed", 198)
    start = len(stream.getvalue())
    execute(session, "summarize age, meanonly")
    assert stream.getvalue()[start:] == ""
    assert session.r_scalars["N"] == 1934


def test_python_api_runs_a_do_file(tmp_path):
    from melogit_cli.api import run_dofile as api_run

    path = tmp_path / "api.do"
    path.write_text("summarize c_use\nfoo\n")
    session, failure = api_run(path, data=ROOT / "fixtures" / "data" / "bangladesh.dta")
    assert session.r_scalars["N"] == 1934
    assert (failure.line, failure.command, failure.error.rc) == (2, "foo", 199)
    assert "unrecognized command:  foo" in session.out.stream.getvalue()


def test_list_prints_its_table_once():
    session, stream = new_session()
    execute(session, "webuse bangladesh")
    execute(session, "list c_use urban in 2/4")
    lines = stream.getvalue().splitlines()
    body = lines[lines.index("    | c_use   urban |") :]
    assert body == [
        "    | c_use   urban |",
        "    |---------------|",
        " 2. | no      urban |",
        " 3. | no      urban |",
        " 4. | no      urban |",
        "    +---------------+",
    ]
    assert sum(line == "    +---------------+" for line in lines) == 2
