"""Customer segmentation: a table in, segments described in the table's own units out.

:func:`segment_customers` prepares the columns (:class:`~gmmseg.tables.prepare.FeaturePrep`),
chooses K and the covariance type by BIC with the core :func:`~gmmseg.select_components`,
assigns every customer, and describes each segment: size, share, mean and median of
every numeric column, top categories, distinguishing features (standardized difference
from the whole population, category lift) and a short name built from them. It also
reports the stability of the segments across EM seeds (adjusted Rand index) and a 2-D
projection for plotting. The preparation and the mixture are saved together as one
model file (:class:`~gmmseg.tables.segment_model.CustomerSegmentModel`) so new tables are
assigned the same way (:func:`assign_customers`).

This module is the orchestration, one for memory and Dask: the steps that differ (fitting
the mixture over the rows, counting segment sizes, producing the assignments) sit behind
:class:`CustomerRows`; :class:`InMemoryRows` is the pandas implementation and
:mod:`gmmseg.distributed.tables` the Dask one. The library returns results; the CLI writes them.
The pieces live in :mod:`~gmmseg.tables.prepare`,
:mod:`~gmmseg.tables.profiles`, :mod:`~gmmseg.tables.naming`, :mod:`~gmmseg.tables.projection`,
:mod:`~gmmseg.tables.segment_model` and the core (selection, restarts).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from ..core.restarts import refit_best_of, seed_stability
from ..core.selection import SelectionResult, select_components
from ..errors import ParameterError, TableError
from .naming import segment_names
from .prepare import FeaturePrep, _infer_role
from .profiles import distinguishing_features, segment_profiles
from .projection import STABILITY_MAX_ROWS, principal_projection
from .segment_model import CustomerSegmentModel

__all__ = [
    "segment_customers",
    "assign_customers",
    "column_roles",
    "segment_rows",
    "CustomerSegmentation",
    "CustomerRows",
    "InMemoryRows",
]

COVARIANCE_AUTO = ("full", "diag")
#: Columns of an RFM table the model uses by default; the others are only profiled.
RFM_MODEL_COLUMNS = ("recency", "frequency", "monetary")


@dataclass
class CustomerSegmentation:
    """Result of :func:`segment_customers`.

    Attributes
    ----------
    ids : ndarray of shape (n_described,)
        The identifier column (or the row number) of the described rows: every row in
        memory, the random sample on Dask.
    labels : ndarray of shape (n_described,)
        Segment of every described row; segments are numbered by size, 0 the largest.
    proba : ndarray of shape (n_described, n_segments)
        Probability of every segment.
    profiles : pandas.DataFrame
        One row per segment: name, size, share, ``COL_mean`` / ``COL_median`` of every
        numeric column in original units (``COL_share`` for 0/1 columns), ``COL_top`` for
        categorical columns.
    distinguishing : list of list of dict
        Per segment, features sorted by importance: ``column``, ``kind``
        ("numeric"/"binary"/"category"), ``std_diff`` and/or ``level``/``lift``/``share``.
    names : list of str
        A short descriptive name per segment.
    projection : ndarray of shape (n_rows, 2)
        Rows projected on the first two principal axes of the features.
    stability : dict
        ``aris`` (adjusted Rand index of each reseeded fit against the reported one),
        ``mean``, ``min``, ``seeds``, ``rows``.
    selection : SelectionResult or None
        The criterion table (None when K and covariance were both fixed).
    model : CustomerSegmentModel
    id_column : str or None
    explained_variance : list of float
        Share of the variance along each projection axis.
    profile_only_columns : list of str
        Columns profiled but not modelled.
    sizes : ndarray of shape (n_segments,)
        Rows in every segment, over the whole table.
    n_rows : int
        Rows of the whole table.
    lazy_assignments : dask.dataframe.DataFrame or None
        On Dask, :meth:`assignments` of every row, not yet computed.
    backend_summary : dict
        Appended to :meth:`summary` (what the Dask backend computed from its sample).
    overall : pandas.DataFrame or None
        The profile of all described rows as one segment (one row, the columns of
        ``profiles``): what the report compares every segment with.
    """

    ids: np.ndarray
    labels: np.ndarray
    proba: np.ndarray
    profiles: Any
    distinguishing: list
    names: list
    projection: np.ndarray
    stability: dict
    selection: SelectionResult | None
    model: CustomerSegmentModel
    id_column: str | None = None
    explained_variance: list = field(default_factory=list)
    profile_only_columns: list = field(default_factory=list)
    sizes: np.ndarray | None = None
    n_rows: int | None = None
    lazy_assignments: Any = None
    backend_summary: dict = field(default_factory=dict)
    overall: Any = None

    def __post_init__(self):
        if self.sizes is None:
            self.sizes = np.bincount(self.labels, minlength=self.proba.shape[1])
        if self.n_rows is None:
            self.n_rows = int(self.labels.shape[0])

    @property
    def n_segments(self) -> int:
        return int(self.proba.shape[1])

    @property
    def confidence(self) -> np.ndarray:
        """Probability of the assigned segment, shape (n_rows,)."""
        return self.proba.max(axis=1)

    def assignments(self):
        """One row per customer: id, segment, segment_name, confidence and ``p_segment_K``.

        Returns
        -------
        pandas.DataFrame of shape (n_rows, 4 + n_segments)
            A lazy dask.dataframe.DataFrame of every row on Dask.
        """
        import pandas as pd

        if self.lazy_assignments is not None:
            return self.lazy_assignments
        data = {
            self.id_column or "row": self.ids,
            "segment": self.labels,
            "segment_name": np.asarray(self.names, dtype=object)[self.labels],
            "confidence": np.round(self.confidence, 6),
        }
        for k in range(self.n_segments):
            data[f"p_segment_{k}"] = np.round(self.proba[:, k], 6)
        return pd.DataFrame(data)

    def summary(self) -> dict[str, Any]:
        """JSON-able summary: columns and transforms, criterion table, chosen model, stability.

        Returns
        -------
        dict
        """
        mix = self.model.mixture
        return {
            "n_rows": int(self.n_rows),
            "id_column": self.id_column,
            "columns": self.model.prep.summary(),
            "model_columns": list(self.model.prep.columns_),
            "profile_only_columns": self.profile_only_columns,
            "n_segments": self.n_segments,
            "covariance_type": mix.covariance_type,
            "criterion": self.selection.criterion if self.selection else None,
            "criterion_table": self.selection.table if self.selection else [],
            "interior_minimum": bool(self.selection.has_interior_minimum()) if self.selection else None,
            "segments": [
                {
                    "segment": k,
                    "name": self.names[k],
                    "size": int(self.sizes[k]),
                    "share": float(self.sizes[k] / max(1, self.n_rows)),
                    "distinguishing": self.distinguishing[k][:5],
                }
                for k in range(self.n_segments)
            ],
            "stability": self.stability,
            "projection_explained_variance": self.explained_variance,
        } | self.backend_summary


def column_roles(frame, id_column=None, columns=None, exclude=None, roles=None):
    """Turn the column choices of :func:`segment_customers` into ``FeaturePrep`` roles.

    Parameters
    ----------
    frame : pandas.DataFrame of shape (n_rows, n_columns)
    id_column : str, optional
        Inferred (a unique key) when None, before ``columns``/``exclude`` hide the others.
    columns, exclude : sequence of str, optional
        Columns to model / to leave out.
    roles : dict, optional
        Role overrides given by the caller.

    Returns
    -------
    roles : dict
        Role overrides; columns not chosen and excluded columns are ``"ignore"``.
    id_column : str or None
    profile_only : list of str
        Columns shown in profiles but not modelled (an RFM table models
        ``RFM_MODEL_COLUMNS`` by default and profiles the rest).
    """
    role_overrides = dict(roles or {})
    if id_column is None:
        id_column = next((c for c in frame.columns if _infer_role(str(c), frame[c])[0] == "id"), None)
    profile_only: list[str] = []
    if columns is None and all(c in frame.columns for c in RFM_MODEL_COLUMNS) and not role_overrides:
        columns = [c for c in RFM_MODEL_COLUMNS if c not in (exclude or ())]
        profile_only = [c for c in frame.columns if c not in columns and c != id_column]
    if columns is not None:
        for c in frame.columns:
            if c not in columns and c != id_column:
                role_overrides.setdefault(c, "ignore")
    for c in exclude or ():
        role_overrides[c] = "ignore"
    return role_overrides, id_column, profile_only


def segment_customers(
    table,
    *,
    id_column: str | None = None,
    columns: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    n_components: int | str | Sequence[int] = "auto",
    covariance_type: str = "auto",
    max_components: int = 8,
    criterion: str = "bic",
    random_state: int | None = 0,
    n_seeds: int = 5,
    roles: dict | None = None,
    scaling: str = "standard",
    reg_covar: float = 1e-4,
    n_init: int = 1,
    final_n_init: int = 4,
    dtype: str = "float64",
    progress=None,
) -> CustomerSegmentation:
    """Segment the rows of a customer table with a Gaussian mixture.

    Parameters
    ----------
    table : pandas.DataFrame of shape (n_rows, n_columns)
        One row per customer. Not modified.
    id_column : str, optional
        Identifier column, carried to the outputs and left out of the model. Without
        it an identifier is inferred (a unique key) or the row number is used.
    columns : sequence of str, optional
        Model only these columns. By default all usable columns; on an RFM table
        (with recency, frequency and monetary) only those three, the rest are profiled.
    exclude : sequence of str, optional
        Columns to leave out of the model (still profiled if numeric).
    n_components : "auto", int or sequence of int, default="auto"
        ``auto`` tries K = 1..``max_components`` and picks by ``criterion``.
    covariance_type : {"auto", "full", "diag", "tied", "spherical"}, default="auto"
        ``auto`` tries full and diag.
    max_components : int, default=8
        Largest K tried by ``n_components="auto"``.
    criterion : {"bic", "aic", "icl"}, default="bic"
    random_state : int or None, default=0
    n_seeds : int, default=5
        Refits with other EM seeds for the stability ARI (0 skips it). On tables larger
        than 20,000 rows they run on a random sample of 20,000 rows.
    roles : dict, optional
        Role overrides for :class:`FeaturePrep`.
    scaling : {"standard", "robust"}, default="standard"
    reg_covar : float, default=1e-4
        Added to covariance diagonals (features are standardized, so it is relative).
    n_init : int, default=1
        EM initializations per model of the sweep.
    final_n_init : int, default=4
        The chosen K and covariance type are refitted with this many initializations
        (and so are the stability refits); the best lower bound is kept (on more than
        20,000 rows the starts run on a sample and the best is polished on all rows). Mixtures with
        K of 5 or more have several near-equal local optima; keeping the best of four
        makes the reported segments reproducible across seeds.
    dtype : {"float64", "float32"}, default="float64"
    progress : callable, optional
        ``progress(done, total, row)`` after every fit of the sweep.

    Returns
    -------
    CustomerSegmentation

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> spend = np.concatenate([rng.normal(20, 2, 100), rng.normal(200, 20, 100)])
    >>> table = pd.DataFrame({"customer": np.arange(200), "spend": spend})
    >>> result = segment_customers(table, id_column="customer", n_seeds=0)
    >>> result.n_segments
    2
    """
    import pandas as pd

    if not isinstance(table, pd.DataFrame):
        raise TableError("segment_customers expects a pandas DataFrame; read the file with gmmseg.tables.io.read_table")
    if id_column is not None and id_column not in table.columns:
        raise TableError(f"id column {id_column!r} not found; the columns are: {', '.join(map(str, table.columns))}")
    for group in (columns or (), exclude or ()):
        missing = [c for c in group if c not in table.columns]
        if missing:
            raise TableError(
                f"column(s) {', '.join(map(str, missing))} not found; the columns are: "
                f"{', '.join(map(str, table.columns))}"
            )
    return segment_rows(
        InMemoryRows(table),
        id_column=id_column,
        columns=columns,
        exclude=exclude,
        n_components=n_components,
        covariance_type=covariance_type,
        max_components=max_components,
        criterion=criterion,
        random_state=random_state,
        n_seeds=n_seeds,
        roles=roles,
        scaling=scaling,
        reg_covar=reg_covar,
        n_init=n_init,
        final_n_init=final_n_init,
        dtype=dtype,
        progress=progress,
    )


def assign_customers(model: CustomerSegmentModel, table) -> CustomerSegmentation:
    """Assign a new table with a saved model (same preparation, same mixture, same segment names).

    The profiles, distinguishing features and projection describe the new table.

    Parameters
    ----------
    model : CustomerSegmentModel
    table : pandas.DataFrame of shape (n_rows, n_columns)
        With the columns the model was fitted on. Not modified.

    Returns
    -------
    CustomerSegmentation
        Without stability or criterion table.
    """
    return assign_rows(InMemoryRows(table), model)


class CustomerRows(Protocol):
    """Where the customer rows live: the steps of the pipeline that differ between memory and Dask.

    Attributes
    ----------
    sample : pandas.DataFrame of shape (n_described, n_columns)
        The rows that are profiled, named and drawn: the whole table in memory, a
        random sample on Dask.
    n_rows : int
        Rows of the whole table.
    """

    sample: Any
    n_rows: int

    def fit(self, prep: FeaturePrep, ks, types, settings: dict):
        """Fit ``prep`` and choose and fit the mixture over every row.

        ``settings``: criterion, random_state, reg_covar, n_init, final_n_init, dtype, progress.
        Returns ``(selection, mixture, stability_features, stability_rows)``: the features the
        seed-stability refits run on and their rows in ``sample`` (None: every row).
        """

    def segment_totals(self, model: CustomerSegmentModel, sample_labels):
        """Rows per segment over the whole table, shape (n_segments,), and the exact
        ``COL_mean`` profile columns (a dict, empty when the sample is the table)."""

    def lazy_assignments(self, model: CustomerSegmentModel, id_column):
        """The assignments of every row when they are not those of ``sample`` (else None)."""


class InMemoryRows:
    """:class:`CustomerRows` of a pandas DataFrame: every row is in memory and described.

    Parameters
    ----------
    frame : pandas.DataFrame of shape (n_rows, n_columns)
    """

    def __init__(self, frame):
        self.sample = frame
        self.n_rows = int(frame.shape[0])

    def fit(self, prep, ks, types, settings):
        Z_fit = prep.fit_transform(self.sample)
        seed, reg_covar, dtype = settings["random_state"], settings["reg_covar"], settings["dtype"]
        selection = select_components(
            Z_fit,
            ks,
            types,
            criterion=settings["criterion"],
            random_state=seed,
            reg_covar=reg_covar,
            n_init=settings["n_init"],
            dtype=dtype,
            progress=settings["progress"],
        )
        stab_rows = _stability_rows(Z_fit.shape[0], seed)
        mixture = refit_best_of(
            selection.best_model,
            Z_fit,
            n_init=settings["final_n_init"],
            random_state=seed,
            reg_covar=reg_covar,
            dtype=dtype,
            rows=stab_rows,
        )
        # keep only the rows the stability refits need, so the noisy matrix and the exact one
        # never both sit in memory on a large table
        return selection, mixture, (Z_fit if stab_rows is None else Z_fit[stab_rows]), stab_rows

    def segment_totals(self, model, sample_labels):
        return np.bincount(sample_labels, minlength=len(model.names)), {}

    def lazy_assignments(self, model, id_column):
        return None


def _grid(n_components, covariance_type: str, max_components: int) -> tuple[list[int], tuple[str, ...]]:
    types = COVARIANCE_AUTO if covariance_type == "auto" else (covariance_type,)
    if n_components == "auto":
        return list(range(1, int(max_components) + 1)), types
    if isinstance(n_components, (int, np.integer)):
        return [int(n_components)], types
    try:
        return sorted({int(k) for k in n_components}), types
    except (TypeError, ValueError):
        raise ParameterError(f"n_components must be 'auto', an int or a list of ints, got {n_components!r}") from None


def segment_rows(
    rows: CustomerRows,
    *,
    id_column: str | None = None,
    columns: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    n_components: int | str | Sequence[int] = "auto",
    covariance_type: str = "auto",
    max_components: int = 8,
    criterion: str = "bic",
    random_state: int | None = 0,
    n_seeds: int = 5,
    roles: dict | None = None,
    scaling: str = "standard",
    reg_covar: float = 1e-4,
    n_init: int = 1,
    final_n_init: int = 4,
    dtype: str = "float64",
    progress=None,
) -> CustomerSegmentation:
    """The customer pipeline over any :class:`CustomerRows` (parameters as :func:`segment_customers`).

    Prepare, choose and fit the mixture (``rows.fit``), number the segments by size over
    the whole table, measure their stability across seeds, and describe them on
    ``rows.sample``: distinguishing features, names, profiles (sizes and means over the whole
    table), projection.

    Parameters
    ----------
    rows : CustomerRows
        :class:`InMemoryRows` or the Dask rows of :func:`gmmseg.distributed.segment_table`.

    Returns
    -------
    CustomerSegmentation
    """
    sample = rows.sample
    role_overrides, id_column, profile_only = column_roles(sample, id_column, columns, exclude, roles)
    prep = FeaturePrep(role_overrides, id_column=id_column, scaling=scaling, random_state=random_state)
    ks, types = _grid(n_components, covariance_type, max_components)
    settings = dict(
        criterion=criterion,
        random_state=random_state,
        reg_covar=reg_covar,
        n_init=n_init,
        final_n_init=final_n_init,
        dtype=dtype,
        progress=progress,
    )
    selection, mixture, Z_stab, stab_rows = rows.fit(prep, ks, types, settings)
    k = mixture.n_components
    model = CustomerSegmentModel(prep, mixture, np.arange(k), [str(i) for i in range(k)], id_column)
    Z = prep.transform(sample)
    sizes, means = rows.segment_totals(model, mixture.predict(Z))
    order = np.argsort(-sizes, kind="stable")
    mixture.permute_components(order)  # segments numbered by size, without a second (n, K) array
    totals = sizes[order], {name: np.asarray(values)[order] for name, values in means.items()}
    proba = mixture.predict_proba(Z)
    labels = proba.argmax(axis=1)
    stability = seed_stability(
        Z_stab,
        labels if stab_rows is None else labels[stab_rows],
        mixture,
        n_seeds=n_seeds,
        n_init=final_n_init,
        random_state=random_state,
        reg_covar=reg_covar,
        dtype=dtype,
    )
    del Z_stab
    distinguishing = distinguishing_features(sample, prep, Z, labels, k)
    model.names = segment_names(distinguishing)
    return _describe(
        rows,
        model,
        id_column,
        Z,
        proba,
        distinguishing,
        totals,
        stability=stability,
        selection=selection if len(ks) * len(types) > 1 else None,
        profile_only=profile_only,
        projection_seed=random_state,
    )


def assign_rows(rows: CustomerRows, model: CustomerSegmentModel) -> CustomerSegmentation:
    """Assign any :class:`CustomerRows` with a saved model; describe them as :func:`segment_rows` does.

    Parameters
    ----------
    rows : CustomerRows
    model : CustomerSegmentModel

    Returns
    -------
    CustomerSegmentation
        Without stability or criterion table.
    """
    sample = rows.sample
    id_column = model.id_column if model.id_column in sample.columns else None
    Z = model.prep.transform(sample)
    proba = model.mixture.predict_proba(Z)[:, model.order]
    labels = proba.argmax(axis=1)
    distinguishing = distinguishing_features(sample, model.prep, Z, labels, proba.shape[1])
    totals = rows.segment_totals(model, labels)
    return _describe(
        rows, model, id_column, Z, proba, distinguishing, totals, stability={}, selection=None, projection_seed=0
    )


def _describe(
    rows, model, id_column, Z, proba, distinguishing, totals, *, stability, selection, projection_seed, profile_only=()
) -> CustomerSegmentation:
    """The result: profiles and projection of the described rows; sizes and means of all rows (``totals``)."""
    sample, labels = rows.sample, proba.argmax(axis=1)
    projection, explained = principal_projection(Z, projection_seed)
    profiles = segment_profiles(sample, labels, model.names, id_column, model.prep)
    overall = segment_profiles(sample, np.zeros_like(labels), ["all customers"], id_column, model.prep)
    sizes = None  # in memory: counted from the labels
    if rows.n_rows != sample.shape[0]:  # sizes, shares and means over the whole table, not the sample
        sizes, exact_means = totals
        profiles["size"] = sizes.astype(int)
        profiles["share"] = sizes / max(1, rows.n_rows)
        for name, values in exact_means.items():
            if name in profiles.columns:
                profiles[name] = values
    return CustomerSegmentation(
        ids=sample[id_column].to_numpy() if id_column is not None else np.arange(sample.shape[0]),
        labels=labels,
        proba=proba,
        profiles=profiles,
        distinguishing=distinguishing,
        names=list(model.names),
        projection=projection,
        stability=stability,
        selection=selection,
        model=model,
        id_column=id_column,
        explained_variance=explained,
        profile_only_columns=list(profile_only),
        sizes=sizes,
        n_rows=rows.n_rows,
        lazy_assignments=rows.lazy_assignments(model, id_column),
        overall=overall,
    )


# ---------------------------------------------------------------------- pieces


def _stability_rows(n: int, random_state) -> np.ndarray | None:
    """Rows of the stability refits: all (None) up to 20,000 rows, else a seeded sample."""
    if n <= STABILITY_MAX_ROWS:
        return None
    rng = np.random.default_rng(None if random_state is None else int(random_state) + 7919)
    return np.sort(rng.choice(n, STABILITY_MAX_ROWS, replace=False))
