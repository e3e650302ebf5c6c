"""Data in and out: use, webuse, import delimited, save, export delimited, describe,
summarize, clear."""

from __future__ import annotations

import codecs
import math
import re
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import IO

import numpy as np

from melogit_cli.data.bundled import BUNDLED, bundled_path
from melogit_cli.data.columns import Columns
from melogit_cli.data.dataset import Dataset
from melogit_cli.errors import StataError, syntax_error
from melogit_cli.files import with_default_suffix, write_file, write_text
from melogit_cli.interp.parse import Body, named_options, parse_body
from melogit_cli.interp.registry import command
from melogit_cli.interp.session import Output, Session
from melogit_cli.interp.variables import resolve_varlist, select_rows, store
from melogit_cli.render.formats import fmt

_URL_RE = re.compile(r"^https?://", re.IGNORECASE)
WEBUSE_PREFIX = "https://www.stata-press.com/data/r19/"


def _filename(body: Body) -> str:
    text = body.anything.strip()
    if not text:
        raise syntax_error("invalid file specification")
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1]
    elif len(text.split()) > 1:
        raise syntax_error("invalid '" + text.split()[1] + "'")
    return text


def _check_clear(session: Session, body: Body) -> None:
    if session.ds is not None and session.changed and not body.flag("clear"):
        raise StataError("no; dataset in memory has changed since last saved", 4)


def _announce(session: Session, ds: Dataset) -> None:
    if ds.label:
        session.out.line(f"({ds.label})")


@command("use", "u")
def use(session: Session, rest: str) -> None:
    """``use FILE [, clear]`` (.dta; a stata-press URL of a bundled data set is served locally)."""
    body = parse_body(rest, ("clear",))
    name = _filename(body)
    _check_clear(session, body)
    if _URL_RE.match(name):
        stem = Path(name.split("?")[0]).name.removesuffix(".dta")
        if stem not in BUNDLED:
            _not_bundled(session, name if name.endswith(".dta") else name + ".dta")
        path = bundled_path(stem)
    elif _scaled_source(name):  # Parquet files and folders, globs of CSV/Parquet parts
        from melogit_cli.data.loaders import load

        ds = load(name)
        session.set_data(ds)
        _announce(session, ds)
        return
    else:
        path = with_default_suffix(name, ".dta")
        if not path.exists():
            raise StataError(f"file {path} not found", 601)
        if path.suffix.lower() != ".dta":
            raise StataError(f"file {path} not Stata format", 610)
    from melogit_cli.data.loaders import load_dta

    ds = load_dta(path)
    ds.source = name if _URL_RE.match(name) else str(path)
    if _URL_RE.match(name) and not name.endswith(".dta"):
        ds.source += ".dta"
    session.set_data(ds)
    _announce(session, ds)


def _scaled_source(name: str) -> bool:
    """``use`` of data stored at scale: a glob, a Parquet file or a folder."""
    from melogit_cli.data.sources import KINDS, is_glob

    path = Path(name)
    return is_glob(name) or KINDS.get(path.suffix.lower()) == "parquet" or path.is_dir()


def _not_bundled(session: Session, name: str) -> None:
    session.out.line(
        f"(no network access: only the bundled data sets are served: {', '.join(BUNDLED)})"
    )
    raise StataError(f"file {name} not found", 601)


@command("webuse")
def webuse(session: Session, rest: str) -> None:
    """``webuse NAME [, clear]``: one of the bundled data sets."""
    body = parse_body(rest, ("clear",))
    name = _filename(body)
    _check_clear(session, body)
    stem = Path(name).name.removesuffix(".dta")
    if stem not in BUNDLED:
        _not_bundled(session, f"{stem}.dta")
    from melogit_cli.data.loaders import load_dta

    ds = load_dta(bundled_path(stem))
    ds.source = f"{WEBUSE_PREFIX}{stem}.dta"
    session.set_data(ds)
    _announce(session, ds)


