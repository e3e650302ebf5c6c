"""The transient status line: only on a terminal, after a delay, erased at the end, never on
stdout, in log files or in captured output."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import DATA
from rich.console import Console

from melogit_cli.engine.events import Event, Iteration, PhaseStart
from melogit_cli.render.progress import Progress, progress_wanted, show_progress

BANGLADESH = str(DATA / "bangladesh.dta")
ERASE = "\r\x1b[2K"
SHOW_CURSOR = "\x1b[?25h"
EVENTS = [PhaseStart("Fitting full model"), Iteration(0, -1234.56789), Iteration(1, -1220.5)]


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def fake_terminal() -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, force_terminal=True, width=100, color_system=None), buf


def emit(progress: Progress, events: list[Event], pause: float = 0.0) -> None:
    """Hand events over as estimate() does: first to progress, then to the log."""
    for event in events:
        progress(event)
        progress.log(event)
        time.sleep(pause)


def no_progress_thread() -> bool:
    return not any(t.name == "melogit-progress" for t in threading.enumerate())


def test_wanted_only_on_a_terminal(monkeypatch):
    monkeypatch.delenv("MELOGIT_NO_PROGRESS", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert not progress_wanted(io.StringIO())
    assert progress_wanted(FakeTTY())
    assert not progress_wanted(sys.stderr)  # pytest captures stderr
    monkeypatch.setenv("MELOGIT_NO_PROGRESS", "1")
    assert not progress_wanted(FakeTTY())
    monkeypatch.setenv("MELOGIT_NO_PROGRESS", "0")
    assert progress_wanted(FakeTTY())
    monkeypatch.setenv("TERM", "dumb")
    assert not progress_wanted(FakeTTY())


def test_off_when_stderr_is_captured(capsys):
    logged: list[Event] = []
    with show_progress(logged.append, delay=0.0, refresh=0.01) as progress:
        emit(progress, EVENTS, pause=0.02)
    assert progress.console is None and progress.log == logged.append
    assert logged == EVENTS
    assert capsys.readouterr() == ("", "")


def test_short_fit_shows_nothing(capsys):
    console, buf = fake_terminal()
    logged: list[Event] = []
    with show_progress(logged.append, console=console, delay=0.3, refresh=0.01) as progress:
        emit(progress, EVENTS)
    assert logged == EVENTS
    assert buf.getvalue() == ""
    assert capsys.readouterr() == ("", "")
    assert no_progress_thread()


def test_status_appears_after_the_delay_keeps_moving_and_is_erased(capsys):
    console, buf = fake_terminal()
    logged: list[Event] = []
    with show_progress(logged.append, console=console, delay=0.1, refresh=0.01) as progress:
        emit(progress, EVENTS[:2])
        assert buf.getvalue() == ""  # not before the delay
        time.sleep(0.25)  # a slow iteration: no events, yet the line is redrawn
        shown = buf.getvalue()
        assert progress.visible
        assert "Fitting full model  iteration 0  log likelihood = -1234.5679" in shown
        assert shown.count(ERASE) >= 3
        emit(progress, EVENTS[2:], pause=0.05)
        assert "iteration 1  log likelihood = -1220.5" in buf.getvalue()
    assert not progress.visible
    assert buf.getvalue().endswith(ERASE + SHOW_CURSOR)
    assert logged == EVENTS
    assert capsys.readouterr() == ("", "")  # nothing on stdout or stderr
    assert no_progress_thread()


def test_status_is_erased_while_the_log_writes():
    console, buf = fake_terminal()
    screens: list[str] = []

    def log(event: Event) -> None:
        screens.append(buf.getvalue())

    with show_progress(log, console=console, delay=0.0, refresh=0.005) as progress:
        time.sleep(0.05)
        emit(progress, EVENTS, pause=0.03)
    assert all(s.endswith(ERASE) for s in screens)
    assert buf.getvalue().endswith(ERASE + SHOW_CURSOR)


def test_an_error_stops_the_display():
    console, buf = fake_terminal()
    with pytest.raises(RuntimeError):
        with show_progress(console=console, delay=0.0, refresh=0.01) as progress:
            emit(progress, EVENTS[:2], pause=0.03)
            raise RuntimeError("fit failed")
    assert "Fitting full model" in buf.getvalue()
    assert buf.getvalue().endswith(ERASE + SHOW_CURSOR)
    assert not progress.visible and no_progress_thread()


def test_disabled_draws_nothing():
    console, buf = fake_terminal()
    with show_progress(print, enabled=False, console=console, delay=0.0) as progress:
        emit(progress, [PhaseStart("x")], pause=0.03)
    assert progress.log is print and buf.getvalue() == ""


def test_progress_gets_the_fit_under_nolog():
    from melogit_cli.api import as_dataset, parse, run

    logged: list[Event] = []
    seen: list[Event] = []
    run(
        parse("melogit c_use urban || district:, nolog"),
        as_dataset(BANGLADESH),
        logged.append,
        seen.append,
    )
    assert logged == []
    assert PhaseStart("Fitting full model") in seen
    assert any(isinstance(e, Iteration) for e in seen)


# ---------------------------------------------------------------------- the real CLI

# the CLI with no delay and fast redraws, so that even a short fit shows its status (the
# do-file's fit takes about 0.1 s, ten redraws, so that its full-model phase is always drawn)
CLI = (
    "import sys, melogit_cli.render.progress as p; p.DELAY, p.REFRESH = 0.0, 0.01; "
    "from melogit_cli.cli import main; main(sys.argv[1:])"
)
DOFILE = """\
use {data}
log using {log}, text replace
quietly melogit c_use urban || district: urban, intpoints(12) nolog
display e(ll)
log close
"""


def cli(args: list[str], cwd: Path, tty: bool) -> tuple[str, str]:
    """stdout and stderr of the CLI; with ``tty`` stderr is a pseudo-terminal."""
    env = {**os.environ, "TERM": "xterm", "COLUMNS": "100"}
    env.pop("MELOGIT_NO_PROGRESS", None)
    cmd = [sys.executable, "-c", CLI, *args]
    if not tty:
        res = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd, timeout=300)
        return res.stdout, res.stderr
    import pty

    master, slave = pty.openpty()
    chunks: list[bytes] = []

    def pump() -> None:
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:  # the terminal's other end closed
                return
            if not data:
                return
            chunks.append(data)

    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL, env=env, cwd=cwd
    )
    os.close(slave)
    reader = threading.Thread(target=pump)
    reader.start()
    out, _ = proc.communicate(timeout=300)
    reader.join(timeout=10)
    os.close(master)
    return out.decode(), b"".join(chunks).decode()


def stamped(text: str) -> str:
    """Without the log's opened/closed time stamps."""
    return "\n".join(s for s in text.splitlines() if " on:  " not in s)


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_cli_shows_progress_on_a_terminal_only(tmp_path: Path):
    command = ["--data", BANGLADESH, "--json", "e.json", "melogit c_use urban || district:"]
    out, err = cli(command, tmp_path, tty=False)
    assert err == ""
    assert "Fitting full model:" in out
    plain_json = (tmp_path / "e.json").read_text()
    tty_out, tty_err = cli(command, tmp_path, tty=True)
    assert tty_out == out  # stdout unchanged
    assert "\x1b" not in tty_out and "\x1b" not in plain_json
    assert "Fitting full model" in tty_err and tty_err.endswith(ERASE + SHOW_CURSOR)


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_dofile_shows_progress_under_quietly_but_never_in_the_log(tmp_path: Path):
    (tmp_path / "a.do").write_text(DOFILE.format(data=BANGLADESH, log="a.log"))
    out, err = cli(["do", "a.do"], tmp_path, tty=False)
    assert err == ""
    plain_log = (tmp_path / "a.log").read_text()
    tty_out, tty_err = cli(["do", "a.do"], tmp_path, tty=True)
    assert stamped(tty_out) == stamped(out)
    assert stamped((tmp_path / "a.log").read_text()) == stamped(plain_log)
    assert "\x1b" not in plain_log and "Fitting" not in plain_log
    assert "Fitting full model" in tty_err and tty_err.endswith(ERASE + SHOW_CURSOR)
