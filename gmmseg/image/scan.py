"""Fitting a defect model on image files and scanning batches of image files with it.

:func:`fit_defect_model` reads good images and fits a :class:`~gmmseg.image.defects.DefectModel`;
:func:`scan_images` scans files, one after the other, in a pool of worker processes or
through a batch runner (Dask), writing each image's heat map and defect mask and returning
one report row per image; :func:`scan_report` and :func:`report_csv` turn the rows into the
report's summary, JSON document and CSV text.

A worker pool stops promptly on Ctrl-C: the workers ignore SIGINT, the parent cancels what
is queued and ends the workers, whose temporary files are removed, so nothing more is written.
"""

from __future__ import annotations

import csv
import functools
import io
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..core.threads import limit_blas_threads
from ..errors import FailedItem, GmmsegError, InputError, OutputError

__all__ = [
    "CSV_COLUMNS",
    "cache_model",
    "fit_defect_model",
    "scan_file",
    "scan_images",
    "scan_report",
    "report_csv",
    "find_mask",
    "failed_row",
    "input_note",
]

#: Columns of ``report.csv``, in order.
CSV_COLUMNS = ["path", "score", "threshold", "flagged", "n_regions", "largest_region_area", "error", "note"]

Progress = Callable[[int, int], None]

_MODEL_CACHE: dict[str, Any] = {}
_WORKER_BLAS_LIMIT = None


def _get_model(model_or_path):
    from .defects import DefectModel

    if isinstance(model_or_path, DefectModel):
        return model_or_path
    key = str(Path(model_or_path).resolve())
    if key not in _MODEL_CACHE:
        _MODEL_CACHE.clear()
        _MODEL_CACHE[key] = DefectModel.load(model_or_path)
    return _MODEL_CACHE[key]


def cache_model(path, model=None) -> None:
    """Use ``model`` for the model file ``path`` in this process (None: read the file again when needed).

    Parameters
    ----------
    path : str or Path
        The model file.
    model : DefectModel, optional
        The model just loaded from (or saved to) ``path``.
    """
    _MODEL_CACHE.clear()
    if model is not None:
        _MODEL_CACHE[str(Path(path).resolve())] = model


def fit_defect_model(
    paths: Sequence[Path],
    *,
    target_fpr: float = 0.01,
    holdout: float = 0.2,
    random_state: int | None = None,
    scaling: str = "both",
    broad: bool = True,
    progress: Progress | None = None,
):
    """Read the good images ``paths`` and fit a :class:`~gmmseg.image.defects.DefectModel` on them.

    Parameters
    ----------
    paths : sequence of Path
        Good images (see :func:`gmmseg.image.training.training_images` to choose them).
    target_fpr, holdout, random_state, scaling, broad
        As :class:`~gmmseg.image.defects.DefectModel` takes them.
    progress : callable, optional
        ``progress(done, total)`` after each image read.

    Returns
    -------
    DefectModel
        Fitted.
    """
    from .defects import DefectModel
    from .io import read_image

    images = []
    for i, path in enumerate(paths):
        images.append(read_image(path, mode="keep").pixels)
        if progress is not None:
            progress(i + 1, len(paths))
    return DefectModel(
        target_fpr=target_fpr, holdout=holdout, random_state=random_state, scaling=scaling, broad=broad
    ).fit(images)


