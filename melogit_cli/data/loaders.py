"""Read .dta (pyreadstat, with value labels) and .csv files into a Dataset.

Both are read into numpy columns (``Columns``) without importing pandas: pyreadstat
hands over plain lists, and a CSV file of up to ``CSV_WITHOUT_PANDAS`` bytes is parsed
with the standard library.  Larger CSV files go through pandas' C parser, whose import
costs less than parsing them in Python.
"""

from __future__ import annotations

import codecs
import csv
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from melogit_cli.data.columns import Columns, is_numeric_dtype
from melogit_cli.data.dataset import Dataset
from melogit_cli.data.sources import is_glob
from melogit_cli.errors import StataError
from melogit_cli.files import check_readable, open_text, reading

if TYPE_CHECKING:
    import pandas as pd

CSV_WITHOUT_PANDAS = 8_000_000  # bytes
MISSING_CELLS = ("", ".")


def load(path: str | Path) -> Dataset:
    """Load a data set: a .dta or .csv file, a Parquet file or folder, or a glob of CSV
    or Parquet files (read in the glob's sorted order, one after the other); Stata-style
    errors for every failure."""
    from melogit_cli.data.sources import resolve

    src = resolve(path)
    if src.kind == "dta":
        return load_dta(src.paths[0])
    if src.kind == "parquet":
        return load_parquet(src.paths, src.text)
    if len(src.paths) == 1 and not is_glob(src.text):
        return load_csv(src.paths[0])
    return _appended([load_csv(p) for p in src.paths], src.text)


def as_dataset(data: str | Path | Dataset | object) -> Dataset:
    """A path (.dta/.csv), a Dataset, a pandas DataFrame or a dict of arrays."""
    if isinstance(data, Dataset):
        return data
    if isinstance(data, (str, Path)):
        return load(data)
    return load_frame(data)


def _appended(parts: list[Dataset], source: str) -> Dataset:
    """CSV parts one after the other; every part must have the first one's variables."""
    first = parts[0]
    names = first.varnames
    for ds in parts[1:]:
        if ds.varnames != names:
            raise StataError(
                f"file {ds.source} has other variables than {first.source}", 198
            )
    columns = {}
    for v in names:
        pieces = [ds.frame[v].to_numpy() for ds in parts]
        strings = [ds.is_string(v) for ds in parts]
        if any(strings) and not all(strings):
            a = parts[strings.index(True)].source
            b = parts[strings.index(False)].source
            raise StataError(f"variable {v} is string in {a} but numeric in {b}", 106)
        columns[v] = np.concatenate(pieces)
    return Dataset(frame=Columns(columns), source=source)


def load_parquet(paths: tuple[Path, ...] | list[Path], source: str) -> Dataset:
    """Parquet files (pyarrow), one after the other: categorical (dictionary) columns
    become labelled numeric variables, as in :func:`load_frame`."""
    from melogit_cli.data.sources import import_pyarrow

    import_pyarrow()
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = []
    for p in paths:
        try:
            with reading(p):
                tables.append(pq.read_table(str(p)))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as exc:
            raise StataError(f"file {p} not Stata format ({exc})", 610) from None
    try:
        table = pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise StataError(f"file {source}: parts do not fit together ({exc})", 106) from None
    ds = load_frame(table.to_pandas())
    ds.source = source
    return ds


def load_dta(path: Path) -> Dataset:
    """A Stata .dta file, with its value labels, variable labels and data label."""
    import pyreadstat

    check_readable(path)
    try:
        raw, meta = pyreadstat.read_dta(str(path), output_format="dict")
    except Exception as exc:  # pyreadstat raises its own types for every corrupt file
        raise StataError(f"file {path} not Stata format ({exc})", 610) from None
    types = getattr(meta, "readstat_variable_types", None) or {}
    frame = Columns({str(k): _dta_column(v, types.get(k) == "string") for k, v in raw.items()})
    labels_by_set = meta.value_labels or {}
    value_labels = {
        var: {int(k): str(v) for k, v in labels_by_set[name].items()}
        for var, name in (meta.variable_to_label or {}).items()
        if name in labels_by_set
    }
    variable_labels = {
        n: lab for n, lab in zip(meta.column_names, meta.column_labels or [], strict=False) if lab
    }
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


