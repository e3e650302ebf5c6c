"""Stata's size limits (``help limits``), checked on the text before any costly step.

=====================================  =======  ==========================================
limit                                  value    refused with
=====================================  =======  ==========================================
length of a name                       32       ``NAME invalid name`` r(198)
dyadic operators in an expression      800      ``expression too long`` r(130) (a comma
                                                between function arguments counts as one:
                                                our choice, as Stata documents none)
pairs of nested parentheses            249      ``expression too long`` r(130)
unary operators in an expression       800      ``expression too long`` r(130) (our choice:
                                                Stata documents no such limit)
interacted factor variables            8        r(198), see :mod:`~melogit_cli.syntax.fvops`
interacted continuous variables        64       r(198)
right-hand-side variables              10,998   ``too many variables`` r(103) (Stata/SE)
nested do-files                        64       ``system limit exceeded - see manual`` r(1000)
=====================================  =======  ==========================================
"""

from __future__ import annotations

import re
from functools import cache

from melogit_cli.errors import StataError

MAX_NAME = 32
MAX_DYADIC = 800
MAX_UNARY = 800
MAX_NESTING = 249
MAX_FACTOR_INTERACTION = 8
MAX_CONTINUOUS_INTERACTION = 64
MAX_RHS = 10_998
MAX_DO_NESTING = 64


@cache
def _token_re() -> re.Pattern[str]:
    """The tokens of an expression; compiled on first use (most commands have none)."""
    return re.compile(
        r"""
        (?P<str>"[^"]*"|`"(?:(?!"').)*"')
      | (?P<coef>(?:_b|_se|_coef)\[(?:[^\[\]]|\[[^\[\]]*\])*\])
      | (?P<num>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<op>==|!=|~=|<=|>=|[<>&|+\-*/^!~])
      | (?P<open>[(\[])
      | (?P<close>[)\]])
      | (?P<sep>,)
      | (?P<blank>\s+)
        """,
        re.VERBOSE | re.DOTALL,
    )


def check_name(name: str) -> None:
    """``NAME invalid name`` r(198) for a name longer than Stata's 32 characters."""
    if len(name) > MAX_NAME:
        raise StataError(f"{name} invalid name", 198)


def check_expression(text: str) -> None:
    """Refuse an expression beyond Stata's limits: names longer than 32 characters
    (r(198)), more than 800 dyadic operators (commas between arguments included), more
    than 249 nested parentheses or brackets, more than 800 unary operators (r(130)).
    One linear scan of the text."""
    dyadic = unary = opened = deepest = 0
    operand_before = False  # whether a + or - here is dyadic
    for m in _token_re().finditer(text):
        kind = m.lastgroup
        if kind == "blank":
            continue
        if kind == "op":
            op = m.group()
            if op in ("!", "~") or (op in ("+", "-") and not operand_before):
                unary += 1
            else:
                dyadic += 1
            operand_before = False
        elif kind == "open":
            opened += 1
            deepest = max(deepest, opened)
            operand_before = False
        elif kind == "close":
            opened -= 1
            operand_before = True
        elif kind == "sep":  # max(a, b, ...) costs as much as a + b + ...
            dyadic += 1
            operand_before = False
        else:
            if kind == "name":
                check_name(m.group())
            operand_before = True
    if dyadic > MAX_DYADIC or unary > MAX_UNARY or deepest > MAX_NESTING:
        raise StataError("expression too long", 130)
