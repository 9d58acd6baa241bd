"""``gmmseg defects``: fit a defect model on good parts, then scan batches of images.

Exit codes of ``gmmseg defects scan``: 0 every image was scanned (flagged or not);
1 with ``--fail-on-defect`` when at least one image is flagged (this wins over 3);
2 bad usage, no input images or an unreadable model file; 3 the batch finished but
some images could not be read (each is a row with its error); 4 internal error.
"""

from __future__ import annotations

import csv
import functools
import io
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import click
import numpy as np

from ..core.threads import limit_blas_threads
from ..errors import FailedItem, GmmsegError, InputError, ParameterError
from ._common import (
    EXIT_FOUND,
    EXIT_OK,
    EXIT_PARTIAL,
    echo_json,
    ensure_outdir,
    is_quiet,
    json_option,
    output_stems,
    progress,
    quiet_option,
    run_batch,
    scheduler_option,
    write_json,
)
from ._group import cli
from .demo import demo_step, sample_folder

__all__ = ["defects_group", "scan_file", "scan_images", "fit_model"]

CSV_COLUMNS = ["path", "score", "threshold", "flagged", "n_regions", "largest_region_area", "error"]

_MODEL_CACHE: dict[str, Any] = {}
_WORKER_BLAS_LIMIT = None


def _get_model(model_or_path):
    from ..image.defects import DefectModel

    if isinstance(model_or_path, DefectModel):
        return model_or_path
    key = str(Path(model_or_path).resolve())
    if key not in _MODEL_CACHE:
        _MODEL_CACHE.clear()
        _MODEL_CACHE[key] = DefectModel.load(model_or_path)
    return _MODEL_CACHE[key]


def scan_file(path, model_path_or_model, settings: dict[str, Any]) -> dict[str, Any]:
    """Scan one image file; write its heat map and mask; return its report row.

    A top-level function so that process pools (and later a Dask backend) can map it.

    Parameters
    ----------
    path : str or Path
        The image.
    model_path_or_model : str, Path or DefectModel
        A model file (loaded once per process) or a fitted model.
    settings : dict
        ``outdir`` (report folder), ``stem`` (output name), optional ``mask`` (a
        ground-truth mask file) and ``pixel_stride`` (subsampling of the returned
        pixels for the metrics), ``protect`` (inputs never to overwrite).

    Returns
    -------
    dict
        ``path``, ``score``, ``threshold``, ``flagged``, ``n_regions``, ``largest_region_area``,
        ``regions``, ``error``, ``width``, ``height``, ``seconds``, ``heatmap``, ``mask``; with
        a ground-truth mask also ``gt_pixels`` and ``map_pixels`` (1-D arrays) and ``gt_mask``
        / ``small_map`` (2-D, subsampled) for the metrics. Errors reading the image or the
        mask give a row with ``error`` set instead of raising.
    """
    from ..image.io import read_image, write_png
    from ..reports.defects import overlay_heatmap

    start = time.perf_counter()
    model = _get_model(model_path_or_model)
    row: dict[str, Any] = {
        "path": str(path),
        "score": None,
        "threshold": float(model.threshold_),
        "flagged": False,
        "n_regions": 0,
        "largest_region_area": 0,
        "error": "",
    }
    try:
        image = read_image(path, mode="keep").pixels
        result = model.detect(image)
        outdir = Path(settings["outdir"])
        stem = settings["stem"]
        protect = settings.get("protect", ())
        regions = [r.to_dict() for r in result["regions"]]
        heat = overlay_heatmap(image, result["score_map"], model.pixel_threshold_, result["regions"])
        mask = result["mask"].astype(np.uint8) * np.uint8(255)
        heat_path = write_png(outdir / "heatmaps" / f"{stem}.png", heat, protect=protect, compress_level=1)
        mask_path = write_png(outdir / "masks" / f"{stem}.png", mask, protect=protect, compress_level=1)
        row.update(
            score=float(result["score"]),
            flagged=bool(result["flagged"]),
            n_regions=len(regions),
            largest_region_area=int(max((r["area"] for r in regions), default=0)),
            regions=regions,
            width=int(image.shape[1]),
            height=int(image.shape[0]),
            heatmap=str(heat_path.relative_to(outdir)),
            mask=str(mask_path.relative_to(outdir)),
        )
        gt_file = settings.get("mask")
        if settings.get("with_masks"):
            stride = int(settings.get("pixel_stride", 1))
            if gt_file is None:
                gt = np.zeros(image.shape[:2], dtype=bool)
            else:
                gt_pixels = read_image(gt_file, mode="gray").pixels
                if gt_pixels.shape != image.shape[:2]:
                    raise InputError(
                        f"mask {gt_file} is {gt_pixels.shape[1]}x{gt_pixels.shape[0]} but the image is "
                        f"{image.shape[1]}x{image.shape[0]}; masks must match their images"
                    )
                gt = gt_pixels > (127 if gt_pixels.dtype == np.uint8 else 32767)
            row["gt_mask"] = gt[::stride, ::stride]
            row["small_map"] = result["score_map"][::stride, ::stride]
            row["defective"] = bool(gt.any())
    except GmmsegError as exc:
        row["error"] = " ".join(str(exc).split())
    except (OSError, ValueError, MemoryError) as exc:
        row["error"] = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
    row["seconds"] = round(time.perf_counter() - start, 4)
    return row


