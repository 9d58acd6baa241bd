"""Options, readers and writers shared by the table commands. Nothing here computes."""

from __future__ import annotations

from pathlib import Path

import click

from ...errors import ParameterError, TableError


def write_csv(frame, path: Path) -> Path:
    """Write a DataFrame as CSV (no index) atomically, streamed: no copy of the whole text in memory.

    The bytes are pandas' ``to_csv(index=False)``; the columns :func:`~gmmseg.tables.csv_text.csv_chunks`
    can format (numbers, flags, text: a scores table) are formatted by NumPy, about 2.5x faster.
    """
    import os

    from ...files import atomic_target, output_error
    from ...tables.csv_text import csv_chunks

    path = Path(path)
    chunks = csv_chunks(frame)
    with atomic_target(path) as tmp:
        try:
            with open(tmp, "wb") as handle:
                if chunks is None:
                    frame.to_csv(handle, index=False, encoding="utf-8")  # pandas writes in chunks of rows
                else:
                    for chunk in chunks:
                        handle.write(chunk)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            raise output_error(path, exc) from None
    return path


def read(path: Path, *, no_header: bool = False, names: str | None = None, as_numbers: bool = False):
    """Read a table with the ``--no-header`` / ``--names`` choices (``as_numbers``: see ``read_table``)."""
    from ...tables.io import read_table

    name_list = [n.strip() for n in names.split(",")] if names else None
    return read_table(path, header=False if no_header else None, names=name_list, as_numbers=as_numbers)


def column(frame, spec: str | None, option: str) -> str | None:
    """A column name from a name or, when absent, a 0-based position."""
    if spec is None:
        return None
    if spec in frame.columns:
        return spec
    if spec.isdigit() and int(spec) < frame.shape[1]:
        return str(frame.columns[int(spec)])
    raise TableError(f"{option} {spec!r} is not a column; the columns are: {', '.join(map(str, frame.columns))}")


def split_names(values) -> list[str]:
    """Column names from repeated and/or comma-separated option values."""
    out: list[str] = []
    for value in values or ():
        out.extend(v.strip() for v in value.split(",") if v.strip())
    return out


HEADER_OPTIONS = [
    click.option("--no-header", is_flag=True, help="The file has no header line (columns are x0, x1, ... or --names)."),
    click.option("--names", help="Comma-separated column names for a file without a header."),
]


def with_options(options):
    """Apply a list of click options as one decorator."""

    def wrap(func):
        for option in reversed(options):
            func = option(func)
        return func

    return wrap


def rfm_table(transactions, customer, date, amount, invoice, quantity, unit_price, snapshot):
    """:func:`~gmmseg.tables.rfm.rfm_from_transactions` with the column options resolved by :func:`column`."""
    from ...tables.rfm import rfm_from_transactions

    return rfm_from_transactions(
        transactions,
        customer=column(transactions, customer, "--customer"),
        date=column(transactions, date, "--date"),
        amount=column(transactions, amount, "--amount"),
        invoice=column(transactions, invoice, "--invoice"),
        quantity=column(transactions, quantity, "--quantity"),
        unit_price=unit_price,
        snapshot=snapshot,
    )


RFM_OPTIONS = [
    click.option("--customer", help="Customer identifier column."),
    click.option("--date", "date_col", help="Date column (dates, YYYY-MM-DD text or YYYYMMDD numbers)."),
    click.option("--amount", help="Line value column (negative values are returns)."),
    click.option("--invoice", help="Invoice/order column: frequency counts invoices (default: purchase days)."),
    click.option("--quantity", help="Item count column (adds a net quantity column)."),
    click.option("--unit-price", is_flag=True, help="--amount is a unit price: line value = amount x quantity."),
    click.option("--snapshot", help="Analysis date YYYY-MM-DD (default: last date + 1 day)."),
]


# a folder is a Parquet dataset with --scheduler (read_table refuses it otherwise)
TABLE_PATH = click.Path(path_type=Path)


def distributed_names(no_header: bool, names: str | None):
    """``--names`` as a list for the Dask readers, which need names for a file without a header."""
    if no_header and not names:
        raise ParameterError("with --scheduler a file without a header needs --names a,b,c")
    return [n.strip() for n in names.split(",")] if names else None
