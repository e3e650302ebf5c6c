"""The command registry: Stata's command names, their minimal abbreviations, handlers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from melogit_cli.errors import StataError
from melogit_cli.interp.session import Session

Handler = Callable[[Session, str], None]


@dataclass(frozen=True)
class Command:
    name: str
    minimum: int  # shortest abbreviation (len(name) when none is allowed)
    handler: Handler


COMMANDS: dict[str, Command] = {}


def command(name: str, abbrev: str | None = None) -> Callable[[Handler], Handler]:
    """Register ``handler(session, rest_of_line)`` as ``name`` (``abbrev``: shortest form)."""

    def register(fn: Handler) -> Handler:
        COMMANDS[name] = Command(name, len(abbrev or name), fn)
        return fn

    return register


def lookup(word: str) -> Command:
    """The command ``word`` names, allowing Stata's abbreviations; r(199) otherwise."""
    _load()
    if word in COMMANDS:
        return COMMANDS[word]
    for cmd in COMMANDS.values():
        if len(word) >= cmd.minimum and cmd.name.startswith(word):
            return cmd
    raise StataError(f"unrecognized command:  {word}", 199)


def _load() -> None:
    """Import the command modules (each registers its commands)."""
    from melogit_cli.interp import (  # noqa: F401
        control,
        data_cmds,
        display,
        estimation,
        macros,
        margins_cmds,
        postestimation,
        prefixes,
        tests_cmds,
        variables,
    )
