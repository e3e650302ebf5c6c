"""The arrays of the joint Laplace engine (crossed models, and every Laplace fit), apart
from the engine (which needs scipy.sparse).

Weights are those of the other engines: a row's ``obs_weight`` and a unit's level weight
count it as that many copies.  Level weights occur only in nested designs (crossed
models refuse weights), whose terms are the levels, highest first.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np

from melogit_cli.engine.model.covariance import LevelCovariance, NestedCovariance


@dataclass
class RETerm:
    """One set of random effects: ``q`` effects per group, covariance factor from ``cov``."""

    label: str
    group: np.ndarray  # each row's group, 0 .. n_groups - 1
    n_groups: int
    Z: np.ndarray  # n x q covariates (ones for an intercept or an R. indicator)
    cov: LevelCovariance
    theta_index: np.ndarray  # positions of this term's parameters in theta
    weight: np.ndarray | None = None  # per group: its level weight (None: one each)

    @property
    def q(self) -> int:
        return self.Z.shape[1]

    @property
    def size(self) -> int:
        return self.n_groups * self.q


@dataclass
class CrossedData:
    """The arrays of a crossed model (rows in the data's order) and its terms."""

    layout: ClassVar[str] = "crossed"
    y: np.ndarray
    trials: np.ndarray
    X: np.ndarray
    offset: np.ndarray
    obs_weight: np.ndarray
    terms: list[RETerm]

    @property
    def cluster_weight(self) -> np.ndarray:
        """The top-level clusters' (the first term's groups') weights."""
        top = self.terms[0]
        return np.ones(top.n_groups) if top.weight is None else top.weight

    def row_weight(self) -> np.ndarray:
        """Each row's copies: its own weight times those of all its units."""
        w = self.obs_weight
        for t in self.terms:
            if t.weight is not None:
                w = w * t.weight[t.group]
        return w

    def copies(self) -> list[np.ndarray] | None:
        """Per term, each group's copies: the product of its and its ancestors' weights
        (None without level weights)."""
        if all(t.weight is None for t in self.terms):
            return None
        out, running = [], np.ones(len(self.y))
        for t in self.terms:
            if t.weight is not None:
                running = running * t.weight[t.group]
            c = np.empty(t.n_groups)
            c[t.group] = running
            out.append(c)
        return out


def from_clusters(data, cov: LevelCovariance) -> tuple[CrossedData, NestedCovariance]:
    """A two-level model's arrays (``ClusterData``) as one term."""
    group = np.repeat(np.arange(data.n_clusters), data.sizes)
    index = np.arange(cov.n_params)
    term = RETerm("", group, data.n_clusters, data.Z, cov, index, data.cluster_weight)
    crossed = CrossedData(data.y, data.trials, data.X, data.offset, data.obs_weight, [term])
    return crossed, NestedCovariance((cov,))


def from_nested(data, cov: NestedCovariance) -> tuple[CrossedData, NestedCovariance]:
    """A nested model's arrays (``NestedData``) as one term per level."""
    index = np.arange(cov.n_params)
    levels = zip(cov.levels, cov.theta_slices(), data.unit_weight, strict=True)
    terms = [
        RETerm(str(lv), data.row_unit[lv], data.n_units[lv], data.Z[lv], level_cov, index[s], w)
        for lv, (level_cov, s, w) in enumerate(levels)
    ]
    return CrossedData(data.y, data.trials, data.X, data.offset, data.obs_weight, terms), cov


def collapse_identical_rows(data: CrossedData) -> CrossedData:
    """The rows of ``data`` with identical rows merged into one, weighted by their summed
    weights (in the order of their first occurrence); ``data`` itself when none repeat.

    Rows that agree in outcome, trials, offset, covariates and every term's group and
    ``Z`` have the same linear predictor at every mode, so each contributes its weight
    times the same term to the log integrand, its gradient and ``B'WB``: the merged data
    give the same likelihood and derivatives.  Categorical covariates in few groups
    repeat rows often (fifeschool's 3,435 rows are 722 distinct ones).
    """
    columns = [data.y, data.trials, data.offset, data.X]
    for term in data.terms:
        columns += [term.group, term.Z]
    key = np.column_stack(columns).astype(float)
    n = len(key)
    # sorted by a weighted sum of the columns (one float sort, not a sort on every
    # column), identical rows are adjacent; runs of identical rows are then found by
    # comparing neighbours, so two different rows that share a sum are never merged
    mix = np.sqrt(np.arange(2.0, key.shape[1] + 2.0))
    total = key[:, 0] * mix[0]
    for j in range(1, key.shape[1]):
        total += key[:, j] * mix[j]
    order = np.argsort(total, kind="stable")
    ordered = key[order]
    starts = np.ones(n, dtype=bool)
    starts[1:] = np.any(ordered[1:] != ordered[:-1], axis=1)
    n_distinct = int(np.count_nonzero(starts))
    if n_distinct == n:
        return data
    pattern = np.empty(n, dtype=np.int64)
    pattern[order] = np.cumsum(starts) - 1
    weight = np.bincount(pattern, data.obs_weight, minlength=n_distinct)
    first = np.sort(order[starts])  # each pattern's first row, in the data's order
    weight = weight[pattern[first]]
    terms = [replace(t, group=t.group[first], Z=t.Z[first]) for t in data.terms]
    return CrossedData(
        data.y[first], data.trials[first], data.X[first], data.offset[first], weight, terms
    )
