"""The Dask client of a fit: a running scheduler (``--scheduler tcp://host:8786``) or a
local cluster of worker processes started for the fit (``--workers N``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from melogit_cli.cluster import require_dask
from melogit_cli.cluster.faults import WORKER_MISSING
from melogit_cli.errors import StataError

CONNECT_TIMEOUT = "10s"


@contextmanager
def client_for(
    scheduler: str | None,
    workers: int | None,
    dashboard: bool,
    out: TextIO,
    timeout: str = CONNECT_TIMEOUT,
) -> Iterator[Any]:
    """A client of ``scheduler``, or of a local cluster of ``workers`` processes (closed
    when the block ends); with ``dashboard`` the dashboard's link is printed."""
    require_dask()
    import dask
    from distributed import Client, LocalCluster

    if workers is not None and workers < 1:
        raise StataError("--workers must be a positive integer", 198)
    if scheduler is not None:
        try:
            with dask.config.set({"distributed.comm.timeouts.connect": timeout}):
                client = Client(scheduler, timeout=timeout)
        except (OSError, TimeoutError, ValueError) as err:
            raise StataError(
                f"could not connect to the Dask scheduler at {scheduler} ({type(err).__name__})",
                677,
            ) from None
        cluster = None
    else:
        cluster = LocalCluster(
            n_workers=workers or 1,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0" if dashboard else None,
        )
        client = Client(cluster)
    try:
        check_workers(client)
        if dashboard:
            out.write(f"(Dask dashboard: {client.dashboard_link})\n")
            out.flush()
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def check_workers(client: Any) -> None:
    """Every worker can import melogit-cli (r(199) otherwise); at least one worker."""
    import importlib.metadata

    try:
        client.run(importlib.metadata.version, "melogit-cli")
    except importlib.metadata.PackageNotFoundError:
        raise StataError(WORKER_MISSING, 199) from None
    if not client.scheduler_info().get("workers"):
        raise StataError("the Dask cluster has no workers", 677)
