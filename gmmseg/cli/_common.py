"""Shared CLI plumbing: exit codes, error mapping, output helpers, progress."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from ..errors import GmmsegError

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

#: Documented exit codes of every command.
EXIT_OK = 0
EXIT_FOUND = 1  # defects found under --fail-on-defect
EXIT_BAD_INPUT = 2  # bad input, usage or model file; nothing (more) was done
EXIT_PARTIAL = 3  # a batch finished, but some items failed (listed at the end)
EXIT_INTERNAL = 4  # an unexpected error: a bug, please report it
EXIT_INTERRUPTED = 130
EXIT_CODES = {
    EXIT_OK: "success",
    EXIT_FOUND: "defects found (only with --fail-on-defect)",
    EXIT_BAD_INPUT: "bad input, bad usage or an unreadable model file",
    EXIT_PARTIAL: "a batch finished but some items failed (they are listed)",
    EXIT_INTERNAL: "internal error (a bug: please report it with GMMSEG_DEBUG=1 output)",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C)",
}


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


class GmmsegGroup(click.Group):
    """A Click group that turns every error into one line on stderr and an exit code."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except GmmsegError as exc:
            click.echo(f"gmmseg: error: {_one_line(exc)}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("gmmseg: interrupted", err=True)
            ctx.exit(EXIT_INTERRUPTED)
        except BrokenPipeError:
            # the reader went away (e.g. `gmmseg ... | head`): stop quietly, as Python's docs advise
            _silence_stdout()
            ctx.exit(EXIT_OK)
        except MemoryError:
            click.echo("gmmseg: error: out of memory; use a smaller input or --bits/--k-max", err=True)
            ctx.exit(EXIT_BAD_INPUT)
        except Exception as exc:
            if os.environ.get("GMMSEG_DEBUG"):
                raise
            click.echo(
                f"gmmseg: internal error: {type(exc).__name__}: {_one_line(exc)} "
                "(a bug; rerun with GMMSEG_DEBUG=1 for details and please report it)",
                err=True,
            )
            ctx.exit(EXIT_INTERNAL)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def main_entry(group: click.Group, argv: list[str] | None = None) -> None:
    try:
        group.main(args=argv, prog_name="gmmseg")
    except KeyboardInterrupt:
        click.echo("gmmseg: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except BrokenPipeError:
        _silence_stdout()
        sys.exit(EXIT_OK)


def is_quiet(ctx: click.Context, local_quiet: bool = False) -> bool:
    root = ctx.find_root()
    return bool(local_quiet or (root.obj or {}).get("quiet"))


def quiet_option(func):
    return click.option("-q", "--quiet", "quiet", is_flag=True, help="Hide progress and summaries.")(func)


def json_option(func):
    return click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")(func)


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=_json_default))


def _json_default(value):
    import numpy as np

    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def write_json(path: Path, data: Any) -> Path:
    """Write JSON atomically."""
    from ..core.persist import atomic_write_bytes

    atomic_write_bytes(Path(path), (json.dumps(data, indent=2, default=_json_default) + "\n").encode("utf-8"))
    return Path(path)


def ensure_outdir(path) -> Path:
    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        from ..errors import InputError

        raise InputError(f"cannot create output folder {out}: {exc.strerror}; choose another with -o") from None
    return out


def progress(items, *, label: str, quiet: bool, length: int | None = None):
    """A progress bar on stderr (hidden when quiet or when there is one item)."""
    seq = list(items) if length is None else items
    n = len(seq) if length is None else length
    if quiet or n <= 1:
        return _NullBar(seq)
    return click.progressbar(seq, length=n, label=label, file=sys.stderr, show_pos=True, show_eta=True)


class _NullBar:
    def __init__(self, items):
        self.items = items

    def __enter__(self):
        return iter(self.items)

    def __exit__(self, *exc):
        return False


def scheduler_option(func):
    """``--scheduler``: run a batch on a Dask cluster (``local:N`` or ``tcp://host:8786``)."""
    return click.option(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="Run the batch on Dask: 'local:N' starts N local worker processes, or a scheduler "
        "address (tcp://host:8786) or scheduler file. Workers read the inputs and write the outputs "
        "themselves, so both paths must be reachable from every worker. Needs gmmseg[dask].",
    )(func)


class ItemFailed(str):
    """A batch item's one-line error (a ``str``, so it travels back from Dask workers as it is)."""


def guarded_call(func, item):
    """Run ``func(item)``; turn an expected failure (bad input, out of memory) into :class:`ItemFailed`.

    Top-level so that Dask can ship it; unexpected exceptions still propagate (and are retried).
    """
    try:
        return func(item)
    except GmmsegError as exc:
        return ItemFailed(_one_line(exc))
    except MemoryError:
        return ItemFailed(f"out of memory on {item}; use a smaller input or fewer components")


def run_batch(func, items, *, scheduler: str | None, quiet: bool, label: str) -> list[tuple[Any, Any]]:
    """Run ``func`` on every item, in this process or on a Dask cluster; never stop at a bad item.

    Returns ``(item, outcome)`` in input order, where a failed item's outcome is a
    :class:`ItemFailed` message. ``func`` must be a top-level function (or a
    :func:`functools.partial` of one) so that Dask can send it to the workers.
    """
    import functools

    items = list(items)
    task = functools.partial(guarded_call, func)
    if scheduler is None:
        outcomes = []
        with progress(items, label=label, quiet=quiet) as bar:
            for item in bar:
                outcomes.append((item, task(item)))
        return outcomes
    from ..distributed import TaskError, get_client, map_files

    bar = None if quiet or len(items) <= 1 else click.progressbar(length=len(items), label=label, file=sys.stderr)

    def advance(done, total, item, outcome):
        if bar is not None:
            bar.update(1)

    with get_client(scheduler) as client:
        if bar is not None:
            bar.__enter__()
        try:
            results = map_files(task, items, client=client, retries=2, progress=advance)
        finally:
            if bar is not None:
                bar.__exit__(None, None, None)
    return [(item, ItemFailed(str(out)) if isinstance(out, TaskError) else out) for item, out in results]
