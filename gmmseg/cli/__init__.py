"""The ``gmmseg`` command line: a Click group whose commands are glue.

Each command parses its options, calls one library function, writes files and
prints a short summary (or ``--json``). Errors print one line to stderr and exit
with a documented code (see :mod:`gmmseg.cli._common`); never a traceback.

Commands live in one module each under this package and register themselves on
the group :data:`cli`.
"""

from __future__ import annotations

# Importing a command module registers its commands on ``cli``.
from . import demo as _demo  # noqa: F401
from . import select as _select  # noqa: F401
from ._common import EXIT_CODES, GmmsegGroup, main_entry
from ._group import cli

__all__ = ["cli", "main", "EXIT_CODES", "GmmsegGroup"]


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    main_entry(cli, argv)
