"""The arrays of a crossed model, apart from the engine (which needs scipy.sparse)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from melogit_cli.engine.covariance import LevelCovariance


@dataclass
class RETerm:
    """One set of random effects: ``q`` effects per group, covariance factor from ``cov``."""

    label: str
    group: np.ndarray  # each row's group, 0 .. n_groups - 1
    n_groups: int
    Z: np.ndarray  # n x q covariates (ones for an intercept or an R. indicator)
    cov: LevelCovariance
    theta_index: np.ndarray  # positions of this term's parameters in theta

    @property
    def q(self) -> int:
        return self.Z.shape[1]

    @property
    def size(self) -> int:
        return self.n_groups * self.q


@dataclass
class CrossedData:
    """The arrays of a crossed model (rows in the data's order) and its terms."""

    y: np.ndarray
    trials: np.ndarray
    X: np.ndarray
    offset: np.ndarray
    obs_weight: np.ndarray
    terms: list[RETerm]

    @property
    def cluster_weight(self) -> np.ndarray:
        return np.ones(1)

    def row_weight(self) -> np.ndarray:
        return self.obs_weight