# import delimited's options, each with its shortest abbreviation
IMPORT_OPTIONS = {
    name: (name, minimum)
    for name, minimum in (
        ("clear", 5), ("asfloat", 5), ("asdouble", 6), ("encoding", 3), ("charset", 7), ("case", 4)
    )
}
CASES = {"preserve": str, "lower": str.lower, "upper": str.upper}
FLOAT_MAX = float(np.finfo(np.float32).max)


@command("import")
def import_(session: Session, rest: str) -> None:
    """``import delimited [using] FILE [, clear asfloat asdouble encoding() case()]``.

    As Stata's: numbers that are not all whole are stored as ``set type`` makes them
    (``float`` unless set otherwise: rounded to single precision) unless ``asdouble``
    or ``asfloat`` says; variable names are lowercased unless ``case()`` says.
    """
    words = _delimited(rest, "import")
    body = parse_body(words[1] if len(words) > 1 else "")
    options = _import_options(body)
    text = body.anything
    if text.startswith("using "):
        text = text[6:]
    body.anything = text
    name = _filename(body)
    _check_clear(session, body)
    path = with_default_suffix(name, ".csv")
    if not path.exists():
        raise StataError(f"file {path} not found", 601)
    from melogit_cli.data.loaders import load_csv

    ds = load_csv(path, encoding=options.get("encoding"))
    floating = "double" if "asdouble" in options else "float" if "asfloat" in options else None
    _store_as_stata(ds, CASES[options.get("case", "lower")], floating, session.settings.type)
    session.set_data(ds)
    session.out.line(f"({len(ds.varnames)} vars, {fmt(ds.nobs, '%12.0fc').strip()} obs)")


def _import_options(body: Body) -> dict[str, str]:
    """import delimited's options by full name (``charset()`` is ``encoding()``), each
    with its argument (unquoted) or ``""``; anything else is refused as Stata does."""
    named = named_options(body, IMPORT_OPTIONS, frozenset({"encoding", "charset", "case"}))
    found = {k: "" if v is True else str(v).strip('"') for k, v in named.items()}
    if "charset" in found:  # charset(latin1|mac), Stata's older name for encoding()
        found["encoding"] = {"mac": "mac_roman"}.get(found["charset"], found.pop("charset"))
    if "asfloat" in found and "asdouble" in found:
        raise StataError("options asfloat and asdouble may not be combined", 184)
    if found.get("case", "lower") not in CASES:
        raise StataError(f"option case({found['case']}) not allowed", 198)
    if "encoding" in found:
        try:
            codecs.lookup(found["encoding"])
        except LookupError:
            raise StataError(f"encoding {found['encoding']} not supported", 198) from None
    return found


def _store_as_stata(
    ds: Dataset, case: Callable[[str], str], floating: str | None, default: str
) -> None:
    """The read columns as Stata's import keeps them: named by ``case`` (a name an
    earlier column took becomes ``v#``, its column number, the header its label), whole
    numbers in the smallest integer type, others as ``floating`` (else ``default``, set
    type's; double beyond a float's range) and rounded to it."""
    columns: dict[str, np.ndarray] = {}
    for k, header in enumerate(ds.varnames, start=1):
        name = case(header)
        if name in columns:
            name = f"v{k}"
            ds.variable_labels[name] = header
        x = ds.frame[header].to_numpy()
        columns[name] = x
        if ds.is_string(header):
            continue
        finite = x[~np.isnan(x)]
        if finite.size == 0 or bool(np.all(finite == np.round(finite))):
            ds.storage[name] = _integer_type(finite)
            continue
        kind = floating or default
        if kind == "float" and floating is None and np.any(np.abs(finite) > FLOAT_MAX):
            kind = "double"  # beyond a float's range: stored as the double it needs
        ds.storage[name] = kind
        columns[name] = store(x, kind)
    ds.frame = Columns(columns)


def _delimited(rest: str, command: str) -> list[str]:
    """``delimited`` (at least ``delim``) and what follows it, as two words (the second
    absent when nothing follows); any other subcommand is refused."""
    match = re.match(r"\s*([^\s,]*)(.*)", rest, re.DOTALL)
    assert match is not None  # the pattern matches any text
    sub, tail = match.group(1), match.group(2).strip()
    if not sub or not "delimited".startswith(sub) or len(sub) < 5:
        raise StataError(f"{command}: unknown subcommand {sub}", 198)
    return [sub, tail] if tail else [sub]


