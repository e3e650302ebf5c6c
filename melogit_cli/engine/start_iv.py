"""``startvalues(iv)``: variances of the random effects from the fixed-effects fit's
generalized residuals.

Stata documents the method only as "instrumental-variable methods with generalized
residuals to obtain variances of random effects", built on ``startvalues(fixedonly)``.
Ours: with ``r_i = y_i - n_i p_i`` the generalized residual of the fixed-effects logit
and ``w_i = n_i p_i (1 - p_i)`` its weight, a first-order expansion of the model around
the fixed-effects fit gives ``r_i ~ w_i z_i'u + e_i``.  Two observations of one group
share ``u`` and nothing else, so each is an instrument for the other's random effect:
``E[r_i r_k] = w_i w_k z_i' Sigma z_k`` for ``i != k`` in the same group (summed over the
terms whose group both share).  The variance parameters -- the ones the covariance
structure reports, in which ``Sigma`` is linear -- are the weighted least-squares
solution of these moment equations over all such pairs, each pair weighted by
``1 / (w_i w_k)``, the variance of ``r_i r_k`` when the effects are small (for one random
intercept this is the ratio ``sum r_i r_k / sum w_i w_k``); group sums do the work (no
loop over pairs).  Each level's estimate is then made positive definite (eigenvalues at least
``FLOOR``) and mapped to the maximizer's parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from melogit_cli.engine.model.covariance import (
    LevelCovariance,
    NestedCovariance,
    block_diagonal,
)
from melogit_cli.special import expit

FLOOR = 0.01  # smallest start variance (eigenvalue) of a level's covariance


@dataclass
class Term:
    """Effects sharing one grouping: each row's group, its ``Z`` and their covariance."""

    group: np.ndarray
    Z: np.ndarray
    cov: LevelCovariance


def iv_sigmas(data, cov: LevelCovariance | NestedCovariance, beta: np.ndarray) -> np.ndarray:
    """The block-diagonal covariance of all random effects (in the engine's order) that
    the moment equations give at the fixed-effects coefficients ``beta``, each level's
    made positive definite."""
    terms = _terms(data, cov)
    p = expit(data.X @ beta + data.offset)
    r = data.y - data.trials * p
    w = data.trials * p * (1.0 - p)
    return block_diagonal([_positive_definite(s) for s in moment_sigmas(terms, r, w)])


def moment_sigmas(terms: list[Term], r: np.ndarray, w: np.ndarray) -> list[np.ndarray]:
    """Each term's covariance solving, by least squares over all pairs ``i != k`` sharing
    a group weighted by ``1 / (w_i w_k)``, ``r_i r_k = w_i w_k sum_t z_i' Sigma_t z_k``
    (the sum over the terms whose group the pair shares)."""
    bases = [_bases(t.cov) for t in terms]
    root_w = np.sqrt(w)[:, None]
    U = [root_w * t.Z for t in terms]  # the weighted cross-products: sqrt(w_i w_k) z_i z_k
    offsets = np.cumsum([0] + [len(b) for b in bases])
    M = np.zeros((offsets[-1], offsets[-1]))
    c = np.zeros(offsets[-1])
    for a, ta in enumerate(terms):
        ra = slice(offsets[a], offsets[a + 1])
        c[ra] = _moment_rhs(ta.group, ta.Z, r, bases[a])
        for b in range(a, len(terms)):
            rb = slice(offsets[b], offsets[b + 1])
            cells = _cells(ta.group, terms[b].group)
            M[ra, rb] = _moment_block(cells, U[a], U[b], bases[a], bases[b])
            M[rb, ra] = M[ra, rb].T
    phi = np.linalg.lstsq(M, c, rcond=None)[0]
    return [
        np.einsum("k,kab->ab", phi[offsets[a] : offsets[a + 1]], np.array(basis))
        for a, basis in enumerate(bases)
    ]


