"""The DefectModel layout inside a gmmseg model file (.npz arrays + JSON metadata, no pickle).

Layout version 2 (written now)::

    one scale   metadata: version, params, texture, mixture, offset, background_cap,
                threshold, pixel_threshold, n_train_images, n_holdout_images,
                n_features, n_training_rows, tail_components, work_scale, fit_seconds
                arrays: mixture_*, mean, scale, pca_components, pca_explained_variance,
                calibration_scores
    two scales  metadata: version, params, members (one one-scale metadata per scale),
                member_center, member_spread, threshold, pixel_threshold,
                n_train_images, n_holdout_images, fit_seconds
                arrays: calibration_scores, member0_*, member1_* (one-scale arrays)

Files of version 1 (before the tail mixture and the two scales) still load. Parameters
of older files are brought to today's names: ``smoothing`` (the map blur) is read as
``blur_sigma``; ``contrast_sigma`` (a rejected experiment, always 0 in files written
with the defaults) is dropped.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.mixture_file import mixture_from_file, mixture_to_file
from ..errors import ModelFileError
from .defect_scale import ScaleModel

__all__ = ["MODEL_VERSION", "to_file", "from_file", "upgrade_params"]

#: Version of the DefectModel layout inside the model file.
MODEL_VERSION = 2
#: Constructor arguments of a DefectModel that a ScaleModel does not take.
_MODEL_ONLY = ("scaling", "holdout", "min_area")


def upgrade_params(params: dict[str, Any]) -> dict[str, Any]:
    """Constructor arguments of a DefectModel from the ``params`` of a file of any version.

    Parameters
    ----------
    params : dict
        As stored in the file.

    Returns
    -------
    dict
        With today's names and defaults of settings older files did not have.

    Raises
    ------
    ModelFileError
        The file uses a setting that no longer exists (a removed experiment).
    """
    params = dict(params)
    if "smoothing" in params:
        params["blur_sigma"] = params.pop("smoothing")
    if float(params.pop("contrast_sigma", 0.0)) != 0.0:
        raise ModelFileError("this DefectModel file uses contrast_sigma, which was removed; re-fit the model")
    params["sigmas"] = tuple(params["sigmas"])
    params["families"] = tuple(params["families"])
    params.setdefault("tail_share", 0.0)  # files written before the tail mixture existed
    params.setdefault("scaling", "longest")  # ... and before two-scale models
    return params


def _scale_to_file(scale: ScaleModel, params: dict[str, Any], n_train: int, n_holdout: int):
    gm_meta, gm_arrays = mixture_to_file(scale.mixture_)
    metadata = {
        "version": MODEL_VERSION,
        "params": {**params, "scaling": scale.scaling},
        "texture": scale.settings.to_dict(),
        "mixture": gm_meta,
        "offset": float(scale.offset_),
        "background_cap": float(scale.background_cap_),
        "threshold": float(scale.threshold_),
        "pixel_threshold": float(scale.pixel_threshold_),
        "n_train_images": n_train,
        "n_holdout_images": n_holdout,
        "n_features": scale.n_features_,
        "n_training_rows": scale.n_training_rows_,
        "tail_components": int(scale.tail_components_),
        "work_scale": float(scale.work_scale_),
        "fit_seconds": float(scale.fit_seconds_),
    }
    arrays = {f"mixture_{k}": v for k, v in gm_arrays.items()}
    arrays |= {
        "mean": scale.mean_,
        "scale": scale.scale_,
        "pca_components": scale.components_,
        "pca_explained_variance": scale.explained_variance_,
        "calibration_scores": scale.calibration_scores_,
    }
    return metadata, arrays


def _scale_from_file(metadata: dict[str, Any], arrays: dict[str, np.ndarray], params: dict[str, Any]) -> ScaleModel:
    shared = {k: v for k, v in params.items() if k not in _MODEL_ONLY}
    scale = ScaleModel(upgrade_params(metadata["params"])["scaling"], **shared)
    prefix = "mixture_"
    scale.mixture_ = mixture_from_file(
        metadata["mixture"], {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
    )
    scale.mean_ = np.asarray(arrays["mean"], dtype=np.float64)
    scale.scale_ = np.asarray(arrays["scale"], dtype=np.float64)
    scale.components_ = np.asarray(arrays["pca_components"], dtype=np.float64)
    scale.explained_variance_ = np.asarray(arrays["pca_explained_variance"], dtype=np.float64)
    scale.calibration_scores_ = np.asarray(arrays["calibration_scores"], dtype=np.float64)
    scale.threshold_ = float(metadata["threshold"])
    scale.pixel_threshold_ = float(metadata["pixel_threshold"])
    scale.offset_ = float(metadata["offset"])
    scale.background_cap_ = float(metadata["background_cap"])
    scale.n_features_ = int(metadata["n_features"])
    scale.n_training_rows_ = int(metadata["n_training_rows"])
    scale.tail_components_ = int(metadata.get("tail_components", 0))
    scale.work_scale_ = float(metadata.get("work_scale", 0.0))
    scale.fit_seconds_ = float(metadata["fit_seconds"])
    if scale.mean_.shape != (scale.n_features_,) or scale.components_.shape != (scale.n_features_,) * 2:
        raise ModelFileError("DefectModel arrays have inconsistent shapes; re-create the model file")
    return scale


def to_file(model) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The metadata and arrays of a fitted DefectModel.

    Parameters
    ----------
    model : DefectModel
        Fitted.

    Returns
    -------
    metadata : dict
        JSON-able.
    arrays : dict of str to ndarray
    """
    params = model.get_params()
    n_train, n_holdout = model.n_train_images_, model.n_holdout_images_
    if len(model.scales_) == 1:
        return _scale_to_file(model.scales_[0], params, n_train, n_holdout)
    metadata = {
        "version": MODEL_VERSION,
        "params": params,
        "members": [],
        "member_center": list(model.scale_center_),
        "member_spread": list(model.scale_spread_),
        "threshold": float(model.threshold_),
        "pixel_threshold": float(model.pixel_threshold_),
        "n_train_images": n_train,
        "n_holdout_images": n_holdout,
        "fit_seconds": float(model.fit_seconds_),
    }
    arrays = {"calibration_scores": model.calibration_scores_}
    for j, scale in enumerate(model.scales_):
        meta_j, arrays_j = _scale_to_file(scale, params, n_train, n_holdout)
        metadata["members"].append(meta_j)
        arrays |= {f"member{j}_{k}": v for k, v in arrays_j.items()}
    return metadata, arrays


