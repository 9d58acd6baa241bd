"""The DefectModel layout inside a gmmseg model file (.npz arrays + JSON metadata, no pickle).

Layout version 6 (written now)::

    one scale   metadata: version, params, texture, mixture, offset, background_cap,
                threshold, pixel_threshold, n_train_images, n_holdout_images,
                n_features, n_training_rows, tail_components, work_scale, fit_seconds
                arrays: mixture_*, mean, scale, pca_components, pca_explained_variance,
                calibration_scores
    two scales  metadata: version, params, members (one one-scale metadata per scale),
                member_center, member_spread, threshold, pixel_threshold,
                n_train_images, n_holdout_images, fit_seconds
                arrays: calibration_scores, member0_*, member1_* (one-scale arrays)
    either      with ``params.broad``: metadata ``broad`` (mixture, center, quantile,
                weight, match_slope) and arrays broad_mixture_*, broad_mean, broad_scale,
                broad_match_source, broad_match_target (the quantile tables of MapMatch);
                with an image channel: metadata ``image_channel`` (mixture, center,
                quantile, weight) and arrays image_mixture_*, image_mean, image_scale;
                with either, the model's threshold, pixel_threshold and calibration_scores
                replace the (first) scale's; since session 7 metadata
                ``training_images`` (min_size, max_size, modes of the fit images), optional

Files of versions 1 (before the tail mixture and the two scales) and 2 (before the broad
channel) still load, without a broad channel; so do files of versions 3 and 4 without the
broad channel (version 4 changed only its features and its part of the map, version 5 how
its map joins the fine one, version 6 its features again: orientation and spread); a file of
versions 3 to 5 with ``broad`` true is refused with a message to re-fit, and so is a file whose
image channel has another number of descriptors than today's (the 31 of sessions 5-6; the layout
is the same). Parameters
of older files are brought to today's names: ``smoothing`` (the map blur) is read as
``blur_sigma``; ``contrast_sigma`` (a rejected experiment, always 0 in files written
with the defaults) is dropped.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core import file_checks as fc
from ..core.mixture_file import check_mixture, mixture_from_file, mixture_to_file
from ..core.persist import register_check
from ..errors import ModelFileError, ParameterError
from .defect_broad import BroadChannel
from .defect_image import ImageChannel
from .defect_match import MATCH_LEVELS, MapMatch
from .defect_scale import SCALES, ScaleModel
from .texture import FAMILIES, TextureSettings

__all__ = ["MODEL_VERSION", "to_file", "from_file", "upgrade_params", "check_file"]

#: Version of the DefectModel layout inside the model file.
MODEL_VERSION = 6
#: Constructor arguments of a DefectModel that a ScaleModel does not take.
_MODEL_ONLY = ("scaling", "holdout", "min_area", "broad", "image_channel")


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
    params.setdefault("broad", False)  # ... and before the broad channel
    params.setdefault("image_channel", False)  # ... and before the image channel
    return params


#: Integer settings: (low, high).
_INT_RANGES = {
    "n_components": (1, 1000),
    "tail_components": (1, 1000),
    "pixels_per_image": (10, 10**7),
    "peak_window": (0, 1024),
    "min_area": (1, 2**31),
}
#: Float settings: (low, high, high excluded).
_FLOAT_RANGES = {
    "background_sigma": (0.0, 256.0, False),
    "blur_sigma": (0.0, 64.0, False),
    "border_margin": (0.0, 0.5, True),
    "tail_share": (0.0, 0.5, True),
    "holdout": (0.0, 1.0, True),
}
_MAX_WORK_SIZE = 4096
_MAX_SIGMAS = 8
_MAX_SIGMA = 64.0


def check_file(metadata: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    """Validate the metadata and arrays of a DefectModel file (the ranges are in the module docstring).

    Parameters
    ----------
    metadata : dict
    arrays : dict of str to ndarray

    Raises
    ------
    ModelFileError
        Describing the first problem found.
    """
    version = fc.integer(metadata, "version", 1, 10**6)
    if version > MODEL_VERSION:
        raise ModelFileError(f"DefectModel layout version {version} is newer than this gmmseg; upgrade gmmseg")
    params = _check_params(fc.field(metadata, "params", dict))
    n_features = _texture_features(params)
    if not isinstance(params["broad"], bool):
        raise ModelFileError(f"params.broad is {params['broad']!r:.60}, not true or false")
    if params["broad"]:
        if version < 6:
            raise ModelFileError(
                f"this DefectModel file (layout version {version}) has the broad channel of an older gmmseg, "
                "whose features or map changed; re-fit the model"
            )
        _check_channel(metadata, arrays, "broad", "broad", BroadChannel.n_features, "broad: ")
        fc.number(metadata["broad"], "match_slope", 0.0, where="broad: ", open_low=True)
        for name in ("broad_match_source", "broad_match_target"):
            if np.any(np.diff(fc.array(arrays, name, MATCH_LEVELS.shape, where="broad: ")) < 0):
                raise ModelFileError(f"broad: array '{name}' must be non-decreasing")
    if not isinstance(params["image_channel"], bool):
        raise ModelFileError(f"params.image_channel is {params['image_channel']!r:.60}, not true or false")
    if "image_channel" in metadata:
        n_old = np.shape(arrays.get("image_mean"))
        if len(n_old) == 1 and n_old[0] != ImageChannel.n_features:
            raise ModelFileError(
                f"this DefectModel file's image channel has {n_old[0]} descriptors (an older gmmseg), not "
                f"today's {ImageChannel.n_features}; re-fit the model"
            )
        _check_channel(metadata, arrays, "image_channel", "image", ImageChannel.n_features, "image channel: ")
    if "training_images" in metadata:
        _check_training_images(fc.field(metadata, "training_images", dict))
    if "members" not in metadata:
        fc.choice(params, "scaling", SCALES)
        _check_scale(metadata, arrays, n_features, "")
        return
    fc.choice(params, "scaling", ("both",))
    members = fc.field(metadata, "members", list)
    if len(members) != len(SCALES):
        raise ModelFileError(f"a two-scale DefectModel file must hold {len(SCALES)} members, not {len(members)}")
    for j, (member, scaling) in enumerate(zip(members, SCALES)):
        where = f"member {j}: "
        fc.field(member, "params", dict, where)
        fc.choice(member["params"], "scaling", (scaling,), where=where)
        prefix = f"member{j}_"
        member_arrays = {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
        _check_scale(member, member_arrays, n_features, where)
    for key, low in (("member_center", -np.inf), ("member_spread", 0.0)):
        values = fc.field(metadata, key, list)
        if len(values) != len(SCALES):
            raise ModelFileError(f"{key} must hold {len(SCALES)} numbers, not {len(values)}")
        for value in values:
            fc.number({key: value}, key, low, open_low=True)
    _check_common(metadata, arrays, "")


def _check_training_images(section: dict[str, Any]) -> None:
    """The sizes and modes of the fit images (written since session 7; only read by scans' notes)."""
    for key in ("min_size", "max_size"):
        size = fc.field(section, key, list, "training_images: ")
        if len(size) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size):
            raise ModelFileError(f"training_images: {key} must be [height, width] in pixels, not {size!r:.60}")
    modes = fc.field(section, "modes", list, "training_images: ")
    if not modes or any(m not in ("gray", "color") for m in modes):
        raise ModelFileError(f"training_images: modes must list 'gray' and/or 'color', not {modes!r:.60}")


