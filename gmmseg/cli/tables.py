"""``gmmseg rfm``, ``gmmseg customers`` and ``gmmseg anomalies``: customer tables.

Column options take a column name, or with ``--no-header`` a 0-based position (``--customer 0``)
or a name given by ``--names``. Exit codes: 0 success, 2 bad input, usage or model file,
4 internal error. Outputs are written atomically; inputs are never modified.
"""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import ParameterError, TableError
from ._common import echo_json, ensure_outdir, is_quiet, json_option, quiet_option, scheduler_option, write_json
from ._group import cli


def _write_csv(frame, path: Path) -> Path:
    from ..core.persist import atomic_write_bytes

    atomic_write_bytes(Path(path), frame.to_csv(index=False).encode("utf-8"))
    return Path(path)


def _read(path: Path, *, no_header: bool = False, names: str | None = None, columns=None, exclude=None, keep=()):
    from ..tables.io import read_table

    name_list = [n.strip() for n in names.split(",")] if names else None
    return read_table(
        path,
        header=False if no_header else None,
        names=name_list,
        columns=list(columns) if columns else None,
        exclude=list(exclude) if exclude else None,
        keep=keep,
    )


def _column(frame, spec: str | None, option: str) -> str | None:
    """A column name from a name or, when absent, a 0-based position."""
    if spec is None:
        return None
    if spec in frame.columns:
        return spec
    if spec.isdigit() and int(spec) < frame.shape[1]:
        return str(frame.columns[int(spec)])
    raise TableError(f"{option} {spec!r} is not a column; the columns are: {', '.join(map(str, frame.columns))}")


def _split(values) -> list[str]:
    out: list[str] = []
    for value in values or ():
        out.extend(v.strip() for v in value.split(",") if v.strip())
    return out


_header_options = [
    click.option("--no-header", is_flag=True, help="The file has no header line (columns are x0, x1, ... or --names)."),
    click.option("--names", help="Comma-separated column names for a file without a header."),
]


def _with(options):
    def wrap(func):
        for option in reversed(options):
            func = option(func)
        return func

    return wrap


def _rfm(transactions, customer, date, amount, invoice, quantity, unit_price, snapshot):
    from ..tables.rfm import rfm_from_transactions

    return rfm_from_transactions(
        transactions,
        customer=_column(transactions, customer, "--customer"),
        date=_column(transactions, date, "--date"),
        amount=_column(transactions, amount, "--amount"),
        invoice=_column(transactions, invoice, "--invoice"),
        quantity=_column(transactions, quantity, "--quantity"),
        unit_price=unit_price,
        snapshot=snapshot,
    )


_rfm_options = [
    click.option("--customer", help="Customer identifier column."),
    click.option("--date", "date_col", help="Date column (dates, YYYY-MM-DD text or YYYYMMDD numbers)."),
    click.option("--amount", help="Line value column (negative values are returns)."),
    click.option("--invoice", help="Invoice/order column: frequency counts invoices (default: purchase days)."),
    click.option("--quantity", help="Item count column (adds a net quantity column)."),
    click.option("--unit-price", is_flag=True, help="--amount is a unit price: line value = amount x quantity."),
    click.option("--snapshot", help="Analysis date YYYY-MM-DD (default: last date + 1 day)."),
]


@cli.command("rfm")
@click.argument("transactions", type=click.Path(dir_okay=False, path_type=Path))
@_with(_rfm_options)
@_with(_header_options)
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
    log = _read(transactions, no_header=no_header, names=names)
    rfm = _rfm(log, customer, date_col, amount, invoice, quantity, unit_price, snapshot)
    _write_csv(rfm, output)
    info = dict(rfm.attrs) | {"output": str(output)}
    if as_json:
        echo_json(info)
    elif not quiet:
        click.echo(
            f"{info['n_customers']} customers from {info['n_transactions']} transactions "
            f"(snapshot {info['snapshot']}, {info['return_rows']} return rows, "
            f"{info['customers_without_purchase']} customers without a purchase left out) -> {output}"
        )


# a folder is a Parquet dataset with --scheduler (read_table refuses it otherwise)
_TABLE_PATH = click.Path(path_type=Path)


