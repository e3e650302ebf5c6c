"""Errors on the cluster, as Stata's: a worker's Stata error with its own code, a file
that vanished r(601), a worker without melogit-cli r(199), a cluster that cannot be
reached or keeps losing workers r(677)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from melogit_cli.cluster.partition import RemoteError
from melogit_cli.errors import StataError
from melogit_cli.files import read_error

WORKER_MISSING = (
    "a Dask worker cannot import melogit_cli: install melogit-cli on every worker "
    "(pip install 'melogit-cli[dask]')"
)
LOST = "the Dask cluster lost the fit's work too often ({}); check the workers"


@contextmanager
def remote_errors() -> Iterator[None]:
    """Turn what a task or the cluster raised inside the block into Stata's error."""
    from distributed import KilledWorker

    try:
        yield
    except RemoteError as err:
        raise StataError(err.message, err.rc) from None
    except ModuleNotFoundError as err:
        if (err.name or "").split(".")[0] == "melogit_cli" or "melogit_cli" in str(err):
            raise StataError(WORKER_MISSING, 199) from None
        raise StataError(f"a Dask worker cannot import {err.name}: {err}", 199) from None
    except KilledWorker as err:
        raise StataError(LOST.format(f"task {err.args[0]!s:.40} killed its workers"), 677) from None
    except FileNotFoundError as err:
        raise StataError(f"file {err.filename or err} not found", 601) from None
    except (TimeoutError, ConnectionError) as err:
        raise StataError(LOST.format(type(err).__name__), 677) from None
    except OSError as err:
        raise read_error(err, err.filename or "?") from None
    except _closed() as err:
        raise StataError(LOST.format(type(err).__name__), 677) from None


def _closed() -> tuple[type[BaseException], ...]:
    """The exceptions of a connection to the scheduler that closed or was cancelled."""
    from asyncio import CancelledError

    from distributed.comm.core import CommClosedError

    return (CommClosedError, CancelledError)
