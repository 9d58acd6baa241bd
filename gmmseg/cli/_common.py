"""Shared CLI plumbing: exit codes, error mapping, output helpers, progress."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import click

from ..errors import FailedItem, GmmsegError, OutputError

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


class _OneLineError(click.ClickException):
    """A Click error (bad usage, a bad option value) shown as one line: ``gmmseg: error: <what>; <fix>``."""

    def __init__(self, error: click.ClickException):
        super().__init__(error.format_message())
        self.exit_code = error.exit_code
        self.ctx = getattr(error, "ctx", None)

    def show(self, file=None) -> None:
        what = _one_line(self.message).rstrip(".")
        if self.ctx is not None:
            what += f"; try '{self.ctx.command_path} {self.ctx.help_option_names[0]}'"
        click.echo(f"gmmseg: error: {what}", err=True)


def _one_line_usage(error: click.ClickException) -> click.ClickException:
    # "gmmseg" alone shows the help (NoArgsIsHelpError): that stays as Click prints it.
    if isinstance(error, _OneLineError) or type(error).__name__ == "NoArgsIsHelpError":
        return error
    return _OneLineError(error)


class GmmsegGroup(click.Group):
    """A Click group that turns every error into one line on stderr and an exit code."""

    def make_context(self, info_name, args, parent=None, **extra) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.ClickException as exc:
            raise _one_line_usage(exc) from None

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort):
            raise
        except click.ClickException as exc:
            raise _one_line_usage(exc) from None
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


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings as one line, ``gmmseg: warning: ...``, on stderr (not Python's file:line form)."""
    click.echo(f"gmmseg: warning: {_one_line(str(message))}", err=True)


def main_entry(group: click.Group, argv: list[str] | None = None) -> None:
    """Run ``group`` as the ``gmmseg`` program: warnings and interrupts as one line each."""
    import warnings

    warnings.showwarning = _show_warning
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
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def echo_summary(data: Any, as_json: bool, *, lines: Iterable[str] | None = None) -> None:
    """Print a command's summary on stdout: JSON with ``--json``, else short human lines.

    Parameters
    ----------
    data : dict
        The summary (JSON-able, numpy scalars and arrays and paths included).
    as_json : bool
        Print ``data`` as indented JSON.
    lines : iterable of str, optional
        The human form; default: one ``key: value`` line per entry of ``data`` (nested
        dicts as ``key.subkey``, lists of scalars joined by commas, other lists by their length).
    """
    if as_json:
        echo_json(data)
        return
    for line in _summary_lines(data) if lines is None else lines:
        click.echo(line)


def _summary_lines(data: Any, prefix: str = "") -> list[str]:
    if not isinstance(data, dict):
        return [f"{prefix}{data}"]
    out = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.extend(_summary_lines(value, f"{name}."))
        elif isinstance(value, (list, tuple)):
            scalars = all(isinstance(v, (str, int, float, bool)) or v is None for v in value)
            shown = ", ".join(str(v) for v in value) if scalars else f"{len(value)} item(s)"
            out.append(f"{name}: {shown}")
        else:
            out.append(f"{name}: {value}")
    return out


def write_json(path: Path, data: Any) -> Path:
    """Write JSON atomically."""
    from ..files import atomic_write_bytes

    atomic_write_bytes(Path(path), (json.dumps(data, indent=2, default=_json_default) + "\n").encode("utf-8"))
    return Path(path)


class ComponentsType(click.ParamType):
    """``-k``: a number of components ``N`` or ``auto``; with ``lists=True`` also ``1-10`` or ``2,4,8``.

    Parameters
    ----------
    auto : bool, default=True
        Accept ``auto`` (converted to the string ``"auto"``).
    lists : bool, default=False
        Accept a range ``LOW-HIGH`` or a comma list; every value converts to a sorted
        ``list[int]`` without repeats (``"4"`` to ``[4]``).

    Examples
    --------
    >>> ComponentsType().convert("auto", None, None), ComponentsType().convert(" 4 ", None, None)
    ('auto', 4)
    >>> ComponentsType(auto=False, lists=True).convert("3-5", None, None)
    [3, 4, 5]
    """

    name = "components"

    def __init__(self, *, auto: bool = True, lists: bool = False):
        self.auto = auto
        self.lists = lists

    def get_metavar(self, param, ctx=None) -> str:
        forms = ["N"] + (["LOW-HIGH", "N,N,..."] if self.lists else []) + (["auto"] if self.auto else [])
        return "|".join(forms)

    def convert(self, value, param, ctx):
        if isinstance(value, int) and not isinstance(value, bool):
            values = [value]
        elif isinstance(value, list) and self.lists:
            values = list(value)
        else:
            text = str(value).strip().lower()
            if self.auto and text == "auto":
                return "auto"
            values = self._parse(text, value, param, ctx)
        if not values or min(values) < 1:
            self.fail(f"{value!r} gives no number of components of at least 1; use {self._example()}", param, ctx)
        return sorted(set(values)) if self.lists else values[0]

    def _parse(self, text: str, value, param, ctx) -> list[int]:
        try:
            if self.lists and "-" in text.lstrip("-"):
                low, high = (int(v) for v in text.split("-", 1))
                return list(range(low, high + 1))
            if self.lists:
                return [int(v) for v in text.split(",") if v.strip()]
            return [int(text)]
        except ValueError:
            self.fail(f"{value!r} is not a number of components; use {self._example()}", param, ctx)

    def _example(self) -> str:
        return "e.g. 4, 1-10 or 2,4,8" if self.lists else "e.g. 4" + (" or auto" if self.auto else "")


