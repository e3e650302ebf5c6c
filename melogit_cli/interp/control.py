"""Session control: log using/close, set, version."""

from __future__ import annotations

import time
from pathlib import Path

from melogit_cli.errors import StataError, syntax_error
from melogit_cli.files import open_for_writing, read_text
from melogit_cli.interp.parse import parse_body
from melogit_cli.interp.registry import command
from melogit_cli.interp.session import Session
from melogit_cli.interp.settings import apply_set
from melogit_cli.syntax.limits import MAX_DO_NESTING

RULE = "-" * 79


def _stamp() -> str:
    return time.strftime("%d %b %Y, %H:%M:%S").lstrip("0")


def _header(session: Session, path: str, verb: str) -> list[str]:
    return [
        "      name:  <unnamed>",
        f"       log:  {path}",
        "  log type:  text",
        f" {verb} on:  {_stamp()}",
    ]


@command("log")
def log(session: Session, rest: str) -> None:
    """``log using FILE [, replace append text smcl]`` and ``log close``."""
    words = rest.split(None, 1)
    if not words:
        raise syntax_error()
    sub = words[0]
    if sub == "close":
        if session.out.log is None:
            raise StataError("no log file open", 606)
        close_log(session)
        return
    if sub == "off" or sub == "on" or sub == "query":
        return
    if sub != "using":
        raise syntax_error()
    body = parse_body(
        words[1] if len(words) > 1 else "", ("replace", "append", "text", "t", "smcl", "nomsg")
    )
    name = body.anything.strip().strip('"')
    if not name:
        raise syntax_error("invalid file specification")
    if session.out.log is not None:
        raise StataError("log file already open", 604)
    path = Path(name)
    if not path.suffix:
        path = path.with_suffix(".smcl" if body.flag("smcl") else ".log")
    append = body.flag("append")
    if path.exists() and not (body.flag("replace") or append):
        raise StataError(f"file {path} already exists", 602)
    handle = open_for_writing(path, append)
    session.out.log = handle
    session.log_path = str(path.resolve())
    session.out.lines([RULE, *_header(session, session.log_path, "opened")])


def close_log(session: Session, announce: bool = True) -> None:
    """Write the closing lines and close the log file."""
    handle = session.out.log
    if handle is None:
        return
    if announce:
        session.out.lines([*_header(session, session.log_path or "", "closed"), RULE])
    handle.close()
    session.out.log = None
    session.log_path = None


@command("set")
def set_(session: Session, rest: str) -> None:
    """``set NAME value [, permanently]``: the table of :mod:`melogit_cli.interp.settings`."""
    apply_set(session, rest)


@command("version", "vers")
def version(session: Session, rest: str) -> None:
    """``version #``: accepted (the output follows Stata 18/19)."""


@command("exit")
def exit_(session: Session, rest: str) -> None:
    """``exit``: stop the do-file here (without an error)."""
    raise StopDoFile()


class StopDoFile(Exception):  # noqa: N818 - a signal, not an error
    """Raised by ``exit`` to end a do-file quietly."""


def _nested(session: Session, rest: str, echo: bool) -> None:
    from melogit_cli.interp.runner import run_statements
    from melogit_cli.interp.source import split_statements

    body = parse_body(rest, ())
    name = body.anything.strip().strip('"')
    if not name:
        raise syntax_error("invalid file specification")
    path = Path(name)
    if not path.suffix:
        path = path.with_suffix(".do")
    if not path.exists():
        raise StataError(f"file {path} not found", 601)
    if session.do_depth >= MAX_DO_NESTING:
        raise StataError("system limit exceeded - see manual", 1000)
    statements = split_statements(read_text(path))
    saved = session.locals
    session.locals = {}
    session.do_depth += 1
    try:
        if not echo:
            session.out.quiet += 1
        try:
            failure = run_statements(session, statements, echo=echo, report=False)
        except KeyboardInterrupt:  # the break is shown at this do command's line
            raise KeyboardInterrupt from None
        finally:
            if not echo:
                session.out.quiet -= 1
    finally:
        session.locals = saved
        session.do_depth -= 1
    if failure is not None:
        raise StataError(failure.error.message, failure.error.rc)
    if echo:
        session.out.echo("end of do-file")


@command("do")
def do(session: Session, rest: str) -> None:
    """``do FILE``: run another do-file, echoing its commands."""
    _nested(session, rest, echo=True)


@command("run")
def run(session: Session, rest: str) -> None:
    """``run FILE``: run another do-file without showing its output."""
    _nested(session, rest, echo=False)
