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

A model file may come from someone else, so :func:`load_arrays` validates it completely
before anything uses it, and every problem is one :class:`~gmmseg.errors.ModelFileError`
naming the file, what is wrong and the fix:

- sizes, from the zip directory and each member's ``.npy`` header, before any data is
  read: at most :data:`MAX_MEMBERS` members, :data:`MAX_MODEL_BYTES` decompressed in all,
  each member exactly the size its header's shape and dtype claim; only numeric dtypes
  (booleans, integers, floats), never objects;
- the JSON header: at most :data:`MAX_HEADER_BYTES`, nested at most
  :data:`MAX_HEADER_DEPTH` deep (counted before parsing), an object with the expected
  fields and types;
- the contents: :func:`register_check` gives each kind a function that checks its
  metadata and arrays (shapes, finiteness, value ranges of every array and setting).
"""

from __future__ import annotations

import io
import json
import math
import re
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelFileError
from ..files import atomic_write_bytes
from .mixture_file import check_mixture_file

__all__ = [
    "save",
    "load",
    "save_arrays",
    "load_arrays",
    "register_kind",
    "register_check",
    "FORMAT",
    "FORMAT_VERSION",
    "MAX_MODEL_BYTES",
    "MAX_MEMBERS",
    "MAX_HEADER_BYTES",
    "MAX_HEADER_DEPTH",
]

FORMAT = "gmmseg-model"
FORMAT_VERSION = 1
#: Decompressed size of all the arrays of a model file together (1 GiB).
MAX_MODEL_BYTES = 2**30
#: Members (arrays) of a model file.
MAX_MEMBERS = 256
#: Size of the JSON header (16 MiB).
MAX_HEADER_BYTES = 2**24
#: Nesting depth of arrays and objects in the JSON header.
MAX_HEADER_DEPTH = 32
_HEADER = "__header__"
_NUMERIC_KINDS = "biuf"
_CHUNK_BYTES = 2**22
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_RECREATE = "re-create it with model.save() or the gmmseg command that wrote it"
_KINDS: dict[str, Callable[[], type]] = {}
_CHECKS: dict[str, tuple[Callable[[dict, dict], None], str]] = {}


def register_kind(name: str, factory: Callable[[], type]) -> None:
    """Register a class (through a zero-argument factory, to keep imports lazy) for ``kind``."""
    _KINDS[name] = factory


def register_check(name: str, check: Callable[[dict, dict], None], fix: str) -> None:
    """Register the function that validates the contents of a ``kind``'s model files.

    Parameters
    ----------
    name : str
        The kind, as in the header.
    check : callable
        ``check(metadata, arrays)``; raises :class:`~gmmseg.errors.ModelFileError` describing
        the problem (the file's name and the fix are added by :func:`load_arrays`).
    fix : str
        What re-creates such a file, e.g. ``"gmmseg defects fit"``.
    """
    _CHECKS[name] = (check, fix)


register_check("GaussianMixture", check_mixture_file, "GaussianMixture(...).fit(X).save(path)")


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
        if arr.dtype.kind not in _NUMERIC_KINDS:  # what load_arrays accepts
            raise ModelFileError(f"array {name!r} has dtype {arr.dtype}; a model file holds only numeric arrays")
        if name == _HEADER:
            raise ModelFileError(f"{_HEADER!r} is reserved")
        clean[name] = arr
    try:
        blob = json.dumps(header, allow_nan=True, sort_keys=True).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"model metadata is not JSON-serialisable ({exc})") from None
    total = sum(arr.nbytes for arr in clean.values())
    if total > MAX_MODEL_BYTES:
        raise ModelFileError(
            f"the model's arrays take {_size(total)}, over the {_size(MAX_MODEL_BYTES)} limit of a model file "
            "(it could not be loaded); fit a smaller model (fewer components or features)"
        )
    clean[_HEADER] = np.frombuffer(blob, dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **clean)
    atomic_write_bytes(path, buffer.getvalue())  # an OSError arrives as an OutputError naming path
    return path


def load_arrays(path, kind: str | None = None) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read and validate a model file completely; return ``(header, arrays)``.

    Sizes are checked from the zip directory and each member's ``.npy`` header before any
    data is read (see the limits at the top of this module); then the JSON header; then
    the contents of the header's ``kind`` with the check registered for it.

    Parameters
    ----------
    path : str or Path
    kind : str, optional
        The kind the file must hold.

    Returns
    -------
    header : dict
    arrays : dict of str to ndarray

    Raises
    ------
    ModelFileError
        Naming the file, what is wrong with it and the fix.
    """
    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"model file not found: {path}; check the path")
    if path.is_dir():
        raise ModelFileError(f"{path} is a folder, not a model file")
    try:
        with open(path, "rb") as handle:
            if handle.read(6) == b"\x93NUMPY":
                raise ModelFileError(f"{path} is a single .npy array, not a gmmseg model file")
            handle.seek(0)
            with zipfile.ZipFile(handle) as archive:
                members = _check_directory(path, archive)
                if _HEADER not in members:
                    raise ModelFileError(
                        f"{path} is not a gmmseg model file (no header); save models with model.save()"
                    )
                header = _read_header(path, archive, members.pop(_HEADER))
                if kind is not None and header["kind"] != kind:
                    raise ModelFileError(f"{path} holds a {header['kind']}, not a {kind}; pass a {kind} model file")
                arrays = {name: _read_member(path, archive, info) for name, info in members.items()}
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError) as exc:
        kind_of = "truncated or corrupt" if path.stat().st_size else "empty"
        raise ModelFileError(
            f"{path} is not a readable gmmseg model file ({kind_of}: {type(exc).__name__}); {_RECREATE}"
        ) from None
    _check_contents(path, header, arrays)
    return header, arrays


