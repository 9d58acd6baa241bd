"""How a fitted :class:`~gmmseg.GaussianMixture` maps to a model file's metadata and arrays.

:mod:`gmmseg.core.persist` writes and reads the container; this module says what a mixture
puts in it. Models that hold a mixture (the defect detector, the customer model) store it
with :func:`mixture_to_file` and restore it with :func:`mixture_from_file`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .covariance import COVARIANCE
from .mixture import GaussianMixture

__all__ = ["mixture_to_file", "mixture_from_file"]


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

    Raises
    ------
    ValueError
        When the array shapes do not match ``n_components`` and ``n_features``.
    """
    model = GaussianMixture(**metadata["params"])
    funcs = COVARIANCE[model.covariance_type]
    k, d = int(model.n_components), int(metadata["n_features"])
    model.weights_ = np.asarray(arrays["weights"], dtype=np.float64)
    model.means_ = np.asarray(arrays["means"], dtype=np.float64)
    model.covariances_ = np.asarray(arrays["covariances"], dtype=np.float64)
    model.precisions_cholesky_ = np.asarray(arrays["precisions_cholesky"], dtype=np.float64)
    want = funcs.covariance_shape(k, d)
    if (
        model.weights_.shape != (k,)
        or model.means_.shape != (k, d)
        or model.covariances_.shape != want
        or model.precisions_cholesky_.shape != want
    ):
        raise ValueError("array shapes do not match n_components and n_features")
    model.precisions_ = funcs.precisions(model.precisions_cholesky_)
    model.converged_ = bool(metadata["converged"])
    model.n_iter_ = int(metadata["n_iter"])
    model.lower_bound_ = float(metadata["lower_bound"])
    model.n_features_in_ = d
    if metadata.get("feature_names"):
        model.feature_names_in_ = np.asarray(metadata["feature_names"], dtype=object)
    return model


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
