"""EResults: everything Stata stores in ``e()`` after ``melogit``, and its JSON form.

Replay and the renderer work from an EResults alone, as Stata's replay works from
``e()`` alone.  ``value_labels`` is not part of ``e()``; it carries the data set's value
labels of the factor variables so that a replay can label factor levels.  ``empty_cells``
is what Stata keeps hidden in e(b) (``_ms_build_info``): the columns that are empty cells
of an interaction, named ``1o.a#3o.b`` as omitted columns are, and shown ``(empty)``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class Matrix:
    """A Stata matrix: data with row and column names (``eq:name`` for e(b) and e(V))."""

    rownames: list[str]
    colnames: list[str]
    data: np.ndarray

    def to_json(self) -> dict[str, Any]:
        return {
            "rownames": list(self.rownames),
            "colnames": list(self.colnames),
            "data": [[_json_number(x) for x in row] for row in np.atleast_2d(self.data)],
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Matrix:
        data = np.array(
            [[math.nan if x is None else float(x) for x in row] for row in obj["data"]], dtype=float
        )
        return cls(list(obj["rownames"]), list(obj["colnames"]), data)


def _json_number(x: float) -> float | None:
    x = float(x)
    return None if math.isnan(x) else x


@dataclass
class EResults:
    """``e()`` scalars, macros and matrices, plus the value labels needed to replay."""

    scalars: dict[str, float] = field(default_factory=dict)
    macros: dict[str, str] = field(default_factory=dict)
    matrices: dict[str, Matrix] = field(default_factory=dict)
    value_labels: dict[str, dict[int, str]] = field(default_factory=dict)
    empty_cells: frozenset[str] = frozenset()  # e(b) column names (eq:name)

    @property
    def b(self) -> Matrix:
        return self.matrices["b"]

    @property
    def V(self) -> Matrix:  # noqa: N802 - Stata's name
        return self.matrices["V"]

    def to_json(self) -> dict[str, Any]:
        """The JSON object: ``scalars``, ``macros``, ``matrices`` (missing values as null)."""
        return {
            "scalars": {k: _json_number(v) for k, v in self.scalars.items()},
            "macros": dict(self.macros),
            "matrices": {k: m.to_json() for k, m in self.matrices.items()},
        }

    def write_json(self, path: str | Path) -> None:
        """Write :meth:`to_json` to ``path``, whole or not at all (Stata's errors)."""
        from melogit_cli.files import write_text

        write_text(path, json.dumps(self.to_json(), indent=1) + "\n")
