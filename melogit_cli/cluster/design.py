"""The design of a fit on a cluster, decided by passes over the source partitions.

Each pass runs one function of this module on every source partition (a chunk of the
data set), which returns statistics that add up over the chunks; the client adds them
and decides with the in-memory design's own functions (design/): the same sample, factor
levels and bases, empty, collinear and perfect-predictor columns, notes and errors, in
the same order.  The client keeps only the design's description and what is per
top-level cluster (ids, weights); the rows stay in the source.

The passes:

1. the sample before the factors (``if``/``in``, listwise deletion, zero weights), the
   outcome, weight and trials checks, and each factor variable's levels (``in`` first
   needs the partitions' lengths: one more pass);
2. the fixed-effects columns: their cross products, column sums, cell counts and ranges
   among successes and failures (collinearity, empty cells, perfect prediction); a
   perfect predictor restricts the sample and the pass runs again;
3. on the final sample: the random-effects varlists' factor levels and the groups of
   the levels (sizes, level weights, ``vce(cluster)`` variable), one row per group of
   the lowest level; then, when the random-effects equations have variables, their
   columns' cross products.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from melogit_cli.cluster.faults import remote_errors
from melogit_cli.cluster.partition import _as_dataset, _ids, column_values, guarded
from melogit_cli.data.dataset import Dataset
from melogit_cli.design.build import (
    Design,
    ModelVariables,
    _normalize_equations,
    _resolved,
    binomial_flags,
    complete_rows,
    family_of,
    model_outcome,
    model_variables,
    outcome_and_trials,
    raise_bad_outcome,
    raise_bad_weights,
    weight_flags,
)
from melogit_cli.design.factors import (
    Built,
    ColumnInfo,
    Cross,
    Layout,
    LevelCounts,
    TermInfo,
    _check_types,
    built_from,
    collinear_in,
    factor_variables,
    fixed_columns,
    layout,
    re_columns,
    resolve_terms,
)
from melogit_cli.design.levels import (
    Level,
    LevelStructure,
    _combined_codes,
    level_blocks,
    level_weight,
    raise_bad_level_weights,
)
from melogit_cli.design.perfect import _ranges, check_outcome_counts, perfect_predictors
from melogit_cli.design.sample import apply_if_in
from melogit_cli.errors import StataError, no_observations
from melogit_cli.syntax.spec import ModelSpec, REEquation

CROSSED = (
    "crossed random effects (R.varname) cannot be fitted on a cluster: their "
    "clusters do not split into independent parts; fit the model in memory"
)


# ----------------------------------------------------------------------- the sample


@dataclass
class Rule:
    """Which rows of a source partition are in the estimation sample: ``if``/``in``,
    listwise deletion, zero weights, and the perfect predictors' restrictions (``kept``:
    a column and the one value its rows keep)."""

    spec: ModelSpec
    names: ModelVariables
    offsets: list[int] | None = None  # first row of each partition (needed by ``in``)
    total: int | None = None
    kept: list[tuple[ColumnInfo, float]] = field(default_factory=list)

    def complete(self, ds: Dataset, part: int) -> tuple[np.ndarray, np.ndarray | None]:
        """The rows before zero weights leave, and the weights' values."""
        offset = self.offsets[part] if self.offsets is not None else 0
        rows = apply_if_in(self.spec, ds, offset, self.total)
        return complete_rows(self.spec, self.names, ds, rows)

    def rows(self, ds: Dataset, part: int) -> np.ndarray:
        """The partition's rows in the estimation sample."""
        return self.sample(ds, part)[0]

    def sample(self, ds: Dataset, part: int) -> tuple[np.ndarray, np.ndarray | None]:
        """The partition's rows in the estimation sample, and the weights' values."""
        rows, weights = self.complete(ds, part)
        if weights is not None:
            rows &= weights != 0
        for info, value in self.kept:
            rows &= column_values(info, ds) == value
        return rows, weights


def _numeric(ds: Dataset, names: list[str]) -> list[str]:
    return [v for v in names if v in ds.varnames and not ds.is_string(v)]