def _terms(data, cov: LevelCovariance | NestedCovariance) -> list[Term]:
    """Each grouping of the layout's arrays (two-level: ``cov`` is the level's; nested:
    one level each; crossed: the terms carry their own)."""
    layout = data.layout
    if layout == "clusters":
        group = np.repeat(np.arange(len(data.starts) - 1), np.diff(data.starts))
        return [Term(group, data.Z, cov)]  # type: ignore[arg-type]
    if layout == "nested":
        levels = cov.levels  # type: ignore[union-attr]
        return [Term(g, Z, lv) for g, Z, lv in zip(data.row_unit, data.Z, levels, strict=True)]
    return [Term(t.group, t.Z, t.cov) for t in data.terms]


def _bases(cov: LevelCovariance) -> list[np.ndarray]:
    """Matrices ``B_k`` with ``Sigma = sum phi_k B_k`` over the structure's reported
    (co)variances ``phi`` (identity: one variance; exchangeable: variance, covariance)."""
    q = cov.dim
    out = []
    for blk, s, _ in cov.spans():
        m, i = blk.size, s.start
        for a, b in blk.reported():
            B = np.zeros((q, q))
            if blk.kind == "identity" or m == 1:
                B[s, s] = np.eye(m)
            elif blk.kind == "exchangeable":
                B[s, s] = np.eye(m) if a == b else 1.0 - np.eye(m)
            else:
                B[i + a, i + b] = B[i + b, i + a] = 1.0
            out.append(B)
    return out


def _cells(g1: np.ndarray, g2: np.ndarray) -> np.ndarray:
    """Each row's cell of the rows sharing both groupings (nested: the deeper one)."""
    if g1 is g2:
        return g1
    return np.unique(np.stack([g1, g2], axis=1), axis=0, return_inverse=True)[1].ravel()


def _group_sums(cells: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Sums of ``values`` (n x ...) over the rows of each cell."""
    n_cells = int(cells.max()) + 1 if len(cells) else 0
    flat = values.reshape(len(values), -1)
    out = np.stack(
        [np.bincount(cells, weights=flat[:, j], minlength=n_cells) for j in range(flat.shape[1])],
        axis=1,
    )
    return out.reshape((n_cells,) + values.shape[1:])


def _moment_block(
    cells: np.ndarray,
    Ua: np.ndarray,
    Ub: np.ndarray,
    basis_a: list[np.ndarray],
    basis_b: list[np.ndarray],
) -> np.ndarray:
    """``sum over pairs i != k of one cell of (u_i'B_k u_k)(v_i'C_l v_k)``: per cell
    ``sum(B_k * (S C_l S'))`` with ``S = sum u_i v_i'``, less the pairs ``i = k``."""
    P = Ua[:, :, None] * Ub[:, None, :]  # n x qa x qb
    S = _group_sums(cells, P)
    qb = [np.einsum("na,ab,nb->n", Ub, C, Ub) for C in basis_b]
    out = np.empty((len(basis_a), len(basis_b)))
    for k, B in enumerate(basis_a):
        qa = np.einsum("na,ab,nb->n", Ua, B, Ua)
        for m, C in enumerate(basis_b):
            whole = np.einsum("ab,gac,cd,gbd->", B, S, C, S)
            out[k, m] = whole - float(qa @ qb[m])
    return out


def _moment_rhs(group: np.ndarray, U: np.ndarray, r: np.ndarray, basis) -> np.ndarray:
    """``sum over pairs i != k of one group of r_i r_k u_i'B_k u_k`` (``u = z``)."""
    s = _group_sums(group, r[:, None] * U)
    out = np.empty(len(basis))
    for k, B in enumerate(basis):
        diag = np.einsum("n,na,ab,nb->", r * r, U, B, U)
        out[k] = np.einsum("ga,ab,gb->", s, B, s) - diag
    return out


def _positive_definite(sigma: np.ndarray) -> np.ndarray:
    """``sigma`` with its eigenvalues raised to ``FLOOR``."""
    sym = 0.5 * (sigma + sigma.T)
    values, vectors = np.linalg.eigh(sym)
    return (vectors * np.maximum(values, FLOOR)) @ vectors.T