def _distributed_names(no_header: bool, names: str | None):
    if no_header and not names:
        raise ParameterError("with --scheduler a file without a header needs --names a,b,c")
    return [n.strip() for n in names.split(",")] if names else None


@cli.command("customers")
@click.argument("table", type=_TABLE_PATH, required=False)
@click.option("--id", "id_col", help="Identifier column (carried to the outputs, not modelled).")
@click.option("--columns", multiple=True, help="Columns to model (comma-separated or repeated).")
@click.option("--exclude", multiple=True, help="Columns to leave out (comma-separated or repeated).")
@click.option("-k", "--components", "k_spec", default="auto", show_default=True, help="Segments: N, or auto (1..8).")
@click.option("--k-max", type=int, default=8, show_default=True, help="Largest K tried by -k auto.")
@click.option(
    "--covariance",
    type=click.Choice(["auto", "full", "diag", "tied", "spherical"]),
    default="auto",
    show_default=True,
    help="auto tries full and diag.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--stability-seeds", type=int, default=5, show_default=True, help="Refits for the stability ARI (0: skip)."
)
@click.option(
    "--model", "model_path", type=click.Path(dir_okay=False, path_type=Path), help="Assign with a saved model."
)
@click.option("--transactions", type=click.Path(dir_okay=False, path_type=Path), help="Run RFM on this log first.")
@_with(_rfm_options)
@_with(_header_options)
@click.option("-o", "--outdir", type=click.Path(file_okay=False, path_type=Path), required=True)
@scheduler_option
@json_option
@quiet_option
@click.pass_context
def customers_command(
    ctx,
    table,
    id_col,
    columns,
    exclude,
    k_spec,
    k_max,
    covariance,
    seed,
    stability_seeds,
    model_path,
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
    outdir,
    scheduler,
    as_json,
    quiet,
):
    """Segment the customers of TABLE and write assignments.csv, profiles.csv, summary.json,
    report.html and model.gmmseg to OUTDIR.

    With --transactions LOG (and the rfm options) the RFM table is built first. With
    --model M.gmmseg the table is assigned with a saved model instead of fitting one.

    \b
    --scheduler ADDRESS (local:N or tcp://host:8786) runs on Dask. TABLE may then be a Parquet
    dataset (folder) or a quoted CSV glob larger than memory, read by the workers (TABLE and
    OUTDIR must be reachable from every worker). FeaturePrep, medians, top categories, segment
    names and the stability ARI come from a random sample of 200,000 rows; the BIC sweep, sizes,
    shares, means and assignments.csv use every row. No report.html, no final 4-start refit,
    no --transactions.
    """
    from ..reports.customers import write_customer_report
    from ..tables.customers import assign_customers, segment_customers
    from ..tables.segment_model import load_customer_model

    quiet = is_quiet(ctx, quiet)
    if (table is None) == (transactions is None):
        raise ParameterError("pass either a customer TABLE or --transactions LOG (not both)")
    if scheduler is not None:
        if transactions is not None:
            raise ParameterError("--transactions is not supported with --scheduler; build the RFM table first")
        _customers_distributed(
            table,
            scheduler=scheduler,
            id_col=id_col,
            cols=_split(columns),
            excl=_split(exclude),
            k_spec=k_spec,
            k_max=k_max,
            covariance=covariance,
            seed=seed,
            stability_seeds=stability_seeds,
            model_path=model_path,
            names=_distributed_names(no_header, names),
            outdir=outdir,
            as_json=as_json,
            quiet=quiet,
        )
        return
    if transactions is not None:
        if not (customer and date_col and amount):
            raise ParameterError("--transactions needs --customer, --date and --amount")
        log = _read(transactions, no_header=no_header, names=names)
        frame = _rfm(log, customer, date_col, amount, invoice, quantity, unit_price, snapshot)
        id_col = id_col or _column(log, customer, "--customer")
        source = str(transactions)
    else:
        frame = _read(table, no_header=no_header, names=names)
        source = str(table)
    id_col = _column(frame, id_col, "--id")
    cols, excl = _split(columns), _split(exclude)
    outdir = ensure_outdir(outdir)
    if model_path is not None:
        model = load_customer_model(model_path)
        result = assign_customers(model, frame)
    else:
        n_components = _parse_k(k_spec)
        if not quiet:
            click.echo(f"segmenting {frame.shape[0]} customers from {source} ...", err=True)
        result = segment_customers(
            frame,
            id_column=id_col,
            columns=cols or None,
            exclude=excl or None,
            n_components=n_components,
            covariance_type=covariance,
            max_components=k_max,
            random_state=seed,
            n_seeds=stability_seeds,
        )
        result.model.save(outdir / "model.gmmseg")
    _write_csv(result.assignments(), outdir / "assignments.csv")
    _write_csv(result.profiles, outdir / "profiles.csv")
    summary = result.summary() | {"data": source, "model_file": str(model_path or outdir / "model.gmmseg")}
    write_json(outdir / "summary.json", summary)
    write_customer_report(result, outdir / "report.html", source=source)
    if as_json:
        echo_json({k: summary[k] for k in ("n_rows", "n_segments", "covariance_type", "segments", "stability")})
        return
    if quiet:
        return
    click.echo(f"{summary['n_rows']} customers, {result.n_segments} segments ({summary['covariance_type']}):")
    for seg in summary["segments"]:
        click.echo(f"  {seg['segment']:>2} {seg['share']:6.1%}  {seg['name']}")
    stab = result.stability
    if stab.get("mean") is not None:
        click.echo(f"stability across {stab['seeds']} seeds: mean ARI {stab['mean']:.3f} (min {stab['min']:.3f})")
    click.echo(f"outputs in {outdir}")


