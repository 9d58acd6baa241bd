"""Reading and writing images safely.

:func:`read_image` turns any JPEG, PNG, TIFF, WebP or BMP file into a NumPy array
with one predictable layout, whatever the file holds (grayscale, palette, RGBA,
16-bit, CMYK, an EXIF rotation), and turns every way a file can be broken into
one :class:`~gmmseg.errors.ImageError` whose one-line message names the file and
the problem. :func:`write_png` writes 8- or 16-bit PNGs atomically.
:func:`list_images` expands the files, folders and globs a user typed.

The input file is only ever opened for reading.
"""

from __future__ import annotations

import fnmatch
import io
import os
import threading
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ImageError, InputError, ParameterError

__all__ = [
    "LoadedImage",
    "read_image",
    "write_png",
    "list_images",
    "encode_png",
    "apply_orientation",
    "as_image_array",
    "IMAGE_SUFFIXES",
    "DEFAULT_MAX_PIXELS",
]

#: Pixel limit against decompression bombs: Pillow's own default (about 89.5 MP).
DEFAULT_MAX_PIXELS = 89_478_485
#: File suffixes :func:`list_images` picks up inside folders (lower case).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".jpe", ".png", ".tif", ".tiff", ".webp", ".bmp")
#: zlib level of written PNGs: 1 is several times faster than Pillow's 6 and files are ~10-30% larger.
PNG_COMPRESS_LEVEL = 1
_MODES = ("keep", "rgb", "gray")
_EXIF_ORIENTATION = 0x0112
# Pillow's MAX_IMAGE_PIXELS is process-global: change it only under this lock.
_PIL_LOCK = threading.Lock()


