"""``set``: honoured settings change what later commands compute or print, accepted ones
change nothing, the rest are refused with a message and r(198)."""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pytest
from conftest import ROOT, fails, run, session_with
from scipy.special import ndtri

from melogit_cli.interp.settings import SETTINGS, Settings, find
from melogit_cli.render.formats import fmt

SMALL = ("webuse bangladesh", "keep if district <= 12")
MODEL = "melogit c_use i.urban age || district:"


@pytest.fixture(scope="module")
def at90():
    """A fit after ``set level 90`` (the output of the fit alone)."""
    session, _ = session_with(*SMALL, "set level 90")
    return session, run(session, MODEL)


def _limits(session) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    e = session.current.e
    b = e.b.data[0].astype(float)
    se = np.sqrt(np.diag(e.V.data.astype(float)))
    table = session.r_matrices["table"]
    rows = table.rownames
    return b, se, table.data[rows.index("ll")], table.data[rows.index("ul")]


# ---------------------------------------------------------------------- honoured: level


def test_set_level_90_gives_90_percent_intervals(at90) -> None:
    session, text = at90
    assert "[90% conf. interval]" in text and "95%" not in text
    assert session.r_scalars["level"] == 90.0
    b, se, ll, ul = _limits(session)
    names = session.current.e.b.colnames
    j = names.index("c_use:age")
    z = ndtri(0.95)
    assert ll[j] == pytest.approx(b[j] - z * se[j], rel=1e-12)
    assert ul[j] == pytest.approx(b[j] + z * se[j], rel=1e-12)
    age_line = next(line for line in text.splitlines() if line.lstrip().startswith("age |"))
    assert age_line.split()[-2:] == [fmt(b[j] - z * se[j], "%9.0g").strip(),
                                     fmt(b[j] + z * se[j], "%9.0g").strip()]


def test_set_level_is_the_default_of_every_later_level_option(at90) -> None:
    session, _ = at90
    for command in ("melogit", "estimates replay", "ereturn display", "lincom age",
                    "nlcom exp(_b[age])", "estat sd", "estat icc", "margins urban"):
        assert "[90% conf. interval]" in run(session, command), command
    # a typed level() wins, and the setting stays
    assert "[95% conf. interval]" in run(session, "melogit, level(95)")
    assert "[99% conf. interval]" in run(session, "lincom age, level(99)")
    assert "[90% conf. interval]" in run(session, "melogit")


def test_set_level_takes_at_most_two_decimals_between_10_and_99_99() -> None:
    session, _ = session_with("set level 99.99", "set l 10")
    assert session.settings.level == 10.0
    run(session, "set level 92.50")
    assert session.settings.level == 92.5
    cases = {
        "set level 5": ("level must be between 10 and 99.99 inclusive", 198),
        "set level 100": ("level must be between 10 and 99.99 inclusive", 198),
        "set level -90": ("level must be between 10 and 99.99 inclusive", 198),
        "set level 90.125": ("level can have at most two digits after the decimal point", 198),
        "set level abc": ("invalid syntax", 198),
        "set level": ("invalid syntax", 198),
    }
    for command, (message, rc) in cases.items():
        err = fails(session, command)
        assert (err.message, err.rc) == (message, rc), command
    assert session.settings.level == 92.5


# ---------------------------------------------------------------------- honoured: others


def test_set_maxiter_is_the_default_of_iterate() -> None:
    session, _ = session_with(*SMALL, "set maxiter 1")
    text = run(session, MODEL)
    assert "convergence not achieved" in text
    assert session.current.e.scalars["ic"] == 1.0
    assert session.current.e.scalars["converged"] == 0.0
    run(session, f"quietly {MODEL}, iterate(50)")
    assert session.current.e.scalars["converged"] == 1.0
    for command, message in (("set maxiter 16001", "maxiter must be between 0 and 16,000"),
                             ("set maxiter -1", "invalid syntax"),
                             ("set maxiter 2.5", "invalid syntax")):
        err = fails(session, command)
        assert (err.message, err.rc) == (message, 198)


def test_set_iterlog_off_is_the_default_of_nolog() -> None:
    session, _ = session_with(*SMALL, "set iterlog off")
    assert "Iteration" not in run(session, MODEL)
    assert "Iteration 0:" in run(session, f"{MODEL}, log")
    assert fails(session, "set iterlog maybe").message == "invalid syntax"


