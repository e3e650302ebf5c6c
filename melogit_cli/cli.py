"""The ``melogit`` program's entry point: Ctrl-C and closed pipes end it cleanly.

It imports nothing heavy, so that the Ctrl-C handling is in place before click and the
rest are loaded; the command itself is :mod:`melogit_cli.commandline`.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Sequence
from types import FrameType
from typing import NoReturn

from melogit_cli.errors import OutputClosedError, StataError, print_error, unexpected

_interrupted = False  # set by the first Ctrl-C


def _on_break(signum: int, frame: FrameType | None) -> None:
    """Ctrl-C: stop what runs now; any further Ctrl-C is ignored, so that clean-up completes."""
    global _interrupted
    _interrupted = True
    _ignore_break()
    raise KeyboardInterrupt


def _catch_break() -> None:
    """Let the first Ctrl-C raise KeyboardInterrupt and ignore any after it.  Only when Python's
    own handler is in place: a process started with Ctrl-C ignored (``nohup``, a background
    job of a script) keeps ignoring it."""
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _on_break)


def _ignore_break() -> None:
    """Ignore Ctrl-C from now on.  ``SIG_IGN`` rather than a handler that does nothing: Python's
    shut-down puts the default action (death by the signal) back in place of a handler."""
    if signal.getsignal(signal.SIGINT) is _on_break:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def _report_break() -> int:
    """Stata's display of an interrupted command; returns its return code."""
    _ignore_break()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _discard_output()
    try:
        print_error(StataError("--Break--", 1), sys.stderr)
    except BrokenPipeError:  # stderr too went into a pipe that is closed
        pass
    return 1


def _discard_output() -> None:
    """The reader of stdout has gone (``melogit ... | head``): send what is still to be
    written to the null device, so that neither this exit nor Python's own flush fails."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _exit_after_break(code: int) -> NoReturn:
    """End at once, past Python's shut-down.  A KeyboardInterrupt that went through the exec
    builtin on a string (dataclasses, namedtuple and the like do so while modules are imported)
    marks the process, and under ``python -m`` Python then ends it by the signal at exit,
    although the interrupt was dealt with.  Open files are closed by then; only stdio is left
    to flush."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except OSError:  # a closed pipe: nothing more can be shown
            pass
    os._exit(code)


def _run_cli(args: Sequence[str] | None) -> int | str | None:
    """The command line's exit status; a KeyboardInterrupt comes out as one (click calls it
    Abort), usage errors are shown as click shows them."""
    from melogit_cli import collector
    from melogit_cli.dataclass_cache import install

    collector.pause()  # while the modules are imported; the command resumes it for its work
    install()  # before the modules that define dataclasses are imported
    try:
        import click

        from melogit_cli.commandline import cli

        try:
            return cli.main(args, standalone_mode=False)
        except SystemExit as done:
            return done.code
        except click.exceptions.Abort as abort:
            if isinstance(abort.__cause__, KeyboardInterrupt):
                raise KeyboardInterrupt from None
            click.echo("Aborted!", err=True)  # end of input at a prompt
            return 1
        except click.ClickException as err:
            err.show()
            return err.exit_code
    finally:
        collector.resume()  # a command that ended before its work (usage, --help)


def main(args: Sequence[str] | None = None) -> NoReturn:
    """The ``melogit`` program: runs the command line :func:`cli` and exits with its status.

    Ctrl-C at any point, from option parsing to the last line of output, ends the program
    with ``--Break--`` / ``r(1);`` on stderr and exit status 1; further Ctrl-C are then
    ignored so that the clean-up runs to its end.  When stdout goes into a pipe that its
    reader has closed (``melogit ... | head``), the program stops quietly with exit status 0,
    as Unix tools do.  Usage errors are click's, as before.
    """
    code: int | str | None = None
    try:
        try:
            _catch_break()
            code = _run_cli(args)
            sys.stdout.flush()
        except (BrokenPipeError, OutputClosedError):  # ``| head`` has what it wanted
            _discard_output()
            code = 0
        except OSError as exc:  # stdout cannot be written: a full disk, an I/O error
            _discard_output()
            if code in (None, 0):  # not yet reported by the command
                print_error(unexpected(exc), sys.stderr)
                code = 1
        _ignore_break()  # the work is done; nothing may cut Python's shut-down short
    except KeyboardInterrupt:
        code = _report_break()
    if _interrupted:
        _exit_after_break(code if isinstance(code, int) else 1)
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    main()
