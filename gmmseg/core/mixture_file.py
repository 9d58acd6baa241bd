"""How a fitted :class:`~gmmseg.GaussianMixture` maps to a model file's metadata and arrays.

:mod:`gmmseg.core.persist` writes and reads the container; this module says what a mixture
puts in it. Models that hold a mixture (the defect detector, the customer model) store it
with :func:`mixture_to_file` and restore it with :func:`mixture_from_file`, after
:func:`check_mixture` has validated what the file holds.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ModelFileError, ParameterError
from . import file_checks as fc
from .covariance import COVARIANCE, COVARIANCE_TYPES
from .em import check_settings
from .mixture import GaussianMixture

__all__ = [
    "mixture_to_file",
    "mixture_from_file",
    "check_mixture",
    "check_mixture_file",
    "MAX_COMPONENTS",
    "MAX_FEATURES",
]

#: Components and features a mixture in a model file may have.
MAX_COMPONENTS = 100_000
MAX_FEATURES = 1_000_000
#: How far the weights may sum from 1.
_WEIGHT_SUM_TOL = 1e-5


def mixture_to_file(model: GaussianMixture) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The JSON metadata and the arrays of a fitted mixture.

    Parameters
    ----------
    model : GaussianMixture
        Fitted.

    Returns
    -------
    metadata : dict
        The scalar parameters, ``n_features``, ``feature_names``, ``converged``, ``n_iter``
        and ``lower_bound``.
    arrays : dict of ndarray
        ``weights`` (K,), ``means`` (K, D), ``covariances`` and ``precisions_cholesky``
        (shapes of the covariance type).
    """
    model._check_is_fitted()
    metadata = {
        "params": _jsonable_params(model.get_params()),
        "n_features": int(model.n_features_in_),
        "feature_names": ([str(c) for c in model.feature_names_in_] if hasattr(model, "feature_names_in_") else None),
        "converged": bool(model.converged_),
        "n_iter": int(model.n_iter_),
        "lower_bound": float(model.lower_bound_),
    }
    arrays = {
        "weights": model.weights_,
        "means": model.means_,
        "covariances": model.covariances_,
        "precisions_cholesky": model.precisions_cholesky_,
    }
    return metadata, arrays


def mixture_from_file(metadata: dict[str, Any], arrays: dict[str, np.ndarray]) -> GaussianMixture:
    """The fitted mixture that :func:`mixture_to_file` described.

    Parameters
    ----------
    metadata : dict
    arrays : dict of ndarray

    Returns
    -------
    GaussianMixture

    Notes
    -----
    ``metadata`` and ``arrays`` must have passed :func:`check_mixture`.
    """
    model = GaussianMixture(**metadata["params"])
    funcs = COVARIANCE[model.covariance_type]
    d = int(metadata["n_features"])
    model.weights_ = np.asarray(arrays["weights"], dtype=np.float64)
    model.means_ = np.asarray(arrays["means"], dtype=np.float64)
    model.covariances_ = np.asarray(arrays["covariances"], dtype=np.float64)
    model.precisions_cholesky_ = np.asarray(arrays["precisions_cholesky"], dtype=np.float64)
    model.precisions_ = funcs.precisions(model.precisions_cholesky_)
    model.converged_ = bool(metadata["converged"])
    model.n_iter_ = int(metadata["n_iter"])
    model.lower_bound_ = float(metadata["lower_bound"])
    model.n_features_in_ = d
    if metadata.get("feature_names"):
        model.feature_names_in_ = np.asarray(metadata["feature_names"], dtype=object)
    return model


