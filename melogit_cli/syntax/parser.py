"""``melogit`` command text -> :class:`~melogit_cli.syntax.spec.ModelSpec`.

The grammar is ``grammar/melogit.lark``; ``if`` and weight expressions are parsed
with ``grammar/expr.lark`` (:func:`~melogit_cli.syntax.expr_parser.parse_expr`);
option arguments are typed by :mod:`melogit_cli.syntax.options`.  Every malformed
command raises :class:`~melogit_cli.errors.StataError`.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lark import Token, Transformer, Tree
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedToken, VisitError

from melogit_cli.errors import StataError
from melogit_cli.syntax import options as opt
from melogit_cli.syntax.fvops import OpInfo, decode_ops, expand_product, make_factor
from melogit_cli.syntax.grammar_files import parse_balanced, terminal_patterns
from melogit_cli.syntax.limits import (
    MAX_CONTINUOUS_INTERACTION,
    MAX_FACTOR_INTERACTION,
    MAX_NAME,
    MAX_RHS,
    check_name,
)
from melogit_cli.syntax.spec import (
    InRange,
    ModelSpec,
    Options,
    REEquation,
    Term,
    Weight,
)
from melogit_cli.syntax.textscan import check_balance, word_at
from melogit_cli.syntax.varlist import (
    TERMINALS,
    TermText,
    VarlistSplitError,
    check_end,
    inner_terms,
    split_varlist,
)

if TYPE_CHECKING:
    from melogit_cli.syntax.expr import Expr

def parse_expr(text: str) -> Expr:
    """An ``if`` or weight expression (:func:`~melogit_cli.syntax.expr_parser.parse_expr`),
    whose parser is imported on first use: most commands have neither."""
    from melogit_cli.syntax.expr_parser import parse_expr as parse

    return parse(text)


_CMD_RE = re.compile(r"\s*melogit(?![A-Za-z0-9_])")
# Below this many characters a command is parsed token by token: the varlist's one-token
# pattern saves about 15 us a term, but compiling it costs 3-4 ms in each process (the
# manual's commands parse in 1.8 ms token by token against 5.2 ms, and faster again after)
TOKENWISE_BELOW = 2_000
_WEIGHT_KINDS = {
    "fw": "fweight", "fweight": "fweight",
    "pw": "pweight", "pweight": "pweight",
    "iw": "iweight", "iweight": "iweight",
    "aw": "aweight", "aweight": "aweight",
}


# ---------------------------------------------------------------- parse-tree pieces


@dataclass
class _Unit:
    """One operand of ``#``: a variable or a group ``i.(a b)`` with its operators."""

    ops: list[str]
    patterns: list[str]
    grouped: bool
    info: OpInfo

    @property
    def text(self) -> str:
        names = " ".join(self.patterns)
        return "".join(self.ops) + (f"({names})" if self.grouped else names)


@dataclass
class _TermSpec:
    """``u1 # u2 ## u3``: units and the separators between them."""

    units: list[_Unit]
    seps: list[str]

    @property
    def text(self) -> str:
        out = self.units[0].text
        for sep, unit in zip(self.seps, self.units[1:], strict=True):
            out += sep + unit.text
        return out

    @property
    def random(self) -> bool:
        return any(u.info.random for u in self.units)

    def expand(self) -> list[Term]:
        """The terms this specification stands for."""
        if self.random:
            raise StataError(
                f"{self.text}: R. notation allowed only as levelvar: R.varname", 198
            )
        units = [[make_factor(p, u.info) for p in u.patterns] for u in self.units]
        return expand_product(units, self.seps)

    def check_size(self) -> int:
        """Refuse more interacted variables than Stata allows (8 factor, 64 continuous);
        return how many terms the specification stands for, computed without expanding
        it (``a##b##c...`` doubles with each component)."""
        if len(self.units) > 1:
            continuous = sum(u.info.kind == "c" for u in self.units)
            for count, limit, kind in (
                (len(self.units) - continuous, MAX_FACTOR_INTERACTION, "factor"),
                (continuous, MAX_CONTINUOUS_INTERACTION, "continuous"),
            ):
                if count > limit:
                    raise StataError(
                        f"interactions of more than {limit} {kind} variables not allowed", 198
                    )
        total, product = 1, len(self.units[0].patterns)
        for sep, unit in zip(self.seps, self.units[1:], strict=True):
            if sep == "##":
                total *= 1 + product
                product = 1
            product *= len(unit.patterns)
            if total * (1 + product) > MAX_RHS + 1:
                return MAX_RHS + 1
        return total * (1 + product) - 1


