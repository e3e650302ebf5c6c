"""Stata expressions: parsing to the AST and evaluating on data."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from melogit_cli.data.dataset import Dataset
from melogit_cli.data.evaluate import evaluate, evaluate_scalar
from melogit_cli.data.functions import format_number
from melogit_cli.errors import StataError
from melogit_cli.syntax.expr import Binary, Call, Missing, Num, Str, Subscript, Unary, Var
from melogit_cli.syntax.expr_parser import parse_expr

NAN = math.nan


@pytest.fixture()
def ds() -> Dataset:
    frame = pd.DataFrame(
        {
            "x": [1.0, NAN, 7.0, 3.0],
            "y": [0.0, 2.0, 0.0, -1.0],
            "s": ["a", "bc", "", "Hello"],
            "child1": [0.0, 1.0, 0.0, 1.0],
            "child2": [1.0, 0.0, 0.0, 0.0],
            "age": [20.0, 35.5, 41.0, NAN],
        }
    )
    return Dataset(frame)


def ev(text: str, data: Dataset) -> np.ndarray:
    return evaluate(parse_expr(text), data)


def same(a: np.ndarray, b: list) -> bool:
    expected = np.asarray(b, dtype=a.dtype if a.dtype == object else np.float64)
    if a.dtype == object:
        return a.tolist() == expected.tolist()
    return bool(np.array_equal(a, expected, equal_nan=True))


# ------------------------------------------------------------------ parsing


@pytest.mark.parametrize(
    "text, tree",
    [
        ("1", Num(1.0)),
        ("-1.5e2", Num(-150.0)),
        (".5", Num(0.5)),
        ("1.", Num(1.0)),
        (".", Missing(".")),
        (".a", Missing(".a")),
        ('"a b"', Str("a b")),
        ('`"say "hi""\'', Str('say "hi"')),
        ("x", Var("x")),
        ("_n", Var("_n")),
        ("x[_n-1]", Subscript("x", Binary("-", Var("_n"), Num(1.0)))),
        ("f()", Call("f", ())),
        ("cond(a, 1, .)", Call("cond", (Var("a"), Num(1.0), Missing(".")))),
        ("-2^2", Unary("-", Binary("^", Num(2.0), Num(2.0)))),
        ("2^3^2", Binary("^", Binary("^", Num(2.0), Num(3.0)), Num(2.0))),
        ("2^-1", Binary("^", Num(2.0), Num(-1.0))),
        ("!x^2", Binary("^", Unary("!", Var("x")), Num(2.0))),
        ("~x", Unary("!", Var("x"))),
        ("a ~= b", Binary("!=", Var("a"), Var("b"))),
        ("a + b * c", Binary("+", Var("a"), Binary("*", Var("b"), Var("c")))),
        ("a - b - c", Binary("-", Binary("-", Var("a"), Var("b")), Var("c"))),
        ("a / b * c", Binary("*", Binary("/", Var("a"), Var("b")), Var("c"))),
        ("a | b & c", Binary("|", Var("a"), Binary("&", Var("b"), Var("c")))),
        ("a == b > c", Binary("==", Var("a"), Binary(">", Var("b"), Var("c")))),
        ("a < b + 1 & c", Binary("&", Binary("<", Var("a"), Binary("+", Var("b"), Num(1.0))),
                                 Var("c"))),
        ("(a | b) & c", Binary("&", Binary("|", Var("a"), Var("b")), Var("c"))),
        ("a*-b", Binary("*", Var("a"), Unary("-", Var("b")))),
        ("+x", Var("x")),
    ],
)
def test_parse_tree(text: str, tree: object) -> None:
    assert parse_expr(text) == tree


@pytest.mark.parametrize(
    "text, message, rc",
    [
        ("", "invalid syntax", 198),
        ("x >", "invalid syntax", 198),
        ("x = 1", "invalid syntax", 198),
        ("x y", "invalid syntax", 198),
        ("1 +* 2", "invalid syntax", 198),
        ("f(x,)", "invalid syntax", 198),
        ("(x + 1", "too few ')' or ']'", 132),
        ("x + 1)", "too many ')' or ']'", 132),
        ("x[_n", "too few ')' or ']'", 132),
        ('"abc', "unmatched quote", 132),
        ("x $ y", "invalid syntax", 198),
    ],
)
def test_parse_errors(text: str, message: str, rc: int) -> None:
    with pytest.raises(StataError) as info:
        parse_expr(text)
    assert (info.value.message, info.value.rc) == (message, rc)


# ------------------------------------------------------------------ missing values


def test_missing_is_larger_than_every_number(ds: Dataset) -> None:
    assert same(ev("x > 5", ds), [0, 1, 1, 0])
    assert same(ev("x < .", ds), [1, 0, 1, 1])
    assert same(ev("x >= .", ds), [0, 1, 0, 0])
    assert same(ev("x == .", ds), [0, 1, 0, 0])
    assert same(ev("x != .", ds), [1, 0, 1, 1])
    assert same(ev(". == .", ds), [1, 1, 1, 1])
    assert same(ev(". > 1e300", ds), [1, 1, 1, 1])
    assert same(ev(".a < 5", ds), [0, 0, 0, 0])
    assert same(ev("x <= age", ds), [1, 0, 1, 1])


def test_arithmetic_with_missing_and_division_by_zero(ds: Dataset) -> None:
    assert same(ev("x + 1", ds), [2, NAN, 8, 4])
    assert same(ev("x / y", ds), [NAN, NAN, NAN, -3])
    assert same(ev("0 / 0", ds), [NAN] * 4)
    assert same(ev("x * .", ds), [NAN] * 4)
    assert same(ev("(-8)^(1/3)", ds), [NAN] * 4)
    assert same(ev("10^400", ds), [NAN] * 4)
    assert same(ev("0^0", ds), [1] * 4)
    assert same(ev("-x", ds), [-1, NAN, -7, -3])


def test_logical_operators(ds: Dataset) -> None:
    assert same(ev("x & y", ds), [0, 1, 0, 1])
    assert same(ev("x | y", ds), [1, 1, 1, 1])
    assert same(ev("y | 0", ds), [0, 1, 0, 1])
    assert same(ev("!x", ds), [0, 0, 0, 0])
    assert same(ev("!y", ds), [1, 0, 1, 0])
    assert same(ev("!.", ds), [0] * 4)
    assert same(ev("(x > 2) + (x > 5)", ds), [0, 2, 2, 1])


# ------------------------------------------------------------------ strings


def test_strings(ds: Dataset) -> None:
    assert same(ev('s == "a"', ds), [1, 0, 0, 0])
    assert same(ev('s != ""', ds), [1, 1, 0, 1])
    assert same(ev('s + "!"', ds), ["a!", "bc!", "!", "Hello!"])
    assert same(ev('"b" < "c"', ds), [1] * 4)
    assert same(ev("strlen(s)", ds), [1, 2, 0, 5])
    assert same(ev("lower(s) + upper(s)", ds), ["aA", "bcBC", "", "helloHELLO"])
    assert same(ev("substr(s, 2, .)", ds), ["", "c", "", "ello"])
    assert same(ev('substr("abcdef", 2, 3)', ds), ["bcd"] * 4)
    assert same(ev('substr("abcdef", -3, 2)', ds), ["de"] * 4)
    assert same(ev('real("3.5") + 1', ds), [4.5] * 4)
    assert same(ev('real("x")', ds), [NAN] * 4)
    assert same(ev("string(x)", ds), ["1", ".", "7", "3"])
    assert same(ev('string(1/3) + "|" + string(_pi) + "|" + string(2.5, "%6.2f")', ds),
                [".3333333|3.141593|2.50"] * 4)
    assert same(ev('trim("  a  ")', ds), ["a"] * 4)
    assert same(ev('missing(s)', ds), [0, 0, 1, 0])


@pytest.mark.parametrize("text", ['s + 1', 's == 1', '1 < "a"', '-s', "!s", 's & 1', 's * 2',
                                  'abs(s)', 'cond(x, 1, "a")', 'inlist(x, "a")', "strlen(x)",
                                  "string(s)"])
def test_type_mismatch(ds: Dataset, text: str) -> None:
    with pytest.raises(StataError) as info:
        ev(text, ds)
    assert (info.value.message, info.value.rc) == ("type mismatch", 109)


# ------------------------------------------------------------------ system variables


def test_system_variables_and_subscripts(ds: Dataset) -> None:
    assert same(ev("_n", ds), [1, 2, 3, 4])
    assert same(ev("_N", ds), [4, 4, 4, 4])
    assert same(ev("_pi", ds), [math.pi] * 4)
    assert same(ev("x[_n-1]", ds), [NAN, 1, NAN, 7])
    assert same(ev("x[_n+1]", ds), [NAN, 7, 3, NAN])
    assert same(ev("x[1]", ds), [1, 1, 1, 1])
    assert same(ev("x[_N]", ds), [3, 3, 3, 3])
    assert same(ev("x[0]", ds), [NAN] * 4)
    assert same(ev("x[.]", ds), [NAN] * 4)
    assert same(ev("s[_n-1]", ds), ["", "a", "bc", ""])
    assert same(ev("age - age[_n-1]", ds), [NAN, 15.5, 5.5, NAN])


def test_variable_abbreviation(ds: Dataset) -> None:
    assert same(ev("ag + 0", ds), [20, 35.5, 41, NAN])
    with pytest.raises(StataError) as info:
        ev("child + 1", ds)
    assert (info.value.message, info.value.rc) == ("child ambiguous abbreviation", 111)


# ------------------------------------------------------------------ functions


@pytest.mark.parametrize(
    "text, expected",
    [
        ("abs(-2)", 2), ("exp(0)", 1), ("log(1)", 0), ("ln(exp(2))", 2), ("log10(1000)", 3),
        ("sqrt(16)", 4), ("sqrt(-1)", NAN), ("log(0)", NAN), ("log(-1)", NAN),
        ("round(2.5)", 3), ("round(-2.5)", -2), ("round(3.14159, .01)", 3.14),
        ("round(1234, 100)", 1200), ("floor(-1.5)", -2), ("ceil(-1.5)", -1), ("int(-2.7)", -2),
        ("int(2.7)", 2), ("min(3, ., 1)", 1), ("max(3, ., 1)", 3), ("min(., .)", NAN),
        ("cond(1, 10, 20)", 10), ("cond(0, 10, 20)", 20), ("cond(., 10, 20)", 10),
        ("cond(., 10, 20, 30)", 30), ("inlist(2, 1, 2, 3)", 1), ("inlist(5, 1, 2)", 0),
        ("inlist(., 1, .)", 1), ("inrange(5, 1, 10)", 1), ("inrange(5, 6, .)", 0),
        ("inrange(5, ., 6)", 1), ("inrange(., 1, 10)", 0), ("missing(1, .)", 1),
        ("missing(1, 2)", 0), ("mod(7, 3)", 1), ("mod(-1, 3)", 2), ("mod(5, 0)", NAN),
        ("logit(.5)", 0), ("logit(1)", NAN), ("invlogit(0)", 0.5), ("invlogit(1000)", 1),
        ("invlogit(-1000)", 0), ("normal(0)", 0.5), ("normal(1.959963984540054)", 0.975),
        ("invnormal(.975)", 1.959963984540054), ('inlist("b", "a", "b")', 1),
    ],
)
def test_functions_scalar(text: str, expected: float) -> None:
    value = evaluate_scalar(parse_expr(text))
    assert isinstance(value, float)
    if math.isnan(expected):
        assert math.isnan(value)
    else:
        assert value == pytest.approx(expected, abs=1e-12)


def test_functions_vectorized(ds: Dataset) -> None:
    assert same(ev("cond(x > 2, 1, 0)", ds), [0, 1, 1, 1])
    assert same(ev("cond(x, 1, 0, 9)", ds), [1, 9, 1, 1])
    assert same(ev('cond(y, "yes", "no")', ds), ["no", "yes", "no", "yes"])
    assert same(ev("inlist(x, 1, 3)", ds), [1, 0, 0, 1])
    assert same(ev("inrange(x, 2, 8)", ds), [0, 0, 1, 1])
    assert same(ev("missing(x, age)", ds), [0, 1, 0, 1])
    assert same(ev("min(x, age)", ds), [1, 35.5, 7, 3])
    assert same(ev("max(x, y, 2)", ds), [2, 2, 7, 3])
    assert same(ev("sum(x)", ds), [1, 1, 8, 11])
    assert np.allclose(ev("logit(invlogit(y))", ds), [0, 2, 0, -1], atol=1e-12)


def test_unknown_function_and_variable(ds: Dataset) -> None:
    with pytest.raises(StataError) as info:
        ev("foo(x)", ds)
    assert (info.value.message, info.value.rc) == ("unknown function foo()", 133)
    with pytest.raises(StataError) as info:
        ev("zz + 1", ds)
    assert (info.value.message, info.value.rc) == ("variable zz not found", 111)
    with pytest.raises(StataError) as info:
        ev("abs(1, 2)", ds)
    assert info.value.rc == 198


def test_results_are_float64_or_object(ds: Dataset) -> None:
    assert ev("x > 1", ds).dtype == np.float64
    assert ev("child1", ds).dtype == np.float64
    assert ev("s", ds).dtype == object
    assert ev("1", ds).shape == (4,)


def test_if_expression_from_the_command(ds: Dataset) -> None:
    from melogit_cli.syntax.parser import parse_melogit

    spec = parse_melogit("melogit y x if age < . & !missing(x) || id:")
    assert spec.if_expr is not None
    assert same(evaluate(spec.if_expr, ds), [1, 0, 1, 0])


def test_evaluate_scalar_reads_first_observation(ds: Dataset) -> None:
    assert evaluate_scalar(parse_expr("x * 2 + _N"), ds) == 6.0
    assert evaluate_scalar(parse_expr('s + "z"'), ds) == "az"
    assert evaluate_scalar(parse_expr("2 + 2")) == 4.0
    empty = Dataset(pd.DataFrame({"x": pd.Series([], dtype=float)}))
    assert math.isnan(float(evaluate_scalar(parse_expr("x"), empty)))
    assert len(evaluate(parse_expr("x + 1"), empty)) == 0


def test_string_columns_with_missing_become_empty_strings() -> None:
    data = Dataset(pd.DataFrame({"s": ["a", None, "c"]}, dtype=object))
    assert same(ev('s == ""', data), [0, 1, 0])


@pytest.mark.parametrize(
    "value, fmt, text",
    [(1 / 3, "%9.0g", ".3333333"), (-0.7104614, "%9.0g", "-.7104614"), (123456789, "%9.0g",
     "123456789"), (1234567890, "%9.0g", "1.235e+09"), (2.5, "%6.2f", "2.50"),
     (1234.5, "%10.1fc", "1,234.5"), (NAN, "%9.0g", "."), (0.00012345, "%9.0g", ".00012345"),
     (-3.0, "%9.0g", "-3")],
)
def test_format_number(value: float, fmt: str, text: str) -> None:
    assert format_number(value, fmt) == text
