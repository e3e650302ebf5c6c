"""Runs fuzz cases through the command line's entry point, one after another.

Usage: ``python fuzz_worker.py CASES.json``.  For each case it writes ``START i`` and then
``DONE i {json}`` to the real standard output; the case's own output is captured.  Anything
else the parent reads between the two (a C library printing, a thread's traceback at exit)
belongs to the case and is a failure.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import time
import traceback
import warnings

MARK = "\x1efuzz "


def _emit(text: str) -> None:
    sys.__stdout__.write(MARK + text + "\n")
    sys.__stdout__.flush()


def _parse_seconds(text: str) -> float:
    """Time to parse one melogit command (the grammar is already loaded): the best of three,
    so that a pause of the machine is not taken for the parser's."""
    from melogit_cli.api import parse
    from melogit_cli.errors import StataError

    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        with contextlib.suppress(StataError):
            parse(text)
        best = min(best, time.perf_counter() - start)
    return best


def run_case(case: dict) -> dict:
    """Run one case; its exit status, captured output, warnings and times."""
    from melogit_cli.cli import main

    out, err = io.StringIO(), io.StringIO()
    crash = None
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main(case["argv"])
                status = 0
            except SystemExit as exit_:
                status = exit_.code if isinstance(exit_.code, int) else 1
            except BaseException:  # the finding: record it, go on with the next case
                status = None
                crash = traceback.format_exc()
    seconds = time.perf_counter() - start
    result = {
        "status": status,
        "stdout": out.getvalue(),
        "stderr": err.getvalue(),
        "crash": crash,
        "warnings": [f"{w.category.__name__}: {w.message}" for w in caught],
        "seconds": seconds,
    }
    if case.get("command") is not None:
        result["parse_seconds"] = _parse_seconds(case["command"])
    return result


def main() -> None:
    cases = json.loads(open(sys.argv[1], encoding="utf-8").read())
    first = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    _parse_seconds("melogit y x || g:")  # load the grammars before anything is timed
    for i in range(first, len(cases)):
        _emit(f"START {i}")
        _emit(f"DONE {i} {json.dumps(run_case(cases[i]))}")


if __name__ == "__main__":
    main()