@guarded
def sample_pass(frame: Any, part: int, rule: Rule, factors: list[str]) -> dict:
    """Pass 1 on one partition: its length, the sample's counts and checks, and the
    levels of each factor variable in the sample."""
    ds = _as_dataset(frame)
    spec = rule.spec
    rows, weights = rule.complete(ds, part)
    out: dict[str, Any] = {"length": ds.nobs, "complete": int(rows.sum())}
    y, trials = outcome_and_trials(spec, rule.names, ds, rows)
    if spec.options.binomial is not None:
        out["outcome"] = binomial_flags(y, trials)
    w = np.ones(len(y))
    if weights is not None and spec.weight is not None:
        w = weights[rows]
        out["weights"] = weight_flags(w, spec.weight.kind)
        keep = w != 0
        rows[np.flatnonzero(rows)[~keep]] = False
        y, w = y[keep], w[keep]
    out["n"], out["weight_sum"] = int(rows.sum()), float(w.sum())
    out["successes"] = int(np.count_nonzero(y))
    out["levels"] = {
        v: LevelCounts.of(ds.frame[v].to_numpy(dtype=float)[rows]) for v in _numeric(ds, factors)
    }
    return out


@guarded
def columns_pass(frame: Any, part: int, rule: Rule, columns: list[ColumnInfo],
                 zero: np.ndarray) -> dict:
    """Pass 2 on one partition: the columns' statistics on its sample rows (``zero``:
    base columns, zero as in memory)."""
    ds = _as_dataset(frame)
    rows = rule.rows(ds, part)
    sub = _subset(ds, rows)
    x = _matrix(columns, sub, zero)
    y, _ = outcome_and_trials(rule.spec, rule.names, ds, rows)
    success = y != 0
    return {
        "cross": Cross.of(x),
        "cells": _cell_counts(columns, sub),
        "ranges": _ranges(x, np.ones(len(success), dtype=bool), success),
        "successes": int(success.sum()),
        "n": int(rows.sum()),
    }


def _subset(ds: Dataset, rows: np.ndarray) -> Dataset:
    from melogit_cli.data.columns import Columns

    return Dataset(frame=Columns({v: ds.frame[v].to_numpy()[rows] for v in ds.varnames}))


def _matrix(columns: list[ColumnInfo], ds: Dataset, zero: np.ndarray) -> np.ndarray:
    x = np.zeros((ds.nobs, len(columns)))
    for j, info in enumerate(columns):
        if not zero[j]:
            x[:, j] = column_values(info, ds)
    return x


def _cell_counts(columns: list[ColumnInfo], ds: Dataset) -> np.ndarray:
    """Observations of each column's cell (its factors at their levels)."""
    out = np.zeros(len(columns), dtype=np.int64)
    for j, info in enumerate(columns):
        hit = np.ones(ds.nobs, dtype=bool)
        for p in info.parts:
            if p.level is not None:
                hit &= ds.frame[p.var].to_numpy(dtype=float) == p.level
        out[j] = int(hit.sum())
    return out


@dataclass
class GroupRequest:
    """What pass 3 reads of the final sample: the levels' variables (highest first),
    each level's weight variable, the ``vce(cluster)`` variable and the random-effects
    factor variables."""

    levels: list[str]
    weights: list[str]
    clustvar: str
    factors: list[str]


@guarded
def groups_pass(frame: Any, part: int, rule: Rule, req: GroupRequest) -> dict:
    """Pass 3 on one partition: one row per group of the lowest level (its ids, size,
    the range of each level's weight and of the ``vce(cluster)`` variable), and the
    random-effects factor variables' levels."""
    import pandas as pd

    ds = _as_dataset(frame)
    rows = rule.rows(ds, part)
    n = int(rows.sum())
    table: dict[str, Any] = {}
    for k, name in enumerate(req.levels):
        table[f"k{k}"] = np.zeros(n) if name == "_all" else _ids(ds, name)[rows]
    keys = list(table)
    aggs: dict[str, tuple[str, str]] = {"size": ("size", "sum")}
    table["size"] = np.ones(n, dtype=np.int64)
    for k, var in enumerate(req.weights):
        if var:
            table[f"w{k}"] = ds.frame[var].to_numpy(dtype=float)[rows]
            aggs[f"wmin{k}"], aggs[f"wmax{k}"] = (f"w{k}", "min"), (f"w{k}", "max")
    missing = False
    if req.clustvar:
        c = _ids(ds, req.clustvar)[rows]
        missing = bool(np.any(c == "")) if c.dtype.kind in "OU" else bool(np.any(np.isnan(c)))
        table["c"] = c
        aggs["cmin"], aggs["cmax"] = ("c", "min"), ("c", "max")
    frame_ = pd.DataFrame(table)
    grouped = frame_.groupby(keys, sort=False).agg(**aggs).reset_index()
    return {
        "groups": grouped,
        "missing": missing,
        "levels": {
            v: LevelCounts.of(ds.frame[v].to_numpy(dtype=float)[rows])
            for v in _numeric(ds, req.factors)
        },
    }


