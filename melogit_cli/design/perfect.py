"""Perfect prediction, as Stata's ``logit`` checks it (skipped with ``asis``).

For each estimated covariate column ``x`` in order, on the current sample, with
``m0, M0`` the range of ``x`` among failures and ``m1, M1`` among successes:

* failures all at ``v = m0 = M0`` and ``v`` an end of the successes' range:
  ``x != v`` predicts success perfectly -> those observations leave the sample
  and ``x`` is omitted;
* successes all at ``v = m1 = M1`` and ``v`` an end of the failures' range:
  ``x != v`` predicts failure perfectly (likewise);
* ``M0 == m1`` (or ``M1 == m0``): the outcome is determined except on the
  ``x == v`` subsample, which alone is kept;
* ``M0 < m1`` (or ``M1 < m0``): complete separation, error r(2000).

After observations are dropped the collinearity check is run again.  Passes are
repeated until nothing changes.  The outcome is success when nonzero.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from melogit_cli.design.factors import FixedColumns, collinear_columns
from melogit_cli.errors import StataError, no_observations

OUTCOME_DOES_NOT_VARY = (
    "outcome does not vary; remember:\n"
    "                                  0 = negative outcome,\n"
    "        all other nonmissing values = positive outcome"
)


@dataclass
class PerfectResult:
    """What the check did.

    ``columns``: the design restricted to the new sample, with updated flags and
    all notes; ``notes``: the notes this check added; ``rows``: the new sample
    mask over the data set; ``omitted``: per-column omitted flags; ``dropped``:
    observations removed.
    """

    columns: FixedColumns
    notes: list[str]
    rows: np.ndarray
    omitted: np.ndarray
    dropped: int


def fmt_value(v: float) -> str:
    """A number as Stata's ``display`` shows it (``0``, ``1``, ``.5``, ``-2.25``)."""
    if float(v).is_integer() and abs(v) < 1e15:
        return str(int(v))
    s = f"{v:.7g}"
    if s.startswith("0."):
        return s[1:]
    if s.startswith("-0."):
        return "-" + s[2:]
    return s


def check_outcome_varies(y: np.ndarray) -> None:
    """r(2000) unless the (sample) outcome has both zeros and nonzeros."""
    succ = np.asarray(y, dtype=float) != 0
    check_outcome_counts(int(succ.sum()), int((~succ).sum()))


def check_outcome_counts(successes: int, failures: int) -> None:
    """:func:`check_outcome_varies` from the numbers of successes and failures."""
    if successes + failures == 0:
        raise no_observations()
    if successes == 0 or failures == 0:
        raise StataError(OUTCOME_DOES_NOT_VARY, 2000)


class Sample(Protocol):
    """The estimation sample as the perfect-prediction check reads it: on the rows still
    in, each column's ranges, the outcome's counts and the collinearity check; and the
    sample restricted to the rows where a column takes one value."""

    def ranges(self) -> np.ndarray:
        """Rows m1, M1, m0, M0: each column's range among successes and failures."""
        ...

    def outcome(self) -> tuple[int, int]:
        """Successes and failures."""
        ...

    def collinear(self, candidates: np.ndarray, constant: bool) -> np.ndarray:
        """:func:`collinear_columns` on the rows still in."""
        ...

    def keep_equal(self, column: int, value: float) -> int:
        """Keep the rows where ``column`` is ``value``; returns how many left."""
        ...


class ArraySample:
    """A :class:`Sample` over the design's rows in memory."""

    def __init__(self, x: np.ndarray, success: np.ndarray) -> None:
        self.x, self.success = x, success
        self.alive = np.ones(x.shape[0], dtype=bool)

    def ranges(self) -> np.ndarray:
        return _ranges(self.x, self.alive, self.success)

    def outcome(self) -> tuple[int, int]:
        ys = self.success[self.alive]
        return int(ys.sum()), int((~ys).sum())

    def collinear(self, candidates: np.ndarray, constant: bool) -> np.ndarray:
        return collinear_columns(self.x[self.alive], candidates, constant)

    def keep_equal(self, column: int, value: float) -> int:
        drop = self.x[self.alive, column] != value
        self.alive[np.flatnonzero(self.alive)[drop]] = False
        return int(drop.sum())


def _sample_outcome(y: np.ndarray, cols: FixedColumns) -> np.ndarray:
    y = np.asarray(y, dtype=float)
    if y.shape[0] == cols.rows.shape[0]:
        return y[cols.rows]
    if y.shape[0] == cols.nobs:
        return y
    raise ValueError("outcome length matches neither the data set nor the sample")