def _parse_k(k_spec: str):
    if k_spec == "auto":
        return "auto"
    try:
        n_components = int(k_spec)
    except ValueError:
        raise ParameterError(f"-k {k_spec!r} is not a number; use e.g. -k 5 or -k auto") from None
    if n_components < 1:
        raise ParameterError("-k must be at least 1")
    return n_components


def _customers_distributed(
    table,
    *,
    scheduler,
    id_col,
    cols,
    excl,
    k_spec,
    k_max,
    covariance,
    seed,
    stability_seeds,
    model_path,
    names,
    outdir,
    as_json,
    quiet,
):
    from .. import distributed as gd
    from ..tables.segment_model import load_customer_model

    n_components = _parse_k(k_spec)
    model = load_customer_model(model_path) if model_path is not None else None
    outdir = ensure_outdir(outdir)
    if not quiet:
        click.echo(f"segmenting the customers of {table} on Dask ({scheduler}) ...", err=True)
    with gd.get_client(scheduler) as client:
        result = gd.segment_table(
            str(table),
            outdir,
            id_column=id_col,
            columns=cols or None,
            exclude=excl or None,
            n_components=n_components,
            covariance_type=covariance,
            k_max=k_max,
            random_state=seed,
            n_seeds=stability_seeds,
            model=model,
            names=names,
            client=client,
        )
    _write_csv(result["profiles"], outdir / "profiles.csv")
    summary = result["summary"] | {"data": str(table), "model_file": str(model_path or outdir / "model.gmmseg")}
    write_json(outdir / "summary.json", summary)
    if as_json:
        echo_json({k: summary[k] for k in ("n_rows", "n_segments", "covariance_type", "segments", "stability")})
        return
    if quiet:
        return
    click.echo(f"{summary['n_rows']} customers, {summary['n_segments']} segments ({summary['covariance_type']}):")
    for seg in summary["segments"]:
        click.echo(f"  {seg['segment']:>2} {seg['share']:6.1%}  {seg['name']}")
    stab = summary["stability"]
    if stab.get("mean") is not None:
        click.echo(f"stability across {stab['seeds']} seeds: mean ARI {stab['mean']:.3f} (min {stab['min']:.3f})")
    click.echo(f"outputs in {outdir} (no report.html with --scheduler)")


