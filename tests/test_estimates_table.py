"""estimates table / estimates stats: Stata's layout, its numbers from e(), its errors."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest

from melogit_cli import api
from melogit_cli.errors import StataError
from melogit_cli.interp.runner import execute
from melogit_cli.interp.session import Output, Session

DO = """\
use fixtures/data/bangladesh.dta
quietly melogit c_use i.urban age i.children, nofvlabel || district:
estimates store r_int
quietly melogit c_use i.urban age i.children, nofvlabel || district: i.urban
estimates store r_urban
quietly melogit c_use i.urban age i.children, nofvlabel || district: i.urban, cov(unstructured)
estimates store r_urban_corr
"""


@pytest.fixture(scope="module")
def session() -> Session:
    s = Session(Output(io.StringIO()))
    for line in DO.splitlines():
        execute(s, line)
    return s


def run(session: Session, command: str) -> list[str]:
    session.out.stream = io.StringIO()
    execute(session, command)
    return session.out.stream.getvalue().split("\n")[:-1]


def cell(x: float, spec: str = "%9.4f") -> str:
    """One model column of Stata's table: `` {value:>cw}  ``."""
    from melogit_cli.render.formats import fmt

    return " " + fmt(x, spec).strip().rjust(9) + "  "


def test_manual_models_side_by_side_in_stata_layout(session):
    lines = run(
        session, "estimates table r_int r_urban r_urban_corr, stats(N ll aic bic) b(%9.4f) se"
    )
    es = [session.stored[n].e for n in ("r_int", "r_urban", "r_urban_corr")]
    # cw = 9 (the width of %9.4f); rules are 12 + 3*(9+3) + 2 = 50 wide
    rule, mid = "-" * 50, "-" * 13 + "+" + "-" * 36
    assert lines[:4] == [
        "",
        rule,
        "    Variable |   r_int      r_urban    r_urban~r  ",
        mid,
    ]
    assert lines[4] == "c_use        |"
    assert lines[-2:] == [rule, "                                      Legend: b/se"]

    def row(label: str, col: str) -> list[str]:
        vals, ses = [], []
        for e in es:
            if col in e.b.colnames:
                j = e.b.colnames.index(col)
                vals.append(cell(e.b.data[0, j]))
                ses.append(cell(math.sqrt(e.V.data[j, j])))
            else:
                vals.append(" " * 12)
                ses.append(" " * 12)
        return [label + "|" + "".join(vals), " " * 13 + "|" + "".join(ses)]

    expected = (
        ["       urban |"]
        + row("      urban  ", "c_use:1.urban")
        + row("         age ", "c_use:age")
        + ["    children |"]
        + row("    1 child  ", "c_use:1.children")
        + row(" 2 children  ", "c_use:2.children")
        + row("3 or more c  ", "c_use:3.children")
        + row("       _cons ", "c_use:_cons")
        + [mid, "/            |"]
        + row("var(_cons[~) ", "/:var(_cons[district])")
        + row("var(1.urba~) ", "/:var(1.urban[district])")
        + row("cov(1.urba~) ", "/:cov(1.urban[district],_cons[district])")
        + [mid, "Statistics   |" + " " * 36]
    )
    assert lines[5 : 5 + len(expected)] == expected
    stats = lines[5 + len(expected) : -2]
    assert stats[0] == "           N |" + "".join(
        " " + str(int(e.scalars["N"])).rjust(9) + "  " for e in es
    )
    ll = [e.scalars["ll"] for e in es]
    k = [e.scalars["rank"] for e in es]
    aic = [-2 * a + 2 * b for a, b in zip(ll, k, strict=True)]
    bic = [-2 * a + math.log(1934) * b for a, b in zip(ll, k, strict=True)]
    assert stats[1:] == [
        "          ll |" + "".join(cell(x) for x in ll),
        "         aic |" + "".join(cell(x) for x in aic),
        "         bic |" + "".join(cell(x) for x in bic),
    ]
    assert "-1206.674" in stats[1]  # %9.4f overflows to %9.0g, as Stata shows it
    assert session.r_macros["names"] == "r_int r_urban r_urban_corr"
    assert session.r_matrices["stats"].data.shape == (4, 3)


