"""Factor-variable terms -> design columns, named and selected as Stata does.

Rules (Stata's factor-variable machinery and ``_rmcoll``):

* A factor takes nonnegative integer values; its levels are those seen in the
  estimation sample.  The default base is the lowest level; ``ib#.``,
  ``ib(first|last|freq).`` choose another, ``ibn.`` none.
* In a main effect the base always applies (with or without a constant).  In an
  interaction a factor's base applies only when the term without that factor is
  also in the model (``i.a##c.x`` has ``0b.a#co.x``; ``i.a#c.x`` alone has one
  slope per level).  A pure factor interaction that gets no base this way, in a
  model with a constant, has its all-base cell as the base.
* A cell is a base cell when one of its factors sits at an applied base level;
  base factors are marked ``b`` and the cell's other parts ``o``
  (``0b.foreign#2o.rep78``, ``0b.urban#co.age``).  Empty cells and collinear
  columns get ``o`` on every part (``1o.foreign#2o.rep78``, ``o.age``).
* ``ibn.`` marks the default-base level ``bn`` (``0bn.urban``).
* Collinearity is checked in column order against the kept earlier columns and
  the constant; later columns are the ones omitted.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace

import numpy as np

from melogit_cli.data.dataset import Dataset
from melogit_cli.design.varlist import resolve_pattern
from melogit_cli.errors import StataError
from melogit_cli.syntax.spec import BaseSpec, Factor, Term

RMCOLL_TOL = 1e-10  # residual sum of squares relative to the column's own


# ---------------------------------------------------------------------------
# Data structures
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ResolvedFactor:
    """One variable of a resolved term: a factor (``is_factor``) or continuous."""

    var: str
    is_factor: bool
    base: BaseSpec = None
    levels: tuple[int, ...] | None = None
    omit: tuple[int, ...] = ()


@dataclass(frozen=True)
class TermInfo:
    """A resolved term: its variables, for grouping rows in a coefficient table."""

    factors: tuple[ResolvedFactor, ...]

    @property
    def signature(self) -> frozenset[tuple[str, bool]]:
        return frozenset((f.var, f.is_factor) for f in self.factors)

    @property
    def label(self) -> str:
        """Stata's header for the term: ``children``, ``age``, ``urban#c.age``."""
        if len(self.factors) == 1:
            return self.factors[0].var
        return "#".join(f.var if f.is_factor else f"c.{f.var}" for f in self.factors)

    @property
    def variables(self) -> tuple[str, ...]:
        return tuple(f.var for f in self.factors)


@dataclass(frozen=True)
class Part:
    """One piece of a column name: ``var`` at ``level`` (``None`` = continuous).

    ``base``: the factor sits at its applied base level (``b``); ``bn``: the level
    is the default base of an ``ibn.`` factor.
    """

    var: str
    level: int | None = None
    base: bool = False
    bn: bool = False

    def text(self, omitted: bool, alone: bool) -> str:
        o = "o" if omitted and not self.base else ""
        if self.level is None:
            return (f"{o}.{self.var}" if o else self.var) if alone else f"c{o}.{self.var}"
        mark = "bn" if self.bn else "b" if self.base else ""
        return f"{self.level}{mark}{o}.{self.var}"


@dataclass(frozen=True)
class ColumnInfo:
    """A design column: its term (index into ``terms``; ``-1`` for ``_cons``) and parts."""

    term: int
    parts: tuple[Part, ...]

    @property
    def is_cons(self) -> bool:
        return self.term < 0

    @property
    def variables(self) -> tuple[str, ...]:
        return tuple(p.var for p in self.parts)

    @property
    def is_factor(self) -> bool:
        """True when at least one part is a factor level (empty cells show ``(empty)``)."""
        return any(p.level is not None for p in self.parts)

    @property
    def levels(self) -> tuple[int | None, ...]:
        return tuple(p.level for p in self.parts)

    def name(self, omitted: bool = False, base: bool = False) -> str:
        """Stata's name; ``omitted``/``base`` add ``o`` to the non-base parts."""
        if self.is_cons:
            return "_cons"
        alone = len(self.parts) == 1
        return "#".join(p.text(omitted or base, alone) for p in self.parts)

    def plain_name(self) -> str:
        """The name without omission markers, as notes print it (``3.children``)."""
        return self.name()


