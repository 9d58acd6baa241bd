"""A table of number columns held as NumPy arrays, for the paths that need no pandas.

Importing pandas (with pyarrow, which it loads) costs about 75 MB of resident memory, about
as much as a 1,000,000 x 10 table itself. ``gmmseg anomalies`` on a table of plain numbers
reads it into a :class:`NumberTable` (:func:`~gmmseg.tables.io.read_table` with
``as_numbers=True``) and prepares, fits and scores it without pandas; only the output table
is a DataFrame, built after the input is dropped.

A :class:`NumberTable` offers the few table operations that :class:`~gmmseg.tables.prepare.FeaturePrep`
and :class:`~gmmseg.tables.anomalies.TableAnomalyDetector` use on their fast paths (``columns``,
``shape``, row selection through ``iloc``, :meth:`NumberTable.array`); code that needs a column's
pandas methods (role inference of an identifier-like name, say) gets it as a Series from
``table[name]``, which imports pandas.
"""

from __future__ import annotations

import mmap
from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["NumberTable", "column_values", "mapped_empty"]


class NumberTable:
    """Named number columns of one length.

    Parameters
    ----------
    columns : mapping of str to ndarray of shape (n_rows,)
        int64 or float64 columns, in table order (kept as given, not copied).

    Examples
    --------
    >>> import numpy as np
    >>> t = NumberTable({"id": np.arange(3), "x": np.array([0.5, 1.5, 2.5])})
    >>> t.shape, t.columns
    ((3, 2), ['id', 'x'])
    >>> t.iloc[1:].array("x").tolist()
    [1.5, 2.5]
    """

    def __init__(self, columns: Mapping[str, np.ndarray]):
        self._arrays = {str(name): values for name, values in columns.items()}
        lengths = {values.shape[0] for values in self._arrays.values()}
        if len(lengths) > 1:
            raise ValueError(f"columns of different lengths {sorted(lengths)}")
        self._n_rows = lengths.pop() if lengths else 0

    @property
    def columns(self) -> list[str]:
        """Column names, in table order."""
        return list(self._arrays)

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_rows, n_columns)``."""
        return self._n_rows, len(self._arrays)

    def array(self, name: str) -> np.ndarray:
        """The column ``name``, shape (n_rows,) (not a copy)."""
        return self._arrays[str(name)]

    def select(self, names: Sequence[str]) -> NumberTable:
        """The columns ``names`` (in table order), without copying them."""
        wanted = set(map(str, names))
        return NumberTable({name: values for name, values in self._arrays.items() if name in wanted})

    @property
    def iloc(self) -> _Rows:
        """Rows by position: ``table.iloc[rows]`` with a slice or an integer array, as in pandas."""
        return _Rows(self)

    def __getitem__(self, name: str):
        """The column ``name`` as a pandas Series (imports pandas), for code that needs its methods."""
        import pandas as pd

        return pd.Series(self._arrays[str(name)], name=str(name), copy=False)

    def to_frame(self):
        """A pandas DataFrame of the same columns."""
        import pandas as pd

        return pd.DataFrame(self._arrays, copy=False)


class _Rows:
    def __init__(self, table: NumberTable):
        self._table = table

    def __getitem__(self, rows) -> NumberTable:
        return NumberTable({name: values[rows] for name, values in self._table._arrays.items()})


def column_values(table, name: str) -> np.ndarray:
    """The column ``name`` of a pandas DataFrame or a :class:`NumberTable` as an ndarray of shape (n_rows,)."""
    if isinstance(table, NumberTable):
        return table.array(name)
    return table[name].to_numpy()


def mapped_empty(n_rows: int, dtype=np.float64) -> np.ndarray:
    """An uninitialized array of shape (n_rows,) in its own anonymous memory map.

    Freeing it unmaps it, so a dropped table's memory goes back to the system: glibc serves
    8 MB blocks from its heap once its mmap threshold has grown, and keeps them after
    ``free`` (dropping a 1,000,000 x 11 table gave back nothing). Pages never written are
    never resident.
    """
    dtype = np.dtype(dtype)
    buffer = mmap.mmap(-1, max(1, int(n_rows)) * dtype.itemsize)
    return np.frombuffer(buffer, dtype=dtype, count=int(n_rows))
