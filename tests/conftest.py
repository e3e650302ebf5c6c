"""Shared fixtures: paths of the bundled data and references, a cached fitter, and
helpers that run commands in an interpreter session."""

from __future__ import annotations

import io
import json
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from melogit_cli.errors import StataError
    from melogit_cli.interp.session import Session


@pytest.fixture(autouse=True)
def _standard_dataclasses():
    """A test that runs the command line in-process installs its dataclasses hook; the
    tests after it use the Python API, which must see the standard library's own."""
    import dataclasses

    original = dataclasses.__dict__.get("exec")
    yield
    if dataclasses.__dict__.get("exec") is not original:
        if original is None:
            del dataclasses.exec  # type: ignore[attr-defined]
        else:
            dataclasses.exec = original  # type: ignore[attr-defined]


ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "fixtures" / "data"
REFERENCE = ROOT / "fixtures" / "reference"


@cache
def reference(name: str) -> dict:
    """One entry of fixtures/reference/reference.json."""
    return json.loads((REFERENCE / "reference.json").read_text())[name]


@cache
def lme4(name: str) -> dict:
    """One case of fixtures/reference/lme4.json (computed by lme4_reference.R)."""
    return json.loads((REFERENCE / "lme4.json").read_text())[name]


@cache
def fitted(command: str, data: str):
    """Fit once per (command, data) for the whole test run."""
    from melogit_cli.api import fit

    return fit(command, DATA / data, log=True)


@pytest.fixture
def data_dir() -> Path:
    return DATA


def session_with(*commands: str) -> tuple[Session, io.StringIO]:
    """A session that has run ``commands``, and the stream its output went to."""
    from melogit_cli.interp.runner import execute
    from melogit_cli.interp.session import Output, Session

    stream = io.StringIO()
    session = Session(Output(stream))
    for c in commands:
        execute(session, c)
    return session, stream


def run(session: Session, cmd: str) -> str:
    """The output of ``cmd`` alone (the session's stream is replaced by a fresh one)."""
    from melogit_cli.interp.runner import execute

    session.out.stream = io.StringIO()
    execute(session, cmd)
    return session.out.stream.getvalue()


def run_in(session: Session, stream: io.StringIO, command: str) -> str:
    """What ``command`` adds to ``stream``, the session's output."""
    from melogit_cli.interp.runner import execute

    start = len(stream.getvalue())
    execute(session, command)
    return stream.getvalue()[start:]


def fails(session: Session, cmd: str) -> StataError:
    """The StataError ``cmd`` raises (the test fails if it raises none)."""
    from melogit_cli.errors import StataError
    from melogit_cli.interp.runner import execute

    with pytest.raises(StataError) as info:
        execute(session, cmd)
    return info.value


@pytest.fixture(scope="session")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """bangladesh.csv as one Parquet file (``b.parquet``), a Parquet folder of 3 parts
    (``folder``) and 8 CSV parts (``parts``)."""
    pytest.importorskip("pyarrow")
    import numpy as np
    import pandas as pd

    root = tmp_path_factory.mktemp("stored")
    df = pd.read_csv(DATA / "bangladesh.csv")
    df.to_parquet(root / "b.parquet")
    (root / "folder").mkdir()
    (root / "parts").mkdir()
    for i, rows in enumerate(np.array_split(np.arange(len(df)), 3)):
        df.iloc[rows].to_parquet(root / "folder" / f"part.{i}.parquet")
    for i, rows in enumerate(np.array_split(np.arange(len(df)), 8)):
        df.iloc[rows].to_csv(root / "parts" / f"p{i}.csv", index=False)
    return root