def _scan_job(job: tuple[Path, dict[str, Any]], model_path: str) -> dict[str, Any]:
    """One ``(path, settings)`` job of a batch (top-level, so Dask workers can run it)."""
    with limit_blas_threads(1):
        return scan_file(job[0], model_path, job[1])


def _failed_row(path, error: str) -> dict[str, Any]:
    """The report row of an image whose scan could not run at all."""
    return {
        "path": str(path),
        "score": None,
        "threshold": None,
        "flagged": False,
        "n_regions": 0,
        "largest_region_area": 0,
        "error": error,
        "seconds": 0.0,
    }


def _init_worker() -> None:
    """Process-pool initializer: one BLAS thread per worker process (the workers are the parallelism)."""
    global _WORKER_BLAS_LIMIT
    # Kept referenced, so the limit holds for the life of the worker process.
    _WORKER_BLAS_LIMIT = limit_blas_threads(1)
    _WORKER_BLAS_LIMIT.__enter__()


def _find_mask(folder: Path, stem: str) -> Path | None:
    for suffix in (".png", ".PNG", ".bmp", ".tif", ".tiff", ".jpg"):
        candidate = folder / f"{stem}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def scan_images(
    model_path,
    paths: list[Path],
    outdir: Path,
    *,
    masks: Path | None = None,
    workers: int = 1,
    quiet: bool = True,
    scheduler: str | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Scan ``paths`` (in parallel with ``workers`` processes, or on a Dask ``scheduler``).

    Returns ``(rows, metrics or {})``. On Dask, the workers load the model file and
    read and write the images themselves (the paths must be reachable there); an
    image whose task failed after Dask's retries (e.g. its worker died) becomes a
    row with the error.
    """
    from ..image.metrics import detection_metrics

    stems = output_stems(paths)
    ensure_outdir(outdir / "heatmaps")
    ensure_outdir(outdir / "masks")
    # Only inputs inside the output folders could be overwritten: protect those (cheap for big batches).
    out_folders = {(outdir / "heatmaps").resolve(), (outdir / "masks").resolve()}
    protect = [str(x) for x in paths if x.parent.resolve() in out_folders]
    jobs = []
    for p, stem in zip(paths, stems):
        settings = {"outdir": str(outdir), "stem": stem, "protect": protect}
        if masks is not None:
            settings["with_masks"] = True
            settings["mask"] = _find_mask(masks, p.stem)
            settings["pixel_stride"] = 2
        jobs.append((p, settings))
    rows: list[dict[str, Any]] = [None] * len(jobs)  # type: ignore[list-item]
    if scheduler is not None:
        task = functools.partial(_scan_job, model_path=str(Path(model_path).resolve()))
        for i, (job, outcome) in enumerate(run_batch(task, jobs, scheduler=scheduler, quiet=quiet, label="scanning")):
            rows[i] = _failed_row(job[0], str(outcome)) if isinstance(outcome, FailedItem) else outcome
    elif workers <= 1:
        model = _get_model(model_path)
        # Per-image matrices are small: one BLAS thread is faster than many fighting.
        with limit_blas_threads(1), progress(range(len(jobs)), label="scanning", quiet=quiet) as bar:
            for i in bar:
                rows[i] = scan_file(jobs[i][0], model, jobs[i][1])
    else:
        with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker) as pool:
            futures = [pool.submit(scan_file, p, str(model_path), s) for p, s in jobs]
            with progress(range(len(jobs)), label="scanning", quiet=quiet) as bar:
                for i in bar:
                    rows[i] = futures[i].result()
    metrics: dict[str, Any] = {}
    if masks is not None:
        ok = [r for r in rows if not r["error"]]
        if ok:
            labels = [r["defective"] for r in ok]
            metrics = detection_metrics(
                labels,
                [r["score"] for r in ok],
                [r.pop("gt_mask") for r in ok] if any(labels) else None,
                [r.pop("small_map") for r in ok] if any(labels) else None,
            )
        for r in rows:
            r.pop("gt_mask", None)
            r.pop("small_map", None)
    return rows, metrics


def _csv_text(rows) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        writer.writerow(
            [
                r["path"],
                "" if r["score"] is None else f"{r['score']:.6g}",
                f"{r['threshold']:.6g}",
                "true" if r["flagged"] else "false",
                r["n_regions"],
                r["largest_region_area"],
                r["error"],
            ]
        )
    return buffer.getvalue()


def fit_model(
    paths: list[Path], *, fpr: float, holdout: float, seed: int | None, quiet: bool = True, scaling: str = "both"
):
    """Read the good images and fit a :class:`~gmmseg.image.defects.DefectModel`."""
    from ..image.defects import DefectModel
    from ..image.io import read_image

    images = []
    with progress(paths, label="reading good images", quiet=quiet) as bar:
        for p in bar:
            images.append(read_image(p, mode="keep").pixels)
    return DefectModel(target_fpr=fpr, holdout=holdout, random_state=seed, scaling=scaling).fit(images)


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
@json_option
@quiet_option
@click.pass_context
def fit_command(ctx, good, output, fpr, holdout, seed, scaling, as_json, quiet):
    """Fit a defect model on GOOD images (files, folders or globs) and write it to -o."""
    from ..image.io import list_images

    quiet = is_quiet(ctx, quiet)
    if not 0 < fpr < 1:
        raise ParameterError(f"--fpr {fpr} must be between 0 and 1, e.g. 0.01")
    if not 0 <= holdout < 1:
        raise ParameterError(f"--holdout {holdout} must be in [0, 1), e.g. 0.2")
    paths = list_images(good)
    model = fit_model(paths, fpr=fpr, holdout=holdout, seed=seed, quiet=quiet, scaling=scaling)
    model.save(output)
    info = model.info() | {"model_file": str(output), "n_images": len(paths), "fit_seconds": model.fit_seconds_}
    if as_json:
        echo_json(info)
    elif not quiet:
        click.echo(
            f"fitted on {model.n_train_images_} good images ({model.n_holdout_images_} held out for the threshold) "
            f"in {model.fit_seconds_:.1f} s; threshold {model.threshold_:.4g} (target FPR {fpr:.1%})"
        )
        click.echo(f"model: {output}")


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
    images failed); 2 bad usage, input or model file; 3 done, but some images could
    not be read (their rows carry the error).
    """
    from ..files import atomic_write_bytes
    from ..image.defects import DefectModel
    from ..image.io import list_images
    from ..reports.defects import write_report_html

    quiet = is_quiet(ctx, quiet)
    if workers < 1:
        raise ParameterError(f"--workers {workers} must be at least 1")
    fitted = DefectModel.load(model)  # fail early (exit 2) on a bad model file
    paths = list_images(images)
    outdir = ensure_outdir(outdir)
    start = time.perf_counter()
    _MODEL_CACHE.clear()
    _MODEL_CACHE[str(Path(model).resolve())] = fitted
    rows, metrics = scan_images(model, paths, outdir, masks=masks, workers=workers, quiet=quiet, scheduler=scheduler)
    seconds = time.perf_counter() - start
    n_failed = sum(bool(r["error"]) for r in rows)
    n_flagged = sum(bool(r["flagged"]) for r in rows)
    summary = {
        "images": len(rows),
        "flagged": n_flagged,
        "not flagged": len(rows) - n_flagged - n_failed,
        "failed": n_failed,
        "threshold": round(fitted.threshold_, 6),
        "target FPR": fitted.target_fpr,
        "seconds": round(seconds, 2),
        "images per second": round(len(rows) / seconds, 2) if seconds > 0 else None,
    }
    report = {
        "summary": summary,
        "metrics": metrics or None,
        "settings": {
            "model": str(model),
            "masks": str(masks) if masks else None,
            "workers": workers,
            "scheduler": scheduler,
            "fail_on_defect": fail_on_defect,
        },
        "model": fitted.info(),
        "timings": {"total_seconds": seconds, "per_image_seconds": [r["seconds"] for r in rows]},
        "images": rows,
    }
    atomic_write_bytes(outdir / "report.csv", _csv_text(rows).encode("utf-8"))
    write_json(outdir / "report.json", report)
    write_report_html(
        outdir / "report.html",
        rows,
        threshold=fitted.threshold_,
        summary=summary,
        metrics=metrics or None,
        outdir=outdir,
    )
    if as_json:
        echo_json({"summary": summary, "metrics": metrics or None, "report": str(outdir / "report.html")})
    elif not quiet:
        click.echo(f"scanned {len(rows)} images in {seconds:.1f} s: {n_flagged} flagged, {n_failed} failed")
        if metrics:
            click.echo("  " + ", ".join(f"{k} {v:.3f}" for k, v in metrics.items()))
        click.echo(f"report: {outdir / 'report.html'}")
    if n_failed:
        for r in rows:
            if r["error"]:
                click.echo(f"gmmseg: failed: {r['path']}: {r['error']}", err=True)
    if fail_on_defect and n_flagged:
        ctx.exit(EXIT_FOUND)
    if n_failed:
        ctx.exit(EXIT_PARTIAL)
    ctx.exit(EXIT_OK)


