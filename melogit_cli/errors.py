"""Stata-style errors: a message and a return code, printed as Stata prints them."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TextIO


class StataError(Exception):
    """An error the user caused; shown as ``message`` followed by ``r(rc);``."""

    def __init__(self, message: str, rc: int = 198) -> None:
        super().__init__(message)
        self.message = message
        self.rc = rc

    def __str__(self) -> str:
        return f"{self.message}\nr({self.rc});"


class OutputClosedError(Exception):
    """The reader of stdout has gone (``melogit ... | head``): the program ends quietly."""


def syntax_error(message: str = "invalid syntax") -> StataError:
    """r(198): the command's words are off."""
    return StataError(message, 198)


def option_not_allowed(option: str) -> StataError:
    """r(198): an option the command does not take (or does not take in this context)."""
    return StataError(f"option {option} not allowed", 198)


def variable_not_found(name: str) -> StataError:
    """r(111): a variable name that is not in the data."""
    return StataError(f"variable {name} not found", 111)


def no_observations() -> StataError:
    """r(2000): nothing left to estimate on."""
    return StataError("no observations", 2000)


def unexpected(exc: Exception) -> StataError:
    """The last guard's r(9999) for an exception that is a bug.  Re-raises what is not one: a
    closed output pipe (its reader has gone, as in ``melogit ... | head``; the program then
    ends quietly) and, when ``MELOGIT_DEBUG`` is set, everything.  An OSError is Stata's
    file error: every file the program opens reports its own (melogit_cli.files), so what
    reaches here is the output itself failing (``melogit ... > /dev/full``)."""
    if isinstance(exc, BrokenPipeError) or os.environ.get("MELOGIT_DEBUG"):
        raise exc
    if isinstance(exc, OSError):
        from melogit_cli.files import write_error

        return write_error(exc, "stdout")
    return StataError(f"unexpected error: {type(exc).__name__}: {exc}", 9999)


def print_error(err: StataError, stream: TextIO) -> None:
    """Stata's error display: the message, then ``r(#);`` (red on a terminal)."""
    text = f"{err.message}\nr({err.rc});"
    if stream.isatty():
        from rich.console import Console

        Console(file=stream, highlight=False).print(text, style="red", markup=False)
    else:
        stream.write(text + "\n")
    stream.flush()


def reporting_errors(work: Callable[[], int], out: TextIO) -> int:
    """Run ``work`` and return its status; an error is shown on stderr as Stata shows it
    (after flushing ``out``) and its return code returned: ``--Break--`` r(1) for Ctrl-C,
    the last guard's r(9999) for an unexpected exception, never a traceback."""
    try:
        return work()
    except StataError as err:
        out.flush()
        print_error(err, sys.stderr)
        return err.rc
    except KeyboardInterrupt:
        print_error(StataError("--Break--", 1), sys.stderr)
        return 1
    except Exception as exc:  # never a traceback for the user
        print_error(unexpected(exc), sys.stderr)
        return 9999
