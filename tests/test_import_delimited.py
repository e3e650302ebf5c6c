"""``import delimited`` stores numbers and names as Stata's does: decimals as ``set type``
makes them (float: single precision) unless ``asdouble``/``asfloat``, names lowercased
unless ``case()``; ``encoding()`` reads the file in that encoding."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from conftest import DATA

from melogit_cli.errors import StataError
from melogit_cli.interp.runner import execute
from melogit_cli.interp.session import Output, Session

TEXT = "District,C_use,Age\n1,0,18.44\n1,1,-5.5599\n2,0,1.44\n"


@pytest.fixture
def csv(tmp_path: Path) -> Path:
    path = tmp_path / "up.csv"
    path.write_text(TEXT, encoding="utf-8")
    return path


def imported(command: str, settings: tuple[str, ...] = ()) -> Session:
    session = Session(Output(io.StringIO()))
    for line in settings:
        execute(session, line)
    execute(session, command)
    return session


def column(session: Session, name: str) -> np.ndarray:
    return session.ds.frame[name].to_numpy(dtype=float)


def test_decimals_are_floats_and_names_lowercase_by_default(csv: Path) -> None:
    session = imported(f"import delimited {csv}")
    assert session.ds.varnames == ["district", "c_use", "age"]
    storage = [session.ds.storage_type(v) for v in session.ds.varnames]
    assert storage == ["byte", "byte", "float"]
    expected = np.array([18.44, -5.5599, 1.44], dtype=np.float32).astype(float)
    np.testing.assert_array_equal(column(session, "age"), expected)
    assert column(session, "age")[0] == 18.440000534057617


@pytest.mark.parametrize(
    ("options", "settings", "kind"),
    [
        ("asdouble", (), "double"),
        ("", ("set type double",), "double"),
        ("asfloat", ("set type double",), "float"),
        ("asflo", (), "float"),
        ("asdoub", ("set type float",), "double"),
    ],
)
def test_asdouble_asfloat_and_set_type(
    csv: Path, options: str, settings: tuple[str, ...], kind: str
) -> None:
    session = imported(f"import delimited {csv}, {options}", settings)
    assert session.ds.storage_type("age") == kind
    exact = np.array([18.44, -5.5599, 1.44])
    expected = exact if kind == "double" else exact.astype(np.float32).astype(float)
    np.testing.assert_array_equal(column(session, "age"), expected)


def test_case_preserve_and_upper(csv: Path) -> None:
    assert imported(f"import delimited {csv}, case(preserve)").ds.varnames == [
        "District",
        "C_use",
        "Age",
    ]
    assert imported(f"import delimited {csv}, case(upper)").ds.varnames == [
        "DISTRICT",
        "C_USE",
        "AGE",
    ]


def test_encoding_is_honoured(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes("g,name\n1,Jos\xe9\n2,Ana\n".encode("latin-1"))
    session = imported(f'import delimited {path}, encoding("latin1")')
    assert list(session.ds.frame["name"].to_numpy()) == ["José", "Ana"]
    session = imported(f"import delimited {path}, charset(ISO-8859-1)")
    assert list(session.ds.frame["name"].to_numpy()) == ["José", "Ana"]
    with pytest.raises(StataError) as err:  # the default is UTF-8
        imported(f"import delimited {path}")
    assert err.value.rc == 610


@pytest.mark.parametrize(
    ("options", "message", "rc"),
    [
        ("asfloat asdouble", "options asfloat and asdouble may not be combined", 184),
        ("case(title)", "option case(title) not allowed", 198),
        ("encoding(klingon)", "encoding klingon not supported", 198),
        ("rowrange(2:3)", "option rowrange(2:3) not allowed", 198),
        ("asfloat(2)", "option asfloat(2) not allowed", 198),
        ("case", "option case not allowed", 198),
    ],
)
def test_refused_options(csv: Path, options: str, message: str, rc: int) -> None:
    with pytest.raises(StataError) as err:
        imported(f"import delimited {csv}, {options}")
    assert (err.value.message, err.value.rc) == (message, rc)


def test_names_that_clash_once_lowercased(tmp_path: Path) -> None:
    """A column whose lowercased name an earlier one took is named v# (its column number),
    its header kept as its variable label."""
    path = tmp_path / "clash.csv"
    path.write_text("Age,age,b\n1,2,3\n", encoding="utf-8")
    session = imported(f"import delimited {path}")
    assert session.ds.varnames == ["age", "v2", "b"]
    assert session.ds.variable_labels["v2"] == "age"
    assert list(column(session, "v2")) == [2.0]
    assert imported(f"import delimited {path}, case(preserve)").ds.varnames == ["Age", "age", "b"]


def test_numbers_beyond_a_float_are_doubles(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    path.write_text("x,y\n0.1,1\n0.25,2\n1e40,3\n", encoding="utf-8")
    session = imported(f"import delimited {path}")
    assert session.ds.storage_type("x") == "double"
    np.testing.assert_array_equal(column(session, "x"), [0.1, 0.25, 1e40])


def test_example_1_from_the_csv_is_the_dta_fit() -> None:
    """bangladesh.csv holds age to four decimals; Stata's .dta stores it as a float.
    Imported as Stata imports it, the data and so the fit are the .dta's, bit for bit."""
    model = "melogit c_use i.urban age i.children || district:"
    from_csv = imported(f"import delimited {DATA / 'bangladesh.csv'}")
    from_dta = imported(f"use {DATA / 'bangladesh.dta'}")
    np.testing.assert_array_equal(column(from_csv, "age"), column(from_dta, "age"))
    for session in (from_csv, from_dta):
        execute(session, model)
    csv_e, dta_e = from_csv.last().e, from_dta.last().e
    assert csv_e.scalars["ll"] == dta_e.scalars["ll"]
    np.testing.assert_array_equal(csv_e.b.data, dta_e.b.data)
    np.testing.assert_array_equal(csv_e.V.data, dta_e.V.data)


