"""``gmmseg segment``: photo segmentation by pixel color, one or many images.

The per-image work is one top-level function, :func:`segment_file`, that takes only
plain values (a path, a folder and a :class:`SegmentSettings`) and returns a
JSON-able dict, so a parallel backend (e.g. Dask) can map it over workers.
"""

from __future__ import annotations

import functools
import io
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import click

from ..errors import FailedItem, ParameterError
from ..image.io import DEFAULT_MAX_PIXELS
from ._common import (
    EXIT_BAD_INPUT,
    EXIT_PARTIAL,
    ComponentsType,
    echo_json,
    ensure_outdir,
    is_quiet,
    json_option,
    output_stems,
    quiet_option,
    run_batch,
    scheduler_option,
    write_json,
)
from ._group import cli
from .demo import demo_step, sample_folder

__all__ = ["SegmentSettings", "segment_file", "output_paths", "segment_command"]

#: Files written for every image: suffix after the stem.
OUTPUT_SUFFIXES = {
    "labels": ".labels.png",
    "regions": ".regions.png",
    "segmented": ".segmented.png",
    "overlay": ".overlay.png",
    "summary": ".json",
    "criterion": ".criterion.png",
    "probabilities": ".proba.npz",
}


class _SmoothType(click.ParamType):
    """``--smooth``: a beta ``>= 0`` (float) or ``auto`` (the string ``"auto"``)."""

    name = "smoothing"

    def get_metavar(self, param, ctx=None) -> str:
        return "BETA|auto"

    def convert(self, value, param, ctx):
        if isinstance(value, float):
            return value
        text = str(value).strip().lower()
        if text == "auto":
            return "auto"
        try:
            number = float(text)
        except ValueError:
            number = float("nan")
        if not number >= 0 or number == float("inf"):
            self.fail(f"{value!r} is not a smoothing strength; use a number >= 0 (e.g. 2) or auto", param, ctx)
        return number


@dataclass(frozen=True)
class SegmentSettings:
    """Everything :func:`segment_file` needs besides the image and the output folder.

    ``protect`` holds the (resolved) input paths of the whole batch, which no output
    may overwrite; ``prefix`` the output file stem when it is not the image's stem.
    """

    n_components: int | str = "auto"
    max_components: int = 10
    color_space: str = "lab"
    covariance_type: str = "full"
    smoothing: float | str = 0.0
    neighborhood: int = 4
    spatial_weight: float = 0.0
    bits: int | None = None
    blur: float = 1.0
    min_region_size: int = 50
    merge_threshold: float | None = None  # None: 9 with -k auto, 12 with a fixed K
    contrast_threshold: float | None = None  # None: 3 with -k auto, 0 with a fixed K
    seed: int | None = 0
    probabilities: bool = False
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    protect: tuple[str, ...] = field(default_factory=tuple)


def output_paths(path: Path, outdir: Path, settings: SegmentSettings, prefix: str | None = None) -> dict[str, Path]:
    """The files :func:`segment_file` writes for ``path`` (only those these settings produce)."""
    stem = prefix or Path(path).stem
    names = ["labels", "regions", "segmented", "overlay", "summary"]
    if settings.n_components == "auto":
        names.append("criterion")
    if settings.probabilities:
        names.append("probabilities")
    return {name: Path(outdir) / f"{stem}{OUTPUT_SUFFIXES[name]}" for name in names}


