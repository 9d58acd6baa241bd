"""``gmmseg rfm``: per-customer RFM table from a transaction log."""

from __future__ import annotations

from pathlib import Path

import click

from ...errors import ParameterError
from .._common import echo_json, is_quiet, json_option, quiet_option
from .._group import cli
from ._options import HEADER_OPTIONS, RFM_OPTIONS, read, rfm_table, with_options, write_csv


@cli.command("rfm")
@click.argument("transactions", type=click.Path(dir_okay=False, path_type=Path))
@with_options(RFM_OPTIONS)
@with_options(HEADER_OPTIONS)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Output CSV.")
@json_option
@quiet_option
@click.pass_context
def rfm_command(
    ctx,
    transactions,
    customer,
    date_col,
    amount,
    invoice,
    quantity,
    unit_price,
    snapshot,
    no_header,
    names,
    output,
    as_json,
    quiet,
):
    """Per-customer recency, frequency, monetary, tenure and average order value from TRANSACTIONS.

    Returns (negative amounts) lower monetary but are not purchases. Example on the CDNOW log:
    gmmseg rfm cdnow_transactions.txt --customer customer_id --date date --amount dollar_value -o customers.csv
    """
    quiet = is_quiet(ctx, quiet)
    if not (customer and date_col and amount):
        raise ParameterError("--customer, --date and --amount are required; name the columns of the log")
    from ...files import check_not_input

    check_not_input(output, [transactions])
    log = read(transactions, no_header=no_header, names=names)
    rfm = rfm_table(log, customer, date_col, amount, invoice, quantity, unit_price, snapshot)
    write_csv(rfm, output)
    info = dict(rfm.attrs) | {"output": str(output)}
    if as_json:
        echo_json(info)
    elif not quiet:
        click.echo(
            f"{info['n_customers']} customers from {info['n_transactions']} transactions "
            f"(snapshot {info['snapshot']}, {info['return_rows']} return rows, "
            f"{info['customers_without_purchase']} customers without a purchase left out) -> {output}"
        )
