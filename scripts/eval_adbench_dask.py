"""The Dask anomaly model (``gmmseg anomalies --scheduler``) as ``eval_adbench.py`` variants, one per trimmed share.

Each variant writes the set's rows to a Parquet file and runs
:func:`gmmseg.distributed.score_table` on it (Dask's default scheduler, one partition): FeaturePrep
on a sample (all rows here: every set is under 200,000 rows), the joint mixture by BIC, then
the trimmed refit. Used to choose the Dask default ``trim`` on the develop half:

    nice -n 15 python scripts/eval_adbench.py --half develop --methods iforest \\
        --variants-from scripts/eval_adbench_dask.py --variant dask_trim_0.1 --variant dask_trim_0.2
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np


class DaskScores:
    """``fit(X)`` sets ``decision_scores_`` (higher = more abnormal) from the Dask ``score_table``."""

    def __init__(self, trim: float):
        self.trim = trim

    def fit(self, X: np.ndarray) -> DaskScores:
        import pandas as pd

        from gmmseg.distributed import score_table

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "table.parquet"
            pd.DataFrame(X, columns=[f"x{j}" for j in range(X.shape[1])]).to_parquet(path)
            scores, _ = score_table(str(path), trim=self.trim)
            table = scores.compute().sort_values("row")
        self.decision_scores_ = -table["score"].to_numpy(dtype=np.float64)
        return self


VARIANTS = {f"dask_trim_{t}": (lambda t=t: DaskScores(t)) for t in (0.1, 0.2)}