def segment_file(path, outdir, settings: SegmentSettings, prefix: str | None = None) -> dict[str, Any]:
    """Segment one image file and write its outputs into ``outdir``.

    Parameters
    ----------
    path : str or Path
        The image.
    outdir : str or Path
        An existing folder.
    settings : SegmentSettings
    prefix : str, optional
        Output stem (default: the image's stem).

    Returns
    -------
    dict
        The image's summary (as written to ``STEM.json``), with ``image``,
        ``outputs`` (name → path), ``timings`` and ``warnings``.

    Raises
    ------
    GmmsegError
        The image cannot be read or segmented, or an output would overwrite an input.
    """
    import numpy as np

    from ..files import atomic_write_bytes, check_not_input
    from ..image.io import read_image, write_png
    from ..image.segment import segment_image
    from ..reports.plots import plot_criterion

    started = time.perf_counter()
    path, outdir = Path(path), Path(outdir)
    outputs = output_paths(path, outdir, settings, prefix)
    protect = tuple(settings.protect) + (str(path),)
    for target in outputs.values():
        check_not_input(target, protect)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t = time.perf_counter()
        image = read_image(path, max_pixels=settings.max_pixels)
        read_seconds = time.perf_counter() - t
        seg = segment_image(
            image,
            settings.n_components,
            color_space=settings.color_space,
            covariance_type=settings.covariance_type,
            smoothing=settings.smoothing,
            neighborhood=settings.neighborhood,
            spatial_weight=settings.spatial_weight,
            bits=settings.bits,
            blur=settings.blur,
            min_region_size=settings.min_region_size,
            merge_threshold=settings.merge_threshold,
            contrast_threshold=settings.contrast_threshold,
            max_components=settings.max_components,
            random_state=settings.seed,
        )
    messages = list(dict.fromkeys(" ".join(str(w.message).split()) for w in caught))

    t = time.perf_counter()
    if seg.n_regions > np.iinfo(np.uint16).max:
        raise ParameterError(
            f"{path.name} has {seg.n_regions:,} regions, more than a 16-bit PNG holds; raise --min-region-size"
        )
    write_png(outputs["labels"], seg.labels, protect=protect)
    write_png(outputs["regions"], seg.regions.astype(np.uint16), protect=protect)
    write_png(outputs["segmented"], seg.segmented_image(), protect=protect)
    write_png(outputs["overlay"], seg.overlay_image(), protect=protect)
    if "criterion" in outputs:
        plot_criterion(seg.selection, outputs["criterion"], title=f"{seg.selection.criterion.upper()} for {path.name}")
    if "probabilities" in outputs:
        buffer = io.BytesIO()
        np.savez(
            buffer,
            probabilities=seg.probability_maps(dtype=np.float16),
            labels=np.asarray(seg.segment_labels, dtype=np.int32),
        )
        atomic_write_bytes(outputs["probabilities"], buffer.getvalue())
    write_seconds = time.perf_counter() - t

    summary = seg.summary()
    timings = dict(summary.pop("timings"))
    timings["segment"] = timings.pop("total")
    timings = {"read": round(read_seconds, 4), **timings, "write": round(write_seconds, 4)}
    timings["total"] = round(time.perf_counter() - started, 4)
    summary = {
        "image": str(path),
        "image_mode": image.mode,
        "bit_depth": image.bit_depth,
        **summary,
        "timings": timings,
        "outputs": {name: str(p) for name, p in outputs.items()},
        "warnings": messages,
    }
    write_json(outputs["summary"], summary)
    return summary


