"""Reading tables safely: every failure is a one-line :class:`~gmmseg.errors.TableError`.

Supported inputs
----------------
- delimited text (``.csv``, ``.tsv``, ``.txt``, ...): the delimiter (``,`` ``;`` tab ``|``
  or runs of whitespace) and the encoding (UTF-8, UTF-8 with a byte-order mark, Latin-1)
  are sniffed; a first line made only of numbers is taken as data, not as a header;
- Parquet (``.parquet``, ``.pq``) through pyarrow;
- NumPy ``.npy`` (2-D numeric, columns named ``x0``, ``x1``, ...).

Errors name the fix: a missing file, an empty file, a header without rows, a named
column that does not exist (the columns there are are listed), duplicate column names,
a column that is entirely missing, no usable column.
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import GmmsegWarning, TableError
from .numbers import NumberTable, mapped_empty

__all__ = ["read_table", "read_numeric_matrix", "select_columns", "sniff_text", "parse_decimal_commas"]

_PARQUET = (".parquet", ".pq")
_DELIMITERS = ",;\t|"
_SNIFF_BYTES = 256 * 1024


def _check_path(path: Path) -> None:
    if not path.exists():
        raise TableError(f"file not found: {path}; check the path")
    if path.is_dir():
        raise TableError(f"{path} is a folder; pass a table file (CSV, text, Parquet or .npy)")
    if path.stat().st_size == 0:
        raise TableError(f"{path} is empty; pass a file with a header and data rows")


def sniff_text(path) -> tuple[str, str]:
    """Sniff the encoding and the delimiter of a text table.

    Returns
    -------
    encoding : str
        ``"utf-8-sig"`` (byte-order mark), ``"utf-8"`` or ``"latin-1"``.
    delimiter : str
        One of ``, ; \\t |`` or ``"whitespace"`` (runs of spaces/tabs).
    """
    with open(path, "rb") as handle:  # only the head: a large table is not read twice
        raw = handle.read(_SNIFF_BYTES)
    if raw.startswith(b"\xef\xbb\xbf"):
        encoding = "utf-8-sig"
    else:
        try:
            raw.decode("utf-8")
            encoding = "utf-8"
        except UnicodeDecodeError as exc:
            # a multi-byte character cut by the sample's end is still UTF-8
            encoding = "utf-8" if exc.start >= len(raw) - 3 else "latin-1"
    text = raw.decode(encoding, errors="ignore")
    lines = [line for line in text.splitlines()[:50] if line.strip()]
    if len(lines) > 1 and len(raw) == _SNIFF_BYTES:
        lines = lines[:-1]  # possibly cut
    if not lines:
        return encoding, ","
    best, best_count = None, 0
    for delim in _DELIMITERS:
        counts = [_split_count(line, delim) for line in lines]
        if counts[0] > 1 and all(c == counts[0] for c in counts) and counts[0] > best_count:
            best, best_count = delim, counts[0]
    if best is None:
        try:
            with _field_limit(len(text)):
                best = csv.Sniffer().sniff("\n".join(lines), delimiters=_DELIMITERS).delimiter
        except csv.Error:
            best = None
    if best is None or best_count <= 1:
        ws = [len(line.split()) for line in lines]
        if ws[0] > 1 and all(c == ws[0] for c in ws) and (best is None or best_count <= 1):
            return encoding, "whitespace"
    return encoding, best or ","


@contextlib.contextmanager
def _field_limit(size: int):
    """Raise the csv module's field limit to ``size`` characters while splitting text already in memory.

    The limit (128 KiB) guards a streaming reader's memory; here the whole text is read
    already, so a longer field costs nothing more and must not end in ``csv.Error``.
    """
    old = csv.field_size_limit()
    csv.field_size_limit(max(old, size + 1))
    try:
        yield
    finally:
        csv.field_size_limit(old)


def _split(line: str, delim: str) -> list[str]:
    with _field_limit(len(line)):
        return next(csv.reader([line], delimiter=delim))


def _split_count(line: str, delim: str) -> int:
    try:
        return len(_split(line, delim))
    except (csv.Error, StopIteration):
        return 0


def _is_number(text) -> bool:
    try:
        float(str(text).strip())
    except (TypeError, ValueError):
        return False
    return True


def read_table(
    path,
    *,
    columns: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    header: bool | None = None,
    names: Sequence[str] | None = None,
    keep: Sequence[str] = (),
    as_numbers: bool = False,
):
    """Read a table file into a pandas DataFrame (or, with ``as_numbers``, a :class:`NumberTable`).

    Parameters
    ----------
    path : str or Path
        CSV/TSV/whitespace text, Parquet or ``.npy``.
    columns : sequence of str, optional
        Keep only these columns (plus ``keep``); each must exist.
    exclude : sequence of str, optional
        Drop these columns; each must exist.
    header : bool or None, default=None
        Whether the first line of a text file is a header. ``None`` sniffs it: a first
        line made only of numbers is data.
    names : sequence of str, optional
        Column names for a file without a header (implies ``header=False`` unless given).
    keep : sequence of str, default=()
        Columns always kept when ``columns`` is given (e.g. the identifier).
    as_numbers : bool, default=False
        A delimited text file whose every field is a number is read into a
        :class:`~gmmseg.tables.numbers.NumberTable` with NumPy, without importing pandas
        (about 75 MB of resident memory); integer columns are int64, the others float64.
        Any other file (a text, empty or quoted-text field, zero-padded integers, Parquet,
        ``.npy``) is read as without it.

    Returns
    -------
    pandas.DataFrame or NumberTable of shape (n_rows, n_columns)
        The input file is never modified. In text files, an integer column written with
        leading zeros (``00001``, zip codes) is an identifier and stays text, so the zeros
        reach every output.

    Raises
    ------
    TableError
        Missing or empty file, header only, unknown or duplicate column names, a column
        that is entirely missing.

    Examples
    --------
    >>> import tempfile, os
    >>> folder = tempfile.mkdtemp()
    >>> p = os.path.join(folder, "t.csv")
    >>> _ = open(p, "w").write("a;b\\n1;x\\n2;y\\n")
    >>> read_table(p).shape
    (2, 2)
    """
    path = Path(path)
    _check_path(path)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        import pandas as pd

        X, npy_names = _read_npy(path)
        frame = pd.DataFrame(X, columns=list(names) if names is not None else npy_names)
    elif suffix in _PARQUET:
        frame = _read_parquet(path)
    else:
        frame = _read_text(path, header=header, names=names, as_numbers=as_numbers)
    if frame.shape[0] == 0:
        raise TableError(f"{path} has a header but no rows; pass a file with data rows")
    frame = select_columns(frame, columns=columns, exclude=exclude, keep=keep, source=path)
    empty = [str(c) for c in frame.columns if _entirely_missing(frame, c)]
    if empty:
        raise TableError(f"column(s) {', '.join(empty)} in {path.name} are entirely missing; drop them with --exclude")
    return frame


def select_columns(frame, *, columns=None, exclude=None, keep: Sequence[str] = (), source=None):
    """Keep ``columns`` (+ ``keep``) and drop ``exclude``; unknown names raise a :class:`TableError`
    that lists the columns there are."""
    where = f" in {Path(source).name}" if source is not None else ""
    have = [str(c) for c in frame.columns]
    for group in (columns, exclude, keep):
        missing = [str(c) for c in (group or ()) if str(c) not in have]
        if missing:
            raise TableError(f"column(s) {', '.join(missing)} not found{where}; the columns are: {', '.join(have)}")
    kept = list(frame.columns)
    if columns:
        wanted = set(map(str, [c for c in keep if c not in columns] + list(columns)))
        kept = [c for c in kept if str(c) in wanted]
    if exclude:
        kept = [c for c in kept if str(c) not in set(map(str, exclude))]
    if len(kept) < frame.shape[1]:
        frame = frame.select(kept) if isinstance(frame, NumberTable) else frame[kept]
    if frame.shape[1] == 0:
        raise TableError(f"no columns left{where} after --columns/--exclude; keep at least one")
    return frame


def _entirely_missing(frame, column) -> bool:
    if isinstance(frame, NumberTable):
        values = frame.array(column)
        return values.dtype.kind == "f" and bool(np.isnan(values).all())
    return bool(frame[column].isna().all())


def _read_npy(path: Path) -> tuple[np.ndarray, list[str]]:
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise TableError(f"{path} is not a readable .npy array ({exc}); re-save it with numpy.save") from None
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TableError(f"{path} holds a {arr.ndim}-D {arr.dtype} array; pass a 2-D numeric array")
    if arr.shape[0] == 0:
        raise TableError(f"{path} has no rows; pass an array with at least one row")
    return np.asarray(arr, dtype=np.float64), [f"x{i}" for i in range(arr.shape[1])]


def _read_parquet(path: Path):
    import pandas as pd

    try:
        import pyarrow.parquet as pq

        schema = pq.read_schema(path)
        schema_names = [str(n) for n in schema.names]
        nested = [str(f.name) for f in schema if _is_nested(f.type)]
        flat = [str(f.name) for f in schema if not _is_nested(f.type)]
        if nested and not flat:
            raise TableError(
                f"{path.name} has only list/struct/map columns ({', '.join(nested)}); flatten them into plain columns"
            )
        frame = pd.read_parquet(path, columns=flat if nested else None)
    except TableError:
        raise
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        raise TableError("reading Parquet needs pyarrow; pip install pyarrow") from None
    except Exception as exc:  # pyarrow raises many types for a bad file
        raise TableError(f"{path} is not a readable Parquet file ({type(exc).__name__}); re-export it") from None
    _check_duplicates(schema_names, path)
    if nested:
        warnings.warn(
            f"{path.name}: skipped the list/struct/map column(s) {', '.join(nested)}; flatten them to model them",
            GmmsegWarning,
            stacklevel=3,
        )
    return frame


def _is_nested(arrow_type) -> bool:
    import pyarrow as pa

    return pa.types.is_nested(arrow_type)


def _check_duplicates(names: Sequence[str], path: Path) -> None:
    seen, dups = set(), []
    for name in names:
        key = str(name).strip()
        if key in seen and key not in dups:
            dups.append(key)
        seen.add(key)
    if dups:
        raise TableError(f"{path.name} has duplicate column name(s) {', '.join(dups)}; rename them so each is unique")


def _read_text(path: Path, *, header: bool | None, names: Sequence[str] | None, as_numbers: bool = False):
    encoding, delim = sniff_text(path)
    # pandas parses the file itself: a decoded copy of a large file would cost several times the table
    head = _head_lines(path, encoding, _ZERO_PADDED_SAMPLE + 1)
    if not head:
        raise TableError(f"{path} is empty (only blank lines); pass a file with a header and data rows")
    first = head[0]
    try:
        fields = first.split() if delim == "whitespace" else _split(first, delim)
    except csv.Error as exc:
        raise TableError(f"{path} could not be parsed as a table ({exc}); check its quoting") from None
    fields = [f.strip() for f in fields]
    if names is not None and header is None:
        header = False
    if header is None:
        header = not all(_is_number(f) for f in fields)
    if header:
        _check_duplicates(fields, path)
    if names is not None:
        names = [str(n) for n in names]
        _check_duplicates(names, path)
    if names is not None:
        labels = names
    elif header:
        labels = fields
    else:
        labels = [f"x{i}" for i in range(len(fields))]
    if as_numbers:
        numbers = _read_numbers(path, encoding, delim, header, labels)
        if numbers is not None:
            return numbers
    import pandas as pd

    kwargs = {"sep": r"\s+" if delim == "whitespace" else delim, "header": 0 if header else None}
    if delim != "whitespace":
        kwargs["skipinitialspace"] = True
    try:
        kwargs["dtype"] = _zero_padded_columns("\n".join(head), kwargs)
        frame = _read_csv_columns(path, encoding=encoding, encoding_errors="replace", **kwargs)
    except pd.errors.EmptyDataError:
        raise TableError(f"{path} is empty; pass a file with a header and data rows") from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise TableError(f"{path} could not be parsed as a table ({' '.join(str(exc).split())})") from None
    if delim != ",":
        frame = _convert_decimal_commas(frame)
    if header:
        frame.columns = [str(c).strip() for c in frame.columns]
    if names is not None:
        if len(names) != frame.shape[1]:
            raise TableError(f"--names gives {len(names)} name(s) but {path.name} has {frame.shape[1]} column(s)")
        frame.columns = names
    elif not header:
        frame.columns = [f"x{i}" for i in range(frame.shape[1])]
    return frame


#: Rows per chunk of the CSV reader (see _read_csv_columns).
READ_CHUNK_ROWS = 100_000
#: Characters of lines per chunk of the number reader (see _read_numbers).
NUMBER_CHUNK_CHARS = 1 << 22
_INTEGER = re.compile(r"\s*[+-]?\d+\s*")
#: Integers at or above this size lose digits as float64: such a table is read by pandas.
_EXACT_INTEGERS = 2.0**53


def _read_numbers(path: Path, encoding: str, delim: str, header: bool, labels: Sequence[str]):
    """A text table whose every field is a number as a :class:`NumberTable`, or None if it is not one.

    NumPy's ``loadtxt`` parses chunks of lines into columns allocated once for the file's
    count of lines (pages never written are never resident), so the reader holds the table
    once; pieces joined at the end left about 70 MB of freed but resident heap on a
    1,000,000 x 11 table. A column is int64 when every value is a whole number below 2**53
    written without a decimal point in the first lines, as pandas would read it. None (the
    caller reads with pandas) at the first field that is not a number (text, an empty field,
    a quoted word), a row of another width, zero-padded integers in the first lines (pandas'
    path keeps them as text), an integer of 2**53 or more, or no data row.
    """
    if any(not str(label) for label in labels):
        return None  # pandas names an empty header field ("Unnamed: 0")
    bound = _count_lines(path)
    try:
        columns = [mapped_empty(bound) for _ in labels]
    except OSError:  # past the system's count of memory maps (some 65,000 columns)
        return None
    sample: list[str] = []
    n_rows = 0
    with open(path, encoding=encoding, errors="replace", newline=None) as handle:
        if header:
            for line in handle:  # blank lines, then the header
                if line.strip():
                    break
        # loadtxt skips empty lines; a line of spaces is a row of another width (pandas' path)
        while chunk := handle.readlines(NUMBER_CHUNK_CHARS):
            if not sample:
                sample = chunk[:_ZERO_PADDED_SAMPLE]
            try:
                block = np.loadtxt(
                    chunk,
                    delimiter=None if delim == "whitespace" else delim,
                    comments=None,
                    quotechar=None if delim == "whitespace" else '"',
                    ndmin=2,
                )
            except ValueError:
                return None
            if block.shape[1] != len(labels):
                return None
            for j, column in enumerate(columns):
                column[n_rows : n_rows + block.shape[0]] = block[:, j]
            n_rows += block.shape[0]
    if not n_rows:
        return None  # header only: pandas' path names the problem
    split = (lambda line: line.split()) if delim == "whitespace" else (lambda line: _split(line, delim))
    fields = [split(line) for line in sample if line.strip()]
    table = {}
    for j, label in enumerate(labels):
        values = columns[j][:n_rows]
        whole = np.all(np.isfinite(values)) and np.all(np.mod(values, 1) == 0)
        if whole and all(_INTEGER.fullmatch(row[j]) for row in fields):
            if _zero_padded([row[j].strip() for row in fields]) or np.max(np.abs(values)) >= _EXACT_INTEGERS:
                return None  # zero-padded identifiers stay text; long integers keep their digits
            integers = mapped_empty(n_rows, np.int64)
            integers[:] = values
            values = integers
        columns[j] = None  # an int64 copy replaces the float column
        table[str(label)] = values
    return NumberTable(table)


def _count_lines(path: Path) -> int:
    """Lines of a file (newlines + 1): at least its rows."""
    count = 1
    with open(path, "rb") as handle:
        while block := handle.read(1 << 24):
            count += block.count(b"\n")
    return count


def _read_csv_columns(path: Path, **kwargs):
    """``pandas.read_csv`` in chunks of rows, joined one column at a time.

    pandas joins its internal chunks all at once, which holds the table twice (plus the
    tokenizer's buffers); joining column by column, releasing each column's chunks as it
    goes, holds it about once. A column whose chunks read as different types gets their
    common type, as in pandas.
    """
    import pandas as pd

    parts = []
    with pd.read_csv(path, chunksize=READ_CHUNK_ROWS, **kwargs) as reader:
        for chunk in reader:
            # the reader's chunks keep one array per column, so a column's memory can be released alone
            parts.append([chunk.iloc[:, i] for i in range(chunk.shape[1])])
            labels = chunk.columns
    if len(parts) <= 1:
        return (
            pd.read_csv(path, **kwargs)
            if not parts
            else pd.DataFrame(dict(enumerate(parts[0])), copy=False).set_axis(labels, axis=1)
        )
    columns = {}
    for i in range(len(labels)):
        columns[i] = pd.concat([part[i] for part in parts], ignore_index=True)
        for part in parts:
            part[i] = None
    return pd.DataFrame(columns, copy=False).set_axis(labels, axis=1)


def _head_lines(path: Path, encoding: str, count: int) -> list[str]:
    """The first ``count`` lines of a text file from its first non-blank one (``[]``: only blank lines)."""
    lines: list[str] = []
    with open(path, encoding=encoding, errors="replace", newline=None) as handle:
        for line in handle:
            line = line.rstrip("\n")
            if lines or line.strip():
                lines.append(line)
                if len(lines) >= count:
                    break
    return lines


_ZERO_PADDED_SAMPLE = 2000


def _zero_padded_columns(sample_text: str, kwargs: dict) -> dict | None:
    """Integer columns written with leading zeros (``00001``, zip codes) are identifiers: keep them as text.

    Read as numbers they would lose their zeros (CDNOW's customer ``00001`` would become ``1``)
    in every output. Decided on the first rows: every value is digits only and one starts with 0.
    Only columns the sample reads as integers can qualify, and only if a zero-led number occurs
    in the sample at all, so a wide table is not matched column by column.
    """
    import pandas as pd

    if not _ZERO_LED.search(sample_text):
        return None
    try:
        sample = pd.read_csv(io.StringIO(sample_text), **kwargs)
        whole = sample.select_dtypes(include=[np.number])
        integers = list(whole.columns[(whole.fillna(0) % 1 == 0).all().to_numpy()])
        if not integers:
            return None
        sample = pd.read_csv(io.StringIO(sample_text), dtype=str, usecols=integers, **kwargs)
    except (pd.errors.ParserError, ValueError):
        return None  # the full read reports the problem
    padded = {col: str for col in sample.columns if _zero_padded(sample[col].dropna().str.strip().tolist())}
    return padded or None


def _zero_padded(tokens: Sequence[str]) -> bool:
    """Whether a column's sampled fields (stripped) are an identifier with leading zeros.

    Every field is digits only and one starts with 0 (``00001``): both readers keep such a
    column as text.
    """
    return (
        bool(tokens)
        and all(_DIGITS.fullmatch(t) for t in tokens)
        and any(_ZERO_LED_DIGITS.fullmatch(t) for t in tokens)
    )


_ZERO_LED = re.compile(r"(?:^|[^\d.,])0\d")
_DIGITS = re.compile(r"\d+")
_ZERO_LED_DIGITS = re.compile(r"0\d+")
#: A number written with a decimal comma, optionally with ``.`` or space thousands separators.
_DECIMAL_COMMA = r"[+-]?(?:\d+|\d{1,3}(?:[. ]\d{3})+)(?:,\d+)?"


def parse_decimal_commas(series):
    """The numbers of a text column written with decimal commas (``12,50``, ``1.234,50``), else None.

    Parameters
    ----------
    series : pandas.Series of shape (n_rows,)

    Returns
    -------
    pandas.Series of float of shape (n_rows,) or None
        None unless every present value is such a number and at least one has a comma.

    >>> import pandas as pd
    >>> parse_decimal_commas(pd.Series(["12,50", "1.234,5", None])).tolist()
    [12.5, 1234.5, nan]
    >>> parse_decimal_commas(pd.Series(["12.50", "x"])) is None
    True
    """
    import pandas as pd

    if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        return None
    text = series.dropna().astype(str).str.strip()
    if not len(text) or not text.str.contains(",", regex=False).any():
        return None
    if not text.str.fullmatch(_DECIMAL_COMMA).all():
        return None
    cleaned = series.astype("string").str.strip().str.replace(r"[. ]", "", regex=True).str.replace(",", ".")
    return pd.to_numeric(cleaned, errors="coerce").astype(float)


def _convert_decimal_commas(frame):
    """Columns of a non-comma-separated file that hold decimal-comma numbers, as numbers."""
    import pandas as pd

    for col in frame.columns:
        if pd.api.types.is_object_dtype(frame[col]) or pd.api.types.is_string_dtype(frame[col]):
            numbers = parse_decimal_commas(frame[col])
            if numbers is not None:
                frame[col] = numbers
    return frame


def read_numeric_matrix(path) -> tuple[np.ndarray, list[str]]:
    """Read a numeric table (CSV/TSV/whitespace text with or without a header, Parquet or ``.npy``).

    Returns the float64 matrix ``(n_rows, n_columns)`` of its numeric columns and their names.
    Non-numeric columns are left out; no numeric column at all is an error, and so is any
    missing number.
    """
    path = Path(path)
    if path.suffix.lower() == ".npy":
        _check_path(path)
        return _read_npy(path)
    frame = read_table(path)
    numeric = frame.select_dtypes(include=[np.number, "bool"])
    if numeric.shape[1] == 0:
        raise TableError(f"{path} has no numeric columns (columns: {', '.join(map(str, frame.columns))})")
    if numeric.isna().any().any():
        n_bad = int(numeric.isna().any(axis=1).sum())
        raise TableError(f"{path} has {n_bad} row(s) with missing numbers; impute or drop them first")
    return numeric.to_numpy(dtype=np.float64), [str(c) for c in numeric.columns]
