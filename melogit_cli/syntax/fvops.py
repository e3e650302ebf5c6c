"""Factor-variable operators (``i.``, ``ib2.``, ``i(1 3).``, ...) and term expansion.

Operator text is decoded into :class:`~melogit_cli.syntax.spec.Factor` fields:

=================  ==========================================================
``i.x``            kind ``"i"``
``c.x``            kind ``"c"``
``ibn.x``          kind ``"i"``, base ``"none"`` (also ``bn.x``)
``ib2.x``          kind ``"i"``, base ``2`` (the level whose value is 2)
``ib(first).x``    base ``"first"``; likewise ``last`` and ``freq``
``ib(#2).x``       base ``"#2"``: the 2nd level in sorted order
``i(1 3).x``       kind ``"i"``, levels ``(1, 3)`` (numlists such as ``1/3``)
``2.x``            kind ``"i"``, levels ``(2,)``
``io(2).x``        kind ``"i"``, omit ``(2,)``
``R.x``            random effects on the levels of x (re equations only)
``L. F. D. S.``    time-series operators: parsed, then refused (r(101))
=================  ==========================================================
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from melogit_cli.errors import StataError
from melogit_cli.syntax.spec import BaseSpec, Factor, Term

_COMPONENT_RE = re.compile(
    r"""
    (?P<bn>bn)
  | (?P<i>i)
  | (?P<c>c)
  | b(?:(?P<bnum>\d+)|\((?P<bspec>[^()]*)\))
  | o(?:(?P<onum>\d+)|\((?P<olist>[^()]*)\))
  | (?P<lev>\d+)
  | \((?P<plist>[^()]*)\)
  | (?P<ts>[LFDSlfds](?:\d+|\([^()]*\))?)
  | (?P<r>R)
    """,
    re.VERBOSE,
)


@dataclass
class OpInfo:
    """What a chain of operators (``ib2.``, ``i(1 3).``, ``R.``) says about a variable."""

    kind: str | None = None
    base: BaseSpec = None
    levels: tuple[int, ...] | None = None
    omit: tuple[int, ...] = ()
    random: bool = False  # R.


def parse_numlist(text: str) -> list[int]:
    """Integers from a Stata numlist: ``1 3``, ``1/3``, ``1(2)7``, ``1-3``, ``1,2``."""
    values: list[int] = []
    for item in re.split(r"[\s,]+", text.strip()):
        if not item:
            continue
        m = re.fullmatch(r"(-?\d+)(?:(/|-)(-?\d+)|\((-?\d+)\)(-?\d+)|\[(-?\d+)\](-?\d+))?", item)
        if not m:
            raise StataError("invalid numlist", 121)
        first = int(m.group(1))
        if m.group(2):
            last = int(m.group(3))
            step = 1 if last >= first else -1
            values.extend(range(first, last + step, step))
        elif m.group(4) is not None:
            step, last = int(m.group(4)), int(m.group(5))
            if step == 0:
                raise StataError("invalid numlist", 121)
            values.extend(range(first, last + (1 if step > 0 else -1), step))
        elif m.group(6) is not None:
            step, last = int(m.group(6)), int(m.group(7))
            if step == 0:
                raise StataError("invalid numlist", 121)
            values.extend(range(first, last + (1 if step > 0 else -1), step))
        else:
            values.append(first)
    if not values:
        raise StataError("invalid numlist", 121)
    return values


def _base_spec(text: str, op: str) -> BaseSpec:
    spec = text.strip()
    if spec in ("first", "last", "freq"):
        return spec  # type: ignore[return-value]
    if re.fullmatch(r"#\d+", spec) and int(spec[1:]) > 0:
        return f"#{int(spec[1:])}"
    if re.fullmatch(r"\d+", spec):
        return int(spec)
    raise StataError(f"{op}: invalid base specification", 198)


def decode_ops(ops: list[str]) -> OpInfo:
    """Decode the operator tokens in front of a variable (each ends in ``.``)."""
    info = OpInfo()
    for raw in ops:
        text, pos = raw[:-1], 0
        while pos < len(text):
            m = _COMPONENT_RE.match(text, pos)
            if not m or m.end() == pos:
                raise StataError(f"{raw}: invalid factor-variable operator", 198)
            pos = m.end()
            _apply_component(m, raw, info)
    if info.kind == "c" and (info.base is not None or info.levels or info.omit):
        raise StataError(f"{''.join(ops)}: invalid factor-variable operator", 198)
    return info


def _apply_component(m: re.Match[str], raw: str, info: OpInfo) -> None:
    g = m.groupdict()
    if g["ts"]:
        raise StataError("time-series operators not allowed", 101)
    if g["r"]:
        info.random = True
        return
    if g["c"]:
        if info.kind == "i":
            raise StataError(f"{raw}: invalid factor-variable operator", 198)
        info.kind = "c"
        return
    if info.kind == "c":
        raise StataError(f"{raw}: invalid factor-variable operator", 198)
    info.kind = "i"
    if g["bn"]:
        info.base = "none"
    elif g["bnum"] is not None:
        info.base = int(g["bnum"])
    elif g["bspec"] is not None:
        info.base = _base_spec(g["bspec"], raw)
    elif g["onum"] is not None:
        info.omit = info.omit + (int(g["onum"]),)
    elif g["olist"] is not None:
        info.omit = info.omit + tuple(parse_numlist(g["olist"]))
    elif g["lev"] is not None:
        info.levels = (info.levels or ()) + (int(g["lev"]),)
    elif g["plist"] is not None:
        info.levels = (info.levels or ()) + tuple(parse_numlist(g["plist"]))


def make_factor(pattern: str, info: OpInfo) -> Factor:
    """A :class:`Factor` for ``pattern`` carrying the decoded operators."""
    return Factor(pattern=pattern, kind=info.kind, base=info.base, levels=info.levels,
                  omit=info.omit)  # type: ignore[arg-type]


def expand_product(units: list[list[Factor]], separators: list[str]) -> list[Term]:
    """Expand ``u1 # u2 ## u3 ...`` into terms.

    Each unit is a list of factors (a group ``i.(a b)`` gives several, which are
    distributed).  ``#`` joins units into one product; ``##`` means the full
    factorial of its components: ``a##b##c`` -> a, b, a#b, c, a#c, b#c, a#b#c.
    """
    if len(units) == 1:  # a plain variable or group: one term per factor
        return [Term((f,)) for f in units[0]]
    components: list[list[list[Factor]]] = [[units[0]]]
    for sep, unit in zip(separators, units[1:], strict=True):
        if sep == "##":
            components.append([unit])
        else:
            components[-1].append(unit)
    terms: list[Term] = []
    k = len(components)
    for mask in range(1, 2**k):
        chosen = [components[j] for j in range(k) if mask >> j & 1]
        unit_lists = [u for comp in chosen for u in comp]
        for combo in itertools.product(*unit_lists):
            terms.append(Term(tuple(combo)))
    return terms
