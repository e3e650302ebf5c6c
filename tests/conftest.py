"""Shared fixtures: paths of the bundled data and references, a cached fitter."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest

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
