"""``set``: Stata's system settings, one row per setting.

A setting is *honoured* (it changes what later commands compute or print, as in Stata),
*accepted* (it cannot change anything we compute or print; ``why`` says so), or *refused*
(a Stata setting, or a value of one, that would change our output and is not implemented:
``set NAME not supported`` r(198)).  A name that is no setting is ``invalid syntax`` r(198).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from melogit_cli.errors import StataError, option_not_allowed, syntax_error

if TYPE_CHECKING:
    from melogit_cli.interp.session import Session
    from melogit_cli.syntax.spec import Options

DEFAULT_LEVEL = 95.0
DEFAULT_MAXITER = 300  # Stata's initial c(maxiter) (help set iter)
MAX_MAXITER = 16000


@dataclass
class Settings:
    """The session's values of the honoured settings (Stata's ``c()``)."""

    level: float = DEFAULT_LEVEL
    maxiter: int = DEFAULT_MAXITER
    emptycells: str = "keep"
    iterlog: bool = True
    type: str = "float"
    logtype: str = "smcl"  # a log's format when log using names neither it nor an extension

    def option_defaults(self) -> Options:
        """melogit's options before the command's own: ``level()``, ``iterate()``,
        ``log``/``nolog`` and the empty-cell rule follow the settings."""
        from melogit_cli.syntax.spec import Options

        return Options(
            level=self.level, iterate=self.maxiter, log=self.iterlog,
            emptycells=self.emptycells,
        )


Apply = Callable[["Session", str], None]


@dataclass(frozen=True)
class Setting:
    """One row of the table.

    ``apply`` stores the value of an honoured setting; None for the others.  ``accepts``
    are the values taken (None: any value); ``refuses`` are Stata's other values of the
    setting, which would change our output.  ``why`` says why an accepted setting cannot
    change our output (the README repeats it)."""

    name: str
    minimum: int
    apply: Apply | None = None
    accepts: tuple[str, ...] | None = None
    refuses: tuple[str, ...] = ()
    why: str = ""


# ---------------------------------------------------------------------- honoured values

_DECIMALS_RE = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")


def _level(session: Session, arg: str) -> None:
    """``set level #``: 10 to 99.99, at most two digits after the decimal point."""
    text = arg.strip()
    if not _DECIMALS_RE.fullmatch(text):
        raise syntax_error()
    value = float(text)
    if not 10 <= value <= 99.99:
        raise StataError("level must be between 10 and 99.99 inclusive", 198)
    if "." in text and len(text.partition(".")[2].rstrip("0")) > 2:
        raise StataError("level can have at most two digits after the decimal point", 198)
    session.settings.level = value


def _linesize(session: Session, arg: str) -> None:
    try:
        session.linesize = max(40, min(255, int(arg)))
    except ValueError:
        raise syntax_error() from None


def _maxiter(session: Session, arg: str) -> None:
    """``set maxiter #``: the default of ``iterate()``, 0 to 16,000."""
    if not re.fullmatch(r"\+?\d+", arg.strip()):
        raise syntax_error()
    value = int(arg)
    if value > MAX_MAXITER:
        raise StataError(f"maxiter must be between 0 and {MAX_MAXITER:,}", 198)
    session.settings.maxiter = value


def _choice(attr: str, values: dict[str, object]) -> Apply:
    def apply(session: Session, arg: str) -> None:
        if arg not in values:
            raise syntax_error()
        setattr(session.settings, attr, values[arg])

    return apply


# set logtype's values and their abbreviations (t[ext], s[mcl])
LOG_TYPES = {
    **dict.fromkeys(("t", "te", "tex", "text"), "text"),
    **dict.fromkeys(("s", "sm", "smc", "smcl"), "smcl"),
}
_PAGING = "output is written whole, never paged"
_MEMORY = "memory is managed by Python; no command of ours has a size limit to raise"
_RANDOM = "nothing we compute draws random numbers"
_TRACE = "it traces ado-file programs, and our commands are not ado-files"