def _ranges(x: np.ndarray, alive: np.ndarray, succ: np.ndarray) -> np.ndarray:
    """Rows m1, M1, m0, M0: each column's range among successes and failures."""
    s = (alive & succ)[:, None]
    f = (alive & ~succ)[:, None]
    return np.vstack(
        [
            np.min(x, axis=0, where=s, initial=np.inf),
            np.max(x, axis=0, where=s, initial=-np.inf),
            np.min(x, axis=0, where=f, initial=np.inf),
            np.max(x, axis=0, where=f, initial=-np.inf),
        ]
    )


def _rule(r: np.ndarray, name: str) -> tuple[float, str] | None:
    """The value ``v`` the column must keep and the rule's kind (``success``,
    ``failure``: ``x != v`` predicts it perfectly; ``>``, ``<``: the outcome is
    determined except on ``x == v``), or ``None``; complete separation is r(2000).

    ``r`` holds the column's ranges ``m1, M1, m0, M0`` on the current sample.
    """
    m1, big1, m0, big0 = (float(v) for v in r)
    if m0 == big0 == m1 == big1:
        return None
    if m0 == big0 and m0 in (m1, big1):
        return m0, "success"
    if m1 == big1 and m1 in (m0, big0):
        return m1, "failure"
    if big0 == m1:
        return m1, ">"
    if big1 == m0:
        return m0, "<"
    if big0 < m1:
        raise StataError(f"outcome = {name} > {fmt_value(big0)} predicts data perfectly", 2000)
    if big1 < m0:
        raise StataError(f"outcome = {name} <= {fmt_value(big1)} predicts data perfectly", 2000)
    return None


def _note(kind: str, name: str, v: float, dropped: int) -> str:
    if kind in ("success", "failure"):
        return (
            f"note: {name} != {fmt_value(v)} predicts {kind} perfectly;\n"
            f"      {name} omitted and {dropped} obs not used."
        )
    return (
        f"note: outcome {name} {kind} {fmt_value(v)} predicts data perfectly except for\n"
        f"      {name} == {fmt_value(v)} subsample:\n"
        f"      {name} omitted and {dropped} obs not used."
    )


def drop_perfect_predictors(
    y: np.ndarray, cols: FixedColumns, *, collinear: bool = False
) -> PerfectResult:
    """Apply the perfect-prediction rules to the estimated columns of ``cols``.

    ``y`` is the outcome over the data set or over the sample of ``cols``.
    """
    sample = ArraySample(cols.X, _sample_outcome(y, cols) != 0)
    omitted, empty, reasons, notes = perfect_predictors(cols, sample, collinear=collinear)
    alive = sample.alive
    rows = cols.rows.copy()
    rows[np.flatnonzero(cols.rows)[~alive]] = False
    new = replace(
        cols,
        X=cols.X[alive],
        omitted=omitted,
        empty=empty,
        reasons=reasons,
        rows=rows,
        notes=list(cols.notes) + notes,
    )
    return PerfectResult(new, notes, rows, omitted, int((~alive).sum()))


def perfect_predictors(
    cols: FixedColumns, sample: Sample, *, collinear: bool = False
) -> tuple[np.ndarray, np.ndarray, list[str | None], list[str]]:
    """The perfect-prediction rules on the estimated columns of ``cols``, in order, over
    ``sample`` (restricted as they apply): the new omitted and empty flags, reasons and
    the notes added."""
    check_outcome_counts(*sample.outcome())
    omitted, empty = cols.omitted.copy(), cols.empty.copy()
    reasons = list(cols.reasons)
    notes: list[str] = []
    is_cons = np.array([c.is_cons for c in cols.columns], dtype=bool)
    changed = True
    while changed:
        changed = False
        ranges = sample.ranges()
        for j in range(len(cols.columns)):
            if cols.base[j] or omitted[j] or is_cons[j]:
                continue
            name = cols.columns[j].plain_name()
            hit = _rule(ranges[:, j], name)
            if hit is None:
                continue
            v, kind = hit
            notes.append(_note(kind, name, v, sample.keep_equal(j, v)))
            omitted[j], reasons[j] = True, "perfect"
            empty[j] = cols.columns[j].is_factor
            changed = True
            check_outcome_counts(*sample.outcome())
            if not collinear:
                cand = ~(cols.base | omitted | is_cons)
                flags = sample.collinear(cand, cols.constant)
                for k in np.flatnonzero(flags):
                    omitted[k], reasons[k] = True, "collinear"
                    name = cols.columns[k].plain_name()
                    notes.append(f"note: {name} omitted because of collinearity.")
            ranges = sample.ranges()
    return omitted, empty, reasons, notes