def test_set_type_is_the_storage_type_of_generate_and_predict() -> None:
    session, _ = session_with(*SMALL, "generate f = 1/3", "set type double",
                              "generate d = 1/3")
    frame = session.ds.frame
    assert frame["d"][0] == 1 / 3
    assert frame["f"][0] == float(np.float32(1 / 3))
    assert session.ds.storage["d"] == "double"
    run(session, f"quietly {MODEL}")
    run(session, "predict p")
    assert session.ds.storage["p"] == "double"
    assert fails(session, "set type long").message == "invalid syntax"


def test_set_emptycells_drop_leaves_empty_cells_out_of_eb() -> None:
    setup = (*SMALL, "drop if urban == 1 & children == 3")
    model = "melogit c_use i.urban#i.children || district:"
    kept, _ = session_with(*setup)
    keep_text = run(kept, model)
    dropped, _ = session_with(*setup, "set emptycells drop")
    drop_text = run(dropped, model)
    assert "note: 1.urban#3.children identifies no observations in the sample." in keep_text
    assert "identifies no observations" not in drop_text
    assert "(empty)" in keep_text and "(empty)" not in drop_text
    keep_b, drop_b = kept.current.e.b, dropped.current.e.b
    assert drop_b.colnames == [c for c in keep_b.colnames if c != "c_use:1o.urban#3o.children"]
    assert dropped.current.e.empty_cells == frozenset()
    j = keep_b.colnames.index("c_use:1o.urban#3o.children")
    assert drop_b.data[0] == pytest.approx(np.delete(keep_b.data[0], j), rel=1e-8)
    # the table is the one noemptycells shows under keep
    hidden = run(kept, "melogit, noemptycells")
    assert drop_text.split("Mixed-effects")[1] == hidden.split("Mixed-effects")[1]
    assert fails(dropped, "set emptycells none").message == "invalid syntax"


# ---------------------------------------------------------------------- accepted


ACCEPTED = (
    "set more off", "set more on", "set pagesize 40", "set rmsg off", "set output proc",
    "set seed 12345", "set sortseed 1", "set rng mt64", "set varabbrev off",
    "set matsize 800", "set maxvar 32767, permanently", "set processors 2",
    "set scheme s1mono", "set graphics off", "set trace off",
    "set tracedepth 2", "set niceness 5", "set max_memory 16g",
)


def test_settings_without_effect_are_accepted_and_change_nothing() -> None:
    session, stream = session_with(*ACCEPTED)
    assert stream.getvalue() == ""
    assert session.settings == Settings()
    assert session.linesize == 80


def test_readme_says_why_each_accepted_setting_cannot_change_output() -> None:
    readme = (ROOT / "README.md").read_text()
    for row in SETTINGS:
        if row.apply is None and row.accepts != ():
            assert row.why, row.name
            assert re.search(rf"`{row.name}[` ]", readme), row.name


# ---------------------------------------------------------------------- refused


REFUSED = {
    "set cformat %9.3f": "set cformat not supported",
    "set pformat %5.2f": "set pformat not supported",
    "set sformat %8.3f": "set sformat not supported",
    "set showbaselevels on": "set showbaselevels not supported",
    "set dp comma": "set dp not supported",
    "set obs 10": "set obs not supported",
    "set rmsg on": "set rmsg on not supported",
    "set output error": "set output error not supported",
    "set nosuchsetting 1": "invalid syntax",
    "set more maybe": "invalid syntax",
    "set seed": "invalid syntax",
    "set": "invalid syntax",
    "set level 90, foo": "option foo not allowed",
}


@pytest.mark.parametrize("command", list(REFUSED))
def test_other_settings_are_refused(command: str) -> None:
    session, _ = session_with()
    err = fails(session, command)
    assert (err.message, err.rc) == (REFUSED[command], 198)
    assert session.settings == Settings()


def test_each_row_is_found_by_its_shortest_abbreviation() -> None:
    for row in SETTINGS:
        assert find(row.name) is row
        assert find(row.name[: row.minimum]) is row, row.name
    assert find("l") is find("level") and find("li") is find("linesize")


def test_option_defaults_follow_the_settings() -> None:
    s = replace(Settings(), level=80.0, maxiter=7, iterlog=False, emptycells="drop")
    o = s.option_defaults()
    assert (o.level, o.iterate, o.log, o.emptycells) == (80.0, 7, False, "drop")
    assert re.fullmatch(r"\d+", str(Settings().option_defaults().iterate))