@dataclass
class LoadedImage:
    """An image read by :func:`read_image`.

    Attributes
    ----------
    pixels : ndarray of shape (H, W) or (H, W, 3), dtype uint8 or uint16
        Grayscale or RGB values, EXIF orientation applied. 16-bit files stay uint16.
    alpha : ndarray of shape (H, W), dtype bool, or None
        True where the pixel is visible (alpha > 0); None when the file has no
        alpha channel (or transparency) or no pixel is fully transparent.
    path : Path
        The file read.
    mode : str
        The file's original Pillow mode ("RGB", "L", "P", "RGBA", "I;16", "CMYK", ...).
    bit_depth : int
        Bits per channel of ``pixels``: 8 or 16.
    """

    pixels: np.ndarray
    alpha: np.ndarray | None
    path: Path
    mode: str
    bit_depth: int

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of ``pixels``."""
        return self.pixels.shape

    @property
    def n_pixels(self) -> int:
        """``H × W``."""
        return int(self.pixels.shape[0] * self.pixels.shape[1])

    @property
    def is_gray(self) -> bool:
        """True for single-channel pixels."""
        return self.pixels.ndim == 2


def _fail(path: Path, problem: str) -> ImageError:
    return ImageError(f"cannot read image {path}: {problem}")


def apply_orientation(array: np.ndarray, orientation: int | None) -> np.ndarray:
    """Apply an EXIF orientation (1..8) to an array of shape (H, W[, C]); same as Pillow's ``exif_transpose``.

    Returns a view when possible (the caller copies if needed).

    Examples
    --------
    >>> a = np.arange(6).reshape(2, 3)
    >>> apply_orientation(a, 6).tolist()  # rotated 90 degrees clockwise
    [[3, 0], [4, 1], [5, 2]]
    """
    if orientation in (None, 1) or orientation not in range(1, 9):
        return array
    if orientation == 2:
        return array[:, ::-1]
    if orientation == 3:
        return array[::-1, ::-1]
    if orientation == 4:
        return array[::-1, :]
    if orientation == 5:
        return array.swapaxes(0, 1)
    if orientation == 6:
        return np.rot90(array, k=-1)
    if orientation == 7:
        return array[::-1, ::-1].swapaxes(0, 1)
    return np.rot90(array, k=1)  # 8


def _orientation(im) -> int | None:
    try:
        value = im.getexif().get(_EXIF_ORIENTATION)
    except Exception:  # a broken EXIF block must not stop the image from loading
        return None
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _rawmode(im) -> str:
    try:
        args = im.tile[0].args if hasattr(im.tile[0], "args") else im.tile[0][3]
    except (IndexError, AttributeError, TypeError):
        return ""
    if isinstance(args, tuple):
        args = args[0] if args else ""
    return str(args)


def _decode_16bit_color(data: bytes) -> np.ndarray | None:
    """16-bit RGB(A) PNG/TIFF through OpenCV (Pillow reduces them to 8 bits). Returns RGB(A) uint16 or None."""
    try:
        import cv2
    except ImportError:  # pragma: no cover - opencv is a dependency
        return None
    arr = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if arr is None or arr.dtype != np.uint16 or arr.ndim != 3 or arr.shape[2] not in (3, 4):
        return None
    return arr[..., [2, 1, 0, 3]] if arr.shape[2] == 4 else arr[..., ::-1]


def _to_uint16(arr: np.ndarray) -> np.ndarray:
    """Integer ("I") or float ("F") single-channel data to uint16."""
    if np.issubdtype(arr.dtype, np.integer):
        if arr.size and (arr.min() < 0 or arr.max() > 65535):
            raise ValueError("32-bit integer values outside 0..65535 are not supported")
        return arr.astype(np.uint16)
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError("floating-point image with NaN or infinite values")
    low, high = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 1.0)
    if low >= 0.0 and high <= 1.0:
        low, high = 0.0, 1.0
    scale = 65535.0 / (high - low) if high > low else 0.0
    return np.round((arr - low) * scale).astype(np.uint16)


def _convert(im, data: bytes, raw: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Decode a loaded Pillow image to (pixels, alpha channel or None) without orientation.

    ``raw`` is the raw mode of the first tile, read before ``load()`` clears the tiles.
    """
    mode = im.mode
    if mode in ("RGB", "RGBA", "RGBX") and ";16" in raw:
        arr16 = _decode_16bit_color(data)
        if arr16 is not None:
            if arr16.shape[2] == 4:
                return arr16[..., :3], arr16[..., 3]
            return arr16, None
    if mode == "1":
        return np.asarray(im.convert("L")), None
    if mode == "L":
        return np.asarray(im), None
    if mode.startswith("I;16"):
        return np.asarray(im).astype(np.uint16), None
    if mode in ("I", "F"):
        return _to_uint16(np.asarray(im)), None
    if mode in ("LA", "La"):
        arr = np.asarray(im.convert("LA"))
        return arr[..., 0], arr[..., 1]
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in im.info
        arr = np.asarray(im.convert("RGBA" if has_alpha else "RGB"))
        return (arr[..., :3], arr[..., 3]) if has_alpha else (arr, None)
    if mode in ("RGBA", "RGBa"):
        arr = np.asarray(im.convert("RGBA"))
        return arr[..., :3], arr[..., 3]
    if mode == "RGB":
        arr = np.asarray(im)
        if "transparency" in im.info:  # a tRNS color key
            arr4 = np.asarray(im.convert("RGBA"))
            return arr, arr4[..., 3]
        return arr, None
    # CMYK, YCbCr, LAB, HSV, RGBX, ...: Pillow's conversion to RGB.
    return np.asarray(im.convert("RGB")), None