@demo_step(order=20)
def demo_defects(outdir: Path, quiet: bool) -> list[tuple[str, Path]]:
    """Fit on the bundled good factory samples and scan all of them."""
    from ..image.io import list_images

    samples = sample_folder("factory") or Path("sample_images") / "factory"
    good = sorted(samples.glob("good_*.png"))
    if not good:
        raise InputError(f"no factory samples in {samples}; run scripts/make_factory_samples.py")
    folder = ensure_outdir(outdir / "defects")
    model = fit_model(good, fpr=0.01, holdout=0.2, seed=0, quiet=True)
    model_path = folder / "model.gmmseg"
    model.save(model_path)
    paths = list_images([samples])
    report_dir = folder / "report"
    _MODEL_CACHE.clear()
    rows, _ = scan_images(model_path, paths, ensure_outdir(report_dir), workers=1, quiet=True)
    from ..files import atomic_write_bytes
    from ..reports.defects import write_report_html

    summary = {"images": len(rows), "flagged": sum(r["flagged"] for r in rows), "threshold": model.threshold_}
    atomic_write_bytes(report_dir / "report.csv", _csv_text(rows).encode("utf-8"))
    write_json(report_dir / "report.json", {"summary": summary, "model": model.info(), "images": rows})
    write_report_html(report_dir / "report.html", rows, threshold=model.threshold_, summary=summary, outdir=report_dir)
    if not quiet:
        kinds = [(Path(r["path"]).name.startswith("defect_"), bool(r["flagged"])) for r in rows]
        n_bad = sum(bad for bad, _ in kinds)
        click.echo(
            f"factory samples: {sum(f for bad, f in kinds if bad)} of {n_bad} defective and "
            f"{sum(f for bad, f in kinds if not bad)} of {len(kinds) - n_bad} good samples flagged "
            f"(the threshold comes from {model.n_holdout_images_} held-out good samples: more good images, a steadier rate)"
        )
    return [
        ("defect model", model_path),
        ("defect report (HTML)", report_dir / "report.html"),
        ("defect report (CSV)", report_dir / "report.csv"),
    ]
