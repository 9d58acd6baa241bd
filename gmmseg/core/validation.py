"""Input checks shared by the estimators; every failure is a one-line GmmsegError."""

from __future__ import annotations

import numbers

import numpy as np

from ..errors import InputError, InputTypeError, ParameterError

_DTYPES = {"float64": np.float64, "float32": np.float32}


def check_dtype(dtype) -> type:
    """Return ``np.float64`` or ``np.float32`` for the ``dtype`` parameter."""
    key = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    if key not in _DTYPES:
        raise ParameterError(f"dtype must be 'float64' or 'float32', got {dtype!r}")
    return _DTYPES[key]


def check_array(
    X, dtype=np.float64, *, name: str = "X", n_features: int | None = None, estimator: str = "the model"
) -> np.ndarray:
    """Validate a 2-D numeric, finite, non-empty array; convert to ``dtype`` (copying only if needed).

    Messages contain the phrases scikit-learn's estimator checks look for, so gmmseg's
    estimators behave like scikit-learn's in pipelines and search tools.
    """
    if hasattr(X, "tocsr") or type(X).__module__.startswith("scipy.sparse"):
        raise InputError(f"{name} is a sparse matrix: sparse input is not supported; convert it with X.toarray()")
    if hasattr(X, "to_numpy") and not isinstance(X, np.ndarray):
        try:
            X = X.to_numpy(dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InputError(f"{name} has non-numeric columns ({exc}); select numeric columns first") from None
    try:
        arr = np.asarray(X)
    except Exception as exc:  # ragged lists and the like
        raise InputError(f"{name} could not be read as an array ({exc}); pass a 2-D numeric array") from None
    if np.iscomplexobj(arr):
        raise InputError(f"{name} is complex: Complex data not supported; pass real-valued features")
    if arr.dtype == object:
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise InputTypeError(
                f"{name} must be numeric ({exc}; argument must be a string or a number); "
                "convert or drop non-numeric columns"
            ) from None
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise InputError(f"{name} must be numeric, got dtype {arr.dtype}; convert or drop non-numeric columns")
    if arr.ndim != 2:
        hint = "; Reshape your data with X.reshape(-1, 1) for a single feature" if arr.ndim == 1 else ""
        raise InputError(f"{name} must be 2-D (n_samples, n_features), got shape {arr.shape}{hint}")
    if arr.shape[1] == 0:
        raise InputError(
            f"{name} has 0 feature(s) (shape={arr.shape}) while a minimum of 1 is required; pass at least one column"
        )
    if arr.shape[0] == 0:
        raise InputError(
            f"{name} is empty: 0 sample(s) (shape={arr.shape}) while a minimum of 1 is required; pass at least one row"
        )
    if n_features is not None and arr.shape[1] != n_features:
        raise InputError(
            f"{name} has {arr.shape[1]} features, but {estimator} is expecting {n_features} features as input; "
            "pass data with the same columns"
        )
    arr = np.asarray(arr, dtype=dtype)
    if not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise InputError(
            f"{name} contains NaN or infinity (first at row {bad[0]}, column {bad[1]}); impute or drop those rows first"
        )
    return arr


def check_sample_weight(sample_weight, n_samples: int) -> np.ndarray | None:
    """Validate per-row weights: shape ``(n_samples,)``, finite, non-negative, positive sum."""
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight, dtype=np.float64)
    if w.ndim == 0:
        w = np.full(n_samples, float(w))
    if w.shape != (n_samples,):
        raise InputError(f"sample_weight must have shape ({n_samples},), got {w.shape}; pass one weight per row")
    if not np.all(np.isfinite(w)):
        raise InputError("sample_weight contains NaN or infinity; pass finite non-negative weights")
    if np.any(w < 0):
        raise InputError("sample_weight has negative values; weights must be >= 0 (0 drops a row)")
    if not w.sum() > 0:
        raise InputError("sample_weight is all zero (every weight is zero); at least one row needs a positive weight")
    return w


def check_int(value, name: str, low: int, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ParameterError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def check_float(value, name: str, low: float, inclusive: bool = True) -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and np.isfinite(value)
    ok = ok and (value >= low if inclusive else value > low)
    if not ok:
        sign = ">=" if inclusive else ">"
        raise ParameterError(f"{name} must be a finite number {sign} {low}, got {value!r}")
    return float(value)


def check_choice(value, name: str, choices) -> str:
    if value not in choices:
        raise ParameterError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value