@dataclass
class FixedColumns:
    """The fixed-effects design on the estimation sample.

    ``X``: float64, one row per sample observation (``rows`` marks them in the
    data set), one column per entry of ``names`` (base and omitted columns
    included, base columns zero; ``_cons`` last when there is a constant).
    ``base``/``omitted``/``empty`` are per-column flags; ``reasons`` says why a
    column is out of the estimation (``base``, ``empty``, ``omit`` for ``io.``,
    ``collinear``, ``perfect``), ``None`` for estimated columns.  ``notes`` are
    the notes Stata prints (without the trailing newline).
    """

    X: np.ndarray
    columns: list[ColumnInfo]
    terms: list[TermInfo]
    base: np.ndarray
    omitted: np.ndarray
    empty: np.ndarray
    reasons: list[str | None]
    rows: np.ndarray
    constant: bool
    notes: list[str] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        """Stata column names with ``b``/``o`` markers (e(b)'s column stripe)."""
        return [
            c.name(omitted=bool(o), base=bool(b))
            for c, o, b in zip(self.columns, self.omitted, self.base, strict=True)
        ]

    @property
    def keep(self) -> np.ndarray:
        """Columns that are estimated."""
        return ~(self.base | self.omitted)

    @property
    def x_est(self) -> np.ndarray:
        return self.X[:, self.keep]

    @property
    def names_est(self) -> list[str]:
        return [n for n, k in zip(self.names, self.keep, strict=True) if k]

    @property
    def variables(self) -> list[tuple[str, ...]]:
        return [c.variables for c in self.columns]

    @property
    def nobs(self) -> int:
        return int(self.X.shape[0])


@dataclass
class REColumns:
    """Random-effects design columns of one equation (no base or empty cells).

    ``names`` are the labels Stata shows in ``var()``/``cov()`` (``1.urban``,
    ``0.urban``); ``stata_names`` keep the ``bn`` marker of ``ibn.`` factors.
    """

    Z: np.ndarray
    columns: list[ColumnInfo]
    terms: list[TermInfo]
    rows: np.ndarray
    notes: list[str] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [_display_name(c) for c in self.columns]

    @property
    def stata_names(self) -> list[str]:
        return [c.name() for c in self.columns]


# ---------------------------------------------------------------------------
# Resolving terms against the data
# ---------------------------------------------------------------------------


def _is_factor(f: Factor, interaction: bool) -> bool:
    if f.kind == "c":
        if f.levels is not None or f.base is not None or f.omit:
            raise StataError(f"c.{f.pattern}: invalid factor-variable operator", 198)
        return False
    if f.kind == "i" or f.levels is not None or f.base is not None or f.omit:
        return True
    return interaction


def resolve_terms(terms: list[Term], ds: Dataset) -> list[TermInfo]:
    """Expand wildcards/ranges in each term; ``i.(a b)#c.x`` -> ``a#c.x b#c.x``."""
    out: list[TermInfo] = []
    for term in terms:
        inter = len(term.factors) > 1
        choices = []
        for f in term.factors:
            isf = _is_factor(f, inter)
            choices.append(
                [
                    ResolvedFactor(v, isf, f.base, f.levels, tuple(f.omit))
                    for v in resolve_pattern(f.pattern, ds)
                ]
            )
        out.extend(TermInfo(tuple(combo)) for combo in itertools.product(*choices))
    return out


def term_variables(terms: list[Term], ds: Dataset) -> list[str]:
    """Every variable the terms use, once each, in order of appearance."""
    seen: dict[str, None] = {}
    for t in resolve_terms(terms, ds):
        for v in t.variables:
            seen.setdefault(v, None)
    return list(seen)


