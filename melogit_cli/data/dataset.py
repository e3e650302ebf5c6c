"""Dataset: the columns of a Stata data set with their labels."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd


@dataclass
class Dataset:
    """Variables in Stata's order.

    Numeric columns are float64 with NaN for every missing value (``.``, ``.a``-``.z``);
    string columns hold Python ``str`` (``""`` is Stata's missing string).
    """

    frame: pd.DataFrame
    value_labels: dict[str, dict[int, str]] = field(default_factory=dict)
    variable_labels: dict[str, str] = field(default_factory=dict)
    label: str = ""
    source: str = ""

    @property
    def varnames(self) -> list[str]:
        return [str(c) for c in self.frame.columns]

    @property
    def nobs(self) -> int:
        return len(self.frame)

    def is_string(self, name: str) -> bool:
        """True for a string variable."""
        return not pd.api.types.is_numeric_dtype(self.frame[name].dtype)
