"""The customer segmentation model file: the fitted preparation plus mixture.

:class:`CustomerSegmentModel` assigns new tables the way the original one was segmented.
It is saved with the core model container (:mod:`gmmseg.core.persist`: ``.npz`` arrays plus
a JSON header, never pickle) as kind ``CustomerSegmentModel``: the mixture's arrays prefixed
``mixture_``, the segment order, and in the header the mixture's metadata, the
:class:`~gmmseg.tables.prepare.FeaturePrep` state, the segment names and the id column.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..core.mixture import GaussianMixture
from ..core.mixture_file import mixture_from_file, mixture_to_file
from ..core.persist import load_arrays, register_kind, save_arrays
from ..errors import ModelFileError
from .prepare import FeaturePrep

__all__ = ["CustomerSegmentModel", "load_customer_model"]


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


register_kind("CustomerSegmentModel", lambda: CustomerSegmentModel)


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
    if header.get("kind") != "CustomerSegmentModel":
        raise ModelFileError(
            f"{path} holds a {header.get('kind')!r}, not a customer segmentation model; "
            "pass a file written by gmmseg customers"
        )
    try:
        return CustomerSegmentModel._from_file(header["metadata"], arrays)
    except (KeyError, ValueError, TypeError) as exc:
        raise ModelFileError(f"{path} has malformed model data ({exc}); re-create it with gmmseg customers") from None
