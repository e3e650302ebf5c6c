"""Stata display formats, checked against numbers as Stata prints them.

Sources of the expected strings: the melogit manual's example 1 (coefficient table in
%9.0g, log likelihoods in %10.0g), Stata 18 logs of meglm-family commands (``Log likelihood =
-3663.222`` right-aligned in %10.0g, ``1.41e-31`` in a %9.0g column, ``chibar2(01) = 2.0e+06``
from %8.2e, ``Number of obs = 1000000`` from %10.0gc) and Stata's header formats
(%10.1fc averages, %6.4f p-values).
"""

from __future__ import annotations

import math

import pytest

from melogit_cli.errors import StataError
from melogit_cli.render.formats import (
    FormatSpec,
    fmt,
    is_missing,
    parse_format,
    validate_display_format,
)


@pytest.mark.parametrize(
    ("x", "spec", "expected"),
    [
        # %9.0g: coefficient column of the manual's example 1
        (0.7322765, "%9.0g", " .7322765"),
        (-1.68929, "%9.0g", " -1.68929"),
        (1.02355, "%9.0g", "  1.02355"),
        (-0.0264981, "%9.0g", "-.0264981"),
        (0.215618, "%9.0g", "  .215618"),
        (1.116001, "%9.0g", " 1.116001"),
        (-1.978892, "%9.0g", "-1.978892"),
        (0.9664641, "%9.0g", " .9664641"),
        (1.70824, "%9.0g", "  1.70824"),
        # more digits than fit: rounded to 7 significant digits in 8 columns
        (0.73227651234, "%9.0g", " .7322765"),
        (-0.026498123, "%9.0g", "-.0264981"),
        (12.3456789, "%9.0g", " 12.34568"),
        (12345678.0, "%9.0g", " 12345678"),
        (1234567.891, "%9.0g", "  1234568"),
        # exponent form (metapreg's Stata 18 table: var() rows of 1.41e-31)
        (1.41e-31, "%9.0g", " 1.41e-31"),
        (2.32e-15, "%9.0g", " 2.32e-15"),
        (123456789.0, "%9.0g", " 1.23e+08"),
        (0.0001234567, "%9.0g", " .0001235"),
        (0.00001234567, "%9.0g", " 1.23e-05"),
        (1e-10, "%10.0g", " 1.000e-10"),
        (-1.41e-31, "%9.0g", "-1.41e-31"),
        # %10.0g: log likelihoods in the iteration log and header
        (-1229.5485, "%10.0g", "-1229.5485"),
        (-1199.3150, "%10.0g", " -1199.315"),
        (-3663.222, "%10.0g", " -3663.222"),
        (-305.12041, "%10.0g", "-305.12041"),
        (-2.4437626, "%10.0g", "-2.4437626"),
        (0.0, "%9.0g", "        0"),
        (7.0, "%9.0g", "        7"),
        # %f
        (109.60, "%9.2f", "   109.60"),
        (62553.76, "%9.2f", " 62553.76"),
        (6.1285, "%8.2f", "    6.13"),
        (-11.4328, "%8.2f", "  -11.43"),
        (-0.70, "%8.2f", "   -0.70"),
        (0.0, "%5.3f", "0.000"),
        (0.0002, "%5.3f", "0.000"),
        (0.4831, "%5.3f", "0.483"),
        (1e-12, "%6.4f", "0.0000"),
        (0.05584, "%6.4f", "0.0558"),
        (43.39, "%8.2f", "   43.39"),
        # comma formats (header: Number of obs, Obs per group)
        (1934, "%10.0gc", "     1,934"),
        (60, "%10.0gc", "        60"),
        (118, "%10.0gc", "       118"),
        (124110, "%10.0gc", "   124,110"),
        (1000000, "%10.0gc", "   1000000"),
        (32.2333, "%10.1fc", "      32.2"),
        (1000.0, "%10.1fc", "   1,000.0"),
        (3435.0, "%9.1fc", "  3,435.0"),
        (3435, "%9.0gc", "    3,435"),
        (148, "%8.0gc", "     148"),
        (1023532, "%10.0fc", " 1,023,532"),
        # %e (LR statistic outside [0.005, 1e5))
        (2012345.0, "%8.2e", " 2.0e+06"),
        (190000.0, "%8.2e", " 1.9e+05"),
        (0.001234, "%8.2e", " 1.2e-03"),
        (0.001234, "%10.2e", "  1.23e-03"),
        # left-justified
        (2.0, "%-9.0g", "2        "),
        (-1206.8322, "%-10.0g", "-1206.8322"),
        (-1199.315, "%-10.0g", "-1199.315 "),
    ],
)
def test_fmt(x: float, spec: str, expected: str) -> None:
    assert fmt(x, spec) == expected


@pytest.mark.parametrize("missing", [math.nan, math.inf, -math.inf, None])
def test_missing_values_print_as_a_dot(missing: float | None) -> None:
    assert fmt(missing, "%9.0g") == "        ."
    assert fmt(missing, "%5.3f") == "    ."
    assert fmt(missing, "%-6.4f") == ".     "
    assert is_missing(missing)


def test_width_is_always_respected_for_g() -> None:
    for x in [1.0 / 3, -2.0 / 3, 1e300, -1e-300, 123456.789, 9.99999999, 0.1, 1e15]:
        for w in (8, 9, 10, 12):
            assert len(fmt(x, f"%{w}.0g")) == w


def test_parse_format() -> None:
    assert parse_format("%9.0g") == FormatSpec(9, 0, "g")
    assert parse_format("%-10.3fc") == FormatSpec(10, 3, "f", comma=True, left=True)
    assert parse_format(" %8.2e ") == FormatSpec(8, 2, "e")
    assert str(parse_format("%-10.3fc")) == "%-10.3fc"


@pytest.mark.parametrize("bad", ["9.0g", "%9g", "%9.0x", "%5.5f", "%.3f", "%8.2ec", "%0.0g", ""])
def test_parse_format_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_format(bad)


def test_display_format_option_widths() -> None:
    assert validate_display_format("%9.3f", "cformat", 9).width == 9
    with pytest.raises(StataError) as err:
        validate_display_format("%12.3f", "cformat", 9)
    assert err.value.rc == 198
    with pytest.raises(StataError):
        validate_display_format("%5.3x", "pformat", 5)
