"""``melogit`` options: parsing and refusals, driven by :mod:`melogit_cli.syntax.option_table`.

An option is written ``name`` or ``name(argument)``; a typed word matches an option
when it is a prefix of the full name at least as long as the minimal abbreviation
(the underlined part in Stata's help).  The abbreviations follow Stata's help files
for melogit, maximize and the estimation display options, except ``noc:onstant``
(Stata: ``nocon:stant``) and ``dnum:erical`` (Stata: no abbreviation), which accept a
few more prefixes.  Argument parsing lives in :mod:`melogit_cli.syntax.optargs`.
"""

from __future__ import annotations

from melogit_cli.errors import StataError
from melogit_cli.syntax.optargs import OptDef, lookup, table
from melogit_cli.syntax.option_table import Row, definitions, rows
from melogit_cli.syntax.spec import ModelSpec, Options, REEquation

RawOption = tuple[str, str | None]  # (word as typed, argument text or None)

FE_OPTIONS = definitions("fe")
RE_OPTIONS = definitions("re")
GLOBAL_OPTIONS = definitions("global")
_ROWS = {where: {r.name: r for r in rows(where)} for where in ("fe", "re", "global")}
_AWEIGHT = table("aw:eight()")
_OFFSET = table("off:set()")


def split_option(token: str) -> RawOption:
    """``"level(90)"`` -> ``("level", "90")``; ``"or"`` -> ``("or", None)``."""
    name, paren, rest = token.partition("(")
    return name, (rest[:-1] if paren else None)


def _not_allowed(word: str, arg: str | None) -> StataError:
    return StataError(f"option {word}{'()' if arg is not None else ''} not allowed", 198)


def _check_arity(d: OptDef, arg: str | None) -> None:
    if d.arg == "none" and arg is not None:
        raise StataError(f"option {d.name}() not allowed", 198)
    if d.arg == "required" and (arg is None or not arg.strip()):
        raise StataError(f"option {d.shown} incorrectly specified", 198)


def _apply(row: Row, arg: str | None, target: object) -> None:
    _check_arity(row.definition, arg)
    row.apply(target, arg)


def apply_global(d: OptDef, arg: str | None, o: Options) -> None:
    """Set the :class:`Options` field for one global option."""
    _apply(_ROWS["global"][d.name], arg, o)


def _try_global(word: str, arg: str | None, options: Options | None) -> bool:
    d = lookup(word, GLOBAL_OPTIONS)
    if d is None:
        return False
    if options is None:
        raise StataError(f"option {d.shown} not allowed", 198)
    apply_global(d, arg, options)
    return True


def apply_fe_options(raw: list[RawOption], spec: ModelSpec) -> None:
    """Options after the fixed equation's comma: fe_options and global options."""
    for word, arg in raw:
        d = lookup(word, FE_OPTIONS)
        if d is not None:
            _apply(_ROWS["fe"][d.name], arg, spec)
            continue
        if _try_global(word, arg, spec.options):
            continue
        misplaced = lookup(word, RE_OPTIONS)
        if misplaced is not None and misplaced.name.endswith("weight"):
            raise StataError(
                f"option {misplaced.shown} not allowed with fixed-effects equation", 198
            )
        if misplaced is not None or lookup(word, _AWEIGHT) is not None:
            shown = misplaced.shown if misplaced is not None else "aweight()"
            raise StataError(f"option {shown} not allowed", 198)
        raise _not_allowed(word, arg)


def apply_re_options(raw: list[RawOption], eq: REEquation, options: Options | None) -> None:
    """Options of one random-effects equation; ``options`` is None unless it is the last."""
    for word, arg in raw:
        d = lookup(word, RE_OPTIONS)
        if d is not None:
            _apply(_ROWS["re"][d.name], arg, eq)
            continue
        if _try_global(word, arg, options):
            continue
        if lookup(word, _OFFSET) is not None:
            raise StataError(
                "option offset() allowed only in the fixed-effects equation", 198
            )
        if lookup(word, _AWEIGHT) is not None:
            raise StataError("option aweight() not allowed", 198)
        raise _not_allowed(word, arg)


def apply_replay_options(raw: list[RawOption], options: Options) -> None:
    """Options typed on replay (``melogit, or``): global options only."""
    for word, arg in raw:
        if not _try_global(word, arg, options):
            raise _not_allowed(word, arg)
