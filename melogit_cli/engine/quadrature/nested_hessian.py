"""The analytic Hessian of the nested quadrature formula with the nodes held fixed.

With ``T_u(m) = lw + sum_c w_c l_c(m)`` the log integrand of unit ``u`` at the full
path ``m`` of nodes (its ancestors' and its own) and ``l_u = log sum_k exp T_u``,

``d l_u = sum_k pi_k S_u``  (``S_u = dT_u``) and
``d2 l_u = sum_k pi_k (d2 T_u + S_u S_u') - dl_u dl_u'``.

Unrolled from the top, every unit adds the posterior-weighted spread of its
conditional scores, ``sum_m cum_u(m) S_u S_u' - sum_m' cum_parent(m') w_u Sbar_u Sbar_u'``,
and the rows add the expected second derivative of their log likelihoods,
``sum_m cum(m) (-W x~ x~' + r d2eta)``, where ``cum`` is the product of the posterior
node probabilities and unit weights along the path and ``x~ = d eta / d psi``.  The
theta columns of ``x~`` are ``Z D(m)`` (``D`` the derivative of the path's effects), so
the rows enter only through their sums per bottom unit and path (``rows.node_sums``):
``sum W X X'``, ``sum W X Z'``, ``sum W Z Z'`` and ``sum resid Z``.
"""

from __future__ import annotations

import numpy as np


def chunk_hessian(model, facs, ch, post, cums, w0, X, sums, paths, D, scores) -> np.ndarray:
    """This chunk's contribution (weighted by the top-level weights) to the Hessian.

    ``cums``: per level, the cumulative path weights below the top weight; ``sums``: the
    rows' node sums (weighted by the bottom ``cums`` and top weights for ``sum W X X'``);
    ``paths``/``D``: each bottom unit's path effects and their theta derivatives;
    ``scores``: each bottom unit's conditional scores at every path (g x M x P).
    """
    d, L = model.data, model.L
    p, P = model.p, model.p + model.T
    # the cumulative path weights with the top-level weights
    cums = [c * w0[d.top_of_unit[lv][ch.units[lv]] - ch.g0, None] for lv, c in enumerate(cums)]
    _, rz, zz, xz, wbar = sums
    c = cums[-1]
    H = np.zeros((P, P))
    H[:p, :p] = -X.T @ (wbar[:, None] * X)
    cD = D * c[:, :, None, None]
    H[:p, p:] = -np.einsum("gmjq,gmqt->jt", xz, cD, optimize=True)
    H[p:, :p] = H[:p, p:].T
    H[p:, p:] = -cD.reshape(-1, D.shape[3]).T @ (zz @ D).reshape(-1, D.shape[3])
    for lv, s in enumerate(model.slices):
        o, e = model.tree.offsets[lv], model.tree.offsets[lv + 1]
        E = np.einsum("gm,gma,gmb->ab", c, rz[..., o:e], paths[..., o:e])
        H[p + s.start : p + s.stop, p + s.start : p + s.stop] += np.einsum(
            "stab,ab->st", facs[lv][2], E
        )
    # conditional scores, bottom-up, and their posterior spread
    S = scores
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
