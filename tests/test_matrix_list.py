"""``matrix list``: Stata's layout, checked line by line against Stata's own logs."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import DATA, session_with

from melogit_cli.errors import StataError
from melogit_cli.interp.runner import execute
from melogit_cli.render.matrix_list import (
    ListOptions,
    abbreviate,
    matrix_list_lines,
    split_name,
)
from melogit_cli.results.eresults import Matrix


def _matrix(rows: list[str], cols: list[str], values: list[list[float]]) -> Matrix:
    return Matrix(rows, cols, np.array(values, dtype=float))


def test_equations_and_factor_variables_wrap_like_stata():
    # Stata log of `logit lfp i.wc i.k5 age` then `mat list e(b)`, in the help file
    # _rm_fvtype.sthlp of the spost13 package (J. S. Long and J. Freese), indented by
    # eight blanks there. Three header lines (equation, level, variable), one column
    # width for the whole matrix, a second block after a blank line that still has
    # the (empty) level line.
    cols = ["0b.wc", "1.wc", "0b.k5", "1.k5", "2.k5", "3o.k5", "age", "_cons"]
    b = _matrix(
        ["y1"],
        [f"lfp:{c}" for c in cols],
        [[0, 0.8222805, 0, -1.5319647, -2.4723011, 0, -0.06030223, 2.9812584]],
    )
    assert matrix_list_lines("e(b)", b) == [
        "",
        "e(b)[1,8]",
        "           lfp:        lfp:        lfp:        lfp:        lfp:        lfp:",
        "            0b.          1.         0b.          1.          2.         3o.",
        "            wc          wc          k5          k5          k5          k5",
        "y1           0    .8222805           0  -1.5319647  -2.4723011           0",
        "",
        "           lfp:        lfp:",
        "",
        "           age       _cons",
        "y1  -.06030223   2.9812584",
    ]


def test_equation_wider_than_values_sets_the_width():
    # Stata log of `proportion isPoor_ext [fw=weight]` then `matrix list r(table)`, in a
    # Jupyter notebook exported to markdown (indented by four blanks there); found in a
    # public repository through the code search, file id 8006395247.
    t = _matrix(
        ["b", "se", "t", "pvalue", "ll", "ul", "df", "crit", "eform"],
        ["isPoor_ext:0", "isPoor_ext:1"],
        [
            [0.564767, 0.435233],
            [0.00001492, 0.00001492],
            [37844.854, 29164.823],
            [0, 0],
            [0.56473775, 0.43520375],
            [0.56479625, 0.43526225],
            [1103738459, 1103738459],
            [1.959964, 1.959964],
            [0, 0],
        ],
    )
    lines = matrix_list_lines("r(table)", t)
    expected = [
        "",
        "r(table)[9,2]",
        "         isPoor_ext:  isPoor_ext:",
        "                  0            1",
        "     b      .564767      .435233",
        "    se    .00001492    .00001492",
        "     t    37844.854    29164.823",
        "pvalue            0            0",
        "    ll    .56473775    .43520375",
        "    ul    .56479625    .43526225",
        "    df    1.104e+09    1.104e+09",
        "  crit     1.959964     1.959964",
        " eform            0            0",
    ]
    # The se row differs in the number only: the shared %10.0g formatter writes
    # 1.492e-05 where Stata writes .00001492; the columns are the same.
    assert lines[:5] + lines[6:] == expected[:5] + expected[6:]
    assert lines[5] == "    se    1.492e-05    1.492e-05"


def test_r_table_of_a_single_equation_model():
    # Stata log of `regress mpg weight` then `matrix list r(table)`, in README.md of
    # the dbs package (F. Bittmann, github.com/fbittmann/dbs).
    t = _matrix(
        ["b", "se", "t", "pvalue", "ll", "ul", "df", "crit", "eform"],
        ["weight", "_cons"],
        [
            [-0.00600869, 39.440284],
            [0.00051788, 1.6140031],
            [-11.60251, 24.436312],
            [3.798e-18, 1.385e-36],
            [-0.00704106, 36.222827],
            [-0.00497632, 42.65774],
            [72, 72],
            [1.9934636, 1.9934636],
            [0, 0],
        ],
    )
    assert matrix_list_lines("r(table)", t) == [
        "",
        "r(table)[9,2]",
        "            weight       _cons",
        "     b  -.00600869   39.440284",
        "    se   .00051788   1.6140031",
        "     t   -11.60251   24.436312",
        "pvalue   3.798e-18   1.385e-36",
        "    ll  -.00704106   36.222827",
        "    ul  -.00497632    42.65774",
        "    df          72          72",
        "  crit   1.9934636   1.9934636",
        " eform           0           0",
    ]


def test_symmetric_matrix_shows_its_lower_triangle():
    # Stata log of `qui reg bweight mbsmoke mage sm_age` then `matrix list e(V)` on
    # cattaneo2, in a lianxh.cn article on the delta method (file id 33315639104).
    names = ["mbsmoke", "mage", "sm_age", "_cons"]
    lower = [
        [10733.267],
        [71.343306, 2.6610229],
        [-403.72658, -2.6610229, 15.868305],
        [-1997.5365, -71.343306, 71.343306, 1997.5365],
    ]
    v = np.zeros((4, 4))
    for i, row in enumerate(lower):
        v[i, : i + 1] = row
    v = v + np.tril(v, -1).T
    expected = [
        "",
        "symmetric e(V)[4,4]",
        "            mbsmoke        mage      sm_age       _cons",
        "mbsmoke   10733.267",
        "   mage   71.343306   2.6610229",
        " sm_age  -403.72658  -2.6610229   15.868305",
        "  _cons  -1997.5365  -71.343306   71.343306   1997.5365",
    ]
    assert matrix_list_lines("e(V)", Matrix(names, names, v)) == expected
    full = matrix_list_lines("e(V)", Matrix(names, names, v), ListOptions(half=False))
    assert full[3] == "mbsmoke   10733.267   71.343306  -403.72658  -1997.5365"


def test_names_are_split_and_abbreviated():
    assert split_name("c_use:0b.urban") == ("c_use", "0b.", "urban")
    assert split_name("/:var(_cons[district])") == ("/", "", "var(_cons[district])")
    assert split_name("age") == ("", "", "age")
    assert split_name("1.sex#c.age") == ("", "", "1.sex#c.age")
    assert abbreviate("var(_cons[district])") == "var(_cons[~)"
    assert abbreviate("displacement") == "displacement"


def test_options_of_the_lines():
    a = _matrix(["r1", "r2"], ["c1", "c2"], [[1, 2], [3, 4]])
    assert matrix_list_lines("A", a, ListOptions(blank=False, title="my title")) == [
        "A[2,2]:  my title", "    c1  c2", "r1   1   2", "r2   3   4",
    ]
    assert matrix_list_lines("A", a, ListOptions(header=False, names=False)) == [
        "", "  1  2", "  3  4",
    ]
    assert matrix_list_lines("A", a, ListOptions(format="%6.2f")) == [
        "", "A[2,2]", "      c1    c2", "r1  1.00  2.00", "r2  3.00  4.00",
    ]


# ---------------------------------------------------------------- after example 1


@pytest.fixture(scope="module")
def fitted_session():
    return session_with(
        f'use "{DATA / "bangladesh.dta"}"',
        "quietly melogit c_use i.urban age i.children || district:",
    )


def _listed(fitted_session, command: str) -> list[str]:
    session, stream = fitted_session
    stream.seek(0)
    stream.truncate()
    execute(session, command)
    return stream.getvalue().splitlines()


def test_eb_after_example_1(fitted_session):
    lines = _listed(fitted_session, "matrix list e(b)")
    assert lines[:2] == ["", "e(b)[1,9]"]
    # width 14: the abbreviated var(_cons[~) (12) plus two blanks; 5 columns a block
    assert lines[2] == "           c_use:        c_use:        c_use:        c_use:        c_use:"
    assert lines[3] == "              0b.            1.                         0b.            1."
    assert lines[4] == "           urban         urban           age      children      children"
    assert lines[5].startswith("y1             0     .73241")
    assert lines[6] == ""
    assert lines[7] == "           c_use:        c_use:        c_use:            /:"
    assert lines[8] == "               2.            3."
    assert lines[9] == "        children      children         _cons  var(_cons[~)"
    assert lines[10].startswith("y1     1.37652")
    assert len(lines) == 11
    assert all(len(line) <= 80 for line in lines)
    session, _ = fitted_session
    execute(session, "matrix b = e(b)")
    assert _listed(fitted_session, "matrix list b")[2:] == lines[2:]


def test_ev_after_example_1(fitted_session):
    lines = _listed(fitted_session, "matrix list e(V)")
    assert lines[1] == "symmetric e(V)[9,9]"
    assert lines[2] == "                          c_use:        c_use:        c_use:        c_use:"
    assert lines[5] == "   c_use:0b.urban             0"
    assert lines[6].startswith("    c_use:1.urban             0     .01427")
    assert lines[13] == "   /:var(_cons[~)             0    -.00051612    -2.568e-05             0"
    # the last block holds the variance of the random intercept alone
    assert lines[-4:] == [
        "                              /:",
        "",
        "                   var(_cons[~)",
        lines[-1],
    ]
    assert lines[-1].startswith("   /:var(_cons[~)     .0053")
    assert all(len(line) <= 80 for line in lines)


def test_r_table_after_example_1(fitted_session):
    session, _ = fitted_session
    execute(session, "quietly melogit")
    lines = _listed(fitted_session, "matrix list r(table)")
    assert lines[1] == "r(table)[9,9]"
    assert [line[:6] for line in lines[5:14]] == [
        "     b", "    se", "     z", "pvalue", "    ll", "    ul", "    df", "  crit", " eform",
    ]
    se = "    se             .      .1194816     .00788702             .     .15801186"
    assert lines[6] == se
    assert lines[14] == ""
    assert lines[15] == "               c_use:        c_use:        c_use:            /:"


def test_linesize_and_options_through_the_command(fitted_session):
    session, _ = fitted_session
    session.linesize = 130  # 2 + 9 * 14 + 1: one block
    try:
        lines = _listed(fitted_session, "matrix list e(b), noblank format(%6.3f)")
    finally:
        session.linesize = 80
    assert lines[0] == "e(b)[1,9]"
    assert lines[3].split() == ["urban", "urban", "age", "children", "children", "children",
                                "children", "_cons", "var(_cons[~)"]
    assert lines[4].split()[1:3] == ["0.000", "0.732"]


@pytest.mark.parametrize(
    ("command", "message", "rc"),
    [
        ("matrix list e(b), bogus", "option bogus not allowed", 198),
        ("matrix list e(b), format(%xyz)", "invalid format %xyz", 120),
        ("matrix list nothere", "matrix nothere not found", 111),
    ],
)
def test_bad_options(fitted_session, command, message, rc):
    session, _ = fitted_session
    with pytest.raises(StataError) as err:
        execute(session, command)
    assert (err.value.message, err.value.rc) == (message, rc)
