"""Ctrl-C and a closed output pipe end the command line cleanly.

Ctrl-C (SIGINT) at any point after the program has started, and again while it cleans up,
ends it with ``--Break--`` / ``r(1);`` on stderr and exit status 1: never a traceback, click's
``Aborted!`` or a death by the signal.  A reader that stops reading (``melogit ... | head``)
ends it quietly with exit status 1.

Each signal is sent once the program has written a given line, so that where it lands does
not depend on how busy the machine is.  The runs are started together, once for the module,
and each test checks one of them: they take a few seconds in all rather than one each.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import DATA

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

BANGLADESH = str(DATA / "bangladesh.dta")
SLOW = "c_use i.urban age i.children || district: urban, intpoints(30)"  # a fit of 3-4 s
BREAK = "--Break--\nr(1);"
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}  # each line reaches the test when written
ECHO = ". melogit c_use"  # --demo's first line, written once the options are read
FITTING = "Refining starting values:"  # the slow fit has more than 3 s to go

# Ctrl-C inside click's reading of the arguments, the program's earliest work
IN_OPTIONS = """\
import os, signal, sys, click
parse = click.Command.parse_args
def parse_interrupted(*args):
    os.kill(os.getpid(), signal.SIGINT)
    return parse(*args)
click.Command.parse_args = parse_interrupted
from melogit_cli.cli import main
main(sys.argv[1:])
"""
# Ctrl-C inside code run by exec() from a string, as dataclasses and others run it while
# modules are imported, once the program has begun: such an interrupt marks the process, and
# under `python -m` Python used to end it by the signal at exit although it was dealt with
IN_EXEC = """\
import builtins, signal
_exec = builtins.exec
def exec_interrupted(source, *args, **kwargs):
    started = signal.getsignal(signal.SIGINT) not in (signal.default_int_handler, signal.SIG_IGN)
    if isinstance(source, str) and started:
        builtins.exec = _exec
        _exec("import os, signal\\nos.kill(os.getpid(), signal.SIGINT)\\nfor _ in range(9): pass")
    return _exec(source, *args, **kwargs)
builtins.exec = exec_interrupted
"""

# started with Ctrl-C ignored, as by nohup or as a background job of a script
IGNORING = """\
import signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)
from melogit_cli.cli import main
main(sys.argv[1:])
"""


@dataclass
class Run:
    returncode: int
    out: str
    err: str


def start(
    *args: str, cwd: Path, script: str | None = None, env: dict[str, str] = ENV
) -> subprocess.Popen:
    """The command line (or ``script`` given the arguments), stdout and stderr piped."""
    cmd = ["-c", script] if script else ["-m", "melogit_cli.cli"]
    return subprocess.Popen(
        [sys.executable, *cmd, *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=cwd,
        text=True,
    )


def interrupted(
    args: tuple[str, ...],
    cwd: Path,
    anchor: str,
    delay: float = 0.0,
    again: float | None = None,
    after_break: bool = True,
    script: str | None = None,
) -> Run:
    """Ctrl-C ``delay`` seconds after the line holding ``anchor``; with ``again``, a second
    Ctrl-C that many seconds after the program has shown ``--Break--`` (while it cleans up
    and exits), or after the first Ctrl-C when not ``after_break``."""
    proc = start(*args, cwd=cwd, script=script)
    seen = ""
    while anchor not in seen:
        line = proc.stdout.readline()
        if not line:  # ended before the anchor: the test fails on this run's output
            break
        seen += line
    else:
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
    err = ""
    if again is not None and anchor in seen:
        while after_break and "--Break--" not in err:
            line = proc.stderr.readline()
            if not line:
                break
            err += line
        time.sleep(again)
        proc.send_signal(signal.SIGINT)  # nothing once the program has ended
    out = seen + proc.stdout.read()  # stderr holds a few lines: its pipe cannot fill
    err += proc.stderr.read()
    return Run(proc.wait(timeout=120), out, err)


def in_options(cwd: Path) -> Run:
    proc = start("--demo", cwd=cwd, script=IN_OPTIONS)
    out, err = proc.communicate(timeout=120)
    return Run(proc.returncode, out, err)


def in_exec(cwd: Path) -> Run:
    """``python -m melogit_cli.cli --demo`` with IN_EXEC run by Python at start-up."""
    site = cwd / "in_exec"
    site.mkdir()
    (site / "sitecustomize.py").write_text(IN_EXEC)
    path = os.pathsep.join(p for p in (str(site), ENV.get("PYTHONPATH")) if p)
    proc = start("--demo", cwd=cwd, env={**ENV, "PYTHONPATH": path})
    out, err = proc.communicate(timeout=120)
    return Run(proc.returncode, out, err)


def closed_pipe(args: tuple[str, ...], cwd: Path) -> Run:
    """The reader takes one line and goes: the program's next write finds the pipe closed."""
    proc = start(*args, cwd=cwd)
    first = proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read()
    return Run(proc.wait(timeout=120), first, err)