_READSTAT_TYPES = {
    "int8": "byte",
    "int16": "int",
    "int32": "long",
    "float": "float",
    "double": "double",
}


def _dta_column(values: list, is_string: bool) -> np.ndarray:
    """A .dta variable as float64 (None -> NaN) or as str objects (None -> "")."""
    if is_string:
        return np.array(["" if v is None else str(v) for v in values], dtype=object)
    return np.array(values, dtype=float)


def _storage_types(frame: Columns, meta: object) -> dict[str, str]:
    """Stata storage types from pyreadstat's metadata (str# from the longest value)."""
    types = getattr(meta, "readstat_variable_types", None) or {}
    out: dict[str, str] = {}
    for name in frame.columns:
        kind = _READSTAT_TYPES.get(str(types.get(name, "")))
        if kind is None and not is_numeric_dtype(frame[name].dtype):
            width = max((len(v) for v in frame[name]), default=1)
            kind = f"str{max(width, 1)}"
        out[str(name)] = kind or "double"
    return out


def load_csv(path: Path, encoding: str | None = None) -> Dataset:
    """A comma-separated file with a header line; empty cells (and ".") are missing.

    A column is numeric when every cell that is not missing reads as a number.  The text
    is UTF-8 (a byte-order mark skipped) unless ``encoding`` names another codec.
    """
    check_readable(path)
    codec = "utf-8-sig" if encoding is None or _is_utf8(encoding) else encoding
    try:
        with reading(path):
            if path.stat().st_size > CSV_WITHOUT_PANDAS:
                columns = _csv_columns_pandas(path, codec)
            else:
                columns = _csv_columns(path, codec)
    except (csv.Error, UnicodeDecodeError, ValueError) as exc:
        raise StataError(f"file {path} could not be read as delimited text ({exc})", 610) from None
    return Dataset(frame=Columns(columns), source=str(path))


def _is_utf8(encoding: str) -> bool:
    return codecs.lookup(encoding).name == "utf-8"


def _csv_columns(path: Path, encoding: str = "utf-8-sig") -> dict[str, np.ndarray]:
    with open_text(path, newline="", encoding=encoding) as f:
        rows = list(csv.reader(f))
    if not rows:
        raise ValueError("no columns to parse from file")
    names = _column_names(rows[0])
    k = len(names)
    body = [r for r in rows[1:] if r]  # blank lines are skipped
    for line, r in enumerate(body, start=2):
        if len(r) > k:
            raise ValueError(f"expected {k} fields in line {line}, saw {len(r)}")
    cells = [r + [""] * (k - len(r)) for r in body]
    by_column = list(zip(*cells, strict=True)) if cells else [()] * k
    return {name: _csv_column(list(col)) for name, col in zip(names, by_column, strict=True)}


def _column_names(header: list[str]) -> list[str]:
    """Header names, stripped; a repeated name gets ``.1``, ``.2`` as pandas does."""
    seen: dict[str, int] = {}
    out = []
    for raw in header:
        name = raw.strip()
        if name in seen:
            seen[name] += 1
            name = f"{name}.{seen[name]}"
        else:
            seen[name] = 0
        out.append(name)
    return out


def _csv_column(cells: list[str]) -> np.ndarray:
    """Numbers (missing -> NaN) when every non-missing cell is a finite one, else strings
    (Stata has no infinity, and reads "nan" or "inf" as words)."""
    try:  # a column of numbers only, the usual case: one pass of float() over the cells
        values = np.array(list(map(float, cells)), dtype=float)
        if np.isfinite(values).all():
            return values
    except ValueError:  # a missing cell or a word
        pass
    try:
        return np.array(
            [np.nan if c.strip() in MISSING_CELLS else _finite(c) for c in cells], dtype=float
        )
    except ValueError:
        return np.array([c if c != "." else "" for c in cells], dtype=object)


def _finite(cell: str) -> float:
    value = float(cell)
    if not math.isfinite(value):
        raise ValueError(f"not a finite number: {cell}")
    return value


