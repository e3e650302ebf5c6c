"""The command line: a real fit, the JSON of e(), and one clear error per bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import DATA

BANGLADESH = str(DATA / "bangladesh.dta")


def melogit(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "melogit_cli.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_fit_prints_the_table_and_writes_json(tmp_path: Path):
    out = tmp_path / "e.json"
    res = melogit(
        "--data", BANGLADESH, "--json", str(out), "c_use i.urban age i.children || district:, or"
    )
    assert res.returncode == 0, res.stderr
    assert "Fitting fixed-effects model:" in res.stdout
    assert "c_use | Odds ratio   Std. err." in res.stdout
    e = json.loads(out.read_text())
    assert set(e) == {"scalars", "macros", "matrices"}
    assert e["macros"]["cmd"] == "meglm" and e["macros"]["cmd2"] == "melogit"
    assert e["macros"]["cmdline"].startswith("melogit c_use")
    b = e["matrices"]["b"]
    assert b["colnames"][:2] == ["c_use:0b.urban", "c_use:1.urban"]
    assert b["colnames"][-1] == "/:var(_cons[district])"
    assert len(b["data"][0]) == len(b["colnames"])
    V = e["matrices"]["V"]
    assert V["rownames"] == V["colnames"] == b["colnames"]
    assert e["scalars"]["N"] == 1934 and e["scalars"]["converged"] == 1
    assert e["matrices"]["N_g"]["data"] == [[60.0]]


def test_iteration_limit_reports_non_convergence(tmp_path: Path):
    out = tmp_path / "e.json"
    res = melogit("--data", BANGLADESH, "--json", str(out), "c_use age || district:, iterate(2)")
    assert res.returncode == 0
    assert "convergence not achieved" in res.stdout
    assert "Warning: Convergence not achieved." in res.stdout
    assert "LR test" not in res.stdout
    e = json.loads(out.read_text())
    assert e["scalars"]["converged"] == 0 and e["scalars"]["ic"] == 2


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    (d / "strings.csv").write_text('a,b,g\n"x",1,1\n"y",0,2\n')
    (d / "notes.txt").write_text("plain text\n")
    (d / "corrupt.dta").write_text("not a Stata file\n")
    return d


BAD_COMMANDS = [
    ("c_use i.urban agee || district:", "variable agee not found", 111),
    ("c_use i.urban age || district:, intpont(7)", "option intpont() not allowed", 198),
    ("c_use i.urban age || district", "only one fixed-effects equation allowed", 198),
    ("c_use i.urban (age || district:", "too few ')' or ']'", 132),
    ("c_use age || district:, intpoints(7", "too few ')' or ']'", 132),
    ("c_use age if age > 100 || district:", "no observations", 2000),
    ("c_use age in 1/5000 || district:", "Obs. nos. out of range", 198),
    ("c_use age [fw=age] || district:", "negative weights encountered", 402),
    (
        "c_use age || district:, intmethod(laplace) intpoints(3)",
        "option intpoints() not allowed with intmethod(laplace)",
        198,
    ),
    ("child1 age if children==0 || district:", "outcome does not vary", 2000),
]


@pytest.mark.parametrize(("command", "message", "rc"), BAD_COMMANDS)
def test_bad_command(command: str, message: str, rc: int):
    res = melogit("--data", BANGLADESH, command)
    assert res.returncode != 0
    assert message in res.stderr
    assert f"r({rc});" in res.stderr
    assert "Traceback" not in res.stderr + res.stdout


@pytest.mark.parametrize(
    ("name", "command", "message", "rc"),
    [
        ("strings.csv", "a b || g:", "a is a string variable", 109),
        ("missing.dta", "a b || g:", "not found", 601),
        ("notes.txt", "a b || g:", "not Stata format", 610),
        ("corrupt.dta", "a b || g:", "not Stata format", 610),
    ],
)
def test_bad_file(files: Path, name: str, command: str, message: str, rc: int):
    res = melogit("--data", str(files / name), command)
    assert res.returncode != 0
    assert message in res.stderr and f"r({rc});" in res.stderr
    assert "Traceback" not in res.stderr + res.stdout
