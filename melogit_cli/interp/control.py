"""Session control: log using/close, set, version."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from melogit_cli.errors import StataError, syntax_error
from melogit_cli.files import open_for_writing, read_text, with_default_suffix
from melogit_cli.interp.parse import named_options, option_matches, parse_body
from melogit_cli.interp.registry import command
from melogit_cli.interp.session import LogSink, Session
from melogit_cli.interp.settings import apply_set
from melogit_cli.syntax.limits import MAX_DO_NESTING

RULE = "-" * 79


def _stamp() -> str:
    return time.strftime("%d %b %Y, %H:%M:%S").lstrip("0")


def _header(session: Session, verb: str) -> list[str]:
    log = session.log
    assert log is not None
    return [
        "      name:  <unnamed>",
        f"       log:  {log.path}",
        f"  log type:  {log.kind}",
        f" {verb} on:  {log.opened if verb == 'opened' else _stamp()}",
    ]


@dataclass
class LogFile:
    """The open log: where, its format (``text`` or ``smcl``), whether its opening and
    closing messages are written (``nomsg``), and the handle while logging is off."""

    path: str
    kind: str
    message: bool
    opened: str
    suspended: LogSink | None = None


class SmclText:
    """A log file written in SMCL: the ``{smcl}`` line, then the output as plain SMCL
    text (its braces escaped), which Stata's Viewer and ``translate`` show as it was."""

    def __init__(self, handle: IO[str], new: bool) -> None:
        self.handle = handle
        if new:
            handle.write("{smcl}\n")

    def write(self, text: str) -> None:
        self.handle.write(text.translate(SMCL_ESCAPES))

    def flush(self) -> None:
        self.handle.flush()

    def close(self) -> None:
        self.handle.close()


SMCL_ESCAPES = str.maketrans({"{": "{c -(}", "}": "{c )-}"})
LOG_OPTIONS = {
    "replace": ("replace", 7),
    "append": ("append", 6),
    "text": ("text", 1),
    "smcl": ("smcl", 1),
    "nomsg": ("nomsg", 5),
}


@command("log")
def log(session: Session, rest: str) -> None:
    """``log using FILE [, replace append text|smcl nomsg]``, ``log close``, ``log off``,
    ``log on`` and ``log``/``log query``, as Stata's (one unnamed log)."""
    words = rest.split(None, 1)
    sub = words[0] if words else "query"
    name = words[1].strip() if len(words) > 1 else ""
    if sub == "using":
        _open(session, name)
        return
    # the one log is <unnamed>; _all names every log (close and query)
    everything = name == "_all" and (option_matches(sub, "close", 1) or sub == "query")
    if name not in ("", "<unnamed>") and not everything:
        if name.split()[0] in ("_all", "<unnamed>"):
            raise syntax_error()
        raise StataError(f"log {name} not found", 111)
    if option_matches(sub, "close", 1):
        if session.log is None and not everything:
            raise StataError("no log file open", 606)
        close_log(session)
    elif option_matches(sub, "off", 2) or sub == "on":
        if session.log is None:
            raise StataError("no log file open", 606)
        _switch(session, on=sub == "on")
    elif sub == "query":
        _query(session)
    else:
        raise syntax_error()


def _open(session: Session, text: str) -> None:
    body = parse_body(text)
    flags = set(named_options(body, LOG_OPTIONS, arguments=frozenset()))
    if {"text", "smcl"} <= flags:
        raise StataError("options text and smcl may not be combined", 184)
    name = body.anything.strip().strip('"')
    if not name:
        raise syntax_error("invalid file specification")
    if session.log is not None:
        raise StataError("log file already open", 604)
    path = Path(name)
    # the format: as asked; else by the extension (.smcl, .log); else set logtype's
    kind = next((k for k in ("text", "smcl") if k in flags), None)
    by_suffix = {".smcl": "smcl", ".log": "text"}.get(path.suffix.lower())
    kind = kind or by_suffix or session.settings.logtype
    path = with_default_suffix(name, ".smcl" if kind == "smcl" else ".log")
    append = "append" in flags
    if path.exists() and not ({"replace", "append"} & flags):
        raise StataError(f"file {path} already exists", 602)
    new = not (append and path.exists() and path.stat().st_size > 0)
    handle = open_for_writing(path, append)
    session.out.log = SmclText(handle, new) if kind == "smcl" else handle
    session.log = LogFile(str(path.resolve()), kind, "nomsg" not in flags, _stamp())
    if session.log.message:
        session.out.lines([RULE, *_header(session, "opened")])


def _switch(session: Session, on: bool) -> None:
    """``log off`` suspends writing to the log, ``log on`` resumes it."""
    log = session.log
    assert log is not None
    if on and log.suspended is not None:
        session.out.log, log.suspended = log.suspended, None
    elif not on and log.suspended is None:
        log.suspended, session.out.log = session.out.log, None


def _query(session: Session) -> None:
    """The open log's name, file, type and status, shown and left in r()."""
    log = session.log
    session.clear_r()
    if log is None:
        session.out.line("no log file open")
        return
    status = "off" if log.suspended is not None else "on"
    session.out.lines([*_header(session, "opened")[:3], f"    status:  {status}"])
    session.r_macros.update(
        name="<unnamed>", filename=log.path, status=status, type=log.kind
    )


def close_log(session: Session, announce: bool = True) -> None:
    """Write the closing lines (unless ``nomsg`` or not ``announce``) and close the log."""
    log = session.log
    if log is None:
        return
    if log.suspended is not None:
        _switch(session, on=True)
    handle = session.out.log
    if announce and log.message:
        session.out.lines([*_header(session, "closed"), RULE])
    if handle is not None:
        handle.close()
    session.out.log = None
    session.log = None


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
    path = with_default_suffix(name, ".do")
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
