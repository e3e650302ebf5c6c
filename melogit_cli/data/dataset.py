"""Dataset: the columns of a Stata data set with their labels."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from melogit_cli.data.columns import Columns, is_numeric_dtype

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class Dataset:
    """Variables in Stata's order.

    Numeric columns are float64 with NaN for every missing value (``.``, ``.a``-``.z``);
    string columns hold Python ``str`` (``""`` is Stata's missing string).  Loaded from
    a file, ``frame`` is a light ``Columns`` store; a do-file session makes it a pandas
    DataFrame (``as_pandas``).
    """

    frame: pd.DataFrame | Columns
    value_labels: dict[str, dict[int, str]] = field(default_factory=dict)
    variable_labels: dict[str, str] = field(default_factory=dict)
    label: str = ""
    source: str = ""
    storage: dict[str, str] = field(default_factory=dict)  # byte, int, long, float, double, str#
    formats: dict[str, str] = field(default_factory=dict)  # display formats (%9.0g)
    sorted_by: list[str] = field(default_factory=list)
    label_names: dict[str, str] = field(default_factory=dict)  # variable -> value-label name
    timestamp: str = ""

    def storage_type(self, name: str) -> str:
        """The Stata storage type of ``name`` (``double`` or ``str#`` when unknown)."""
        if name in self.storage:
            return self.storage[name]
        if self.is_string(name):
            width = max((len(str(v)) for v in self.frame[name]), default=1)
            return f"str{max(width, 1)}"
        return "double"

    def display_format(self, name: str) -> str:
        """The display format of ``name`` (Stata's defaults when unknown)."""
        if name in self.formats:
            return self.formats[name]
        kind = self.storage_type(name)
        if kind.startswith("str"):
            return f"%{kind[3:] or 1}s"
        return "%10.0g" if kind == "double" else "%9.0g" if kind in ("float", "long") else "%8.0g"

    @property
    def varnames(self) -> list[str]:
        return [str(c) for c in self.frame.columns]

    @property
    def nobs(self) -> int:
        return len(self.frame)

    def is_string(self, name: str) -> bool:
        """True for a string variable."""
        return not is_numeric_dtype(self.frame[name].dtype)

    def as_pandas(self) -> None:
        """Hold the data as a pandas DataFrame (for commands that edit it)."""
        if isinstance(self.frame, Columns):
            self.frame = self.frame.to_pandas()
