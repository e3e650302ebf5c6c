"""Compiled row-by-node loops of the two-level quadrature, for large data.

The numpy formulation in ``twolevel`` forms arrays of rows x nodes (the linear
predictor, the log likelihood, the residuals and weights and their products with
each covariate), each a pass over memory.  These loops visit every row once per node,
keep nothing of size rows x nodes and accumulate straight into per-cluster, per-node
sums.  The loops are serial functions that release the GIL; ranges of clusters run
on a pool of threads, one per core (numba's own parallel loops cost minutes to
compile, these seconds).  They are compiled on first use and cached on disk, so the
compilation is paid once per installation; small problems never import numba (see
``use_kernels``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

    from melogit_cli.engine.quadrature.rows import Rows

KERNEL_MIN_ROW_NODES = 2_000_000  # below this numpy is fast enough and start-up matters more
MIN_SPLIT = 50_000  # row-nodes below which one thread does all the work


def use_kernels(rows: int, nodes: int) -> bool:
    """Whether to run the compiled loops: large problems, numba present, not disabled."""
    setting = os.environ.get("MELOGIT_KERNELS", "auto").lower()
    if setting in ("0", "off", "no"):
        return False
    if setting not in ("1", "on", "yes") and rows * nodes < KERNEL_MIN_ROW_NODES:
        return False
    return _compiled() is not None


@cache
def _compiled() -> Any:
    try:
        from melogit_cli.engine.compiled import loops
    except ImportError:  # numba is a declared dependency; numpy still works without it
        return None
    return loops


def _threads() -> int:
    return min(len(os.sched_getaffinity(0)), 16)


@cache
def _pool() -> ThreadPoolExecutor | None:
    from concurrent.futures import ThreadPoolExecutor  # only fits that run the loops need it

    return ThreadPoolExecutor(_threads()) if _threads() > 1 else None


def _over_clusters(loop: Callable, rows: Rows, u: np.ndarray, *arrays: np.ndarray) -> None:
    """Run ``loop(xb, Z, y, trials, weight, bounds, uT, *arrays, g0, g1)`` over ranges of
    clusters of about equal rows x nodes, one per thread; ``uT`` is ``u`` node-last
    (G x q x K)."""
    uT = np.ascontiguousarray(u.transpose(0, 2, 1))
    b = rows.bounds
    n = len(b) - 1

    def task(g0: int, g1: int) -> None:
        loop(rows.xb, rows.Z, rows.y, rows.trials, rows.weight, b, uT, *arrays, g0, g1)

    pool = _pool()
    work = b - b[0]  # the rows before each cluster
    if pool is None or work[-1] * u.shape[1] < MIN_SPLIT or n < 2:
        task(0, n)
        return
    cuts = np.searchsorted(work, np.linspace(0, work[-1], _threads() + 1)[1:-1])
    edges = np.unique(np.concatenate([[0], cuts, [n]]))  # cuts lie in 1..n
    futures = [
        pool.submit(task, int(a), int(c)) for a, c in zip(edges[:-1], edges[1:], strict=True)
    ]
    for f in futures:
        f.result()


def node_loglik(rows: Rows, u: np.ndarray) -> np.ndarray:
    """``sum_i w_i (y_i eta_ik - r_i log(1 + exp eta_ik))`` per cluster g and node k.

    ``u`` is G x K x q (the random effects at each cluster's nodes); rows of cluster
    g are ``bounds[g]:bounds[g+1]``; ``eta_ik = xb_i + Z_i u_gk``.
    """
    out = np.empty(u.shape[:2])
    _over_clusters(_compiled().node_loglik, rows, u, out)
    return out


def node_sums(
    rows: Rows, u: np.ndarray, post: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per cluster and node: ``sum resid X``, ``sum resid Z``, ``sum wgt Z Z'``,
    ``sum wgt X Z'``; per row: ``sum_k wgt_ik post_gk``.

    ``resid = w (y - r m)`` and ``wgt = w r m (1 - m)`` with ``m = expit(eta)``.
    """
    G, K, q = u.shape
    p = rows.X.shape[1]
    sums = (np.empty((G, K, p)), np.empty((G, K, q)), np.empty((G, K, q, q)))
    sums += (np.empty((G, K, p, q)), np.empty(len(rows.xb)))
    _over_clusters(_compiled().node_sums, rows, u, rows.X, np.ascontiguousarray(post), *sums)
    return sums
