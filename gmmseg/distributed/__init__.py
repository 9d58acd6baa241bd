"""Dask backend: the EM core run on the chunks of a Dask collection, file batches and tables on a cluster.

Nothing else in gmmseg imports Dask; Dask itself is imported inside the functions that
need it, so ``import gmmseg.distributed`` works without it and every entry point raises a
one-line :class:`DaskNotInstalledError` naming the fix.

Modules, one job each:

- :mod:`~gmmseg.distributed.cluster`: start or connect to a cluster (:func:`get_client`).
- :mod:`~gmmseg.distributed.batches`: independent items on the cluster, failures reported
  per item as :class:`~gmmseg.errors.FailedItem` (:func:`map_files`).
- :mod:`~gmmseg.distributed.blocks`: the row blocks of a Dask collection and the passes
  over them (summary, moments, E-steps), one task per block.
- :mod:`~gmmseg.distributed.mixture`: EM and model selection on Dask collections through
  the core's row-source seam (:class:`~gmmseg.core.em.RowSource`), and lazy prediction.
- :mod:`~gmmseg.distributed.table_io`: read tables lazily, write them partition by partition.
- :mod:`~gmmseg.distributed.tables`: the customer-table pipelines (:func:`segment_table`,
  :func:`score_table`).
"""

from ._dask import DaskNotInstalledError
from .batches import map_files
from .cluster import get_client
from .mixture import fit_mixture, predict, predict_proba, score_samples, select_components
from .table_io import read_table_lazy
from .tables import PREP_SAMPLE_ROWS, score_table, segment_table

__all__ = [
    "fit_mixture",
    "select_components",
    "predict",
    "predict_proba",
    "score_samples",
    "get_client",
    "map_files",
    "DaskNotInstalledError",
    "read_table_lazy",
    "segment_table",
    "score_table",
    "PREP_SAMPLE_ROWS",
]
