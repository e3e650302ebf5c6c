"""A light column store: what a fit reads from a data set, without importing pandas.

Importing pandas takes longer than fitting the manual's examples, so files loaded for a
fit are kept as numpy columns.  ``Columns`` offers the few DataFrame operations a fit
uses (``frame[name].to_numpy()``, ``.columns``, ``len``); a do-file session, whose data
commands edit the data in place, turns it into a pandas DataFrame (``to_pandas``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd


class Column:
    """One variable: float64 (NaN missing) or object (``str``, ``""`` missing)."""

    def __init__(self, values: np.ndarray) -> None:
        self.values = values

    @property
    def dtype(self) -> np.dtype:
        return self.values.dtype

    def to_numpy(self, dtype: object = None, na_value: object = None) -> np.ndarray:
        del na_value  # missing numbers are NaN already
        return self.values if dtype is None else self.values.astype(dtype)

    def __iter__(self) -> Iterator:
        return iter(self.values)

    def __len__(self) -> int:
        return len(self.values)


class Columns:
    """Variables in order, each a numpy array of the same length."""

    def __init__(self, data: dict[str, np.ndarray]) -> None:
        self._data = dict(data)

    def __getitem__(self, name: str) -> Column:
        return Column(self._data[name])

    def __contains__(self, name: object) -> bool:
        return name in self._data

    def __len__(self) -> int:
        return len(next(iter(self._data.values()))) if self._data else 0

    @property
    def columns(self) -> list[str]:
        return list(self._data)

    def to_pandas(self) -> pd.DataFrame:
        """The same columns as a pandas DataFrame."""
        import pandas as pd

        return pd.DataFrame(self._data, columns=self.columns)


def is_numeric_dtype(dtype: object) -> bool:
    """True for numbers and booleans (numpy or pandas dtypes)."""
    return getattr(dtype, "kind", "O") in "biuf"
