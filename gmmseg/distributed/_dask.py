"""Dask, imported only when a function of this package needs it.

``import gmmseg.distributed`` works without Dask; every entry point that needs it raises a
one-line :class:`DaskNotInstalledError` naming the fix.
"""

from __future__ import annotations

from ..errors import GmmsegError

DASK_MISSING = "Dask is not installed; pip install 'gmmseg[dask]'"


class DaskNotInstalledError(GmmsegError, ImportError):
    """Dask (or distributed) is needed for this and is not installed."""


def require_dask():
    """Import Dask.

    Returns
    -------
    tuple of (module, module)
        ``dask`` and ``dask.array``.
    """
    try:
        import dask
        import dask.array as da
    except ImportError:
        raise DaskNotInstalledError(DASK_MISSING) from None
    return dask, da


def require_distributed():
    """Import ``distributed`` (Dask's cluster scheduler).

    Returns
    -------
    module
    """
    try:
        import distributed
    except ImportError:
        raise DaskNotInstalledError(DASK_MISSING) from None
    return distributed


def require_dataframe():
    """Import ``dask.dataframe``.

    Returns
    -------
    module
    """
    try:
        import dask.dataframe as dd
    except ImportError:
        raise DaskNotInstalledError(DASK_MISSING) from None
    return dd


def compute(client, *objs) -> tuple:
    """Compute Dask collections on ``client`` (None: Dask's default scheduler).

    Parameters
    ----------
    client : distributed.Client or None
    *objs
        Dask collections or delayed objects.

    Returns
    -------
    tuple
        One computed value per object.
    """
    dask, _ = require_dask()
    if client is None:
        return dask.compute(*objs)
    return dask.compute(*objs, scheduler=client)
