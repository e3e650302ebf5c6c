"""Command lines -> (prefixes, command word, rest) and argument bodies -> Body, with the
grammar ``grammar/dofile.lark``."""

from __future__ import annotations

from dataclasses import dataclass, field

from lark import Lark, Token, Tree
from lark.exceptions import LarkError

from melogit_cli.errors import StataError, option_not_allowed
from melogit_cli.syntax.expr import Expr
from melogit_cli.syntax.expr_parser import parse_expr
from melogit_cli.syntax.grammar_files import lalr_parser, parse_balanced
from melogit_cli.syntax.spec import InRange
from melogit_cli.syntax.textscan import check_balance

LINE_MARK = "\x01"
BODY_MARK = "\x02"


def _parser(depth: int) -> Lark:
    return lalr_parser("dofile.lark", depth)


@dataclass
class CommandLine:
    """``capture noisily estimates store r_int``: prefixes, the command word, the rest."""

    prefixes: list[str]
    name: str
    rest: str


@dataclass
class Option:
    """``name`` or ``name(arg)`` as typed."""

    name: str
    arg: str | None = None


@dataclass
class Body:
    """A command's arguments in Stata's ``syntax`` shape."""

    anything: str = ""
    if_text: str | None = None
    if_expr: Expr | None = None
    in_range: InRange | None = None
    options: list[Option] = field(default_factory=list)

    def option(self, *names: str) -> Option | None:
        """The option called by one of ``names`` (full name, then abbreviations allowed)."""
        for opt in self.options:
            if opt.name in names:
                return opt
        return None

    def flag(self, *names: str) -> bool:
        return self.option(*names) is not None

    @property
    def words(self) -> list[str]:
        return self.anything.split()


def _canonical_prefix(word: str) -> str:
    if word.startswith("q"):
        return "quietly"
    if word.startswith("c"):
        return "capture"
    return "noisily"


def parse_line(text: str) -> CommandLine:
    """Split a command; an unparsable start is ``unrecognized command`` r(199)."""
    try:
        # the command word and the text after it never need balanced-text terminals
        tree = _parser(1).parse(LINE_MARK + text)
    except LarkError:
        word = text.split()[0] if text.split() else text
        raise StataError(f"unrecognized command:  {word}", 199) from None
    line = tree.children[0]
    prefixes: list[str] = []
    name = rest = ""
    for child in line.children:
        if isinstance(child, Tree) and child.data == "prefix":
            prefixes.append(_canonical_prefix(str(child.children[0])))
        elif isinstance(child, Token) and child.type == "CMDWORD":
            name = str(child)
        elif isinstance(child, Token) and child.type == "REST":
            rest = str(child).strip()
    return CommandLine(prefixes, name, rest)


def parse_body(text: str, options: tuple[str, ...] | None = None) -> Body:
    """``[anything] [if exp] [in range] [, options]``; malformed text is r(198).

    With ``options``, any other option is ``option X not allowed`` r(198).
    """
    body = _parse_body(text)
    if options is not None:
        for opt in body.options:
            if opt.name not in options:
                shown = opt.name + (f"({opt.arg})" if opt.arg is not None else "")
                raise StataError(f"option {shown} not allowed", 198)
    return body


def _parse_body(text: str) -> Body:
    body = Body()
    if not text.strip():
        return body
    depth = check_balance(text)
    try:
        tree = parse_balanced("dofile.lark", text, depth, BODY_MARK)
    except LarkError:
        raise StataError("invalid syntax", 198) from None
    node = tree.children[0].children[1]
    for child in node.children:
        if child is None:
            continue
        if isinstance(child, Token) and child.type == "ANYTHING":
            body.anything = str(child).strip()
        elif child.data == "if_qual":
            if body.if_text is not None:
                raise StataError("invalid syntax", 198)
            body.if_text = str(child.children[1]).strip()
            body.if_expr = parse_expr(body.if_text)
        elif child.data == "in_qual":
            bounds = [str(t) for t in child.children[1:] if t is not None]
            body.in_range = _in_range(bounds)
        elif child.data == "options":
            body.options = [_option(str(t)) for t in child.children[1:]]
    return body


def _bound(text: str) -> int | str:
    return text.lower() if text.isalpha() else int(text)


def _in_range(bounds: list[str]) -> InRange:
    first = _bound(bounds[0])
    last = _bound(bounds[1]) if len(bounds) > 1 else first
    if first == 0 or last == 0:
        raise StataError("Obs. nos. out of range", 198)
    return InRange(first=first, last=last)  # type: ignore[arg-type]


def _option(text: str) -> Option:
    if "(" in text and text.endswith(")"):
        name, _, arg = text.partition("(")
        return Option(name.lower(), arg[:-1].strip())
    return Option(text.lower())


def option_matches(name: str, full: str, minimum: int) -> bool:
    """Stata's option abbreviation: ``name`` is a prefix of ``full`` at least ``minimum`` long."""
    return len(name) >= minimum and full.startswith(name)


def named_options(
    body: Body, spec: dict[str, tuple[str, int]], arguments: frozenset[str] | None = None
) -> dict[str, object]:
    """Options by Stata's abbreviation rule: ``spec`` maps a key to (full name, minimum),
    each found key to its argument (``True`` for a flag); anything else is not allowed,
    and so, when ``arguments`` names the keys that take one, is an argument missing or
    given to a flag."""
    found: dict[str, object] = {}
    for o in body.options:
        key = next((k for k, (f, m) in spec.items() if option_matches(o.name, f, m)), None)
        if key is None or (arguments is not None and (key in arguments) != (o.arg is not None)):
            raise option_not_allowed(o.name + (f"({o.arg})" if o.arg is not None else ""))
        found[key] = o.arg if o.arg is not None else True
    return found
