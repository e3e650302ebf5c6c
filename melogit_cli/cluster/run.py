"""One estimation on a Dask cluster.

1. The source is read lazily (only the model's columns); passes over its partitions give
   the statistics from which the in-memory design's own functions decide the estimation
   sample, the factor levels and bases, the omitted columns and the group counts
   (``cluster.design``): the printed output cannot differ.  The client holds the design's
   description and what is per top-level cluster, never the rows.
2. The source partitions are read again on the workers, their sample rows dealt into
   buckets by top-level cluster and each bucket turned once into the engine's arrays.
3. The fit runs here, each evaluation summed over the buckets (``cluster.engine``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from melogit_cli.cluster import require_dask
from melogit_cli.cluster.design import ClusterDesign
from melogit_cli.cluster.engine import DistributedData, gather
from melogit_cli.cluster.faults import remote_errors
from melogit_cli.cluster.partition import Plan
from melogit_cli.data.dataset import Dataset
from melogit_cli.design.build import Design
from melogit_cli.engine.events import EventSink, Iteration, ignore
from melogit_cli.errors import StataError
from melogit_cli.syntax.spec import ModelSpec

ROWS_PER_BUCKET = 1_000_000  # at most, roughly: a bucket's arrays are a few hundred MB
BUCKETS_PER_WORKER = 1
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_*?~-]*")


def read(data: Any) -> tuple[Any, dict]:
    """The source as a lazy Dask DataFrame, and what the in-memory loader would add
    (value labels of a .dta file)."""
    require_dask()
    import dask.dataframe as dd

    if isinstance(data, dd.DataFrame):
        return data, {}
    from melogit_cli.data.sources import resolve

    src = resolve(data)
    paths = [str(p) for p in src.paths]
    with remote_errors(), _unreadable(data):
        if src.kind == "parquet":
            return dd.read_parquet(paths), {}
        if src.kind == "csv":
            return (
                dd.read_csv(
                    paths, keep_default_na=False, na_values=["", "."], assume_missing=True
                ),
                {},
            )
    from melogit_cli.data.loaders import load_dta

    ds = load_dta(src.paths[0])  # a .dta file is read whole: it holds no partitions
    extra = {"value_labels": ds.value_labels, "label_names": ds.label_names}
    return dd.from_pandas(ds.frame.to_pandas(), npartitions=4, sort=False), extra


@contextmanager
def _unreadable(data: Any) -> Iterator[None]:
    """A reader's complaint about the data (parts whose types differ, a broken file) as
    Stata's r(610)."""
    try:
        yield
    except (ValueError, TypeError) as err:
        name = "the Dask DataFrame" if hasattr(data, "dask") else f"file {data}"
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise StataError(f"{name} could not be read as one data set ({first})", 610) from None


def default_client() -> Any:
    """The Dask client this process made last (r(198) when there is none)."""
    require_dask()
    from distributed import default_client as current

    try:
        return current()
    except ValueError:
        raise StataError(
            "a Dask DataFrame needs a Dask client: fit(..., client=Client(...))", 198
        ) from None


def model_columns(command: str, names: list[str]) -> list[str]:
    """The source's columns the command can name (as variables, abbreviations or
    wildcards, in the model, ``if``, weights and options): only these are read."""
    from melogit_cli.design.varlist import resolve_pattern

    wanted: set[str] = set()
    for token in set(_NAME.findall(command)):
        try:
            wanted.update(resolve_pattern(token, names))
        except StataError:
            continue
    return [n for n in names if n in wanted]


def fit_on_cluster(
    spec: ModelSpec,
    data: Any,
    client: Any,
    sink: EventSink = ignore,
    progress: EventSink = ignore,
    constraints: dict[int, str] | None = None,
    matrices: dict | None = None,
) -> tuple[Any, None]:
    """Fit ``spec`` on ``data`` (a path, glob or Dask DataFrame) through ``client``;
    returns the Estimation and ``None``: no data set is held here (its design has no
    rows and no e(sample), so predictions after the fit are not available)."""
    from melogit_cli.cluster.design import Passes, build_on_cluster
    from melogit_cli.data.loaders import load_frame
    from melogit_cli.estimate import estimate

    ddf, extra = read(data)
    columns = model_columns(spec.cmdline or "", [str(c) for c in ddf.columns])
    source = ddf[columns] if columns else ddf
    source = _common_categories(source, client, lambda: _unreadable(data))
    parts = source.to_delayed()
    schema = load_frame(source._meta)  # the columns and their types, no rows
    schema.source = str(data) if not hasattr(data, "dask") else "<Dask DataFrame>"
    for key, value in extra.items():
        setattr(schema, key, {k: v for k, v in value.items() if k in schema.varnames})
    passes = Passes(parts, client, lambda: _unreadable(data))
    built: list[Any] = []
    kept: list[DistributedData] = []

    def design(spec: ModelSpec, ds: Dataset) -> Design:
        built.append(build_on_cluster(spec, ds, passes))
        return built[-1].design

    def arrays(design: Design) -> tuple[DistributedData, Any]:
        data, cov = distribute(built[-1], parts, client)
        kept.append(data)
        return data, cov

    est = estimate(
        spec, schema, sink, _timed(progress, kept), constraints, matrices, arrays=arrays,
        build=design,
    )
    return est, None


