"""Joint Laplace approximation for crossed random effects, using the Hessian's sparsity.

All random effects are stacked in one vector ``u = Lambda(theta) v`` with ``v ~ N(0, I)``.
They come in *terms*: an ordinary level (its clusters, ``q`` effects each, covariance
factor ``A``) or an ``R.varname`` equation (one effect per level of ``varname`` within
each cluster of its level, identity covariance).  With ``B = Z Lambda`` (sparse, a few
nonzeros per row) the log integrand is ``h(v) = sum_i ll_i(x_i b + b_i' v) - v'v/2``;
its mode ``v_hat`` is found by penalized IRLS (Newton with step halving) and

    ll = h(v_hat) - 1/2 log|H|,   H = B' W B + I.

Sparse factorization.  The term with the most effects is eliminated first: its block
``H11`` of ``H`` is block diagonal (each row touches one cluster of a term), so its
factorization and inverse are batched ``q x q`` operations.  The remaining effects form
the Schur complement ``S = H22 - C' H11^-1 C`` (``C = H12`` sparse), factored densely:
this is a sparse Cholesky factorization with the big term ordered first, whose fill is
confined to ``S``.  ``log|H| = log|H11| + log|S|``; solves use block elimination.

Gradient.  As in the two-level Laplace code (``laplace``), the log determinant moves
with the parameters also through ``v_hat`` and ``W``::

    dll/dpsi = dh/dpsi|_v - 1/2 [ sum_i W'_i lev_i deta_i/dpsi + 2 sum_i W_i b_i' H^-1 db_i/dpsi ]
    deta/dpsi = D + B H^-1 (d2h/dv dpsi)

with ``lev_i = b_i' H^-1 b_i``.  Both bilinear forms need ``H^-1`` only on the entries
that one row couples (a selected inverse), obtained from the block formula
``H^-1 = [[H11^-1 + G S^-1 G', -G S^-1], [-S^-1 G', S^-1]]`` (``G = H11^-1 C``) with
``G S^-1`` formed in chunks of rows and gathered on the pattern of ``C``.  The Hessian
is the difference of this gradient (forward while iterating, central at the end).

Every pass is over the rows, so identical rows are merged first, weighted by their count
(``collapse_identical_rows``): the likelihood is the same, the passes shorter.

Weights (nested designs only) count a row or unit as that many copies, as in the other
engines (``nested_tree``).  Copies share their mode, so ``v`` keeps one vector per unit
and ``H`` is the matrix of the reduced problem: rows weighted by their copies, the prior
term ``v'v`` by the units' (``c``).  The levels are then eliminated from the lowest up;
with ``H = L L'`` in that order, the factor of one copy is ``L c^-1/2``, so the
replicated ``log|H|`` is ``sum_e c_e (log L_ee^2 - log c_e)`` and its inverse on one
copy's path, which the gradient's selected inverse needs, is ``L'^-1 c L^-1``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

import numpy as np

from melogit_cli.engine.integration import Integration
from melogit_cli.engine.laplace.dense_spd import SMALL, BlockDiagonalSPD, DenseSPD
from melogit_cli.engine.laplace.objective import LaplaceObjective
from melogit_cli.engine.model.covariance import NestedCovariance
from melogit_cli.engine.model.crossed_data import CrossedData, collapse_identical_rows
from melogit_cli.engine.optimize.differences import ShiftedGradient
from melogit_cli.errors import StataError
from melogit_cli.special import expit, log_binomial_constant, softplus

if TYPE_CHECKING:
    import scipy.sparse as sp

MODE_ITERATIONS = 200
MODE_TOLERANCE = 1e-9  # largest Newton step accepted as "at the mode" (then taken once more)
CHUNK_ELEMENTS = 4_000_000  # dense entries of G S^-1 formed at once
MAX_SCHUR = 8000  # effects outside the largest term: S is dense
MAX_PAIRS = 5_000_000  # pairs of C's nonzeros within a cluster of the largest term
DENSE_C_FLOPS = 100_000_000  # C dense when C'H11^-1 C as a dense product costs at most this
DENSE_C_ALWAYS = 2_000_000  # and always below this
DENSE_OVER_PAIRS = 8  # a dense flop costs about this much less than a pair summed by bincount


@dataclass
class CrossedState:
    """The joint mode, in the metric of ``u`` per term (carries over when theta moves)."""

    u: list[np.ndarray]  # per term: n_groups x q


class _Rows(NamedTuple):
    """The nonzeros of ``B = Z Lambda``: term 1 (n x q1), the others (n x Q2), and all
    of them one slot per row (Q x n)."""

    b1: np.ndarray
    b2: np.ndarray
    slots: np.ndarray


class _Entries:
    """A sparse matrix from its nonzeros (``values[e]`` at ``rows[e]``, ``cols[e]``), with
    the products ``C x`` and ``C' y`` (``.T``) by ``bincount``, without scipy.sparse."""

    def __init__(
        self, values: np.ndarray, rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]
    ) -> None:
        self.values, self.rows, self.cols, self.shape = values, rows, cols, shape

    @property
    def T(self) -> _Entries:
        return _Entries(self.values, self.cols, self.rows, self.shape[::-1])

    def __matmul__(self, x: np.ndarray) -> np.ndarray:
        """The product with an (n_cols x k) matrix: one bincount over all k columns."""
        n_rows, k = self.shape[0], x.shape[1]
        index = (self.rows[:, None] + n_rows * np.arange(k)).ravel()
        weights = (self.values[:, None] * x[self.cols]).ravel()
        out = np.bincount(index, weights, minlength=n_rows * k).reshape(k, n_rows)
        return np.ascontiguousarray(out.T)