def _check_channel(
    metadata: dict[str, Any], arrays: dict[str, np.ndarray], key: str, prefix: str, n_features: int, where: str
) -> None:
    """An extra channel's section (broad or image): its mixture, standardization and calibration.

    The section ``metadata[key]`` holds ``mixture``, ``center``, ``quantile`` and ``weight``; the
    arrays ``PREFIX_mean``, ``PREFIX_scale`` and the mixture's ``PREFIX_mixture_*``.
    """
    section = fc.field(metadata, key, dict)
    fc.array(arrays, f"{prefix}_mean", (n_features,), where=where)
    if np.any(fc.array(arrays, f"{prefix}_scale", (n_features,), where=where) <= 0):
        raise ModelFileError(f"{where}array '{prefix}_scale' must be positive")
    center = fc.number(section, "center", where=where)
    fc.number(section, "quantile", center, where=where)
    fc.number(section, "weight", 0.0, where=where, open_low=True)
    mixture = fc.field(section, "mixture", dict, where)
    check_mixture(mixture, _mixture_arrays(arrays, prefix), where)
    if mixture["n_features"] != n_features:
        raise ModelFileError(f"{where}the mixture has {mixture['n_features']} features, not {n_features}")


def _channel_to_file(channel, prefix: str, weight: float) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The section and arrays of an extra channel (the layout :func:`_check_channel` reads)."""
    gm_meta, gm_arrays = mixture_to_file(channel.mixture_)
    metadata = {"mixture": gm_meta, "center": channel.center_, "quantile": channel.quantile_, "weight": float(weight)}
    arrays = {f"{prefix}_mixture_{k}": v for k, v in gm_arrays.items()}
    return metadata, arrays | {f"{prefix}_mean": channel.mean_, f"{prefix}_scale": channel.scale_}


def _channel_from_file(channel, prefix: str, metadata: dict[str, Any], arrays: dict[str, np.ndarray]):
    """``channel`` (a new BroadChannel or ImageChannel) with its fitted state read back."""
    channel.mixture_ = mixture_from_file(metadata["mixture"], _mixture_arrays(arrays, prefix))
    channel.mean_ = np.asarray(arrays[f"{prefix}_mean"], dtype=np.float64)
    channel.scale_ = np.asarray(arrays[f"{prefix}_scale"], dtype=np.float64)
    channel.center_, channel.quantile_ = float(metadata["center"]), float(metadata["quantile"])
    return channel


def _mixture_arrays(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    head = f"{prefix}_mixture_"
    return {k[len(head) :]: v for k, v in arrays.items() if k.startswith(head)}


def _check_params(params: dict[str, Any]) -> dict[str, Any]:
    """The constructor arguments of a file, upgraded and checked against the documented ranges.

    A setting an older file lacks takes the constructor's default, which is valid.
    """
    for key in ("sigmas", "families"):
        fc.field(params, key, list)
    params = upgrade_params(params)
    for key, (low, high) in _INT_RANGES.items():
        if key in params:
            fc.integer(params, key, low, high)
    for key, (low, high, open_high) in _FLOAT_RANGES.items():
        if key in params:
            fc.number(params, key, low, high, open_high=open_high)
    if "target_fpr" in params:
        fc.number(params, "target_fpr", 0.0, 1.0, open_low=True, open_high=True)
    if "covariance_type" in params:
        fc.choice(params, "covariance_type", ("full", "diag", "tied", "spherical"))
    if "work_size" in params and 0 < fc.integer(params, "work_size", 0, _MAX_WORK_SIZE) < 16:
        raise ModelFileError(f"work_size={params['work_size']} is outside 0 or [16, {_MAX_WORK_SIZE}]")
    sigmas = params["sigmas"]
    if not 1 <= len(sigmas) <= _MAX_SIGMAS:
        raise ModelFileError(f"sigmas holds {len(sigmas)} scales, not 1 to {_MAX_SIGMAS}")
    for sigma in sigmas:
        fc.number({"sigmas": sigma}, "sigmas", 0.0, _MAX_SIGMA, open_low=True)
    families = params["families"]
    if not families or len(set(families)) != len(families) or any(f not in FAMILIES for f in families):
        raise ModelFileError(f"families must be distinct names among {', '.join(FAMILIES)}")
    seed = params.get("random_state")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ModelFileError(f"random_state is {seed!r:.60}, not an integer or null")
    return params


def _texture_features(params: dict[str, Any]) -> int:
    """The number of features the file's texture settings give."""
    names = ("work_size", "background_sigma", "sigmas", "families")
    try:
        settings = TextureSettings(**{name: params[name] for name in names if name in params})
    except ParameterError as exc:
        raise ModelFileError(str(exc)) from None
    return settings.n_features


