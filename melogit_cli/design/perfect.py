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

from collections.abc import Callable
from dataclasses import dataclass, replace

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
    y = np.asarray(y, dtype=float)
    if y.size == 0:
        raise no_observations()
    succ = y != 0
    if succ.all() or not succ.any():
        raise StataError(OUTCOME_DOES_NOT_VARY, 2000)


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


def _rule(
    column: Callable[[], np.ndarray], r: np.ndarray, name: str
) -> tuple[np.ndarray, str] | None:
    """Observations to drop (mask over the current sample) and the note, or ``None``.

    ``r`` holds the column's ranges ``m1, M1, m0, M0`` on the current sample;
    ``column()`` gives its values there (only read when a rule applies).
    """
    m1, big1, m0, big0 = (float(v) for v in r)
    if m0 == big0 == m1 == big1:
        return None
    if m0 == big0 and m0 in (m1, big1):
        v, what = m0, "success"
    elif m1 == big1 and m1 in (m0, big0):
        v, what = m1, "failure"
    else:
        v, what = None, ""
    if v is not None:
        drop = column() != v
        note = (
            f"note: {name} != {fmt_value(v)} predicts {what} perfectly;\n"
            f"      {name} omitted and {int(drop.sum())} obs not used."
        )
        return drop, note
    if big0 == m1 or big1 == m0:
        v, op = (m1, ">") if big0 == m1 else (m0, "<")
        drop = column() != v
        note = (
            f"note: outcome {name} {op} {fmt_value(v)} predicts data perfectly except for\n"
            f"      {name} == {fmt_value(v)} subsample:\n"
            f"      {name} omitted and {int(drop.sum())} obs not used."
        )
        return drop, note
    if big0 < m1:
        raise StataError(f"outcome = {name} > {fmt_value(big0)} predicts data perfectly", 2000)
    if big1 < m0:
        raise StataError(f"outcome = {name} <= {fmt_value(big1)} predicts data perfectly", 2000)
    return None


def drop_perfect_predictors(
    y: np.ndarray, cols: FixedColumns, *, collinear: bool = False
) -> PerfectResult:
    """Apply the perfect-prediction rules to the estimated columns of ``cols``.

    ``y`` is the outcome over the data set or over the sample of ``cols``.
    """
    ys = _sample_outcome(y, cols) != 0
    check_outcome_varies(ys.astype(float))
    alive = np.ones(cols.nobs, dtype=bool)
    omitted, empty = cols.omitted.copy(), cols.empty.copy()
    reasons = list(cols.reasons)
    notes: list[str] = []
    is_cons = np.array([c.is_cons for c in cols.columns], dtype=bool)
    changed = True
    while changed:
        changed = False
        ranges = _ranges(cols.X, alive, ys)
        for j in range(len(cols.columns)):
            if cols.base[j] or omitted[j] or is_cons[j]:
                continue
            name = cols.columns[j].plain_name()
            hit = _rule(lambda j=j: cols.X[alive, j], ranges[:, j], name)
            if hit is None:
                continue
            drop, note = hit
            notes.append(note)
            alive[np.flatnonzero(alive)[drop]] = False
            omitted[j], reasons[j] = True, "perfect"
            empty[j] = cols.columns[j].is_factor
            changed = True
            check_outcome_varies(ys[alive].astype(float))
            if not collinear:
                cand = ~(cols.base | omitted | is_cons)
                flags = collinear_columns(cols.X[alive], cand, cols.constant)
                for k in np.flatnonzero(flags):
                    omitted[k], reasons[k] = True, "collinear"
                    name = cols.columns[k].plain_name()
                    notes.append(f"note: {name} omitted because of collinearity.")
            ranges = _ranges(cols.X, alive, ys)
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
