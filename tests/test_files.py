"""Files that cannot be read or written, do-file text and line numbers: Stata's message and
return code every time, checked before any work, and no file left half-written."""

from __future__ import annotations

import errno
import io
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import DATA, ROOT

from melogit_cli import files
from melogit_cli.commandline import cli as command_line
from melogit_cli.data.loaders import load, load_csv
from melogit_cli.errors import StataError
from melogit_cli.interp.registry import COMMANDS, Command
from melogit_cli.interp.runner import execute, run_dofile
from melogit_cli.interp.session import Output, Session

SMALL = "c_use i.urban if district<=5 || district:"  # fits in a few iterations


def melogit(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "melogit_cli.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )


def assert_stata_error(res: subprocess.CompletedProcess, message: str, rc: int) -> None:
    assert res.returncode == 1
    assert f"{message}\nr({rc});" in res.stderr
    assert "Traceback" not in res.stdout + res.stderr
    assert "r(9999)" not in res.stdout + res.stderr


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """A private copy of bangladesh.dta in its own folder."""
    copy = tmp_path / "bangladesh.dta"
    shutil.copyfile(DATA / "bangladesh.dta", copy)
    return copy


# ---------------------------------------------------------------------- --json


def cli(*args: str) -> subprocess.CompletedProcess:
    """The command line run in this process (the same code as ``melogit``, without the
    start-up of a new interpreter)."""
    result = CliRunner().invoke(command_line, list(args))
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)


@pytest.mark.parametrize(
    ("target", "message", "rc"),
    [
        ("nodir/e.json", "file {} could not be opened", 603),  # a missing folder
        (".", "file {} could not be opened", 603),  # a folder
        ("sub/../bangladesh.dta", "--json names the input file {data}; give another file", 198),
    ],
    ids=["missing-folder", "folder", "data-file"],
)
def test_bad_json_target_fails_before_fitting(data: Path, target: str, message: str, rc: int):
    before = data.read_bytes()
    json_path = str(data.parent / target)
    res = cli("--data", str(data), "--json", json_path, SMALL)
    assert_stata_error(res, message.format(json_path, data=data), rc)
    assert res.stdout == ""  # nothing was fitted
    assert data.read_bytes() == before
    assert sorted(p.name for p in data.parent.iterdir()) == ["bangladesh.dta"]


def test_json_never_overwrites_the_data_file(data: Path):
    before = data.read_bytes()
    res = melogit("--data", "bangladesh.dta", "--json", "./bangladesh.dta", SMALL,
                  cwd=data.parent)
    assert_stata_error(res, "--json names the input file bangladesh.dta; give another file", 198)
    assert res.stdout == ""
    assert data.read_bytes() == before


def test_json_on_a_full_device_is_insufficient_disk_space(data: Path):
    res = melogit("--data", str(data), "--json", "/dev/full", SMALL)
    assert "Log likelihood = -122.14782" in res.stdout  # the table was shown
    assert_stata_error(res, "insufficient disk space", 699)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full on this system")
@pytest.mark.parametrize("args", [("--demo",), ("--data", "DATA", SMALL)], ids=["demo", "fit"])
def test_output_onto_a_full_device_is_insufficient_disk_space(data: Path, args: tuple):
    """stdout itself on a full disk: Stata's message on stderr, exit status 1, no traceback."""
    argv = [str(data) if a == "DATA" else a for a in args]
    with open("/dev/full", "w") as full:
        res = subprocess.run(
            [sys.executable, "-m", "melogit_cli.cli", *argv],
            stdout=full, stderr=subprocess.PIPE, text=True, timeout=120,
            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
        )
    assert res.returncode == 1
    assert res.stderr == "insufficient disk space\nr(699);\n"


def test_do_file_json_checked_before_running(tmp_path: Path):
    script = tmp_path / "a.do"
    script.write_text('display "ran"\n')
    json_path = tmp_path / "nodir" / "e.json"
    res = cli("do", str(script), "--json", str(json_path))
    assert_stata_error(res, f"file {json_path} could not be opened", 603)
    assert "ran" not in res.stdout
    res = cli("do", str(script), "--json", str(script))
    assert_stata_error(res, f"--json names the input file {script}; give another file", 198)
    assert script.read_text() == 'display "ran"\n'


# ---------------------------------------------------------------------- writing


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path):
    target = tmp_path / "e.json"
    target.write_text("old\n")

    def half(f):
        f.write("half")
        raise ValueError("stopped")

    with pytest.raises(ValueError, match="stopped"):
        files.write_file(target, half)
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["e.json"]