@dataclass
class _Equation:
    """Everything one ``||``-separated part said, before it becomes spec objects."""

    terms: list[_TermSpec] = field(default_factory=list)
    qualifiers: list[tuple[str, object]] = field(default_factory=list)
    options: list[opt.RawOption] = field(default_factory=list)
    level: str | None = None


@dataclass
class _Replay:
    """``melogit [, options]`` with no depvar."""

    options: list[opt.RawOption]


class _Tree(Transformer):
    """Parse tree -> :class:`_Equation` objects (semantic checks come later)."""

    def varname(self, c: list[Token]) -> str:
        return _name(c[0])

    def varrange(self, c: list[Token]) -> str:
        return f"{_name(c[0])}-{_name(c[1])}"

    def fvvar(self, c: list) -> _Unit:
        ops = [str(t) for t in c[:-1]]
        return _Unit(ops, [c[-1]], False, decode_ops(ops))

    def fvgroup(self, c: list) -> _Unit:
        ops = [str(t) for t in c if isinstance(t, Token) and t.type == "FVOP"]
        names = [x for x in c if not (isinstance(x, Token) and x.type == "FVOP")]
        return _Unit(ops, names, True, decode_ops(ops))

    def term(self, c: list) -> _TermSpec:
        return _TermSpec([u for u in c if isinstance(u, _Unit)],
                         [str(t) for t in c if isinstance(t, Token)])

    def varlist(self, c: list) -> list[_TermSpec]:
        done: dict[int, _TermSpec] = {}  # a term repeated in the text is checked once
        out = []
        for t in c:
            if isinstance(t, TermText):
                if id(t) not in done:
                    done[id(t)] = _term_spec(t)
                t = done[id(t)]
            out.append(t)
        return out

    def if_qual(self, c: list[Token]) -> tuple[str, object]:
        return ("if", str(c[1]).strip())

    def in_bound(self, c: list[Token]) -> int | str:
        text = str(c[0])
        return text.lower() if text.isalpha() else int(text)

    def in_qual(self, c: list) -> tuple[str, object]:
        bounds = [b for b in c if not isinstance(b, Token)]
        first = bounds[0]
        last = bounds[1] if len(bounds) > 1 else first
        return ("in", _in_range(first, last))

    def weight(self, c: list[Token]) -> tuple[str, object]:
        kind = _WEIGHT_KINDS.get(str(c[0]))
        if kind is None:
            raise StataError(f"unknown weight type {c[0]}", 198)
        text = str(c[1]).strip()
        return ("weight", Weight(kind=kind, expr=parse_expr(text), text=text))  # type: ignore[arg-type]

    def options(self, c: list[Token]) -> list[opt.RawOption]:
        return [opt.split_option(str(t)) for t in c[1:]]

    def fixed(self, c: list) -> _Equation:
        eq = _Equation()
        for item in c:
            if isinstance(item, list) and item and isinstance(item[0], _TermSpec):
                eq.terms.extend(item)
            elif isinstance(item, tuple):
                eq.qualifiers.append(item)
            else:
                eq.options = item
        return eq

    def re_eq(self, c: list) -> _Equation:
        eq = _Equation(level=_name(c[1]))
        for item in c[3:]:
            if isinstance(item, list) and item and isinstance(item[0], _TermSpec):
                eq.terms.extend(item)
            elif item is not None:
                eq.options = item
        return eq

    def model(self, c: list) -> list[_Equation]:
        return list(c)

    def replay(self, c: list) -> _Replay:
        return _Replay(c[0])


_TREE = _Tree()
_INHERITED = frozenset(dir(Transformer))
_CALLBACKS = {
    name: getattr(_TREE, name)
    for name in dir(_Tree)
    if not name.startswith("_") and callable(getattr(_Tree, name))
    and name not in _INHERITED
}