class _Pairs(NamedTuple):
    """The unordered pairs of distinct block entries of C within one cluster of term 1:
    entries ``e1 < e2``, their place ``target`` in S (flat, upper triangle; sorted),
    and (for an S read whole) the distinct upper places and their mirror images below
    the diagonal."""

    e1: np.ndarray
    e2: np.ndarray
    target: np.ndarray
    mirror: tuple[np.ndarray, np.ndarray] | None


class _AtTheta(NamedTuple):
    """What a theta gives: each term's factor and its derivatives, B's nonzeros, and each
    parameter's ``Z dA`` (term k, position t in theta, n x q)."""

    key: bytes
    factors: list[tuple[np.ndarray, np.ndarray]]
    rows: _Rows
    dvals: list[tuple[int, int, np.ndarray]]


class _Factor(NamedTuple):
    """``H`` at one point, factored by block elimination."""

    H11inv: np.ndarray  # G1 x q1 x q1
    logdet: float
    C: np.ndarray | _Entries | None  # m1 x m2, dense or by its entries; None if m2 = 0
    G: np.ndarray | None  # H11^-1 C, dense (when C is)
    Gv: np.ndarray | None  # H11^-1 C on C's pattern (block entries x q1), when C is sparse
    schur: DenseSPD | BlockDiagonalSPD | None  # S = H22 - C' H11^-1 C


