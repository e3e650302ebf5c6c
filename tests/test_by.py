"""by varlist: and bysort varlist: fit one model per group."""

from __future__ import annotations

import io

import numpy as np
import pytest

from melogit_cli.data.bundled import bundled_path
from melogit_cli.data.loaders import load
from melogit_cli.errors import StataError
from melogit_cli.interp.runner import execute
from melogit_cli.interp.session import Output, Session


def _session() -> tuple[Session, io.StringIO]:
    stream = io.StringIO()
    session = Session(Output(stream))
    session.set_data(load(bundled_path("bangladesh")))
    return session, stream


def test_bysort_fits_one_model_per_group_and_prints_both():
    session, stream = _session()
    execute(session, "bysort urban: melogit c_use age || district:")
    text = stream.getvalue()
    rule = "-" * 79
    headers = [i for i, line in enumerate(text.splitlines()) if line.startswith("-> urban")]
    assert [text.splitlines()[i] for i in headers] == ["-> urban = 0", "-> urban = 1"]
    assert all(text.splitlines()[i - 1] == rule for i in headers)
    assert text.count("Mixed-effects logistic regression") == 2
    # the last group's fit is e(), and equals the model fit on that group alone
    last = session.last().e
    assert last.scalars["N"] == 562
    execute(session, "melogit c_use age if urban == 1 || district:")
    np.testing.assert_allclose(last.b.data, session.last().e.b.data, rtol=1e-10)
    assert session.ds.nobs == 1934  # the data are whole again


@pytest.mark.parametrize(
    ("commands", "message", "rc"),
    [
        (["by urban: melogit c_use age || district:"], "not sorted", 5),
        (["by urban: display 1"], "display may not be combined with by", 190),
        (["by: melogit c_use age || district:"], "varlist required", 100),
        (["bysort nosuch: melogit c_use age || district:"], "variable nosuch not found", 111),
    ],
)
def test_by_errors(commands, message, rc):
    session, _ = _session()
    with pytest.raises(StataError) as err:
        for cmd in commands:
            execute(session, cmd)
    assert (err.value.message, err.value.rc) == (message, rc)


def test_by_after_sort_and_by_sort_option():
    session, stream = _session()
    execute(session, "sort urban")
    execute(session, "quietly by urban: melogit c_use age || district:")
    assert session.last().e.scalars["N"] == 562
    session, stream = _session()  # unsorted again: the sort option sorts
    execute(session, "quietly by urban, sort: melogit c_use age || district:")
    assert session.last().e.scalars["N"] == 562
    assert stream.getvalue() == ""  # quietly hides the group headers too


def test_the_command_line_takes_the_prefixes():
    """One command on the command line: bysort fits per group; svy has no svyset there."""
    import subprocess
    import sys

    from conftest import DATA

    def run(command: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "melogit_cli.cli", "--data", str(DATA / "bangladesh.dta"),
             command], capture_output=True, text=True, timeout=300,
        )

    res = run("bysort urban: melogit c_use age || district:, nolog")
    assert res.returncode == 0, res.stderr
    assert [ln for ln in res.stdout.splitlines() if ln.startswith("->")] == [
        "-> urban = 0", "-> urban = 1"]
    res = run("svy: melogit c_use age || district:")
    assert (res.returncode, res.stderr) == (1, "data not set up for svy, use svyset\nr(119);\n")
    res = run("by urban: melogit c_use age || district:")
    assert (res.returncode, res.stderr) == (1, "not sorted\nr(5);\n")
