"""Read .dta (pyreadstat, with value labels) and .csv files into a Dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from melogit_cli.data.dataset import Dataset
from melogit_cli.errors import StataError


def load(path: str | Path) -> Dataset:
    """Load a data set by its extension; Stata-style errors for every failure."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".dta", ".csv"):
        raise StataError(f"file {p} not Stata format (expected a .dta or .csv file)", 610)
    if not p.exists():
        raise StataError(f"file {p} not found", 601)
    if p.is_dir():
        raise StataError(f"file {p} not found", 601)
    return load_dta(p) if suffix == ".dta" else load_csv(p)


def load_dta(path: Path) -> Dataset:
    """A Stata .dta file, with its value labels, variable labels and data label."""
    import pyreadstat

    try:
        frame, meta = pyreadstat.read_dta(str(path))
    except Exception as exc:  # pyreadstat raises its own types for every corrupt file
        raise StataError(f"file {path} not Stata format ({exc})", 610) from None
    labels_by_set = meta.value_labels or {}
    value_labels = {
        var: {int(k): str(v) for k, v in labels_by_set[name].items()}
        for var, name in (meta.variable_to_label or {}).items()
        if name in labels_by_set
    }
    variable_labels = {
        n: lab for n, lab in zip(meta.column_names, meta.column_labels or [], strict=False) if lab
    }
    frame = _normalize(frame)
    return Dataset(
        frame=frame,
        value_labels=value_labels,
        variable_labels=variable_labels,
        label=meta.file_label or "",
        source=str(path),
        storage=_storage_types(frame, meta),
        formats={
            k: v
            for k, v in (getattr(meta, "original_variable_types", None) or {}).items()
            if isinstance(v, str) and v.startswith("%")
        },
        timestamp=_timestamp(getattr(meta, "creation_time", None)),
        label_names={k: str(v) for k, v in (meta.variable_to_label or {}).items()},
    )


def _timestamp(when: object) -> str:
    """Stata's data signature time: ``28 May 2024 20:27``."""
    if when is None or not hasattr(when, "strftime"):
        return ""
    return f"{when.day} {when.strftime('%b %Y %H:%M')}"  # type: ignore[attr-defined]


_READSTAT_TYPES = {"int8": "byte", "int16": "int", "int32": "long", "float": "float",
                   "double": "double"}


def _storage_types(frame: pd.DataFrame, meta: object) -> dict[str, str]:
    """Stata storage types from pyreadstat's metadata (str# from the longest value)."""
    types = getattr(meta, "readstat_variable_types", None) or {}
    out: dict[str, str] = {}
    for name in frame.columns:
        kind = _READSTAT_TYPES.get(str(types.get(name, "")))
        if kind is None and not pd.api.types.is_numeric_dtype(frame[name].dtype):
            width = max((len(v) for v in frame[name]), default=1)
            kind = f"str{max(width, 1)}"
        out[str(name)] = kind or "double"
    return out


def load_csv(path: Path) -> Dataset:
    """A comma-separated file with a header line; empty cells are missing."""
    try:
        frame = pd.read_csv(path, keep_default_na=False, na_values=["", "."])
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise StataError(f"file {path} could not be read as delimited text ({exc})", 610) from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return Dataset(frame=_normalize(frame), source=str(path))


def _normalize(frame: pd.DataFrame) -> pd.DataFrame:
    """Numeric columns as float64 (NaN = missing); others as str with '' for missing."""
    out = {}
    for name in frame.columns:
        col = frame[name]
        if pd.api.types.is_numeric_dtype(col.dtype) or pd.api.types.is_bool_dtype(col.dtype):
            out[name] = col.to_numpy(dtype=float, na_value=np.nan)
        else:
            out[name] = np.array(["" if pd.isna(v) else str(v) for v in col], dtype=object)
    return pd.DataFrame(out, columns=list(frame.columns))


def load_frame(frame: object) -> Dataset:
    """A pandas DataFrame handed over by a Python caller."""
    if not isinstance(frame, pd.DataFrame):
        raise StataError("data must be a file path, a Dataset or a pandas DataFrame", 198)
    return Dataset(frame=_normalize(frame.reset_index(drop=True)), source="<DataFrame>")
