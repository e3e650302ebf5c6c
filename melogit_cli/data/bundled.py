"""Data sets shipped with the package (for the demo and ``webuse``)."""

from __future__ import annotations

from pathlib import Path

from melogit_cli.errors import StataError

BUNDLED = ("bangladesh", "fifeschool", "guimmun", "hospital")


def bundled_path(name: str) -> Path:
    """Path of a bundled .dta file, installed or in a source checkout."""
    stem = name.removesuffix(".dta")
    if stem not in BUNDLED:
        raise StataError(
            f"file {name}.dta not found (bundled data sets: {', '.join(BUNDLED)})", 601
        )
    try:
        from importlib.resources import files

        path = Path(str(files("melogit_cli.bundled") / f"{stem}.dta"))
        if path.exists():
            return path
    except ModuleNotFoundError:
        pass
    return Path(__file__).resolve().parents[2] / "fixtures" / "data" / f"{stem}.dta"
