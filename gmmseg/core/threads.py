"""How many threads gmmseg uses, and BLAS kept single-threaded while EM runs."""

from __future__ import annotations

import contextlib
import os
import sys

__all__ = ["available_cores", "limit_blas_threads"]


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS has one), at least 1.

    >>> available_cores() >= 1
    True
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@contextlib.contextmanager
def limit_blas_threads(limit: int = 1):
    """Limit BLAS to ``limit`` threads inside the ``with`` block.

    EM's per-chunk products are small (K × F by F × chunk): BLAS threads cost more in
    start-up and spinning than they save, badly so on a loaded machine (measured 10x), and
    when gmmseg's own threads or worker processes share the work they would oversubscribe
    the cores. Every place that runs EM or scores images in parallel uses this one guard.
    """
    controller = _controller()
    if controller is None:  # pragma: no cover - threadpoolctl is a dependency
        yield
        return
    with controller.limit(limits=limit, user_api="blas"):
        yield


_CONTROLLER: list = [None, -1]  # [controller, len(sys.modules) when it was built]


def _controller():
    """A threadpoolctl controller, rebuilt only when modules were imported since the last one.

    Building one scans every loaded shared library (about 12 ms); a model selection or an
    anomaly ensemble limits BLAS hundreds of times, so rescanning each time cost up to 30%
    of a fit (measured on ADBench's Ionosphere). A new import may load another BLAS (SciPy
    ships its own), hence the rebuild when ``sys.modules`` has grown.
    """
    if _CONTROLLER[1] != len(sys.modules):
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:  # pragma: no cover - threadpoolctl is a dependency
            return None
        _CONTROLLER[0] = ThreadpoolController()
        _CONTROLLER[1] = len(sys.modules)
    return _CONTROLLER[0]