def _check_types(infos: list[TermInfo], ds: Dataset) -> None:
    for t in infos:
        for f in t.factors:
            if ds.is_string(f.var):
                if f.is_factor:
                    raise StataError(
                        f"{f.var}: string variables may not be used as factor variables", 109
                    )
                raise StataError(
                    f"string variables not allowed in varlist;\n{f.var} is a string variable", 109
                )


def markout(infos: list[TermInfo], ds: Dataset, rows: np.ndarray) -> np.ndarray:
    """``rows`` without observations missing any variable of the terms."""
    rows = np.asarray(rows, dtype=bool).copy()
    for v in {v for t in infos for v in t.variables}:
        rows &= ~np.isnan(ds.frame[v].to_numpy(dtype=float))
    return rows


# ---------------------------------------------------------------------------
# Levels and bases
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Levels:
    values: np.ndarray  # sorted distinct levels in the sample (int64)
    counts: np.ndarray
    codes: np.ndarray  # per sample observation: index into values


def _levels(var: str, x: np.ndarray) -> _Levels:
    _check_factor(var, bool(np.any(x < 0)), bool(np.any(x != np.floor(x))))
    vals, codes, counts = np.unique(x, return_inverse=True, return_counts=True)
    return _Levels(vals.astype(np.int64), counts, codes.reshape(-1))


def _check_factor(var: str, negative: bool, noninteger: bool) -> None:
    if negative:
        raise StataError(f"{var}: factor variables may not contain negative values", 452)
    if noninteger:
        raise StataError(f"{var}: factor variables may not contain noninteger values", 452)


@dataclass(frozen=True)
class LevelCounts:
    """A factor variable's values in (part of) the sample: what its levels and base need.

    Computed on each chunk of the data and added (:meth:`plus`); ``values`` are sorted.
    """

    values: np.ndarray  # float64
    counts: np.ndarray
    negative: bool
    noninteger: bool

    @classmethod
    def of(cls, x: np.ndarray) -> LevelCounts:
        vals, counts = np.unique(x, return_counts=True)
        return cls(vals, counts, bool(np.any(x < 0)), bool(np.any(x != np.floor(x))))

    def plus(self, other: LevelCounts) -> LevelCounts:
        vals = np.union1d(self.values, other.values)
        counts = np.zeros(vals.size, dtype=np.int64)
        np.add.at(counts, np.searchsorted(vals, self.values), self.counts)
        np.add.at(counts, np.searchsorted(vals, other.values), other.counts)
        return LevelCounts(
            vals, counts, self.negative or other.negative, self.noninteger or other.noninteger
        )

    def levels(self, var: str) -> _Levels:
        """The variable's levels as the in-memory code finds them (its errors first)."""
        _check_factor(var, self.negative, self.noninteger)
        return _Levels(self.values.astype(np.int64), self.counts, np.zeros(0, dtype=np.int64))


def factor_variables(infos: list[TermInfo]) -> list[str]:
    """The variables used as factors, in the order the columns meet them."""
    return list(dict.fromkeys(f.var for t in infos for f in t.factors if f.is_factor))


def _base_level(f: ResolvedFactor, lv: _Levels) -> int | None:
    """The base level a factor's operator asks for (``None``: no base)."""
    if lv.values.size == 0:
        return None
    spec = f.base
    if spec == "none":
        return None
    if spec is None or spec == "first":
        return int(lv.values[0])
    if spec == "last":
        return int(lv.values[-1])
    if spec == "freq":
        return int(lv.values[int(np.argmax(lv.counts))])
    if isinstance(spec, str) and spec.startswith("#"):  # ib(#k).: the k-th level
        k = int(spec[1:])
        return int(lv.values[k - 1]) if 1 <= k <= lv.values.size else None
    return int(spec)


def _selected_levels(f: ResolvedFactor, lv: _Levels) -> list[int]:
    if f.levels is None:
        return [int(v) for v in lv.values]
    return sorted({int(v) for v in f.levels})


