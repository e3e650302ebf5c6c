"""Macros: ``local``/``global`` definitions and their expansion in a command line
(```name'``, ```=exp'``, ``$name``, ``${name}``), done before the line is parsed."""

from __future__ import annotations

import re

from melogit_cli.data.evaluate import evaluate_scalar
from melogit_cli.errors import StataError, syntax_error
from melogit_cli.interp.registry import command
from melogit_cli.interp.session import Session
from melogit_cli.render.formats import fmt
from melogit_cli.syntax.expr_parser import parse_expr

_LOCAL_RE = re.compile(r"`(?!\")([A-Za-z0-9_]*|=[^`']*)'")
_GLOBAL_RE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,30}$|^[0-9]+$")


def _macro_value(value: float | str) -> str:
    if isinstance(value, str):
        return value
    return fmt(value, "%18.0g").strip()


def expand(session: Session, text: str) -> str:
    """``text`` with every macro replaced by its value (undefined macros are empty)."""
    for _ in range(100):
        new = _LOCAL_RE.sub(lambda m: _local(session, m.group(1)), text)
        if new == text:
            break
        text = new
    if "$" not in text:
        return text
    return _GLOBAL_RE.sub(lambda m: session.globals.get(m.group(1) or m.group(2), ""), text)


def _local(session: Session, name: str) -> str:
    if name.startswith("="):
        return _macro_value(evaluate_scalar(parse_expr(name[1:]), session.ds, session))
    return session.locals.get(name, "")


def _define(session: Session, rest: str, table: dict[str, str]) -> None:
    name, _, value = rest.strip().partition(" ")
    if "=" in name and not name.startswith("="):
        name, _, tail = name.partition("=")
        value = "=" + tail + (" " + value if value else "")
    name = name.strip()
    if not name or not _NAME_RE.match(name):
        raise StataError(f"{name} invalid name", 198) if name else syntax_error()
    value = value.strip()
    if value.startswith("="):
        table[name] = _macro_value(
            evaluate_scalar(parse_expr(value[1:]), session.ds, session)
        )
    elif value.startswith(":"):
        raise StataError("extended macro functions are not supported", 198)
    else:
        if len(value) >= 2 and value[0] == value[-1] == '"' and value.count('"') == 2:
            value = value[1:-1]
        table[name] = value


@command("local", "loc")
def local(session: Session, rest: str) -> None:
    """``local name [=exp | text]``."""
    _define(session, rest, session.locals)


@command("global", "gl")
def global_(session: Session, rest: str) -> None:
    """``global name [=exp | text]``."""
    _define(session, rest, session.globals)
