"""``gmmseg anomalies``: score the rows of a table and flag the unlikely ones."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from ...errors import ParameterError
from .._common import echo_json, ensure_outdir, is_quiet, json_option, quiet_option, scheduler_option, write_json
from .._group import cli
from ..demo import demo_step, sample_folder
from ._options import HEADER_OPTIONS, TABLE_PATH, column, distributed_names, read, split_names, with_options, write_csv


@cli.command("anomalies")
@click.argument("table", type=TABLE_PATH)
@click.option("--reference", type=TABLE_PATH, help="Fit on this table, score TABLE.")
@click.option("--contamination", type=float, default=None, help="Share of reference rows flagged [default: 0.01].")
@click.option("--threshold", type=float, default=None, help="Flag rows whose score (log-density) is below this.")
@click.option("--id", "id_col", help="Identifier column (carried to scores.csv, not modelled).")
@click.option("--columns", multiple=True, help="Columns to model (comma-separated or repeated).")
@click.option("--exclude", multiple=True, help="Columns to leave out (comma-separated or repeated).")
@click.option(
    "--small-clusters",
    type=click.Choice(["normal", "anomalous"]),
    default="normal",
    show_default=True,
    help="anomalous: small tight clusters of rows are flagged (fraud rings, a batch of bad records), "
    "at the cost of flagging small tight segments of ordinary rows too.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@with_options(HEADER_OPTIONS)
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
    small_clusters,
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
    from ...files import check_not_input
    from ...tables.anomalies import detect_anomalies

    quiet = is_quiet(ctx, quiet)
    if contamination is not None and threshold is not None:
        raise ParameterError("pass --contamination or --threshold, not both")
    if scheduler is not None and small_clusters != "normal":
        raise ParameterError("--small-clusters anomalous needs the in-memory ensemble; drop it or --scheduler")
    if scheduler is not None:
        from ... import distributed as gd
        from ...distributed.table_io import write_csv_lazy

        outdir = ensure_outdir(outdir)
        for name in ("scores.csv", "summary.json"):  # an input table must never be overwritten
            check_not_input(outdir / name, [table] + ([reference] if reference is not None else []))
        if not quiet:
            click.echo(f"scoring the rows of {table} on Dask ({scheduler}) ...", err=True)
        with gd.get_client(scheduler) as client:
            scores, summary = gd.score_table(
                str(table),
                reference=str(reference) if reference is not None else None,
                contamination=0.01 if contamination is None else contamination,
                threshold=threshold,
                id_column=id_col,
                columns=split_names(columns) or None,
                exclude=split_names(exclude) or None,
                names=distributed_names(no_header, names),
                random_state=seed,
                client=client,
            )
            write_csv_lazy(scores, outdir / "scores.csv", client)
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
    # refuse before the fit: an input table must never be overwritten
    inputs = [table] + ([reference] if reference is not None else [])
    for name in ("scores.csv", "summary.json", "report.html"):
        check_not_input(outdir / name, inputs)
    started = time.perf_counter()
    if not quiet:
        click.echo(f"reading {table} ...", err=True)
    # a table of plain numbers is read, fitted and scored without pandas (75 MB, about a 10^6 x 10 table)
    frame = read(table, no_header=no_header, names=names, as_numbers=True)
    reference_frame = None
    if reference is not None:
        reference_frame = read(reference, no_header=no_header, names=names, as_numbers=True)
    read_seconds = time.perf_counter() - started
    bar = None if quiet else click.progressbar(length=1, label="fitting", file=sys.stderr)
    if bar is not None:
        bar.render_progress()  # shown while the first member is fitted, not only after it

    def progress(done, total):
        bar.length = total
        bar.label = "scoring" if done >= total - 1 else "fitting"  # the last stage scores every row
        bar.update(done - bar.pos)

    found = detect_anomalies(
        frame,
        reference=reference_frame,
        id_column=column(frame, id_col, "--id"),
        columns=split_names(columns),
        exclude=split_names(exclude),
        contamination=0.01 if contamination is None else contamination,
        threshold=threshold,
        small_clusters=small_clusters,
        random_state=seed,
        source=str(table),
        reference_source=str(reference) if reference is not None else None,
        progress=None if bar is None else progress,
    )
    # the outputs need only the scores table: the tables' memory goes before the writing (and
    # before pandas is imported to make the scores' DataFrame)
    del frame, reference_frame
    if bar is not None:
        bar.render_finish()
        click.echo(f"writing {outdir} ...", err=True)
    summary = write_detection(found, ensure_outdir(outdir), read_seconds=read_seconds)
    if "reduction" in summary and not quiet:
        click.echo(f"note: {summary['reduction']['note']}", err=True)
    if as_json:
        keys = ("n_rows", "n_flagged", "threshold_score", "n_components", "covariance_type", "timings", "reduction")
        echo_json({k: summary[k] for k in keys if k in summary})
    elif not quiet:
        click.echo(
            f"{summary['n_flagged']} of {summary['n_rows']} rows flagged (score < {summary['threshold_score']:.4g}); "
            f"outputs in {outdir}"
        )


def write_detection(found, outdir: Path, *, read_seconds: float | None = None) -> dict:
    """Write ``scores.csv``, ``report.html`` and ``summary.json`` of a detection to ``outdir``.

    Parameters
    ----------
    found : gmmseg.tables.anomalies.AnomalyDetection
    outdir : Path
        An existing folder.
    read_seconds : float, optional
        Seconds spent reading the tables, added to the summary's timings.

    Returns
    -------
    dict
        The summary written to ``summary.json``; its timings include ``write_seconds``
        (scores.csv and report.html), which the detector does not see.
    """
    from ...reports.anomalies import write_anomaly_report

    started = time.perf_counter()
    write_csv(found.scores, outdir / "scores.csv")
    summary = found.summary()
    write_anomaly_report(found.scores, summary, outdir / "report.html")
    extra = {} if read_seconds is None else {"read_seconds": round(read_seconds, 3)}
    summary["timings"] |= extra | {"write_seconds": round(time.perf_counter() - started, 3)}
    write_json(outdir / "summary.json", summary)
    return summary


@demo_step(order=85)
def demo_anomalies(outdir: Path, quiet: bool) -> list[tuple[str, Path]]:
    """Flag the unusual orders of the bundled order table (made by scripts/make_anomaly_sample.py).

    The planted orders named in ``orders.truth.csv`` are not shown to the model; the step
    counts how many of them the 1% flagged rows hold.
    """
    from ...tables.anomalies import detect_anomalies

    folder = sample_folder("orders")
    if folder is None or not (folder / "orders.csv").is_file():
        if not quiet:
            click.echo("order anomalies: skipped (sample_images/orders/orders.csv not found)", err=True)
        return []
    source = folder / "orders.csv"
    found = detect_anomalies(read(source), id_column="order_id", source=str(source), random_state=0)
    out = ensure_outdir(outdir / "anomalies")
    summary = write_detection(found, out)
    if not quiet:
        flagged = set(found.scores.loc[found.scores["flagged"], "order_id"])
        planted = set(read(folder / "orders.truth.csv")["order_id"])
        click.echo(
            f"order anomalies: {summary['n_flagged']} of {summary['n_rows']} orders flagged (the default 1%); "
            f"{len(flagged & planted)} of the {len(planted)} planted unusual orders are among them"
        )
    return [
        ("anomaly report", out / "report.html"),
        ("anomaly scores", out / "scores.csv"),
    ]
