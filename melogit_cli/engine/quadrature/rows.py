"""Per-cluster, per-node sums over rows in numpy: what the compiled loops
(``compiled.kernels.node_loglik`` and ``node_sums``) compute for large data, with the same
arguments and results.  Rows of cluster g are ``bounds[g]:bounds[g+1]``; ``u`` is
G x K x q, the effects at each cluster's nodes; ``eta_ik = xb_i + Z_i u_gk``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from melogit_cli.special import expit

MAX_ELEMENTS = 4_000_000  # padded rows x nodes at most
CHUNK_ELEMENTS = 4_000_000  # rows x nodes handled at once; bounds memory


def chunk_slices(starts: np.ndarray, per_row: int) -> Iterator[tuple[slice, slice]]:
    """Runs of consecutive clusters whose rows start at ``starts`` (G + 1 boundaries), as
    (clusters, rows) slices of at most ``CHUNK_ELEMENTS`` (as it is when called) elements
    at ``per_row`` a row (one cluster at least)."""
    G = len(starts) - 1
    max_rows = max(1, CHUNK_ELEMENTS // max(per_row, 1))
    g0 = 0
    while g0 < G:
        g1 = int(np.searchsorted(starts, starts[g0] + max_rows, side="right")) - 1
        g1 = min(max(g1, g0 + 1), G)
        yield slice(g0, g1), slice(int(starts[g0]), int(starts[g1]))
        g0 = g1


class Rows(NamedTuple):
    """A run of clusters' rows: the fixed part ``xb``, the designs, the responses and
    weights, and the clusters' row bounds (G + 1, from the run's first row)."""

    xb: np.ndarray
    X: np.ndarray
    Z: np.ndarray
    y: np.ndarray
    trials: np.ndarray
    weight: np.ndarray
    bounds: np.ndarray


@dataclass
class PaddedClusters:
    """A chunk's rows laid out as clusters x (largest cluster size), zero-padded, so that
    per-cluster sums of products with the covariates are one batched matrix product
    (small clusters make segment sums over each column a loop of tiny reductions).

    The residuals are summed against ``[X Z]`` and the weights against ``[Z_a Z_b,
    X_j Z_a]``.  With a random intercept alone (``Z = 1``) the second set is the first
    reordered, so one product of ``[X 1]`` with ``[resid wgt]`` gives both.
    """

    slot: np.ndarray  # each row's place in the flattened clusters x slots layout
    XZ: np.ndarray  # g x (p + q) x m: the covariates [X Z]
    products: np.ndarray | None  # g x (q*q + p*q) x m: [Z_a Z_b, X_j Z_a]; None if Z = 1
    p: int
    q: int

    MAX_WASTE = 8  # padded slots per row above which segment sums are used instead

    @classmethod
    def build(
        cls, X: np.ndarray, Z: np.ndarray, starts: np.ndarray, sizes: np.ndarray, K: int
    ) -> PaddedClusters | None:
        n, G = len(X), len(sizes)
        m = int(sizes.max(initial=0))
        if n == 0 or G * m > cls.MAX_WASTE * n or G * m * K > MAX_ELEMENTS:
            return None
        slot = np.repeat(np.arange(G) * m - starts, sizes) + np.arange(n)
        p, q = X.shape[1], Z.shape[1]
        first = cls._padded_rows(np.hstack([X, Z]), slot, G, m)
        if q == 1 and np.all(Z == 1.0):
            return cls(slot, first, None, p, q)
        ZZ = (Z[:, :, None] * Z[:, None, :]).reshape(n, q * q)
        XZ = (X[:, :, None] * Z[:, None, :]).reshape(n, p * q)
        second = cls._padded_rows(np.hstack([ZZ, XZ]), slot, G, m)
        return cls(slot, first, second, p, q)

    @staticmethod
    def _padded_rows(rows: np.ndarray, slot: np.ndarray, G: int, m: int) -> np.ndarray:
        """``rows`` (n x c) laid out as g x c x m."""
        out = np.zeros((G * m, rows.shape[1]))
        out[slot] = rows
        return np.ascontiguousarray(out.reshape(G, m, -1).transpose(0, 2, 1))

    def _pad(self, values: np.ndarray) -> np.ndarray:
        """``values`` (n x k) laid out as g x m x k."""
        g, _, m = self.XZ.shape
        out = np.zeros((g * m, values.shape[1]))
        out[self.slot] = values
        return out.reshape(g, m, -1)

    def node_sums(
        self, resid: np.ndarray, wgt: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """resid X (g x K x p), resid Z (g x K x q), wgt Z Z' (g x K x q x q) and
        wgt X Z' (g x K x p x q), from the rows' resid and wgt (n x K)."""
        p, q = self.p, self.q
        g, K = self.XZ.shape[0], resid.shape[1]
        if self.products is None:
            sums = self.XZ @ self._pad(np.concatenate([resid, wgt], axis=1))  # g x (p+1) x 2K
            first = sums[:, :, :K].transpose(0, 2, 1)
            ones_x = sums[:, :, K:].transpose(0, 2, 1)  # [X 1] wgt
            zz = ones_x[:, :, p:].reshape(g, K, 1, 1)
            xz = ones_x[:, :, :p].reshape(g, K, p, 1)
        else:
            first = (self.XZ @ self._pad(resid)).transpose(0, 2, 1)  # g x K x (p + q)
            second = (self.products @ self._pad(wgt)).transpose(0, 2, 1)
            zz = second[:, :, : q * q].reshape(g, K, q, q)
            xz = second[:, :, q * q :].reshape(g, K, p, q)
        return first[:, :, :p], first[:, :, p:], zz, xz


def linear_predictor(rows: Rows, u: np.ndarray) -> np.ndarray:
    """``eta_ik = xb_i + Z_i u_gk`` (n x K)."""
    u_rows = np.repeat(u, np.diff(rows.bounds), axis=0)
    return rows.xb[:, None] + np.einsum("iq,ikq->ik", rows.Z, u_rows)


def node_loglik(rows: Rows, u: np.ndarray) -> np.ndarray:
    """``sum_i w_i (y_i eta_ik - r_i log(1 + exp eta_ik))`` per cluster and node."""
    eta = linear_predictor(rows, u)
    y, r, w = rows.y[:, None], rows.trials[:, None], rows.weight[:, None]
    return np.add.reduceat(w * (y * eta - r * np.logaddexp(0.0, eta)), rows.bounds[:-1], axis=0)


def node_sums(
    rows: Rows,
    u: np.ndarray,
    post: np.ndarray,
    *,
    m: np.ndarray | None = None,
    padded: PaddedClusters | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per cluster and node: ``sum resid X``, ``sum resid Z``, ``sum wgt Z Z'``,
    ``sum wgt X Z'``; per row: ``sum_k wgt_ik post_gk``; ``resid = w (y - r m)``,
    ``wgt = w r m (1 - m)``.  ``m``: the probabilities, when known; ``padded``: the
    rows' padded layout, when kept (else built where it pays)."""
    m = expit(linear_predictor(rows, u)) if m is None else m
    w, r = rows.weight[:, None], rows.trials[:, None]
    resid = w * (rows.y[:, None] - r * m)
    wgt = w * r * m * (1 - m)
    X, Z, b = rows.X, rows.Z, rows.bounds
    wbar = np.einsum("ik,ik->i", wgt, np.repeat(post, np.diff(b), axis=0))
    padded = padded or PaddedClusters.build(X, Z, b[:-1], np.diff(b), u.shape[1])
    if padded is not None:
        return (*padded.node_sums(resid, wgt), wbar)
    n, p, q = X.shape[0], X.shape[1], Z.shape[1]

    def sums(values: np.ndarray, columns: np.ndarray) -> np.ndarray:
        return np.add.reduceat(values[:, :, None] * columns[:, None, :], b[:-1], axis=0)

    zz = sums(wgt, (Z[:, :, None] * Z[:, None, :]).reshape(n, q * q))
    xz = sums(wgt, (X[:, :, None] * Z[:, None, :]).reshape(n, p * q))
    G, K = zz.shape[:2]
    return sums(resid, X), sums(resid, Z), zz.reshape(G, K, q, q), xz.reshape(G, K, p, q), wbar
