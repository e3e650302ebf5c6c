"""The exact gradient of the Laplace approximation of a nested model.

For a top-level unit, ``l = h(v_hat) - log|H|/2`` with ``H = I + sum_i W_i b_i b_i'``
(``nested_tree``).  As in the two-level case (``laplace.twolevel``) the mode moves with the
parameters, ``dv_hat/dpsi = H^-1 d2h/dv dpsi``, and

``d log|H| / dpsi = sum_i [W'_i (b_i' H^-1 b_i) deta_i/dpsi + 2 W_i b_i' H^-1 db_i/dpsi]``

with ``deta_i/dpsi`` the total derivative of the linear predictor at the moving mode.
``H^-1`` is needed only on each row's path (its units and their ancestors), which the
tree's selected inverse provides; ``H^-1 (d2h/dv dpsi)`` is one tree solve with a
right-hand side per parameter.  Only weighted fits take this path: the joint engine fits
and scores unweighted ones.  Weights below the top replicate units (``nested_tree``): a
row's terms count once per copy of it in the top-level unit, and the right-hand side of
a unit's equations holds one copy's rows.
"""

from __future__ import annotations

import numpy as np

from melogit_cli.engine.quadrature.nested_tree import Modes, row_effects
from melogit_cli.special import expit


def laplace_scores(model, beta: np.ndarray, theta: np.ndarray, modes: Modes) -> np.ndarray:
    """Each top-level unit's contribution (G x P) to the Laplace gradient."""
    d, tree = model.data, model.tree
    facs = model.factors(theta)
    p, P = model.p, model.p + model.T
    n = len(d.y)
    off = tree.offsets
    B = np.concatenate([Z @ f[0] for Z, f in zip(d.Z, facs, strict=False)], axis=1)  # n x Q
    v_rows = row_effects(d, modes.v)
    eta = d.X @ beta + d.offset + np.einsum("iq,iq->i", B, v_rows)
    mu = expit(eta)
    w = d.obs_weight
    resid = w * (d.y - d.trials * mu)
    W = w * d.trials * mu * (1 - mu)
    W1 = W * (1 - 2 * mu)

    deta = np.zeros((n, P))
    deta[:, :p] = d.X
    db = np.zeros((n, off[-1], P))  # d b_i / d psi (theta only)
    for lv, (Z, (_, dA, _), s) in enumerate(zip(d.Z, facs, model.slices, strict=False)):
        v_l = v_rows[:, off[lv] : off[lv + 1]]
        cols = slice(p + s.start, p + s.stop)
        deta[:, cols] = np.einsum("ia,tab,ib->it", Z, dA, v_l)
        db[:, off[lv] : off[lv + 1], cols] = np.einsum("tba,ib->iat", dA, Z)
    tops = d.row_starts[0][:-1]
    copies = tree.row_scale[0]
    dh = np.add.reduceat((copies * resid)[:, None] * deta, tops, axis=0)

    c_rows = -W[:, None, None] * B[:, :, None] * deta[:, None, :] + resid[:, None, None] * db
    cross = [
        np.add.reduceat(
            tree.row_scale[lv][:, None, None] * c_rows[:, off[lv] : off[lv + 1]],
            d.row_starts[lv][:-1],
            axis=0,
        )
        for lv in range(tree.L)
    ]
    dv = tree.solve(modes.factor, cross)
    dv_rows = np.concatenate(
        [x[ru] for x, ru in zip(dv, d.row_unit, strict=False)], axis=1
    )  # n x Q x P
    deta_total = deta + np.einsum("iq,iqP->iP", B, dv_rows)

    Sig = tree.path_covariance(modes.factor)[d.row_unit[-1]]  # n x Q x Q
    Sb = np.einsum("iab,ib->ia", Sig, B)
    lev = np.einsum("ia,ia->i", Sb, B)
    trace = (W1 * lev)[:, None] * deta_total + 2 * W[:, None] * np.einsum("ia,iaP->iP", Sb, db)
    return dh - 0.5 * np.add.reduceat(copies[:, None] * trace, tops, axis=0)