def output_stems(paths: Sequence[str | Path]) -> list[str]:
    """One output stem per input path, distinct for any set of paths.

    A path whose stem (file name without its last suffix) no other input shares, ignoring
    case (so names stay distinct on case-insensitive file systems), keeps it. Paths that share
    a stem are numbered in input order, ``part-1``, ``part-2``, ..., skipping any name
    already taken. The result depends only on the list of paths.

    Parameters
    ----------
    paths : sequence of str or Path
        The inputs, in order.

    Returns
    -------
    list of str
        ``len(paths)`` stems, pairwise distinct (ignoring case), in the order of ``paths``.

    Examples
    --------
    >>> output_stems(["a/part.png", "b/part.png", "c/part-2.png", "d.jpg"])
    ['part-1', 'part-3', 'part-2', 'd']
    """
    stems = [Path(p).stem or "image" for p in paths]
    counts: dict[str, int] = {}
    for stem in stems:
        counts[stem.casefold()] = counts.get(stem.casefold(), 0) + 1
    taken = {stem.casefold() for stem in stems if counts[stem.casefold()] == 1}
    out = []
    for stem in stems:
        if counts[stem.casefold()] == 1:
            out.append(stem)
            continue
        number = 1
        while f"{stem}-{number}".casefold() in taken:
            number += 1
        name = f"{stem}-{number}"
        taken.add(name.casefold())
        out.append(name)
    return out


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


@contextlib.contextmanager
def progress_counter(total: int, *, label: str, quiet: bool) -> Iterator[Callable[..., None]]:
    """A progress bar on stderr advanced by the callback it yields (``callback(done, total, ...)``).

    Hidden when quiet or when there is at most one item; the callback then does nothing.
    """
    if quiet or total <= 1:
        yield lambda *args: None
        return
    with click.progressbar(length=total, label=label, file=sys.stderr, show_pos=True, show_eta=True) as bar:
        yield lambda *args: bar.update(1)


class _NullBar:
    def __init__(self, items):
        self.items = items

    def __enter__(self):
        return iter(self.items)

    def __exit__(self, *exc):
        return False


def write_all(writers: Iterable[Callable[[], Any]]) -> None:
    """Call every writer even if some fail; then raise the first :class:`OutputError`, if any.

    So one output that cannot be written (e.g. a big report on a nearly full disk) does not
    cost the others.

    Parameters
    ----------
    writers : iterable of callable
        Each writes one output.
    """
    first: OutputError | None = None
    for write in writers:
        try:
            write()
        except OutputError as exc:
            first = first or exc
    if first is not None:
        raise first


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


class _FatalOutput(str):
    """The message of a fatal :class:`OutputError` on one item: the batch runner stops on it."""


def guarded_call(func, item):
    """Run ``func(item)``; turn an expected failure (bad input, out of memory) into a failed item.

    Top-level so that Dask can ship it; unexpected exceptions still propagate (and are retried).
    A fatal :class:`~gmmseg.errors.OutputError` (disk full, read-only, permission) is returned
    as a marker that :func:`run_batch` turns back into the error, stopping the batch.

    Parameters
    ----------
    func : callable
        ``func(item)`` does the work of one batch item.
    item : object
        Usually a path.

    Returns
    -------
    object or FailedItem
        ``func(item)``, or the one-line :class:`~gmmseg.errors.FailedItem` message of an expected failure.
    """
    try:
        return func(item)
    except OutputError as exc:
        return _FatalOutput(_one_line(exc)) if exc.fatal else FailedItem(_one_line(exc))
    except GmmsegError as exc:
        return FailedItem(_one_line(exc))
    except MemoryError:
        return FailedItem(f"out of memory on {item}; use a smaller input or fewer components")


def _stop_on_fatal(outcome, done: int, total: int) -> None:
    if isinstance(outcome, _FatalOutput):
        error = OutputError(f"{outcome} (the batch stopped after {done - 1} of {total} items)")
        error.fatal = True
        raise error


def run_batch(func, items, *, scheduler: str | None, quiet: bool, label: str) -> list[tuple[Any, Any]]:
    """Run ``func`` on every item, in this process or on a Dask cluster; a bad item does not stop it.

    An item that fails (bad input, an output that cannot be written) is that item's failure
    and the batch goes on; a fatal :class:`~gmmseg.errors.OutputError` (no output can be
    written there: disk full, read-only, permission denied) stops the batch at once.

    Parameters
    ----------
    func : callable
        A top-level function (or a :func:`functools.partial` of one) so that Dask can send it
        to the workers.
    items : iterable
        The batch, usually paths.
    scheduler : str or None
        None runs in this process; otherwise a ``--scheduler`` address (see :func:`scheduler_option`).
    quiet : bool
        Hide the progress bar.
    label : str
        The progress bar's label.

    Returns
    -------
    list of (item, outcome)
        In input order; a failed item's outcome is a :class:`~gmmseg.errors.FailedItem`.

    Raises
    ------
    OutputError
        Fatal, naming the cause; the items queued after it were not run.
    """
    import functools

    items = list(items)
    task = functools.partial(guarded_call, func)
    if scheduler is None:
        outcomes = []
        with progress(items, label=label, quiet=quiet) as bar:
            for item in bar:
                outcomes.append((item, task(item)))
                _stop_on_fatal(outcomes[-1][1], len(outcomes), len(items))
        return outcomes
    from ..distributed import get_client, map_files

    with get_client(scheduler) as client, progress_counter(len(items), label=label, quiet=quiet) as advance:

        def on_done(done, total, item, outcome):
            advance()
            _stop_on_fatal(outcome, done, total)  # map_files cancels what is still queued

        return map_files(task, items, client=client, retries=2, progress=on_done)
