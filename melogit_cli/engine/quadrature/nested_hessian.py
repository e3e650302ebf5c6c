"""The analytic Hessian of the nested quadrature formula with the nodes held fixed.

With ``T_u(m) = lw + sum_c w_c l_c(m)`` the log integrand of unit ``u`` at the full
path ``m`` of nodes (its ancestors' and its own) and ``l_u = log sum_k exp T_u``,

``d l_u = sum_k pi_k S_u``  (``S_u = dT_u``) and
``d2 l_u = sum_k pi_k (d2 T_u + S_u S_u') - dl_u dl_u'``.

Unrolled from the top, every unit adds the posterior-weighted spread of its
conditional scores, ``sum_m cum_u(m) S_u S_u' - sum_m' cum_parent(m') w_u Sbar_u Sbar_u'``,
and the rows add the expected second derivative of their log likelihoods,
``sum_m cum(m) (-W x~ x~' + r d2eta)``, where ``cum`` is the product of the posterior
node probabilities and unit weights along the path and ``x~ = d eta / d psi``.  All
products are matrix products over (units x paths) rows.
"""

from __future__ import annotations

import numpy as np


def chunk_hessian(model, facs, ch, V, post, ru, mu) -> np.ndarray:
    """This chunk's contribution (weighted by the top-level weights) to the Hessian;
    ``mu`` is the logistic function of the chunk's linear predictor (rows x paths)."""
    d, L = model.data, model.L
    rs = ch.rows
    n = rs.stop - rs.start
    p, P, M = model.p, model.p + model.T, model.M
    w0 = d.unit_weight[0][ch.g0 : ch.g1]
    # cumulative path weights per level (with the unit weights, top weight included)
    cums = [w0[:, None] * post[0].reshape(-1, M[0])]
    for lv in range(1, L):
        par = d.parent[lv][ch.units[lv]] - ch.units[lv - 1].start
        wl = d.unit_weight[lv][ch.units[lv]]
        cums.append((cums[-1][par][:, :, None] * wl[:, None, None] * post[lv]).reshape(-1, M[lv]))
    w = d.obs_weight[rs, None]
    resid = w * (d.y[rs, None] - d.trials[rs, None] * mu)  # n x M
    W = w * d.trials[rs, None] * mu * (1 - mu)
    # x~ = d eta / d psi at every path, parameter first (P x n x M) so that every
    # product below runs along the paths in contiguous memory
    xt = np.empty((P, n, M[-1]))
    xt[:p] = d.X[rs].T[:, :, None]
    for lv, s in enumerate(model.slices):
        dA = facs[lv][1]
        g = np.einsum("ia,tab,imb->tim", d.Z[lv][rs], dA, V[lv][ru[lv]])  # T_l x n x M_l
        xt[p + s.start : p + s.stop].reshape(-1, n, M[lv], M[-1] // M[lv])[:] = g[..., None]
    crow = cums[-1][ru[-1]]  # n x M
    flat = xt.reshape(P, -1)
    H = -(flat * (crow * W).ravel()) @ flat.T
    Rc = crow * resid
    for lv, s in enumerate(model.slices):
        E = np.einsum("im,imq->iq", Rc.reshape(n, M[lv], -1).sum(axis=2), V[lv][ru[lv]])
        sl = slice(p + s.start, p + s.stop)
        H[sl, sl] += np.einsum("ia,stab,ib->st", d.Z[lv][rs], facs[lv][2], E)
    # conditional scores, bottom-up, and their posterior spread
    bstarts = d.row_starts[-1][ch.units[-1].start : ch.units[-1].stop] - rs.start
    S = np.add.reduceat(resid * xt, bstarts, axis=1).transpose(1, 2, 0)  # g_b x M x P
    for lv in reversed(range(L)):
        g = S.shape[0]
        flatS = S.reshape(-1, P)
        H += (flatS * cums[lv].reshape(-1, 1)).T @ flatS
        Sbar = np.einsum("gmk,gmkP->gmP", post[lv], S.reshape(g, model.Mp[lv], model.K[lv], P))
        if lv > 0:
            par = d.parent[lv][ch.units[lv]] - ch.units[lv - 1].start
            wl = d.unit_weight[lv][ch.units[lv]]
            prev = cums[lv - 1][par] * wl[:, None]  # g x M_{l-1}
            S = np.add.reduceat(
                wl[:, None, None] * Sbar,
                d.child_starts[lv - 1][ch.units[lv - 1]] - ch.units[lv].start,
                axis=0,
            )
        else:
            prev = w0[:, None]
        flatB = Sbar.reshape(-1, P)
        H -= (flatB * prev.reshape(-1, 1)).T @ flatB
    return H