def _transform(tree: Tree) -> object:
    """The :class:`_Tree` callbacks applied bottom-up: the same result as
    ``_Tree().transform(tree)`` at about half the cost (a 10,000-character varlist
    holds 5,000 terms)."""
    children = [_transform(c) if isinstance(c, Tree) else c for c in tree.children]
    callback = _CALLBACKS.get(tree.data)
    return callback(children) if callback is not None else Tree(tree.data, children)


def _term_spec(term: TermText) -> _TermSpec:
    """What the callbacks make of the same term parsed token by token, checked in the
    same order (a unit's names, then its operators)."""
    units = []
    for unit in term.units:
        patterns = [
            _name(spec[0]) if len(spec) == 1 else f"{_name(spec[0])}-{_name(spec[1])}"
            for spec in unit.specs
        ]
        units.append(_Unit(unit.ops, patterns, unit.grouped, decode_ops(unit.ops)))
    return _TermSpec(units, term.seps)


def _name(token: Token | str) -> str:
    """A variable name or pattern; a name longer than 32 characters is invalid."""
    text = str(token)
    if len(text) > MAX_NAME and not any(ch in "*?~" for ch in text):
        check_name(text)
    return text


def _in_range(first: int | str, last: int | str) -> InRange:
    for b in (first, last):
        if b == 0:
            raise StataError("Obs. nos. out of range", 198)
    out_of_order = (first == "l" and last != "l") or (last == "f" and first != "f")
    if isinstance(first, int) and isinstance(last, int) and (first > 0) == (last > 0):
        out_of_order = first > last
    if out_of_order:
        raise StataError("Obs. nos. out of range", 198)
    return InRange(first=first, last=last)  # type: ignore[arg-type]


# ---------------------------------------------------------------- building the spec


def _build_fixed(eq: _Equation, spec: ModelSpec) -> None:
    dep = eq.terms[0]
    if len(dep.units) > 1:
        raise StataError("depvar may not be an interaction", 198)
    unit = dep.units[0]
    if unit.ops or unit.grouped or len(unit.patterns) != 1:
        raise StataError("depvar may not be a factor variable", 198)
    spec.depvar = unit.patterns[0]
    _check_terms(eq.terms[1:])
    spec.fixed = _expand(eq.terms[1:])
    seen: set[str] = set()
    for kind, value in eq.qualifiers:
        if kind in seen:
            raise StataError("invalid syntax", 198)
        seen.add(kind)
        if kind == "if":
            spec.if_text = str(value)
            spec.if_expr = parse_expr(str(value))
        elif kind == "in":
            spec.in_range = value  # type: ignore[assignment]
        else:
            spec.weight = value  # type: ignore[assignment]
    opt.apply_fe_options(eq.options, spec)


def _check_terms(terms: list[_TermSpec]) -> None:
    """``too many variables`` r(103) past Stata/SE's 10,998 right-hand-side variables,
    before the terms are expanded (a fit that size would not fit in memory anyway)."""
    count = 0
    sizes: dict[int, int] = {}  # a term repeated in the text (one object) is sized once
    for term in terms:
        size = sizes.get(id(term))
        if size is None:
            size = sizes[id(term)] = term.check_size()
        count += size
        if count > MAX_RHS:
            raise StataError("too many variables", 103)


def _expand(terms: list[_TermSpec]) -> list[Term]:
    """The terms the specifications stand for, each repeated specification expanded once."""
    done: dict[int, list[Term]] = {}
    out: list[Term] = []
    for term in terms:
        expanded = done.get(id(term))
        if expanded is None:
            expanded = done[id(term)] = term.expand()
        out.extend(expanded)
    return out


def _build_re(eq: _Equation, last: bool, options: Options) -> REEquation:
    level = eq.level or ""
    re_eq = REEquation(level=level)
    randoms = [t for t in eq.terms if t.random]
    if randoms:
        text = " ".join(t.text for t in eq.terms)
        unit = eq.terms[0].units[0]
        single = len(eq.terms) == 1 and len(eq.terms[0].units) == 1
        if not single or unit.grouped or len(unit.patterns) != 1 or len(unit.ops) != 1 or (
            unit.info.kind is not None
        ):
            raise StataError(f"{text} invalid level specification", 198)
        re_eq.r_var = unit.patterns[0]
    else:
        _check_terms(eq.terms)
        re_eq.terms = _expand(eq.terms)
    opt.apply_re_options(eq.options, re_eq, options if last else None)
    if re_eq.r_var is not None:
        for name, given in (("covariance", re_eq.covariance), ("fweight", re_eq.fweight),
                            ("iweight", re_eq.iweight), ("pweight", re_eq.pweight)):
            if given is not None:
                raise StataError(f"option {name}() not allowed with R.{re_eq.r_var}", 198)
    elif not re_eq.terms and re_eq.noconstant:
        raise StataError(f"random effects level {level} is empty", 198)
    return re_eq