def scan_file(path, model_path_or_model, settings: dict[str, Any]) -> dict[str, Any]:
    """Scan one image file; write its heat map and mask; return its report row.

    A top-level function so that process pools and Dask workers can run it.

    Parameters
    ----------
    path : str or Path
        The image.
    model_path_or_model : str, Path or DefectModel
        A model file (loaded once per process) or a fitted model.
    settings : dict
        ``outdir`` (report folder), ``stem`` (output name), optional ``mask`` (a
        ground-truth mask file), ``with_masks`` and ``pixel_stride`` (subsampling of
        the returned pixels for the metrics), ``protect`` (inputs never to overwrite).

    Returns
    -------
    dict
        ``path``, ``score``, ``threshold``, ``flagged``, ``n_regions``, ``largest_region_area``,
        ``regions``, ``error``, ``note`` (:func:`input_note`), ``width``, ``height``, ``seconds``,
        ``heatmap``, ``mask``; with
        ``with_masks`` also ``defective`` and ``gt_mask`` / ``small_map`` (2-D, subsampled)
        for the metrics. An error reading the image or the mask, or writing its outputs,
        gives a row with ``error`` set instead of raising.

    Raises
    ------
    OutputError
        When the error means that no output can be written there (``fatal``: disk full,
        read-only, permission denied): the batch must stop.
    """
    from ..reports.defects import overlay_heatmap
    from .io import read_image, write_png

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
        "note": "",
    }
    try:
        image = read_image(path, mode="keep").pixels
        row["note"] = input_note(model, image)
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
        if settings.get("with_masks"):
            _add_ground_truth(row, image, result["score_map"], settings)
    except OutputError as exc:
        if exc.fatal:
            raise
        row["error"] = " ".join(str(exc).split())
    except GmmsegError as exc:
        row["error"] = " ".join(str(exc).split())
    except (OSError, ValueError, MemoryError) as exc:
        row["error"] = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
    row["seconds"] = round(time.perf_counter() - start, 4)
    return row


def _add_ground_truth(row: dict[str, Any], image: np.ndarray, score_map: np.ndarray, settings: dict[str, Any]) -> None:
    from .io import read_image

    stride = int(settings.get("pixel_stride", 1))
    gt_file = settings.get("mask")
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
    row["small_map"] = score_map[::stride, ::stride]
    row["defective"] = bool(gt.any())


def _scan_job(job: tuple[Path, dict[str, Any]], model_path: str) -> dict[str, Any]:
    """One ``(path, settings)`` job of a batch (top-level, so Dask workers can run it)."""
    with limit_blas_threads(1):
        return scan_file(job[0], model_path, job[1])


def _pool_job(job: tuple[Path, dict[str, Any], str]) -> dict[str, Any]:
    return scan_file(job[0], job[2], job[1])


def failed_row(path, error: str) -> dict[str, Any]:
    """The report row of an image whose scan could not run at all.

    Parameters
    ----------
    path : str or Path
    error : str
        One line.

    Returns
    -------
    dict
        With the keys of :data:`CSV_COLUMNS` and ``seconds``.
    """
    return {
        "path": str(path),
        "score": None,
        "threshold": None,
        "flagged": False,
        "n_regions": 0,
        "largest_region_area": 0,
        "error": error,
        "note": "",
        "seconds": 0.0,
    }


def input_note(model, image: np.ndarray) -> str:
    """A note when an image's size or mode (gray/color) is unlike the model's training images.

    The model still scores it (sizes are brought to the working scale, color to gray), but a
    part photographed otherwise than the good ones is a likely cause of a high score.

    Parameters
    ----------
    model : DefectModel
        Fitted; models from files written before session 7 do not know their training
        images and give no note.
    image : ndarray of shape (H, W) or (H, W, C)

    Returns
    -------
    str
        One line, or ``""`` when the image is like the training images.
    """
    from .defects import image_mode

    seen = getattr(model, "training_images_", None)
    if not seen:
        return ""
    notes = []
    h, w = image.shape[:2]
    (h0, w0), (h1, w1) = seen["min_size"], seen["max_size"]
    if not (h0 <= h <= h1 and w0 <= w <= w1):
        trained = f"{w0}x{h0}" if (h0, w0) == (h1, w1) else f"{w0}x{h0} to {w1}x{h1}"
        notes.append(f"size {w}x{h} is outside the training images' {trained}")
    mode = image_mode(image.shape)
    if mode not in seen["modes"]:
        notes.append(f"a {mode} image, the model was trained on {' and '.join(seen['modes'])} images")
    return "; ".join(notes)


def _init_worker() -> None:
    """Pool initializer: ignore Ctrl-C (the parent decides), end cleanly when terminated, one BLAS thread."""
    global _WORKER_BLAS_LIMIT
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # SystemExit unwinds the scan, so atomic writes in progress remove their temporary files.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    # Kept referenced, so the limit holds for the life of the worker process.
    _WORKER_BLAS_LIMIT = limit_blas_threads(1)
    _WORKER_BLAS_LIMIT.__enter__()


