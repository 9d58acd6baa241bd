"""The ``gmmseg`` command line: a Click group whose commands are glue.

Each command parses its options, calls one library function, writes files and
prints a short summary (or ``--json``). Errors print one line to stderr and exit
with a documented code (see :mod:`gmmseg.cli._common`); never a traceback.

Commands live in one module each under this package and register themselves
(and their ``gmmseg demo`` step) on the group :data:`cli` when imported: every
public module of this package is imported here.
"""

from __future__ import annotations

import importlib
import pkgutil

from ._common import EXIT_CODES, GmmsegGroup, main_entry
from ._group import cli

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if not _info.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_info.name}")

__all__ = ["cli", "main", "EXIT_CODES", "GmmsegGroup"]


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    main_entry(cli, argv)
