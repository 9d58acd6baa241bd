"""``gmmseg customers``: segment a customer table (in memory or on Dask)."""

from __future__ import annotations

from pathlib import Path

import click

from ...errors import ParameterError
from .._common import echo_json, ensure_outdir, is_quiet, json_option, quiet_option, scheduler_option, write_json
from .._group import cli
from ._options import (
    HEADER_OPTIONS,
    RFM_OPTIONS,
    TABLE_PATH,
    column,
    distributed_names,
    parse_k,
    read,
    rfm_table,
    split_names,
    with_options,
    write_csv,
)


@cli.command("customers")
@click.argument("table", type=TABLE_PATH, required=False)
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
@with_options(RFM_OPTIONS)
@with_options(HEADER_OPTIONS)
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
    from ...reports.customers import write_customer_report
    from ...tables.customers import assign_customers, segment_customers
    from ...tables.segment_model import load_customer_model

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
            cols=split_names(columns),
            excl=split_names(exclude),
            k_spec=k_spec,
            k_max=k_max,
            covariance=covariance,
            seed=seed,
            stability_seeds=stability_seeds,
            model_path=model_path,
            names=distributed_names(no_header, names),
            outdir=outdir,
            as_json=as_json,
            quiet=quiet,
        )
        return
    if transactions is not None:
        if not (customer and date_col and amount):
            raise ParameterError("--transactions needs --customer, --date and --amount")
        log = read(transactions, no_header=no_header, names=names)
        frame = rfm_table(log, customer, date_col, amount, invoice, quantity, unit_price, snapshot)
        id_col = id_col or column(log, customer, "--customer")
        source = str(transactions)
    else:
        frame = read(table, no_header=no_header, names=names)
        source = str(table)
    id_col = column(frame, id_col, "--id")
    cols, excl = split_names(columns), split_names(exclude)
    outdir = ensure_outdir(outdir)
    if model_path is not None:
        model = load_customer_model(model_path)
        result = assign_customers(model, frame)
    else:
        n_components = parse_k(k_spec)
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
    write_csv(result.assignments(), outdir / "assignments.csv")
    write_csv(result.profiles, outdir / "profiles.csv")
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
    from ... import distributed as gd
    from ...tables.segment_model import load_customer_model

    n_components = parse_k(k_spec)
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
            max_components=k_max,
            random_state=seed,
            n_seeds=stability_seeds,
            model=model,
            names=names,
            client=client,
        )
    write_csv(result["profiles"], outdir / "profiles.csv")
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