@cli.command("anomalies")
@click.argument("table", type=_TABLE_PATH)
@click.option("--reference", type=_TABLE_PATH, help="Fit on this table, score TABLE.")
@click.option("--contamination", type=float, default=None, help="Share of reference rows flagged [default: 0.01].")
@click.option("--threshold", type=float, default=None, help="Flag rows whose score (log-density) is below this.")
@click.option("--id", "id_col", help="Identifier column (carried to scores.csv, not modelled).")
@click.option("--columns", multiple=True, help="Columns to model (comma-separated or repeated).")
@click.option("--exclude", multiple=True, help="Columns to leave out (comma-separated or repeated).")
@click.option("--seed", type=int, default=0, show_default=True)
@_with(_header_options)
@click.option("-o", "--outdir", type=click.Path(file_okay=False, path_type=Path), required=True)
@scheduler_option
@json_option
@quiet_option
@click.pass_context
def anomalies_command(
    ctx,
    table,
    reference,
    contamination,
    threshold,
    id_col,
    columns,
    exclude,
    seed,
    no_header,
    names,
    outdir,
    scheduler,
    as_json,
    quiet,
):
    """Score every row of TABLE by its log-density and flag the unlikely ones.

    Writes scores.csv (id, score, flagged, reason_1..3), summary.json and report.html to OUTDIR.

    \b
    --scheduler ADDRESS (local:N or tcp://host:8786) runs on Dask. TABLE (and --reference) may
    then be a Parquet dataset (folder) or a quoted CSV glob larger than memory, read by the
    workers (TABLE and OUTDIR must be reachable from every worker). FeaturePrep is fitted on a
    random sample of 200,000 rows; the mixture (one joint mixture, trimmed, no marginal
    ensemble) on every row on the workers; the --contamination threshold is an approximate
    dask quantile. scores.csv has id, score, flagged (no reasons); no report.html.
    """
    from ..reports.anomalies import write_anomaly_report
    from ..tables.anomalies import detect_anomalies

    quiet = is_quiet(ctx, quiet)
    if contamination is not None and threshold is not None:
        raise ParameterError("pass --contamination or --threshold, not both")
    if scheduler is not None:
        from .. import distributed as gd

        outdir = ensure_outdir(outdir)
        if not quiet:
            click.echo(f"scoring the rows of {table} on Dask ({scheduler}) ...", err=True)
        with gd.get_client(scheduler) as client:
            summary = gd.score_table(
                str(table),
                outdir,
                reference=str(reference) if reference is not None else None,
                contamination=0.01 if contamination is None else contamination,
                threshold=threshold,
                id_column=id_col,
                columns=_split(columns) or None,
                exclude=_split(exclude) or None,
                names=_distributed_names(no_header, names),
                random_state=seed,
                client=client,
            )
        write_json(outdir / "summary.json", summary)
        if as_json:
            echo_json(
                {k: summary[k] for k in ("n_rows", "n_flagged", "threshold_score", "n_components", "covariance_type")}
            )
        elif not quiet:
            click.echo(
                f"{summary['n_flagged']} of {summary['n_rows']} rows flagged (score < "
                f"{summary['threshold_score']:.4g}); outputs in {outdir} (no report.html with --scheduler)"
            )
        return
    frame = _read(table, no_header=no_header, names=names)
    found = detect_anomalies(
        frame,
        reference=_read(reference, no_header=no_header, names=names) if reference is not None else None,
        id_column=_column(frame, id_col, "--id"),
        columns=_split(columns),
        exclude=_split(exclude),
        contamination=0.01 if contamination is None else contamination,
        threshold=threshold,
        random_state=seed,
        source=str(table),
        reference_source=str(reference) if reference is not None else None,
    )
    outdir = ensure_outdir(outdir)
    _write_csv(found.scores, outdir / "scores.csv")
    summary = found.summary()
    write_json(outdir / "summary.json", summary)
    write_anomaly_report(found.scores, summary, outdir / "report.html")
    if as_json:
        echo_json(
            {k: summary[k] for k in ("n_rows", "n_flagged", "threshold_score", "n_components", "covariance_type")}
        )
    elif not quiet:
        click.echo(
            f"{summary['n_flagged']} of {summary['n_rows']} rows flagged (score < {summary['threshold_score']:.4g}); "
            f"outputs in {outdir}"
        )