def test_disk_full_while_writing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def full(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "replace", full)
    with pytest.raises(StataError) as err:
        files.write_text(tmp_path / "e.json", "{}\n")
    assert (err.value.message, err.value.rc) == ("insufficient disk space", 699)
    assert list(tmp_path.iterdir()) == []


def test_read_only_folder_and_read_only_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # tests may run as root, whom permissions do not stop: the refusals are simulated
    real_open = files.os.open

    def refuse(path, *args, **kwargs):
        if Path(path).parent == tmp_path:
            raise PermissionError(errno.EACCES, "Permission denied")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(files.os, "open", refuse)
    target = tmp_path / "e.json"
    for action in (lambda: files.check_writable(target), lambda: files.write_text(target, "x")):
        with pytest.raises(StataError) as err:
            action()
        assert (err.value.message, err.value.rc) == (f"file {target} could not be opened", 603)
    target.write_text("old\n")
    monkeypatch.setattr(files.os, "access", lambda path, mode: False)
    with pytest.raises(StataError) as err:
        files.write_text(target, "new\n")
    message = f"file {target} is read-only; cannot be modified or erased"
    assert (err.value.message, err.value.rc) == (message, 608)
    assert target.read_text() == "old\n"


def test_write_keeps_the_mode_of_the_file_it_replaces(tmp_path: Path):
    target = tmp_path / "e.json"
    target.write_text("old\n")
    target.chmod(0o640)
    files.write_text(target, "new\n")
    assert target.read_text() == "new\n" and target.stat().st_mode & 0o777 == 0o640


# ---------------------------------------------------------------------- reading


@pytest.mark.parametrize("name", ["folder.dta", "folder.csv"])
def test_a_folder_could_not_be_opened(tmp_path: Path, name: str):
    (tmp_path / name).mkdir()
    with pytest.raises(StataError) as err:
        load(tmp_path / name)
    assert (err.value.message, err.value.rc) == (f"file {tmp_path / name} could not be opened", 603)


@pytest.mark.parametrize("name", ["x.dta", "x.csv"])
def test_a_file_in_a_missing_folder_is_not_found(tmp_path: Path, name: str):
    path = tmp_path / "nodir" / name
    with pytest.raises(StataError) as err:
        load(path)
    assert (err.value.message, err.value.rc) == (f"file {path} not found", 601)


