"""Tables larger than memory: read them lazily with ``dask.dataframe`` and write them partition by partition."""

from __future__ import annotations

import glob
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import TableError
from ._dask import compute, require_dataframe

__all__ = ["read_table_lazy", "check_columns", "lengths_and_sample", "write_csv_lazy"]

_PARQUET_SUFFIXES = (".parquet", ".pq")


def read_table_lazy(path, *, id_column: str | None = None, names: Sequence[str] | None = None, blocksize="64MB"):
    """A lazy ``dask.dataframe`` of a Parquet dataset (folder, file or glob) or of CSV files (a file or a glob).

    CSV files must all have the same header (or none, with ``names``); the delimiter and the
    encoding are sniffed on the first file. Integer columns are read as floats
    (``assume_missing``) so that partitions agree on dtypes; ``id_column`` is read as text.

    Parameters
    ----------
    path : str or Path
        A Parquet file or dataset folder, a CSV file, or a glob of either.
    id_column : str, optional
        Read as text.
    names : sequence of str, optional
        Column names of CSV files without a header.
    blocksize : str or int, default="64MB"
        Bytes per CSV partition.

    Returns
    -------
    dask.dataframe.DataFrame
    """
    from ..tables.io import sniff_text

    dd = require_dataframe()
    text = str(path)
    if any(ch in text for ch in "*?["):
        files = sorted(glob.glob(text))
        if not files:
            raise TableError(f"no file matches {text}; check the pattern (quote it so the shell does not expand it)")
    else:
        if not Path(text).exists():
            raise TableError(f"file not found: {text}; check the path")
        files = [text]
    parquet = Path(files[0]).is_dir() or all(Path(f).suffix.lower() in _PARQUET_SUFFIXES for f in files)
    try:
        if parquet:
            frame = dd.read_parquet(files if len(files) > 1 else files[0])
        else:
            encoding, delim = sniff_text(files[0])
            kwargs: dict[str, Any] = {
                "sep": r"\s+" if delim == "whitespace" else delim,
                "encoding": encoding,
                "assume_missing": True,
                "blocksize": blocksize,
            }
            if names is not None:
                kwargs.update(header=None, names=list(names))
            if id_column is not None:
                kwargs["dtype"] = {id_column: "string"}
            if delim != "whitespace":
                kwargs["skipinitialspace"] = True
            frame = dd.read_csv(files, **kwargs)
    except (OSError, ValueError) as exc:
        raise TableError(f"{text} could not be read as a table ({' '.join(str(exc).split())})") from None
    if id_column is not None and parquet and id_column in frame.columns:
        frame = frame.astype({id_column: "string"})
    return frame


def check_columns(frame, source, *groups) -> None:
    """Raise :class:`~gmmseg.errors.TableError` naming the first missing column of any group.

    Parameters
    ----------
    frame : dask.dataframe.DataFrame
    source : str or Path
        The table's name in the message.
    *groups : sequence of str or None
        Column names that must be present.
    """
    have = [str(c) for c in frame.columns]
    for group in groups:
        missing = [str(c) for c in (group or ()) if str(c) not in have]
        if missing:
            raise TableError(
                f"column(s) {', '.join(missing)} not found in {source}; the columns are: {', '.join(have)}"
            )


def lengths_and_sample(frame, sample_rows: int, seed, client):
    """Rows per partition (one pass) and a uniform random sample of about ``sample_rows`` rows.

    Parameters
    ----------
    frame : dask.dataframe.DataFrame
    sample_rows : int
        The whole table is the sample when it has at most this many rows.
    seed : int or None
        Seed of the sample.
    client : distributed.Client or None

    Returns
    -------
    lengths : list of int
        Rows of every partition.
    sample : pandas.DataFrame
        The sample, with a fresh index.
    """
    lengths = [int(n) for n in compute(client, frame.map_partitions(len))[0]]
    n = sum(lengths)
    if n < 2:
        raise TableError(f"the table has {n} row(s); at least 2 are needed")
    if n <= sample_rows:
        sample = compute(client, frame)[0]
    else:
        sample = compute(client, frame.sample(frac=sample_rows / n, random_state=seed))[0]
    return lengths, sample.reset_index(drop=True)


def write_csv_lazy(frame, path, client) -> None:
    """Write a dask DataFrame to one CSV file, partition by partition, never whole in memory.

    ``to_csv(single_file=True)``: the workers append the partitions in order to one temporary
    file beside ``path`` (so its folder must be reachable from the workers), which is then
    renamed into place.

    Parameters
    ----------
    frame : dask.dataframe.DataFrame
    path : Path
    client : distributed.Client or None
    """
    from ..files import atomic_target

    with atomic_target(path) as tmp:
        compute(client, frame.to_csv(str(tmp), single_file=True, index=False, compute=False))