def find_mask(folder: Path, stem: str) -> Path | None:
    """The ground-truth mask ``folder/STEM.png`` (or .bmp, .tif, .tiff, .jpg), or None.

    Parameters
    ----------
    folder : Path
    stem : str

    Returns
    -------
    Path or None
    """
    for suffix in (".png", ".PNG", ".bmp", ".tif", ".tiff", ".jpg"):
        candidate = folder / f"{stem}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def scan_images(
    model_path,
    paths: Sequence[Path],
    outdir: Path,
    stems: Sequence[str],
    *,
    masks: Path | None = None,
    workers: int = 1,
    batch_runner: Callable | None = None,
    progress: Progress | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Scan ``paths``, writing ``outdir/heatmaps/STEM.png`` and ``outdir/masks/STEM.png``.

    Parameters
    ----------
    model_path : str or Path
        The model file (workers load it once each; this process uses its cached copy).
    paths : sequence of Path
        The images.
    outdir : Path
        The report folder; ``heatmaps`` and ``masks`` are created in it.
    stems : sequence of str
        One distinct output name per path.
    masks : Path, optional
        Folder of ground-truth masks named like the images: adds detection metrics.
    workers : int, default=1
        Local worker processes (ignored with ``batch_runner``).
    batch_runner : callable, optional
        ``batch_runner(func, jobs) -> [(job, outcome), ...]`` runs the jobs elsewhere
        (e.g. on Dask); an outcome that is a :class:`~gmmseg.errors.FailedItem` becomes a
        row with its error.
    progress : callable, optional
        ``progress(done, total)`` as images finish (not with ``batch_runner``).

    Returns
    -------
    rows : list of dict
        One report row per path, in order (see :func:`scan_file`).
    metrics : dict
        Detection metrics with ``masks``, else empty. When the images come from several
        folders, each folder holding defective images (one folder per defect kind) also
        gets its own metrics against all the good images, as a dict under the folder's name.

    Raises
    ------
    OutputError
        Fatal (disk full, read-only, permission): the scan stopped at once.
    KeyboardInterrupt
        After the workers have been stopped.
    """
    from ..files import output_error
    from .metrics import detection_metrics

    heat_dir, mask_dir = outdir / "heatmaps", outdir / "masks"
    for folder in (heat_dir, mask_dir):
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise output_error(folder, exc) from None
    # Only inputs inside the output folders could be overwritten: protect those (cheap for big batches).
    out_folders = {heat_dir.resolve(), mask_dir.resolve()}
    protect = [str(x) for x in paths if x.parent.resolve() in out_folders]
    jobs = []
    for p, stem in zip(paths, stems):
        settings: dict[str, Any] = {"outdir": str(outdir), "stem": stem, "protect": protect}
        if masks is not None:
            settings.update(with_masks=True, mask=find_mask(masks, p.stem), pixel_stride=2)
        jobs.append((p, settings))
    if batch_runner is not None:
        task = functools.partial(_scan_job, model_path=str(Path(model_path).resolve()))
        rows = [
            failed_row(job[0], str(outcome)) if isinstance(outcome, FailedItem) else outcome
            for job, outcome in batch_runner(task, jobs)
        ]
    elif workers <= 1:
        model = _get_model(model_path)
        rows = []
        # Per-image matrices are small: one BLAS thread is faster than many fighting.
        with limit_blas_threads(1):
            for path, settings in jobs:
                rows.append(scan_file(path, model, settings))
                if progress is not None:
                    progress(len(rows), len(jobs))
    else:
        rows = _scan_in_pool(jobs, str(model_path), workers, progress)
    return rows, _metrics(rows, detection_metrics) if masks is not None else {}


def _scan_in_pool(jobs, model_path: str, workers: int, progress: Progress | None) -> list[dict[str, Any]]:
    import multiprocessing

    pool = multiprocessing.Pool(workers, initializer=_init_worker)
    rows: list[dict[str, Any]] = []
    try:
        for row in pool.imap(_pool_job, [(p, s, model_path) for p, s in jobs]):
            rows.append(row)
            if progress is not None:
                progress(len(rows), len(jobs))
    except BaseException:
        # Ctrl-C or a fatal output error: drop what is queued and end the workers now.
        pool.terminate()
        pool.join()
        raise
    pool.close()
    pool.join()
    return rows


def _metrics(rows: list[dict[str, Any]], detection_metrics) -> dict[str, Any]:
    ok = [r for r in rows if not r["error"]]
    metrics: dict[str, Any] = {}
    if ok:
        metrics = _detection(ok, detection_metrics)
        kinds = _kind_folders(ok)
        # Each kind (a folder holding defective images) is measured against every good image.
        good = [r for r in ok if not r["defective"]]
        for kind, members in kinds.items():
            inside = {id(r) for r in members}
            metrics[kind] = _detection(members + [r for r in good if id(r) not in inside], detection_metrics)
    for r in rows:
        r.pop("gt_mask", None)
        r.pop("small_map", None)
    return metrics


def _detection(rows: list[dict[str, Any]], detection_metrics) -> dict[str, float]:
    labels = [r["defective"] for r in rows]
    with_pixels = any(labels)
    return detection_metrics(
        labels,
        [r["score"] for r in rows],
        [r["gt_mask"] for r in rows] if with_pixels else None,
        [r["small_map"] for r in rows] if with_pixels else None,
    )


def _kind_folders(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The rows of each folder holding defective images, by folder name, when the images span folders."""
    folders: dict[Path, list[dict[str, Any]]] = {}
    for r in rows:
        folders.setdefault(Path(r["path"]).parent, []).append(r)
    if len(folders) < 2:
        return {}
    with_defects = {folder: members for folder, members in folders.items() if any(r["defective"] for r in members)}
    names = [folder.name for folder in with_defects]
    # Two folders of one name (a/crack, b/crack) are told apart by their whole path.
    return {
        (folder.name if names.count(folder.name) == 1 else str(folder)): members
        for folder, members in with_defects.items()
    }