def _applied_bases(infos: list[TermInfo]) -> list[tuple[bool, ...]]:
    """Per term, per factor: does its base level apply in this term?"""
    present = {t.signature for t in infos}
    out = []
    for t in infos:
        if len(t.factors) == 1:
            out.append((t.factors[0].is_factor and t.factors[0].base != "none",))
            continue
        flags = []
        for i, f in enumerate(t.factors):
            rest = frozenset((g.var, g.is_factor) for j, g in enumerate(t.factors) if j != i)
            flags.append(f.is_factor and f.base != "none" and rest in present)
        out.append(tuple(flags))
    return out


# ---------------------------------------------------------------------------
# Building columns
# ---------------------------------------------------------------------------


@dataclass
class Built:
    X: np.ndarray
    columns: list[ColumnInfo]
    base: np.ndarray
    empty: np.ndarray
    io: np.ndarray


@dataclass
class Layout:
    """The columns of a list of terms before any data fill them: every cell as Stata
    enumerates it (first factor slowest), with its base and ``io.`` flags; ``sizes``:
    cells per term.  Decided from the factors' levels alone."""

    columns: list[ColumnInfo]
    base: list[bool]
    io: list[bool]
    sizes: list[int]


def layout(infos: list[TermInfo], levels: dict[str, _Levels], constant: bool) -> Layout:
    """The cells of ``infos`` given each factor variable's levels in the sample."""
    applied = _applied_bases(infos)
    cols: list[ColumnInfo] = []
    base_flags: list[bool] = []
    io_flags: list[bool] = []
    sizes: list[int] = []
    for ti, (t, app) in enumerate(zip(infos, applied, strict=True)):
        per_factor: list[list[tuple[int | None, bool, bool, bool]]] = []
        for f, ap in zip(t.factors, app, strict=True):
            if not f.is_factor:
                per_factor.append([(None, False, False, False)])
                continue
            lv = levels[f.var]
            base = _base_level(f, lv)
            default_base = int(lv.values[0]) if lv.values.size else None
            per_factor.append(
                [
                    (
                        lev,
                        ap and lev == base,
                        f.base == "none" and lev == default_base,
                        lev in f.omit,
                    )
                    for lev in _selected_levels(f, lv)
                ]
            )
        cells = list(itertools.product(*per_factor))
        any_base = [any(p[1] for p in cell) for cell in cells]
        if (
            constant
            and len(t.factors) > 1
            and all(f.is_factor for f in t.factors)
            and not any(app)
            and all(f.base != "none" for f in t.factors)
        ):
            any_base = _fallback_base(t, cells, levels, any_base)
        for cell, isb in zip(cells, any_base, strict=True):
            parts = tuple(
                Part(f.var, lev, bool(b) and isb, bool(bn))
                for f, (lev, b, bn, _) in zip(t.factors, cell, strict=True)
            )
            cols.append(ColumnInfo(ti, parts))
            base_flags.append(isb)
            io_flags.append(any(p[3] for p in cell))
        sizes.append(len(cells))
    return Layout(cols, base_flags, io_flags, sizes)


def built_from(lay: Layout, counts: np.ndarray, constant: bool, xmat: np.ndarray) -> Built:
    """The layout's columns with their empty cells (``counts``: observations in each
    cell), the constant appended; ``xmat`` holds the columns' values (or no rows)."""
    cols = list(lay.columns)
    base_flags, io_flags = list(lay.base), list(lay.io)
    has_factor = np.array([c.is_factor for c in cols], dtype=bool)
    empty = has_factor & (np.asarray(counts) == 0) & ~np.array(base_flags, dtype=bool)
    if constant:
        cols.append(ColumnInfo(-1, ()))
        base_flags.append(False)
        io_flags.append(False)
        empty = np.append(empty, False)
    base, io = np.array(base_flags, dtype=bool), np.array(io_flags, dtype=bool)
    return Built(xmat, cols, base, empty, io)


