"""Run one child process with a timeout; measure its wall time and its own peak RSS.

The peak comes from ``os.wait4`` on that child (Linux ``ru_maxrss``, kB), so it is exactly
the one process that did the work (Rscript execs R in place; a Python child is itself).
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass


@dataclass
class Finished:
    """What a child left behind."""

    returncode: int | None  # None when killed at the timeout
    stdout: str
    stderr: str
    wall: float
    peak_kb: int
    timed_out: bool


def run(cmd: list[str], timeout: float, env: dict[str, str] | None = None) -> Finished:
    """Run ``cmd`` in its own session; kill its process group after ``timeout`` seconds."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, start_new_session=True)
        killed = threading.Event()

        def kill() -> None:
            killed.set()
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Finished(
            None if killed.is_set() else proc.returncode,
            out.read(),
            err.read(),
            wall,
            usage.ru_maxrss,
            killed.is_set(),
        )