def test_unreadable_files_could_not_be_opened(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """dta, csv, a do-file and ``import delimited``: r(603), never r(610) or r(9999)."""
    for name in ("d.dta", "c.csv", "s.do"):
        shutil.copyfile(DATA / "bangladesh.dta", tmp_path / name) if name == "d.dta" else (
            (tmp_path / name).write_text("a,b\n1,2\n")
        )

    def refuse(path, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(files, "open", refuse, raising=False)
    for name in ("d.dta", "c.csv"):
        with pytest.raises(StataError) as err:
            load(tmp_path / name)
        assert (err.value.message, err.value.rc) == (
            f"file {tmp_path / name} could not be opened", 603
        )
    with pytest.raises(StataError) as err:
        run_dofile(tmp_path / "s.do", io.StringIO())
    message = f"file {tmp_path / 's.do'} could not be opened"
    assert (err.value.message, err.value.rc) == (message, 603)
    session = Session(Output(io.StringIO()))
    with pytest.raises(StataError) as err:
        execute(session, f"import delimited {tmp_path / 'c.csv'}")
    message = f"file {tmp_path / 'c.csv'} could not be opened"
    assert (err.value.message, err.value.rc) == (message, 603)


def test_large_mixed_csv_gives_no_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # pandas' chunked reader warns (DtypeWarning) when a column's type changes past its
    # first chunk; such files are the large ones, read through pandas
    n = 270_000  # more than one chunk (262,144 rows) of pandas' reader
    path = tmp_path / "mixed.csv"
    path.write_text("y,a\n" + "0,1\n1,2\n" * (n // 2 - 2) + "0,x\n1,y\n" * 2)
    monkeypatch.setattr("melogit_cli.data.loaders.CSV_WITHOUT_PANDAS", 0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = load_csv(path)
    assert ds.is_string("a") and not ds.is_string("y") and ds.nobs == n


# ---------------------------------------------------------------------- do-files


def run_text(text: str, tmp_path: Path, name: str = "t.do", encoding: str = "utf-8"):
    path = tmp_path / name
    path.write_text(text, encoding=encoding)
    stream = io.StringIO()
    session, failure = run_dofile(path, stream)
    return session, failure, stream.getvalue()


def test_do_files_with_a_byte_order_mark(tmp_path: Path):
    (tmp_path / "inner.do").write_text('display "inner"\n', encoding="utf-8-sig")
    _, failure, out = run_text(
        f'display "outer"\ndo {tmp_path / "inner.do"}\n', tmp_path, encoding="utf-8-sig"
    )
    assert failure is None, out
    assert ". display \"outer\"\nouter\n" in out and "\ninner\n" in out


FIT = f"webuse bangladesh\nquietly melogit {SMALL}\n"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("drop urban", "variable urban not found"),
        ("webuse hospital, clear", "variable urban not found"),
        ("drop c_use", "variable c_use not found"),
    ],
)
def test_predict_after_the_data_changed(tmp_path: Path, change: str, message: str):
    _, failure, out = run_text(FIT + f"{change}\npredict p\n", tmp_path)
    assert failure is not None
    assert (failure.line, failure.command) == (4, "predict p")
    assert (failure.error.message, failure.error.rc) == (message, 111)
    assert "r(9999)" not in out


def test_linear_prediction_needs_no_outcome(tmp_path: Path):
    session, failure, out = run_text(FIT + "drop c_use\npredict xb, xb\n", tmp_path)
    assert failure is None, out
    assert "xb" in session.data().varnames


LINES = [
    ("continued", 'display 1\ndisplay ///\n  2 ///\n  3\nfoo ///\nbar\n', 5, "foo bar"),
    ("delimit", "#delimit ;\ndisplay 1;\nfoo\n  bar;\n#delimit cr\n", 3, "foo bar"),
    ("quietly-block", "display 1\nquietly {\n  display 2\n  foo\n}\n", 4, "foo"),
    ("capture", "capture foo\ncapture {\n  foo\n}\nfoo\n", 5, "foo"),
    ("open-block", "display 1\nforvalues i = 1/2 {\n  display `i'\n", 2, "forvalues i = 1/2 {"),
]


@pytest.mark.parametrize(("name", "text", "line", "command"), LINES, ids=[x[0] for x in LINES])
def test_errors_name_the_line_the_command_starts(tmp_path, name, text, line, command):
    _, failure, _ = run_text(text, tmp_path)
    assert failure is not None
    assert (failure.line, " ".join(failure.command.split())) == (line, command)


def test_nested_do_file_error_is_at_the_line_of_do(tmp_path: Path):
    (tmp_path / "inner.do").write_text("display 1\nfoo\n")
    _, failure, out = run_text(
        f"display 0\nquietly {{\n  display 2\n  do {tmp_path / 'inner.do'}\n}}\n", tmp_path
    )
    assert (failure.line, failure.error.message, failure.error.rc) == (
        4, "unrecognized command:  foo", 199
    )


def test_an_unexpected_failure_keeps_its_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def broken(session, rest):
        raise RuntimeError("broken")

    monkeypatch.setitem(COMMANDS, "broken", Command("broken", 6, broken))
    _, failure, _ = run_text("display 1\nforvalues i = 1/2 {\n  broken\n}\n", tmp_path)
    assert (failure.line, failure.command, failure.error.rc) == (3, "broken", 9999)


@pytest.mark.parametrize(
    "command",
    ["log using {d}/nodir/x.log", "export delimited using {d}/nodir/x.csv", "save {d}/nodir/x"],
)
def test_do_file_outputs_in_a_missing_folder(tmp_path: Path, command: str):
    _, failure, out = run_text(f"webuse hospital\n{command.format(d=tmp_path)}\n", tmp_path)
    assert failure is not None and failure.line == 2
    path = command.format(d=tmp_path).split()[-1]
    path += "" if Path(path).suffix else ".dta"
    assert (failure.error.message, failure.error.rc) == (f"file {path} could not be opened", 603)
    assert "r(9999)" not in out


@pytest.mark.parametrize(
    ("command", "name"),
    [
        ("save .", "."),
        ("export delimited using .", "."),
        ("import delimited ..", ".."),
        ("log using .", "."),
        ("log using .., text", ".."),
        ("do .", "."),
        ("save {d}/.", "{d}/."),
        ("save {d}/", "{d}/"),
        ("log using {d}/., text", "{d}/."),
        ("export delimited using {d}/, replace", "{d}/"),
    ],
)
def test_a_name_that_is_no_file(tmp_path: Path, command: str, name: str):
    """``.`` and ``..`` take no default extension: they are folders, r(603), never a
    Python error (they raised ValueError where the extension was added)."""
    folder = tmp_path / "sub"
    folder.mkdir()
    command, name = command.format(d=folder), name.format(d=folder)
    _, failure, out = run_text(f"webuse hospital\n{command}\n", tmp_path)
    assert failure is not None and failure.line == 2
    assert (failure.error.message, failure.error.rc) == (f"file {name} could not be opened", 603)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("sub")] == ["sub"]
    assert "r(9999)" not in out