class CrossedLaplace:
    """Laplace approximation of a logistic model with crossed random effects."""

    layout: ClassVar[str] = "crossed"
    points = 1

    def __init__(
        self, data: CrossedData, cov: NestedCovariance, method: str = "laplace", points: int = 1
    ) -> None:
        data = collapse_identical_rows(data)
        self.data = data
        self.cov = cov
        self.method = method
        self.points = Integration.of(method, points).points  # one: the Laplacian approximation
        self.p = data.X.shape[1]
        self.T = cov.n_params
        self.w = data.row_weight()
        self.constant = log_binomial_constant(data.trials, data.y, self.w)
        terms = data.terms
        copies = data.copies()
        # eliminate the largest term first; the others are the Schur complement's effects
        # (weighted, nested: the levels from the lowest up)
        if copies is None:
            first = int(np.argmax([t.size for t in terms]))
            self.order = [first] + [k for k in range(len(terms)) if k != first]
        else:
            self.order = list(reversed(range(len(terms))))
        self.terms = [terms[k] for k in self.order]
        t1 = self.terms[0]
        self.q1, self.G1 = t1.q, t1.n_groups
        self.m1 = t1.size
        offsets = np.cumsum([0] + [t.size for t in self.terms[1:]])
        self.m2 = int(offsets[-1])
        if self.m2 > MAX_SCHUR:
            raise StataError(
                f"crossed random effects: {self.m2} effects outside the largest term; "
                f"at most {MAX_SCHUR} allowed",
                908,
            )
        n = len(data.y)
        self.n = n
        # each row's columns within its term's block (n x q per term), then in the
        # numbering of term 1's effects (n x q1) and of the others' (n x Q2)
        self.term_cols = [t.group[:, None] * t.q + np.arange(t.q) for t in self.terms]
        self.cols1 = self.term_cols[0]
        cols2 = [off + c for off, c in zip(offsets[:-1], self.term_cols[1:], strict=True)]
        self.cols2 = np.concatenate(cols2, axis=1) if cols2 else np.zeros((n, 0), dtype=np.int64)
        self.Q2 = self.cols2.shape[1]
        self.Q = self.q1 + self.Q2
        # each effect's copies (None: one each), and those of term 1's groups
        self.c: np.ndarray | None = None
        if copies is not None:
            self.c = np.concatenate([np.repeat(copies[k], terms[k].q) for k in self.order])
            self.c1 = copies[self.order[0]]
        # the same, one row per nonzero slot (Q x n) in global columns: products and sums
        # over the n rows then run along contiguous memory
        self.cols = np.ascontiguousarray(np.concatenate([self.cols1, self.cols2 + self.m1], 1).T)
        self.XT = np.ascontiguousarray(data.X.T)
        self._bt_index: dict[int, np.ndarray] = {}
        self.starts = np.cumsum([0] + [t.size for t in self.terms])
        self.slot_starts = np.cumsum([0] + [t.q for t in self.terms])  # each term's slots
        # rows sorted by their group of term 1, and where each group's rows begin
        self.row_order = np.argsort(t1.group, kind="stable")
        self.group_starts = np.searchsorted(t1.group[self.row_order], np.arange(self.G1 + 1))
        self._last: tuple | None = None
        self._theta_cache: _AtTheta | None = None
        # C = H12 is kept dense when the dense product C'H11^-1 C is cheap: tiny, or not
        # much dearer than summing over the pairs of C's nonzeros within a cluster of
        # term 1 (crossed designs); nested-like designs, with few pairs, keep its pattern
        self.dense = False
        self.nested_schur = False
        if self.m2:
            self._entries()
            # where each row's pairs of set-2 nonzeros fall in S (m2 x m2, flat)
            a, b = self.cols2[:, :, None], self.cols2[:, None, :]
            self.s_targets, self.s_slot = np.unique((a * self.m2 + b).ravel(), return_inverse=True)
            # the same pairs in S's upper triangle (``DenseSPD.inverse(triangle=True)``)
            self.upper_index = np.minimum(a, b) * self.m2 + np.maximum(a, b)
            # one term beyond the first, and each of term 1's clusters within one of its
            # groups (a nested design): S is block diagonal, one block per group
            if len(self.terms) == 2:
                group = self.ce // self.Q2
                first = np.full(self.G1, -1)
                first[self.ke] = group
                self.nested_schur = bool(np.all(group == first[self.ke]))
            flops = self.m1 * self.m2 * self.m2
            self.dense = self.m2 <= SMALL and (
                flops <= DENSE_C_ALWAYS
                or (flops <= DENSE_C_FLOPS and flops <= DENSE_OVER_PAIRS * self.n_pairs * self.q1)
            )
        if self.dense:
            # flat index of each row's C entries: (row of C) * m2 + column
            c_rows = self.cols1[:, :, None] * self.m2
            self.c_index = (c_rows + self.cols2[:, None, :]).ravel()
        elif self.m2:
            self._pattern()

    def _entries(self) -> None:
        """The fixed sparsity of ``C = H12``: block entries (cluster k of term 1, column c),
        sorted by cluster, then column; ``pos`` maps each row's set-2 nonzeros to their
        entry; ``n_pairs`` counts the pairs of entries within one cluster."""
        t1, m2 = self.terms[0], self.m2
        key = (t1.group[:, None] * m2 + self.cols2).ravel()
        ukeys, pos = np.unique(key, return_inverse=True)
        self.pos = pos.reshape(self.n, self.Q2)
        self.ke, self.ce = ukeys // m2, ukeys % m2
        self.nnzb = len(ukeys)
        self.entry_counts = np.bincount(self.ke, minlength=self.G1)
        self.n_pairs = int(np.sum(self.entry_counts.astype(np.int64) ** 2))

    def _pattern(self) -> None:
        """C kept on its pattern: a CSR layout of the entries and ``pairs``, the pairs of
        entries within one cluster (for ``C' H11^-1 C`` and the selected inverse) when
        they are not too many."""
        q1, G1 = self.q1, self.G1
        counts = self.entry_counts
        starts = np.concatenate([[0], np.cumsum(counts)])
        # CSR layout of C (row k*q1 + a holds the entries of cluster k)
        row_len = np.repeat(counts, q1)
        self.indptr = np.concatenate([[0], np.cumsum(row_len)])
        slot_row = np.repeat(np.arange(G1 * q1), row_len)
        within = np.arange(self.indptr[-1]) - self.indptr[:-1][slot_row]
        self.csr_entry = starts[slot_row // q1] + within
        self.csr_a = slot_row % q1
        self.csr_col = self.ce[self.csr_entry]
        # C's nonzeros by block entry: entry e, effect a at row ke_e q1 + a, column ce_e
        self.c_rows = (self.ke[:, None] * q1 + np.arange(q1)).ravel()
        self.c_cols = np.repeat(self.ce, q1)
        self.pairs = None
        if self.n_pairs <= MAX_PAIRS:
            self.pairs = self._pairs(starts)

    def _pairs(self, starts: np.ndarray) -> _Pairs:
        """Each unordered pair of distinct entries within one cluster, in the order of
        its place in S's upper triangle (so the sums into S and the reads of S^-1 go
        along memory)."""
        m2 = self.m2
        within = np.arange(self.nnzb) - starts[self.ke]
        partners = self.entry_counts[self.ke] - within - 1  # the entries after it
        e1 = np.repeat(np.arange(self.nnzb), partners)
        e2 = e1 + 1 + np.arange(len(e1)) - np.repeat(np.cumsum(partners) - partners, partners)
        target = self.ce[e1] * m2 + self.ce[e2]  # entries sorted by column: c1 < c2
        order = np.argsort(target, kind="stable")
        e1, e2, target = e1[order], e2[order], target[order]
        # a large dense S is read by the Cholesky factorization on its upper triangle
        # only; a small or block-diagonal one is read whole: its lower triangle copied
        mirror = None
        if m2 <= SMALL or self.nested_schur:
            upper = np.unique(target)
            mirror = (upper, (upper % m2) * m2 + upper // m2)
        return _Pairs(e1, e2, target, mirror)

    def _pair_sums(self, Cv: np.ndarray, Gv: np.ndarray) -> np.ndarray:
        """``C' H11^-1 C`` (m2 x m2; its upper triangle only if S is large and not block
        diagonal) from the entries'
        values of ``C`` and ``G = H11^-1 C``: the sums over the pairs of entries within
        each cluster, ``sum_a C[e1, a] G[e2, a]``."""
        pairs, m2 = self.pairs, self.m2
        products = np.zeros(len(pairs.e1))
        for a in range(self.q1):
            c, g = Cv[:, a], Gv[:, a]
            products += np.take(c, pairs.e1) * np.take(g, pairs.e2)
        # (float even without pairs: numpy counts an empty bincount in integers)
        S = np.bincount(pairs.target, products, minlength=m2 * m2).astype(float, copy=False)
        if pairs.mirror is not None:
            S[pairs.mirror[1]] = S[pairs.mirror[0]]
        S[:: m2 + 1] += np.bincount(self.ce, _rowdot(Cv, Gv), minlength=m2)
        return S.reshape(m2, m2)

    def _pair_solve(self, Gv: np.ndarray, Sinv: np.ndarray) -> np.ndarray:
        """``G S^-1`` on C's pattern (entries x q1): the entry of cluster k in column
        c2 is the sum over the cluster's entries of ``G[e1] S^-1[c1, c2]`` (``S^-1``
        read on its upper triangle)."""
        pairs, m2, nnzb = self.pairs, self.m2, self.nnzb
        s = np.take(Sinv.ravel(), pairs.target)
        diagonal = np.take(Sinv.ravel()[:: m2 + 1], self.ce)
        P = np.empty_like(Gv)
        for a in range(self.q1):
            g = np.ascontiguousarray(Gv[:, a])
            P[:, a] = g * diagonal
            P[:, a] += np.bincount(pairs.e2, np.take(g, pairs.e1) * s, minlength=nnzb)
            P[:, a] += np.bincount(pairs.e1, np.take(g, pairs.e2) * s, minlength=nnzb)
        return P

    def _csr(self, values: np.ndarray) -> sp.csr_matrix:
        """A matrix on C's pattern from its block-entry values (entries x q1)."""
        import scipy.sparse as sp

        data = values[self.csr_entry, self.csr_a]
        return sp.csr_matrix((data, self.csr_col, self.indptr), shape=(self.m1, self.m2))

    # ------------------------------------------------------------ parameters
    def _at(self, theta: np.ndarray) -> _AtTheta:
        """What depends on theta alone (kept for the last theta: the shifted points of a
        differenced Hessian often share it)."""
        key = theta.tobytes()
        if self._theta_cache is None or self._theta_cache.key != key:
            factors, dvals = [], []
            for k, term in enumerate(self.terms):
                A, dA, _ = term.cov.factor_derivatives(theta[term.theta_index])
                factors.append((A, dA))
                dvals += [(k, int(t), term.Z @ dA[s]) for s, t in enumerate(term.theta_index)]
            self._theta_cache = _AtTheta(key, factors, self._values(factors), dvals)
        return self._theta_cache

    def _factors(self, theta: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Each term's covariance factor and its derivatives."""
        return self._at(theta).factors

    def _rows(self, factors: list) -> _Rows:
        """B's nonzeros at these factors (from the cache when they are its factors)."""
        if self._theta_cache is not None and self._theta_cache.factors is factors:
            return self._theta_cache.rows
        return self._values(factors)

    def prior_state(self, theta: np.ndarray) -> CrossedState:
        del theta
        return CrossedState([np.zeros((t.n_groups, t.q)) for t in self.terms])

    def start_state(self, beta: np.ndarray, theta: np.ndarray) -> CrossedState:
        """The modes to start the fit from: zero."""
        del beta
        return self.prior_state(theta)

    def _v_from_state(self, state: CrossedState, factors: list) -> np.ndarray:
        parts = [
            np.linalg.solve(A, u.T).T.reshape(-1)
            for u, (A, _) in zip(state.u, factors, strict=True)
        ]
        return np.concatenate(parts)

    def _state_from_v(self, v: np.ndarray, factors: list) -> CrossedState:
        u = []
        for k, (t, (A, _)) in enumerate(zip(self.terms, factors, strict=True)):
            vk = v[self.starts[k] : self.starts[k + 1]].reshape(t.n_groups, t.q)
            u.append(vk @ A.T)
        return CrossedState(u)

    # ------------------------------------------------------------ pieces
    def _values(self, factors: list) -> _Rows:
        """Nonzeros of B at these covariance factors."""
        vals = [t.Z @ A for t, (A, _) in zip(self.terms, factors, strict=True)]
        b2 = np.concatenate(vals[1:], axis=1) if len(vals) > 1 else np.zeros((self.n, 0))
        slots = np.ascontiguousarray(np.concatenate([vals[0], b2], axis=1).T)
        return _Rows(vals[0], b2, slots)

    def _eta(self, xb: np.ndarray, rows: _Rows, v: np.ndarray) -> np.ndarray:
        return xb + _rowdot(rows.slots.T, np.take(v, self.cols).T)

    def _h(self, xb: np.ndarray, rows: _Rows, v: np.ndarray) -> tuple[float, np.ndarray]:
        """The log integrand ``h(v)`` and the linear predictor there."""
        eta = self._eta(xb, rows, v)
        return self._h_from_eta(eta, v), eta

    def _h_from_eta(self, eta: np.ndarray, v: np.ndarray) -> float:
        d = self.data
        ll = self.w * (d.y * eta - d.trials * softplus(eta))
        return float(np.sum(ll) - 0.5 * v @ self._prior(v))

    def _prior(self, v: np.ndarray) -> np.ndarray:
        """The prior term's gradient ``c v`` (``v`` without weights)."""
        return v if self.c is None else self.c * v

    def _bt(self, rows: _Rows, r: np.ndarray) -> np.ndarray:
        """``B' r'`` for an n-vector (an m-vector back) or a k x n matrix (k x m back)."""
        one = r.ndim == 1
        r2 = r[None] if one else r
        k, m = r2.shape[0], self.m1 + self.m2
        index = self._bt_index.get(k)
        if index is None:
            index = (self.cols[None] + m * np.arange(k)[:, None, None]).ravel()
            self._bt_index[k] = index
        out = np.bincount(index, (r2[:, None, :] * rows.slots).ravel(), minlength=k * m)
        return out if one else out.reshape(k, m)

    def _bmul(self, rows: _Rows, x: np.ndarray) -> np.ndarray:
        """``B x'`` for a k x m matrix ``x``: k x n."""
        out = np.take(x, self.cols[0], axis=1) * rows.slots[0]
        for a in range(1, self.Q):
            out += np.take(x, self.cols[a], axis=1) * rows.slots[a]
        return out

    def _factor(self, rows: _Rows, W: np.ndarray) -> _Factor:
        """Factor ``H = B'WB + I`` by eliminating term 1 first."""
        q1, G1, m1, m2 = self.q1, self.G1, self.m1, self.m2
        b1, b2 = rows.b1, rows.b2
        g1 = self.terms[0].group
        H11 = np.zeros((G1, q1, q1))
        for a in range(q1):
            for b in range(a, q1):
                s = np.bincount(g1, W * b1[:, a] * b1[:, b], minlength=G1)
                H11[:, a, b] = s
                H11[:, b, a] = s
        diagonal = H11.reshape(G1, q1 * q1)[:, :: q1 + 1]  # a view
        diagonal += 1.0 if self.c is None else self.c1[:, None]
        if q1 == 1:
            H11inv = 1.0 / H11
            logdets = np.log(H11[:, 0, 0])
        else:
            H11inv = np.linalg.inv(H11)
            logdets = np.linalg.slogdet(H11)[1]
        if self.c is None:
            logdet = float(logdets.sum())
        else:  # the pivots of one copy, counted by copies
            logdet = float(self.c1 @ (logdets - q1 * np.log(self.c1)))
        if m2 == 0:
            return _Factor(H11inv, logdet, None, None, None, None)
        wts = (W[:, None, None] * b2[:, :, None] * b2[:, None, :]).ravel()
        Wb1 = W[:, None] * b1
        G: np.ndarray | None = None
        Gv: np.ndarray | None = None
        if self.dense:
            C = np.bincount(
                self.c_index, (Wb1[:, :, None] * b2[:, None, :]).ravel(), minlength=m1 * m2
            ).reshape(m1, m2)
            G = self._h11_solve(H11inv, C)
            S = -(C.T @ G)
        else:
            pos = self.pos.ravel()
            Cv = np.empty((self.nnzb, q1))
            for a in range(q1):
                Cv[:, a] = np.bincount(pos, (Wb1[:, a, None] * b2).ravel(), minlength=self.nnzb)
            Gv = np.einsum("eab,eb->ea", H11inv[self.ke], Cv)
            C = _Entries(Cv.ravel(), self.c_rows, self.c_cols, (m1, m2))
            if self.pairs is not None:
                S = self._pair_sums(Cv, Gv)
                S = np.negative(S, out=S)
            else:
                S = -(self._csr(Cv).T @ self._csr(Gv)).toarray()
        # H22 (few distinct entries: each row's pairs of set-2 effects) and the prior
        S = np.ascontiguousarray(S)  # (the sparse product may come in Fortran order)
        flat = S.reshape(-1)  # a view, so the additions reach S
        flat[self.s_targets] += np.bincount(self.s_slot, wts, minlength=len(self.s_targets))
        flat[:: m2 + 1] += 1.0 if self.c is None else self.c[m1:]
        schur = BlockDiagonalSPD(S, self.Q2) if self.nested_schur else DenseSPD(S)
        logdet += schur.logdet if self.c is None else schur.copies_logdet(self.c[m1:])
        return _Factor(H11inv, logdet, C, G, Gv, schur)

    def _h11_solve(self, H11inv: np.ndarray, x: np.ndarray) -> np.ndarray:
        """``H11^-1 x`` for an m1 x k matrix (H11 block diagonal)."""
        G1, q1, k = self.G1, self.q1, x.shape[1]
        if q1 == 1:
            return H11inv[:, 0] * x
        return np.einsum("gab,gbk->gak", H11inv, x.reshape(G1, q1, k)).reshape(self.m1, k)

    def _solve(self, f: _Factor, rhs: np.ndarray) -> np.ndarray:
        """``H^-1 rhs`` for an m-vector or m x k matrix."""
        one = rhs.ndim == 1
        r = rhs[:, None] if one else rhs
        m1 = self.m1
        r1, r2 = r[:m1], r[m1:]
        if f.schur is None:
            out = self._h11_solve(f.H11inv, r1)
        else:
            t1 = self._h11_solve(f.H11inv, r1)
            x2 = f.schur.solve(r2 - f.C.T @ t1)
            x1 = self._h11_solve(f.H11inv, r1 - f.C @ x2)
            out = np.concatenate([x1, x2])
        return out[:, 0] if one else out

    # ------------------------------------------------------------ modes
    def modes(
        self,
        beta: np.ndarray,
        theta: np.ndarray,
        factors: list,
        state: CrossedState | None,
        v0: np.ndarray | None = None,
        *,
        tolerance: float = MODE_TOLERANCE,
        iterations: int = MODE_ITERATIONS,
    ) -> tuple[np.ndarray, float | None, _Rows, _Factor]:
        """Joint mode by penalized IRLS (at most ``iterations`` steps, until the largest
        is below ``tolerance``); returns v, h(v) (None if not computed), B's values and
        H's factor there.

        Starts from ``v0`` (v-metric) when given, else from ``state``; the last result
        is kept, so the gradient at the point just evaluated reuses its factorization.
        """
        key = (beta.tobytes(), theta.tobytes(), tolerance, iterations)
        if self._last is not None and self._last[0] == key:
            return self._last[1]
        out = self._modes(beta, factors, state, v0, tolerance, iterations)
        self._last = (key, out)
        return out

    def _modes(
        self,
        beta: np.ndarray,
        factors: list,
        state: CrossedState | None,
        v0: np.ndarray | None,
        tolerance: float,
        iterations: int,
    ) -> tuple[np.ndarray, float | None, _Rows, _Factor]:
        d = self.data
        xb = d.X @ beta + d.offset
        rows = self._rows(factors)
        if v0 is not None:
            v = v0.copy()
        else:
            assert state is not None
            v = self._v_from_state(state, factors)
        eta = self._eta(xb, rows, v)
        if not np.all(np.isfinite(eta)):
            v = np.zeros_like(v)
            eta = self._eta(xb, rows, v)
        h = None  # h(v), computed when a step has to be checked
        for _ in range(iterations):
            mu = expit(eta)
            resid = self.w * (d.y - d.trials * mu)
            W = self.w * d.trials * mu * (1 - mu)
            grad = self._bt(rows, resid) - self._prior(v)
            f = self._factor(rows, W)
            step = self._solve(f, grad)
            if np.max(np.abs(step), initial=0.0) < tolerance:
                # one last Newton step (h is concave in v) leaves an error of order
                # |step|^2; H is kept from just before it (its log determinant moves by
                # order |step|); h there is computed if asked for
                return v + step, None, rows, f
            if h is None:
                h = self._h_from_eta(eta, v)
            t = 1.0
            for _ in range(40):
                h_new, eta_new = self._h(xb, rows, v + t * step)
                if np.isfinite(h_new) and h_new >= h - 1e-12 * (abs(h) + 1):
                    break
                t *= 0.5
            else:
                break
            v = v + t * step
            h, eta = h_new, eta_new
        mu = expit(self._eta(xb, rows, v))
        W = self.w * d.trials * mu * (1 - mu)
        return v, h, rows, self._factor(rows, W)

    # ------------------------------------------------------------ likelihood
    def loglik(
        self,
        beta: np.ndarray,
        theta: np.ndarray,
        state: CrossedState,
        *,
        floor: float | None = None,
        v0: np.ndarray | None = None,
    ) -> tuple[float, CrossedState]:
        """The Laplace log likelihood; the modes start from ``state``, or from ``v0``
        (v-metric) when given (``floor`` is unused: the value is exact at every point)."""
        del floor
        factors = self._factors(theta)
        v, h, rows, f = self.modes(beta, theta, factors, state, v0)
        if h is None:
            d = self.data
            h = self._h(d.X @ beta + d.offset, rows, v)[0]
        return h - 0.5 * f.logdet + self.constant, self._state_from_v(v, factors)

    def objective(self, state: CrossedState) -> CrossedObjective:
        """The Newton objective: exact gradient, Hessian by its differences."""
        return CrossedObjective(self, state)

    def cluster_scores(
        self, beta: np.ndarray, theta: np.ndarray, state: CrossedState
    ) -> np.ndarray:
        """Each top-level cluster's contribution (G x P) to the gradient, unweighted.

        The top-level clusters are the first term's groups (the design lists the highest
        level first).  Without crossed terms ``H`` is block diagonal by top-level cluster,
        so every piece of the gradient, the adjoint ``z = H^-1 B'c`` included, splits
        into sums over each cluster's rows: the scores are those sums.
        """
        weight, theta_rows, _, _ = self._score_rows(beta, theta, state)
        per_row = np.vstack([self.XT * weight, theta_rows])
        top = self.data.terms[0]
        scores = np.empty((top.n_groups, len(per_row)))
        for j, row in enumerate(per_row):
            scores[:, j] = np.bincount(top.group, row, minlength=top.n_groups)
        if top.weight is not None:  # one copy of each cluster
            scores /= top.weight[:, None]
        return scores

    def refined_hessian(self, x: np.ndarray) -> None:
        """None: the objective's differenced Hessian is refined by the objective itself."""
        del x

    def _selected_inverse(self, f: _Factor) -> np.ndarray:
        """Each row's block of ``H^-1`` on the effects it touches: n x Q x Q."""
        n, q1, G1, m2 = self.n, self.q1, self.G1, self.m2
        M = np.empty((n, self.Q, self.Q))
        g1 = self.terms[0].group
        # one copy's blocks (H^-1 of the reduced problem without weights)
        H11inv = f.H11inv if self.c is None else f.H11inv * self.c1[:, None, None]
        if f.schur is None:
            M[:, :q1, :q1] = H11inv[g1]
            return M
        copies = None if self.c is None else self.c[self.m1 :]
        # the inverse's upper triangle is enough unless S^-1 is multiplied out
        Sinv = f.schur.inverse(copies, triangle=f.G is None and self.pairs is not None)
        M[:, q1:, q1:] = Sinv.ravel()[self.upper_index]
        if f.G is not None:
            P = (f.G @ Sinv).reshape(G1, q1, m2)  # G S^-1
            M[:, :q1, :q1] = (H11inv + np.einsum("kam,kbm->kab", P, f.G.reshape(G1, q1, m2)))[g1]
            M12 = -P[g1[:, None], :, self.cols2]  # n x Q2 x q1
            M[:, q1:, :q1] = M12
            M[:, :q1, q1:] = M12.transpose(0, 2, 1)
            return M
        assert f.Gv is not None
        if self.pairs is not None:
            # P = G S^-1 on C's pattern: P[e2] = sum over e1 of its cluster G[e1] S^-1[c1, c2]
            Gv = f.Gv
            P = self._pair_solve(Gv, Sinv)
            M11 = H11inv.copy()
            for a in range(q1):
                for b in range(q1):
                    M11[:, a, b] += np.bincount(self.ke, P[:, a] * Gv[:, b], minlength=G1)
            M[:, :q1, :q1] = M11[g1]
            M12 = -P[self.pos]  # n x Q2 x q1
            M[:, q1:, :q1] = M12
            M[:, :q1, q1:] = M12.transpose(0, 2, 1)
            return M
        G = self._csr(f.Gv)
        per_chunk = max(1, CHUNK_ELEMENTS // max(1, m2 * q1))
        order, gs = self.row_order, self.group_starts
        for g0 in range(0, G1, per_chunk):
            g_end = min(G1, g0 + per_chunk)
            Gc = G[g0 * q1 : g_end * q1].tocoo()
            P = np.asarray(Gc.tocsr() @ Sinv).reshape(g_end - g0, q1, m2)  # (G S^-1) rows
            # M11 = H11^-1 + G_k S^-1 G_k', summed over the nonzeros of G_k
            gk, gb = Gc.row // q1, Gc.row % q1
            M11 = H11inv[g0:g_end].copy()
            for a in range(q1):
                M11[:, a, :] += np.bincount(
                    gk * q1 + gb, P[gk, a, Gc.col] * Gc.data, minlength=(g_end - g0) * q1
                ).reshape(g_end - g0, q1)
            rows = order[gs[g0] : gs[g_end]]
            local = g1[rows] - g0
            M[rows, :q1, :q1] = M11[local]
            M12 = -P[local[:, None], :, self.cols2[rows]]  # rows x Q2 x q1
            M[rows, :q1, q1:] = M12.transpose(0, 2, 1)
            M[rows, q1:, :q1] = M12
        return M

    def _score_rows(
        self,
        beta: np.ndarray,
        theta: np.ndarray,
        state: CrossedState | None,
        v0: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple]:
        """Each row's part of the gradient: the weight of its direct derivatives of eta
        (``X`` for beta), theta's parts (T x n), those derivatives for theta (T x n), and
        the mode, B's values, H's factor and the residuals there.

        The determinant's change through the moving mode, ``c' B dv_hat/dpsi`` with
        ``c = W' lev``, is ``z' d2h/dv dpsi`` with the one solve ``z = H^-1 B'c`` (the
        adjoint), so ``dv_hat/dpsi`` itself, P solves, is never formed here.
        """
        d = self.data
        at = self._at(theta)
        factors, dvals = at.factors, at.dvals
        v, _, rows, f = self.modes(beta, theta, factors, state, v0)
        mu = expit(self._eta(d.X @ beta + d.offset, rows, v))
        resid = self.w * (d.y - d.trials * mu)
        W = self.w * d.trials * mu * (1 - mu)
        M = self._selected_inverse(f)
        slots = rows.slots
        MB = M[:, :, 0] * slots[0][:, None]  # each row's H^-1 b_i on its effects
        for b in range(1, self.Q):
            MB += M[:, :, b] * slots[b][:, None]
        c = W * (1 - 2 * mu) * _rowdot(slots.T, MB)  # W' lev
        z = self._solve(f, self._bt(rows, c))
        weight = resid - 0.5 * (c - W * self._bmul(rows, z[None])[0])
        D = np.zeros((self.T, self.n))
        parts = np.zeros((self.T, self.n))
        qs = self.slot_starts
        for k, t, ZdA in dvals:
            term, at = self.terms[k], slice(self.starts[k], self.starts[k + 1])
            D[t] += _rowdot(ZdA, v[at].reshape(term.n_groups, term.q)[term.group])
            zk = z[at].reshape(term.n_groups, term.q)[term.group]
            parts[t] -= 0.5 * resid * _rowdot(ZdA, zk) + W * _rowdot(MB[:, qs[k] : qs[k + 1]], ZdA)
        parts += weight * D
        return weight, parts, D, (v, rows, f, resid, W)

    def gradient(
        self,
        beta: np.ndarray,
        theta: np.ndarray,
        state: CrossedState | None,
        v0: np.ndarray | None = None,
        mode_derivatives: bool = False,
    ) -> tuple[np.ndarray, np.ndarray, Any]:
        """Exact gradient of the Laplace log likelihood, the mode and ``dv_hat/dpsi``
        (m x P) when asked, else a function giving it, or (given a direction) its
        product with that direction at the cost of one solve; the modes start from
        ``state`` (or ``v0`` in the v-metric)."""
        weight, parts, D, (v, rows, f, resid, W) = self._score_rows(beta, theta, state, v0)
        g = np.concatenate([self.XT @ weight, parts.sum(axis=1)])
        dvals, p = self._at(theta).dvals, self.p

        def dv(s: np.ndarray | None = None) -> np.ndarray:
            # H^-1 d2h/dv dpsi: -B'W D, plus dB' r for theta
            Ds = np.vstack([self.XT, D]) if s is None else (s[:p] @ self.XT + s[p:] @ D)[None]
            X2 = -self._bt(rows, Ds * W)  # P x m, or 1 x m along s
            for k, t, ZdA in dvals:
                at, r = slice(self.starts[k], self.starts[k + 1]), (ZdA * resid[:, None]).ravel()
                r = np.bincount(self.term_cols[k].ravel(), r, minlength=self.terms[k].size)
                X2[p + t if s is None else 0, at] += r if s is None else s[p + t] * r
            out = self._solve(f, X2.T)
            return out if s is None else out[:, 0]

        return g, v, dv() if mode_derivatives else dv


def _rowdot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Each row's inner product of two n x q arrays (q small: einsum is slower)."""
    out = a[:, 0] * b[:, 0]
    for k in range(1, a.shape[1]):
        out += a[:, k] * b[:, k]
    return out


def joint_scores(arrays: tuple[CrossedData, NestedCovariance], beta, theta) -> np.ndarray:
    """The per-top-cluster Laplace scores of another engine's arrays (converted by
    ``crossed_data.from_clusters`` or ``from_nested``), the modes found anew."""
    model = CrossedLaplace(*arrays)
    return model.cluster_scores(beta, theta, model.prior_state(theta))


class CrossedObjective(LaplaceObjective):
    """Newton objective of the crossed Laplace model: exact gradient, Hessian by
    differences of it (each shifted point's modes start from the first-order
    extrapolation ``v_hat + h dv_hat/dpsi``)."""

    model: CrossedLaplace
    _mode_line: tuple[np.ndarray, np.ndarray, Callable] | None = None  # x, v_hat, dv_hat/dx

    def _evaluate(self, x: np.ndarray, state: CrossedState) -> tuple[float, CrossedState]:
        """The log likelihood at ``x``; near the last Newton iterate (the line search's
        trial points) the modes start from their first-order extrapolation."""
        v0 = None
        if self._mode_line is not None:
            x0, v, dv = self._mode_line
            v0 = v + dv(x - x0)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return self.model.loglik(x[: self.p], x[self.p :], state, v0=v0)

    def _gradient_and_shifts(
        self, x: np.ndarray, state: CrossedState
    ) -> tuple[np.ndarray, ShiftedGradient]:
        """The gradient, and at shifted points the gradient with the modes started from
        ``v_hat + h dv_hat/dpsi``: ``dv_hat/dpsi`` is formed (P solves) only for them;
        a line search without them needs it along its step only."""
        p = self.p
        g, v, mode_derivatives = self.model.gradient(x[:p], x[p:], state)
        full: list[np.ndarray] = []

        def along(s: np.ndarray) -> np.ndarray:
            return full[0] @ s if full else mode_derivatives(s)

        self._mode_line = (x.copy(), v, along)

        def gradient_at(z: np.ndarray, i: int, h: float) -> np.ndarray:
            if not full:
                full.append(mode_derivatives())
            return self.model.gradient(z[:p], z[p:], None, v + h * full[0][:, i])[0]

        return g, gradient_at