def _csv_columns_pandas(path: Path, encoding: str = "utf-8-sig") -> dict[str, np.ndarray]:
    import pandas as pd

    try:
        # low_memory=False: the whole column's type is decided at once (no DtypeWarning)
        frame = pd.read_csv(
            path,
            keep_default_na=False,
            na_values=list(MISSING_CELLS),
            low_memory=False,
            encoding=encoding,
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ValueError(str(exc)) from None
    # text columns keep their cells exactly, as the small reader has them: pandas reads
    # true/false as booleans, and inf as a number
    words = []
    for k, name in enumerate(frame.columns):
        col = frame[name]
        numeric = is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype)
        if not numeric or np.isinf(col.to_numpy(dtype=float)).any():
            words.append(k)
    if words:
        text = pd.read_csv(
            path,
            dtype=str,
            keep_default_na=False,
            usecols=words,
            low_memory=False,
            encoding=encoding,
        )
        for i, k in enumerate(words):
            cells = text.iloc[:, i].to_numpy()
            frame[frame.columns[k]] = np.where(cells == ".", "", cells).astype(object)
    frame.columns = _column_names([str(c) for c in frame.columns])
    return _normalize(frame)


def _normalize(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Numeric columns as float64 (NaN = missing); others as str with '' for missing."""
    import pandas as pd

    out = {}
    for name in frame.columns:
        col = frame[name]
        if is_numeric_dtype(col.dtype):
            out[str(name)] = col.to_numpy(dtype=float, na_value=np.nan)
        else:
            out[str(name)] = np.array(["" if pd.isna(v) else str(v) for v in col], dtype=object)
    return out


def load_frame(frame: object) -> Dataset:
    """A pandas DataFrame (or a dict of equal-length arrays) handed over by a Python caller.

    Numeric and boolean columns become numbers (missing -> NaN), string columns strings.
    A categorical column becomes a labelled numeric variable, as a .dta value label
    does: integer categories keep their values; other categories are coded 0, 1, ...
    in the order of the categories (pandas' codes, which ``pandas.read_stata`` gives
    back for value labels numbered from 0), and the categories become the value labels.
    """
    import pandas as pd

    if isinstance(frame, dict):
        try:
            frame = pd.DataFrame({str(k): _as_array(v) for k, v in frame.items()})
        except ValueError as exc:
            raise StataError(f"data: {exc}", 198) from None
    if not isinstance(frame, pd.DataFrame):
        raise StataError(
            "data must be a file path, a Dataset, a pandas DataFrame or a dict of arrays", 198
        )
    frame = frame.reset_index(drop=True)
    columns: dict[str, np.ndarray] = {}
    value_labels: dict[str, dict[int, str]] = {}
    plain = {}
    for name in frame.columns:
        col = frame[name]
        if isinstance(col.dtype, pd.CategoricalDtype):
            columns[str(name)], labels = _categorical(col)
            if labels:
                value_labels[str(name)] = labels
        else:
            plain[str(name)] = col
    normal = _normalize(pd.DataFrame(plain)) if plain else {}
    ordered = {str(n): columns[str(n)] if str(n) in columns else normal[str(n)]
               for n in frame.columns}
    return Dataset(
        frame=Columns(ordered),
        value_labels=value_labels,
        source="<DataFrame>",
        label_names={k: k for k in value_labels},
    )


def _as_array(values: object) -> object:
    """A column of a dict: numpy arrays, lists and pandas objects as they are; a scalar
    is refused (a dict of arrays, not of values)."""
    if np.ndim(values) == 0 and not hasattr(values, "dtype"):
        raise ValueError("every value of the dict must be an array of the column's values")
    return values


def _categorical(col: pd.Series) -> tuple[np.ndarray, dict[int, str]]:
    """Codes (NaN missing) and value labels of a categorical column."""
    cats = col.cat.categories
    codes = col.cat.codes.to_numpy()
    if is_numeric_dtype(cats.dtype) and all(float(c).is_integer() for c in cats):
        values = np.asarray(cats, dtype=float)
        out = np.where(codes < 0, np.nan, values[np.maximum(codes, 0)])
        return out.astype(float), {}
    out = np.where(codes < 0, np.nan, codes.astype(float))
    return out, {i: str(c) for i, c in enumerate(cats)}
