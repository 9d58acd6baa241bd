"""``gmmseg defects``: fit a defect model on good parts, then scan batches of images.

Glue over :mod:`gmmseg.image.training` (which files to train on) and :mod:`gmmseg.image.scan`
(fitting, scanning, report rows): parse the options, call, write the reports, summarize.

Exit codes of ``gmmseg defects scan``: 0 every image was scanned (flagged or not);
1 with ``--fail-on-defect`` when at least one image is flagged (this wins over 3);
2 bad usage, no input images, an unreadable model file or an output that cannot be
written; 3 the batch finished but some images failed (each is a row with its error);
4 internal error; 130 interrupted.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path

import click

from ..errors import InputError, ParameterError
from ._common import (
    EXIT_FOUND,
    EXIT_OK,
    EXIT_PARTIAL,
    echo_summary,
    ensure_outdir,
    is_quiet,
    json_option,
    output_stems,
    progress_counter,
    quiet_option,
    run_batch,
    scheduler_option,
    write_all,
    write_json,
)
from ._group import cli
from .demo import demo_step, sample_folder

__all__ = ["defects_group"]

#: Skipped training files listed in the human summary (all of them are in --json).
_SHOWN_SKIPPED = 5


@cli.group("defects")
def defects_group():
    """Find defects on factory images: fit on good parts, then scan batches."""


@defects_group.command("fit")
@click.argument("good", nargs=-1, required=True)
@click.option(
    "-o",
    "--output",
    "output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Model file to write (e.g. model.gmmseg).",
)
@click.option("--fpr", type=float, default=0.01, show_default=True, help="Share of good images the threshold may flag.")
@click.option(
    "--holdout",
    type=float,
    default=0.2,
    show_default=True,
    help="Share of the good images held out to set the threshold.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed (same seed, same model).")
@click.option(
    "--scaling",
    type=click.Choice(["both", "longest", "fixed"]),
    default="both",
    show_default=True,
    help="Working scale: every longest side to one size, one factor for all images (one camera), or a model at "
    "each (twice the cost; same result as 'longest' when all images have one size).",
)
@click.option(
    "--broad/--no-broad",
    default=True,
    show_default=True,
    help="The broad channel (coarse, oriented, position-aware features) for broad and edge defects: "
    "chipped edges, missing corners, frayed edges, stains, worn areas (see docs/defects.md).",
)
@click.option(
    "--exclude",
    "exclude",
    multiple=True,
    metavar="GLOB",
    help="Leave out files matching GLOB (path or file name; repeat the option). Masks stored "
    "next to their photos (same stem, binary content) are left out without it.",
)
@json_option
@quiet_option
@click.pass_context
def fit_command(ctx, good, output, fpr, holdout, seed, scaling, broad, exclude, as_json, quiet):
    """Fit a defect model on GOOD images (files, folders or globs) and write it to -o.

    The summary (and --json) lists the files used and the files left out, with the reason.
    """
    from ..files import check_not_input
    from ..image.scan import fit_defect_model
    from ..image.training import training_images

    quiet = is_quiet(ctx, quiet)
    if not 0 < fpr < 1:
        raise ParameterError(f"--fpr {fpr} must be between 0 and 1, e.g. 0.01")
    if not 0 <= holdout < 1:
        raise ParameterError(f"--holdout {holdout} must be in [0, 1), e.g. 0.2")
    used, skipped = training_images(good, exclude)
    check_not_input(output, [*used, *(path for path, _ in skipped)])
    with progress_counter(len(used), label="reading good images", quiet=quiet) as advance:
        model = fit_defect_model(
            used, target_fpr=fpr, holdout=holdout, random_state=seed, scaling=scaling, broad=broad, progress=advance
        )
    model.save(output)
    note = _threshold_note(model.n_holdout_images_, fpr)
    info = model.info() | {
        "model_file": str(output),
        "n_images": len(used),
        "fit_seconds": model.fit_seconds_,
        "images_used": [str(path) for path in used],
        "images_skipped": [{"path": str(path), "reason": reason} for path, reason in skipped],
        "threshold_note": note,
    }
    if quiet and not as_json:
        return
    lines = [
        f"fitted on {model.n_train_images_} good images ({model.n_holdout_images_} held out for the threshold) "
        f"in {model.fit_seconds_:.1f} s; threshold {model.threshold_:.4g} (target FPR {fpr:.1%})",
        f"used {len(used)} files, skipped {len(skipped)}",
    ]
    lines += [f"  skipped {path}: {reason}" for path, reason in skipped[:_SHOWN_SKIPPED]]
    if len(skipped) > _SHOWN_SKIPPED:
        lines.append(f"  ... and {len(skipped) - _SHOWN_SKIPPED} more (all listed with --json)")
    if note is not None:
        lines.append(f"note: {note}")
    lines.append(f"model: {output}")
    echo_summary(info, as_json, lines=lines)


def _threshold_note(n_holdout: int, fpr: float) -> str | None:
    """A warning when the threshold is the single highest held-out score (``n_holdout * fpr < 1``).

    Then the false-alarm rate on new good parts rests on one image: on MTD with 30 held-out
    tiles it ranged from 0% to 20% at a 1% target over fit seeds (docs/defects.md, "How the
    threshold is set").
    """
    if n_holdout == 0 or n_holdout * fpr >= 1:
        return None
    return (
        f"the threshold is the highest score of the {n_holdout} held-out good images, so the false-alarm rate "
        f"on new good parts can be well off {fpr:.1%}; fit on more good images (or raise --holdout) and check "
        "the rate on a batch of good parts"
    )


@defects_group.command("scan")
@click.argument("model", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("images", nargs=-1, required=True)
@click.option(
    "-o", "--outdir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Report folder (created)."
)
@click.option(
    "--masks",
    "masks",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Folder of ground-truth masks named like the images (STEM.png; >127 = defect; an image "
    "without a mask counts as good): adds image/pixel AUROC, AUPRO, F1-max.",
)
@click.option("--workers", type=int, default=1, show_default=True, help="Local processes.")
@click.option("--fail-on-defect", is_flag=True, help="Exit with code 1 if any image is flagged.")
@scheduler_option
@json_option
@quiet_option
@click.pass_context
def scan_command(ctx, model, images, outdir, masks, workers, fail_on_defect, scheduler, as_json, quiet):
    """Scan IMAGES (files, folders or globs) with MODEL; write report.csv/json/html, heat maps and masks.

    Exit codes: 0 done; 1 defects found (only with --fail-on-defect, even if some
    images failed); 2 bad usage, input or model file, or an output that cannot be
    written; 3 done, but some images failed (their rows carry the error); 130 Ctrl-C.
    """
    from ..image import scan
    from ..image.defects import DefectModel
    from ..image.io import list_images

    quiet = is_quiet(ctx, quiet)
    if workers < 1:
        raise ParameterError(f"--workers {workers} must be at least 1")
    fitted = DefectModel.load(model)  # fail early (exit 2) on a bad model file
    paths = list_images(images)
    outdir = ensure_outdir(outdir)
    reports = {name: outdir / f"report.{name}" for name in ("csv", "json", "html")}
    _check_reports_not_inputs(reports.values(), [Path(model), *paths])
    start = time.perf_counter()
    scan.cache_model(model, fitted)
    runner = None
    if scheduler is not None:
        runner = functools.partial(run_batch, scheduler=scheduler, quiet=quiet, label="scanning")
    with progress_counter(len(paths), label="scanning", quiet=quiet or runner is not None) as advance:
        rows, metrics = scan.scan_images(
            model,
            paths,
            outdir,
            output_stems(paths),
            masks=masks,
            workers=workers,
            batch_runner=runner,
            progress=advance,
        )
    seconds = time.perf_counter() - start
    settings = {
        "model": str(model),
        "masks": str(masks) if masks else None,
        "workers": workers,
        "scheduler": scheduler,
        "fail_on_defect": fail_on_defect,
    }
    summary, report = scan.scan_report(rows, metrics, fitted, seconds, settings)
    # Each report that can be written is, even if another one fails (then exit 2 naming it).
    write_all(
        [
            functools.partial(_write_text, reports["csv"], scan.report_csv(rows)),
            functools.partial(write_json, reports["json"], report),
            functools.partial(_write_html, reports["html"], rows, fitted, summary, metrics, outdir),
        ]
    )
    n_failed, n_flagged = summary["failed"], summary["flagged"]
    if as_json:
        echo_summary({"summary": summary, "metrics": metrics or None, "report": str(reports["html"])}, True)
    elif not quiet:
        lines = [f"scanned {len(rows)} images in {seconds:.1f} s: {n_flagged} flagged, {n_failed} failed"]
        lines += _metric_lines(metrics)
        lines.append(f"report: {reports['html']}")
        echo_summary(summary, False, lines=lines)
    for r in rows:
        if r["error"]:
            click.echo(f"gmmseg: failed: {r['path']}: {r['error']}", err=True)
    if fail_on_defect and n_flagged:
        ctx.exit(EXIT_FOUND)
    if n_failed:
        ctx.exit(EXIT_PARTIAL)
    ctx.exit(EXIT_OK)


def _metric_lines(metrics: dict) -> list[str]:
    """One summary line for all images, then one per defect kind (metrics has a dict per kind)."""

    def line(values: dict) -> str:
        return ", ".join(f"{k} {v:.3f}" for k, v in values.items())

    overall = {k: v for k, v in metrics.items() if not isinstance(v, dict)}
    lines = [f"  {line(overall)}"] if overall else []
    lines += [f"  {kind}: {line(values)}" for kind, values in metrics.items() if isinstance(values, dict)]
    return lines


def _check_reports_not_inputs(reports, inputs: list[Path]) -> None:
    from ..files import check_not_input

    # Only an input in the report folder can be a report: compare against those (cheap for big batches).
    folders = {Path(path).parent.resolve() for path in reports}
    near = [path for path in inputs if path.parent.resolve() in folders]
    for path in reports:
        check_not_input(path, near)


def _write_text(path: Path, text: str) -> None:
    from ..files import atomic_write_bytes

    atomic_write_bytes(path, text.encode("utf-8"))


def _write_html(path: Path, rows, model, summary, metrics, outdir: Path) -> None:
    from ..reports.defects import write_report_html

    write_report_html(path, rows, threshold=model.threshold_, summary=summary, metrics=metrics or None, outdir=outdir)


@demo_step(order=20)
def demo_defects(outdir: Path, quiet: bool) -> list[tuple[str, Path]]:
    """Fit on the bundled good factory samples; scan good and defective samples the fit never saw."""
    from ..image import scan
    from ..image.io import list_images

    samples = sample_folder("factory") or Path("sample_images") / "factory"
    good = sorted(samples.glob("good_*.png"))
    unseen = samples / "unseen"
    kind_folders = sorted(p for p in unseen.iterdir() if p.is_dir()) if unseen.is_dir() else []
    if not good or not kind_folders:
        raise InputError(f"no factory samples in {samples}; run scripts/make_factory_samples.py")
    folder = ensure_outdir(outdir / "defects")
    start = time.perf_counter()
    # Half of the good samples set the threshold: enough held-out parts for a steady false-alarm rate.
    # The parts are one uniform texture, the case the broad channel is for.
    model = scan.fit_defect_model(good, target_fpr=0.01, holdout=0.5, random_state=0, broad=True)
    model_path = folder / "model.gmmseg"
    model.save(model_path)
    paths = list_images(kind_folders)
    report_dir = ensure_outdir(folder / "report")
    scan.cache_model(model_path, model)
    rows, metrics = scan.scan_images(model_path, paths, report_dir, output_stems(paths), masks=samples / "masks")
    outcome = _demo_outcome(rows)
    settings = {"model": str(model_path), "masks": str(samples / "masks"), "holdout": 0.5, "broad": True}
    summary, report = scan.scan_report(rows, metrics, model, time.perf_counter() - start, settings)
    summary |= {k: v for k, v in outcome.items() if k != "missed"}
    report["summary"], report["demo"] = summary, outcome
    write_all(
        [
            functools.partial(_write_text, report_dir / "report.csv", scan.report_csv(rows)),
            functools.partial(write_json, report_dir / "report.json", report),
            functools.partial(_write_html, report_dir / "report.html", rows, model, summary, metrics, report_dir),
        ]
    )
    if not quiet:
        click.echo(
            f"factory samples: fitted on {model.n_train_images_} good parts, threshold from "
            f"{model.n_holdout_images_} other good parts; on parts the fit never saw: found "
            f"{outcome['defects found']} of {outcome['defects']} defects, flagged "
            f"{outcome['good flagged']} of {outcome['good']} good"
        )
        if outcome["missed"]:
            click.echo(
                f"factory samples missed: {', '.join(outcome['missed'])} (this model finds small, sharp defects "
                "best and is weakest on broad, faint ones; see docs/defects.md)"
            )
    return [
        ("defect model", model_path),
        ("defect report (HTML)", report_dir / "report.html"),
        ("defect report (CSV)", report_dir / "report.csv"),
    ]


def _demo_outcome(rows) -> dict:
    """Counts of the demo scan: defects found (a kind per folder) and good parts flagged."""
    bad = [r for r in rows if r.get("defective")]
    good = [r for r in rows if not r.get("defective") and not r["error"]]
    return {
        "defects": len(bad),
        "defects found": sum(bool(r["flagged"]) for r in bad),
        "good": len(good),
        "good flagged": sum(bool(r["flagged"]) for r in good),
        "missed": [Path(r["path"]).parent.name for r in bad if not r["flagged"]],
    }
