"""Data stored at scale, read in memory: Parquet files and folders, globs of CSV parts."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import DATA, fails, session_with

from melogit_cli.api import fit
from melogit_cli.errors import StataError

pytest.importorskip("pyarrow")

COMMAND = "melogit c_use i.urban age i.children || district:"


@pytest.fixture(scope="module")
def single():
    return fit(COMMAND, DATA / "bangladesh.csv")


@pytest.mark.parametrize("name", ["b.parquet", "folder", "parts/*.csv"])
def test_same_fit_as_the_single_csv(stored: Path, single, name: str) -> None:
    r = fit(COMMAND, str(stored / name))
    assert r.summary() == single.summary()
    np.testing.assert_allclose(r.params, single.params, rtol=0, atol=1e-10)
    assert r.nobs == single.nobs == 1934


def test_use_in_a_do_file_reads_a_glob(stored: Path) -> None:
    session, _ = session_with(f'use "{stored}/parts/*.csv"')
    assert session.ds.nobs == 1934
    session, _ = session_with(f"use {stored}/b.parquet")
    assert session.ds.varnames[:3] == ["district", "c_use", "urban"]


def test_a_glob_that_matches_nothing(stored: Path) -> None:
    with pytest.raises(StataError) as info:
        fit(COMMAND, str(stored / "nothing-*.csv"))
    assert (info.value.rc, info.value.message) == (601, f"file {stored}/nothing-*.csv not found")
    err = fails(session_with()[0], f'use "{stored}/nothing-*.csv"')
    assert err.rc == 601


def test_a_glob_of_mixed_kinds(stored: Path) -> None:
    with pytest.raises(StataError) as info:
        fit(COMMAND, str(stored / "*"))
    assert info.value.rc == 610
    assert info.value.message == (
        f"file {stored}/* not Stata format (a glob must match only .csv or only .parquet files)"
    )


def test_a_folder_without_parquet_files(tmp_path: Path) -> None:
    with pytest.raises(StataError) as info:
        fit(COMMAND, str(tmp_path))
    assert (info.value.rc, info.value.message) == (
        610,
        f"file {tmp_path} not Stata format (a folder must hold .parquet files)",
    )


def test_a_missing_parquet_file(tmp_path: Path) -> None:
    with pytest.raises(StataError) as info:
        fit(COMMAND, str(tmp_path / "gone.parquet"))
    assert (info.value.rc, info.value.message) == (601, f"file {tmp_path}/gone.parquet not found")


def test_a_corrupt_parquet_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.parquet"
    bad.write_text("not parquet")
    with pytest.raises(StataError) as info:
        fit(COMMAND, str(bad))
    assert info.value.rc == 610
    assert info.value.message.startswith(f"file {bad} not Stata format (")


@pytest.mark.parametrize(
    "second, rc, message",
    [
        ("y,z\n1,2\n", 198, "file {dir}/b.csv has other variables than {dir}/a.csv"),
        ("y,x\n1,two\n", 106, "variable x is string in {dir}/b.csv but numeric in {dir}/a.csv"),
    ],
    ids=["other variables", "other types"],
)
def test_csv_parts_that_disagree(tmp_path: Path, second: str, rc: int, message: str) -> None:
    (tmp_path / "a.csv").write_text("y,x\n1,2\n")
    (tmp_path / "b.csv").write_text(second)
    with pytest.raises(StataError) as info:
        fit(COMMAND, str(tmp_path / "*.csv"))
    assert (info.value.rc, info.value.message) == (rc, message.format(dir=tmp_path))


def test_parquet_without_pyarrow(stored: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(StataError) as info:
        fit(COMMAND, str(stored / "b.parquet"))
    assert (info.value.rc, info.value.message) == (
        199,
        "reading Parquet files requires pyarrow: pip install 'melogit-cli[dask]'",
    )