@guarded
def re_pass(frame: Any, part: int, rule: Rule, columns: list[list[ColumnInfo]],
            zeros: list[np.ndarray]) -> list[tuple[Cross, np.ndarray]]:
    """Pass 4 on one partition: each random-effects varlist's columns' statistics."""
    ds = _as_dataset(frame)
    sub = _subset(ds, rule.rows(ds, part))
    return [
        (Cross.of(_matrix(cols, sub, zero)), _cell_counts(cols, sub))
        for cols, zero in zip(columns, zeros, strict=True)
    ]


# ----------------------------------------------------------------------- the client


def _levels_of(results: list[dict]) -> dict[str, LevelCounts]:
    out: dict[str, LevelCounts] = {}
    for r in results:
        for v, counts in r["levels"].items():
            out[v] = out[v].plus(counts) if v in out else counts
    return out


class Passes:
    """Runs a pass on every source partition and gathers the partitions' results."""

    def __init__(self, parts: list[Any], client: Any, reading: Any) -> None:
        self.parts, self.client, self.reading = parts, client, reading

    def run(self, fn: Any, *args: Any) -> list[Any]:
        import dask

        shared = [dask.delayed(a, pure=False) for a in args]
        tasks = [dask.delayed(fn, pure=False)(p, i, *shared) for i, p in enumerate(self.parts)]
        with remote_errors(), self.reading():
            return self.client.gather(self.client.compute(tasks))

    def lengths(self) -> list[int]:
        return self.run(_length)


def _length(frame: Any, part: int) -> int:
    return len(frame)


class ClusterSample:
    """The perfect-prediction check's :class:`~melogit_cli.design.perfect.Sample` over the
    partitions: a restriction adds to the rule and runs pass 2 again."""

    def __init__(self, passes: Passes, rule: Rule, columns: list[ColumnInfo],
                 zero: np.ndarray, first: dict) -> None:
        self.passes, self.rule, self.columns, self.zero = passes, rule, columns, zero
        self.stats = first

    def ranges(self) -> np.ndarray:
        return self.stats["ranges"]

    def outcome(self) -> tuple[int, int]:
        return self.stats["successes"], self.stats["n"] - self.stats["successes"]

    def collinear(self, candidates: np.ndarray, constant: bool) -> np.ndarray:
        return collinear_in(self.stats["cross"], candidates, constant)

    def keep_equal(self, column: int, value: float) -> int:
        before = self.stats["n"]
        self.rule.kept.append((self.columns[column], value))
        self.stats = columns_stats(self.passes, self.rule, self.columns, self.zero)
        return before - self.stats["n"]


def columns_stats(passes: Passes, rule: Rule, columns: list[ColumnInfo],
                  zero: np.ndarray) -> dict:
    """Pass 2, added up over the partitions."""
    results = passes.run(columns_pass, rule, columns, zero)
    first = results[0]
    out = {k: first[k] for k in first}
    for r in results[1:]:
        out["cross"] = out["cross"].plus(r["cross"])
        out["cells"] = out["cells"] + r["cells"]
        out["ranges"] = np.vstack(
            [
                np.minimum(out["ranges"][0], r["ranges"][0]),
                np.maximum(out["ranges"][1], r["ranges"][1]),
                np.minimum(out["ranges"][2], r["ranges"][2]),
                np.maximum(out["ranges"][3], r["ranges"][3]),
            ]
        )
        out["successes"] += r["successes"]
        out["n"] += r["n"]
    return out


@dataclass
class ClusterDesign:
    """The design, and what the workers need beyond it to find the sample's rows."""

    design: Design
    rule: Rule
    top_ids: np.ndarray
    equations: list[REEquation]  # named in full, Stata's constants rule applied
    re_columns: list[list[ColumnInfo]]


def positional(expr: Any) -> str | None:
    """What in ``expr`` reads other rows or the rows' order (``_n``, ``_N``, ``x[...]``,
    ``sum()``): evaluated partition by partition it would not give the whole's values."""
    from melogit_cli.syntax.expr import Call, Subscript, Var

    if isinstance(expr, Var) and expr.name in ("_n", "_N"):
        return expr.name
    if isinstance(expr, Subscript):
        return "subscript"
    if isinstance(expr, Call) and expr.name == "sum":
        return "sum()"
    if hasattr(expr, "__dataclass_fields__"):
        for name in expr.__dataclass_fields__:
            value = getattr(expr, name)
            for item in value if isinstance(value, tuple) else (value,):
                found = positional(item)
                if found:
                    return found
    return None


