"""The customer-table pipelines on Dask: ``gmmseg customers`` and ``gmmseg anomalies`` with ``--scheduler``.

The table is read lazily (Parquet dataset or CSV glob) with dask.dataframe; FeaturePrep is
fitted on a bounded random sample pulled to the client; every partition is prepared on the
workers with that FeaturePrep; the mixture is fitted by
:func:`gmmseg.distributed.select_components` (data never gathered); the per-row outputs are
computed partition by partition and written by the workers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ParameterError, TableError
from ._dask import compute, require_dask
from .mixture import score_samples, select_components
from .table_io import check_columns, lengths_and_sample, read_table_lazy, write_csv_lazy

__all__ = ["segment_table", "score_table", "PREP_SAMPLE_ROWS"]

#: Rows of the random sample FeaturePrep is fitted on (medians, skew and log1p decisions, scaling,
#: lattice/dequantization decisions, category levels); also the rows of the sample-based summaries.
PREP_SAMPLE_ROWS = 200_000

# --------------------------------------------------------------------------- worker tasks


def _prep_partition(part, prep, noise: bool, seed, columns, partition_info=None):
    """Worker: the prepared feature matrix of one partition (a DataFrame, so lengths stay aligned)."""
    import pandas as pd

    number = 0 if partition_info is None else int(partition_info["number"])
    if part.shape[0] == 0:
        return pd.DataFrame(np.empty((0, len(columns))), columns=columns)
    noise_seed = None if seed is None else [int(seed), number]  # other noise in every partition, reproducible
    return pd.DataFrame(prep.transform(part, dequantize=noise, seed=noise_seed), columns=columns)


def _feature_array(frame, prep, lengths, *, noise: bool, seed):
    """The prepared features of every partition as a dask array with known row blocks (lazy)."""
    import pandas as pd

    columns = [str(c) for c in prep.feature_names_out_]
    meta = pd.DataFrame({c: pd.Series(dtype="float64") for c in columns})
    features = frame.map_partitions(_prep_partition, prep, noise, seed, columns, meta=meta)
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


def _score_partition(part, prep, mixture, id_name: str, id_column, offsets, threshold, partition_info=None):
    """Worker: ``scores.csv`` rows of one partition (``flagged`` only when ``threshold`` is given)."""
    import pandas as pd

    scores = mixture.score_samples(prep.transform(part)) if part.shape[0] else np.empty(0)
    out = pd.DataFrame({id_name: _row_ids(part, id_column, offsets, partition_info), "score": scores})
    if threshold is not None:
        out["flagged"] = scores < threshold
    out["score"] = np.round(scores, 6)
    return out


# --------------------------------------------------------------------------- pipelines


def _customer_prep(sample, id_column, columns, exclude, seed):
    """FeaturePrep (fitted on the sample) with the column choices of :func:`gmmseg.tables.customers.segment_customers`."""
    from ..tables.customers import column_roles
    from ..tables.prepare import FeaturePrep

    roles, id_column, profile_only = column_roles(sample, id_column, columns, exclude)
    prep = FeaturePrep(roles, id_column=id_column, random_state=seed).fit(sample)
    return prep, id_column, profile_only


def segment_table(
    path,
    outdir,
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
) -> dict[str, Any]:
    """``gmmseg customers`` on a table larger than memory (Parquet dataset or CSV glob), on Dask.

    What is computed where:

    - FeaturePrep (roles, fill medians, log1p and dequantization decisions, scaling, category
      levels) is fitted on a uniform random sample of ``sample_rows`` rows pulled to the client.
    - The features of every partition are made on the workers; K and the covariance type are
      chosen by BIC with :func:`select_components` on them (dequantized as in memory, with
      other noise per partition). No final multi-start refit.
    - Segment sizes, shares and the mean of every numeric column are exact (one pass of
      per-partition sums). Medians, top categories, distinguishing features, segment names and
      the stability ARI (at most 20,000 rows) come from the sample.
    - ``assignments.csv`` is written by the workers partition by partition into a temporary
      file in ``outdir``, then renamed (so ``outdir`` must be reachable from the workers).

    Writes ``assignments.csv`` and (when fitting) ``model.gmmseg`` into ``outdir``; returns
    ``{"profiles": DataFrame, "summary": dict}`` for the caller to write.
    """
    from ..core.restarts import seed_stability
    from ..tables.customers import COVARIANCE_AUTO
    from ..tables.naming import segment_names
    from ..tables.profiles import distinguishing_features, segment_profiles
    from ..tables.segment_model import CustomerSegmentModel

    outdir = Path(outdir)
    frame = read_table_lazy(path, id_column=id_column, names=names)
    check_columns(frame, path, [id_column] if id_column else (), columns, exclude)
    lengths, sample = lengths_and_sample(frame, sample_rows, random_state, client)
    n_rows = sum(lengths)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).tolist()
    selection = None
    profile_only: list[str] = []
    if model is not None:
        prep, id_column = model.prep, (model.id_column if model.id_column in frame.columns else None)
        check_columns(frame, path, prep.columns_)
        seg_model = model
    else:
        prep, id_column, profile_only = _customer_prep(sample, id_column, columns, exclude, random_state)
        types = COVARIANCE_AUTO if covariance_type == "auto" else (covariance_type,)
        ks = list(range(1, int(max_components) + 1)) if n_components == "auto" else [int(n_components)]
        Z_fit = _feature_array(frame, prep, lengths, noise=True, seed=random_state)
        selection = select_components(
            Z_fit, ks, types, random_state=random_state, reg_covar=reg_covar, client=client, progress=progress
        )
        mixture = selection.best_model
        k = mixture.n_components
        seg_model = CustomerSegmentModel(prep, mixture, np.arange(k), [str(i) for i in range(k)], id_column)
    if id_column is not None and id_column not in frame.columns:
        raise TableError(f"id column {id_column!r} not found in {path}")
    numeric = []
    for col in frame.columns:
        role = prep.roles_.get(str(col))
        if col != id_column and role not in ("id", "date") and frame[col].dtype.kind in "iuf":
            numeric.append(col)
    # exact per-segment sizes and sums: one pass, small arrays back
    dask, _ = require_dask()
    shared = dask.delayed(seg_model, pure=True, traverse=False)
    task = dask.delayed(_segment_stats_partition, pure=True)
    parts = compute(client, *[task(p, shared, numeric) for p in frame.to_delayed()])
    stats = np.sum(parts, axis=0)
    k = stats.shape[0]
    if model is None:  # segments numbered by size, largest first
        order = np.argsort(-stats[:, 0], kind="stable")
        seg_model.mixture.permute_components(order)
        stats = stats[order]
    Z_sample = prep.transform(sample)
    labels_sample = seg_model.predict(sample)
    distinguishing = distinguishing_features(sample, prep, Z_sample, labels_sample, k)
    if model is None:
        seg_model.names = segment_names(distinguishing)
        rows = np.random.default_rng(random_state).permutation(sample.shape[0])[:20_000]
        sub = sample.iloc[np.sort(rows)]
        stability = seed_stability(
            prep.transform(sub, dequantize=True),
            seg_model.predict(sub),
            seg_model.mixture,
            n_seeds=n_seeds,
            n_init=4,
            random_state=random_state,
            reg_covar=reg_covar,
            dtype="float64",
        )
        seg_model.save(outdir / "model.gmmseg")
    else:
        stability = {}
    profiles = segment_profiles(sample, labels_sample, seg_model.names, id_column, prep)
    sizes = stats[:, 0]
    profiles["size"] = sizes.astype(int)
    profiles["share"] = sizes / max(1, n_rows)
    for j, col in enumerate(numeric):
        with np.errstate(invalid="ignore", divide="ignore"):
            profiles[f"{col}_mean"] = stats[:, 1 + j] / stats[:, 1 + len(numeric) + j]
    id_name = id_column or "row"
    out = frame.map_partitions(
        _assign_partition,
        seg_model,
        id_name,
        id_column,
        offsets,
        meta=_assign_meta(id_name, k),
    )
    write_csv_lazy(out, outdir / "assignments.csv", client)
    mix = seg_model.mixture
    summary = {
        "n_rows": int(n_rows),
        "id_column": id_column,
        "columns": prep.summary(),
        "model_columns": list(prep.columns_),
        "profile_only_columns": profile_only,
        "n_segments": int(k),
        "covariance_type": mix.covariance_type,
        "criterion": selection.criterion if selection else None,
        "criterion_table": selection.table if selection else [],
        "interior_minimum": bool(selection.has_interior_minimum()) if selection else None,
        "segments": [
            {
                "segment": s,
                "name": seg_model.names[s],
                "size": int(sizes[s]),
                "share": float(sizes[s] / max(1, n_rows)),
                "distinguishing": distinguishing[s][:5],
            }
            for s in range(k)
        ],
        "stability": stability,
        "distributed": {
            "partitions": len(lengths),
            "prep_sample_rows": int(sample.shape[0]),
            "from_sample": "FeaturePrep, medians, top categories, distinguishing features, names, stability",
        },
    }
    return {"profiles": profiles, "summary": summary}


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
    outdir,
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
) -> dict[str, Any]:
    """``gmmseg anomalies`` on a table larger than memory (Parquet dataset or CSV glob), on Dask.

    The joint-mixture part of :class:`~gmmseg.tables.anomalies.TableAnomalyDetector`: FeaturePrep
    (robust scaling) is fitted on a random sample of ``sample_rows`` rows of the reference
    (default: the table itself); K = 1..``max_components`` and full/diag are chosen by BIC with
    :func:`select_components` on the workers (skipping models with a component under 1% of the
    rows); with ``trim`` the fit is repeated without the least likely ``trim`` share of the rows
    (weight 0, cut at an approximate dask quantile). One member, no marginal ensemble, no
    per-row reasons. The threshold is ``threshold`` or the ``contamination`` quantile of the
    reference scores (approximate: dask's quantile of partitioned data).

    Writes ``scores.csv`` (id, score, flagged) into ``outdir`` (by the workers, partition by
    partition, into a temporary file that is then renamed); returns the summary dict.
    """
    from ..tables.anomalies import FULL_MAX_FEATURES, best_without_tiny_components
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
    Z_fit = _feature_array(ref, prep, ref_lengths, noise=True, seed=random_state)
    d = Z_fit.shape[1]
    types = ("full", "diag") if d <= FULL_MAX_FEATURES else ("diag",)
    ks = range(1, int(max_components) + 1)
    n_ref = sum(ref_lengths)
    grid = dict(random_state=random_state, reg_covar=reg_covar, keep_models=True, client=client)
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
    id_name = id_column or "row"
    if threshold is None:
        ref_offsets = np.concatenate([[0], np.cumsum(ref_lengths)]).tolist()
        meta = _pd_frame({id_name: "object", "score": "float64"})
        ref_scores = ref.map_partitions(
            _score_partition, prep, mixture, id_name, id_column, ref_offsets, None, meta=meta
        )
        threshold_score = float(compute(client, ref_scores["score"].quantile(float(contamination)))[0])
    else:
        threshold_score = float(threshold)
    lengths = ref_lengths if reference is None else [int(n) for n in compute(client, frame.map_partitions(len))[0]]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).tolist()
    meta = _pd_frame({id_name: "object", "score": "float64", "flagged": "bool"})
    scores = frame.map_partitions(
        _score_partition, prep, mixture, id_name, id_column, offsets, threshold_score, meta=meta
    )
    write_csv_lazy(scores, Path(outdir) / "scores.csv", client)
    n_flagged = int(compute(client, scores["flagged"].sum())[0])
    return {
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


def _pd_frame(dtypes: dict):
    """An empty pandas DataFrame with these column dtypes (a ``meta`` for ``map_partitions``)."""
    import pandas as pd

    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in dtypes.items()})