def _integer_type(x: np.ndarray) -> str:
    if x.size == 0:
        return "byte"
    lo, hi = float(x.min()), float(x.max())
    if lo >= -127 and hi <= 100:
        return "byte"
    if lo >= -32767 and hi <= 32740:
        return "int"
    if lo >= -2147483647 and hi <= 2147483620:
        return "long"
    return "double"


def _output_path(body: Body, default_suffix: str) -> Path:
    path = with_default_suffix(_filename(body), default_suffix)
    if path.exists() and not body.flag("replace"):
        raise StataError(f"file {path} already exists", 602)
    return path


_INT_DTYPES = {"byte": np.int8, "int": np.int16, "long": np.int32}


@command("save", "sa")
def save(session: Session, rest: str) -> None:
    """``save FILE [, replace]``: a .dta file (format 118) with storage types, variable and
    value labels and the data label."""
    import pandas as pd

    ds = session.data()
    body = parse_body(rest, ("replace",))
    path = _output_path(body, ".dta")
    columns = {}
    for v in ds.varnames:
        col = ds.frame[v]
        kind = ds.storage_type(v)
        if ds.is_string(v):
            columns[v] = col.astype(object).where(col.notna(), "").astype(str)
            continue
        x = col.to_numpy(dtype=float)
        if kind in _INT_DTYPES and not np.isnan(x).any():
            columns[v] = x.astype(_INT_DTYPES[kind])
        elif kind in ("byte", "int", "float"):
            columns[v] = x.astype(np.float32)
        else:
            columns[v] = x
    frame = pd.DataFrame(columns, columns=ds.varnames)
    labels = {
        v: {int(k): lab for k, lab in table.items()}
        for v, table in ds.value_labels.items()
        if v in ds.varnames and not ds.is_string(v)
    }
    def write(handle: IO[bytes]) -> None:
        frame.to_stata(
            handle,
            write_index=False,
            version=118,
            data_label=ds.label or None,
            variable_labels={v: lab for v, lab in ds.variable_labels.items() if v in columns},
            value_labels=labels or None,
        )

    try:
        write_file(path, write, binary=True)
    except StataError:
        raise
    except Exception as exc:  # pandas raises several types for unwritable data
        raise StataError(f"file {path} could not be written ({exc})", 603) from None
    session.changed = False
    session.out.line(f"file {path} saved")


def _csv_cell(x: object, kind: str) -> str:
    if isinstance(x, str):
        if any(c in x for c in ',"\n'):
            return '"' + x.replace('"', '""') + '"'
        return x
    v = float(x)  # type: ignore[arg-type]
    if math.isnan(v):
        return ""
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    if kind == "float":
        return np.format_float_positional(np.float32(v), unique=True, trim="-")
    return repr(v)


@command("export")
def export(session: Session, rest: str) -> None:
    """``export delimited [varlist] using FILE [, replace nolabel]`` or
    ``export delimited FILE [, replace]``.  Numbers are written at full precision (the
    shortest text that reads back to the stored value); value-labeled variables are written
    as their labels unless ``nolabel``."""
    words = _delimited(rest, "export")
    ds = session.data()
    nolabel_names = ("nolabel", "nolabe", "nolab")  # Stata's nolab[el]
    body = parse_body(words[1] if len(words) > 1 else "", ("replace", *nolabel_names))
    names = ds.varnames
    text = body.anything
    if " using " in f" {text} ":
        left, _, right = f" {text} ".partition(" using ")
        if left.strip():
            names = resolve_varlist(left, ds)
        body.anything = right.strip()
    path = _output_path(body, ".csv")
    rows = select_rows(session, body)
    nolabel = body.flag(*nolabel_names)
    cols = []
    for v in names:
        values = ds.frame[v].to_numpy()[rows]
        kind = ds.storage_type(v)
        labels = None if nolabel else ds.value_labels.get(v)
        cells = []
        for x in values:
            if labels is not None and not isinstance(x, str) and not math.isnan(float(x)):
                lab = labels.get(int(x)) if float(x) == int(x) else None
                if lab is not None:
                    cells.append(_csv_cell(lab, "str"))
                    continue
            cells.append(_csv_cell(x, kind))
        cols.append(cells)
    lines = [",".join(names)]
    lines += [",".join(row) for row in zip(*cols, strict=True)] if cols else []
    write_text(path, "\n".join(lines) + "\n")
    session.out.line(f"file {path} saved")


