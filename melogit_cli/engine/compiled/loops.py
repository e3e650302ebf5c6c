"""The compiled loops behind ``kernels`` (imported only when they are used).

Module-level functions so that numba can cache their machine code on disk.

The loops run over a cluster's rows and, innermost, over its nodes; the random
effects arrive node-last (G x q x K) so that the node loop reads contiguous memory
and compiles to SIMD instructions.  That needs ``exp`` and ``log`` written as
polynomials (``_exp_neg``, ``_log1p_unit``): calls into the C library would keep
the loop scalar and cost three times as much.  Both are accurate to a few units
in the last place of 1 on their ranges (the tests compare them with numpy over
dense grids), which is all the log likelihood and its derivatives need.
"""

import math

import numba
import numpy as np

serial = numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})
inline = numba.njit(inline="always", cache=True, error_model="numpy", fastmath={"contract"})

LN2 = 0.6931471805599453
LN2_HI = 6.93147180369123816490e-01
LN2_LO = 1.90821492927058770002e-10
INV_LN2 = 1.44269504088896338700e00
SQRT2 = 1.4142135623730951
SOFTPLUS_CUT = 40.0  # log(1 + e^-t) < 5e-18 beyond: below double precision of the sums
# Taylor coefficients of e^r, 1/13! down to 1, and of atanh(s) / s in s^2 (times 2), 2/21
# down to 2/3 (2 s, the first term, is added separately for accuracy)
EXP_SERIES = tuple(1.0 / math.factorial(k) for k in range(13, -1, -1))
ATANH_SERIES = tuple(2.0 / k for k in range(21, 2, -2))


@inline
def _horner(coefficients, x):
    """The polynomial with ``coefficients`` (highest power first) at ``x``."""
    p = coefficients[0]
    for j in range(1, len(coefficients)):
        p = p * x + coefficients[j]
    return p


@inline
def _exp_neg(t: float) -> float:
    """``exp(-t)`` for ``0 <= t <= 40``: Cody-Waite reduction, degree-13 Taylor series."""
    x = -t
    n = np.floor(x * INV_LN2 + 0.5)  # x = n ln2 + r, |r| <= ln2 / 2
    r = (x - n * LN2_HI) - n * LN2_LO
    p = _horner(EXP_SERIES, r)
    # 2^n for -58 <= n <= 0 from the bits of -n, with selects rather than a table
    m = int(-n)
    p *= 0.5 if m & 1 else 1.0
    p *= 0.25 if m & 2 else 1.0
    p *= 0.0625 if m & 4 else 1.0
    p *= 0.00390625 if m & 8 else 1.0
    p *= 1.52587890625e-05 if m & 16 else 1.0
    p *= 2.3283064365386963e-10 if m & 32 else 1.0
    return p


@inline
def _log1p_unit(a: float) -> float:
    """``log(1 + a)`` for ``0 <= a <= 1``: ``2 atanh(s)`` series on ``(1/sqrt2, sqrt2]``."""
    z = 1.0 + a
    # what rounding 1 + a lost, as a first-order correction (|c| <= 1.2e-16; 1/z is
    # replaced by 1.5 - z/2, within 13% of it on (1, 2], an error below 2e-17)
    c = (a - (z - 1.0)) * (1.5 - 0.5 * z)
    big = z > SQRT2
    f = z * 0.5 if big else z
    s = (f - 1.0) / (f + 1.0)
    s2 = s * s
    q = _horner(ATANH_SERIES, s2)
    return 2.0 * s + s * s2 * q + (LN2 if big else 0.0) + c


@inline
def _softplus_parts(eta: float) -> tuple[float, float]:
    """``log(1 + e^eta)`` and ``e^-|eta|`` (for the logistic function)."""
    t = min(abs(eta), SOFTPLUS_CUT)
    e = _exp_neg(t)
    return max(eta, 0.0) + _log1p_unit(e), e


@serial
def softplus_array(eta, out, i0, i1):
    """``log(1 + e^eta)`` elementwise over ``eta[i0:i1]`` (1-d arrays)."""
    for i in range(i0, i1):
        out[i] = _softplus_parts(eta[i])[0]