def scan_report(
    rows: list[dict[str, Any]], metrics: dict[str, Any], model, seconds: float, settings: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The summary and the ``report.json`` document of a scan.

    Parameters
    ----------
    rows : list of dict
        From :func:`scan_images`.
    metrics : dict
        From :func:`scan_images` (empty without masks).
    model : DefectModel
        The fitted model used.
    seconds : float
        Wall time of the scan.
    settings : dict
        The run's settings, recorded as given.

    Returns
    -------
    summary : dict
        Counts (images, flagged, not flagged, failed), threshold, target FPR and speed; and
        the number of images whose size or mode is unlike the training images, if any.
    report : dict
        ``summary``, ``metrics``, ``settings``, ``model``, ``timings`` and ``images`` (the rows).
    """
    n_failed = sum(bool(r["error"]) for r in rows)
    n_flagged = sum(bool(r["flagged"]) for r in rows)
    summary = {
        "images": len(rows),
        "flagged": n_flagged,
        "not flagged": len(rows) - n_flagged - n_failed,
        "failed": n_failed,
        "threshold": round(model.threshold_, 6),
        "target FPR": model.target_fpr,
        "seconds": round(seconds, 2),
        "images per second": round(len(rows) / seconds, 2) if seconds > 0 else None,
    }
    n_unlike = sum(bool(r.get("note")) for r in rows)
    if n_unlike:
        summary["unlike the training images"] = n_unlike
    report = {
        "summary": summary,
        "metrics": metrics or None,
        "settings": settings,
        "model": model.info(),
        "timings": {"total_seconds": seconds, "per_image_seconds": [r["seconds"] for r in rows]},
        "images": rows,
    }
    return summary, report


def report_csv(rows: list[dict[str, Any]]) -> str:
    """The text of ``report.csv``: one line per row, columns :data:`CSV_COLUMNS`.

    Parameters
    ----------
    rows : list of dict

    Returns
    -------
    str
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        writer.writerow(
            [
                r["path"],
                "" if r["score"] is None else f"{r['score']:.6g}",
                "" if r["threshold"] is None else f"{r['threshold']:.6g}",
                "true" if r["flagged"] else "false",
                r["n_regions"],
                r["largest_region_area"],
                r["error"],
                r.get("note", ""),
            ]
        )
    return buffer.getvalue()