def into_head(cwd: Path) -> Run:
    """``melogit --demo | head -3`` under ``pipefail``."""
    cli = f"{sys.executable} -m melogit_cli.cli --demo | head -3"
    res = subprocess.run(
        ["bash", "-o", "pipefail", "-c", cli],
        capture_output=True,
        text=True,
        env=ENV,
        cwd=cwd,
        timeout=120,
    )
    return Run(res.returncode, res.stdout, res.stderr)


def scenarios(big: str) -> dict[str, Callable[[Path], Run]]:
    demo = ("--demo", "--data", big)  # a 38,680-row copy: a long start-up and fit
    slow = ("--data", BANGLADESH, SLOW)
    return {
        "start-up": lambda d: interrupted(demo, d, ECHO),
        "start-up later": lambda d: interrupted(demo, d, ECHO, 0.1),
        "start-up twice": lambda d: interrupted(demo, d, ECHO, 0.02, again=0),
        "options": in_options,
        "exec": in_exec,
        "ignored": lambda d: interrupted(("--demo",), d, ECHO, script=IGNORING),
        "fit": lambda d: interrupted(slow, d, FITTING),
        "fit twice": lambda d: interrupted(slow, d, FITTING, again=0),
        "fit twice soon": lambda d: interrupted(slow, d, FITTING, again=0.01, after_break=False),
        "do-file twice": lambda d: interrupted(("do", "fit.do"), d, FITTING, again=0.01),
        "capture": lambda d: interrupted(("do", "outer.do"), d, FITTING),
        "pipe": lambda d: closed_pipe(("--demo",), d),
        "pipe do-file": lambda d: closed_pipe(("do", "fit.do"), d),
        "head": into_head,
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Iterator[dict[str, Future[Run]]]:
    d = tmp_path_factory.mktemp("interrupt")
    lines = (DATA / "bangladesh.csv").read_text().splitlines(keepends=True)
    (d / "big.csv").write_text(lines[0] + "".join(lines[1:]) * 20)
    (d / "fit.do").write_text(f'use "{BANGLADESH}"\nmelogit {SLOW}\ndisplay "not reached"\n')
    (d / "outer.do").write_text('display "outer"\ncapture noisily do fit\ndisplay "not reached"\n')
    todo = scenarios(str(d / "big.csv"))
    with ThreadPoolExecutor(max_workers=len(todo)) as pool:
        futures = {name: pool.submit(run, d) for name, run in todo.items()}
        yield futures


def result(runs: dict[str, Future[Run]], name: str) -> Run:
    return runs[name].result(timeout=300)


def assert_break(run: Run, where: str = "") -> None:
    assert run.returncode == 1, run
    assert run.err.strip() == where + BREAK, run
    assert "Traceback" not in run.err + run.out and "Aborted!" not in run.err


# ---------------------------------------------------------------------- Ctrl-C


@pytest.mark.parametrize(
    "name", ["start-up", "start-up later", "start-up twice", "options", "exec"]
)
def test_break_during_start_up(runs, name: str):
    """After the options are read (imports, grammar, data, first steps), while they are read,
    and inside code that an import runs through exec()."""
    run = result(runs, name)
    assert_break(run)
    assert "Mixed-effects logistic regression" not in run.out


@pytest.mark.parametrize("name", ["fit", "fit twice", "fit twice soon"])
def test_break_during_fit(runs, name: str):
    """Once, and twice: the second while the program cleans up and exits (soon: while it
    stops the fit)."""
    run = result(runs, name)
    assert_break(run)
    assert "Mixed-effects logistic regression" not in run.out


def test_break_in_do_file(runs):
    run = result(runs, "do-file twice")
    assert_break(run, f"fit.do, line 2: melogit {SLOW}\n")
    assert run.out.endswith(f"{BREAK}\n\nend of do-file\n\nr(1);\n")
    assert "not reached" not in run.out


def test_capture_does_not_catch_a_break(runs):
    """A break in a nested do-file stops the calling one too, even under ``capture``."""
    run = result(runs, "capture")
    assert_break(run, "outer.do, line 2: capture noisily do fit\n")
    assert "not reached" not in run.out


def test_ignored_break_is_left_ignored(runs):
    """A program started with Ctrl-C ignored keeps ignoring it, and runs to its end."""
    run = result(runs, "ignored")
    assert run.returncode == 0, run
    assert run.err == ""
    assert "Mixed-effects logistic regression" in run.out


# ---------------------------------------------------------------------- closed pipe


@pytest.mark.parametrize("name", ["pipe", "pipe do-file"])
def test_closed_pipe_ends_quietly(runs, name: str):
    """Quiet, with status 0: the reader had what it wanted, as with any Unix tool."""
    run = result(runs, name)
    assert run.out.startswith(". ")
    assert run.err == ""
    assert run.returncode == 0


def test_pipe_into_head(runs):
    """``melogit --demo | head -3`` under ``pipefail``: three lines, nothing on stderr."""
    run = result(runs, "head")
    assert run.out.startswith(ECHO) and len(run.out.splitlines()) == 3
    assert run.err == ""
    assert run.returncode == 0
