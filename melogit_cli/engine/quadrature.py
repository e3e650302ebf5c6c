"""Gauss-Hermite rules for the standard normal density, and their product grids."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from itertools import product

import numpy as np


@dataclass(frozen=True)
class Rule:
    """A product rule in ``q`` dimensions for integrals against N(0, I).

    ``nodes`` (K x q) and ``log_weights`` (K,) with ``sum(exp(log_weights)) == 1``;
    ``log_phi`` (K,) is the log standard-normal density at each node.
    """

    nodes: np.ndarray
    log_weights: np.ndarray
    log_phi: np.ndarray

    @property
    def size(self) -> int:
        return len(self.log_weights)


@lru_cache(maxsize=64)
def normal_rule(points: int, dim: int) -> Rule:
    """``points``-point Gauss-Hermite rule per dimension (probabilists' weight), ``dim`` dims."""
    x, w = np.polynomial.hermite_e.hermegauss(points)
    w = w / w.sum()
    idx = np.array(list(product(range(points), repeat=dim)), dtype=int).reshape(-1, dim)
    nodes = x[idx]
    log_weights = np.log(w)[idx].sum(axis=1)
    log_phi = -0.5 * (nodes**2).sum(axis=1) - 0.5 * dim * np.log(2 * np.pi)
    for arr in (nodes, log_weights, log_phi):
        arr.setflags(write=False)
    return Rule(nodes, log_weights, log_phi)