@pytest.mark.parametrize("option", ["nolabel", "nolabe", "nolab"])
def test_export_nolabel_and_its_abbreviations(tmp_path: Path, option: str) -> None:
    session = imported(f"use {DATA / 'bangladesh.dta'}")
    out = tmp_path / "b.csv"
    execute(session, f"export delimited urban using {out}, {option}")
    assert out.read_text().splitlines()[:3] == ["urban", "1", "1"]
    execute(session, f"export delimited urban using {out}, replace")
    assert out.read_text().splitlines()[1] == "urban"  # the label, without nolabel


def test_export_refuses_nol(tmp_path: Path) -> None:
    session = imported(f"use {DATA / 'bangladesh.dta'}")
    with pytest.raises(StataError) as err:
        execute(session, f"export delimited urban using {tmp_path / 'b.csv'}, nol")
    assert (err.value.message, err.value.rc) == ("option nol not allowed", 198)


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("import delimited, clear", "invalid file specification"),
        ("export delimited, replace", "invalid file specification"),
        ("import delimx x.csv", "import: unknown subcommand delimx"),
        ("import excel x.xlsx", "import: unknown subcommand excel"),
    ],
)
def test_subcommand_then_comma(command: str, message: str) -> None:
    """The subcommand ends at a comma too (``delimited,`` was read as the subcommand)."""
    session = imported(f"use {DATA / 'bangladesh.dta'}")
    with pytest.raises(StataError) as err:
        execute(session, command)
    assert (err.value.message, err.value.rc) == (message, 198)


def test_charset_mac(tmp_path: Path) -> None:
    path = tmp_path / "mac.csv"
    path.write_bytes("g,name\n1,Caf\x8e\n".encode("latin-1"))
    session = imported(f"import delimited {path}, charset(mac)")
    assert list(session.ds.frame["name"].to_numpy()) == ["Café"]


def test_list_shows_a_float_at_float_precision(csv: Path) -> None:
    """A float variable is listed with a float's 7 digits (18.44), as Stata lists it; the
    same number stored as a double shows its own digits (18.440001)."""
    session = imported(f"import delimited {csv}")
    session.out.stream = io.StringIO()
    execute(session, "generate double d = age")
    execute(session, "list age d in 1/2")
    lines = session.out.stream.getvalue().splitlines()
    rows = [line for line in lines if line[:3] in (" 1.", " 2.")]
    assert rows == [" 1. |   18.44    18.440001 |", " 2. | -5.5599   -5.5598998 |"]
