"""Writing outputs safely: atomically, never over an input, with errors a user can act on.

Every file gmmseg writes goes through :func:`atomic_target` (or :func:`atomic_write_bytes`):
a temporary file in the same folder, then a rename, so an interrupted run never leaves half
a file under a final name. An ``OSError`` while writing becomes an :class:`~gmmseg.errors.OutputError`
that names the path and the fix ("no space left on the device holding OUT", "OUT is
read-only", ...). :func:`check_not_input` refuses an output that is one of the inputs.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from .errors import InputError, OutputError

__all__ = ["atomic_target", "atomic_write_bytes", "output_error", "check_not_input"]

#: errno values after which no other output in the same place can be written either.
FATAL_ERRNOS = frozenset({errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EACCES, errno.EPERM})


def output_error(path, exc: OSError) -> OutputError:
    """The :class:`OutputError` for an ``OSError`` raised while writing ``path``.

    Parameters
    ----------
    path : str or Path
        The output being written.
    exc : OSError

    Returns
    -------
    OutputError
        With ``fatal`` True when no other output in that folder can be written either
        (disk full, read-only or permission denied), so a batch stops instead of failing
        every item one by one.

    >>> str(output_error("out/a.png", OSError(errno.ENOSPC, "No space left on device")))
    'no space left on the device holding out/a.png; free some space or choose another output folder with -o'
    """
    path = Path(path)
    code = exc.errno
    if code == errno.ENOSPC or code == errno.EDQUOT:
        message = f"no space left on the device holding {path}; free some space or choose another output folder with -o"
    elif code == errno.EROFS:
        message = f"cannot write {path}: its folder is on a read-only file system; choose another output folder with -o"
    elif code in (errno.EACCES, errno.EPERM):
        message = (
            f"permission denied writing {path}; make {path.parent} writable or choose another output folder with -o"
        )
    elif code == errno.ENOENT:
        message = f"the parent folder of {path} does not exist; create it or choose another output path"
    elif code in (errno.ENOTDIR, errno.EEXIST):
        message = (
            f"cannot write {path}: a part of the path is an existing file, not a folder; choose another output path"
        )
    elif code == errno.EISDIR:
        message = f"{path} is a folder; give a file name"
    elif code == errno.ENAMETOOLONG:
        message = f"the name {path.name[:40]}... is too long for the file system; choose a shorter output path"
    else:
        message = f"cannot write {path}: {exc.strerror or exc}; check the output folder"
    error = OutputError(message)
    error.fatal = code in FATAL_ERRNOS
    return error


@contextlib.contextmanager
def atomic_target(path) -> Iterator[Path]:
    """Yield a temporary file next to ``path`` to write; on success rename it onto ``path``.

    On any failure the temporary file is removed and ``path`` is left as it was; an
    ``OSError`` (from creating, writing or renaming the file) is raised as an
    :class:`OutputError` naming ``path``. The file gets the permissions a plain ``open()``
    would give (not ``mkstemp``'s private 0600).

    Parameters
    ----------
    path : str or Path
        The final name.

    Yields
    ------
    Path
        The temporary file to write.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:200]}.", suffix=".tmp", dir=folder)
        os.close(fd)
    except OSError as exc:
        raise output_error(path, exc) from None
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise output_error(path, exc) from None
        raise


def atomic_write_bytes(path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder, an fsync and a rename.

    Parameters
    ----------
    path : str or Path
    data : bytes

    Raises
    ------
    OutputError
        When the file cannot be written (the message names the path and the fix).
    """
    with atomic_target(path) as tmp:
        try:
            with open(tmp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            raise output_error(path, exc) from None


def check_not_input(path, protect: Iterable, *, option: str = "-o") -> None:
    """Raise :class:`~gmmseg.errors.InputError` if ``path`` is (the same file as) any path in ``protect``.

    Parameters
    ----------
    path : str or Path
        An output about to be written.
    protect : iterable of str or Path
        The inputs of the run.
    option : str, default="-o"
        The option that names ``path``, for the message.
    """
    target = Path(path)
    for item in protect:
        other = Path(item)
        try:
            same = target.resolve() == other.resolve() or (target.exists() and os.path.samefile(target, other))
        except OSError:
            same = False
        if same:
            raise InputError(f"refusing to overwrite the input {other}; choose another output path with {option}")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
