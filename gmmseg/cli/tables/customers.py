"""``gmmseg customers``: segment a customer table (in memory or on Dask)."""

from __future__ import annotations

from pathlib import Path

import click

from ...errors import ParameterError
from ...files import check_not_input
from .._common import (
    ComponentsType,
    echo_json,
    ensure_outdir,
    is_quiet,
    json_option,
    quiet_option,
    scheduler_option,
    write_json,
)
from .._group import cli
from ..demo import demo_step, sample_folder
from ._options import (
    HEADER_OPTIONS,
    RFM_OPTIONS,
    TABLE_PATH,
    column,
    distributed_names,
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
@click.option(
    "-k",
    "--components",
    "k_spec",
    type=ComponentsType(),
    default="auto",
    show_default=True,
    help="Segments: N or auto.",
)
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
    shares, means and assignments.csv use every row; report.html draws the sample. No final
    4-start refit, no --transactions.
    """
    from ...tables.customers import assign_customers, segment_customers
    from ...tables.segment_model import load_customer_model

    quiet = is_quiet(ctx, quiet)
    if (table is None) == (transactions is None):
        raise ParameterError("pass either a customer TABLE or --transactions LOG (not both)")
    if scheduler is not None and transactions is not None:
        raise ParameterError("--transactions is not supported with --scheduler; build the RFM table first")
    inputs = [p for p in (table, transactions, model_path) if p is not None]
    for name in OUTPUT_FILES:
        check_not_input(outdir / name, inputs)
    outdir = ensure_outdir(outdir)  # before the fit: a bad folder fails in a second, not after it
    source = str(table if table is not None else transactions)
    model = load_customer_model(model_path) if model_path is not None else None
    fit = dict(
        columns=split_names(columns) or None,
        exclude=split_names(exclude) or None,
        n_components=k_spec,
        covariance_type=covariance,
        max_components=k_max,
        random_state=seed,
        n_seeds=stability_seeds,
    )
    if scheduler is not None:
        from ... import distributed as gd

        if not quiet:
            click.echo(f"segmenting the customers of {table} on Dask ({scheduler}) ...", err=True)
        with gd.get_client(scheduler) as client:
            result = gd.segment_table(
                source, id_column=id_col, model=model, names=distributed_names(no_header, names), client=client, **fit
            )
            summary = write_segmentation(result, outdir, source=source, model_path=model_path, client=client)
    else:
        if transactions is not None:
            if not (customer and date_col and amount):
                raise ParameterError("--transactions needs --customer, --date and --amount")
            log = read(transactions, no_header=no_header, names=names)
            frame = rfm_table(log, customer, date_col, amount, invoice, quantity, unit_price, snapshot)
            id_col = id_col or column(log, customer, "--customer")
        else:
            frame = read(table, no_header=no_header, names=names)
        id_col = column(frame, id_col, "--id")
        if model is not None:
            result = assign_customers(model, frame)
        else:
            if not quiet:
                click.echo(f"segmenting {frame.shape[0]} customers from {source} ...", err=True)
            result = segment_customers(frame, id_column=id_col, **fit)
        summary = write_segmentation(result, outdir, source=source, model_path=model_path)
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
    click.echo(f"outputs in {outdir}")


#: The files ``gmmseg customers`` writes into OUTDIR.
OUTPUT_FILES = ("model.gmmseg", "assignments.csv", "profiles.csv", "summary.json", "report.html")


def write_segmentation(result, outdir: Path, *, source: str, model_path: Path | None = None, client=None) -> dict:
    """Write a customer segmentation into ``outdir``: the one writer for memory and Dask.

    ``model.gmmseg`` (when fitted, not assigned with ``model_path``), ``assignments.csv``
    (atomic; on Dask written by the workers partition by partition into a temporary file
    beside it, then renamed, so ``outdir`` must be reachable from them), ``profiles.csv``,
    ``summary.json`` and ``report.html``.

    Parameters
    ----------
    result : CustomerSegmentation
    outdir : Path
    source : str
        The input, named in the summary and the report.
    model_path : Path, optional
        The model the table was assigned with.
    client : distributed.Client, optional
        Computes lazy (Dask) assignments.

    Returns
    -------
    dict
        The summary written to ``summary.json``.
    """
    from ...reports.customers import write_customer_report

    outdir = ensure_outdir(outdir)
    if model_path is None:
        result.model.save(outdir / "model.gmmseg")
    assignments = result.assignments()
    if result.lazy_assignments is not None:
        from ...distributed.table_io import write_csv_lazy

        write_csv_lazy(assignments, outdir / "assignments.csv", client)
    else:
        write_csv(assignments, outdir / "assignments.csv")
    write_csv(result.profiles, outdir / "profiles.csv")
    summary = result.summary() | {"data": source, "model_file": str(model_path or outdir / "model.gmmseg")}
    write_json(outdir / "summary.json", summary)
    write_customer_report(result, outdir / "report.html", source=source)
    return summary


@demo_step(order=80)
def demo_customers(outdir: Path, quiet: bool) -> list[tuple[str, Path]]:
    """Segment the bundled customer table (sample_images/customers, made by scripts/make_customer_sample.py)."""
    from ...tables.customers import segment_customers

    folder = sample_folder("customers")
    if folder is None or not (folder / "customers.csv").is_file():
        if not quiet:
            click.echo("customer segmentation: skipped (sample_images/customers/customers.csv not found)", err=True)
        return []
    source = folder / "customers.csv"
    result = segment_customers(read(source), id_column="customer_id", random_state=0)
    out = ensure_outdir(outdir / "customers")
    write_segmentation(result, out, source=str(source))
    if not quiet:
        click.echo(
            f"customer segmentation: {result.n_rows} customers -> {result.n_segments} segments chosen by BIC "
            f"(mean stability ARI {result.stability['mean']:.2f})"
        )
    return [
        ("customer report", out / "report.html"),
        ("customer profiles", out / "profiles.csv"),
        ("customer assignments", out / "assignments.csv"),
    ]