@command("describe", "d")
def describe(session: Session, rest: str) -> None:
    """``describe [varlist]``."""
    ds = session.data()
    body = parse_body(rest, ())
    names = resolve_varlist(body.anything, ds) if body.anything else ds.varnames
    out = session.out
    rule = "-" * 79
    if not body.anything:
        source = ds.source
        out.line()
        out.line(f"Contains data{' from ' + source if source else ''}")
        out.line(f" Observations:{fmt(ds.nobs, '%14.0fc')}                  {ds.label}".rstrip())
        out.line(
            f"    Variables:{fmt(len(ds.varnames), '%14.0fc')}                  {ds.timestamp}"
            .rstrip()
        )
    out.line(rule)
    out.line("Variable      Storage   Display    Value")
    out.line("    name         type    format    label      Variable label")
    out.line(rule)
    for v in names:
        kind = ds.storage_type(v)
        form = ds.display_format(v)
        label_set = ds.label_names.get(v, v) if v in ds.value_labels else ""
        head = f"{v:<15} {kind:<7} {form:<10} {label_set:<10} "
        label = ds.variable_labels.get(v, "")
        parts = textwrap.wrap(label, width=max(79 - len(head), 20)) or [""]
        out.line((head + parts[0]).rstrip())
        for part in parts[1:]:
            out.line(" " * len(head) + part)
    out.line(rule)
    if not body.anything:
        out.line(f"Sorted by: {' '.join(ds.sorted_by)}".rstrip())


@command("summarize", "su")
def summarize(session: Session, rest: str) -> None:
    """``summarize [varlist] [if] [in] [, meanonly]``; r() holds the last variable's
    statistics."""
    ds = session.data()
    body = parse_body(rest, ("meanonly", "mean", "meanon"))
    names = resolve_varlist(body.anything, ds) if body.anything else ds.varnames
    rows = select_rows(session, body)
    out = session.out
    meanonly = bool(body.options)
    if meanonly:
        out.quiet += 1
    try:
        results = _summarize(ds, names, rows, out)
    finally:
        if meanonly:
            out.quiet -= 1
    session.clear_r()
    session.r_scalars = results


def _summarize(ds: Dataset, names: list[str], rows: np.ndarray, out: Output) -> dict:
    out.line()
    out.line("    Variable |        Obs        Mean    Std. dev.       Min        Max")
    out.line("-------------+---------------------------------------------------------")
    results: dict[str, float] = {}
    for v in names:
        label = v if len(v) <= 12 else v[:10] + "~" + v[-1]
        if ds.is_string(v):
            out.line(f"{label:>12} |{fmt(0, '%11.0fc')}")
            results = {"N": 0.0}
            continue
        x = ds.frame[v].to_numpy(dtype=float)[rows]
        x = x[~np.isnan(x)]
        n = x.size
        if n == 0:
            out.line(f"{label:>12} |{fmt(0, '%11.0fc')}")
            results = {"N": 0.0}
            continue
        mean = float(x.mean())
        sd = float(x.std(ddof=1)) if n > 1 else math.nan
        line = f"{label:>12} |{fmt(n, '%11.0fc')}   {fmt(mean, '%9.0g')}   {fmt(sd, '%9.0g')}"
        line += f"  {fmt(float(x.min()), '%9.0g')}  {fmt(float(x.max()), '%9.0g')}"
        out.line(line.rstrip() if n > 1 else line)
        results = {
            "N": float(n), "sum_w": float(n), "mean": mean, "Var": sd * sd, "sd": sd,
            "min": float(x.min()), "max": float(x.max()), "sum": float(x.sum()),
        }
    return results