def _build(infos: list[TermInfo], ds: Dataset, rows: np.ndarray, constant: bool) -> Built:
    """All cells of all terms, filled with the sample's values."""
    n = int(rows.sum())
    data = {v: ds.frame[v].to_numpy(dtype=float)[rows] for t in infos for v in t.variables}
    cache = {v: _levels(v, data[v]) for v in factor_variables(infos)}
    lay = layout(infos, cache, constant)
    fills: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # code, valid, value
    counts_blocks: list[np.ndarray] = []
    for t, size in zip(infos, lay.sizes, strict=True):
        code = np.zeros(n, dtype=np.int64)
        valid = np.ones(n, dtype=bool)
        value = np.ones(n)
        for f in t.factors:
            x = data[f.var]
            if not f.is_factor:
                value = value * x
                continue
            lv = cache[f.var]
            sel = _selected_levels(f, lv)
            # position of each observation's level among the selected ones (-1: none)
            lookup = {lev: k for k, lev in enumerate(sel)}
            pos_of_level = np.array([lookup.get(int(u), -1) for u in lv.values], dtype=np.int64)
            pos = pos_of_level[lv.codes] if n else np.zeros(0, dtype=np.int64)
            valid &= pos >= 0
            code = code * len(sel) + np.maximum(pos, 0)
        fills.append((code, valid, value))
        counts_blocks.append(np.bincount(code[valid], minlength=size))
    p = len(lay.columns) + int(constant)
    xmat = np.zeros((n, p))
    offset = 0
    for (code, valid, value), cnt in zip(fills, counts_blocks, strict=True):
        idx = np.flatnonzero(valid)
        xmat[idx, offset + code[idx]] = value[idx]
        offset += cnt.size
    counts = np.concatenate(counts_blocks) if counts_blocks else np.zeros(0)
    if constant:
        xmat[:, -1] = 1.0
    for j in np.flatnonzero(lay.base):
        xmat[:, j] = 0.0
    return built_from(lay, counts, constant, xmat)


def _without_empty(built: Built) -> Built:
    """The columns that are not empty cells."""
    keep = ~built.empty
    return Built(
        built.X[:, keep],
        [c for c, k in zip(built.columns, keep, strict=True) if k],
        built.base[keep],
        built.empty[keep],
        built.io[keep],
    )


def _fallback_base(
    t: TermInfo, cells: list, cache: dict[str, _Levels], any_base: list[bool]
) -> list[bool]:
    """Mark the all-base cell of a pure factor interaction that has no lower terms."""
    target = tuple(_base_level(f, cache[f.var]) for f in t.factors)
    out = list(any_base)
    for i, cell in enumerate(cells):
        if tuple(p[0] for p in cell) == target:
            out[i] = True
            cells[i] = tuple((p[0], True, p[2], p[3]) for p in cell)
    return out


# ---------------------------------------------------------------------------
# Collinearity (_rmcoll)
# ---------------------------------------------------------------------------


def _cross_product(x: np.ndarray) -> np.ndarray:
    """``x'x``; through a sparse product when ``x`` is mostly zeros (indicators)."""
    if x.shape[1] > 20 and np.count_nonzero(x) < 0.25 * x.size:
        from scipy import sparse

        s = sparse.csr_matrix(x)
        return np.asarray((s.T @ s).toarray())
    return x.T @ x


