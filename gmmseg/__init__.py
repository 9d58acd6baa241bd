"""gmmseg: Gaussian mixture models made practical.

One fast, exact, weighted EM engine (:class:`GaussianMixture`, :func:`select_components`)
under three applications: photo segmentation, defect detection and customer tables.
"""

from __future__ import annotations

__version__ = "0.1.0"

from . import errors
from .core import GaussianMixture, SelectionResult, Stats, load, persist, save, select_components
from .errors import *  # noqa: F403 - the error tree, listed once in errors.__all__

# Application-level names, imported on first use so ``import gmmseg`` stays fast.
_LAZY = {
    "segment_image": "gmmseg.image.segment",
    "Segmentation": "gmmseg.image.segment",
    "read_image": "gmmseg.image.io",
    "DefectModel": "gmmseg.image.defects",
    "FeaturePrep": "gmmseg.tables.prepare",
    "rfm_from_transactions": "gmmseg.tables.rfm",
    "segment_customers": "gmmseg.tables.customers",
    "TableAnomalyDetector": "gmmseg.tables.anomalies",
}


def _lazy_class(module: str, name: str):
    def factory():
        import importlib

        return getattr(importlib.import_module(module), name)

    return factory


# Model-file kinds of the applications, resolved on first load (``gmmseg.load`` works in a
# fresh process without importing the application module first).
_MODEL_KINDS = {
    "DefectModel": ("gmmseg.image.defects", "DefectModel"),
    "CustomerSegmentModel": ("gmmseg.tables.segment_model", "CustomerSegmentModel"),
}
for _kind, (_module, _name) in _MODEL_KINDS.items():
    persist.register_kind(_kind, _lazy_class(_module, _name))


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'gmmseg' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "__version__",
    *_LAZY,
    "GaussianMixture",
    "select_components",
    "SelectionResult",
    "Stats",
    "save",
    "load",
    *errors.__all__,
]