# clear's forms that hold nothing of ours: Mata, programs, ado-files, the random streams
_NOTHING_TO_CLEAR = ("mata", "programs", "ado", "rngstream")


@command("clear")
def clear(session: Session, rest: str) -> None:
    """``clear``: drop the data; ``clear all`` (or ``*``): the data and every stored
    result, matrix, scalar and constraint; ``clear results``: e() and r(); ``clear
    matrix``: the matrices; ``clear frames``: the data (one frame here); ``clear mata``,
    ``programs``, ``ado``, ``rngstream``: nothing we hold."""
    what = rest.strip()
    if what not in ("", "all", "*", "results", "matrix", "frames", *_NOTHING_TO_CLEAR):
        raise syntax_error()
    if what in ("", "all", "*", "frames"):
        session.ds = None
        session.row_ids = np.zeros(0, dtype=np.int64)
        session.changed = False
    if what in ("all", "*", "results"):
        session.current = None
        session.clear_r()
    if what in ("all", "*", "matrix"):
        session.matrices.clear()
    if what in ("all", "*"):
        session.stored.clear()
        session.constraints.clear()
        session.scalars.clear()


def _cell(ds: Dataset, name: str, x: object, nolabel: bool) -> str:
    if isinstance(x, str):
        return x
    v = float(x)  # type: ignore[arg-type]
    if math.isnan(v):
        return "."
    labels = None if nolabel else ds.value_labels.get(name)
    if labels is not None and v == int(v) and int(v) in labels:
        return labels[int(v)]
    spec = ds.display_format(name)
    if spec.endswith("g") and ds.storage_type(name) == "float":
        v = float(f"{v:.7g}")  # a float's 7 digits, as Stata lists it (18.44, not 18.440001)
    try:
        return fmt(v, spec).strip()
    except ValueError:
        return fmt(v, "%9.0g").strip()


@command("list", "l")
def list_(session: Session, rest: str) -> None:
    """``list [varlist] [if] [in] [, nolabel]``: the observations in a boxed table."""
    ds = session.data()
    body = parse_body(rest, ("nolabel", "nol", "nolab"))
    names = resolve_varlist(body.anything, ds) if body.anything else ds.varnames
    rows = np.flatnonzero(select_rows(session, body))
    list_rows(session, names, rows, nolabel=body.flag("nolabel", "nol", "nolab"))


def list_rows(
    session: Session,
    names: list[str],
    rows: np.ndarray,
    nolabel: bool = False,
    numbers: np.ndarray | None = None,
) -> None:
    """The boxed table of ``list`` for data rows ``rows``, numbered ``numbers`` (the
    observation numbers by default)."""
    ds = session.data()
    shown = rows + 1 if numbers is None else numbers
    cols = []
    for v in names:
        values = ds.frame[v].to_numpy()[rows]
        cells = [_cell(ds, v, x, nolabel) for x in values]
        left = ds.is_string(v) or (not nolabel and v in ds.value_labels)
        width = max([len(v), *map(len, cells)])
        cols.append((v, cells, width, left))
    out = session.out
    num_w = len(str(int(shown[-1]))) if len(rows) else 1
    pad = " " * (num_w + 3)
    inner = "   ".join(
        (v.ljust(w) if left else v.rjust(w)) for v, _, w, left in cols
    )
    rule = "+" + "-" * (len(inner) + 2) + "+"
    out.line()
    out.line(pad + rule)
    out.line(pad + "| " + inner + " |")
    out.line(pad + "|" + "-" * (len(inner) + 2) + "|")
    for k, i in enumerate(shown):
        text = "   ".join(
            (cells[k].ljust(w) if left else cells[k].rjust(w)) for _, cells, w, left in cols
        )
        out.line(f"{str(int(i)) + '.':>{num_w + 2}} | {text} |")
    out.line(pad + rule)