def _common_categories(source: Any, client: Any, reading: Any) -> Any:
    """``source`` with each categorical column given the same categories in every
    partition: the partitions' own, in turn, each new one appended after those already
    seen.  Dask reads a Parquet dictionary column with each partition's categories
    (their order as that file stored them), and every partition codes its categories in
    their order, so without this one category would get different codes in different
    partitions.  The order is the one pyarrow gives when the in-memory loader joins the
    files, so both fits code the categories alike."""
    import pandas as pd

    from melogit_cli.cluster.design import Passes

    unknown = [
        c
        for c, dtype in source.dtypes.items()
        if isinstance(dtype, pd.CategoricalDtype) and not source[c].cat.known
    ]
    if not unknown:
        return source
    found = Passes(source[unknown].to_delayed(), client, reading).run(_categories, unknown)
    common = {
        c: list(dict.fromkeys(v for part in found for v in part[k])) for k, c in enumerate(unknown)
    }
    return source.assign(**{c: source[c].cat.set_categories(common[c]) for c in unknown})


def _categories(part: Any, index: int, columns: list[str]) -> list[list[Any]]:
    """A partition's categories of each of ``columns``, in its order."""
    del index
    return [list(part[c].cat.categories) for c in columns]


def _timed(progress: EventSink, kept: list[DistributedData]) -> EventSink:
    """``progress`` told, at each iteration, how long the workers took for the last one
    (the status line shows it as its ``note``)."""
    if progress is ignore:
        return progress
    last = [0.0]

    def sink(event: Any) -> None:
        if isinstance(event, Iteration) and kept and hasattr(progress, "note"):
            busy = kept[0].busy
            progress.note = f"cluster {busy - last[0]:.1f}s/iteration"  # type: ignore[attr-defined]
            last[0] = busy
        progress(event)

    return sink


def distribute(
    cd: ClusterDesign, parts: list[Any], client: Any
) -> tuple[DistributedData, Any]:
    """The engine's arrays as buckets of top-level clusters on the workers."""
    import dask

    from melogit_cli.cluster import partition
    from melogit_cli.engine.integration import Integration
    from melogit_cli.engine.model.covariance import NestedCovariance
    from melogit_cli.estimate import integration, level_covariance

    design = cd.design
    spec = design.spec
    levels = design.levels.levels
    if spec.options.dnumerical:
        raise StataError("option dnumerical not allowed with a fit on a cluster", 198)
    inner = "clusters" if len(levels) == 1 else "nested"
    cov = (
        level_covariance(levels[0])
        if inner == "clusters"
        else NestedCovariance(tuple(level_covariance(lv) for lv in levels))
    )
    computed = Integration.of(*integration(spec.options))
    top = levels[0].name
    n_workers = max(1, len(client.scheduler_info().get("workers", {})))
    buckets = min(
        levels[0].n_groups,
        max(BUCKETS_PER_WORKER * n_workers, math.ceil(design.n_rows / ROWS_PER_BUCKET)),
    )
    plan = Plan(
        rule=cd.rule,
        top=top,
        top_ids=cd.top_ids if top != "_all" else np.zeros(0),
        buckets=buckets,
        layout=inner,
        method=computed.method,
        points=computed.points,
        cov=cov,
        fixed=[c for c, k in zip(design.fixed.columns, design.fixed.keep, strict=True) if k],
        equations=cd.equations,
        re_columns=cd.re_columns,
    )
    plan_d = dask.delayed(plan, pure=False)
    # each split's buckets are separate results, so that a bucket's worker fetches only
    # its own rows of every source partition
    splits = [
        dask.delayed(partition.split, pure=False, nout=buckets)(d, i, plan_d)
        for i, d in enumerate(parts)
    ]
    built = [
        dask.delayed(partition.build, pure=False)(plan_d, *[s[b] for s in splits])
        for b in range(buckets)
    ]
    engines = client.compute(built)
    rows = gather(client, [client.submit(partition.rows_of, e, pure=False) for e in engines])
    if sum(rows) != design.n_rows:
        raise StataError(
            f"the data changed while it was read: {sum(rows)} observations in the "
            f"partitions, {design.n_rows} in the estimation sample",
            459,
        )
    data = DistributedData(
        client=client,
        engines=engines,
        inner=inner,
        p=int(design.fixed.keep.sum()),
        cluster_weight=levels[0].cluster_weight,
    )
    return data, cov

