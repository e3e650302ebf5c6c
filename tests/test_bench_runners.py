"""The benchmark's whole-command runner times our ``melogit`` script, not a shim before it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def runners(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    from suite import runners

    return runners


def _script(folder: Path, name: str = "melogit") -> Path:
    path = folder / name
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def test_prefers_the_script_beside_the_interpreter(runners, monkeypatch, tmp_path) -> None:
    scripts = tmp_path / "bin"
    scripts.mkdir()
    mine = _script(scripts)
    shim = _script(tmp_path)
    monkeypatch.setattr(sys, "executable", str(scripts / "python"))
    monkeypatch.setattr(runners.shutil, "which", lambda name: str(shim))
    assert runners.melogit_script() == str(mine)


def test_falls_back_to_path(runners, monkeypatch, tmp_path) -> None:
    scripts = tmp_path / "bin"
    scripts.mkdir()
    (scripts / "melogit").write_text("not executable\n")
    monkeypatch.setattr(sys, "executable", str(scripts / "python"))
    monkeypatch.setattr(runners.shutil, "which", lambda name: "/on/path/melogit")
    assert runners.melogit_script() == "/on/path/melogit"
    monkeypatch.setattr(runners.shutil, "which", lambda name: None)
    assert runners.melogit_script() is None
