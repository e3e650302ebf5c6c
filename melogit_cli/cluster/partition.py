"""What runs on the workers: the rows of the source partitions dealt out by top-level
cluster, each bucket turned once into an engine, and the engine's sums.

Every function here is a pure task of the cluster's graph (source partition -> split ->
bucket -> engine -> states), so that a worker's loss is repaired by recomputing its
tasks from the source data.  The engines keep caches of their last evaluation, which
only save work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from types import SimpleNamespace
from typing import Any

import numpy as np

from melogit_cli.data.columns import Columns
from melogit_cli.data.dataset import Dataset
from melogit_cli.design.build import outcome_and_trials
from melogit_cli.design.factors import ColumnInfo, REColumns
from melogit_cli.design.levels import build_levels
from melogit_cli.engine.model.covariance import LevelCovariance, NestedCovariance
from melogit_cli.errors import StataError
from melogit_cli.syntax.spec import REEquation

ROW = "_melogit_row"  # the row's position in the source data (before any shuffle)


class RemoteError(Exception):
    """A StataError raised on a worker, carried back whole (message and code)."""

    def __init__(self, message: str, rc: int) -> None:
        super().__init__(message, rc)
        self.message, self.rc = message, rc


@dataclass
class Plan:
    """What a worker needs to turn rows of the source into the engine's arrays: the
    estimation sample and the design's columns, as the client's design fixed them."""

    rule: Any  # the estimation sample's rows of a partition, the model's variables and the
    # first source row of each partition (cluster.design.Rule)
    top: str  # the top level's variable ("_all": one cluster)
    top_ids: np.ndarray  # sorted distinct top-level ids in the sample
    buckets: int
    layout: str  # "clusters" or "nested"
    method: str
    points: int
    cov: LevelCovariance | NestedCovariance
    fixed: list[ColumnInfo]  # the estimated columns, in order (``_cons`` last)
    equations: list[REEquation]
    re_columns: list[list[ColumnInfo]] = field(default_factory=list)


def guarded(fn):
    """``fn`` with a StataError turned into a RemoteError (which pickles whole)."""

    def task(*args: Any) -> Any:
        try:
            return fn(*args)
        except StataError as err:
            raise RemoteError(err.message, err.rc) from None

    task.__name__ = fn.__name__
    task.__qualname__ = fn.__qualname__
    return task


def _as_dataset(frame: Any) -> Dataset:
    from melogit_cli.data.loaders import load_frame

    return load_frame(frame)


def _ids(ds: Dataset, name: str) -> np.ndarray:
    col = ds.frame[name].to_numpy()
    return col.astype(str) if ds.is_string(name) else col.astype(float)


@guarded
def split(frame: Any, part: int, plan: Plan) -> tuple[dict[str, np.ndarray], ...]:
    """One source partition's sample rows, dealt into the buckets by top-level cluster
    (the cluster's rank among all ids, modulo the number of buckets)."""
    ds = _as_dataset(frame)
    n = ds.nobs
    rows = plan.rule.offsets[part] + np.arange(n)
    keep = plan.rule.rows(ds, part)
    columns = {v: ds.frame[v].to_numpy()[keep] for v in ds.varnames}
    columns[ROW] = rows[keep]
    if plan.top == "_all":
        bucket = np.zeros(int(keep.sum()), dtype=np.int64)
    else:
        rank = np.searchsorted(plan.top_ids, _ids(ds, plan.top)[keep])
        bucket = rank % plan.buckets
    return tuple({v: c[bucket == b] for v, c in columns.items()} for b in range(plan.buckets))


@guarded
def build(plan: Plan, *parts: dict[str, np.ndarray]) -> PartitionEngine:
    """One bucket's rows of every split partition, in source order, as an engine."""
    keep_freed_memory_on_worker()
    columns = {v: np.concatenate([p[v] for p in parts]) for v in parts[0]}
    order = np.argsort(columns[ROW], kind="stable")
    columns = {v: c[order] for v, c in columns.items()}
    return PartitionEngine(plan, Dataset(frame=Columns(columns)))


@cache
def keep_freed_memory_on_worker() -> bool:
    """The allocator setting of an in-memory fit (engine/allocator.py), on a worker too.

    Dask's nanny starts its workers with ``MALLOC_TRIM_THRESHOLD_`` set, which the
    in-memory setting leaves alone as a user's choice; with it, every large temporary
    array of the engines is mapped afresh and faults page by page (the buckets' Newton
    derivatives ran 3-5 times slower than in memory).
    """
    import os

    from melogit_cli.engine import allocator

    own = {k for k in os.environ if k.startswith("MALLOC_")} == {"MALLOC_TRIM_THRESHOLD_"}
    return allocator.tune_malloc() if own else allocator.keep_freed_memory()


def column_values(info: ColumnInfo, ds: Dataset) -> np.ndarray:
    """A design column from its parts: factor indicators times continuous variables."""
    n = ds.nobs
    value = np.ones(n)
    if info.is_cons:
        return value
    for part in info.parts:
        x = ds.frame[part.var].to_numpy(dtype=float)
        value = value * ((x == part.level) if part.level is not None else x)
    return value


def _matrix(infos: list[ColumnInfo], ds: Dataset) -> np.ndarray:
    if not infos:
        return np.zeros((ds.nobs, 0))
    return np.column_stack([column_values(c, ds) for c in infos])


class PartitionEngine:
    """One bucket's engine and the global index of each of its top-level clusters."""

    def __init__(self, plan: Plan, ds: Dataset) -> None:
        from melogit_cli.engine.registry import engine_for
        from melogit_cli.estimate import cluster_arrays, nested_arrays

        n = ds.nobs
        spec, names = plan.rule.spec, plan.rule.names
        rows = np.ones(n, dtype=bool)
        y, trials = outcome_and_trials(spec, names, ds, rows)
        obs_weight = np.ones(n)
        if spec.weight is not None:
            from melogit_cli.data.evaluate import evaluate

            obs_weight = np.asarray(evaluate(spec.weight.expr, ds), dtype=float)
        offset = (
            ds.frame[names.offset_var].to_numpy(dtype=float) if names.offset_var else np.zeros(n)
        )
        re_cols = [
            REColumns(Z=_matrix(infos, ds), columns=infos, terms=[], rows=rows)
            for infos in plan.re_columns
        ]
        levels = build_levels(plan.equations, re_cols, ds, rows, obs_weight)
        design = SimpleNamespace(
            y=y,
            trials=trials,
            fixed=SimpleNamespace(x_est=_matrix(plan.fixed, ds)),
            offset=offset,
            obs_weight=obs_weight,
            levels=levels,
        )
        arrays = cluster_arrays if plan.layout == "clusters" else nested_arrays
        data, _ = arrays(design)  # type: ignore[arg-type]
        self.engine = engine_for(plan.layout)(
            data, plan.cov, method=plan.method, points=plan.points
        )
        if plan.top == "_all":
            self.clusters = np.zeros(1, dtype=np.int64)
        else:
            local = np.unique(_ids(ds, plan.top))
            self.clusters = np.searchsorted(plan.top_ids, local)
        self.rows = n
        self._logit: Any = None

    def logit(self, constant_only: bool) -> Any:
        from melogit_cli.engine.optimize.logit import LogitObjective

        d = self.engine.data
        X = np.ones((len(d.y), 1)) if constant_only else d.X
        return LogitObjective(d.y, d.trials, X, d.offset, d.row_weight())


# ---------------------------------------------------------------------- tasks on engines


@guarded
def start_state(pe: PartitionEngine, beta: np.ndarray, theta: np.ndarray) -> Any:
    return pe.engine.start_state(beta, theta)


@guarded
def loglik(pe: PartitionEngine, beta: np.ndarray, theta: np.ndarray, state: Any) -> tuple:
    """The engine's own log likelihood (methods whose nodes need no global settling)."""
    with np.errstate(all="ignore"):
        return pe.engine.loglik(beta, theta, state)


@guarded
def one_pass(pe: PartitionEngine, beta: np.ndarray, theta: np.ndarray, state: Any) -> tuple:
    """One mean-variance adaptation pass: the log likelihood at ``state``'s nodes and
    the posterior moments they give (as the engine's own adaptation pass)."""
    eng = pe.engine
    with np.errstate(all="ignore"):
        return eng._posterior_moments(beta, theta, state)


@guarded
def from_modes(pe: PartitionEngine, beta: np.ndarray, theta: np.ndarray, state: Any) -> Any:
    """The adaptation's fresh start: nodes at the modes, scaled by the curvature."""
    eng = pe.engine
    with np.errstate(all="ignore"):
        if eng.layout == "clusters":
            return eng.mode_curvature_state(beta, theta, state)
        return eng._mode_start(beta, theta, state)


@guarded
def carried(pe: PartitionEngine, theta: np.ndarray, state: Any) -> Any:
    """The nested engine's carried nodes, re-standardized at ``theta``."""
    return pe.engine._from_u(theta, state.m, state.R)


@guarded
def sound(pe: PartitionEngine, theta: np.ndarray, state: Any) -> bool:
    with np.errstate(all="ignore"):
        return bool(pe.engine._sound(theta, state))


@guarded
def derivatives(pe: PartitionEngine, beta: np.ndarray, theta: np.ndarray, state: Any) -> tuple:
    with np.errstate(all="ignore"):
        ev = pe.engine.derivatives(beta, theta, state)
    return float(ev.ll), ev.gradient, ev.hessian


@guarded
def cluster_scores(
    pe: PartitionEngine, beta: np.ndarray, theta: np.ndarray, state: Any
) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(all="ignore"):
        return pe.clusters, pe.engine.cluster_scores(beta, theta, state)


@guarded
def logit_value(pe: PartitionEngine, b: np.ndarray, constant_only: bool) -> float:
    with np.errstate(all="ignore"):
        return pe.logit(constant_only).value(b)


@guarded
def logit_derivatives(pe: PartitionEngine, b: np.ndarray, constant_only: bool) -> tuple:
    with np.errstate(all="ignore"):
        return pe.logit(constant_only).derivatives(b)


@guarded
def logit_irls(pe: PartitionEngine, constant_only: bool) -> tuple:
    """This bucket's share of the IRLS start's normal equations (``LogitObjective``'s)."""
    with np.errstate(all="ignore"):
        return pe.logit(constant_only).irls_equations()


def item(pair: tuple, i: int) -> Any:
    return pair[i]


def add(a: Any, b: Any) -> Any:
    """The sum of two partial results (numbers, arrays, or tuples of them)."""
    if isinstance(a, tuple):
        return tuple(add(x, y) for x, y in zip(a, b, strict=True))
    return a + b


def rows_of(pe: PartitionEngine) -> int:
    return pe.rows