@cli.command("segment")
@click.argument("images", nargs=-1, required=True)
@click.option(
    "-k",
    "--components",
    "components",
    type=ComponentsType(),
    default="auto",
    show_default=True,
    help="Number of color segments, or 'auto': chosen by ICL over 2..--k-max.",
)
@click.option("--k-max", type=click.IntRange(1, 255), default=10, show_default=True, help="Largest K for -k auto.")
@click.option(
    "--color-space",
    type=click.Choice(["lab", "rgb", "hsv", "gray"]),
    default="lab",
    show_default=True,
    help="Color features (hsv encodes the circular hue).",
)
@click.option(
    "--covariance",
    type=click.Choice(["full", "diag", "tied", "spherical"]),
    default="full",
    show_default=True,
    help="Covariance type of the segments.",
)
@click.option(
    "--smooth",
    "smoothing",
    type=_SmoothType(),
    default="0",
    show_default=True,
    help="Spatial smoothing strength beta (Potts Markov random field); 0 is none, 2 is a good start, "
    "auto estimates it per photo (at least 2).",
)
@click.option(
    "--neighborhood", type=click.Choice(["4", "8"]), default="4", show_default=True, help="Smoothing neighborhood."
)
@click.option(
    "--spatial-weight",
    type=click.FloatRange(min=0.0),
    default=0.0,
    show_default=True,
    help="Weight of x/y position features (compact regions); 0 is none.",
)
@click.option(
    "--bits", type=click.IntRange(1, 16), default=None, help="Round colors to this many bits first (approximate)."
)
@click.option(
    "--blur",
    type=click.FloatRange(min=0.0),
    default=1.0,
    show_default=True,
    help="Gaussian blur (sigma, pixels) before the fit: fewer speckle regions; 0 fits the exact colors.",
)
@click.option(
    "--min-region-size",
    type=click.IntRange(min=0),
    default=50,
    show_default=True,
    help="Regions with fewer pixels merge into their most similar neighbor.",
)
@click.option(
    "--merge-threshold",
    type=click.FloatRange(min=0.0),
    default=None,
    help="Merge adjacent regions whose mean Lab colors are at most this far apart; 0 is none.  [default: 9 with -k auto, else 12]",
)
@click.option(
    "--contrast-threshold",
    type=click.FloatRange(min=0.0),
    default=None,
    help="Cut the color pieces along the photo's edges, then merge adjacent regions whose boundary shows little color contrast; 0 is neither.  [default: 3 with -k auto, else 0]",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed (same seed, same bytes).")
@click.option(
    "-o",
    "--outdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=".",
    show_default=True,
    help="Output folder.",
)
@click.option("--probabilities", is_flag=True, help="Also write STEM.proba.npz (float16 probability maps).")
@click.option(
    "--max-pixels",
    type=click.IntRange(min=0),
    default=DEFAULT_MAX_PIXELS,
    show_default=True,
    help="Refuse larger images (decompression-bomb guard); 0 removes the limit.",
)
@scheduler_option
@json_option
@quiet_option
@click.pass_context
def segment_command(
    ctx,
    images,
    components,
    k_max,
    color_space,
    covariance,
    smoothing,
    neighborhood,
    spatial_weight,
    bits,
    blur,
    min_region_size,
    merge_threshold,
    contrast_threshold,
    seed,
    outdir,
    probabilities,
    max_pixels,
    scheduler,
    as_json,
    quiet,
):
    """Segment photos into regions by pixel color with a Gaussian mixture.

    IMAGES are files, folders (their images) or patterns like 'photos/*.jpg'. For
    each image, OUTDIR gets STEM.regions.png (16-bit: connected region 1..R per
    pixel), STEM.labels.png (color segment per pixel; 8-bit, 16-bit when K > 255),
    STEM.segmented.png (mean color per segment), STEM.overlay.png (region
    boundaries on the photo), STEM.json (segments, regions, timings), STEM.criterion.png
    (the ICL curve of -k auto, the default) and STEM.proba.npz (with --probabilities).
    Fully transparent pixels get label 0 and region 0, the segments 1..K.

    A bad image does not stop a batch: failures are listed at the end and the
    exit code is 3 (2 when no image could be done). With --scheduler the images
    are segmented on Dask workers, which read and write the files themselves.
    """
    from ..image.io import list_images

    quiet = is_quiet(ctx, quiet)
    paths = list_images(images)
    outdir = ensure_outdir(outdir)
    settings = SegmentSettings(
        n_components=components,
        max_components=k_max,
        color_space=color_space,
        covariance_type=covariance,
        smoothing=smoothing,
        neighborhood=int(neighborhood),
        spatial_weight=spatial_weight,
        bits=bits,
        blur=blur,
        min_region_size=min_region_size,
        merge_threshold=merge_threshold,
        contrast_threshold=contrast_threshold,
        seed=seed,
        probabilities=probabilities,
        max_pixels=max_pixels or None,
        protect=tuple(str(p.resolve()) for p in paths if p.exists()),
    )
    if (smoothing == "auto" or smoothing > 0) and spatial_weight > 0:
        raise ParameterError("use either --smooth or --spatial-weight, not both (both make regions compact)")

    done: list[dict[str, Any]] = []
    failed: list[dict[str, str]] = []
    items = list(zip(paths, output_stems(paths)))
    task = functools.partial(_segment_item, outdir=outdir, settings=settings)
    for (path, _), outcome in run_batch(task, items, scheduler=scheduler, quiet=quiet, label="segmenting"):
        if isinstance(outcome, FailedItem):
            failed.append({"image": str(path), "error": str(outcome)})
        else:
            done.append(outcome)

    if as_json:
        echo_json({"images": done, "failed": failed, "settings": _settings_json(settings)})
    elif not quiet:
        for summary in done:
            _echo_summary(summary, detailed=len(paths) == 1)
    if not quiet:
        for summary in done:
            for message in summary["warnings"]:
                click.echo(f"gmmseg: warning: {summary['image']}: {message}", err=True)
    for item in failed:
        click.echo(f"gmmseg: error: {item['error']}", err=True)
    if failed:
        if len(paths) > 1:
            click.echo(f"gmmseg: {len(failed)} of {len(paths)} images failed (listed above)", err=True)
        ctx.exit(EXIT_PARTIAL if done else EXIT_BAD_INPUT)


def _segment_item(item: tuple[Path, str | None], outdir: Path, settings: SegmentSettings) -> dict[str, Any]:
    """One ``(path, prefix)`` item of a batch (top-level, so Dask workers can run it)."""
    path, prefix = item
    return segment_file(path, outdir, settings, prefix)


def _settings_json(settings: SegmentSettings) -> dict[str, Any]:
    out = asdict(settings)
    out.pop("protect")
    return out


def _echo_summary(summary: dict[str, Any], detailed: bool) -> None:
    name = Path(summary["image"]).name
    h, w = summary["shape"]
    chosen = f" (chosen by {summary['selection']['criterion'].upper()})" if summary.get("selection") else ""
    auto = " (auto)" if summary["settings"]["smoothing"] == "auto" else ""
    smooth = f", smoothing {summary['smoothing']:.3g}{auto}" if summary["smoothing"] or auto else ""
    click.echo(
        f"{name}: {w}x{h}, {summary['n_colors']:,} colors -> K={summary['n_segments']}{chosen}, "
        f"{summary['n_regions']:,} regions "
        f"({summary['color_space']}, {summary['covariance_type']}{smooth}) in {summary['timings']['total']:.2f} s"
    )
    if detailed:
        click.echo(f"{'label':>5} {'share':>7}  {'mean RGB':<17} mean Lab")
        for row in summary["segments"]:
            r, g, b = row["mean_rgb"]
            L, a, bb = row["mean_lab"]
            click.echo(
                f"{row['label']:>5} {row['share']:>7.2%}  ({r:5.1f},{g:5.1f},{b:5.1f}) ({L:6.1f},{a:6.1f},{bb:6.1f})"
            )
    click.echo(f"  outputs: {Path(summary['outputs']['labels']).parent / Path(summary['outputs']['summary']).stem}.*")


# ---------------------------------------------------------------------------- demo step


def _demo_inputs(outdir: Path) -> tuple[Path, Path]:
    """The two demo photos: from ``sample_images/`` or, when absent, written from scikit-image's data."""
    folder = sample_folder()
    if folder is not None and (folder / "coffee.jpg").is_file() and (folder / "chelsea.jpg").is_file():
        return folder / "coffee.jpg", folder / "chelsea.jpg"
    from skimage import data

    from ..image.io import write_png

    inputs = ensure_outdir(outdir / "inputs")
    return write_png(inputs / "coffee.png", data.coffee()), write_png(inputs / "chelsea.png", data.chelsea())


@demo_step(order=10)
def demo_segment(outdir: Path, quiet: bool) -> list[tuple[str, Path]]:
    """Segment the bundled photos: coffee with the defaults (-k auto), chelsea (a cat) with K=3 and smoothing."""
    folder = ensure_outdir(outdir / "segment")
    coffee, chelsea = _demo_inputs(folder)
    auto = segment_file(coffee, folder, SegmentSettings(max_components=8, seed=0))
    smooth = segment_file(chelsea, folder, SegmentSettings(n_components=3, smoothing=1.5, seed=0))
    if not quiet:
        click.echo(
            f"photo segmentation: {coffee.name} -> K={auto['n_segments']} chosen by ICL, "
            f"{auto['n_regions']} regions; {chelsea.name} -> K=3 with smoothing 1.5"
        )
    return [
        (f"{coffee.stem} regions (overlay)", Path(auto["outputs"]["overlay"])),
        (f"{coffee.stem} segments (auto K)", Path(auto["outputs"]["segmented"])),
        (f"{coffee.stem} region map (16-bit)", Path(auto["outputs"]["regions"])),
        (f"{coffee.stem} ICL curve", Path(auto["outputs"]["criterion"])),
        (f"{chelsea.stem} segments (smoothed)", Path(smooth["outputs"]["segmented"])),
        (f"{chelsea.stem} overlay", Path(smooth["outputs"]["overlay"])),
    ]