def check_mixture(metadata: dict[str, Any], arrays: dict[str, np.ndarray], where: str = "") -> None:
    """Validate what :func:`mixture_to_file` wrote: parameters, shapes, finiteness and ranges.

    Parameters
    ----------
    metadata : dict
    arrays : dict of ndarray
        ``weights``, ``means``, ``covariances`` and ``precisions_cholesky``.
    where : str
        Prefix of the messages (the mixture's place in a nested model).

    Raises
    ------
    ModelFileError
        Describing the first problem: unknown or invalid parameters, ``n_features`` or
        ``n_components`` out of range, an array of the wrong shape, NaN or infinite
        values, negative weights or weights not summing to 1, variances or Cholesky
        diagonals that are not positive, covariances that are not positive definite.
    """
    params = fc.field(metadata, "params", dict, where)
    known = GaussianMixture().get_params()
    for key, value in params.items():
        if key not in known:
            raise ModelFileError(f"{where}unknown mixture parameter {key!r:.60}")
        if not (isinstance(value, (str, int, float, bool)) or value is None):
            raise ModelFileError(f"{where}mixture parameter {key} is a {type(value).__name__}, not a number or text")
    k = fc.integer(params, "n_components", 1, MAX_COMPONENTS, where=where)
    covariance_type = fc.choice(params, "covariance_type", COVARIANCE_TYPES, where=where)
    d = fc.integer(metadata, "n_features", 1, MAX_FEATURES, where=where)
    model = GaussianMixture(**params)
    if any(getattr(model, name) is not None for name in ("weights_init", "means_init", "precisions_init")):
        raise ModelFileError(f"{where}a saved mixture holds no initial parameters")
    if model.random_state is not None and (
        isinstance(model.random_state, bool) or not isinstance(model.random_state, int)
    ):
        raise ModelFileError(f"{where}random_state is {model.random_state!r:.60}, not an integer or null")
    try:
        check_settings(model, d)
    except ParameterError as exc:
        raise ModelFileError(f"{where}{exc}") from None
    names = metadata.get("feature_names")
    if names is not None and (
        not isinstance(names, list) or len(names) != d or not all(isinstance(n, str) for n in names)
    ):
        raise ModelFileError(f"{where}feature_names must be null or {d} strings")
    fc.field(metadata, "converged", bool, where)
    fc.integer(metadata, "n_iter", 0, 2**62, where=where)
    fc.number(metadata, "lower_bound", where=where, allow_inf=True)
    shape = COVARIANCE[covariance_type].covariance_shape(k, d)
    weights = fc.array(arrays, "weights", (k,), where=where)
    fc.array(arrays, "means", (k, d), where=where)
    covariances = fc.array(arrays, "covariances", shape, where=where)
    chol = fc.array(arrays, "precisions_cholesky", shape, where=where)
    if np.any(weights < 0) or abs(weights.sum() - 1.0) > _WEIGHT_SUM_TOL:
        raise ModelFileError(f"{where}weights must be >= 0 and sum to 1 (they sum to {weights.sum():.6g})")
    if covariance_type in ("diag", "spherical"):
        if np.any(covariances <= 0) or np.any(chol <= 0):
            raise ModelFileError(f"{where}variances and Cholesky factors of the precisions must be positive")
        return
    blocks = covariances.reshape(-1, d, d)
    try:
        np.linalg.cholesky(blocks)
    except np.linalg.LinAlgError:
        raise ModelFileError(f"{where}covariances are not all positive definite") from None
    factors = chol.reshape(-1, d, d)
    diagonal = np.diagonal(factors, axis1=1, axis2=2)
    triangular = np.all(np.triu(factors, 1) == 0) or np.all(np.tril(factors, -1) == 0)
    if not triangular or np.any(diagonal <= 0):
        raise ModelFileError(f"{where}precisions_cholesky must be triangular factors with a positive diagonal")
    if not np.all(np.isfinite(factors @ np.swapaxes(factors, -1, -2))):
        raise ModelFileError(f"{where}precisions_cholesky overflow: its precisions are not finite")


def check_mixture_file(metadata: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    """:func:`check_mixture` of a file that holds one mixture (the check registered for the kind).

    Parameters
    ----------
    metadata : dict
    arrays : dict of ndarray
    """
    check_mixture(metadata, arrays)


def _jsonable_params(params: dict) -> dict:
    """The parameters that JSON can hold (initial arrays and random generators are left out)."""
    out = {}
    for key, value in params.items():
        if isinstance(value, (str, int, float, bool)) or value is None:
            out[key] = value
        elif isinstance(value, np.integer):
            out[key] = int(value)
        elif isinstance(value, np.floating):
            out[key] = float(value)
    return out