def _check_directory(path: Path, archive: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    """The members by array name, after bounding their number and decompressed sizes."""
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        raise ModelFileError(f"{path} has {len(infos)} members, more than a model file's {MAX_MEMBERS}; {_RECREATE}")
    members: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        name = info.filename[:-4]
        if not info.filename.endswith(".npy") or not name or "/" in name or name in members:
            raise ModelFileError(f"{path} has a member {info.filename!r:.80} that no model file holds; {_RECREATE}")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ModelFileError(f"{path}: member {info.filename!r} uses an unsupported compression; {_RECREATE}")
        members[name] = info
    total = sum(info.file_size for info in infos)
    if total > MAX_MODEL_BYTES:
        biggest = max(infos, key=lambda info: info.file_size)
        raise ModelFileError(
            f"{path} decompresses to {_size(total)} ({biggest.filename!r} alone {_size(biggest.file_size)}), "
            f"over the {_size(MAX_MODEL_BYTES)} limit of a model file; refusing to read it; {_RECREATE}"
        )
    return members


def _read_member(path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> np.ndarray:
    """One ``.npy`` member: its header checked against the member's size, then its data (no pickle)."""
    with archive.open(info) as stream:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(stream)
        else:
            raise ModelFileError(f"{path}: member {info.filename!r} has .npy format {version}; {_RECREATE}")
        if dtype.kind not in _NUMERIC_KINDS or dtype.hasobject or dtype.subdtype is not None:
            raise ModelFileError(
                f"{path}: array {info.filename[:-4]!r} has dtype {dtype}; model files hold only numbers "
                f"(never objects or pickles); {_RECREATE}"
            )
        count = math.prod(shape)
        nbytes = count * dtype.itemsize
        if nbytes != info.file_size - stream.tell():
            raise ModelFileError(
                f"{path}: array {info.filename[:-4]!r} claims shape {shape} ({_size(nbytes)}), but its member "
                f"holds {_size(info.file_size - stream.tell())}; {_RECREATE}"
            )
        values = np.empty(count, dtype=dtype)
        view = memoryview(values).cast("B")
        done = 0
        while done < nbytes:  # in chunks: no second copy of a large array
            chunk = stream.read(min(_CHUNK_BYTES, nbytes - done))
            if not chunk:
                raise EOFError(info.filename)
            view[done : done + len(chunk)] = chunk
            done += len(chunk)
    return values.reshape(shape, order="F" if fortran_order else "C")


def _read_header(path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> dict[str, Any]:
    """The JSON header, bounded in size and nesting before it is parsed, with its fields checked."""
    if info.file_size > MAX_HEADER_BYTES:
        raise ModelFileError(
            f"{path}: its header is {_size(info.file_size)}, over the {_size(MAX_HEADER_BYTES)} limit; {_RECREATE}"
        )
    blob = _read_member(path, archive, info)
    if blob.dtype != np.uint8 or blob.ndim != 1:
        raise ModelFileError(f"{path}: its header is not UTF-8 JSON bytes; {_RECREATE}")
    try:
        text = blob.tobytes().decode("utf-8")
        depth = _nesting_depth(text)
        if depth > MAX_HEADER_DEPTH:
            raise ModelFileError(
                f"{path}: its header is nested {depth} levels deep, more than {MAX_HEADER_DEPTH}; {_RECREATE}"
            )
        header = json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ModelFileError(f"{path}: its header is not valid JSON ({type(exc).__name__}); {_RECREATE}") from None
    if not isinstance(header, dict):
        raise ModelFileError(f"{path}: its header is a JSON {type(header).__name__}, not an object; {_RECREATE}")
    if header.get("format") != FORMAT:
        raise ModelFileError(f"{path} is not a gmmseg model file (format {header.get('format')!r:.60})")
    version = header.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
        raise ModelFileError(
            f"{path} has model format version {version!r:.60}, but this gmmseg ({_version()}) reads "
            f"versions 1 to {FORMAT_VERSION}; upgrade gmmseg"
        )
    for key, types in (("kind", str), ("gmmseg_version", str), ("metadata", dict)):
        if not isinstance(header.get(key), types):
            raise ModelFileError(
                f"{path}: header field {key!r} is {header.get(key)!r:.60}, not a {types.__name__}; {_RECREATE}"
            )
    return header


def _nesting_depth(text: str) -> int:
    """Deepest nesting of JSON arrays and objects in ``text`` (strings skipped), without parsing it."""
    outside = _JSON_STRING.sub("", text).encode("utf-8")
    codes = np.frombuffer(outside, dtype=np.uint8)
    steps = np.isin(codes, (ord("["), ord("{"))).astype(np.int64) - np.isin(codes, (ord("]"), ord("}")))
    return int(np.cumsum(steps).max(initial=0))


def _check_contents(path: Path, header: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    name = header["kind"]
    if name in _KINDS:
        _KINDS[name]()  # imports the kind's module, which registers its check
    if name not in _CHECKS:
        return
    check, fix = _CHECKS[name]
    try:
        check(header["metadata"], arrays)
    except ModelFileError as exc:
        problem = str(exc)
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:  # a value of a type no check expected
        problem = f"malformed contents ({type(exc).__name__}: {exc})"
    else:
        return
    raise ModelFileError(f"{path} is not a valid {name} file: {problem:.300}; re-create it with {fix}")


def _size(nbytes: int) -> str:
    for unit, factor in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if nbytes >= factor:
            return f"{nbytes / factor:.1f} {unit}"
    return f"{nbytes} bytes"


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
    name = header["kind"]
    if name not in _KINDS:
        raise ModelFileError(f"{path} holds a {name!r}, which this gmmseg cannot load; upgrade gmmseg")
    try:
        return _KINDS[name]()._from_file(header["metadata"], arrays)
    except (KeyError, ValueError, TypeError) as exc:  # a gap in the kind's check
        raise ModelFileError(f"{path} has malformed {name} data ({exc}); {_RECREATE}") from None
