"""What describes each segment: distinguishing features and profiles in the table's own units."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import TableError
from .prepare import FeaturePrep

__all__ = ["distinguishing_features", "segment_profiles", "is_binary"]


def is_binary(series) -> bool:
    """Whether a column holds 0/1 flags (profiled as a share, "62% partner", not a mean and median).

    Parameters
    ----------
    series : pandas.Series of shape (n_rows,)

    Returns
    -------
    bool
        True for a numeric column whose non-missing values are exactly 0 and 1.
    """
    import pandas as pd

    if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        return False
    return set(pd.unique(series.dropna())) == {0, 1}


def distinguishing_features(frame, prep: FeaturePrep, Z, labels, k) -> list[list[dict[str, Any]]]:
    """Per segment: standardized differences of the modelled numeric features (in the model's
    feature space, so skewed columns are compared after their transform) and category lifts.

    Parameters
    ----------
    frame : pandas.DataFrame of shape (n_rows, n_columns)
        The table (categorical columns are read from it).
    prep : FeaturePrep
        The fitted preparation that made ``Z``.
    Z : ndarray of shape (n_rows, n_features)
        The prepared features.
    labels : ndarray of int of shape (n_rows,)
        Segment of every row.
    k : int
        Number of segments.

    Returns
    -------
    list of k lists of dict
        Per segment, features sorted by ``importance``: ``column``, ``kind`` ("numeric" with
        ``std_diff``; "binary", a two-valued column, with ``std_diff``, ``level`` (its upper
        value) and ``share`` (of the segment's rows with it); or "category" with ``level``,
        ``lift`` and ``share``).
    """
    out = []
    mean_all = np.array([Z[:, j].mean() for j in range(Z.shape[1])])  # per column: no (n, F) temporary
    sd_all = np.array([Z[:, j].std() for j in range(Z.shape[1])])
    sd_all[sd_all == 0] = 1.0
    numeric_cols = [c for c in prep.columns_ if c in prep.numeric_]
    index = {c: prep.feature_names_out_.index(c) for c in numeric_cols}
    for seg in range(k):
        mask = labels == seg
        items: list[dict[str, Any]] = []
        if mask.any():
            for col in numeric_cols:
                j = index[col]
                d = float((Z[mask, j].mean() - mean_all[j]) / sd_all[j])
                item = {"column": col, "kind": "numeric", "std_diff": round(d, 3), "importance": abs(d)}
                state = prep.numeric_[col]
                if state["transform"] == "binary":  # coded 0/1: the segment's share of the upper value
                    item.update(kind="binary", share=round(float(Z[mask, j].mean()), 4), level=state["high"])
                items.append(item)
            for col, info in prep.categories_.items():
                text = frame[col].astype("string").fillna(info["fill"]).astype(str)
                overall = text.value_counts(normalize=True)
                inside = text[mask].value_counts(normalize=True)
                for level, share in inside.items():
                    base = float(overall.get(level, 0.0))
                    if base > 0 and share >= 0.05:
                        lift = float(share / base)
                        items.append(
                            {
                                "column": col,
                                "kind": "category",
                                "level": str(level),
                                "share": round(float(share), 4),
                                "lift": round(lift, 3),
                                "importance": abs(np.log(lift)) * 1.5,
                            }
                        )
        items.sort(key=lambda item: -item["importance"])
        for item in items:
            item["importance"] = round(float(item["importance"]), 4)
        out.append(items)
    return out


def segment_profiles(frame, labels, names, id_column, prep: FeaturePrep):
    """Per segment size, share, mean/median of every numeric column (original units), the share of
    rows with 1 in every 0/1 column, top categories.

    Parameters
    ----------
    frame : pandas.DataFrame of shape (n_rows, n_columns)
    labels : ndarray of int of shape (n_rows,)
        Segment of every row, 0..n_segments - 1.
    names : list of str
        Name of every segment.
    id_column : str or None
        Left out of the profiles.
    prep : FeaturePrep
        Its column roles tell numeric, date and categorical columns apart.

    Returns
    -------
    pandas.DataFrame of shape (n_segments, n_profile_columns)
        ``segment``, ``name``, ``size``, ``share``, ``COL_mean`` / ``COL_median``, ``COL_share``
        (0/1 columns) and ``COL_top``.
    """
    import pandas as pd

    from .rfm import parse_dates

    numeric_cols, binary_cols, date_cols, cat_cols = [], [], [], []
    for col in frame.columns:
        if col == id_column:
            continue
        role = prep.roles_.get(str(col))
        series = frame[col]
        if role == "date":
            date_cols.append(col)
        elif role != "id" and is_binary(series):
            binary_cols.append(col)
        elif pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series) and role != "id":
            numeric_cols.append(col)
        elif role == "categorical" or str(col) in prep.categories_:
            cat_cols.append(col)
    rows = []
    n = labels.shape[0]
    for seg, name in enumerate(names):
        mask = labels == seg
        row: dict[str, Any] = {"segment": seg, "name": name, "size": int(mask.sum()), "share": float(mask.sum() / n)}
        for col in numeric_cols:
            values = pd.to_numeric(frame.loc[mask, col], errors="coerce")
            row[f"{col}_mean"] = float(values.mean()) if mask.any() else np.nan
            row[f"{col}_median"] = float(values.median()) if mask.any() else np.nan
        for col in binary_cols:
            row[f"{col}_share"] = float(frame.loc[mask, col].mean()) if mask.any() else np.nan
        for col in date_cols:
            try:
                dates = parse_dates(frame.loc[mask, col], str(col))
                row[f"{col}_mean"] = str(dates.mean().date()) if mask.any() else ""
                row[f"{col}_median"] = str(dates.median().date()) if mask.any() else ""
            except TableError:
                pass
        for col in cat_cols:
            shares = frame.loc[mask, col].astype("string").value_counts(normalize=True).head(3)
            row[f"{col}_top"] = "; ".join(f"{lev} ({share:.0%})" for lev, share in shares.items())
        rows.append(row)
    return pd.DataFrame(rows)
