"""Fuzz test: mutated commands and do-files never crash, hang or print an internal error.

Each case runs through the command line's entry point in a worker process (fuzz_worker.py);
the test reads the worker's reports with a deadline per case, so a hang is a failure, not a
stuck suite.  For every case: no traceback, no ``r(9999)``, no Python warning, nothing
printed outside the program's own streams, an exit status that agrees with the message
(non-zero exactly when an ``r(#);`` is shown), the case within its time limit, and any
melogit command of up to 10,000 characters parsed in under 0.1 s.
"""

from __future__ import annotations

import json
import os
import queue
import random
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

from conftest import DATA
from fuzz_cases import command_cases, dofile_cases
from fuzz_worker import MARK

SEED = 20261203
MUTATED_COMMANDS = 300
MUTATED_DOFILES = 60
CASE_SECONDS = 10.0  # a case (fit included) must finish within this
KILL_SECONDS = 30.0  # a worker silent this long on one case is hung
PARSE_SECONDS = 0.1  # any command of up to 10,000 characters


def _small_bangladesh(folder: Path) -> Path:
    """The first twelve districts of bangladesh (about 450 women): fits take milliseconds."""
    lines = (DATA / "bangladesh.csv").read_text().splitlines()
    keep = [lines[0]] + [row for row in lines[1:] if int(row.split(",")[0]) <= 12]
    path = folder / "bangladesh_small.csv"
    path.write_text("\n".join(keep) + "\n")
    return path


def _run_worker(cases_file: Path, first: int, cwd: Path) -> subprocess.Popen:
    here = str(Path(__file__).parent)
    paths = filter(None, [here, os.environ.get("PYTHONPATH")])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(paths))
    return subprocess.Popen(
        [sys.executable, str(Path(here) / "fuzz_worker.py"), str(cases_file), str(first)],
        cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def _lines(proc: subprocess.Popen) -> queue.Queue:
    """The worker's output lines, read by a thread so that the reader can wait with a deadline;
    None marks the end."""
    lines: queue.Queue = queue.Queue()

    def read() -> None:
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    return lines


def _collect(cases: list[dict], cases_file: Path, cwd: Path) -> dict[int, dict]:
    """Every case's report; a case whose worker hung or died is reported as such."""
    reports: dict[int, dict] = {}
    first = 0
    while first < len(cases):
        proc = _run_worker(cases_file, first, cwd)
        lines = _lines(proc)
        current, stray = None, []
        wait = KILL_SECONDS * 3  # start-up and the first case
        while True:
            try:
                line = lines.get(timeout=wait)
            except queue.Empty:
                proc.kill()
                reports[current if current is not None else first] = {"hung": True}
                break
            if line is None:
                proc.wait()
                if current is not None or first not in reports:
                    reports[current if current is not None else first] = {
                        "died": proc.returncode, "stray": stray}
                break
            if line.startswith(MARK + "START "):
                current, stray = int(line.split()[2]), []
                wait = KILL_SECONDS
            elif line.startswith(MARK + "DONE "):
                _, _, index, payload = line.rstrip("\n").split(" ", 3)
                reports[int(index)] = dict(json.loads(payload), stray=stray)
                current = None
            else:
                stray.append(line)
        proc.wait()
        first = max(reports) + 1
    return reports


def _problems(case: dict, report: dict) -> list[str]:
    """What is wrong with one case's report (empty when it behaved)."""
    if report.get("hung"):
        return [f"no answer within {KILL_SECONDS} s"]
    if "died" in report:
        return [f"worker died with status {report['died']}: {''.join(report['stray'])[-500:]}"]
    found = []
    text = report["stdout"] + report["stderr"] + "".join(report["stray"])
    if report["crash"]:
        found.append("exception escaped: " + report["crash"][-400:])
    if "Traceback" in text:
        found.append("traceback printed")
    if "r(9999)" in text or "unexpected error" in text:
        found.append("internal error: " + report["stderr"][-300:])
    if report["stray"]:
        found.append("printed outside the program's streams: " + "".join(report["stray"])[:300])
    if report["warnings"]:
        found.append(f"Python warnings: {report['warnings'][:3]}")
    shown_rc = re.search(r"^r\((\d+)\);$", report["stderr"], re.M)
    if report["status"] == 0 and shown_rc:
        found.append(f"exit status 0 with r({shown_rc.group(1)}) shown")
    usage = report["status"] == 2 and "Usage:" in report["stderr"]  # the command line's own
    if report["status"] not in (0, None) and not shown_rc and not usage:
        found.append(f"exit status {report['status']} without an r(#) message")
    if report["seconds"] > CASE_SECONDS:
        found.append(f"took {report['seconds']:.1f} s")
    command = case.get("command")
    if command is not None and len(command) <= 10_000 and report["parse_seconds"] > PARSE_SECONDS:
        found.append(f"parse took {report['parse_seconds']:.3f} s for {len(command)} characters")
    return found


def test_mutated_commands_and_dofiles_fail_cleanly(tmp_path: Path):
    rng = random.Random(SEED)
    shutil.copy(DATA / "bangladesh.dta", tmp_path / "bangladesh.dta")
    cases = command_cases(_small_bangladesh(tmp_path), rng, MUTATED_COMMANDS)
    cases += dofile_cases(tmp_path, rng, MUTATED_DOFILES)
    cases_file = tmp_path / "cases.json"
    cases_file.write_text(json.dumps(cases))
    reports = _collect(cases, cases_file, tmp_path)
    failures = {}
    for i, case in enumerate(cases):
        problems = _problems(case, reports[i]) if i in reports else ["never ran"]
        if problems:
            failures[f"{case['name']}: {case.get('command') or case['argv']}"[:300]] = problems
    assert not failures, f"{len(failures)} of {len(cases)} cases failed:\n" + "\n".join(
        f"- {name}\n    " + "\n    ".join(p) for name, p in failures.items()
    )
