"""Choosing the training images of a defect model from what a user typed.

Data sets such as MTD keep each photo's defect mask next to it, with the same stem
(``exp1_num_10181.jpg`` and ``exp1_num_10181.png``). Given a folder, :func:`training_images`
takes the photos and leaves out such masks (and any file matching an exclude pattern),
saying for each file left out why.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..errors import GmmsegError, InputError
from .io import list_images, read_image

__all__ = ["training_images", "looks_like_mask"]

#: A mask's pixels sit near 0 or 255: MTD's carry faint noise near 0, so "two values" is too strict.
_NEAR = 64
#: Share of pixels allowed between the two ends (masks: under 0.5%; photos: above 6%).
_MAX_MIDDLE_SHARE = 0.01


def looks_like_mask(pixels: np.ndarray) -> bool:
    """True for a binary-looking image: at most two values, or almost every pixel near 0 or 255.

    Parameters
    ----------
    pixels : ndarray of shape (H, W) or (H, W, C), dtype uint8 or uint16

    Returns
    -------
    bool

    Examples
    --------
    >>> looks_like_mask(np.array([[0, 3], [255, 250]], dtype=np.uint8))
    True
    >>> looks_like_mask(np.array([[0, 128], [200, 90]], dtype=np.uint8))
    False
    """
    values = np.asarray(pixels)
    if values.ndim == 3:
        if not (values == values[..., :1]).all():
            return False
        values = values[..., 0]
    if values.dtype == np.uint16:
        values = (values >> 8).astype(np.uint8)
    if np.unique(values).size <= 2:
        return True
    middle = (values > _NEAR) & (values < 255 - _NEAR)
    return float(middle.mean()) <= _MAX_MIDDLE_SHARE


def training_images(inputs, exclude: Iterable[str] = ()) -> tuple[list[Path], list[tuple[Path, str]]]:
    """The good images to train on among ``inputs``, and the files left out with the reason.

    A file is left out when it matches an ``exclude`` glob (tried on the path as listed and
    on the file name), or when it is another file's mask: an image in the same folder has
    the same stem and this one looks binary (:func:`looks_like_mask`) while that one does not.

    Parameters
    ----------
    inputs : str, Path or iterable of them
        Files, folders or globs, as :func:`gmmseg.image.io.list_images` takes them.
    exclude : iterable of str, optional
        Glob patterns of files to leave out (``"*_mask.png"``, ``"*/masks/*"``).

    Returns
    -------
    used : list of Path
        The training images, in listing order.
    skipped : list of (Path, str)
        Each file left out and why, in listing order.

    Raises
    ------
    InputError
        When nothing is left to train on.
    """
    patterns = list(exclude)
    listed = list_images(inputs)
    by_folder_stem: dict[tuple[Path, str], list[Path]] = {}
    for path in listed:
        by_folder_stem.setdefault((path.parent, path.stem.casefold()), []).append(path)
    mask_cache: dict[Path, bool] = {}

    def is_mask(path: Path) -> bool:
        if path not in mask_cache:
            try:
                mask_cache[path] = looks_like_mask(read_image(path, mode="keep").pixels)
            except GmmsegError:
                mask_cache[path] = False  # reading it for the fit will say what is wrong
        return mask_cache[path]

    used: list[Path] = []
    skipped: list[tuple[Path, str]] = []
    for path in listed:
        pattern = next((p for p in patterns if fnmatch.fnmatch(str(path), p) or fnmatch.fnmatch(path.name, p)), None)
        if pattern is not None:
            skipped.append((path, f"matches the exclude pattern {pattern!r}"))
            continue
        siblings = [p for p in by_folder_stem[(path.parent, path.stem.casefold())] if p != path]
        photo = next((p for p in siblings if not is_mask(p)), None) if siblings and is_mask(path) else None
        if photo is not None:
            skipped.append((path, f"a mask of {photo.name} (binary image with the same stem)"))
            continue
        used.append(path)
    if not used:
        raise InputError(
            f"no training images left: all {len(listed)} listed files were excluded or are masks; "
            "check the inputs and the exclude patterns"
        )
    return used, skipped
