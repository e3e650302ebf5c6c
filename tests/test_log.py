"""``log``: text and SMCL logs, ``nomsg``, ``log off``/``log on`` and ``log query``, as
Stata's [R] log describes them."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from melogit_cli.errors import StataError
from melogit_cli.interp.runner import execute, run_dofile
from melogit_cli.interp.session import Output, Session
from melogit_cli.verify.logfile import read_log


def run(tmp_path: Path, text: str) -> str:
    path = tmp_path / "t.do"
    path.write_text(text)
    stream = io.StringIO()
    _, failure = run_dofile(path, stream)
    assert failure is None
    return stream.getvalue()


def test_format_by_option_then_extension(tmp_path: Path) -> None:
    run(
        tmp_path,
        f"log using {tmp_path / 'a'}, text\nlog close\n"
        f"log using {tmp_path / 'b'}, smcl\nlog close\n"
        f"log using {tmp_path / 'c.smcl'}\nlog close\n"
        f"log using {tmp_path / 'd.smcl'}, text\nlog close\n",
    )
    assert "log type:  text" in (tmp_path / "a.log").read_text()
    for name in ("b.smcl", "c.smcl"):
        text = (tmp_path / name).read_text()
        assert text.startswith("{smcl}\n") and "log type:  smcl" in text
    text = (tmp_path / "d.smcl").read_text()
    assert not text.startswith("{smcl}") and "log type:  text" in text


def test_smcl_log_reads_back_as_the_text_log(tmp_path: Path) -> None:
    """The same commands logged in both formats: Stata's SMCL, translated back to text
    (by the verify module's SMCL reader), is the text log, braces included."""
    commands = 'display "{braces} and `quotes\'"\ndisplay 2 + 3\nmatrix A = (1, 2)\nmatrix list A\n'
    for name, kind in (("x.log", "text"), ("x.smcl", "smcl")):
        run(tmp_path, f"log using {tmp_path / name}, {kind}\n{commands}log close\n")
    smcl = (tmp_path / "x.smcl").read_text()
    assert "{c -(}braces{c )-}" in smcl and "{braces}" not in smcl
    as_text = [line for _, line in read_log(tmp_path / "x.smcl").lines]
    plain = [line for _, line in read_log(tmp_path / "x.log").lines]
    differs = [(a, b) for a, b in zip(as_text, plain, strict=True) if a != b]
    assert all("log" in a and "log" in b for a, b in differs)  # the file name and type lines
    assert any("{braces} and" in line for line in as_text)


def test_nomsg_leaves_out_the_opening_and_closing_messages(tmp_path: Path) -> None:
    out = run(tmp_path, f"log using {tmp_path / 'q.log'}, nomsg\ndisplay 7\nlog close\n")
    text = (tmp_path / "q.log").read_text()
    assert "log type" not in text and "opened on" not in text and "closed on" not in text
    assert ". display 7\n7\n" in text
    assert "opened on" not in out


def test_log_off_suspends_and_log_on_resumes(tmp_path: Path) -> None:
    run(
        tmp_path,
        f"log using {tmp_path / 'p.log'}\ndisplay 1\nlog off\ndisplay 2\nlog on\ndisplay 3\n"
        "log off\nlog close\n",
    )
    text = (tmp_path / "p.log").read_text()
    assert ". display 1\n1\n" in text and ". display 3\n3\n" in text
    assert "display 2" not in text and "\n2\n" not in text
    assert "closed on:" in text  # closed while off: the closing message still goes there


def test_log_query_reports_and_stores(tmp_path: Path) -> None:
    session = Session(Output(io.StringIO()))
    execute(session, "log query")
    assert "no log file open" in session.out.stream.getvalue()
    execute(session, f"log using {tmp_path / 'r'}, smcl")
    execute(session, "log off")
    execute(session, "log")
    assert session.r_macros == {
        "name": "<unnamed>",
        "filename": str((tmp_path / "r.smcl").resolve()),
        "status": "off",
        "type": "smcl",
    }
    execute(session, "log on")
    execute(session, "log query")
    assert session.r_macros["status"] == "on"
    assert "    status:  on" in session.out.stream.getvalue()
    execute(session, "log close")


@pytest.mark.parametrize(
    ("command", "message", "rc"),
    [
        ("log off", "no log file open", 606),
        ("log on", "no log file open", 606),
        ("log close", "no log file open", 606),
        ("log using {d}/e, text smcl", "options text and smcl may not be combined", 184),
        ("log using {d}/e, name(main)", "option name(main) not allowed", 198),
        ("log using {d}/e, nomsg(1)", "option nomsg(1) not allowed", 198),
        ("log sideways", "invalid syntax", 198),
    ],
)
def test_refusals(tmp_path: Path, command: str, message: str, rc: int) -> None:
    session = Session(Output(io.StringIO()))
    with pytest.raises(StataError) as err:
        execute(session, command.format(d=tmp_path))
    assert (err.value.message, err.value.rc) == (message, rc)


def test_set_logtype_decides_a_log_named_without_extension(tmp_path: Path) -> None:
    """Stata's default is SMCL; set logtype text makes plain text logs; an extension or
    the text/smcl option still decides."""
    run(
        tmp_path,
        f"log using {tmp_path / 'a'}\nlog close\nset logtype t\n"
        f"log using {tmp_path / 'b'}\nlog close\n"
        f"log using {tmp_path / 'c.smcl'}\nlog close\nset logtype smcl\n"
        f"log using {tmp_path / 'd.log'}\nlog close\n",
    )
    assert (tmp_path / "a.smcl").read_text().startswith("{smcl}\n")
    assert "log type:  text" in (tmp_path / "b.log").read_text()
    assert (tmp_path / "c.smcl").read_text().startswith("{smcl}\n")
    assert not (tmp_path / "d.log").read_text().startswith("{smcl}")
    with pytest.raises(StataError) as err:
        execute(Session(Output(io.StringIO())), "set logtype html")
    assert (err.value.message, err.value.rc) == ("invalid syntax", 198)


def test_the_one_log_is_unnamed_and_all(tmp_path: Path) -> None:
    """log close _all (do-files' usual first line) closes the log, or does nothing when
    none is open; <unnamed> names the one log; another name is r(111)."""
    session = Session(Output(io.StringIO()))
    execute(session, "log close _all")
    execute(session, f"log using {tmp_path / 'u'}, text")
    execute(session, "log query _all")
    assert session.r_macros["status"] == "on"
    execute(session, "log off <unnamed>")
    execute(session, "log on <unnamed>")
    with pytest.raises(StataError) as err:
        execute(session, "log close results")
    assert (err.value.message, err.value.rc) == ("log results not found", 111)
    execute(session, "log close _all")
    assert session.log is None and "closed on:" in (tmp_path / "u.log").read_text()
    execute(session, f"log using {tmp_path / 'v'}, text")
    execute(session, "log close <unnamed>")
    assert session.log is None
    execute(session, "log query")  # no log: its r() are gone
    assert session.r_macros == {}


def test_the_extension_decides_whatever_its_case(tmp_path: Path) -> None:
    run(tmp_path, f"log using {tmp_path / 'a.LOG'}\nlog close\n")
    assert not (tmp_path / "a.LOG").read_text().startswith("{smcl}")
