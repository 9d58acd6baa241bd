"""The root Click group (kept apart so command modules can import it without cycles)."""

from __future__ import annotations

import click

from .. import __version__
from ._common import CONTEXT_SETTINGS, GmmsegGroup


@click.group(cls=GmmsegGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "--version", prog_name="gmmseg", message="%(prog)s %(version)s")
@click.option("-q", "--quiet", is_flag=True, help="Hide progress and summaries (errors still print).")
@click.pass_context
def cli(ctx: click.Context, quiet: bool) -> None:
    """gmmseg: Gaussian mixture models for photos, factory images and customer tables.

    Exit codes: 0 success; 1 defects found (with --fail-on-defect); 2 bad input,
    usage or model file; 3 a batch finished but some items failed (they are
    listed); 4 internal error (please report); 130 interrupted.
    """
    ctx.ensure_object(dict)
    ctx.obj["quiet"] = quiet
