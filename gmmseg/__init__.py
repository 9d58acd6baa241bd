"""gmmseg: Gaussian mixture models made practical.

One fast, exact, weighted EM engine (:class:`GaussianMixture`, :func:`select_components`)
under three applications: photo segmentation, defect detection and customer tables.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .core import GaussianMixture, SelectionResult, Stats, load, save, select_components
from .errors import (
    ComponentCollapseWarning,
    ConvergenceWarning,
    FittingError,
    GmmsegError,
    GmmsegWarning,
    ImageError,
    InputError,
    ModelFileError,
    NotFittedError,
    ParameterError,
    TableError,
)

__all__ = [
    "__version__",
    "GaussianMixture",
    "select_components",
    "SelectionResult",
    "Stats",
    "save",
    "load",
    "GmmsegError",
    "InputError",
    "ImageError",
    "TableError",
    "ParameterError",
    "FittingError",
    "ModelFileError",
    "NotFittedError",
    "GmmsegWarning",
    "ConvergenceWarning",
    "ComponentCollapseWarning",
]