@serial
def expit_array(eta, out, i0, i1):
    """The logistic function elementwise over ``eta[i0:i1]`` (1-d arrays)."""
    for i in range(i0, i1):
        e = _softplus_parts(eta[i])[1]
        out[i] = 1.0 / (1.0 + e) if eta[i] >= 0.0 else e / (1.0 + e)


@serial
def _cluster_eta(xb, Z, uT, g, r0, r1, logistic):
    """``eta[(i - r0) K + k] = xb_i + Z_i u_gk`` for the rows of cluster g, and elementwise
    its logistic function (``logistic``) or ``log(1 + e^eta)``."""
    q, K = uT.shape[1], uT.shape[2]
    eta = np.empty((r1 - r0) * K)
    idx = 0
    for i in range(r0, r1):
        base = xb[i]
        for k in range(K):
            eta[idx + k] = base
        for a in range(q):
            za = Z[i, a]
            for k in range(K):
                eta[idx + k] += za * uT[g, a, k]
        idx += K
    out = np.empty_like(eta)
    if logistic:
        expit_array(eta, out, 0, eta.size)
    else:
        softplus_array(eta, out, 0, eta.size)
    return eta, out


@serial
def node_loglik(xb, Z, y, r, w, starts, uT, out, g0, g1):
    """See ``kernels.node_loglik``; ``uT`` is G x q x K; writes the sums of clusters
    ``g0:g1`` into ``out`` (G x K).

    A cluster's rows x nodes are laid out flat so that the costly softplus runs as
    one long SIMD loop even when there are few nodes."""
    K = uT.shape[2]
    for g in range(g0, g1):
        r0, r1 = starts[g], starts[g + 1]
        eta, soft = _cluster_eta(xb, Z, uT, g, r0, r1, False)
        acc = np.zeros(K)
        idx = 0
        for i in range(r0, r1):
            yi, ri, wi = y[i], r[i], w[i]
            for k in range(K):
                acc[k] += wi * (yi * eta[idx + k] - ri * soft[idx + k])
            idx += K
        out[g] = acc


@serial
def node_sums(xb, Z, y, r, w, starts, uT, X, post, s_beta, s_z, zz, xz, wbar, g0, g1):
    """See ``kernels.node_sums``; ``uT`` is G x q x K; writes clusters ``g0:g1`` into
    the last five arrays (G x K x p, G x K x q, G x K x q x q, G x K x p x q, rows)."""
    _, q, K = uT.shape
    p = X.shape[1]
    for g in range(g0, g1):
        r0, r1 = starts[g], starts[g + 1]
        _, mu = _cluster_eta(xb, Z, uT, g, r0, r1, True)
        sb = np.zeros((p, K))
        sz = np.zeros((q, K))
        szz = np.zeros((q, q, K))
        sxz = np.zeros((p, q, K))
        res = np.empty(K)
        wgt = np.empty(K)
        idx = 0
        for i in range(r0, r1):
            yi, ri, wi = y[i], r[i], w[i]
            wsum = 0.0
            for k in range(K):
                m = mu[idx + k]
                res[k] = wi * (yi - ri * m)
                wgt[k] = wi * ri * m * (1.0 - m)
                wsum += wgt[k] * post[g, k]
            idx += K
            wbar[i] = wsum
            for j in range(p):
                xj = X[i, j]
                for k in range(K):
                    sb[j, k] += res[k] * xj
            for a in range(q):
                za = Z[i, a]
                for k in range(K):
                    sz[a, k] += res[k] * za
                for b in range(q):
                    zab = za * Z[i, b]
                    for k in range(K):
                        szz[a, b, k] += wgt[k] * zab
                for j in range(p):
                    xza = X[i, j] * za
                    for k in range(K):
                        sxz[j, a, k] += wgt[k] * xza
        # node-first, as the callers use them
        s_beta[g] = sb.T
        s_z[g] = sz.T
        zz[g] = szz.transpose((2, 0, 1))
        xz[g] = sxz.transpose((2, 0, 1))
