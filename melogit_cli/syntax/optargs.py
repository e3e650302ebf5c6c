"""Typed arguments of ``melogit`` options: ``level(#)``, ``vce()``, ``from()``, ...

Also the option-definition type (:class:`OptDef`) and abbreviation lookup shared
by the option tables in :mod:`melogit_cli.syntax.options`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from melogit_cli.errors import StataError
from melogit_cli.syntax.spec import Covariance, FromSpec

ArgKind = Literal["none", "required", "optional"]


@dataclass(frozen=True)
class OptDef:
    """One option: canonical name, minimal abbreviation length, argument kind."""

    name: str
    minlen: int
    arg: ArgKind = "none"

    @property
    def shown(self) -> str:
        """The name as Stata shows it in messages: ``level()`` or ``or``."""
        return f"{self.name}()" if self.arg != "none" else self.name


def table(spec: str) -> tuple[OptDef, ...]:
    """Option definitions from words such as ``"nocnsr:eport l:evel() startg:rid[()]"``.

    The part before ``:`` is the minimal abbreviation; ``()`` marks a required
    argument, ``[()]`` an optional one.
    """
    defs = []
    for word in spec.split():
        arg: ArgKind = "none"
        if word.endswith("[()]"):
            arg, word = "optional", word[:-4]
        elif word.endswith("()"):
            arg, word = "required", word[:-2]
        short, _, rest = word.partition(":")
        defs.append(OptDef(short + rest, len(short), arg))
    return tuple(defs)


INTMETHODS = table("mv:aghermite mc:aghermite pc:aghermite g:hermite l:aplace pcl:aplace")
COVTYPES = table("ind:ependent ex:changeable id:entity un:structured fix:ed() pat:tern()")
VCETYPES = table("oim opg r:obust cl:uster")
WRAPON = table("wo:rd wi:dth")
STARTV = table("zero constant:only fixed:only iv")
ITERATE = table("iter:ate")
TECHNIQUES = ("nr", "bhhh", "dfp", "bfgs")
TECHNIQUE_ITERATIONS = 5  # Stata's default count of a technique in a switching list

NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
NUMBER_RE = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
INT_RE = re.compile(r"[-+]?\d+")
FORMAT_RE = re.compile(r"%-?0?[1-9]\d*(?:\.\d+)?(?:e|f|g|fc|gc)")


def lookup(word: str, table: tuple[OptDef, ...]) -> OptDef | None:
    """The option ``word`` abbreviates in ``table`` (exact names first), or None.

    Matching is case-sensitive, as in Stata.
    """
    w = word
    for d in table:
        if w == d.name:
            return d
    for d in table:
        if len(w) >= d.minlen and d.name.startswith(w):
            return d
    return None


def invalid(name: str, detail: str | None = None) -> StataError:
    msg = f"{name}() invalid" if detail is None else f"{name}() invalid -- {detail}"
    return StataError(msg, 198)


# --------------------------------------------------------------------- values


def number(arg: str, name: str) -> float:
    a = arg.strip()
    if not NUMBER_RE.fullmatch(a):
        raise invalid(name)
    return float(a)


def integer(arg: str, name: str, lo: int, hi: int | None = None) -> int:
    a = arg.strip()
    if not INT_RE.fullmatch(a):
        raise invalid(name)
    value = int(a)
    if value < lo or (hi is not None and value > hi):
        bound = f"between {lo} and {hi}" if hi is not None else f"{lo} or larger"
        raise invalid(name, f"must be an integer {bound}")
    return value


def varname_arg(arg: str, name: str) -> str:
    """The single variable name inside ``name(...)``."""
    words = arg.split()
    if not words:
        raise StataError(f"option {name}() incorrectly specified", 198)
    if len(words) > 1:
        raise StataError("too many variables specified", 103)
    if not NAME_RE.fullmatch(words[0]):
        raise StataError(f"{words[0]} invalid name", 198)
    return words[0]


def numeric_format(arg: str, name: str) -> str:
    fmt = arg.strip()
    if not FORMAT_RE.fullmatch(fmt):
        raise StataError(f"'{fmt}' found where numeric format expected", 7)
    return fmt


def keyword(arg: str, table: tuple[OptDef, ...], error: StataError) -> OptDef:
    d = lookup(arg.strip(), table) if arg.strip() else None
    if d is None:
        raise error
    return d


def parse_level(arg: str) -> float:
    """``level(#)``: a confidence level in [10, 99.99]."""
    try:
        value = number(arg, "level")
    except StataError:
        raise StataError("level() must be between 10 and 99.99 inclusive", 198) from None
    if not 10 <= value <= 99.99:
        raise StataError("level() must be between 10 and 99.99 inclusive", 198)
    return value


def parse_covariance(arg: str) -> Covariance:
    """``covariance(vartype)`` -> :class:`Covariance`."""
    m = re.fullmatch(r"\s*([A-Za-z]+)\s*(?:\(\s*([^()]*?)\s*\))?\s*", arg)
    error = StataError(f"covariance structure {arg.strip()} invalid", 198)
    if not m:
        raise error
    d = keyword(m.group(1), COVTYPES, error)
    matname = m.group(2)
    if (d.arg == "required") != (matname is not None) or (
        matname is not None and not NAME_RE.fullmatch(matname)
    ):
        raise error
    return Covariance(kind=d.name, matname=matname)  # type: ignore[arg-type]


def parse_vce(arg: str) -> tuple[str, str | None]:
    """``vce(vcetype)`` -> (``oim``/``opg``/``robust``/``cluster``, clustvar)."""
    words = arg.split()
    if not words:
        raise StataError("option vce() incorrectly specified", 198)
    d = lookup(words[0], VCETYPES)
    if d is None:
        raise StataError(f"vcetype {words[0]} not allowed", 198)
    if d.name == "cluster":
        if len(words) != 2:
            raise StataError("option vce() incorrectly specified", 198)
        return "cluster", varname_arg(words[1], "vce")
    if len(words) > 1:
        raise StataError("option vce() incorrectly specified", 198)
    return d.name, None


def parse_binomial(arg: str) -> str | float:
    """``binomial(varname|#)``."""
    a = arg.strip()
    if NUMBER_RE.fullmatch(a):
        value = float(a)
        if value < 1 or not value.is_integer():
            raise invalid("binomial", "# must be a positive integer")
        return value
    if NAME_RE.fullmatch(a):
        return a
    raise invalid("binomial")


def parse_intmethod(arg: str) -> str:
    """``intmethod()`` abbreviation -> canonical method name."""
    return keyword(arg, INTMETHODS, invalid("intmethod")).name


def parse_technique(arg: str) -> str:
    """``technique(nr 5 bfgs 10)`` -> normalized ``"nr 5 bfgs 10"``."""
    words = arg.split()
    if not words or words[0] not in TECHNIQUES:
        raise invalid("technique")
    out: list[str] = []
    for w in words:
        if w in TECHNIQUES:
            out.append(w)
        elif w.isdigit() and int(w) > 0 and out and not out[-1].isdigit():
            out.append(w)
        else:
            raise invalid("technique")
    return " ".join(out)


def technique_steps(text: str | None) -> tuple[tuple[str, int], ...]:
    """A normalized ``technique()`` as (algorithm, iterations) pairs: ``"bhhh 5 nr"`` ->
    ``(("bhhh", 5), ("nr", 5))`` (the default count is 5; none given: ``nr``)."""
    out: list[tuple[str, int]] = []
    for word in (text or "nr").split():
        if word.isdigit():
            out[-1] = (out[-1][0], int(word))
        else:
            out.append((word, TECHNIQUE_ITERATIONS))
    return tuple(out)


def split_top_comma(text: str) -> tuple[str, str | None]:
    depth = 0
    for i, ch in enumerate(text):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == "," and depth == 0:
            return text[:i], text[i + 1 :]
    return text, None


def parse_from(arg: str) -> FromSpec:
    """``from(matname [, skip copy])`` or ``from(eq:name=# /:var(...)=# ...)``."""
    body, opts = split_top_comma(arg)
    spec = FromSpec()
    for word in (opts or "").split():
        if word not in ("skip", "copy"):
            raise invalid("from")
        setattr(spec, word, True)
    body = body.strip()
    if not body:
        raise invalid("from")
    if "=" not in body:
        if NAME_RE.fullmatch(body):
            spec.matname = body
            return spec
        if all(NUMBER_RE.fullmatch(w) for w in body.split()):
            raise invalid("from", "a list of values is not allowed")
        raise invalid("from")
    pos = 0
    pair_re = re.compile(r"\s*([^\s=]+)\s*=\s*([^\s=]+)\s*")
    while pos < len(body):
        m = pair_re.match(body, pos)
        if not m or not NUMBER_RE.fullmatch(m.group(2)):
            raise invalid("from")
        spec.values.append((m.group(1), float(m.group(2))))
        pos = m.end()
    return spec


def parse_startvalues(arg: str) -> str:
    """``startvalues(svmethod [, iterate(#)])`` -> text such as ``"fixedonly, iterate(5)"``."""
    body, opts = split_top_comma(arg)
    body = body.strip()
    iterate: int | None = None
    m = re.fullmatch(r"([A-Za-z]+)\(([^()]*)\)", body)
    if m and lookup(m.group(1), ITERATE) is not None and opts is None:
        return f"iterate({integer(m.group(2), 'startvalues', 0)})"
    method = keyword(body, STARTV, invalid("startvalues")).name
    if opts is not None:
        m = re.fullmatch(r"\s*([A-Za-z]+)\(([^()]*)\)\s*", opts)
        if not m or lookup(m.group(1), ITERATE) is None:
            raise invalid("startvalues")
        if method not in ("fixedonly", "iv"):
            raise invalid("startvalues", f"iterate() not allowed with {method}")
        iterate = integer(m.group(2), "startvalues", 0)
    return method if iterate is None else f"{method}, iterate({iterate})"


COVSPEC_RE = re.compile(
    r"[A-Za-z_.][\w.#]*\[[^\[\]\s]+\](?:\*[A-Za-z_.][\w.#]*\[[^\[\]\s]+\])?"
)


def parse_startgrid(arg: str) -> str:
    """Validate ``startgrid(gridspec)``: numbers and ``name[level]`` (co)variance specs."""
    words = arg.split()
    if not words:
        return ""
    for w in words:
        if not (NUMBER_RE.fullmatch(w) or COVSPEC_RE.fullmatch(w)):
            raise invalid("startgrid")
    return " ".join(words)