SETTINGS: tuple[Setting, ...] = (
    # honoured
    Setting("level", 1, _level),
    Setting("linesize", 2, _linesize),
    Setting("maxiter", 7, _maxiter),
    Setting("emptycells", 10, _choice("emptycells", {"keep": "keep", "drop": "drop"})),
    Setting("iterlog", 7, _choice("iterlog", {"on": True, "off": False})),
    Setting("type", 4, _choice("type", {"float": "float", "double": "double"})),
    Setting("logtype", 7, _choice("logtype", LOG_TYPES)),
    # accepted: no effect on what we compute or print
    Setting("more", 4, accepts=("on", "off"), why=_PAGING),
    Setting("pagesize", 8, why=_PAGING),
    Setting("rmsg", 4, accepts=("off",), refuses=("on",),
            why="off is what we do: no timing line after a command"),
    Setting("output", 6, accepts=("proc",), refuses=("inform", "error"),
            why="proc is what we do: all output is shown"),
    Setting("seed", 4, why=_RANDOM),
    Setting("sortseed", 8, why=_RANDOM + " (our sorts are stable)"),
    Setting("rng", 3, why=_RANDOM),
    Setting("rngstream", 9, why=_RANDOM),
    Setting("varabbrev", 9, accepts=("on", "off"),
            why="a do-file Stata runs with abbreviations off names variables in full, "
                "and full names resolve the same here"),
    Setting("matsize", 7, why=_MEMORY),
    Setting("maxvar", 6, why=_MEMORY),
    Setting("niceness", 8, why=_MEMORY),
    Setting("min_memory", 10, why=_MEMORY),
    Setting("max_memory", 10, why=_MEMORY),
    Setting("segmentsize", 11, why=_MEMORY),
    Setting("processors", 10, why="the number of cores changes no result"),
    Setting("graphics", 8, accepts=("on", "off"), why="graphs are written to files, never shown"),
    Setting("scheme", 6, why="marginsplot draws in its own style, whatever the scheme"),
    Setting("trace", 5, accepts=("on", "off"), why=_TRACE),
    Setting("tracedepth", 10, why=_TRACE),
    Setting("traceexpand", 11, why=_TRACE),
    Setting("tracesep", 8, why=_TRACE),
    Setting("traceindent", 11, why=_TRACE),
    Setting("tracenumber", 11, why=_TRACE),
    Setting("tracehilite", 11, why=_TRACE),
    # refused: Stata settings that would change our output, not implemented
    Setting("cformat", 7, accepts=()),
    Setting("pformat", 7, accepts=()),
    Setting("sformat", 7, accepts=()),
    Setting("showbaselevels", 14, accepts=()),
    Setting("showemptycells", 14, accepts=()),
    Setting("showomitted", 11, accepts=()),
    Setting("fvlabel", 7, accepts=()),
    Setting("fvwrap", 6, accepts=()),
    Setting("fvwrapon", 8, accepts=()),
    Setting("lstretch", 8, accepts=()),
    Setting("dp", 2, accepts=()),
    Setting("obs", 3, accepts=()),
)


def find(word: str) -> Setting | None:
    """The setting ``word`` names (Stata's minimal abbreviations), or None."""
    for row in SETTINGS:
        if row.name == word or (len(word) >= row.minimum and row.name.startswith(word)):
            return row
    return None


def apply_set(session: Session, rest: str) -> None:
    """``set NAME value [, permanently]``."""
    text, _, opts = rest.partition(",")
    for word in opts.split():
        if not (len(word) >= 4 and "permanently".startswith(word)):
            raise option_not_allowed(word)
    words = text.split(None, 1)
    if not words:
        raise syntax_error()
    row = find(words[0])
    if row is None:
        raise syntax_error()
    arg = words[1].strip() if len(words) > 1 else ""
    if not arg:
        raise syntax_error()
    if row.apply is not None:
        row.apply(session, arg)
        return
    if row.accepts == ():
        raise StataError(f"set {row.name} not supported", 198)
    if row.accepts is not None and arg not in row.accepts:
        if arg in row.refuses:
            raise StataError(f"set {row.name} {arg} not supported", 198)
        raise syntax_error()
