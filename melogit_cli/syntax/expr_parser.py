"""Stata expression text -> :mod:`melogit_cli.syntax.expr` AST (grammar: ``expr.lark``).

``parse_expr`` only checks syntax; functions and variables are looked up when the
expression is evaluated (:func:`melogit_cli.data.evaluate.evaluate`).
"""

from __future__ import annotations

from lark import Token, v_args
from lark.exceptions import LarkError, VisitError
from lark.visitors import Transformer_NonRecursive

from melogit_cli.errors import StataError
from melogit_cli.syntax.expr import (
    Binary,
    Call,
    Coef,
    Expr,
    Missing,
    Num,
    Str,
    Subscript,
    Unary,
    Var,
)
from melogit_cli.syntax.grammar_files import lalr_parser
from melogit_cli.syntax.limits import check_expression
from melogit_cli.syntax.textscan import check_balance

_OP_ALIASES = {"~=": "!=", "~": "!"}


@v_args(inline=True)
class _ToAst(Transformer_NonRecursive):
    """Parse tree -> AST nodes (without recursion: a chain of 800 ``&`` is 800 levels deep)."""

    def number(self, tok: Token) -> Num:
        return Num(float(tok))

    def missing(self, tok: Token) -> Missing:
        return Missing(str(tok))

    def string(self, tok: Token) -> Str:
        text = str(tok)
        if text.startswith("`"):
            return Str(text[2:-2])
        return Str(text[1:-1])

    def coef(self, tok: Token) -> Coef:
        text = str(tok)
        kind, _, rest = text.partition("[")
        return Coef("_b" if kind == "_coef" else kind, rest[:-1].strip())

    def var(self, tok: Token) -> Var:
        return Var(str(tok))

    def call(self, name: Token, args: list[Expr] | None) -> Call:
        return Call(str(name), tuple(args or ()))

    def arglist(self, *args: Expr) -> list[Expr]:
        return list(args)

    def subscript(self, name: Token, index: Expr) -> Subscript:
        return Subscript(str(name), index)

    def unary(self, op: Token, operand: Expr) -> Expr:
        sym = _OP_ALIASES.get(str(op), str(op))
        if sym == "+":
            return operand
        if sym == "-" and isinstance(operand, Num):
            return Num(-operand.value)
        return Unary(sym, operand)

    def binary(self, left: Expr, op: Token, right: Expr) -> Binary:
        return Binary(_OP_ALIASES.get(str(op), str(op)), left, right)


def parse_expr(text: str) -> Expr:
    """Parse a Stata expression; raise :class:`StataError` on malformed input.

    Unbalanced quotes or parentheses give r(132); an expression beyond Stata's limits
    (:func:`~melogit_cli.syntax.limits.check_expression`) r(130) or r(198); any other
    syntax error is ``invalid syntax`` r(198).
    """
    if not text or not text.strip():
        raise StataError("invalid syntax", 198)
    check_balance(text)
    check_expression(text)
    try:
        tree = lalr_parser("expr.lark").parse(text)
        return _ToAst().transform(tree)
    except VisitError as exc:  # pragma: no cover - the transformer raises nothing itself
        raise StataError("invalid syntax", 198) from exc.orig_exc
    except LarkError as exc:
        raise StataError("invalid syntax", 198) from exc