def build_on_cluster(spec: ModelSpec, schema: Dataset, passes: Passes) -> ClusterDesign:
    """The design of ``spec`` as :func:`~melogit_cli.design.build.build_design` decides it
    in memory, from passes over the partitions (``schema``: the data's columns, no rows)."""
    if any(eq.r_var is not None for eq in spec.re_equations):
        raise StataError(CROSSED, 198)
    for expr in (spec.if_expr, spec.weight.expr if spec.weight is not None else None):
        found = positional(expr)
        if found:
            raise StataError(f"{found} not allowed in if or weights of a fit on a cluster "
                             "(its rows are split among partitions)", 198)
    depvar = model_outcome(spec, schema)
    total = None
    offsets = None
    if spec.in_range is not None:
        lengths = passes.lengths()
        total = int(sum(lengths))
        offsets = _starts(lengths)
    # the errors the in-memory code raises before reading any value
    apply_if_in(spec, schema, 0, total)
    names = model_variables(spec, schema, depvar)
    complete_rows(spec, names, schema, np.zeros(0, dtype=bool))
    rule = Rule(spec, names, offsets, total)
    infos = resolve_terms(spec.fixed, schema)
    first = passes.run(sample_pass, rule, factor_variables(infos))
    if rule.offsets is None:
        rule.offsets = _starts([r["length"] for r in first])
    if sum(r["complete"] for r in first) == 0:
        raise no_observations()
    family, binomial_text = family_of(spec, names)
    if family == "binomial":
        raise_bad_outcome(tuple(any(r["outcome"][i] for r in first) for i in range(3)))
    weight_type = weight_text = ""
    if spec.weight is not None:
        weight_type, weight_text = spec.weight.kind, spec.weight.text
        raise_bad_weights(tuple(any(r["weights"][i] for r in first) for i in range(2)))
    n = sum(r["n"] for r in first)
    if n == 0:
        raise no_observations()
    successes = sum(r["successes"] for r in first)
    if family == "bernoulli":
        check_outcome_counts(successes, n - successes)

    # the fixed effects: expand_terms's decisions
    _check_types(infos, schema)
    constant = not spec.noconstant
    built, cols_stats = _built(passes, rule, infos, _levels_of(first), constant)
    fixed = fixed_columns(
        infos, built, np.zeros(0, dtype=bool), constant, spec.options.collinear,
        spec.options.emptycells == "drop", cols_stats["cross"],
    )
    if family == "bernoulli" and not spec.asis:
        keep = _kept_columns(built, spec.options.emptycells == "drop")
        columns = [c for c, k in zip(built.columns, keep, strict=True) if k]
        sample = ClusterSample(passes, rule, columns, fixed.base, _taken(cols_stats, keep))
        omitted, empty, reasons, notes = perfect_predictors(
            fixed, sample, collinear=spec.options.collinear
        )
        fixed = replace(fixed, omitted=omitted, empty=empty, reasons=reasons,
                        notes=list(fixed.notes) + notes)
        n = sample.stats["n"]

    # the random effects and the levels, on the final sample
    equations = _normalize_equations([_resolved(eq, schema) for eq in spec.re_equations])
    re_infos = [resolve_terms(eq.terms, schema) for eq in equations]
    for ri in re_infos:
        _check_types(ri, schema)
    level_names = list(dict.fromkeys(eq.level for eq in equations))
    level_eqs = [[eq for eq in equations if eq.level == name] for name in level_names]
    clustvar = ""
    if spec.options.vce == "cluster" and spec.options.vce_clustvar:
        from melogit_cli.design.varlist import resolve_one

        try:
            clustvar = resolve_one(spec.options.vce_clustvar, schema)
        except StataError:
            clustvar = ""  # estimate raises it where the in-memory fit does
    req = GroupRequest(
        levels=level_names,
        weights=[level_weight(eqs)[1] for eqs in level_eqs],
        clustvar=clustvar,
        factors=[v for ri in re_infos for v in factor_variables(ri)],
    )
    third = passes.run(groups_pass, rule, req)
    re_levels = _levels_of(third)
    re_cols = _re_columns(passes, rule, equations, re_infos, re_levels)
    groups = _combined_groups([r["groups"] for r in third], len(level_names))
    levels, top_ids = _levels(equations, re_cols, level_names, level_eqs, groups, schema)
    weight_sum = sum(r["weight_sum"] for r in first) if not rule.kept else float("nan")
    if weight_type == "fweight" and rule.kept:
        weight_sum = _weight_sum(passes, rule)
    design = Design(
        spec=spec,
        depvar=depvar,
        sample=np.zeros(0, dtype=bool),
        y=np.zeros(0),
        trials=np.zeros(0),
        fixed=fixed,
        offset=np.zeros(0),
        obs_weight=np.zeros(0),
        weight_type=weight_type,
        weight_text=weight_text,
        levels=LevelStructure(levels, np.zeros(0, dtype=np.int64)),
        family=family,
        binomial_text=binomial_text,
        offset_var=names.offset_var,
        notes=list(fixed.notes) + [note for cols in re_cols for note in cols.notes],
        value_labels=dict(schema.value_labels),
        rows=int(n),
        weight_sum=weight_sum,
        robust_groups=_robust(groups, any(r["missing"] for r in third), clustvar)
        if clustvar else None,
    )
    return ClusterDesign(
        design, rule, top_ids, equations, [c.columns for c in re_cols]
    )