def _check_scale(meta: dict[str, Any], arrays: dict[str, np.ndarray], n_features: int, where: str) -> None:
    """One scale's settings and arrays (a one-scale file's top level, or one member)."""
    got = fc.integer(meta, "n_features", 1, 10**4, where=where)
    if got != n_features:
        raise ModelFileError(f"{where}n_features={got}, but the texture settings give {n_features} features")
    fc.number(meta, "offset", where=where)
    fc.number(meta, "background_cap", where=where, allow_inf=True)  # inf: no cap
    fc.integer(meta, "n_training_rows", 1, 2**62, where=where)
    if "tail_components" in meta:
        fc.integer(meta, "tail_components", 0, _INT_RANGES["tail_components"][1], where=where)
    if "work_scale" in meta:
        scale = fc.number(meta, "work_scale", 0.0, 1e4, where=where)
        if meta["params"].get("scaling") == "fixed" and scale <= 0:
            raise ModelFileError(f"{where}work_scale must be positive with scaling='fixed'")
    fc.array(arrays, "mean", (n_features,), where=where)
    if np.any(fc.array(arrays, "scale", (n_features,), where=where) <= 0):
        raise ModelFileError(f"{where}array 'scale' must be positive")
    fc.array(arrays, "pca_components", (n_features, n_features), where=where)
    fc.array(arrays, "pca_explained_variance", (n_features,), where=where)
    mixture = fc.field(meta, "mixture", dict, where)
    prefix = "mixture_"
    mixture_arrays = {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
    check_mixture(mixture, mixture_arrays, f"{where}mixture: ")
    if mixture["n_features"] != n_features:
        raise ModelFileError(f"{where}the mixture has {mixture['n_features']} features, not {n_features}")
    _check_common(meta, arrays, where)


def _check_common(meta: dict[str, Any], arrays: dict[str, np.ndarray], where: str) -> None:
    """Thresholds, calibration scores and counts, at the top level and in every scale."""
    fc.number(meta, "threshold", where=where)
    fc.number(meta, "pixel_threshold", where=where)
    scores = fc.array(arrays, "calibration_scores", where=where)
    if scores.ndim != 1 or scores.size == 0:
        raise ModelFileError(f"{where}array 'calibration_scores' must be 1-D and non-empty, got shape {scores.shape}")
    fc.integer(meta, "n_train_images", 1, 2**62, where=where)
    fc.integer(meta, "n_holdout_images", 0, 2**62, where=where)
    fc.number(meta, "fit_seconds", 0.0, where=where)


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
        metadata, arrays = _scale_to_file(model.scales_[0], params, n_train, n_holdout)
    else:
        metadata, arrays = _members_to_file(model, params, n_train, n_holdout)
    if model.broad_ is not None:
        metadata["broad"], broad_arrays = _channel_to_file(model.broad_, "broad", model.broad_weight_)
        match = model.broad_match_
        metadata["broad"]["match_slope"] = float(match.slope_)
        arrays |= broad_arrays | {"broad_match_source": match.source_, "broad_match_target": match.target_}
    if model.image_ is not None:
        metadata["image_channel"], image_arrays = _channel_to_file(model.image_, "image", model.broad_weight_)
        arrays |= image_arrays
    if model.training_images_ is not None:
        metadata["training_images"] = model.training_images_
    if model.broad_ is not None or model.image_ is not None:
        # the excesses change the model's calibration, not its scale's
        metadata["threshold"] = float(model.threshold_)
        metadata["pixel_threshold"] = float(model.pixel_threshold_)
        arrays["calibration_scores"] = model.calibration_scores_
    return metadata, arrays


def _members_to_file(model, params, n_train: int, n_holdout: int):
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
    model.broad_ = None
    if params["broad"]:
        broad = BroadChannel(int(model.work_size), float(model.target_fpr), model.random_state)
        model.broad_ = _channel_from_file(broad, "broad", metadata["broad"], arrays)
        model.broad_weight_ = float(metadata["broad"]["weight"])
        model.broad_match_ = MapMatch().set_state(
            arrays["broad_match_source"], arrays["broad_match_target"], float(metadata["broad"]["match_slope"])
        )
    model.image_ = None  # also with image_channel true: a fit on fewer than 5 images has none
    if "image_channel" in metadata:
        image = ImageChannel(int(model.work_size), model.random_state)
        model.image_ = _channel_from_file(image, "image", metadata["image_channel"], arrays)
        model.broad_weight_ = float(metadata["image_channel"]["weight"])
    model.n_train_images_ = int(metadata["n_train_images"])
    model.n_holdout_images_ = int(metadata["n_holdout_images"])
    model.fit_seconds_ = float(metadata["fit_seconds"])
    model.training_images_ = metadata.get("training_images")  # absent in files before session 7
    return model


register_check("DefectModel", check_file, "gmmseg defects fit")
