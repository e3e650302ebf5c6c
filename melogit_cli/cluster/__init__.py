"""Fitting on a Dask cluster: the same engines, their arrays kept on the workers.

Imported only when a fit is sent to a cluster (``--scheduler``, ``--workers``,
``fit(..., client=...)``); Dask, distributed and pyarrow are the optional extra
``melogit-cli[dask]``.
"""

from __future__ import annotations

from melogit_cli.errors import StataError

DASK_MISSING = "fitting on a cluster requires dask: pip install 'melogit-cli[dask]'"


def require_dask() -> None:
    """dask.distributed and dask.dataframe, or Stata's r(199) naming the extra."""
    try:
        import dask.dataframe  # noqa: F401
        import distributed  # noqa: F401
        import pyarrow  # noqa: F401
    except ImportError:
        raise StataError(DASK_MISSING, 199) from None
