"""Model files: ``.npz`` arrays plus a JSON header. Never pickle.

A model file is a NumPy ``.npz`` archive (a zip of ``.npy`` arrays) that holds the
model's arrays and one extra array, ``__header__``, with UTF-8 JSON::

    {"format": "gmmseg-model", "format_version": 1, "gmmseg_version": "0.1.0",
     "kind": "GaussianMixture", "metadata": {...}, "extra": {...}}

It is read with ``allow_pickle=False``, so a model file from someone else cannot
run code. Object arrays are refused on save and on load. Files are written to a
temporary file in the same folder and renamed, so a crash never leaves half a file.

Other gmmseg models (defect detector, table preparation + mixture) use the same
container: :func:`register_kind` maps the header's ``kind`` to a class with
``_to_file() -> (metadata, arrays)`` and ``_from_file(metadata, arrays)``.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelFileError
from ..files import atomic_write_bytes

__all__ = ["save", "load", "save_arrays", "load_arrays", "register_kind", "FORMAT", "FORMAT_VERSION"]

FORMAT = "gmmseg-model"
FORMAT_VERSION = 1
_HEADER = "__header__"
_KINDS: dict[str, Callable[[], type]] = {}


def register_kind(name: str, factory: Callable[[], type]) -> None:
    """Register a class (through a zero-argument factory, to keep imports lazy) for ``kind``."""
    _KINDS[name] = factory


def _version() -> str:
    from .. import __version__

    return __version__


def save_arrays(path, kind: str, metadata: dict[str, Any], arrays: dict[str, np.ndarray]) -> Path:
    """Write ``arrays`` and a JSON header to ``path`` atomically; return the path."""
    path = Path(path)
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "gmmseg_version": _version(),
        "kind": kind,
        "metadata": metadata,
    }
    clean = {}
    for name, value in arrays.items():
        arr = np.asarray(value)
        if arr.dtype == object:
            raise ModelFileError(f"array {name!r} has dtype object, which cannot be saved without pickle")
        if name == _HEADER:
            raise ModelFileError(f"{_HEADER!r} is reserved")
        clean[name] = arr
    try:
        blob = json.dumps(header, allow_nan=True, sort_keys=True).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"model metadata is not JSON-serialisable ({exc})") from None
    clean[_HEADER] = np.frombuffer(blob, dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **clean)
    atomic_write_bytes(path, buffer.getvalue())  # an OSError arrives as an OutputError naming path
    return path


def load_arrays(path, kind: str | None = None) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read a model file; return ``(header, arrays)``. Raise :class:`ModelFileError` on any problem."""
    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"model file not found: {path}; check the path")
    if path.is_dir():
        raise ModelFileError(f"{path} is a folder, not a model file")
    try:
        with np.load(path, allow_pickle=False) as archive:
            if not hasattr(archive, "files"):
                raise ModelFileError(f"{path} is a single .npy array, not a gmmseg model file")
            if _HEADER not in archive.files:
                raise ModelFileError(f"{path} is not a gmmseg model file (no header); save models with model.save()")
            header = json.loads(bytes(archive[_HEADER]).decode("utf-8"))
            arrays = {name: archive[name] for name in archive.files if name != _HEADER}
    except ModelFileError:
        raise
    except (
        zipfile.BadZipFile,
        EOFError,
        OSError,
        ValueError,
        KeyError,
        UnicodeDecodeError,
        json.JSONDecodeError,
    ) as exc:
        kind_of = "truncated or corrupt" if path.stat().st_size else "empty"
        raise ModelFileError(
            f"{path} is not a readable gmmseg model file ({kind_of}: {type(exc).__name__}); "
            "re-create it with model.save() or the command that wrote it"
        ) from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ModelFileError(f"{path} is not a gmmseg model file (format {header.get('format')!r})")
    version = header.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
        raise ModelFileError(
            f"{path} has model format version {version!r}, but this gmmseg ({_version()}) reads "
            f"versions 1 to {FORMAT_VERSION}; upgrade gmmseg"
        )
    if kind is not None and header.get("kind") != kind:
        raise ModelFileError(f"{path} holds a {header.get('kind')}, not a {kind}; pass a {kind} model file")
    return header, arrays


def save(model, path) -> Path:
    """Save a fitted gmmseg model (any registered kind) to ``path``."""
    if not hasattr(model, "_to_file"):
        raise ModelFileError(f"{type(model).__name__} cannot be saved as a gmmseg model file")
    metadata, arrays = model._to_file()
    return save_arrays(path, type(model).__name__, metadata, arrays)


def load(path, kind: str | None = None):
    """Load a model saved by :func:`save`; ``kind`` (e.g. ``"GaussianMixture"``) checks what it holds.

    Loading never unpickles: only numeric arrays and JSON are read.
    """
    header, arrays = load_arrays(path, kind)
    name = header.get("kind")
    if name not in _KINDS:
        raise ModelFileError(f"{path} holds a {name!r}, which this gmmseg cannot load; upgrade gmmseg")
    cls = _KINDS[name]()
    try:
        return cls._from_file(header.get("metadata", {}), arrays)
    except ModelFileError:
        raise
    except (KeyError, ValueError, TypeError) as exc:
        raise ModelFileError(f"{path} is missing or has malformed model data ({exc}); re-create it") from None