def _starts(lengths: list[int]) -> list[int]:
    """The first row of each partition."""
    return [int(v) for v in np.cumsum([0] + lengths[:-1])]


def _built(passes: Passes, rule: Rule, infos: list[TermInfo],
           levels: dict[str, LevelCounts], constant: bool) -> tuple[Built, dict]:
    """The fixed-effects cells (pass 1's levels) and their statistics (pass 2)."""
    lay, columns, zero = _cells(infos, levels, constant)
    stats = columns_stats(passes, rule, columns, zero)
    counts = stats["cells"][: len(lay.columns)]
    built = built_from(lay, counts, constant, np.zeros((0, len(columns))))
    return built, stats


def _cells(infos: list[TermInfo], levels: dict[str, LevelCounts],
           constant: bool) -> tuple[Layout, list[ColumnInfo], np.ndarray]:
    """The cells of ``infos`` given the passes' factor levels: their layout, the columns
    with the constant, and which columns are zero (base columns, as in memory)."""
    none = LevelCounts(np.zeros(0), np.zeros(0, dtype=np.int64), False, False)
    found = {v: levels.get(v, none).levels(v) for v in factor_variables(infos)}
    lay = layout(infos, found, constant)
    columns = list(lay.columns) + ([ColumnInfo(-1, ())] if constant else [])
    zero = np.array(list(lay.base) + [False] * int(constant), dtype=bool)
    return lay, columns, zero


def _kept_columns(built: Built, drop_empty: bool) -> np.ndarray:
    return ~built.empty if drop_empty else np.ones(len(built.columns), dtype=bool)


def _taken(stats: dict, keep: np.ndarray) -> dict:
    out = dict(stats)
    out["cross"] = stats["cross"].take(keep)
    out["ranges"] = stats["ranges"][:, keep]
    out["cells"] = stats["cells"][keep]
    return out


def _re_columns(passes: Passes, rule: Rule, equations: list, re_infos: list[list[TermInfo]],
                levels: dict[str, LevelCounts]) -> list:
    """Each random-effects varlist's columns, as expand_re_terms decides them."""
    lays, all_cols, zeros = [], [], []
    for eq, infos in zip(equations, re_infos, strict=True):
        lay, cols, zero = _cells(infos, levels, not eq.noconstant)
        lays.append(lay)
        all_cols.append(cols)
        zeros.append(zero)
    stats: list[tuple[Cross, np.ndarray]] | None = None
    if any(lay.columns for lay in lays):
        per_part = passes.run(re_pass, rule, all_cols, zeros)
        stats = per_part[0]
        for r in per_part[1:]:
            stats = [(a.plus(c), b + d) for (a, b), (c, d) in zip(stats, r, strict=True)]
    out = []
    for i, (eq, infos, lay) in enumerate(zip(equations, re_infos, lays, strict=True)):
        constant = not eq.noconstant
        p = len(all_cols[i])
        cross = stats[i][0] if stats else Cross(np.zeros((p, p)), np.zeros(p), 0)
        counts = stats[i][1][: len(lay.columns)] if stats else np.zeros(len(lay.columns))
        built = built_from(lay, counts, constant, np.zeros((0, p)))
        out.append(re_columns(infos, built, np.zeros(0, dtype=bool), constant, cross))
    return out


