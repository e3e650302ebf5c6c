"""The arrays of a nested model: rows sorted by the level ids, units coded per level.

Level 0 is the highest level.  Because rows are sorted by all ids, the rows of a unit at
any level are one contiguous block, the units of a level that share a parent are
contiguous too, and every sum over a unit (or over the children of a unit) is one
``np.add.reduceat``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from melogit_cli.engine.quadrature.rows import chunk_slices


@dataclass
class Chunk:
    """A run of top-level units: their rows and their units at every level."""

    g0: int
    g1: int
    rows: slice
    units: list[slice]


@dataclass
class NestedData:
    """Rows sorted by the level ids; ``row_unit[l]`` is each row's unit at level ``l``."""

    layout: ClassVar[str] = "nested"
    y: np.ndarray
    trials: np.ndarray
    X: np.ndarray
    offset: np.ndarray
    obs_weight: np.ndarray
    Z: list[np.ndarray]  # per level: n x q_l
    row_unit: list[np.ndarray]  # per level: nondecreasing unit index 0..G_l-1
    unit_weight: list[np.ndarray]  # per level: one weight per unit (1 when none)
    n_units: list[int] = field(init=False)
    row_starts: list[np.ndarray] = field(init=False)  # per level: G_l + 1 row boundaries
    parent: list[np.ndarray] = field(init=False)  # per level >= 1: unit index one level up
    child_starts: list[np.ndarray] = field(init=False)  # per level < L-1: G_l + 1 boundaries
    first: list[np.ndarray] = field(init=False)  # per level: first unit of each top unit
    top_of_unit: list[np.ndarray] = field(init=False)

    def __post_init__(self) -> None:
        L = len(self.row_unit)
        self.n_units = [int(r[-1]) + 1 for r in self.row_unit]
        self.row_starts = [
            np.searchsorted(r, np.arange(G + 1))
            for r, G in zip(self.row_unit, self.n_units, strict=False)
        ]
        self.parent = [np.zeros(self.n_units[0], dtype=np.int64)] + [
            self.row_unit[lv - 1][self.row_starts[lv][:-1]] for lv in range(1, L)
        ]
        self.child_starts = [
            np.searchsorted(self.parent[lv + 1], np.arange(self.n_units[lv] + 1))
            for lv in range(L - 1)
        ]
        top_rows = self.row_starts[0][:-1]
        self.first = [
            np.append(r[top_rows], G) for r, G in zip(self.row_unit, self.n_units, strict=False)
        ]
        self.top_of_unit = [self.row_unit[0][rs[:-1]] for rs in self.row_starts]

    @property
    def n_clusters(self) -> int:
        return self.n_units[0]

    @property
    def cluster_weight(self) -> np.ndarray:
        return self.unit_weight[0]

    def row_weight(self) -> np.ndarray:
        """Each row's total weight: its own times those of all its units."""
        w = self.obs_weight.copy()
        for uw, ru in zip(self.unit_weight, self.row_unit, strict=False):
            w = w * uw[ru]
        return w

    def chunks(self, elements_per_row: int) -> Iterator[Chunk]:
        """Runs of top-level units with at most ``rows.CHUNK_ELEMENTS`` elements (rows x
        per-row size)."""
        for gs, rs in chunk_slices(self.row_starts[0], elements_per_row):
            units = [slice(int(f[gs.start]), int(f[gs.stop])) for f in self.first]
            yield Chunk(gs.start, gs.stop, rs, units)
