"""CSV text of a table, byte for byte what pandas' ``to_csv(index=False)`` writes, made with NumPy.

pandas formats every cell through a Python object: a float column alone took 1.6 s of CPU for
10^6 rows of ``scores.csv``. Here a chunk of rows becomes one byte buffer: integers, booleans
and floats on a 10^-6 grid (the rounded scores) are turned into ASCII digits by array arithmetic,
text cells are encoded once per distinct value (a categorical's levels) or once per cell, and
every cell's bytes are scattered to its offset in the buffer.

What makes the float digits the same as pandas' (Python's ``repr``, the shortest string that
reads back as the same double): a finite ``v`` with ``1e-4 <= |v| < 2**31`` (or 0) that equals
``k / 10**6`` for the integer ``k = rint(v * 10**6)`` is the double nearest to that 6-decimal
number, and below 2**31 doubles are less than 10^-6 apart, so no other number of at most 6
decimals reads back as ``v``: ``repr`` is ``k / 10**6`` in positional notation without its
trailing zeros. Any other float (NaN is written empty, as pandas does) is formatted by
``repr`` itself. Columns of other kinds make :func:`csv_chunks` return None (pandas writes those).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import numpy as np

#: Rows per buffer: its index arrays take a few times 4 bytes per byte of text (16,384 rows of
#: scores.csv: about 20 MB in all), and no copy of a large table's text is held.
CHUNK_ROWS = 16_384
_FAST_LIMIT = 2.0**31
_SCALE = 1e6
_SPECIAL = (",", '"', "\n", "\r")
#: A float column with fewer of its cells on the 10^-6 grid is left to pandas (see csv_chunks).
FAST_SHARE_MIN = 0.9


def csv_chunks(frame, chunk_rows: int = CHUNK_ROWS) -> Iterator[bytes] | None:
    """The UTF-8 CSV text of a DataFrame (header first), in chunks of rows, or None if not supported.

    Parameters
    ----------
    frame : pandas.DataFrame of shape (n_rows, n_columns)
        Columns of int64/int32, bool, float64, categorical of text, or object of text; at least
        two columns (a lone empty cell is quoted by pandas).
    chunk_rows : int, default=16384

    Returns
    -------
    iterator of bytes, or None
        The same bytes as ``frame.to_csv(index=False)`` encoded as UTF-8; None when a column is
        of another kind (the caller writes the frame with pandas).
    """
    import pandas as pd

    if frame.shape[1] < 2 or not frame.columns.is_unique:
        return None
    columns = []
    for name in frame.columns:
        series = frame[name]
        dtype = series.dtype
        if isinstance(dtype, pd.CategoricalDtype):
            levels = dtype.categories.to_numpy(dtype=object).tolist()
            if not all(isinstance(v, str) for v in levels):
                return None
            columns.append(("levels", series.cat.codes.to_numpy(), _levels([_quoted(v).encode() for v in levels])))
        elif getattr(dtype, "kind", "") == "O" or isinstance(dtype, pd.StringDtype):
            values = series.to_numpy(dtype=object)
            if not all(isinstance(v, str) for v in values.tolist()):
                return None
            columns.append(("text", values, None))
        elif getattr(dtype, "kind", "") == "b" and not isinstance(dtype, pd.api.extensions.ExtensionDtype):
            columns.append(("bool", series.to_numpy(), None))
        elif dtype in (np.int64, np.int32) and not (dtype == np.int64 and series.min() == np.iinfo(np.int64).min):
            columns.append(("int", series.to_numpy().astype(np.int64, copy=False), None))
        elif dtype == np.float64:
            values = series.to_numpy()
            on_grid = sum(
                np.count_nonzero(_on_grid(values[i : i + chunk_rows])) for i in range(0, values.size, chunk_rows)
            )
            if on_grid < FAST_SHARE_MIN * values.size:
                return None  # mostly Python's repr per cell: pandas is as fast
            columns.append(("float", values, None))
        else:
            return None
    header = _header(frame.columns)
    return _chunks(header, columns, frame.shape[0], int(chunk_rows))


def _chunks(header: bytes, columns: list, n_rows: int, chunk_rows: int) -> Iterator[bytes]:
    yield header
    for start in range(0, n_rows, chunk_rows):
        stop = min(n_rows, start + chunk_rows)
        yield _chunk_bytes([(kind, values[start:stop], extra) for kind, values, extra in columns], stop - start)


def _levels(encoded: list[bytes]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(flat bytes, offsets, sizes)`` of a categorical's encoded levels; size 0 at index -1 (missing)."""
    sizes = np.array([len(b) for b in encoded] + [0], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    return np.frombuffer(b"".join(encoded) or b" ", dtype=np.uint8), offsets, sizes


def _header(names) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow([str(n) for n in names])
    return out.getvalue().encode()


def _quoted(text: str) -> str:
    """A cell as Python's csv module writes it with minimal quoting (pandas' writer)."""
    if not any(c in text for c in _SPECIAL):
        return text
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow([text, ""])
    return out.getvalue()[:-2]  # without the empty second cell's delimiter and the newline


def _chunk_bytes(columns: list, n: int) -> bytes:
    """One chunk's rows: each cell's bytes scattered to its offset in one buffer."""
    cells = [_cell_bytes(kind, values, extra) for kind, values, extra in columns]
    lengths = np.stack([c[1].sum(axis=1) if c[1].ndim == 2 else c[1] for c in cells], axis=1)  # (n, n_columns)
    # every cell is followed by one byte: a comma, or the newline after the last one
    ends = np.cumsum(lengths + 1, axis=1)
    row_length = ends[:, -1]
    row_start = np.concatenate([[0], np.cumsum(row_length)[:-1]])
    size = int(row_length.sum())
    index = np.int32 if size < 2**31 else np.int64  # the index arrays are the chunk's largest
    cell_start = (row_start[:, None] + ends - lengths - 1).astype(index)
    buffer = np.full(size, ord(","), dtype=np.uint8)
    buffer[row_start + row_length - 1] = ord("\n")
    j = 0
    while j < len(cells):
        data, used = cells[j]
        if isinstance(data, tuple):  # a categorical: each row's level, copied from its levels' bytes
            codes, (flat, offsets, sizes) = data
            rows = np.flatnonzero(sizes[codes])
            cell, place = _within(sizes[codes[rows]])
            buffer[cell_start[rows, j][cell] + place] = flat[offsets[codes[rows]][cell] + place]
            j += 1
            continue
        # a run of byte-matrix cells and the byte after each: one (n, width) matrix whose `used`
        # bytes, in row order, are the run's text
        first, parts, masks = j, [], []
        while j < len(cells) and not isinstance(cells[j][0], tuple):
            after = np.full((n, 1), ord("\n") if j == len(cells) - 1 else ord(","), dtype=np.uint8)
            parts += [cells[j][0], after]
            masks += [cells[j][1], np.ones((n, 1), dtype=bool)]
            j += 1
        used = np.hstack(masks)
        cell, place = _within(ends[:, j - 1] - ends[:, first] + lengths[:, first] + 1)
        buffer[cell_start[:, first][cell] + place] = np.hstack(parts)[used]
    return buffer.tobytes()


def _within(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For cells of ``counts`` bytes laid end to end: each byte's cell and its place in the cell."""
    cell = np.repeat(np.arange(len(counts), dtype=np.int32), counts)
    first = (np.cumsum(counts) - counts).astype(np.int64 if cell.size >= 2**31 else np.int32)
    return cell, np.arange(cell.size, dtype=first.dtype) - first[cell]


def _cell_bytes(kind: str, values: np.ndarray, extra):
    """One column's cells: ``(matrix, used)`` bytes of shape (n, width), or ``((codes, levels), sizes)``."""
    if kind == "levels":
        return (values, extra), extra[2][values]  # code -1 (missing) is written empty, as pandas does
    if kind == "bool":
        matrix = np.frombuffer(b"True False", dtype=np.uint8)[np.where(values, 0, 5)[:, None] + np.arange(5)]
        return matrix, np.arange(5) < np.where(values, 4, 5)[:, None]
    if kind == "int":
        digits, n_digits = _digits(np.abs(values), 1)
        return _signed(values < 0, digits, np.arange(digits.shape[1]) >= digits.shape[1] - n_digits[:, None])
    if kind == "float":
        return _float_bytes(values)
    return _text_bytes([_quoted(v).encode() for v in values])


def _signed(negative: np.ndarray, matrix: np.ndarray, used: np.ndarray):
    """The cells with a "-" column in front, used where ``negative``."""
    sign = np.full((len(negative), 1), ord("-"), dtype=np.uint8)
    return np.hstack([sign, matrix]), np.hstack([negative[:, None], used])


def _text_bytes(encoded: list[bytes]):
    lengths = np.array([len(b) for b in encoded], dtype=np.int64)
    width = max(1, int(lengths.max(initial=0)))
    matrix = np.zeros((len(encoded), width), dtype=np.uint8)
    used = np.arange(width) < lengths[:, None]
    if len(encoded):
        matrix[used] = np.frombuffer(b"".join(encoded) or b" ", dtype=np.uint8)[: int(lengths.sum())]
    return matrix, used


def _digits(magnitude: np.ndarray, min_width: int):
    """ASCII digits of non-negative int64 values, right-aligned in (n, width) and zero-padded; digit counts."""
    width = max(min_width, len(str(int(magnitude.max(initial=0)))))
    digits = np.empty((len(magnitude), width), dtype=np.uint8)
    rest = magnitude
    for c in range(width - 1, -1, -1):
        rest, digits[:, c] = np.divmod(rest, 10)
    n_digits = np.where(magnitude == 0, 1, width - np.argmax(digits != 0, axis=1))
    return digits + np.uint8(ord("0")), n_digits


def _on_grid(values: np.ndarray, *, with_ticks: bool = False):
    """Where a float64's ``repr`` is its 6-decimal text (module docstring); and ``rint(values * 10**6)``."""
    with np.errstate(invalid="ignore", over="ignore"):
        magnitude = np.abs(values)
        ticks = np.rint(values * _SCALE)
        fast = np.isfinite(values) & (((magnitude >= 1e-4) & (magnitude < _FAST_LIMIT)) | (values == 0))
        fast &= ticks / _SCALE == values
    return (fast, ticks) if with_ticks else fast


def _float_bytes(values: np.ndarray):
    """``repr`` text of float64 values (NaN empty): ``(matrix, used)`` of shape (n, width)."""
    fast, ticks = _on_grid(values, with_ticks=True)
    # |ticks| with at least 7 digits: the whole part, then 6 decimals without trailing zeros (one at least)
    digits, n_digits = _digits(np.abs(np.where(fast, ticks, 0)).astype(np.int64), 7)
    width = digits.shape[1]
    whole = np.arange(width - 6) >= (width - 6) - np.maximum(1, n_digits - 6)[:, None]
    fraction = digits[:, width - 6 :] != ord("0")
    frac_length = np.where(fraction.any(axis=1), 6 - np.argmax(fraction[:, ::-1], axis=1), 1)
    point = np.full((len(values), 1), ord("."), dtype=np.uint8)
    matrix, used = _signed(
        np.signbit(values) & fast,
        np.hstack([digits[:, : width - 6], point, digits[:, width - 6 :]]),
        np.hstack([whole, np.ones_like(point, dtype=bool), np.arange(6) < frac_length[:, None]]),
    )
    slow = np.flatnonzero(~fast)
    if slow.size:  # NaN (empty), inf, and floats off the 10^-6 grid or outside [1e-4, 2**31)
        texts = [b"" if np.isnan(values[i]) else repr(float(values[i])).encode() for i in slow]
        text, text_used = _text_bytes(texts)
        extra = text.shape[1] - matrix.shape[1]
        if extra > 0:
            matrix = np.hstack([matrix, np.zeros((len(values), extra), dtype=np.uint8)])
            used = np.hstack([used, np.zeros((len(values), extra), dtype=bool)])
        matrix[slow] = 0
        used[slow] = False
        matrix[slow, : text.shape[1]] = text
        used[slow, : text.shape[1]] = text_used
    return matrix, used
