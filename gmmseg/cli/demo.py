"""``gmmseg demo``: run the main jobs on bundled samples and say where the outputs are.

Each job is a function registered with :func:`demo_step` taking ``(outdir, quiet)`` and
returning a list of ``(description, path)`` lines to print; steps run in ``order``.
Command modules register their own step, so adding a feature never edits this file.
"""

from __future__ import annotations

from pathlib import Path

import click

from ._common import ensure_outdir, is_quiet, quiet_option, write_json
from ._group import cli


def sample_folder(*parts: str) -> Path | None:
    """The bundled ``sample_images`` folder (or a subfolder), wherever this gmmseg runs from.

    Looked for in order: ``$GMMSEG_SAMPLES``; ``./sample_images`` (the project checkout, as in
    the README's set-up command); the source tree next to the package (editable installs);
    ``<prefix>/share/gmmseg/sample_images`` (installed with the wheel as data files).
    """
    import os
    import sys

    candidates = []
    if os.environ.get("GMMSEG_SAMPLES"):
        candidates.append(Path(os.environ["GMMSEG_SAMPLES"]))
    candidates += [
        Path.cwd() / "sample_images",
        Path(__file__).resolve().parents[2] / "sample_images",
        Path(sys.prefix) / "share" / "gmmseg" / "sample_images",
    ]
    for folder in candidates:
        target = folder.joinpath(*parts)
        if target.is_dir():
            return target
    return None


#: Registered steps as ``(order, function)``.
DEMO_STEPS: list[tuple[int, object]] = []


def demo_step(order: int):
    """Register ``func(outdir, quiet) -> [(label, path), ...]`` as a demo step."""

    def register(func):
        DEMO_STEPS.append((order, func))
        return func

    return register


@demo_step(order=90)
def demo_table_selection(outdir: Path, quiet: bool) -> list[tuple[str, Path]]:
    """Model selection on the iris measurements (bundled with scikit-learn, BSD licence)."""
    from sklearn.datasets import load_iris

    from ..core.selection import select_components
    from ..reports.plots import plot_criterion

    iris = load_iris()
    folder = ensure_outdir(outdir / "table")
    result = select_components(iris.data, range(1, 8), random_state=0)
    plot_criterion(result, folder / "iris.bic.png", title="BIC for the iris measurements (150 flowers, 4 features)")
    result.best_model.save(folder / "iris.model.npz")
    write_json(folder / "iris.selection.json", result.summary())
    if not quiet:
        click.echo(
            f"iris table: BIC chooses K={result.best_n_components} {result.best_covariance_type} "
            "(3 species, two of which overlap)"
        )
    return [
        ("criterion curves", folder / "iris.bic.png"),
        ("selection table", folder / "iris.selection.json"),
        ("fitted model", folder / "iris.model.npz"),
    ]


@cli.command("demo")
@click.option(
    "-o", "--outdir", type=click.Path(file_okay=False, path_type=Path), default="gmmseg-demo", show_default=True
)
@quiet_option
@click.pass_context
def demo_command(ctx, outdir, quiet):
    """Run gmmseg's main jobs on the bundled samples and print where the outputs are."""
    quiet = is_quiet(ctx, quiet)
    outdir = ensure_outdir(outdir)
    lines: list[tuple[str, Path]] = []
    for _, step in sorted(DEMO_STEPS, key=lambda item: item[0]):
        lines.extend(step(outdir, quiet))
    if not quiet:
        click.echo(f"outputs in {outdir.resolve()}:")
        for label, path in lines:
            click.echo(f"  {label:<28} {path}")
