"""``melogit verify``: the manual's example logs re-run number by number, and every way a
log can be off (an altered number, a cut table, no melogit command, SMCL tags)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import DATA, ROOT

from melogit_cli.cli import main
from melogit_cli.errors import StataError
from melogit_cli.verify.blocks import split_blocks
from melogit_cli.verify.compare import parse_tolerance
from melogit_cli.verify.core import nrtolerance_of, verify_log
from melogit_cli.verify.logfile import smcl_to_text
from melogit_cli.verify.report import html_report, json_report

LOGS = ROOT / "fixtures" / "logs"
EX5 = LOGS / "example5.log"
SE = {"se": 0.003}


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    """The ``melogit`` program in this process: exit status, stdout, stderr."""
    with pytest.raises(SystemExit) as done:
        main(list(args))
    out = capsys.readouterr()
    return done.value.code, out.out, out.err


def altered(tmp_path: Path, old: str, new: str, name: str = "altered.log") -> Path:
    text = EX5.read_text()
    assert text.count(old) == 1
    path = tmp_path / name
    path.write_text(text.replace(old, new))
    return path


# ---------------------------------------------------------------------- example 5


def test_example5_verifies_with_the_laplace_standard_error_tolerance():
    res = subprocess.run(
        [sys.executable, "-m", "melogit_cli.cli", "verify", str(EX5), "--tolerance", "se=0.3%"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    lines = res.stdout.splitlines()
    assert lines[1] == "Tolerance: se 0.3% (and the numbers computed from them)"
    assert lines[-4].startswith("line   25  melogit attain_gt_6 sex || _all:R.sid || pid:, or")
    assert lines[-4].endswith("34 compared, 34 matched") and lines[-3] == ""
    # header 4 (obs, Wald chi2, ll, Prob), groups table 8, coefficient table 20, LR test 2
    assert lines[-2] == "34 numbers compared in 1 command: 34 matched, 0 differ; 0 commands skipped"
    assert lines[-1] == "verified: every number compared matches"
    assert res.stderr == ""


def test_example5_without_tolerance_differs_only_in_what_comes_from_standard_errors():
    report = verify_log(str(EX5))
    assert not report.ok and report.compared == 34
    diffs = report.commands[-1].differences
    assert {d.kind for d in diffs} == {"se", "ci", "chi2"}
    assert [d.label for d in diffs if d.kind == "se"] == [
        "sex: Std. err.",
        "_cons: Std. err.",
        "_all>sid var(_cons): Std. err.",
        "pid var(_cons): Std. err.",
    ]
    assert max(d.relative for d in diffs if d.kind == "se") < 0.003


def test_an_altered_number_fails_and_is_named(capsys, tmp_path: Path):
    path = altered(tmp_path, "   .0621222    -5.41", "   .0631222    -5.41")
    rc, out, err = run_cli(capsys, "verify", str(path), "--tolerance", "se=0.3%")
    assert rc == 1 and err == ""
    assert (
        "           line 76: _cons: Std. err.: published .0631222, ours .0622643"
        "  relative 1.36e-02\n" in out
    )
    assert "34 numbers compared in 1 command: 33 matched, 1 differ; 0 commands skipped\n" in out
    assert out.endswith("NOT verified\n")


def test_an_altered_header_value_fails(tmp_path: Path):
    # 3,436 would match: one unit in the last printed digit
    path = altered(tmp_path, "Number of obs     =      3,435", "Number of obs     =      3,437")
    (diff,) = [d for c in verify_log(str(path), tolerance=SE).commands for d in c.differences]
    assert (diff.line, diff.label, diff.kind, diff.published, diff.ours) == (
        57,
        "Number of obs",
        "n",
        "3,437",
        "3,435",
    )


def test_a_log_cut_mid_table_compares_what_is_there(capsys, tmp_path: Path):
    path = tmp_path / "cut.log"
    path.write_text("\n".join(EX5.read_text().splitlines()[:75]) + "\n")
    rc, out, _ = run_cli(capsys, "verify", str(path), "--tolerance", "se=0.3%")
    assert rc == 0
    assert (
        "warning: the log ends inside a table (line 72 on, command at line 25): "
        "its numbers up to line 75 were compared\n" in out
    )
    assert "18 numbers compared in 1 command: 18 matched, 0 differ" in out


def test_a_log_without_melogit(capsys, tmp_path: Path):
    path = tmp_path / "nomelogit.log"
    path.write_text("\n".join(EX5.read_text().splitlines()[:23]) + "\n")
    rc, out, err = run_cli(capsys, "verify", str(path))
    assert (rc, out) == (1, "")
    assert err == f"{path} has no melogit command: nothing to verify\nr(198);\n"


def test_files_that_are_not_logs(capsys, tmp_path: Path):
    rc, _, err = run_cli(capsys, "verify", str(tmp_path / "none.log"))
    assert (rc, err) == (1, f"file {tmp_path / 'none.log'} not found\nr(601);\n")
    text = tmp_path / "notes.txt"
    text.write_text("results\n1.234\n")
    rc, _, err = run_cli(capsys, "verify", str(text))
    assert rc == 1
    assert err == f"file {text} not a Stata log: it has no command lines ('. ')\nr(610);\n"


def test_bad_tolerances(capsys):
    rc, _, err = run_cli(capsys, "verify", str(EX5), "--tolerance", "sd=1%")
    assert rc == 1
    assert err == (
        "--tolerance: unknown kind sd (kinds: b, se, z, p, ci, var, ll, chi2, n, iter, "
        "display, other)\nr(198);\n"
    )
    with pytest.raises(StataError) as bad:
        parse_tolerance(["se=abc"])
    assert (bad.value.message, bad.value.rc) == (
        "--tolerance se=abc: give KIND=VALUE, e.g. se=0.3% or se=0.003",
        198,
    )
    assert parse_tolerance(["se=0.3%,b=1e-5", "var=0.002"]) == {
        "se": 0.003,
        "b": 1e-5,
        "var": 0.002,
    }


def test_reports_are_not_written_over_the_log(capsys):
    rc, _, err = run_cli(capsys, "verify", str(EX5), "--html", str(EX5))
    assert rc == 1
    assert err == f"--html names the log file {EX5}; give another file\nr(198);\n"


# ---------------------------------------------------------------------- SMCL


def as_smcl(text: str, unknown: bool = True) -> str:
    """A plain log written as Stata writes SMCL: styles, line drawing, columns."""
    out = ["{smcl}", "{com}{sf}{ul off}{txt}{.-}", "      name:  {res}<unnamed>", "{txt}{.-}"]
    for line in text.splitlines():
        if line.startswith((". ", "> ")):
            out.append("{com}" + line)
            continue
        line = re.sub(r"-{5,}", lambda m: "{hline " + str(len(m.group(0))) + "}", line)
        line = line.replace("}+{", "}{c +}{").replace("|", "{c |}")
        line = re.sub(r"^( {4,})", lambda m: "{space " + str(len(m.group(1))) + "}", line)
        out.append("{txt}" + line.replace("{c {c |}}", "{c |}"))
    if unknown:
        out[8] = "{blink}" + out[8] + "{zz 3:}"
        out[-1] = out[-1] + "{sparkle:!}"
    return "\n".join(out) + "\n"


def test_smcl_log_with_unknown_tags(capsys, tmp_path: Path):
    path = tmp_path / "example5.smcl"
    path.write_text(as_smcl(EX5.read_text()))
    rc, out, _ = run_cli(capsys, "verify", str(path), "--tolerance", "se=0.3%")
    assert rc == 0, out
    assert out.startswith(f"Verifying {path} (SMCL log, 4 commands)\n")
    assert (
        "note: line 9: unknown SMCL tag {blink} ignored\n"
        "note: line 9: unknown SMCL tag {zz 3:}: its text is kept\n"
        "note: line 92: unknown SMCL tag {sparkle:!}: its text is kept\n\n" in out
    )
    assert "34 numbers compared in 1 command: 34 matched, 0 differ" in out


def test_smcl_tags():
    notes: list[str] = []
    assert smcl_to_text("{txt}{hline 13}{c +}{hline 3}", 1, notes) == "-" * 13 + "+---"
    assert smcl_to_text("{space 9}sex {c |}{res}{col 20}1.5", 1, notes) == (
        "         sex |     1.5"
    )
    assert smcl_to_text("{ralign 6:ab}|{lalign 4:c}|{res:x}{c -(}{c )-}", 1, notes) == (
        "    ab|c   |x{}"
    )
    assert smcl_to_text("{hline 3}{c TT}{c BT}{c 0x41}{c 66}", 1, notes) == "-----AB"
    assert notes == []


# ---------------------------------------------------------------------- commands


def test_continued_and_wrapped_commands():
    lines = [
        (1, ". melogit c_use i.urban age i.children, nofvlabel ///"),
        (2, ">     || district:"),
        (3, "output"),
        (4, ". display " + "1" * 69),
        (5, "> 23"),
        (6, ". display 1"),
        (7, "> + 2"),
        (8, "  (output omitted)"),
    ]
    blocks = split_blocks(lines)
    assert [b.command for b in blocks] == [
        "melogit c_use i.urban age i.children, nofvlabel || district:",
        "display " + "1" * 69 + "23",
        "display 1 + 2",
    ]
    assert [b.omitted for b in blocks] == [False, False, True]


def test_skipped_commands_data_folder_and_display(tmp_path: Path):
    folder = tmp_path / "data"
    folder.mkdir()
    shutil.copy(DATA / "fifeschool.dta", folder / "schools.dta")
    text = EX5.read_text().replace(
        ". use https://www.stata-press.com/data/r19/fifeschool",
        ". xtset pid\n\n. use /published/path/schools\n",
    )
    text += "\n. display 2 + 3\n5\n\n. log close\n      name:  <unnamed>\n"
    log = tmp_path / "skips.log"
    log.write_text(text)
    report = verify_log(str(log), str(folder), SE)
    assert report.ok
    statuses = [(c.command.split()[0], c.status, c.note) for c in report.commands]
    assert statuses[0] == ("xtset", "skipped", "not supported here (unrecognized command:  xtset)")
    assert statuses[1] == ("use", "run", "")
    assert statuses[-2] == ("display", "compared", "")
    assert statuses[-1] == (
        "log",
        "skipped",
        "not run: it manages the log or the session, not results",
    )
    (shown,) = report.commands[-2].comparisons
    assert (shown.label, shown.kind, shown.published, shown.ours) == ("display",) * 2 + ("5",) * 2
    assert report.compared == 35


def test_a_command_that_fails_for_us(tmp_path: Path):
    log = tmp_path / "fails.log"
    log.write_text(
        ". use https://www.stata-press.com/data/r19/bangladesh\n"
        "(Bangladesh Fertility Survey, 1989)\n\n"
        ". melogit c_use nosuch || district:\n\nFitting fixed-effects model:\n"
    )
    report = verify_log(str(log))
    assert not report.ok
    (failed,) = report.failed
    assert failed.note == (
        "ours stopped with: variable nosuch not found r(111); the log shows no error"
    )


# ---------------------------------------------------------------------- reports


def test_json_report(tmp_path: Path, capsys):
    path = altered(tmp_path, "   .0621222    -5.41", "   .0631222    -5.41")
    out = tmp_path / "report.json"
    rc, _, _ = run_cli(capsys, "verify", str(path), "--tolerance", "se=0.3%", "--json", str(out))
    data = json.loads(out.read_text())
    assert rc == 1 and data["ok"] is False
    assert data["summary"]["compared"] == 34 and data["summary"]["differ"] == 1
    fit = data["commands"][-1]
    assert (fit["line"], fit["status"], fit["compared"], fit["matched"]) == (25, "compared", 34, 33)
    (diff,) = fit["differences"]
    assert {k: diff[k] for k in ("line", "label", "kind", "published", "ours", "match")} == {
        "line": 76,
        "label": "_cons: Std. err.",
        "kind": "se",
        "published": ".0631222",
        "ours": ".0622643",
        "match": False,
    }
    assert diff["relative_difference"] == pytest.approx(0.0136, abs=1e-4)


def test_html_report_in_a_headless_browser(tmp_path: Path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("no chromium binary (Debian package: chromium)")
    path = altered(tmp_path, "   .0621222    -5.41", "   .0631222    -5.41")
    page = tmp_path / "report.html"
    page.write_text(html_report(verify_log(str(path), tolerance=SE)))
    res = subprocess.run(
        [browser, "--headless", "--disable-gpu", "--no-sandbox", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    dom = res.stdout
    assert "<title>melogit verify" in dom
    highlighted = re.findall(r'<span class="diff" title="([^"]*)">([^<]*)</span>', dom)
    assert highlighted == [
        ("_cons: Std. err.: ours .0622643", ".0631222"),
        ("_cons: Std. err.: published .0631222", ".0622643"),
    ]
    assert dom.count('<span class="match"') == 2 * 33


def test_json_of_a_clean_run_has_every_number():
    data = json.loads(json_report(verify_log(str(EX5), tolerance=SE)))
    assert data["ok"] is True
    numbers = data["commands"][-1]["numbers"]
    assert len(numbers) == 34 and all(n["match"] for n in numbers)
    assert {n["kind"] for n in numbers} == {"n", "chi2", "ll", "p", "b", "se", "z", "ci", "var"}


# ---------------------------------------------------------------------- examples 1-3

# The manual's bangladesh is Stata's file; ours (bundled) is the public mlmRev copy, which
# differs in a few records: estimates agree to 2-3 digits, counts and most p-values exactly.
ROW_ALL = ("Coefficient", "Std. err.", "[95% conf. interval] lower", "[95% conf. interval] upper")


def cells(row: str, *columns: str) -> list[str]:
    return [f"{row}: {c}" for c in columns]


EXPECTED = {
    "example1": {
        26: [
            "Log likelihood",
            "Wald chi2(5)",
            *cells("1.urban", "Std. err."),
            *cells("age", "Std. err.", "[95% conf. interval] lower", "[95% conf. interval] upper"),
            *cells("children 1", *ROW_ALL, "z"),
            *cells("children 2", *ROW_ALL, "z"),
            *cells("children 3", *ROW_ALL),
            *cells("_cons", *ROW_ALL),
            *cells("district var(_cons)", "Std. err."),
        ],
    },
    "example2": {
        14: ["LR chi2(1)", "Prob > chi2"],
        26: [
            "Log likelihood",
            "Wald chi2(5)",
            *cells("1.urban", "Std. err."),
            *cells("age", *ROW_ALL, "z"),
            *cells("children 1", *ROW_ALL, "z"),
            *cells("children 2", *ROW_ALL, "z"),
            *cells("children 3", *ROW_ALL),
            *cells("_cons", *ROW_ALL),
            *cells("district var(1.urban)", "Coefficient", "Std. err."),
            *cells("district var(_cons)", "Std. err."),
            *cells(
                "district cov(1.urban, _cons)",
                "Coefficient",
                "Std. err.",
                "[95% conf. interval] lower",
            ),
            "LR test vs. logistic model: chi2(3)",
        ],
        88: ["LR chi2(1)"],
    },
    "example3": {
        4: [
            "Log likelihood",
            "Wald chi2(6)",
            *cells("urban 0", *ROW_ALL),
            *cells("urban 1", *ROW_ALL),
            *cells("age", *ROW_ALL, "z"),
            *cells("children 1", *ROW_ALL, "z"),
            *cells("children 2", *ROW_ALL, "z"),
            *cells("children 3", *ROW_ALL),
            *cells("district var(0.urban)", "Std. err."),
            *cells("district var(1.urban)", "Std. err."),
            *cells(
                "district cov(0.urban, 1.urban)",
                "Coefficient",
                "Std. err.",
                "[95% conf. interval] lower",
            ),
            "LR test vs. logistic model: chi2(3)",
        ],
    },
}
COUNTS = {"example1": 51, "example2": 65, "example3": 63}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_examples_1_to_3_on_the_public_bangladesh(name: str):
    report = verify_log(str(LOGS / f"{name}.log"))
    assert report.compared == COUNTS[name]
    assert not report.failed
    found = {c.line: sorted(d.label for d in c.differences) for c in report.commands}
    assert {line: labels for line, labels in found.items() if labels} == {
        line: sorted(labels) for line, labels in EXPECTED[name].items()
    }
    # what does not depend on the differing records matches: counts and group sizes
    same = {c.label for item in report.commands for c in item.comparisons if c.ok}
    assert {"Number of obs", "Number of groups", "min", "avg", "max"} <= same


def test_iteration_logs_on_request(capsys):
    rc, out, _ = run_cli(capsys, "verify", str(EX5), "--tolerance", "se=0.3%", "--iterations")
    assert rc == 1
    # the fixed-effects phase and the grid node agree; Stata's Laplace fit takes 13 Newton
    # steps (not concave at first) where ours takes 6
    assert (
        "           line 43: Fitting full model: Iteration 1: Log likelihood: "
        "published -2227.9507, ours -2223.2428  relative 2.11e-03\n" in out
    )
    assert (
        "           line 55: Fitting full model: Iteration 13: Log likelihood: "
        "published -2220.0035, ours (not in our output)\n" in out
    )
    assert "53 numbers compared in 1 command: 40 matched, 13 differ" in out


def test_the_convergence_allowance_follows_the_command():
    assert nrtolerance_of("melogit y x || g:") == 1e-5
    assert nrtolerance_of("melogit y x || g:, nrtol(1e-7)") == 1e-7
    assert nrtolerance_of("melogit y x || g:, nonrtolerance") == 0.0
