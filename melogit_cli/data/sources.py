"""What a data argument names: one .dta or .csv file, a Parquet file or folder, or a glob
of CSV or Parquet files (``visits/part-*.csv``), with Stata's errors when it names nothing
readable.  Both the in-memory loaders and the Dask reader start from here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from melogit_cli.errors import StataError
from melogit_cli.files import check_readable

KINDS = {".dta": "dta", ".csv": "csv", ".parquet": "parquet", ".parq": "parquet"}
GLOB_CHARS = frozenset("*?[")
PYARROW_MISSING = "reading Parquet files requires pyarrow: pip install 'melogit-cli[dask]'"


@dataclass(frozen=True)
class Source:
    """The files of a data argument, all of one kind (``dta``, ``csv`` or ``parquet``)."""

    text: str
    kind: str
    paths: tuple[Path, ...]


def is_glob(text: str) -> bool:
    return any(c in GLOB_CHARS for c in text)


def resolve(text: str | Path) -> Source:
    """The files ``text`` names, checked readable; Stata's r(601)/r(603)/r(610) otherwise."""
    name = str(text)
    if is_glob(name):
        import glob

        matches = sorted(glob.glob(name), key=natural_order)
        if not matches:
            raise StataError(f"file {name} not found", 601)
        paths = [Path(m) for m in matches]
        kinds = {_kind(p) for p in paths}
        if len(kinds) != 1 or kinds & {"dta"}:
            raise StataError(
                f"file {name} not Stata format (a glob must match only .csv or only "
                ".parquet files)",
                610,
            )
        for p in paths:
            check_readable(p)
        return Source(name, kinds.pop(), tuple(paths))
    p = Path(name)
    if p.is_dir() and _kind(p) in ("", "parquet"):
        parts = sorted(
            (q for q in p.rglob("*") if q.is_file() and _kind(q) == "parquet"), key=natural_order
        )
        if not parts:
            raise StataError(f"file {p} not Stata format (a folder must hold .parquet files)", 610)
        return Source(name, "parquet", tuple(parts))
    kind = _kind(p)
    if kind not in ("dta", "csv", "parquet"):
        raise StataError(
            f"file {p} not Stata format (expected a .dta, .csv or .parquet file)", 610
        )
    check_readable(p)
    return Source(name, kind, (p,))


def natural_order(path: str | Path) -> list[str | int]:
    """The sort key of natural order (``part2`` before ``part10``), Dask's order of the
    files it reads: the parts join in memory as they do on a cluster, so categories
    first seen in one part get the same codes in both."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(path))]


def _kind(p: Path) -> str:
    return KINDS.get(p.suffix.lower(), "")


def import_pyarrow() -> None:
    """pyarrow, or Stata's r(199) naming the extra that installs it."""
    try:
        import pyarrow  # noqa: F401
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise StataError(PYARROW_MISSING, 199) from None