def read_image(path, *, mode: str = "keep", max_pixels: int | None = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Read an image file into a NumPy array, safely.

    Parameters
    ----------
    path : str or Path
        A JPEG, PNG, TIFF, WebP or BMP file (other formats Pillow reads work too;
        multi-frame files give their first frame).
    mode : {"keep", "rgb", "gray"}, default="keep"
        "keep": grayscale files give (H, W), color files (H, W, 3). "rgb": always
        (H, W, 3) (gray repeated). "gray": always (H, W), by ITU-R 601 luma
        (``0.299 R + 0.587 G + 0.114 B``, rounded), the same as Pillow's "L".
    max_pixels : int or None, default=DEFAULT_MAX_PIXELS
        Refuse images with more pixels than this (a decompression-bomb guard,
        Pillow's default limit). None removes the limit.

    Returns
    -------
    LoadedImage
        ``pixels`` of shape (H, W) or (H, W, 3), uint8 or uint16 (16-bit files keep
        their depth); ``alpha`` a bool (H, W) mask of visible pixels or None.

    Raises
    ------
    ImageError
        Missing, unreadable, empty, truncated, corrupt or not-an-image files, or
        more pixels than ``max_pixels``; the message is one line naming the file.
    ParameterError
        An invalid ``mode`` or ``max_pixels``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = write_png(folder / "tiny.png", np.array([[0, 255]], dtype=np.uint8))
    >>> img = read_image(folder / "tiny.png")
    >>> img.pixels.tolist(), img.mode, img.bit_depth
    ([[0, 255]], 'L', 8)
    """
    from PIL import Image, UnidentifiedImageError

    if mode not in _MODES:
        raise ParameterError(f"mode must be one of {', '.join(_MODES)}, got {mode!r}")
    if max_pixels is not None and (isinstance(max_pixels, bool) or int(max_pixels) != max_pixels or max_pixels < 1):
        raise ParameterError(f"max_pixels must be a positive integer or None, got {max_pixels!r}")
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise _fail(path, "no such file; check the path") from None
    except IsADirectoryError:
        raise _fail(path, "it is a folder, not a file; give the image files (or the folder to the CLI)") from None
    except PermissionError:
        raise _fail(path, "permission denied; check the file's permissions") from None
    except OSError as exc:
        raise _fail(path, f"{exc.strerror or exc}") from None
    if not data:
        raise _fail(path, "the file is empty (0 bytes)")

    try:
        with _PIL_LOCK:
            saved = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = None
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    im = Image.open(io.BytesIO(data))
            finally:
                Image.MAX_IMAGE_PIXELS = saved
    except UnidentifiedImageError:
        raise _fail(path, "not an image file Pillow can identify (JPEG, PNG, TIFF, WebP, BMP are supported)") from None
    except Exception as exc:
        raise _fail(path, f"corrupt image header ({_short(exc)})") from None

    with im:
        width, height = im.size
        if width < 1 or height < 1:
            raise _fail(path, f"the image has no pixels ({width}x{height})")
        if max_pixels is not None and width * height > max_pixels:
            raise _fail(
                path,
                f"{width}x{height} = {width * height:,} pixels is above the limit of {int(max_pixels):,} "
                "(a guard against decompression bombs); raise it with --max-pixels (max_pixels=) if you trust the file",
            )
        file_mode = im.mode
        try:
            im.seek(0)
            raw = _rawmode(im)
            im.load()
            orientation = _orientation(im)
            pixels, alpha_channel = _convert(im, data, raw)
        except MemoryError:
            raise _fail(path, f"not enough memory to decode {width}x{height} pixels") from None
        except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, KeyError) as exc:
            text = _short(exc)
            if "truncated" in text.lower() or isinstance(exc, EOFError):
                raise _fail(path, f"the file is truncated ({text}); re-export or re-download it") from None
            raise _fail(path, f"corrupt image data ({text})") from None

    pixels = apply_orientation(pixels, orientation)
    alpha = None
    if alpha_channel is not None:
        visible = apply_orientation(alpha_channel, orientation) > 0
        if not visible.all():
            alpha = np.ascontiguousarray(visible)

    if mode == "rgb" and pixels.ndim == 2:
        pixels = np.repeat(pixels[:, :, None], 3, axis=2)
    elif mode == "gray" and pixels.ndim == 3:
        pixels = _luma(pixels)
    # A fresh, writable, C-ordered, native-endian array that shares nothing with Pillow.
    pixels = np.require(pixels, dtype=pixels.dtype.newbyteorder("="), requirements=["C", "W", "O"])
    bit_depth = 16 if pixels.dtype == np.uint16 else 8
    return LoadedImage(pixels=pixels, alpha=alpha, path=path, mode=file_mode, bit_depth=bit_depth)


def _luma(rgb: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma of (H, W, 3) uint8/uint16, same dtype (rounded as Pillow's convert("L"))."""
    out = np.empty(rgb.shape[:2], dtype=rgb.dtype)
    weights = np.array([299, 587, 114], dtype=np.uint64 if rgb.dtype == np.uint16 else np.uint32)
    for start in range(0, rgb.shape[0], 512):  # bounded temporaries for large photos
        block = rgb[start : start + 512].astype(weights.dtype)
        out[start : start + 512] = ((block @ weights + 500) // 1000).astype(rgb.dtype)
    return out


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def encode_png(array: np.ndarray, *, compress_level: int = PNG_COMPRESS_LEVEL) -> bytes:
    """Encode an array as PNG bytes.

    Parameters
    ----------
    array : ndarray of shape (H, W), (H, W, 3) or (H, W, 4), dtype uint8 or uint16 (or bool)
    compress_level : int, default=PNG_COMPRESS_LEVEL
        zlib level 0..9.

    Returns
    -------
    bytes
    """
    from PIL import Image

    arr = np.asarray(array)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    if arr.dtype not in (np.uint8, np.uint16):
        raise ParameterError(f"PNG arrays must be uint8 or uint16, got {arr.dtype}; convert them first")
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)) or 0 in arr.shape[:2]:
        raise ParameterError(f"PNG arrays must have shape (H, W), (H, W, 3) or (H, W, 4), got {arr.shape}")
    arr = np.ascontiguousarray(arr)
    if arr.dtype == np.uint16 and arr.ndim == 3:
        import cv2  # Pillow cannot write 16-bit color PNGs

        bgr = arr[..., [2, 1, 0, 3]] if arr.shape[2] == 4 else arr[..., ::-1]
        ok, buffer = cv2.imencode(".png", np.ascontiguousarray(bgr), [cv2.IMWRITE_PNG_COMPRESSION, compress_level])
        if not ok:  # pragma: no cover
            raise ImageError("OpenCV could not encode a 16-bit color PNG")
        return buffer.tobytes()
    im = Image.fromarray(arr.astype("<u2", copy=False) if arr.dtype == np.uint16 else arr)  # 16-bit gray: "I;16"
    out = io.BytesIO()
    im.save(out, format="PNG", compress_level=compress_level)
    return out.getvalue()


def write_png(path, array: np.ndarray, *, protect: Iterable = (), compress_level: int = PNG_COMPRESS_LEVEL) -> Path:
    """Write an 8- or 16-bit PNG atomically (temporary file in the same folder, then rename).

    Parameters
    ----------
    path : str or Path
    array : ndarray of shape (H, W), (H, W, 3) or (H, W, 4), dtype uint8 or uint16
    protect : iterable of paths, optional
        Paths that must never be overwritten (the inputs); writing to one of them
        raises :class:`~gmmseg.errors.InputError`.
    compress_level : int, default=PNG_COMPRESS_LEVEL

    Returns
    -------
    Path

    Raises
    ------
    OutputError
        When the file cannot be written (names the path and the fix; ``fatal`` when no
        other file can be written there either).
    """
    from ..files import atomic_write_bytes, check_not_input

    path = Path(path)
    check_not_input(path, protect)
    atomic_write_bytes(path, encode_png(array, compress_level=compress_level))
    return path


def _is_glob(text: str) -> bool:
    return any(ch in text for ch in "*?[")


def _names(folder: str) -> list[str]:
    try:
        return sorted(os.listdir(folder or "."))
    except OSError:
        return []


def _visible(name: str, part: str) -> bool:
    # As glob: wildcards do not match hidden names unless the pattern itself starts with a dot.
    return not name.startswith(".") or part.startswith(".")


def _folders_below(base: str) -> Iterator[str]:
    """``base`` and every folder below it, each real folder once: a link into a folder already
    visited (a symlink loop, or a second way to the same folder) is not followed."""
    visited = {os.path.realpath(base or ".")}
    stack = [base]
    while stack:
        folder = stack.pop()
        yield folder
        below = []
        for name in _names(folder):
            child = os.path.join(folder, name)
            if name.startswith(".") or not os.path.isdir(child):
                continue
            real = os.path.realpath(child)
            if real not in visited:
                visited.add(real)
                below.append(child)
        stack.extend(reversed(below))


def _expand_glob(pattern: str) -> list[str]:
    """The paths matching ``pattern`` (``*``, ``?``, ``[...]``; ``**`` for any depth of folders)."""
    parts = pattern.replace(os.altsep or os.sep, os.sep).split(os.sep)
    base = os.sep if parts[0] == "" else ""
    parts = [part for part in parts if part]
    found: list[str] = []

    def walk(folder: str, i: int) -> None:
        if i == len(parts):
            if os.path.lexists(folder or "."):
                found.append(folder)
            return
        part, last = parts[i], i == len(parts) - 1
        if part == "**":
            for below in _folders_below(folder):
                walk(below, i + 1)
                if last:
                    found.extend(os.path.join(below, n) for n in _names(below) if _visible(n, ""))
        elif _is_glob(part):
            for name in _names(folder):
                child = os.path.join(folder, name)
                if fnmatch.fnmatch(name, part) and _visible(name, part) and (last or os.path.isdir(child)):
                    walk(child, i + 1)
        elif last or os.path.isdir(os.path.join(folder, part)):
            walk(os.path.join(folder, part), i + 1)

    walk(base, 0)
    return sorted(set(found))


def list_images(inputs) -> list[Path]:
    """Expand files, folders and glob patterns into a list of image paths.

    Parameters
    ----------
    inputs : str, Path or iterable of them
        Files are kept as given (even without an image suffix: reading them will say
        what is wrong, and a missing file is reported when it is read); folders give
        the image files directly inside them (by suffix, sorted by name); a pattern
        with ``*``, ``?`` or ``[`` that is not an existing path is expanded (sorted;
        ``**`` recurses, entering each real folder once, so symlink loops end).

    Returns
    -------
    list of Path
        In input order; a file reached twice (also through links) is listed once.

    Raises
    ------
    InputError
        When nothing at all matches (the message names the inputs).
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    inputs = list(inputs)
    found: list[Path] = []
    seen: set[str] = set()

    def add(p: Path) -> None:
        key = os.path.normcase(os.path.realpath(p))
        if key not in seen:
            seen.add(key)
            found.append(p)

    empty: list[str] = []
    for item in inputs:
        text = os.fspath(item)
        p = Path(text)
        if p.is_dir():
            images = sorted(
                (c for c in p.iterdir() if c.is_file() and c.suffix.lower() in IMAGE_SUFFIXES), key=lambda c: c.name
            )
            if not images:
                empty.append(f"folder {text} has no image files")
            for c in images:
                add(c)
        elif p.exists() or not _is_glob(text):
            add(p)
        else:
            files = [Path(m) for m in _expand_glob(text) if os.path.isfile(m)]
            if not files:
                empty.append(f"pattern {text} matches no file")
            for m in files:
                add(m)
    if not found:
        detail = "; ".join(empty) if empty else "no inputs given"
        raise InputError(f"no images to process: {detail}; give image files, folders or patterns like 'photos/*.jpg'")
    return found


def as_image_array(image) -> np.ndarray:
    """The pixel array of an array, a :class:`LoadedImage` or an image file.

    Parameters
    ----------
    image : ndarray, LoadedImage, str or Path

    Returns
    -------
    ndarray of shape (H, W) or (H, W, C)

    Raises
    ------
    InputError
        An array that is not an image.
    """
    if hasattr(image, "pixels"):
        return np.asarray(image.pixels)
    if isinstance(image, (str, Path)):
        return read_image(image, mode="keep").pixels
    arr = np.asarray(image)
    if arr.dtype == object or arr.ndim not in (2, 3):
        raise InputError(f"expected an image array of shape (H, W) or (H, W, C), got shape {arr.shape}")
    return arr
