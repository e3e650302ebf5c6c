"""The grouping structure: clusters at each level, their random-effects columns."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from melogit_cli.data.dataset import Dataset
from melogit_cli.design.factors import REColumns
from melogit_cli.errors import StataError
from melogit_cli.syntax.spec import REEquation

DEFAULT_COVARIANCE = "independent"


@dataclass
class Block:
    """One random-effects equation within its level: covariance kind and its columns.

    An ``R.varname`` equation is an identity block of one effect per level of
    ``r_var`` within each cluster of its level: ``r_codes`` gives each sample row's
    level of ``r_var`` (0 .. ``r_levels`` - 1); its columns are not in ``Level.Z``.
    """

    kind: str
    names: list[str]
    r_var: str = ""
    r_codes: np.ndarray | None = None
    r_levels: int = 0
    restriction: tuple[str, str] | None = None  # ("fixed" | "pattern", matname)

    @property
    def is_r(self) -> bool:
        return bool(self.r_var)

    @property
    def dense_size(self) -> int:
        """Columns of the block as indicator columns (``R.``) or its own columns."""
        return self.r_levels if self.is_r else len(self.names)


@dataclass
class Level:
    """One level of the hierarchy (``_all`` is one cluster holding everything)."""

    name: str
    codes: np.ndarray  # cluster index of each sample row (nested within the level above)
    n_groups: int
    Z: np.ndarray  # sample rows x q (the ordinary blocks' columns; R. blocks have none)
    blocks: list[Block]
    cluster_weight: np.ndarray  # per cluster (1 when none)
    weight_type: str = ""
    weight_var: str = ""
    sizes: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))

    @property
    def re_names(self) -> list[str]:
        """Names of the columns of ``Z`` (the ordinary blocks)."""
        return [n for b in self.blocks if not b.is_r for n in b.names]

    @property
    def crossed(self) -> bool:
        return any(b.is_r for b in self.blocks)

    def dense_z(self) -> np.ndarray:
        """All random-effects columns in block order, ``R.`` blocks as indicators."""
        parts, j = [], 0
        n = len(self.codes)
        for b in self.blocks:
            if b.is_r:
                assert b.r_codes is not None
                ind = np.zeros((n, b.r_levels))
                ind[np.arange(n), b.r_codes] = 1.0
                parts.append(ind)
            else:
                k = len(b.names)
                parts.append(self.Z[:, j : j + k])
                j += k
        return np.column_stack(parts) if parts else np.zeros((n, 0))


@dataclass
class LevelStructure:
    """Levels from the highest down, and the row order that sorts the sample by them."""

    levels: list[Level]
    order: np.ndarray

    @property
    def names(self) -> list[str]:
        return [lv.name for lv in self.levels]

    @property
    def crossed(self) -> bool:
        """Any ``R.varname`` equation: a crossed random-effects model."""
        return any(lv.crossed for lv in self.levels)


def build_levels(
    equations: list[REEquation],
    re_columns: list[REColumns],
    ds: Dataset,
    rows: np.ndarray,
    obs_weight: np.ndarray,
) -> LevelStructure:
    """Group the equations by level (in order of first appearance) and code the clusters."""
    n = int(rows.sum())
    names: list[str] = []
    for eq in equations:
        if eq.level not in names:
            names.append(eq.level)
    keys: list[np.ndarray] = []
    levels: list[Level] = []
    for name in names:
        ids = np.zeros(n, dtype=np.int64) if name == "_all" else _integer_ids(ds, name, rows)
        keys.append(ids)
        # nested: a cluster is a combination of this level's id with every id above it
        codes = _combined_codes(keys)
        eqs = [
            (eq, cols) for eq, cols in zip(equations, re_columns, strict=False) if eq.level == name
        ]
        blocks, Zparts = level_blocks(eqs, ds, rows)
        G = int(codes.max()) + 1 if n else 0
        weight_type, weight_var, cw = _level_weights([eq for eq, _ in eqs], ds, rows, codes, G)
        sizes = np.bincount(codes, minlength=G)
        levels.append(
            Level(
                name=name,
                codes=codes,
                n_groups=G,
                Z=np.column_stack(Zparts) if Zparts else np.zeros((n, 0)),
                blocks=blocks,
                cluster_weight=cw,
                weight_type=weight_type,
                weight_var=weight_var,
                sizes=sizes,
            )
        )
    order = np.lexsort(tuple(reversed(keys))) if keys else np.arange(n)
    del obs_weight
    return LevelStructure(levels, order)


def level_blocks(
    eqs: list[tuple[REEquation, REColumns]], ds: Dataset, rows: np.ndarray
) -> tuple[list[Block], list[np.ndarray]]:
    """A level's covariance blocks and its ordinary blocks' columns (``cols.Z`` may hold
    no rows: the names and kinds are decided without them)."""
    n = int(rows.sum())
    blocks, Zparts = [], []
    for eq, cols in eqs:
        if eq.r_var is not None:
            r_var = _r_variable(ds, eq.r_var)
            r_codes = _integer_ids(ds, r_var, rows)
            K = int(r_codes.max()) + 1 if n else 0
            blocks.append(Block("identity", ["_cons"], r_var, r_codes, K))
            continue
        kind = _covariance_kind(eq)
        Zeq = cols.Z
        labels = list(cols.names)
        if not eq.noconstant:
            Zeq = np.column_stack([Zeq, np.ones(n)]) if Zeq.shape[1] else np.ones((n, 1))
            labels.append("_cons")
        if kind in ("exchangeable", "unstructured") and len(labels) < 2:
            kind = "independent" if kind == "unstructured" else kind
        restriction = None
        if eq.covariance is not None and eq.covariance.matname is not None:
            restriction = (eq.covariance.kind, eq.covariance.matname)
        blocks.append(Block(kind, labels, restriction=restriction))
        Zparts.append(Zeq.reshape(n, len(labels)))
    return blocks, Zparts


def _r_variable(ds: Dataset, pattern: str) -> str:
    from melogit_cli.design.varlist import resolve_pattern

    names = resolve_pattern(pattern, ds)
    if len(names) != 1:
        raise StataError("too many variables specified", 103)
    return names[0]


def _integer_ids(ds: Dataset, name: str, rows: np.ndarray) -> np.ndarray:
    col = ds.frame[name].to_numpy()[rows]
    _, inv = np.unique(
        col.astype(str) if ds.is_string(name) else col.astype(float), return_inverse=True
    )
    return inv.reshape(-1).astype(np.int64)


def _combined_codes(keys: list[np.ndarray]) -> np.ndarray:
    """Codes 0.. of the distinct rows of ``keys`` (non-negative integer ids), numbered
    in lexicographic order, as ``np.unique(axis=0)`` numbers them, one id at a time."""
    codes = keys[0]
    for ids in keys[1:]:
        # codes < n and ids < n after each step, so the product stays within int64
        combined = codes * (int(ids.max(initial=0)) + 1) + ids
        _, codes = np.unique(combined, return_inverse=True)
    _, codes = np.unique(codes, return_inverse=True)
    return codes.reshape(-1).astype(np.int64)


def _covariance_kind(eq: REEquation) -> str:
    if eq.covariance is None:
        return DEFAULT_COVARIANCE
    if eq.covariance.kind in ("fixed", "pattern"):
        return "unstructured"  # restricted by constraints on its elements (cns.py)
    return eq.covariance.kind


def level_weight(eqs: list[REEquation]) -> tuple[str, str]:
    """A level's ``fweight()``/``iweight()``/``pweight()``: kind and variable (or "")."""
    for eq in eqs:
        kinds = (("fweight", eq.fweight), ("iweight", eq.iweight), ("pweight", eq.pweight))
        for kind, var in kinds:
            if var:
                return kind, var
    return "", ""


def raise_bad_level_weights(
    kind: str, var: str, negative: bool, varies: bool, noninteger: bool
) -> None:
    """Stata's errors for a level's weights, in the order it checks them."""
    if negative:
        raise StataError("negative weights encountered", 402)
    if varies:
        raise StataError(f"{var} is not constant within groups of the level", 459)
    if kind == "fweight" and noninteger:
        raise StataError("may not use noninteger frequency weights", 401)


def _level_weights(
    eqs: list[REEquation], ds: Dataset, rows: np.ndarray, codes: np.ndarray, G: int
) -> tuple[str, str, np.ndarray]:
    """``fweight()``/``iweight()``/``pweight()`` of a level: constant within each cluster."""
    kind, var = level_weight(eqs)
    if not var:
        return "", "", np.ones(G)
    w = ds.frame[var].to_numpy(dtype=float)[rows]
    negative = bool(np.any(w < 0))
    first = np.full(G, np.nan)
    first[codes[::-1]] = w[::-1]
    raise_bad_level_weights(
        kind, var, negative, bool(not negative and np.any(w != first[codes])),
        bool(np.any(first != np.floor(first))),
    )
    return kind, var, first
