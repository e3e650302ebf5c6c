"""The ``if`` and ``in`` qualifiers: which observations may enter the sample."""

from __future__ import annotations

import numpy as np

from melogit_cli.data.dataset import Dataset
from melogit_cli.errors import StataError
from melogit_cli.syntax.spec import InBound, InRange, ModelSpec


def apply_if_in(
    spec: ModelSpec, ds: Dataset, offset: int = 0, total: int | None = None
) -> np.ndarray:
    """Boolean mask of the observations that satisfy ``if`` and ``in``.

    ``ds`` may be one chunk of a larger data set: its rows are rows ``offset`` ..
    of ``total`` (``in`` counts in the whole).
    """
    rows = in_range_mask(spec.in_range, ds.nobs, offset, total)
    if spec.if_expr is not None:
        from melogit_cli.data.evaluate import evaluate

        value = evaluate(spec.if_expr, ds)
        if value.dtype == object:
            raise StataError("type mismatch", 109)
        value = np.asarray(value, dtype=float)
        rows &= value != 0  # missing (NaN) counts as true, as in Stata
    return rows


def in_range_mask(
    in_range: InRange | None, n: int, offset: int = 0, total: int | None = None
) -> np.ndarray:
    """Observations ``in first/last`` selects (all when there is no ``in``), among
    ``n`` rows starting at row ``offset`` of ``total`` (by default the ``n`` rows)."""
    rows = np.ones(n, dtype=bool)
    if in_range is not None:
        whole = n if total is None else total
        first = _position(in_range.first, whole)
        last = _position(in_range.last, whole)
        if not (1 <= first <= whole and 1 <= last <= whole) or first > last:
            raise StataError("Obs. nos. out of range", 198)
        rows[:] = False
        rows[max(first - 1 - offset, 0) : max(last - offset, 0)] = True
    return rows


def _position(bound: InBound, n: int) -> int:
    if bound == "f":
        return 1
    if bound == "l":
        return n
    b = int(bound)
    return n + b + 1 if b < 0 else b
