"""The ``melogit`` command line: one Stata command on one data file."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Sequence
from types import FrameType
from typing import NoReturn, TextIO

import click

from melogit_cli.errors import StataError, unexpected

DEMO_COMMAND = "melogit c_use i.urban age i.children || district:, or"


def _print_error(err: StataError, stream: TextIO) -> None:
    """Stata's error display: the message, then ``r(#);`` (red on a terminal)."""
    text = f"{err.message}\nr({err.rc});"
    if stream.isatty():
        from rich.console import Console

        Console(file=stream, highlight=False).print(text, style="red", markup=False)
    else:
        stream.write(text + "\n")
    stream.flush()


def check_json_path(json_path: str, *inputs: str | None) -> None:
    """Before any work: ``json_path`` must be writable and must not be an input file."""
    from melogit_cli.files import check_writable, same_file

    for name in inputs:
        if name is not None and same_file(json_path, name):
            raise StataError(f"--json names the input file {name}; give another file", 198)
    check_writable(json_path)


def run_command(command: str, data: str | None, json_path: str | None, out: TextIO) -> int:
    """Parse, fit, print; returns the Stata return code (0 on success)."""
    from melogit_cli.api import as_dataset, parse, run
    from melogit_cli.render import render_results
    from melogit_cli.render.iterlog import IterationLog
    from melogit_cli.render.progress import show_progress

    try:
        spec = parse(command)
        if data is None:
            raise StataError("no data: give --data FILE (.dta or .csv)", 198)
        if json_path:
            check_json_path(json_path, data)
        ds = as_dataset(data)
        with show_progress(IterationLog(out)) as progress:
            est = run(spec, ds, progress.log, progress)
        notes = [n for n in est.notes if n.startswith("Warning")]
        out.write(render_results(est.eresults, spec.options))
        for note in notes:
            out.write(note + "\n")
        out.flush()
        if json_path:
            est.eresults.write_json(json_path)
    except StataError as err:
        out.flush()
        _print_error(err, sys.stderr)
        return err.rc
    except KeyboardInterrupt:
        _print_error(StataError("--Break--", 1), sys.stderr)
        return 1
    except Exception as exc:  # never a traceback for the user
        _print_error(unexpected(exc), sys.stderr)
        return 9999
    return 0


def run_do(path: str, data: str | None, out: TextIO, json_path: str | None = None) -> int:
    """Run a do-file; returns its return code (0 when it ran to the end).  With
    ``json_path``, the e() results active at the end are written there as JSON."""
    from melogit_cli.interp.runner import run_dofile
    from melogit_cli.interp.session import Output, Session

    session = Session(Output(out), progress=True)
    try:
        if json_path:
            check_json_path(json_path, data, path)
        if data is not None:
            from melogit_cli.api import as_dataset

            session.set_data(as_dataset(data))
        _, failure = run_dofile(path, out, session)
        if json_path and session.current is not None:
            session.current.e.write_json(json_path)
    except StataError as err:
        out.flush()
        _print_error(err, sys.stderr)
        return err.rc
    if failure is None:
        return 0
    out.flush()
    sys.stderr.write(f"{path}, line {failure.line}: {failure.command}\n")
    _print_error(failure.error, sys.stderr)
    return failure.error.rc


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
        _print_error(StataError("--Break--", 1), sys.stderr)
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
    """End at once, past Python's shut-down.  A KeyboardInterrupt that went through exec() of
    a string (dataclasses, namedtuple and the like do so while modules are imported) marks the
    process, and under ``python -m`` Python then ends it by the signal at exit, although the
    interrupt was dealt with.  Open files are closed by then; only stdio is left to flush."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except OSError:  # a closed pipe: nothing more can be shown
            pass
    os._exit(code)


def _run_cli(args: Sequence[str] | None) -> int | str | None:
    """The command line's exit status; a KeyboardInterrupt comes out as one (click calls it
    Abort), usage errors are shown as click shows them."""
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


def main(args: Sequence[str] | None = None) -> NoReturn:
    """The ``melogit`` program: runs the command line :func:`cli` and exits with its status.

    Ctrl-C at any point, from option parsing to the last line of output, ends the program
    with ``--Break--`` / ``r(1);`` on stderr and exit status 1; further Ctrl-C are then
    ignored so that the clean-up runs to its end.  When stdout goes into a pipe that its
    reader has closed, the program stops quietly with exit status 1 (its output was cut
    short).  Usage errors are click's, as before.
    """
    try:
        try:
            _catch_break()
            code = _run_cli(args)
            sys.stdout.flush()
        except BrokenPipeError:
            _discard_output()
            code = 1
        _ignore_break()  # the work is done; nothing may cut Python's shut-down short
    except KeyboardInterrupt:
        code = _report_break()
    if _interrupted:
        _exit_after_break(code if isinstance(code, int) else 1)
    sys.exit(code)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--data", "-d", "data", metavar="FILE", help="Data set: a .dta or .csv file.")
@click.option("--json", "json_path", metavar="FILE", help="Write every e() result to FILE as JSON.")
@click.option("--demo", is_flag=True, help=f"Fit the bundled bangladesh example: {DEMO_COMMAND}")
@click.argument("command", nargs=-1)
def cli(data: str | None, json_path: str | None, demo: bool, command: tuple[str, ...]) -> None:
    """Run one melogit command, or a do-file, e.g.

    melogit --data bangladesh.dta "melogit c_use i.urban age i.children || district:, or"

    melogit do analysis.do
    """
    if command and command[0] == "do" and not demo:
        if len(command) != 2:
            raise click.UsageError("give one do-file: melogit do FILE.do")
        rc = run_do(command[1], data, sys.stdout, json_path)
        sys.exit(0 if rc == 0 else 1)
    if demo:
        from melogit_cli.data.bundled import bundled_path

        data = data or str(bundled_path("bangladesh"))
        text = DEMO_COMMAND
        click.echo(f". {text}")
    else:
        text = " ".join(command).strip()
        if not text:
            raise click.UsageError("give a melogit command, or --demo")
    rc = run_command(text, data, json_path, sys.stdout)
    sys.exit(0 if rc == 0 else 1)


if __name__ == "__main__":  # pragma: no cover
    main()
