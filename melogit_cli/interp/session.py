"""The state a do-file works on: the data, e() of the last estimation, stored estimates,
matrices, constraints, r(), ``_rc``, and the output (screen and log file)."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, TextIO

import numpy as np

from melogit_cli.data.dataset import Dataset
from melogit_cli.errors import StataError
from melogit_cli.interp.settings import Settings
from melogit_cli.results.eresults import EResults, Matrix

if TYPE_CHECKING:
    from melogit_cli.interp.control import LogFile

_ROW_IDS = itertools.count()


class LogSink(Protocol):
    """Where the open log writes: a text file, or the SMCL writer around one."""

    def write(self, text: str, /) -> object: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


class Output:
    """Where results go: the screen unless ``quietly``, and the open log file."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.quiet = 0
        self.log: LogSink | None = None

    def write(self, text: str) -> None:
        if self.quiet:
            return
        self.stream.write(text)
        if self.log is not None:
            self.log.write(text)

    def echo(self, text: str) -> None:
        """A line of the command log: shown even under ``quietly``."""
        self.stream.write(text + "\n")
        if self.log is not None:
            self.log.write(text + "\n")

    def error(self, err: StataError) -> None:
        """Stata's error display: the message, then ``r(#);``."""
        self.echo(err.message)
        self.echo(f"r({err.rc});")

    def line(self, text: str = "") -> None:
        self.write(text + "\n")

    def lines(self, lines: list[str]) -> None:
        for text in lines:
            self.line(text)

    def flush(self) -> None:
        self.stream.flush()
        if self.log is not None:
            self.log.flush()


@dataclass
class Estimate:
    """One set of estimation results: e() and what predict needs (design, fit, sample ids)."""

    e: EResults
    estimation: object | None = None  # melogit_cli.estimate.Estimation
    sample_ids: np.ndarray | None = None  # row ids of e(sample), in the design's row order
    options: object | None = None  # the display options the model was fit with


@dataclass
class Session:
    """Everything the commands of one do-file share."""

    out: Output
    ds: Dataset | None = None
    row_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    changed: bool = False
    current: Estimate | None = None
    stored: dict[str, Estimate] = field(default_factory=dict)
    matrices: dict[str, Matrix] = field(default_factory=dict)
    scalars: dict[str, float | str] = field(default_factory=dict)
    constraints: dict[int, str] = field(default_factory=dict)
    r_scalars: dict[str, float] = field(default_factory=dict)
    r_macros: dict[str, str] = field(default_factory=dict)
    r_matrices: dict[str, Matrix] = field(default_factory=dict)
    rc: int = 0
    locals: dict[str, str] = field(default_factory=dict)
    globals: dict[str, str] = field(default_factory=dict)
    log: LogFile | None = None  # the open log file
    linesize: int = 80
    settings: Settings = field(default_factory=Settings)  # set level, maxiter, ...
    progress: bool = False  # a status line on stderr during long fits (the CLI, on a terminal)
    do_depth: int = 1  # do-files running, this one included (Stata allows 64)
    last_test: tuple[Estimate, list] | None = None  # for test's accumulate and replay
    margins: object | None = None  # the last margins results, for marginsplot
    graphs: dict[str, object] = field(default_factory=dict)  # marginsplot figures by name()
    svy: object | None = None  # the svyset design (melogit_cli.results.svy.SurveyDesign)

    # ------------------------------------------------------------ data
    def set_data(self, ds: Dataset) -> None:
        ds.as_pandas()
        self.ds = ds
        self.row_ids = fresh_row_ids(ds.nobs)
        self.changed = False
        self.svy = None  # svyset settings belong to the data set, as Stata's characteristics

    def data(self) -> Dataset:
        """The data in memory; ``no variables defined`` r(111) when there are none."""
        if self.ds is None:
            raise StataError("no variables defined", 111)
        return self.ds

    def keep_rows(self, mask: np.ndarray) -> None:
        """Keep the observations where ``mask`` is true."""
        ds = self.data()
        ds.frame = ds.frame.loc[mask].reset_index(drop=True)
        self.row_ids = self.row_ids[mask]
        self.changed = True

    def reorder(self, order: np.ndarray) -> None:
        ds = self.data()
        ds.frame = ds.frame.iloc[order].reset_index(drop=True)
        self.row_ids = self.row_ids[order]

    # ------------------------------------------------------------ estimates
    def last(self) -> Estimate:
        if self.current is None:
            raise StataError("last estimates not found", 301)
        return self.current

    def estimate_named(self, name: str) -> Estimate:
        if name == ".":
            return self.last()
        if name not in self.stored:
            raise StataError(f"estimation result {name} not found", 111)
        return self.stored[name]

    def clear_r(self) -> None:
        self.r_scalars, self.r_macros, self.r_matrices = {}, {}, {}

    # ------------------------------------------------------------ Results protocol
    def coef(self, kind: str, name: str) -> float:
        """``_b[name]`` / ``_se[name]`` from the last estimates."""
        est = self.last()
        j = coef_index(est.e.b.colnames, name)
        if kind == "_se":
            return float(math.sqrt(max(est.e.V.data[j, j], 0.0)))
        return float(est.e.b.data[0, j])

    def result(self, kind: str, name: str, nobs: int) -> float | str | np.ndarray | None:
        if kind == "name":
            if name == "_rc":
                return float(self.rc)
            return self.scalars.get(name)
        if kind == "r":
            if name in self.r_scalars:
                return self.r_scalars[name]
            return self.r_macros.get(name, math.nan)
        if self.current is None:
            return math.nan
        e = self.current.e
        if name == "sample":
            return self.sample_mask(self.current).astype(np.float64)
        if name in e.scalars:
            return e.scalars[name]
        if name in e.macros:
            return e.macros[name]
        return math.nan

    def matrix(self, kind: str, name: str) -> np.ndarray | None:
        """The data of matrix ``name`` (kind ``""``), ``e(name)`` or ``r(name)``; None if absent."""
        if kind == "e":
            table = self.current.e.matrices if self.current is not None else {}
        else:
            table = self.r_matrices if kind == "r" else self.matrices
        found = table.get(name)
        return None if found is None else found.data

    def sample_mask(self, est: Estimate) -> np.ndarray:
        """e(sample) for the observations now in memory."""
        if est.sample_ids is None or self.ds is None:
            return np.zeros(self.ds.nobs if self.ds else 0, dtype=bool)
        return np.isin(self.row_ids, est.sample_ids)


def fresh_row_ids(n: int) -> np.ndarray:
    """Identities for ``n`` new observations, never reused within the process."""
    start = next(_ROW_IDS) * 10**12
    return start + np.arange(n, dtype=np.int64)


def coef_index(colnames: list[str], name: str) -> int:
    """Column of e(b) called ``name`` (``age``, ``c_use:age``, ``/var(_cons[district])``,
    ``var(_cons[district])``, ``1.urban``)."""
    key = name.replace(" ", "")
    candidates = [key]
    if key.startswith("/"):
        candidates.append("/:" + key[1:])
    candidates.append("/:" + key)
    for j, col in enumerate(colnames):
        full = col.replace(" ", "")
        short = full.split(":", 1)[1] if ":" in full and not full.startswith("/:") else full
        if full in candidates or short == key:
            return j
    # base levels are stored as 0b.x; Stata finds _b[0.x] too
    for j, col in enumerate(colnames):
        short = col.split(":", 1)[-1]
        if short.replace("b.", ".").replace("o.", ".") == key:
            return j
    raise StataError(f"[{name}] not found", 111)