def _check_levels(eqs: list[REEquation]) -> None:
    levels = [e.level for e in eqs]
    if levels and levels[0] != "_all" and "_all" in levels[1:]:
        raise StataError("_all cannot be nested within levels", 198)


def _check_weights(spec: ModelSpec) -> None:
    kinds: list[str] = []
    if spec.weight is not None and spec.weight.kind != "aweight":
        kinds.append(spec.weight.kind)
    weighted_levels: set[str] = set()
    for eq in spec.re_equations:
        given = [k for k in ("fweight", "iweight", "pweight") if getattr(eq, k) is not None]
        if len(given) > 1 or (given and eq.level in weighted_levels):
            raise StataError(
                "you cannot have multiple weight specifications within the same model level",
                198,
            )
        if given:
            weighted_levels.add(eq.level)
        kinds.extend(given)
    distinct = [k for k in ("fweight", "iweight", "pweight") if k in kinds]
    if len(distinct) > 1:
        names = [f"{k}s" for k in distinct]
        listed = " and ".join(names) if len(names) == 2 else "fweights, iweights, and pweights"
        raise StataError(f"only one weight type allowed; you specified {listed}", 198)


def _check_integration(o: Options) -> None:
    if o.intpoints is not None and o.intmethod in ("laplace", "pclaplace"):
        raise StataError(f"option intpoints() not allowed with intmethod({o.intmethod})", 198)


# ---------------------------------------------------------------- Lark errors -> Stata


def _in_re_part(text: str, pos: int) -> bool:
    return "||" in text[:pos]


def _colon_error(text: str, pos: int) -> StataError:
    start = text.rfind("||", 0, pos) + 2
    end = text.find("||", start)
    segment = text[start:] if end < 0 else text[start:end]
    head = segment.split(",", 1)[0]
    if ":" in head:
        words = " ".join(head.split(":", 1)[0].split())
        return StataError(f"{words} invalid level specification", 198)
    return StataError("only one fixed-effects equation allowed", 198)


def _lookahead(text: str, pos: int) -> str:
    """What the text at ``pos`` starts with: ``||``, ``:``, ``if``, ``in``, ``[``, or ``""``."""
    m = re.match(r"\|\||:|\[|(?:if|in)(?![A-Za-z0-9_])", text[pos:])
    return m.group(0) if m else ""


def _lark_error(exc: LarkError, text: str) -> StataError:
    if isinstance(exc, UnexpectedCharacters):
        allowed, pos = exc.allowed or set(), exc.pos_in_stream
    elif isinstance(exc, UnexpectedToken):
        allowed = exc.expected
        pos = exc.token.start_pos if exc.token.type != "$END" else len(text)
        if pos is None:
            pos = len(text)
    else:
        return StataError("invalid syntax", 198)
    ahead = _lookahead(text, pos)
    word = word_at(text, pos) if pos < len(text) else ""
    if "COLON" in allowed:
        return _colon_error(text, pos)
    if ahead in ("||", ":") and not _CMD_RE.sub("", text[:pos], count=1).strip():
        return StataError("varlist required", 100)
    if ahead == ":" and "VARPAT" in allowed:
        return StataError("invalid random-effects specification: levelvar required", 198)
    if _in_re_part(text, pos) and ahead in ("if", "in", "["):
        what = {"if": "if", "in": "in range", "[": "weights"}[ahead]
        return StataError(f"{what} not allowed", 101)
    if "OPTION" in allowed and word and word[0].isalnum():
        return StataError(f"option {word} not allowed", 198)
    if "IN_BOUND" in allowed and word:
        return StataError(f"'{word}' invalid obs no", 198)
    if not ahead and word and ("VARPAT" in allowed or "FVOP" in allowed):
        return StataError(f"{word} invalid name", 198)
    return StataError("invalid syntax", 198)


