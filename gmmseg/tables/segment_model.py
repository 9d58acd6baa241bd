"""The customer segmentation model file: the fitted preparation plus mixture.

:class:`CustomerSegmentModel` assigns new tables the way the original one was segmented.
It is saved with the core model container (:mod:`gmmseg.core.persist`: ``.npz`` arrays plus
a JSON header, never pickle) as kind ``CustomerSegmentModel``: the mixture's arrays prefixed
``mixture_``, the segment order, and in the header the mixture's metadata, the
:class:`~gmmseg.tables.prepare.FeaturePrep` state, the segment names and the id column.
:func:`check_file` validates all of it at load (registered with the container): the
preparation's settings and per-column state, that its output features are the mixture's
features, that ``order`` is a permutation of the components and one name per segment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..core import file_checks as fc
from ..core.mixture import GaussianMixture
from ..core.mixture_file import check_mixture, mixture_from_file, mixture_to_file
from ..core.persist import load_arrays, register_check, register_kind, save_arrays
from ..errors import ModelFileError
from .prepare import ROLES, SKEW_TRANSFORMS, FeaturePrep

__all__ = ["CustomerSegmentModel", "load_customer_model", "check_file"]


class CustomerSegmentModel:
    """The fitted preparation plus mixture: assigns new tables the way the original was.

    Attributes
    ----------
    prep : FeaturePrep
    mixture : GaussianMixture
    order : ndarray of shape (n_segments,)
        Mixture component of each segment (segments are numbered by size, largest first).
    names : list of str
        Segment names.
    id_column : str or None
    """

    def __init__(self, prep: FeaturePrep, mixture: GaussianMixture, order, names, id_column=None):
        self.prep = prep
        self.mixture = mixture
        self.order = np.asarray(order, dtype=np.intp)
        self.names = list(names)
        self.id_column = id_column

    def predict_proba(self, table) -> np.ndarray:
        """Probability of every segment for every row.

        Parameters
        ----------
        table : pandas.DataFrame of shape (n_rows, n_columns)

        Returns
        -------
        ndarray of shape (n_rows, n_segments)
        """
        return self.mixture.predict_proba(self.prep.transform(table))[:, self.order]

    def predict(self, table) -> np.ndarray:
        """Segment of every row.

        Parameters
        ----------
        table : pandas.DataFrame of shape (n_rows, n_columns)

        Returns
        -------
        ndarray of int of shape (n_rows,)
        """
        return self.predict_proba(table).argmax(axis=1)

    def _to_file(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta, arrays = mixture_to_file(self.mixture)
        metadata = {
            "mixture": meta,
            "prep": self.prep.to_state(),
            "names": self.names,
            "id_column": self.id_column,
        }
        arrays = {f"mixture_{k}": v for k, v in arrays.items()} | {"order": self.order}
        return metadata, arrays

    @classmethod
    def _from_file(cls, metadata, arrays) -> CustomerSegmentModel:
        mixture = mixture_from_file(
            metadata["mixture"], {k[len("mixture_") :]: v for k, v in arrays.items() if k.startswith("mixture_")}
        )
        return cls(
            FeaturePrep.from_state(metadata["prep"]),
            mixture,
            arrays["order"],
            metadata["names"],
            metadata.get("id_column"),
        )

    def save(self, path) -> Path:
        """Write the model file (``.npz`` + JSON header, never pickle).

        Parameters
        ----------
        path : str or Path

        Returns
        -------
        Path
            The file written.
        """
        metadata, arrays = self._to_file()
        return save_arrays(path, "CustomerSegmentModel", metadata, arrays)


def check_file(metadata: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    """Validate a customer model file: the mixture, the preparation state and their consistency.

    Parameters
    ----------
    metadata : dict
    arrays : dict of str to ndarray

    Raises
    ------
    ModelFileError
        Describing the first problem found.
    """
    mixture = fc.field(metadata, "mixture", dict)
    check_mixture(
        mixture, {k[len("mixture_") :]: v for k, v in arrays.items() if k.startswith("mixture_")}, "mixture: "
    )
    n_components = mixture["params"]["n_components"]
    n_features = _check_prep(fc.field(metadata, "prep", dict))
    if n_features != mixture["n_features"]:
        raise ModelFileError(
            f"the preparation gives {n_features} features, but the mixture has {mixture['n_features']}"
        )
    if "order" not in arrays:
        raise ModelFileError("array 'order' is missing")
    order = arrays["order"]
    if (
        order.dtype.kind not in "iu"
        or order.shape != (n_components,)
        or set(order.tolist()) != set(range(n_components))
    ):
        raise ModelFileError(f"array 'order' must be a permutation of 0..{n_components - 1}")
    names = fc.field(metadata, "names", list)
    if len(names) != n_components or not all(isinstance(n, str) for n in names):
        raise ModelFileError(f"'names' must hold {n_components} segment names, not {len(names)} items")
    if not isinstance(metadata.get("id_column"), (str, type(None))):
        raise ModelFileError("'id_column' must be a column name or null")


def _check_prep(state: dict[str, Any]) -> int:
    """Check a FeaturePrep state; return the number of features it gives."""
    where = "prep: "
    params = fc.field(state, "params", dict, where)
    unknown = set(params) - set(FeaturePrep().get_params())
    if unknown:
        raise ModelFileError(f"{where}unknown settings {sorted(unknown)!r:.80}")
    fc.choice(params, "scaling", ("standard", "robust"), where=where)
    fc.choice(params, "skew_transform", SKEW_TRANSFORMS, where=where)
    fc.choice(params, "dequantize", ("auto", "never"), where=where)
    fc.integer(params, "max_categories", 1, 10**6, where=where)
    fc.number(params, "rare_share", 0.0, 1.0, where=where)
    for key, types in (("reference_date", str), ("id_column", str), ("random_state", int)):
        value = params.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, types)):
            raise ModelFileError(f"{where}{key} is {value!r:.60}, not a {types.__name__} or null")
    for key, holder in (("roles", params), ("roles_", state)):
        roles = fc.field(holder, key, dict, where)
        if not all(role in ROLES for role in roles.values()):
            raise ModelFileError(f"{where}{key} holds roles other than {', '.join(ROLES)}")
    roles = state["roles_"]
    numeric = fc.field(state, "numeric_", dict, where)
    categories = fc.field(state, "categories_", dict, where)
    columns = fc.field(state, "columns_", list, where)
    if not columns or len(set(columns)) != len(columns) or set(columns) != set(numeric) | set(categories):
        raise ModelFileError(f"{where}columns_ must list each numeric and categorical column once")
    n_features = 0
    for col in columns:
        col_where = f"{where}column {col!r:.60}: "
        if col in numeric:
            if roles.get(col) not in ("numeric", "date"):
                raise ModelFileError(f"{col_where}has numeric state but role {roles.get(col)!r}")
            entry = numeric[col]
            fc.choice(entry, "transform", ("identity", "log1p"), where=col_where)
            for key in ("shift", "fill", "center"):
                fc.number(entry, key, where=col_where)
            for key in ("step", "scale"):
                fc.number(entry, key, 0.0, where=col_where, open_low=True)
            fc.number(entry, "resolution", 0.0, where=col_where)
            fc.field(entry, "dequantize", bool, col_where)
            if roles[col] == "date" and not isinstance(entry.get("reference_date"), str):
                raise ModelFileError(f"{col_where}a date column needs its reference_date")
            n_features += 1
        else:
            if roles.get(col) != "categorical":
                raise ModelFileError(f"{col_where}has categorical state but role {roles.get(col)!r}")
            entry = categories[col]
            levels = fc.field(entry, "levels", list, col_where)
            fc.field(entry, "fill", str, col_where)
            if not levels or not all(isinstance(level, str) for level in levels):
                raise ModelFileError(f"{col_where}levels must be a non-empty list of strings")
            n_features += len(levels)
    names_out = fc.field(state, "feature_names_out_", list, where)
    if len(names_out) != n_features:
        raise ModelFileError(f"{where}{len(names_out)} feature names for {n_features} features")
    names_in = fc.field(state, "feature_names_in_", list, where)
    if not all(isinstance(n, str) for n in names_in) or not set(columns) <= set(names_in):
        raise ModelFileError(f"{where}feature_names_in_ must be the input column names")
    if not all(isinstance(entry, dict) for entry in fc.field(state, "report_", list, where)):
        raise ModelFileError(f"{where}report_ must be a list of objects")
    return n_features


register_kind("CustomerSegmentModel", lambda: CustomerSegmentModel)
register_check("CustomerSegmentModel", check_file, "gmmseg customers")


def load_customer_model(path) -> CustomerSegmentModel:
    """Read a model file written by :meth:`CustomerSegmentModel.save`.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    CustomerSegmentModel

    Raises
    ------
    ModelFileError
        The file holds another kind of model or malformed data.
    """
    header, arrays = load_arrays(path)
    if header["kind"] != "CustomerSegmentModel":
        raise ModelFileError(
            f"{path} holds a {header['kind']!r}, not a customer segmentation model; "
            "pass a file written by gmmseg customers"
        )
    return CustomerSegmentModel._from_file(header["metadata"], arrays)
