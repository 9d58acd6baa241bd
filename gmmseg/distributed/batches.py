"""Batches of independent items (usually files) on a Dask cluster, failures reported per item."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ..core.validation import check_int
from ..errors import FailedItem
from ._dask import require_distributed

__all__ = ["map_files"]


def _describe(exc: BaseException) -> FailedItem:
    """``"ValueError: first line of the message"``: the type names the kind of failure."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return FailedItem(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)


def map_files(
    func: Callable[[Any], Any],
    items: Iterable[Any],
    *,
    client=None,
    retries: int = 2,
    progress: Callable[[int, int, Any, Any], None] | None = None,
) -> list[tuple[Any, Any]]:
    """Run ``func(item)`` for every item on the cluster; report failures per item.

    Parameters
    ----------
    func : callable
        A top-level, picklable function (use :func:`functools.partial` for options).
        It runs on a worker, so paths must be reachable there; write outputs from
        inside ``func`` or return them small.
    items : iterable
        Usually file paths.
    client : distributed.Client or None
        None runs the items one after the other in this process (same contract).
    retries : int, default=2
        Dask retries of a failed item (an exception, or its worker lost) before it
        is reported as failed.
    progress : callable, optional
        ``progress(done, total, item, outcome)`` is called in this process as each
        item finishes, in completion order: write results there and nothing already
        finished is lost if the run is interrupted later.

    Returns
    -------
    list of (item, outcome)
        In the order of ``items``; ``outcome`` is ``func(item)`` or a
        :class:`~gmmseg.errors.FailedItem` message.
    """
    items = list(items)
    check_int(retries, "retries", 0)
    total = len(items)
    outcomes: list[Any] = [None] * total
    if client is None:
        for i, item in enumerate(items):
            for attempt in range(retries + 1):
                try:
                    outcomes[i] = func(item)
                    break
                except Exception as exc:
                    if attempt == retries:
                        outcomes[i] = _describe(exc)
            if progress is not None:
                progress(i + 1, total, item, outcomes[i])
        return list(zip(items, outcomes))

    distributed = require_distributed()
    futures = client.map(func, items, retries=retries, pure=False)
    index = {future.key: i for i, future in enumerate(futures)}
    done = 0
    try:
        for future in distributed.as_completed(futures, loop=client.loop):
            i = index[future.key]
            if future.status == "finished":
                outcomes[i] = future.result()
            elif future.status == "error":
                outcomes[i] = _describe(future.exception())
            else:
                outcomes[i] = FailedItem(f"task {future.status}")
            future.release()
            done += 1
            if progress is not None:
                progress(done, total, items[i], outcomes[i])
    finally:
        client.cancel([f for f in futures if not f.done()])
    return list(zip(items, outcomes))


# --------------------------------------------------------------------------- tables larger than memory
#
# ``gmmseg customers`` / ``gmmseg anomalies`` with ``--scheduler``. The table is read lazily
# (Parquet dataset or CSV glob) with dask.dataframe; FeaturePrep is fitted on a bounded random
# sample pulled to the client; every partition is prepared on the workers with that FeaturePrep;
# the mixture is fitted by :func:`select_components` above (data never gathered); the per-row
# outputs are computed partition by partition and written by the workers.
