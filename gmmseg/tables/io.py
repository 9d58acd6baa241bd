"""Reading tables safely: every failure is a one-line :class:`~gmmseg.errors.TableError`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import TableError

__all__ = ["read_numeric_matrix"]


def read_numeric_matrix(path) -> tuple[np.ndarray, list[str]]:
    """Read a numeric table (CSV/TSV/whitespace text with or without a header, or ``.npy``).

    Returns the float64 matrix ``(n_rows, n_columns)`` of its numeric columns and their names.
    Non-numeric columns are left out; no numeric column at all is an error.
    """
    path = Path(path)
    if not path.exists():
        raise TableError(f"file not found: {path}; check the path")
    if path.is_dir():
        raise TableError(f"{path} is a folder; pass a CSV or .npy file")
    if path.stat().st_size == 0:
        raise TableError(f"{path} is empty; pass a file with rows of numbers")
    if path.suffix.lower() == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise TableError(f"{path} is not a readable .npy array ({exc}); re-save it with numpy.save") from None
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.number):
            raise TableError(f"{path} holds a {arr.ndim}-D {arr.dtype} array; pass a 2-D numeric array")
        return np.asarray(arr, dtype=np.float64), [f"x{i}" for i in range(arr.shape[1])]
    import pandas as pd

    try:
        frame = pd.read_csv(path, sep=None, engine="python", encoding_errors="replace")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        raise TableError(f"{path} could not be parsed as a table ({' '.join(str(exc).split())})") from None
    # a header made of numbers means there was no header
    if all(_is_number(c) for c in frame.columns):
        frame = pd.read_csv(path, sep=None, engine="python", header=None)
        frame.columns = [f"x{i}" for i in range(frame.shape[1])]
    if frame.shape[0] == 0:
        raise TableError(f"{path} has a header but no rows; pass a file with data rows")
    numeric = frame.select_dtypes(include=[np.number, "bool"])
    if numeric.shape[1] == 0:
        raise TableError(f"{path} has no numeric columns (columns: {', '.join(map(str, frame.columns))})")
    if numeric.isna().all().any():
        empty = [str(c) for c in numeric.columns[numeric.isna().all()]]
        raise TableError(f"column(s) {', '.join(empty)} in {path} are entirely missing; drop them")
    if numeric.isna().any().any():
        n_bad = int(numeric.isna().any(axis=1).sum())
        raise TableError(f"{path} has {n_bad} row(s) with missing numbers; impute or drop them first")
    return numeric.to_numpy(dtype=np.float64), [str(c) for c in numeric.columns]


def _is_number(text) -> bool:
    try:
        float(text)
    except (TypeError, ValueError):
        return False
    return True
