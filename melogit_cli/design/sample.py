"""The ``if`` and ``in`` qualifiers: which observations may enter the sample."""

from __future__ import annotations

import numpy as np

from melogit_cli.data.dataset import Dataset
from melogit_cli.errors import StataError
from melogit_cli.syntax.spec import InBound, InRange, ModelSpec


def apply_if_in(spec: ModelSpec, ds: Dataset) -> np.ndarray:
    """Boolean mask of the observations that satisfy ``if`` and ``in``."""
    rows = in_range_mask(spec.in_range, ds.nobs)
    if spec.if_expr is not None:
        from melogit_cli.data.evaluate import evaluate

        value = evaluate(spec.if_expr, ds)
        if value.dtype == object:
            raise StataError("type mismatch", 109)
        value = np.asarray(value, dtype=float)
        rows &= value != 0  # missing (NaN) counts as true, as in Stata
    return rows


def in_range_mask(in_range: InRange | None, n: int) -> np.ndarray:
    """Observations ``in first/last`` selects (all when there is no ``in``)."""
    rows = np.ones(n, dtype=bool)
    if in_range is not None:
        first = _position(in_range.first, n)
        last = _position(in_range.last, n)
        if not (1 <= first <= n and 1 <= last <= n) or first > last:
            raise StataError("Obs. nos. out of range", 198)
        rows[:] = False
        rows[first - 1 : last] = True
    return rows


def _position(bound: InBound, n: int) -> int:
    if bound == "f":
        return 1
    if bound == "l":
        return n
    b = int(bound)
    return n + b + 1 if b < 0 else b