def _forward_substitution(lower: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Solve ``lower x = b``; small systems without importing scipy.linalg."""
    k = len(b)
    if k > 200:
        from scipy.linalg import solve_triangular

        return solve_triangular(lower, b, lower=True)
    x = np.empty(k)
    for i in range(k):
        x[i] = (b[i] - lower[i, :i] @ x[:i]) / lower[i, i]
    return x


@dataclass(frozen=True)
class Cross:
    """What the collinearity check reads of the columns: ``x'x``, the column sums and the
    number of rows.  Sums of chunks' cross products add up to the whole's (:meth:`plus`)."""

    xtx: np.ndarray
    sums: np.ndarray
    n: int

    @classmethod
    def of(cls, x: np.ndarray) -> Cross:
        return cls(_cross_product(x), x.sum(axis=0), int(x.shape[0]))

    def plus(self, other: Cross) -> Cross:
        return Cross(self.xtx + other.xtx, self.sums + other.sums, self.n + other.n)

    def take(self, keep: np.ndarray) -> Cross:
        """The statistics of the columns ``keep`` selects."""
        return Cross(self.xtx[np.ix_(keep, keep)], self.sums[keep], self.n)


def collinear_columns(
    x: np.ndarray, candidates: np.ndarray, constant: bool, tol: float = RMCOLL_TOL
) -> np.ndarray:
    """Flags for candidate columns collinear with earlier kept ones (and the constant):
    :func:`collinear_in` on the columns of ``x``."""
    if not np.any(candidates) or x.shape[0] == 0:
        return collinear_in(Cross(np.zeros((0, 0)), np.zeros(0), int(x.shape[0])),
                            candidates, constant, tol)
    return collinear_in(Cross.of(x), candidates, constant, tol)


def collinear_in(
    cross: Cross, candidates: np.ndarray, constant: bool, tol: float = RMCOLL_TOL
) -> np.ndarray:
    """Flags for candidate columns collinear with earlier kept ones (and the constant).

    Works on the cross-product matrix (deviations from the means with a
    constant), taking columns in order: a column whose residual sum of squares,
    given the kept earlier columns, is below ``tol`` times its own is flagged.
    A zero column is always flagged; with a constant, so is any constant column.
    """
    n = cross.n
    flags = np.zeros(len(candidates), dtype=bool)
    idx = np.flatnonzero(candidates)
    if idx.size == 0:
        return flags
    if n == 0:
        flags[idx] = True
        return flags
    g = cross.xtx[np.ix_(idx, idx)]
    raw = np.diag(g).copy()
    if constant:
        s = cross.sums[idx]
        g = g - np.outer(s, s) / n
    m = idx.size
    chol = np.zeros((m, m))
    kept: list[int] = []
    for a in range(m):
        ref = g[a, a]
        if raw[a] == 0.0 or ref <= 1e-14 * raw[a]:
            flags[idx[a]] = True
            continue
        k = len(kept)
        rr = ref
        if k:
            lvec = _forward_substitution(chol[:k, :k], g[kept, a])
            rr = ref - float(lvec @ lvec)
        if rr <= tol * ref:
            flags[idx[a]] = True
            continue
        if k:
            chol[k, :k] = lvec
        chol[k, k] = np.sqrt(rr)
        kept.append(a)
    return flags


def _rmcoll(cols: FixedColumns, cross: Cross | None = None) -> None:
    """Flag and note collinear columns among those still estimated (in place); ``cross``:
    the columns' statistics when ``cols.X`` holds no rows (they are elsewhere)."""
    cand = cols.keep.copy()
    cand[[c.is_cons for c in cols.columns]] = False
    if cross is None:
        flags = collinear_columns(cols.X, cand, cols.constant)
    else:
        flags = collinear_in(cross, cand, cols.constant)
    for j in np.flatnonzero(flags):
        cols.omitted[j] = True
        cols.reasons[j] = "collinear"
        cols.notes.append(f"note: {cols.columns[j].plain_name()} omitted because of collinearity.")


# ---------------------------------------------------------------------------
# Public entry points
# ---------------------------------------------------------------------------


def expand_terms(
    terms: list[Term],
    ds: Dataset,
    rows: np.ndarray,
    *,
    constant: bool = True,
    collinear: bool = False,
    drop_empty: bool = False,
) -> FixedColumns:
    """Fixed-effects columns of ``terms`` on the sample ``rows`` (boolean mask).

    Observations with a missing value in any term variable leave the sample
    (``result.rows``).  Empty cells are omitted with Stata's note, or left out of the
    columns under ``drop_empty`` (``set emptycells drop``); collinear columns are omitted
    with their note unless ``collinear``.
    """
    infos = resolve_terms(terms, ds)
    _check_types(infos, ds)
    rows = markout(infos, ds, rows)
    built = _build(infos, ds, rows, constant)
    return fixed_columns(infos, built, rows, constant, collinear, drop_empty)


def fixed_columns(
    infos: list[TermInfo],
    built: Built,
    rows: np.ndarray,
    constant: bool,
    collinear: bool,
    drop_empty: bool,
    cross: Cross | None = None,
) -> FixedColumns:
    """The fixed-effects design's decisions on its built cells: empty cells, ``io.``,
    collinear columns (from ``cross``, the statistics of every built column, when
    ``built.X`` holds no rows) and their notes."""
    if drop_empty:
        if cross is not None:
            cross = cross.take(~built.empty)
        built = _without_empty(built)
    p = len(built.columns)
    reasons: list[str | None] = [None] * p
    omitted = built.empty | built.io
    notes: list[str] = []
    for j in range(p):
        if built.base[j]:
            reasons[j] = "base"
        elif built.io[j]:
            reasons[j] = "omit"
        elif built.empty[j]:
            reasons[j] = "empty"
            notes.append(
                f"note: {built.columns[j].plain_name()} identifies no observations in the sample."
            )
    cols = FixedColumns(
        X=built.X,
        columns=built.columns,
        terms=infos,
        base=built.base,
        omitted=omitted,
        empty=built.empty.copy(),
        reasons=reasons,
        rows=rows,
        constant=constant,
        notes=notes,
    )
    if not collinear:
        _rmcoll(cols, cross)
    return cols


def recheck_collinearity(cols: FixedColumns) -> FixedColumns:
    """Run the collinearity check again (after the sample changed); notes appended."""
    out = replace(
        cols,
        omitted=cols.omitted.copy(),
        reasons=list(cols.reasons),
        notes=list(cols.notes),
    )
    _rmcoll(out)
    return out


def expand_re_terms(
    terms: list[Term], ds: Dataset, rows: np.ndarray, *, constant: bool = True
) -> REColumns:
    """Columns of a random-effects varlist: base, ``io.`` and empty cells dropped.

    As Stata's ``_rmcoll`` on the equation's varlist, a column collinear with the
    earlier ones (and the equation's constant) is omitted with Stata's note: its
    random effect would have a singular covariance, on which the fit cannot converge.
    The equation is not checked against the fixed part (Stata does not), and a
    column is never omitted when it is the equation's only one.  The constant is
    not included.
    """
    infos = resolve_terms(terms, ds)
    _check_types(infos, ds)
    rows = markout(infos, ds, rows)
    return re_columns(infos, _build(infos, ds, rows, constant), rows, constant)


def re_columns(
    infos: list[TermInfo],
    built: Built,
    rows: np.ndarray,
    constant: bool,
    cross: Cross | None = None,
) -> REColumns:
    """A random-effects varlist's decisions on its built cells (``cross``: the statistics
    of every built column, when ``built.X`` holds no rows)."""
    keep = ~(built.base | built.empty | built.io)
    keep &= np.array([not c.is_cons for c in built.columns], dtype=bool)
    notes: list[str] = []
    if cross is None:
        collinear = collinear_columns(built.X, keep, constant)
    else:
        collinear = collinear_in(cross, keep, constant)
    if collinear.any() and (constant or (keep & ~collinear).any()):
        for j in np.flatnonzero(collinear):
            notes.append(f"note: {built.columns[j].plain_name()} omitted because of collinearity.")
        keep &= ~collinear
    cols = [c for c, k in zip(built.columns, keep, strict=True) if k]
    return REColumns(Z=built.X[:, keep], columns=cols, terms=infos, rows=rows, notes=notes)


def _display_name(c: ColumnInfo) -> str:
    """A name without ``b``/``n``/``o`` markers: ``1.urban``, ``0.urban#c.age``."""
    if c.is_cons:
        return "_cons"
    if len(c.parts) == 1 and c.parts[0].level is None:
        return c.parts[0].var
    return "#".join(f"c.{p.var}" if p.level is None else f"{p.level}.{p.var}" for p in c.parts)