def from_file(cls, metadata: dict[str, Any], arrays: dict[str, np.ndarray]):
    """A fitted DefectModel from the metadata and arrays of a model file.

    Parameters
    ----------
    cls : type
        :class:`~gmmseg.image.defects.DefectModel`.
    metadata : dict
    arrays : dict of str to ndarray

    Returns
    -------
    DefectModel

    Raises
    ------
    ModelFileError
        A newer layout, a removed setting or inconsistent contents.
    """
    version = metadata.get("version")
    if not isinstance(version, int) or version > MODEL_VERSION:
        raise ModelFileError(f"DefectModel layout version {version!r} is newer than this gmmseg; upgrade gmmseg")
    model = cls(**upgrade_params(metadata["params"]))
    params = model.get_params()  # with the defaults of settings older files lack
    if "members" in metadata:
        if len(metadata["members"]) != 2:
            raise ModelFileError("a two-scale DefectModel file must hold 2 members; re-create it")
        model.scales_ = []
        for j, meta_j in enumerate(metadata["members"]):
            prefix = f"member{j}_"
            arrays_j = {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
            model.scales_.append(_scale_from_file(meta_j, arrays_j, params))
        model.scale_center_ = [float(v) for v in metadata["member_center"]]
        model.scale_spread_ = [float(v) for v in metadata["member_spread"]]
        model.calibration_scores_ = np.asarray(arrays["calibration_scores"], dtype=np.float64)
        model.threshold_ = float(metadata["threshold"])
        model.pixel_threshold_ = float(metadata["pixel_threshold"])
    else:
        scale = _scale_from_file(metadata, arrays, params)
        model.scales_ = [scale]
        model.calibration_scores_ = scale.calibration_scores_
        model.threshold_ = scale.threshold_
        model.pixel_threshold_ = scale.pixel_threshold_
    model.n_train_images_ = int(metadata["n_train_images"])
    model.n_holdout_images_ = int(metadata["n_holdout_images"])
    model.fit_seconds_ = float(metadata["fit_seconds"])
    return model