def test_estimates_stats_values(session):
    lines = run(session, "estimates stats r_int r_urban r_urban_corr")
    assert lines[:6] == [
        "",
        "Akaike's information criterion and Bayesian information criterion",
        "",
        "-" * 77,
        "       Model |          N   ll(null)  ll(model)      df        AIC        BIC",
        "-------------+" + "-" * 63,
    ]
    assert lines[-2:] == ["-" * 77, "Note: BIC uses N = number of observations. See [R] IC note."]
    S = session.r_matrices["S"].data
    for i, name in enumerate(("r_int", "r_urban", "r_urban_corr")):
        e = session.stored[name].e
        ll, k, n = e.scalars["ll"], e.scalars["rank"], e.scalars["N"]
        assert S[i, 4] == pytest.approx(-2 * ll + 2 * k, rel=1e-12)
        assert S[i, 5] == pytest.approx(-2 * ll + k * math.log(n), rel=1e-12)
        assert math.isnan(S[i, 1])
    assert lines[6].startswith("       r_int |      1,934          .  -1206.674       7")
    assert lines[8].startswith("r_urban_corr |      1,934          .")


def test_star_levels_and_active_column(session):
    lines = run(session, "estimates table r_int ., star(.1 .05 .01) keep(1.urban) stats(N)")
    assert lines[2] == "    Variable |     r_int          Active      "
    assert lines[5].startswith("      urban  |  .73241343***    .81590479***")
    # rule: 12 + 2*(10 + 3 stars + 3) + 2 = 46; the legend is right-aligned to it
    assert lines[1] == "-" * 46
    assert lines[-1] == "Legend: * p<0.1; ** p<0.05; *** p<0.01".rjust(46)
    lines = run(session, "estimates table r_urban, star drop(/:) nofvlabel")
    assert lines[-1] == "Legend: * p<0.05; ** p<0.01; *** p<0.001"
    assert "          1  |  1.1221104***  " in lines


def test_t_p_eform_widths(session):
    lines = run(session, "estimates table r_int, keep(age) eform t p varwidth(14) modelwidth(13)")
    e = session.stored["r_int"].e
    j = e.b.colnames.index("c_use:age")
    b, se = e.b.data[0, j], math.sqrt(e.V.data[j, j])
    assert lines[1] == "-" * (14 + 16 + 2)
    assert lines[4][:16] == "           age |" and len(lines[4]) == 16 + 16
    assert float(lines[4][16:]) == pytest.approx(math.exp(b), rel=1e-7)
    assert lines[5].split("|")[1].strip() == f"{b / se:.2f}"
    assert lines[-1].endswith("Legend: b/t/p")


def test_newpanel_title_and_equations(session):
    lines = run(
        session, 'estimates table r_int r_urban, keep(age) stats(N) newpanel title("Two models")'
    )
    assert lines[:3] == ["", "Two models", ""]
    assert "  Statistics |   r_int       r_urban    " in lines
    frame = api.compare(
        {"a": _result(session, "r_int"), "b": _result(session, "r_urban")},
        se=True,
        stats=["N", "ll", "aic", "bic"],
        b="%9.4f",
    )
    assert frame.loc[("c_use", "age", "b"), "a"] == pytest.approx(
        session.stored["r_int"].e.b.data[0, 2]
    )
    assert np.isnan(frame.loc[("/", "var(1.urban[district])", "b"), "a"])
    text = frame.to_string()
    assert text.splitlines()[2] == "    Variable |     a           b      "
    assert "Legend: b/se" in text
    assert "Akaike's" in api.estimates_stats([_result(session, "r_int")])


def _result(session: Session, name: str) -> api.Results:
    est = session.stored[name]
    return api.Results(est.e, est.options)


