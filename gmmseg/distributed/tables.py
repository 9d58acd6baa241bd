"""The customer-table pipelines on Dask: ``gmmseg customers`` and ``gmmseg anomalies`` with ``--scheduler``.

The table is read lazily (Parquet dataset or CSV glob) with dask.dataframe; FeaturePrep is
fitted on a bounded random sample pulled to the client; every partition is prepared on the
workers with that FeaturePrep; the mixture is fitted by
:func:`gmmseg.distributed.select_components` (data never gathered); the per-row outputs are
lazy dask DataFrames for the caller to write partition by partition
(:func:`~gmmseg.distributed.table_io.write_csv_lazy`); these functions write nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import ParameterError
from ..tables.projection import STABILITY_MAX_ROWS
from ._dask import compute, require_dask
from .mixture import score_samples, select_components
from .table_io import check_columns, lengths_and_sample, read_table_lazy

__all__ = ["segment_table", "score_table", "DaskRows", "PREP_SAMPLE_ROWS"]

#: Rows of the random sample FeaturePrep is fitted on (medians, skew and log1p decisions, scaling,
#: lattice/dequantization decisions, category levels); also the rows of the sample-based summaries.
PREP_SAMPLE_ROWS = 200_000

# --------------------------------------------------------------------------- worker tasks


def _prep_partition(part, prep, noise: bool, seed, columns, projection=None, partition_info=None):
    """Worker: the prepared feature matrix of one partition (a DataFrame, so lengths stay aligned),
    projected on the principal axes of a wide table when ``projection`` is given."""
    import pandas as pd

    number = 0 if partition_info is None else int(partition_info["number"])
    if part.shape[0] == 0:
        return pd.DataFrame(np.empty((0, len(columns))), columns=columns)
    noise_seed = None if seed is None else [int(seed), number]  # other noise in every partition, reproducible
    return pd.DataFrame(_project(prep.transform(part, dequantize=noise, seed=noise_seed), projection), columns=columns)


def _project(Z, projection):
    return Z if projection is None else (Z - projection["center"]) @ projection["axes"]


def _feature_array(frame, prep, lengths, *, noise: bool, seed, projection=None):
    """The prepared (and, for a wide table, projected) features of every partition as a dask
    array with known row blocks (lazy)."""
    import pandas as pd

    columns = [str(c) for c in prep.feature_names_out_]
    if projection is not None:
        columns = [f"pc{i + 1}" for i in range(projection["axes"].shape[1])]
    meta = pd.DataFrame({c: pd.Series(dtype="float64") for c in columns})
    features = frame.map_partitions(_prep_partition, prep, noise, seed, columns, projection, meta=meta)
    return features.to_dask_array(lengths=list(lengths))


def _row_ids(part, id_column, offsets, partition_info):
    number = 0 if partition_info is None else int(partition_info["number"])
    if id_column is None:
        start = int(offsets[number]) if number < len(offsets) else 0
        return np.arange(start, start + part.shape[0])
    ids = part[id_column]
    if ids.dtype.kind == "f":  # integer identifiers read as floats (assume_missing)
        values = ids.to_numpy()
        if np.all(np.isfinite(values) & (np.mod(values, 1) == 0)):
            return ids.astype("Int64").to_numpy()
    return ids.to_numpy()


def _segment_stats_partition(part, model, numeric: list) -> np.ndarray:
    """Worker: per segment, ``[rows, sum of each numeric column, non-missing count of each]`` of one partition."""
    import pandas as pd

    k = len(model.names)
    out = np.zeros((k, 1 + 2 * len(numeric)))
    if part.shape[0] == 0:
        return out
    labels = model.predict(part)
    out[:, 0] = np.bincount(labels, minlength=k)
    for j, col in enumerate(numeric):
        values = pd.to_numeric(part[col], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        ok = np.isfinite(values)
        out[:, 1 + j] = np.bincount(labels[ok], weights=values[ok], minlength=k)
        out[:, 1 + len(numeric) + j] = np.bincount(labels[ok], minlength=k)
    return out


def _assign_partition(part, model, id_name: str, id_column, offsets, partition_info=None):
    """Worker: the ``assignments.csv`` rows of one partition."""
    import pandas as pd

    k = len(model.names)
    proba = model.predict_proba(part) if part.shape[0] else np.empty((0, k))
    labels = proba.argmax(axis=1)
    data = {
        id_name: _row_ids(part, id_column, offsets, partition_info),
        "segment": labels,
        "segment_name": np.asarray(model.names, dtype=object)[labels],
        "confidence": np.round(proba.max(axis=1) if part.shape[0] else np.empty(0), 6),
    }
    for j in range(k):
        data[f"p_segment_{j}"] = np.round(proba[:, j], 6)
    return pd.DataFrame(data)


def _score_partition(
    part, prep, mixture, id_name: str, id_column, offsets, threshold, projection=None, partition_info=None
):
    """Worker: ``scores.csv`` rows of one partition (``flagged`` only when ``threshold`` is given)."""
    import pandas as pd

    scores = mixture.score_samples(_project(prep.transform(part), projection)) if part.shape[0] else np.empty(0)
    out = pd.DataFrame({id_name: _row_ids(part, id_column, offsets, partition_info), "score": scores})
    if threshold is not None:
        out["flagged"] = scores < threshold
    out["score"] = np.round(scores, 6)
    return out


# --------------------------------------------------------------------------- pipelines


class DaskRows:
    """:class:`~gmmseg.tables.customers.CustomerRows` of a lazy dask DataFrame.

    The random ``sample`` (pulled to the client) is described; the mixture is fitted on the
    features of every partition, made on the workers; sizes and means are exact (one pass of
    per-partition sums); the assignments of every row stay lazy.

    Parameters
    ----------
    frame : dask.dataframe.DataFrame
    lengths : list of int
        Rows of every partition.
    sample : pandas.DataFrame
    client : distributed.Client or None
    """

    def __init__(self, frame, lengths, sample, client):
        self.frame, self.lengths, self.sample, self.client = frame, list(lengths), sample, client
        self.n_rows = int(sum(self.lengths))

    def fit(self, prep, ks, types, settings):
        seed = settings["random_state"]
        prep.fit(self.sample)
        Z_fit = _feature_array(self.frame, prep, self.lengths, noise=True, seed=seed)
        # no final multi-start refit on the cluster: every start would be a pass over the table
        selection = select_components(
            Z_fit,
            ks,
            types,
            criterion=settings["criterion"],
            random_state=seed,
            reg_covar=settings["reg_covar"],
            client=self.client,
            progress=settings["progress"],
        )
        rows = np.sort(np.random.default_rng(seed).permutation(self.sample.shape[0])[:STABILITY_MAX_ROWS])
        return selection, selection.best_model, prep.transform(self.sample.iloc[rows], dequantize=True), rows

    def segment_totals(self, model, sample_labels):
        numeric = [
            col
            for col in self.frame.columns
            if col != model.id_column
            and model.prep.roles_.get(str(col)) not in ("id", "date")
            and self.frame[col].dtype.kind in "iuf"
        ]
        dask, _ = require_dask()
        shared = dask.delayed(model, pure=True, traverse=False)
        task = dask.delayed(_segment_stats_partition, pure=True)
        stats = np.sum(compute(self.client, *[task(p, shared, numeric) for p in self.frame.to_delayed()]), axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            means = {col: stats[:, 1 + j] / stats[:, 1 + len(numeric) + j] for j, col in enumerate(numeric)}
        # a 0/1 column's mean is its share; the profiles hold whichever of the two they show
        return stats[:, 0], {f"{col}_{kind}": v for col, v in means.items() for kind in ("mean", "share")}

    def lazy_assignments(self, model, id_column):
        id_name = id_column or "row"
        offsets = np.concatenate([[0], np.cumsum(self.lengths)]).tolist()
        meta = _assign_meta(id_name, len(model.names))
        return self.frame.map_partitions(_assign_partition, model, id_name, id_column, offsets, meta=meta)


def segment_table(
    path,
    *,
    id_column: str | None = None,
    columns: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    n_components: int | str = "auto",
    covariance_type: str = "auto",
    max_components: int = 8,
    random_state: int | None = 0,
    n_seeds: int = 5,
    model=None,
    names: Sequence[str] | None = None,
    client=None,
    sample_rows: int = PREP_SAMPLE_ROWS,
    reg_covar: float = 1e-4,
    progress: Callable | None = None,
):
    """``gmmseg customers`` on a table larger than memory (Parquet dataset or CSV glob), on Dask.

    The pipeline of :func:`gmmseg.tables.customers.segment_customers` over :class:`DaskRows`.
    What is computed where:

    - FeaturePrep (roles, fill medians, log1p and dequantization decisions, scaling, category
      levels) is fitted on a uniform random sample of ``sample_rows`` rows pulled to the client.
    - The features of every partition are made on the workers; K and the covariance type are
      chosen by BIC with :func:`select_components` on them (dequantized as in memory, with
      other noise per partition). No final multi-start refit.
    - Segment sizes, shares and the mean of every numeric column are exact (one pass of
      per-partition sums). Medians, top categories, distinguishing features, segment names,
      the projection and the stability ARI (at most 20,000 rows) come from the sample.
    - Nothing is written: the assignments of every row are a lazy dask DataFrame
      (``result.assignments()``) for the caller to write partition by partition.

    Parameters
    ----------
    path : str or Path
        Parquet dataset (folder, file or glob) or CSV file or glob.
    model : CustomerSegmentModel, optional
        Assign with this model instead of fitting one.
    names : sequence of str, optional
        Column names of CSV files without a header.
    client : distributed.Client, optional
    sample_rows : int, default=200000
    Other parameters as :func:`~gmmseg.tables.customers.segment_customers`.

    Returns
    -------
    CustomerSegmentation
        ``ids``, ``labels``, ``proba`` and ``projection`` describe the sample; ``sizes``,
        ``n_rows`` and the ``size``/``share``/``COL_mean`` profile columns the whole table.
    """
    from ..tables.customers import assign_rows, segment_rows

    frame = read_table_lazy(path, id_column=id_column, names=names)
    check_columns(frame, path, [id_column] if id_column else (), columns, exclude)
    lengths, sample = lengths_and_sample(frame, sample_rows, random_state, client)
    rows = DaskRows(frame, lengths, sample, client)
    if model is not None:
        check_columns(frame, path, model.prep.columns_)
        result = assign_rows(rows, model)
    else:
        result = segment_rows(
            rows,
            id_column=id_column,
            columns=columns,
            exclude=exclude,
            n_components=n_components,
            covariance_type=covariance_type,
            max_components=max_components,
            random_state=random_state,
            n_seeds=n_seeds,
            reg_covar=reg_covar,
            progress=progress,
        )
    result.backend_summary = {
        "distributed": {
            "partitions": len(lengths),
            "prep_sample_rows": int(sample.shape[0]),
            "from_sample": "FeaturePrep, medians, top categories, distinguishing features, names, projection, "
            "stability",
        }
    }
    return result


def _assign_meta(id_name: str, k: int):
    import pandas as pd

    data = {
        id_name: pd.Series(dtype="object"),
        "segment": pd.Series(dtype="int64"),
        "segment_name": pd.Series(dtype="object"),
        "confidence": pd.Series(dtype="float64"),
    }
    data.update({f"p_segment_{j}": pd.Series(dtype="float64") for j in range(k)})
    return pd.DataFrame(data)


def score_table(
    path,
    *,
    reference=None,
    contamination: float | None = 0.01,
    threshold: float | None = None,
    id_column: str | None = None,
    columns: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    names: Sequence[str] | None = None,
    random_state: int | None = 0,
    client=None,
    sample_rows: int = PREP_SAMPLE_ROWS,
    max_components: int = 5,
    trim: float = 0.1,
    reg_covar: float = 1e-3,
) -> tuple[Any, dict[str, Any]]:
    """``gmmseg anomalies`` on a table larger than memory (Parquet dataset or CSV glob), on Dask.

    The joint-mixture part of :class:`~gmmseg.tables.anomalies.TableAnomalyDetector`: FeaturePrep
    (robust scaling; ``skew_transform="auto"``, as the in-memory detector's ``"mixture"`` has not
    been measured on this one-model path) is fitted on a random sample of ``sample_rows`` rows of the reference
    (default: the table itself); K = 1..``max_components`` and full/diag are chosen by BIC with
    :func:`select_components` on the workers (skipping models with a component under 1% of the
    rows); with ``trim`` the fit is repeated without the least likely ``trim`` share of the rows
    (weight 0, cut at an approximate dask quantile). One member, no marginal ensemble, no
    per-row reasons. The threshold is ``threshold`` or the ``contamination`` quantile of the
    reference scores (approximate: dask's quantile of partitioned data).

    ``trim`` stays 0.1 (the in-memory detector's default is 0.2): on the develop half of the
    ADBench sets (``scripts/eval_adbench_dask.py``) this one joint model scored a mean ROC AUC of
    0.884 at 0.1 against 0.876 at 0.2 (pendigits 0.810 -> 0.671); the in-memory 0.2 was chosen
    for the ensemble of joint and per-feature experts.

    Returns
    -------
    scores : dask DataFrame
        Lazy ``(id, score, flagged)`` per row (without ``id_column``, the first column FeaturePrep
        finds to be an identifier, else the row number ``row``); the CLI writes it partition by partition
        (:func:`gmmseg.distributed.table_io.write_csv_lazy`). Nothing is written here.
    summary : dict
        The summary (``n_flagged`` counted on the workers).
    """
    from ..tables.anomalies import (
        FULL_MAX_FEATURES,
        NO_RESTARTS,
        WIDE_COMPONENTS,
        WIDE_FEATURES,
        WIDE_SVD_ROWS,
        best_without_tiny_components,
        principal_axes,
    )
    from ..tables.prepare import FeaturePrep

    if threshold is None and not (contamination is not None and 0.0 < float(contamination) < 0.5):
        raise ParameterError(f"contamination must be in (0, 0.5), got {contamination!r}")
    keep = [id_column] if id_column else []

    def load(source):
        frame = read_table_lazy(source, id_column=id_column, names=names)
        check_columns(frame, source, keep, columns, exclude)
        if columns:
            wanted = set(keep) | set(columns)
            frame = frame[[c for c in frame.columns if c in wanted]]
        if exclude:
            frame = frame[[c for c in frame.columns if c not in set(exclude)]]
        return frame

    frame = load(path)
    ref = load(reference) if reference is not None else frame
    ref_lengths, sample = lengths_and_sample(ref, sample_rows, random_state, client)
    roles = {id_column: "id"} if id_column else None
    prep = FeaturePrep(roles, scaling="robust", random_state=random_state).fit(sample)
    projection = None
    if len(prep.feature_names_out_) > WIDE_FEATURES:  # as TableAnomalyDetector: principal axes of a sample
        axes_rows = sample
        if sample.shape[0] > WIDE_SVD_ROWS:
            chosen = np.random.default_rng(random_state).choice(sample.shape[0], WIDE_SVD_ROWS, replace=False)
            axes_rows = sample.iloc[np.sort(chosen)]
        projection = principal_axes(prep.transform(axes_rows), WIDE_COMPONENTS)
    Z_fit = _feature_array(ref, prep, ref_lengths, noise=True, seed=random_state, projection=projection)
    d = Z_fit.shape[1]
    types = ("full", "diag") if d <= FULL_MAX_FEATURES else ("diag",)
    ks = range(1, int(max_components) + 1)
    n_ref = sum(ref_lengths)
    grid = dict(random_state=random_state, reg_covar=reg_covar, keep_models=True, client=client, restarts=NO_RESTARTS)
    selection = select_components(Z_fit, ks, types, **grid)
    mixture = best_without_tiny_components(selection, n_ref, d)
    if trim > 0:
        dask, da = require_dask()
        first = score_samples(mixture, Z_fit)
        cut = float(np.ravel(compute(client, da.percentile(first, [100.0 * float(trim)]))[0])[0])
        weights = (first > cut).astype(np.float64)
        n_kept = int(compute(client, weights.sum())[0])
        selection = select_components(Z_fit, ks, types, sample_weight=weights, **grid)
        mixture = best_without_tiny_components(selection, n_kept, d)
    if id_column is None:  # an identifier found by FeaturePrep is carried, as in memory
        id_column = prep.first_identifier(frame.columns)
    id_name = id_column or "row"
    if threshold is None:
        ref_offsets = np.concatenate([[0], np.cumsum(ref_lengths)]).tolist()
        meta = _pd_frame({id_name: "object", "score": "float64"})
        ref_scores = ref.map_partitions(
            _score_partition, prep, mixture, id_name, id_column, ref_offsets, None, projection, meta=meta
        )
        threshold_score = float(compute(client, ref_scores["score"].quantile(float(contamination)))[0])
    else:
        threshold_score = float(threshold)
    lengths = ref_lengths if reference is None else [int(n) for n in compute(client, frame.map_partitions(len))[0]]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).tolist()
    meta = _pd_frame({id_name: "object", "score": "float64", "flagged": "bool"})
    scores = frame.map_partitions(
        _score_partition, prep, mixture, id_name, id_column, offsets, threshold_score, projection, meta=meta
    )
    n_flagged = int(compute(client, scores["flagged"].sum())[0])
    summary = {
        "n_components": int(mixture.n_components),
        "covariance_type": mixture.covariance_type,
        "ensemble": "none",
        "n_estimators": 1,
        "trim": float(trim),
        "marginal_components": [],
        "threshold_score": threshold_score,
        "contamination": None if threshold is not None else float(contamination),
        "columns": prep.summary(),
        "criterion_table": selection.table,
        "data": str(path),
        "reference": str(reference) if reference is not None else None,
        "n_rows": int(sum(lengths)),
        "n_flagged": n_flagged,
        "id_column": id_column,
        "distributed": {
            "partitions": len(lengths),
            "prep_sample_rows": int(sample.shape[0]),
            "from_sample": "FeaturePrep (medians, skew decisions, robust scaling, category levels)",
            "approximate": "threshold quantile and trim cut (dask quantiles of partitioned data)",
        },
    }
    if projection is not None:
        summary["reduction"] = {
            "method": "pca",
            "n_features": len(prep.feature_names_out_),
            "n_components": int(projection["axes"].shape[1]),
            "explained_variance": round(float(projection["explained"]), 4),
        }
    return scores, summary


def _pd_frame(dtypes: dict):
    """An empty pandas DataFrame with these column dtypes (a ``meta`` for ``map_partitions``)."""
    import pandas as pd

    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in dtypes.items()})
