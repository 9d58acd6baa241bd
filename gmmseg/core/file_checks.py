"""Checks of the metadata and arrays of a model file, shared by every model kind.

Each check raises :class:`~gmmseg.errors.ModelFileError` with a short description of
the problem (``"threshold is nan, not a finite number"``); :func:`gmmseg.core.persist.load_arrays`
adds the file's name and the fix. ``where`` prefixes a field's name with its place in a
nested model (``"member 1 mixture: "``).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import ModelFileError

__all__ = ["field", "number", "integer", "choice", "array"]


def field(meta: Mapping[str, Any], key: str, types: type | tuple[type, ...], where: str = "") -> Any:
    """``meta[key]``, which must be present and of ``types`` (a bool is not a number here).

    Parameters
    ----------
    meta : mapping
    key : str
    types : type or tuple of type
    where : str

    Returns
    -------
    object
    """
    if not isinstance(meta, Mapping):
        raise ModelFileError(f"{where}metadata is a {type(meta).__name__}, not an object")
    if key not in meta:
        raise ModelFileError(f"{where}{key!r} is missing")
    value = meta[key]
    wanted = types if isinstance(types, tuple) else (types,)
    if (isinstance(value, bool) and bool not in wanted) or not isinstance(value, wanted):
        names = " or ".join(t.__name__ for t in wanted)
        raise ModelFileError(f"{where}{key!r} is {value!r:.60}, not a {names}")
    return value


def number(
    meta: Mapping[str, Any],
    key: str,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    where: str = "",
    open_low: bool = False,
    open_high: bool = False,
    allow_inf: bool = False,
) -> float:
    """``meta[key]`` as a float in ``[low, high]`` (``open_*``: the bound excluded); NaN never passes.

    Returns
    -------
    float
    """
    try:
        value = float(field(meta, key, numbers.Real, where))
    except OverflowError:  # an integer of hundreds of digits
        value = math.inf
    if math.isnan(value) or (math.isinf(value) and not allow_inf):
        raise ModelFileError(f"{where}{key} is {value}, not a finite number")
    too_low = value <= low if open_low else value < low
    too_high = value >= high if open_high else value > high
    if too_low or too_high:
        left, right = "(" if open_low else "[", ")" if open_high else "]"
        raise ModelFileError(f"{where}{key}={value:g} is outside {left}{low:g}, {high:g}{right}")
    return value


def integer(meta: Mapping[str, Any], key: str, low: int, high: int, *, where: str = "") -> int:
    """``meta[key]`` as an int in ``[low, high]``.

    Returns
    -------
    int
    """
    value = field(meta, key, numbers.Integral, where)
    if not low <= value <= high:
        raise ModelFileError(f"{where}{key}={value} is outside [{low}, {high}]")
    return int(value)


def choice(meta: Mapping[str, Any], key: str, choices, *, where: str = "") -> Any:
    """``meta[key]``, which must be one of ``choices``.

    Returns
    -------
    object
    """
    value = meta.get(key) if isinstance(meta, Mapping) else None
    if isinstance(value, bool) or value not in tuple(choices):
        raise ModelFileError(f"{where}{key} is {value!r:.60}, not one of {', '.join(map(repr, choices))}")
    return value


def array(
    arrays: Mapping[str, np.ndarray], name: str, shape: tuple[int, ...] | None = None, *, where: str = ""
) -> np.ndarray:
    """``arrays[name]`` as float64: present, of ``shape`` (when given) and finite.

    Parameters
    ----------
    arrays : mapping of str to ndarray
    name : str
    shape : tuple of int, optional
    where : str

    Returns
    -------
    ndarray of float64
    """
    if name not in arrays:
        raise ModelFileError(f"{where}array {name!r} is missing")
    values = np.asarray(arrays[name], dtype=np.float64)
    if shape is not None and values.shape != tuple(shape):
        raise ModelFileError(f"{where}array {name!r} has shape {values.shape}, expected {tuple(shape)}")
    if not np.all(np.isfinite(values)):
        raise ModelFileError(f"{where}array {name!r} holds NaN or infinite values")
    return values
