"""Errors and warnings raised by gmmseg.

Every error a user can cause derives from :class:`GmmsegError`, so one
``except GmmsegError`` catches them all. Messages are one line that names the
problem and the fix.

::

    GmmsegError                      base class; CLI exit code 2 unless noted
    ├── InputError (ValueError)      bad data: empty, NaN/inf, wrong shape, unreadable file
    │   ├── InputTypeError (TypeError)  values that are not numbers
    │   ├── ImageError               an image that cannot be read or decoded
    │   └── TableError               a table that cannot be read or used
    ├── ParameterError (ValueError)  an invalid argument or option value
    ├── FittingError (RuntimeError)  EM cannot proceed (e.g. too few distinct rows)
    ├── OutputError                  an output that cannot be written (names the path and the fix)
    ├── ModelFileError               a model file that is missing, corrupt, of another
    │                                kind or of an unsupported format version
    └── NotFittedError (ValueError, AttributeError)  a model used before ``fit``

    GmmsegWarning (UserWarning)
    ├── ConvergenceWarning           EM stopped at max_iter before tol was reached
    └── ComponentCollapseWarning     a component collapsed and was re-seeded
"""

from __future__ import annotations

import functools
import sys

__all__ = [
    "GmmsegError",
    "InputError",
    "InputTypeError",
    "ImageError",
    "TableError",
    "ParameterError",
    "FittingError",
    "OutputError",
    "ModelFileError",
    "NotFittedError",
    "GmmsegWarning",
    "ConvergenceWarning",
    "ComponentCollapseWarning",
    "FailedItem",
]


class GmmsegError(Exception):
    """Base class of every error gmmseg raises on purpose."""

    #: Exit code the command line uses for this error.
    exit_code: int = 2


class InputError(GmmsegError, ValueError):
    """Input data that cannot be used as given."""


class InputTypeError(InputError, TypeError):
    """Input of a type that cannot be converted (e.g. objects that are not numbers)."""


class ImageError(InputError):
    """An image file that cannot be opened, decoded or used."""


class TableError(InputError):
    """A table file that cannot be read or has no usable columns."""


class ParameterError(GmmsegError, ValueError):
    """An argument or option with an invalid value."""


class FittingError(GmmsegError, RuntimeError):
    """The model cannot be fitted to these data with these settings."""


class OutputError(GmmsegError):
    """An output that cannot be written (disk full, read-only folder, missing parent folder...).

    ``fatal`` is True when no other output in the same place can be written either, so a
    batch stops at once instead of failing every remaining item.
    """

    fatal: bool = False


class ModelFileError(GmmsegError):
    """A model file that is missing, corrupt, of another kind or version."""


class NotFittedError(GmmsegError, ValueError, AttributeError):
    """A model used before it was fitted.

    A ``ValueError`` and an ``AttributeError``, as scikit-learn's ``NotFittedError``. gmmseg
    does not import scikit-learn; once something else has, the error raised is also an
    instance of scikit-learn's ``NotFittedError``, so scikit-learn's tools recognize it.
    """

    def __new__(cls, *args, **kwargs):
        if cls is NotFittedError and "sklearn.exceptions" in sys.modules:
            cls = _with_sklearns_not_fitted()
        return super().__new__(cls, *args, **kwargs)


@functools.cache
def _with_sklearns_not_fitted() -> type:
    sklearn_not_fitted = sys.modules["sklearn.exceptions"].NotFittedError
    return type("NotFittedError", (NotFittedError, sklearn_not_fitted), {"__module__": __name__})


class GmmsegWarning(UserWarning):
    """Base class of gmmseg's warnings."""


class ConvergenceWarning(GmmsegWarning):
    """EM stopped at ``max_iter`` before the change fell below ``tol``."""


class ComponentCollapseWarning(GmmsegWarning):
    """A component lost (almost) all its weight or became singular and was re-seeded."""


class FailedItem(str):
    """The one-line error of one item of a batch that failed (the batch goes on).

    A ``str`` (so it prints and serializes as its message) that a batch runner returns in
    place of the item's result, in process and on Dask workers alike.
    """
