"""Loading .dta and .csv files into numpy columns, without pandas on the way to a fit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from melogit_cli.data import loaders
from melogit_cli.data.columns import Columns
from melogit_cli.data.loaders import load, load_csv
from melogit_cli.errors import StataError
from melogit_cli.interp.session import Output, Session

DATA = Path(__file__).resolve().parents[1] / "fixtures" / "data"

TRICKY_CSV = (
    "\ufeffid, x ,name,x,flag,big\n"
    '1,1.5,"Smith, J",3,True,1e300\n'
    "2,.,,4,False,-2.5E-3\n"
    "\n"
    '3,,"quoted ""q""",5,True,7\n'
    "4,0.1\n"
)

WORDS_CSV = "id,n,i,t\n1,nan,inf,true\n2,3,4,.\n3,,1e999,false\n"


def _read_both(path: Path) -> tuple[dict, dict]:
    """The standard-library reading and pandas' reading of the same file."""
    return loaders._csv_columns(path), loaders._csv_columns_pandas(path)


def test_small_and_large_csv_readers_agree(tmp_path: Path) -> None:
    path = tmp_path / "tricky.csv"
    path.write_text(TRICKY_CSV, encoding="utf-8")
    ours, theirs = _read_both(path)
    assert list(ours) == list(theirs) == ["id", "x", "name", "x.1", "flag", "big"]
    for name in ours:
        a, b = ours[name], theirs[name]
        assert a.dtype == b.dtype, name
        if a.dtype == object:
            assert a.tolist() == b.tolist(), name
        else:
            np.testing.assert_array_equal(a, b)  # NaN where missing, bit for bit elsewhere
    assert ours["name"].tolist() == ["Smith, J", "", 'quoted "q"', ""]
    np.testing.assert_array_equal(ours["x"], [1.5, np.nan, np.nan, 0.1])
    assert ours["flag"].dtype == object  # True/False are words, as in a Stata import


def test_nan_and_infinity_are_words_as_in_stata(tmp_path: Path) -> None:
    path = tmp_path / "words.csv"
    path.write_text(WORDS_CSV)
    for columns in _read_both(path):
        assert columns["id"].dtype == float
        assert columns["n"].tolist() == ["nan", "3", ""]
        assert columns["i"].tolist() == ["inf", "4", "1e999"]
        assert columns["t"].tolist() == ["true", "", "false"]


def test_numbers_read_exactly(tmp_path: Path) -> None:
    values = np.random.default_rng(3).normal(size=2000) * 10.0 ** np.arange(-10, 10).repeat(100)
    path = tmp_path / "numbers.csv"
    path.write_text("v\n" + "\n".join(repr(float(v)) for v in values) + "\n")
    ours, theirs = _read_both(path)
    np.testing.assert_array_equal(ours["v"], values)
    np.testing.assert_array_equal(theirs["v"], values)


def test_large_csv_goes_through_pandas(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "d.csv"
    path.write_text("a,b\n1,x\n2,\n")
    monkeypatch.setattr(loaders, "CSV_WITHOUT_PANDAS", 0)
    ds = load_csv(path)
    assert isinstance(ds.frame, Columns)
    assert ds.frame["b"].to_numpy().tolist() == ["x", ""]
    assert ds.is_string("b") and not ds.is_string("a")


@pytest.mark.parametrize(
    "text",
    ["", "a,b\n1,2,3\n"],
    ids=["empty", "too many fields"],
)
def test_unreadable_csv_is_r610(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(StataError) as err:
        load(path)
    assert err.value.rc == 610
    assert "could not be read as delimited text" in str(err.value)


def test_dta_columns_match_pandas_reading() -> None:
    import pyreadstat

    ds = load(DATA / "guimmun.dta")
    frame, _ = pyreadstat.read_dta(str(DATA / "guimmun.dta"))
    assert ds.varnames == list(frame.columns)
    for name in ds.varnames:
        np.testing.assert_array_equal(
            ds.frame[name].to_numpy(), frame[name].to_numpy(dtype=float, na_value=np.nan)
        )


def test_a_fit_from_a_file_never_imports_pandas() -> None:
    script = (
        "import sys\n"
        "from melogit_cli.api import as_dataset, fit\n"
        f"ds = as_dataset({str(DATA / 'bangladesh.dta')!r})\n"
        "r = fit('melogit c_use i.urban age i.children || district:', ds)\n"
        "print(round(r.ll, 4), 'pandas' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["-1206.6742", "False"]


def test_a_session_holds_its_data_in_pandas() -> None:
    session = Session(Output(None))
    ds = load(DATA / "bangladesh.dta")
    c_use = ds.frame["c_use"].to_numpy()
    session.set_data(ds)
    assert isinstance(session.data().frame, pd.DataFrame)
    np.testing.assert_array_equal(session.data().frame["c_use"].to_numpy(), c_use)
