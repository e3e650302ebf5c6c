"""Run a do-file: echo each command as Stata's log does, execute it, stop at the first
error (unless under ``capture``) with its message, return code and line number.

Blocks ``quietly {`` / ``capture [noisily] {`` / ``noisily {``, ``forvalues lname = a/b {``
(also ``a(d)b``) and ``foreach lname in|of varlist|of numlist list {`` run the statements up
to the matching ``}``; as in Stata's log their lines are echoed once, numbered, and then
run without echo.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO, TypeVar

from melogit_cli.errors import StataError, syntax_error, unexpected
from melogit_cli.files import read_text, with_default_suffix
from melogit_cli.interp.control import StopDoFile
from melogit_cli.interp.parse import parse_line
from melogit_cli.interp.registry import lookup
from melogit_cli.interp.session import Output, Session
from melogit_cli.interp.source import Statement, split_statements

_PREFIX_WORD = (
    r"(?:qui(?:e(?:t(?:ly?)?)?)?|n(?:o(?:i(?:s(?:i(?:ly?)?)?)?)?)?|cap(?:t(?:u(?:re?)?)?)?)"
)
_PREFIX_BLOCK_RE = re.compile(rf"^((?:{_PREFIX_WORD}\s*:?\s*)+)$")
_FORVALUES_RE = re.compile(r"^forv(?:a(?:l(?:u(?:es?)?)?)?)?\s+([A-Za-z_]\w*)\s*=\s*(.+)$")
_FOREACH_RE = re.compile(
    r"^foreach\s+([A-Za-z_]\w*)\s+(in|of\s+(?:varlist|numlist|local|global))\b\s*(.*)$"
)


E = TypeVar("E", bound=BaseException)


@dataclass
class DoError:
    """Where and why a do-file stopped."""

    line: int
    command: str
    error: StataError


def execute(session: Session, text: str) -> None:
    """Run one command (with its prefixes); errors propagate as StataError."""
    from melogit_cli.interp.macros import expand

    text = expand(session, text)
    if not text.strip():
        return
    cl = parse_line(text)
    with_prefixes(session, cl.prefixes, lambda: lookup(cl.name).handler(session, cl.rest))


def with_prefixes(session: Session, prefixes: list[str], action: Callable[[], None]) -> None:
    """Run ``action`` under ``quietly``/``noisily``/``capture`` (outermost first)."""
    out = session.out
    if not prefixes:
        action()
        return
    first, others = prefixes[0], prefixes[1:]
    if first == "capture":
        noisy = bool(others) and others[0] == "noisily"
        if not noisy:
            out.quiet += 1
        try:
            with_prefixes(session, others, action)
            session.rc = 0
        except StataError as err:
            session.rc = err.rc
            if noisy:
                out.line(err.message)
                out.line(f"r({err.rc});")
        finally:
            if not noisy:
                out.quiet -= 1
        return
    if first == "quietly":
        out.quiet += 1
        try:
            with_prefixes(session, others, action)
        finally:
            out.quiet -= 1
        return
    saved = out.quiet  # noisily
    out.quiet = 0
    try:
        with_prefixes(session, others, action)
    finally:
        out.quiet = saved


# ---------------------------------------------------------------------- statements


def _echo(out: Output, stmt: Statement) -> None:
    for i, raw in enumerate(stmt.raw or [stmt.text]):
        text = raw.rstrip()
        out.echo((". " if i == 0 else "> ") + text if text else ".")


def _opens_block(stmt: Statement) -> bool:
    return stmt.kind == "command" and stmt.text.rstrip().endswith("{")


def _block_end(statements: list[Statement], start: int) -> int:
    depth = 0
    for j in range(start, len(statements)):
        stmt = statements[j]
        if stmt.kind != "command":
            continue
        if _opens_block(stmt):
            depth += 1
        elif stmt.text.strip() == "}":
            depth -= 1
            if depth == 0:
                return j
    raise StataError("unexpected end of file", 612)


def _mark(err: E, stmt: Statement) -> E:
    """Note on ``err`` the statement it arose in (the innermost one keeps its mark), so
    that any error, expected or not, and a break are reported at their line."""
    if not hasattr(err, "line"):
        try:
            err.line = stmt.line  # type: ignore[attr-defined]
            err.command = stmt.text  # type: ignore[attr-defined]
        except AttributeError:  # an exception type without attributes of its own
            pass
    return err


def execute_statements(session: Session, statements: list[Statement], echo: bool) -> None:
    """Run statements (blocks included); the first error propagates, marked with its line."""
    out = session.out
    i = 0
    while i < len(statements):
        stmt = statements[i]
        if echo:
            _echo(out, stmt)
        if stmt.kind != "command":
            i += 1
            continue
        if stmt.text.strip() == "}":
            raise _mark(StataError("unexpected '}'", 198), stmt)
        if _opens_block(stmt):
            try:
                end = _block_end(statements, i)
            except StataError as err:
                raise _mark(err, stmt) from None
            body = statements[i + 1 : end]
            if echo:
                for k, inner in enumerate([*body, statements[end]], start=2):
                    for raw in inner.raw or [inner.text]:
                        out.echo(f"{k:>3}. {raw.rstrip()}")
            try:
                _run_block(session, stmt, body)
            except (Exception, KeyboardInterrupt) as err:
                raise _mark(err, stmt) from None
            i = end + 1
        else:
            try:
                execute(session, stmt.text)
            except (Exception, KeyboardInterrupt) as err:
                raise _mark(err, stmt) from None
            i += 1
        if echo:
            out.echo("")


def _run_block(session: Session, stmt: Statement, body: list[Statement]) -> None:
    from melogit_cli.interp.macros import expand

    header = expand(session, stmt.text.rstrip()[:-1]).strip()
    m = _PREFIX_BLOCK_RE.match(header)
    if m:
        prefixes = parse_line(header + " x").prefixes
        with_prefixes(session, prefixes, lambda: execute_statements(session, body, echo=False))
        return
    m = _FORVALUES_RE.match(header)
    if m:
        for value in _numlist_range(m.group(2)):
            session.locals[m.group(1)] = value
            execute_statements(session, body, echo=False)
        return
    m = _FOREACH_RE.match(header)
    if m:
        for value in _foreach_items(session, m.group(2), m.group(3)):
            session.locals[m.group(1)] = value
            execute_statements(session, body, echo=False)
        return
    raise StataError("program error:  code follows on the same line as open brace", 198)


def _number_text(x: float) -> str:
    return str(int(x)) if x == int(x) else repr(x)


def _numlist_range(text: str) -> list[str]:
    """``a/b`` or ``a(d)b``."""
    text = text.replace(" ", "")
    m = re.fullmatch(r"(-?[\d.]+)/(-?[\d.]+)", text)
    step = 1.0
    if m:
        a, b = float(m.group(1)), float(m.group(2))
    else:
        m = re.fullmatch(r"(-?[\d.]+)\((-?[\d.]+)\)(-?[\d.]+)", text)
        if not m:
            raise StataError("invalid numlist", 121)
        a, step, b = float(m.group(1)), float(m.group(2)), float(m.group(3))
        if step == 0:
            raise StataError("invalid numlist", 121)
    out = []
    x = a
    while (step > 0 and x <= b + 1e-12) or (step < 0 and x >= b - 1e-12):
        out.append(_number_text(round(x, 12)))
        x += step
        if len(out) > 10_000_000:
            raise StataError("numlist too long", 121)
    return out


def _foreach_items(session: Session, kind: str, text: str) -> list[str]:
    kind = kind.split()[-1]
    if kind == "in":
        return text.split()
    if kind == "varlist":
        from melogit_cli.interp.variables import resolve_varlist

        return resolve_varlist(text, session.data())
    if kind == "numlist":
        items: list[str] = []
        for word in text.split():
            items += _numlist_range(word) if ("/" in word or "(" in word) else [word]
        return items
    table = session.locals if kind == "local" else session.globals
    names = text.split()
    if len(names) != 1:
        raise syntax_error()
    return table.get(names[0], "").split()


def run_statements(
    session: Session, statements: list[Statement], echo: bool = True, report: bool = True
) -> DoError | None:
    """Run statements in order; the first uncaptured error stops the run and is returned
    (shown first unless ``report`` is false: a calling do-file shows it)."""
    out = session.out
    try:
        execute_statements(session, statements, echo)
    except StopDoFile:
        return None
    except StataError as err:
        if report:
            out.error(err)
        return DoError(getattr(err, "line", 0), getattr(err, "command", ""), err)
    except KeyboardInterrupt as brk:  # Ctrl-C: no capture catches it
        if not report:  # the calling do-file stops too
            raise
        err = StataError("--Break--", 1)
        out.error(err)
        return DoError(getattr(brk, "line", 0), getattr(brk, "command", ""), err)
    except Exception as exc:  # never a traceback for the user
        err = unexpected(exc)
        out.error(err)
        return DoError(getattr(exc, "line", 0), getattr(exc, "command", ""), err)
    return None


def run_dofile(
    path: str | Path, stream: TextIO, session: Session | None = None
) -> tuple[Session, DoError | None]:
    """Run the do-file at ``path``, writing its log to ``stream``."""
    p = Path(path)
    if not p.exists():
        p = with_default_suffix(path, ".do")
    if not p.exists():
        raise StataError(f"file {path} not found", 601)
    text = read_text(p)
    session = session or Session(Output(stream))
    statements = split_statements(text)
    try:
        failure = run_statements(session, statements)
        if failure is not None:
            session.out.echo("")
            session.out.echo("end of do-file")
            session.out.echo("")
            session.out.echo(f"r({failure.error.rc});")
    finally:
        if session.log is not None:
            from melogit_cli.interp.control import close_log

            close_log(session, announce=False)
    session.out.flush()
    return session, failure