# ---------------------------------------------------------------- entry point


def parse_melogit(text: str, defaults: Options | None = None) -> ModelSpec:
    """Parse a ``melogit`` command, with or without the leading word ``melogit``.

    ``melogit`` or ``melogit, options`` (no depvar) gives a replay spec:
    ``ModelSpec(replay=True, depvar="", options=...)``.  ``defaults`` are the options
    before the command's own (a session's ``set level``, ``set maxiter``, ...).
    """
    if text is None or not text.strip():
        raise StataError("empty command", 198)
    stripped = text.strip()
    cmdline = stripped if _CMD_RE.match(stripped) else f"melogit {stripped}"
    depth = check_balance(stripped)
    try:
        tree = _parse_tree(stripped, depth)
        parts = _transform(tree)
        return _assemble(parts, cmdline, defaults)
    except VisitError as exc:
        if isinstance(exc.orig_exc, StataError):
            raise exc.orig_exc from None
        raise StataError("invalid syntax", 198) from exc.orig_exc
    except LarkError as exc:
        raise _lark_error(exc, stripped) from None


def _parse_tree(text: str, depth: int) -> Tree:
    """The parse tree.  A command of fewer than ``TOKENWISE_BELOW`` characters is parsed
    token by token; a longer one with each varlist one token, and, when it does not parse
    so (an error, or a varlist the token does not cover), token by token, which reads the
    same language and reports an error at the token where it is."""
    if len(text) < TOKENWISE_BELOW:
        return parse_balanced("melogit.lark", text, depth, variant="tokenwise")
    pieces = terminal_patterns("melogit.lark", TERMINALS, "tokenwise")
    try:
        tree = parse_balanced("melogit.lark", text, depth)
        for node in tree.find_data("varlist"):
            token = node.children[0]
            check_end(text, token.end_pos, pieces)
            node.children = split_varlist(str(token), pieces)
        return tree
    except LarkError as exc:
        lexed = _varlists_lexed(exc)
    except VarlistSplitError:
        lexed = []
    if lexed:
        # the parser is in the same state after the first and last terms of a varlist
        # as after all of them: blanking those between finds an error sooner
        try:
            blanked = _blank_inner_terms(text, lexed, pieces)
        except VarlistSplitError:
            blanked = text
        if blanked != text:
            parse_balanced("melogit.lark", blanked, depth, variant="tokenwise")
    return parse_balanced("melogit.lark", text, depth, variant="tokenwise")


def _varlists_lexed(exc: LarkError) -> list[Token]:
    """The VARLIST tokens the parser had read when it stopped at an error."""
    state = getattr(getattr(exc, "interactive_parser", None), "parser_state", None)
    found: list[Token] = []
    for item in getattr(state, "value_stack", []):
        if isinstance(item, Token) and item.type == "VARLIST":
            found.append(item)
        elif isinstance(item, Tree):
            found.extend(t for t in item.scan_values(lambda v: isinstance(v, Token))
                         if t.type == "VARLIST")
    return found


def _blank_inner_terms(text: str, tokens: list[Token], pieces: tuple[str, ...]) -> str:
    chars = list(text)
    for token in tokens:
        begin, end = inner_terms(text[token.start_pos : token.end_pos], pieces)
        chars[token.start_pos + begin : token.start_pos + end] = " " * (end - begin)
    return "".join(chars)


def _assemble(tree: object, cmdline: str, defaults: Options | None) -> ModelSpec:
    body = [c for c in getattr(tree, "children", []) if not isinstance(c, Token)]
    options = copy.deepcopy(defaults) if defaults is not None else Options()
    spec = ModelSpec(cmdline=cmdline, depvar="", options=options)
    if not body:
        spec.replay = True
        return spec
    part = body[0]
    if isinstance(part, _Replay):
        spec.replay = True
        opt.apply_replay_options(part.options, spec.options)
        _check_integration(spec.options)
        return spec
    fixed, *res = part
    _build_fixed(fixed, spec)
    for i, eq in enumerate(res):
        spec.re_equations.append(_build_re(eq, i == len(res) - 1, spec.options))
    _check_levels(spec.re_equations)
    _check_weights(spec)
    _check_integration(spec.options)
    return spec