def _combined_groups(tables: list[Any], k: int) -> Any:
    """The partitions' group tables as one (a group may span partitions)."""
    import pandas as pd

    keys = [f"k{i}" for i in range(k)]
    table = pd.concat(tables, ignore_index=True)
    aggs: dict[str, tuple[str, str]] = {"size": ("size", "sum")}
    for c in table.columns:
        if c.startswith(("wmin", "cmin")):
            aggs[c] = (c, "min")
        elif c.startswith(("wmax", "cmax")):
            aggs[c] = (c, "max")
    return table.groupby(keys, sort=False).agg(**aggs).reset_index()


def _distinct(table: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The sorted distinct ids of level ``k`` in the groups' table, and each group's
    index among them (numbered as in memory)."""
    col = table[f"k{k}"].to_numpy()
    values, inv = np.unique(col.astype(str) if col.dtype == object else col.astype(float),
                            return_inverse=True)
    return values, inv.reshape(-1).astype(np.int64)


def _levels(equations: list, re_cols: list, names: list[str], level_eqs: list[list],
            table: Any, schema: Dataset) -> tuple[list[Level], np.ndarray]:
    """The levels from the groups' table: as build_levels, without the rows."""
    levels = []
    distinct = [_distinct(table, k) for k in range(len(names))]
    keys = [key for _, key in distinct]
    size = table["size"].to_numpy()
    for k, name in enumerate(names):
        # nested: a cluster is a combination of this level's id with every id above it
        codes = _combined_codes(keys[: k + 1])
        G = int(codes.max()) + 1 if codes.size else 0
        sizes = np.bincount(codes, weights=size, minlength=G).astype(np.int64)
        eqs = [(eq, cols) for eq, cols in zip(equations, re_cols, strict=False)
               if eq.level == name]
        blocks, zparts = level_blocks(eqs, schema, np.zeros(0, dtype=bool))
        kind, var = level_weight(level_eqs[k])
        weight = np.ones(G) if k == 0 else np.zeros(0)
        if var:
            lo = np.full(G, np.inf)
            hi = np.full(G, -np.inf)
            np.minimum.at(lo, codes, table[f"wmin{k}"].to_numpy())
            np.maximum.at(hi, codes, table[f"wmax{k}"].to_numpy())
            negative = bool(np.any(lo < 0))
            raise_bad_level_weights(kind, var, negative, bool(np.any(lo != hi)),
                                    bool(np.any(lo != np.floor(lo))))
            if k == 0:
                weight = lo
        levels.append(
            Level(
                name=name,
                codes=np.zeros(0, dtype=np.int64),
                n_groups=G,
                Z=np.column_stack(zparts) if zparts else np.zeros((0, 0)),
                blocks=blocks,
                cluster_weight=weight,
                weight_type=kind,
                weight_var=var,
                sizes=sizes,
            )
        )
    return levels, distinct[0][0]


def _robust(table: Any, missing: bool, clustvar: str) -> Any:
    """``vce(cluster clustvar)``'s group of each top-level cluster, with the in-memory
    errors (raised when the variance is computed, as in memory)."""
    import pandas as pd

    def groups() -> np.ndarray:
        if missing:
            raise StataError(f"missing values in {clustvar} not allowed", 459)
        _, codes = _distinct(table, 0)
        top = pd.DataFrame({"g": codes, "lo": table["cmin"], "hi": table["cmax"]})
        per = top.groupby("g", sort=True).agg(lo=("lo", "min"), hi=("hi", "max"))
        if not (per["lo"] == per["hi"]).all():
            raise StataError(f"highest-level groups are not nested within {clustvar}", 459)
        values = per["lo"].to_numpy()
        values = values.astype(str) if values.dtype == object else values.astype(float)
        _, cluster = np.unique(values, return_inverse=True)
        return cluster.reshape(-1)

    return groups


@guarded
def _weight_pass(frame: Any, part: int, rule: Rule) -> float:
    ds = _as_dataset(frame)
    rows, weights = rule.sample(ds, part)
    return float(weights[rows].sum()) if weights is not None else float(rows.sum())


def _weight_sum(passes: Passes, rule: Rule) -> float:
    """The frequency weights' sum on the final sample (after perfect predictors)."""
    return float(sum(passes.run(_weight_pass, rule)))