BAD = [
    ("estimates table nosuch", "estimation result nosuch not found", 111),
    ("estimates table r_int, star se", "option star may not be combined with se, t, or p", 198),
    ("estimates table r_int, star(.05 .01)", "invalid specification of star()", 198),
    (
        "estimates table r_int, keep(foo)",
        "coefficient foo does not occur in any of the models",
        198,
    ),
    ("estimates table r_int, b(%q)", "invalid display format %q", 120),
    ("estimates table r_int, varwidth(x)", "option varwidth() incorrectly specified", 198),
    ("estimates table r_int, bogus", "option bogus not allowed", 198),
    ("estimates stats nosuch", "estimation result nosuch not found", 111),
]


@pytest.mark.parametrize(("command", "message", "rc"), BAD)
def test_bad_input(session, command, message, rc):
    with pytest.raises(StataError) as err:
        execute(session, command)
    assert (err.value.message, err.value.rc) == (message, rc)


@pytest.mark.parametrize("command", ["estimates table", "estimates stats"])
def test_no_estimates(command):
    s = Session(Output(io.StringIO()))
    with pytest.raises(StataError) as err:
        execute(s, command)
    assert (err.value.message, err.value.rc) == ("last estimates not found", 301)


@pytest.mark.parametrize(
    "command",
    [
        "estimates store x, foo",
        "estimates restore r_int, foo",
        "estimates dir, foo",
        "estimates drop r_int, foo",
        "estimates clear, foo",
    ],
)
def test_estimates_subcommands_refuse_unknown_options(session: Session, command: str) -> None:
    with pytest.raises(StataError) as err:
        execute(session, command)
    assert (err.value.message, err.value.rc) == ("option foo not allowed", 198)
    assert "x" not in session.stored and "r_int" in session.stored


def test_estimates_store_nocopy_moves_the_active_results() -> None:
    s = Session(Output(io.StringIO()))
    for line in DO.splitlines()[:2]:
        execute(s, line)
    active = s.last()
    execute(s, "estimates store kept, nocopy")
    assert s.stored["kept"] is active
    with pytest.raises(StataError) as err:
        s.last()
    assert err.value.rc == 301
    execute(s, "estimates restore kept")
    assert s.last() is active


@pytest.mark.parametrize("command", ["clear, foo", "clear everything"])
def test_clear_refuses_what_it_does_not_do(command: str) -> None:
    s = Session(Output(io.StringIO()))
    execute(s, "use fixtures/data/bangladesh.dta")
    with pytest.raises(StataError) as err:
        execute(s, command)
    assert (err.value.message, err.value.rc) == ("invalid syntax", 198)
    assert s.ds is not None  # nothing was cleared


@pytest.mark.parametrize(
    ("command", "data", "results", "matrices", "stored"),
    [
        ("clear", False, True, True, True),
        ("clear results", True, False, True, True),
        ("clear matrix", True, True, False, True),
        ("clear frames", False, True, True, True),
        ("clear mata", True, True, True, True),
        ("clear programs", True, True, True, True),
        ("clear all", False, False, False, False),
    ],
)
def test_what_each_clear_clears(command, data, results, matrices, stored) -> None:
    s = Session(Output(io.StringIO()))
    for line in DO.splitlines()[:3]:
        execute(s, line)
    execute(s, "matrix b = e(b)")
    execute(s, "summarize age")
    execute(s, command)
    assert (s.ds is not None, s.current is not None, bool(s.matrices), bool(s.stored)) == (
        data,
        results,
        matrices,
        stored,
    )
    assert bool(s.r_scalars) == results


@pytest.mark.parametrize("command", ["estimates clear r_int", "estimates drop"])
def test_estimates_clear_takes_no_names_and_drop_needs_some(session: Session, command: str):
    with pytest.raises(StataError) as err:
        execute(session, command)
    assert (err.value.message, err.value.rc) == ("invalid syntax", 198)
    assert "r_int" in session.stored
