"""``gmmseg rfm``, ``gmmseg customers`` and ``gmmseg anomalies``: customer tables.

One module per command (:mod:`.rfm`, :mod:`.customers`, :mod:`.anomalies`), the shared
options and readers in :mod:`._options`; importing this package registers the commands.

Column options take a column name, or with ``--no-header`` a 0-based position (``--customer 0``)
or a name given by ``--names``. Exit codes: 0 success, 2 bad input, usage or model file,
4 internal error. Outputs are written atomically; inputs are never modified.
"""

from __future__ import annotations

from . import anomalies, customers, rfm

__all__ = ["anomalies", "customers", "rfm"]
