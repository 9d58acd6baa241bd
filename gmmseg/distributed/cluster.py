"""Dask clusters: start a local one or connect to a running scheduler."""

from __future__ import annotations

from ..core.threads import available_cores
from ..errors import ParameterError
from ._dask import require_distributed

__all__ = ["get_client", "default_client"]


def get_client(scheduler: str, *, timeout: str | float = "30s"):
    """Connect to (or start) a Dask cluster.

    Parameters
    ----------
    scheduler : str
        ``"local:N"`` starts a :class:`distributed.LocalCluster` of N single-threaded
        worker processes on 127.0.0.1 (``"local"``: one per core); closing the client
        closes that cluster. A path to a ``.json`` scheduler file (``dask scheduler
        --scheduler-file``) or an address such as ``tcp://10.0.0.5:8786`` connects
        to a running scheduler.
    timeout : str or float
        How long to wait for the scheduler.

    Returns
    -------
    distributed.Client
        Use it as a context manager (``with get_client("local:2") as client: ...``)
        or call ``client.close()``.
    """
    distributed = require_distributed()
    if not isinstance(scheduler, str) or not scheduler.strip():
        raise ParameterError(f"scheduler must be 'local:N' or an address like tcp://host:8786, got {scheduler!r}")
    scheduler = scheduler.strip()
    if scheduler == "local" or scheduler.startswith("local:"):
        count = scheduler.partition(":")[2]
        if count:
            if not count.isdigit() or int(count) < 1:
                raise ParameterError(f"scheduler 'local:N' needs a worker count N >= 1, got {scheduler!r}")
            n_workers = int(count)
        else:
            n_workers = available_cores()
        return distributed.Client(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            scheduler_kwargs=_LOOPBACK_HTTP,
            timeout=timeout,
        )
    try:
        if scheduler.endswith(".json"):
            return distributed.Client(scheduler_file=scheduler, timeout=timeout)
        return distributed.Client(scheduler, timeout=timeout)
    except (OSError, TimeoutError) as exc:
        raise ParameterError(
            f"cannot reach the Dask scheduler at {scheduler} ({exc}); start it with 'dask scheduler' "
            "or use --scheduler local:N"
        ) from None


# no dashboard; the scheduler's small HTTP server (health, metrics) on a free loopback port
_LOOPBACK_HTTP = {"dashboard": False, "dashboard_address": "127.0.0.1:0"}


def default_client():
    """The current distributed client, if there is one.

    Returns
    -------
    distributed.Client or None
        None when ``distributed`` is not installed or no client is running (Dask's
        default scheduler is then used).
    """
    try:
        from distributed import default_client as current
    except ImportError:
        return None
    try:
        return current()
    except ValueError:
        return None
