"""Turn a table into a feature matrix a Gaussian mixture can use, and back.

:class:`FeaturePrep` infers a role for every column (identifier, numeric, binary,
categorical, date, free text, constant), imputes missing values, chooses a transform per numeric
column by measuring it, scales, one-hot encodes categoricals and handles tied
(count-valued) columns. Its state is plain JSON and numbers, saved with the model.

Choices, and why
----------------
- **log1p only where it helps.** For every non-negative, right-skewed numeric column the log-likelihood of one
  Gaussian fitted to the column is compared before and after ``log1p`` (with the log
  Jacobian, so both are densities of the original values). ``log1p`` is used only when it
  wins by more than 0.05 nats per row. On the CDNOW RFM table this keeps recency as it is
  (it is left-skewed; ``log1p`` worsens it: skew -0.85 becomes -1.99) and logs frequency
  and monetary (skew 10.5 and 17.7 become 1.5 and 0.5).
  ``skew_transform="mixture"`` (the anomaly detector's) also asks the best 1-D mixture
  (K 1..3 by BIC) to gain 0.05 nats per row from the log: a column whose skew is a second
  mode (often where the anomalies lie) is then left as it is, since the log would pull those
  rows in. A long-tailed amount (lognormal with sigma about 1 or more, on a thousand rows or
  more) is still logged; a mildly skewed one (sigma about 0.5), which a mixture of up to 3
  Gaussians fits as it is, is not (docs/anomalies.md, "Session 11").
- **Binary columns.** A number column with exactly two distinct values (``0/1`` flags such
  as ``partner`` or ``senior_citizen``) is modelled as 0 (its lower value) / 1, unscaled,
  neither log-transformed nor dequantized: it is a share, not a count.
- **Ties.** A column whose values sit on a lattice (counts, days, one-hot flags) and
  repeat often lets a mixture put a component of almost zero variance on one value;
  every such spike lowers BIC again, so BIC stops having a minimum. When fitting, such
  columns are *dequantized*: uniform noise over one lattice step (the column's resolution)
  is added before the transform, the standard way to give a discrete variable a density.
  ``transform`` (used to assign and score) never adds noise. On CDNOW's recency, frequency
  and monetary, BIC over K = 1..10 (full covariance) falls to K = 10 without this, and
  has an interior minimum with it.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..core.estimator import EstimatorBase
from ..core.selection import select_components
from ..errors import GmmsegWarning, NotFittedError, ParameterError, TableError
from .io import parse_decimal_commas
from .numbers import NumberTable

__all__ = ["FeaturePrep", "ROLES"]

ROLES = ("id", "numeric", "binary", "categorical", "date", "text", "ignore")
_ID_NAME = re.compile(
    r"(^|[_\s-])(id|key|uuid|guid)$|^id[_\s-]|^(customer|client|user|account)[_\s-]?(no|number|nr)$", re.I
)
_DATE_NAME = re.compile(r"date|time|day|_at$|^dt", re.I)
OTHER = "(other)"
#: Gain in mean log-likelihood per row (nats) that log1p must bring to be used.
LOG_GAIN_MIN = 0.05
#: Accepted values of ``FeaturePrep(skew_transform=...)``.
SKEW_TRANSFORMS = ("auto", "mixture", "none", "log1p")
#: ``skew_transform="mixture"``: the 1-D mixtures that decide a column's log1p are fitted on at
#: most this many of its rows (a seeded sample), K in 1..3, with this covariance floor on the
#: standardized column (the anomaly detector's per-feature experts' defaults).
MIXTURE_GAIN_ROWS = 5000
MIXTURE_GAIN_COMPONENTS = range(1, 4)
MIXTURE_GAIN_REG_COVAR = 1e-3
#: A lattice-valued column is dequantized when its most common value holds at least this share.
TIE_SHARE = 0.01
#: ... or when its values repeat this many times on average.
TIE_ROWS_PER_VALUE = 5.0


class FeaturePrep(EstimatorBase):
    """Column roles, imputation, per-column transforms, scaling and one-hot encoding.

    Parameters
    ----------
    roles : mapping of str to str, optional
        Role overrides, ``{"column": role}`` with role in ``id``, ``numeric``, ``binary``,
        ``categorical``, ``date``, ``text`` or ``ignore``.
    id_column : str, optional
        The identifier column (same as ``roles={id_column: "id"}``).
    scaling : {"standard", "robust"}, default="standard"
        ``standard``: mean and standard deviation; ``robust``: median and IQR / 1.349.
    skew_transform : {"auto", "mixture", "none", "log1p"}, default="auto"
        ``auto`` uses log1p on a column only where it raises the Gaussian log-likelihood;
        ``mixture`` only where it also raises the log-likelihood of the best 1-D mixture
        (K 1..3 by BIC, on a seeded sample of at most 5,000 of the column's rows).
    dequantize : {"auto", "never"}, default="auto"
        Add one lattice step of uniform noise to tied lattice-valued columns when fitting.
    max_categories : int, default=12
        At most this many levels per categorical column; the rest are pooled into "(other)".
    rare_share : float, default=0.01
        Levels rarer than this share are pooled into "(other)".
    reference_date : str or None
        Dates become days before this date; default the latest date in the column + 1 day.
    random_state : int or None, default=0
        Seed of the dequantization noise.

    Attributes
    ----------
    roles_ : dict
        Role of every input column.
    columns_ : list of str
        The input columns that become features (numeric, date, categorical).
    numeric_ : dict
        Per numeric/date column: ``transform``, ``shift``, ``step``, ``center``, ``scale``,
        ``fill``, ``n_missing``, ``dequantize``, ``resolution``, ``log_gain``. Binary columns
        are here too, with ``transform="binary"``, ``low`` (coded 0), ``high`` (coded 1) and ``share``
        (of rows with ``high``).
    categories_ : dict
        Per categorical column: ``levels`` (kept levels, then "(other)" if any were pooled),
        ``fill``, ``n_missing``.
    feature_names_out_ : list of str
        Names of the output features, shape (n_features_out,).
    report_ : list of dict
        One line per input column: role, reason and what was done (for summaries).

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"id": ["a", "b", "c", "d"], "spend": [1.0, 10.0, 100.0, 1000.0],
    ...                       "plan": ["x", "y", "x", "x"]})
    >>> prep = FeaturePrep(id_column="id", rare_share=0.0).fit(frame)
    >>> prep.roles_["id"], prep.roles_["spend"], prep.roles_["plan"]
    ('id', 'numeric', 'categorical')
    >>> Z = prep.transform(frame)
    >>> Z.shape
    (4, 3)
    >>> back = prep.inverse_transform(Z)
    >>> [round(v, 6) for v in back["spend"]]
    [1.0, 10.0, 100.0, 1000.0]
    """

    def __sklearn_tags__(self):
        from sklearn.utils import TransformerTags

        tags = super().__sklearn_tags__()
        tags.transformer_tags = TransformerTags()
        return tags

    def __init__(
        self,
        roles: Mapping[str, str] | None = None,
        *,
        id_column: str | None = None,
        scaling: str = "standard",
        skew_transform: str = "auto",
        dequantize: str = "auto",
        max_categories: int = 12,
        rare_share: float = 0.01,
        reference_date: str | None = None,
        random_state: int | None = 0,
    ):
        self.roles = roles
        self.id_column = id_column
        self.scaling = scaling
        self.skew_transform = skew_transform
        self.dequantize = dequantize
        self.max_categories = max_categories
        self.rare_share = rare_share
        self.reference_date = reference_date
        self.random_state = random_state

    # ------------------------------------------------------------------ fitting

    def _check_params(self) -> None:
        if self.scaling not in ("standard", "robust"):
            raise ParameterError(f"scaling must be 'standard' or 'robust', got {self.scaling!r}")
        if self.skew_transform not in SKEW_TRANSFORMS:
            raise ParameterError(
                f"skew_transform must be one of {', '.join(SKEW_TRANSFORMS)}, got {self.skew_transform!r}"
            )
        if self.dequantize not in ("auto", "never"):
            raise ParameterError(f"dequantize must be 'auto' or 'never', got {self.dequantize!r}")
        for col, role in dict(self.roles or {}).items():
            if role not in ROLES:
                raise ParameterError(f"role {role!r} for column {col!r} is not one of {', '.join(ROLES)}")

    def fit(self, X, y=None) -> FeaturePrep:
        """Learn roles, fill values, transforms and scales from a table.

        Parameters
        ----------
        X : pandas.DataFrame of shape (n_rows, n_columns)
        y : ignored

        Returns
        -------
        self : FeaturePrep
        """
        self._fit(X)
        return self

    def fit_transform(self, X, y=None, *, dequantize: bool = True) -> np.ndarray:
        """Fit, then return the feature matrix of shape (n_rows, n_features_out).

        With ``dequantize=True`` (the default) tied lattice columns get one lattice step
        of uniform noise (seeded by ``random_state``): this is the matrix to *fit* a
        mixture on. :meth:`transform` never adds noise.
        """
        self._fit(X)
        return self._transform(X, noise=dequantize)

    def _fit(self, X) -> None:
        self._check_params()
        frame = _as_frame(X)
        overrides = dict(self.roles or {})
        if self.id_column is not None:
            overrides.setdefault(self.id_column, "id")
        unknown = [c for c in overrides if c not in frame.columns]
        if unknown:
            raise TableError(
                f"column(s) {', '.join(map(str, unknown))} not found; the columns are: "
                f"{', '.join(map(str, frame.columns))}"
            )
        n = frame.shape[0]
        if n < 2:
            raise TableError(f"the table has {n} row(s); at least 2 are needed")
        self.roles_, self.report_ = {}, []
        self.numeric_, self.categories_ = {}, {}
        self.columns_, self.feature_names_out_ = [], []
        # plain number columns skip role inference: per-column pandas calls dominate wide tables
        number_positions = _number_positions(frame)
        for col in frame.columns:
            name = str(col)
            fast = (
                col in number_positions
                and col not in overrides
                and not _ID_NAME.search(name)
                and not _DATE_NAME.search(name)
            )
            if col in overrides:
                role, reason = overrides[col], "set by the user"
            elif fast:
                role, reason = "numeric", "numbers"
            elif isinstance(frame, NumberTable):
                present = np.asarray(frame.array(col), dtype=np.float64)
                role, reason = _infer_number_role(name, present[~np.isnan(present)])
            else:
                role, reason = _infer_role(name, frame[col])
            entry: dict[str, Any] = {"column": name, "role": role, "reason": reason}
            if col in number_positions:  # no pandas Series: a NumberTable is read without pandas
                values, ref = _number_values(frame, number_positions[col]), None
                n_missing = int(np.isnan(values).sum())
            else:
                series = frame[col]
                n_missing = int(series.isna().sum())
            if role in ("numeric", "date", "binary"):
                if role == "date" or col not in number_positions:
                    series = frame[col]
                    values, ref = _numeric_values(series, role, self.reference_date)
                finite = values[np.isfinite(values)]
                if role == "numeric" and col not in overrides and np.unique(finite).size == 2:
                    role, entry["reason"] = "binary", "two distinct values"
                if finite.size < 2 or finite.min() == finite.max():
                    role, entry["role"], entry["reason"] = "ignore", "ignore", "constant: carries no information"
                elif role == "binary" and np.unique(finite).size != 2:
                    raise TableError(f"column {name} has more than two values; it cannot have the role binary")
                elif role == "binary":
                    state = _fit_binary(values, finite)
                    state["n_missing"] = n_missing
                    self.numeric_[name] = state
                    self.columns_.append(name)
                    self.feature_names_out_.append(name)
                    entry.update(_describe_binary(state))
                else:
                    state = self._fit_numeric(values, role)
                    state["n_missing"] = n_missing
                    if role == "date":
                        state["reference_date"] = ref
                    self.numeric_[name] = state
                    self.columns_.append(name)
                    self.feature_names_out_.append(name)
                    entry.update(_describe_numeric(state, role))
            elif role == "categorical":
                series = frame[col]
                n_missing = int(series.isna().sum())
                text = series.astype("string")
                counts = text.value_counts(dropna=True)
                if counts.size < 2:
                    role, entry["role"], entry["reason"] = "ignore", "ignore", "a single level: carries no information"
                else:
                    fill = str(counts.index[0])
                    share = counts / max(1, counts.sum())
                    kept = [str(v) for v, s in share.items() if s >= self.rare_share][: int(self.max_categories)]
                    pooled = [str(v) for v in counts.index if str(v) not in kept]
                    levels = kept + ([OTHER] if pooled else [])
                    if len(levels) < 2:
                        levels = [str(v) for v in counts.index[: int(self.max_categories)]] + [OTHER]
                        pooled = [str(v) for v in counts.index if str(v) not in levels]
                    self.categories_[name] = {"levels": levels, "fill": fill, "n_missing": n_missing}
                    self.columns_.append(name)
                    self.feature_names_out_.extend(f"{name}={lev}" for lev in levels)
                    entry.update(
                        {
                            "transform": "one-hot",
                            "levels": len(levels),
                            "pooled_levels": len(pooled),
                            "imputed": n_missing,
                            "fill": fill,
                        }
                    )
            entry["role"] = role
            self.roles_[name] = role
            if role == "text":
                entry["note"] = "excluded from the model (free text)"
            if (
                role in ("text", "id")
                and col not in overrides
                and col not in number_positions  # a number column is numeric already
                and _looks_numeric(frame[col], decimals=role == "id")
            ):
                warnings.warn(
                    f"column {name} looks numeric but is left out of the model as {role} ({reason}); "
                    "fix its non-numeric values or set its role to numeric",
                    GmmsegWarning,
                    stacklevel=3,
                )
            self.report_.append(entry)
        if not self.columns_:
            raise TableError(
                "no usable columns: every column is an identifier, free text or constant "
                f"({', '.join(str(e['column']) + '=' + str(e['role']) for e in self.report_)}); "
                "pass numeric or categorical columns, or set roles"
            )
        self.n_features_in_ = frame.shape[1]
        self.feature_names_in_ = np.asarray([str(c) for c in frame.columns], dtype=object)

    def _fit_numeric(self, values: np.ndarray, role: str) -> dict[str, Any]:
        finite = values[np.isfinite(values)]
        fill = float(np.median(finite))
        x = np.where(np.isfinite(values), values, fill)
        resolution, top_share, rows_per_value = _lattice(x)
        tied = top_share >= TIE_SHARE or rows_per_value >= TIE_ROWS_PER_VALUE
        dequant = bool(self.dequantize == "auto" and resolution > 0 and tied)
        # log1p in the column's own units; on a coarse lattice (step > 1) in steps, so that
        # one step of dequantization noise never leaves log1p's domain
        step = resolution if resolution > 1 else 1.0
        shift = float(min(0.0, x.min()))
        log_gain = _log_gain(x, shift, step)
        mixture_gain = None  # asked only by skew_transform="mixture", where one Gaussian wants the log
        if self.skew_transform == "log1p":
            use_log = True
        elif self.skew_transform == "none":
            use_log = False
        else:
            # only non-negative, right-skewed columns (amounts, counts, durations); a shifted
            # log of a column with negative values would squeeze its far tail
            skew = float(np.mean((x - x.mean()) ** 3) / np.std(x) ** 3)
            use_log = bool(x.min() >= 0 and skew > 0 and log_gain > LOG_GAIN_MIN)
            if use_log and self.skew_transform == "mixture":
                mixture_gain = _mixture_log_gain(finite, shift, step, resolution if dequant else 0.0)
                use_log = mixture_gain > LOG_GAIN_MIN
        state = {
            "transform": "log1p" if use_log else "identity",
            "shift": shift,
            "step": float(step) if use_log else 1.0,
            "fill": fill,
            "dequantize": dequant,
            "resolution": float(resolution),
            "top_share": float(top_share),
            "log_gain": float(log_gain),
            "low": float(x.min()),
            "high": float(x.max()),
        }
        if mixture_gain is not None:  # only where it was asked: other preps' saved states are unchanged
            # None where a side is constant (-inf; JSON has no infinities)
            state["mixture_log_gain"] = float(mixture_gain) if np.isfinite(mixture_gain) else None
        y = _forward(x, state)
        if self.scaling == "robust":
            q1, med, q3 = np.percentile(y, [25, 50, 75])
            scale = (q3 - q1) / 1.349
            center = med
            if not scale > 0:
                scale, center = float(np.std(y)), float(np.mean(y))
        else:
            center, scale = float(np.mean(y)), float(np.std(y))
        state["center"], state["scale"] = float(center), float(scale if scale > 0 else 1.0)
        return state

    # ------------------------------------------------------------------ transforms

    def _check_is_fitted(self) -> None:
        if not hasattr(self, "columns_"):
            raise NotFittedError("this FeaturePrep is not fitted yet; call fit(table) first")

    def transform(self, X, *, dequantize: bool = False, seed=None) -> np.ndarray:
        """Feature matrix of a table with the learned columns, shape (n_rows, n_features_out).

        Missing values are filled with the learned fill values; unseen categories count
        as "(other)" (or as no level if nothing was pooled).

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_rows, n_columns)
        dequantize : bool, default=False
            Add one lattice step of uniform noise to tied lattice columns, as
            :meth:`fit_transform` does: the matrix to *fit* a mixture on (the default,
            no noise, is the one to score or assign).
        seed : int, optional
            Seed of that noise (default: ``random_state``).

        Returns
        -------
        ndarray of shape (n_rows, n_features_out)
        """
        self._check_is_fitted()
        return self._transform(X, noise=dequantize, seed=seed)

    def _transform(self, X, *, noise: bool, seed=None) -> np.ndarray:
        frame = _as_frame(X)
        present = set(map(str, frame.columns))
        missing = [c for c in self.columns_ if c not in present]
        if missing:
            raise TableError(
                f"column(s) {', '.join(missing)} the model was fitted on are missing; "
                f"the columns are: {', '.join(map(str, frame.columns))}"
            )
        if not isinstance(frame, NumberTable):
            frame = frame.rename(columns=str)
        rng = np.random.default_rng(self.random_state if seed is None else seed)
        n = frame.shape[0]
        out = np.empty((n, len(self.feature_names_out_)))
        number_positions = _number_positions(frame)
        j = 0
        for col in self.columns_:
            if col in self.numeric_:
                state = self.numeric_[col]
                role = self.roles_[col]
                if col in number_positions and role != "date":  # YYYYMMDD integers become days
                    values = _number_values(frame, number_positions[col])
                else:
                    values, _ = _numeric_values(frame[col], role, state.get("reference_date"))
                x = np.where(np.isfinite(values), values, state["fill"])
                if noise and state["dequantize"]:
                    x = x + rng.uniform(-0.5, 0.5, n) * state["resolution"]
                out[:, j] = (_forward(x, state) - state["center"]) / state["scale"]
                j += 1
            else:
                info = self.categories_[col]
                levels = info["levels"]
                text = frame[col].astype("string").fillna(info["fill"]).astype(str).to_numpy()
                index = {lev: i for i, lev in enumerate(levels)}
                other = index.get(OTHER, -1)
                codes = np.array([index.get(v, other) for v in text], dtype=np.intp)
                block = np.zeros((n, len(levels)))
                ok = codes >= 0
                block[np.flatnonzero(ok), codes[ok]] = 1.0
                if noise and self.dequantize == "auto":
                    block += rng.uniform(-0.5, 0.5, block.shape)
                out[:, j : j + len(levels)] = block
                j += len(levels)
        return out

    def inverse_transform(self, Z):
        """Map features back to original units.

        Parameters
        ----------
        Z : array-like of shape (n_rows, n_features_out)

        Returns
        -------
        pandas.DataFrame of shape (n_rows, len(columns_))
            Numeric columns in original units, dates as days before the reference date,
            categoricals as the level with the largest indicator.
        """
        import pandas as pd

        self._check_is_fitted()
        Z = np.atleast_2d(np.asarray(Z, dtype=np.float64))
        if Z.shape[1] != len(self.feature_names_out_):
            raise ParameterError(f"Z must have {len(self.feature_names_out_)} columns, got {Z.shape[1]}")
        data: dict[str, Any] = {}
        j = 0
        for col in self.columns_:
            if col in self.numeric_:
                state = self.numeric_[col]
                data[col] = _backward(Z[:, j] * state["scale"] + state["center"], state)
                j += 1
            else:
                levels = self.categories_[col]["levels"]
                data[col] = np.asarray(levels, dtype=object)[Z[:, j : j + len(levels)].argmax(axis=1)]
                j += len(levels)
        return pd.DataFrame(data)

    def first_identifier(self, columns):
        """The first of ``columns`` whose fitted role is ``id`` (given or detected), or None.

        Parameters
        ----------
        columns : iterable of column labels
            The table's columns, in order (labels as the table has them).

        Returns
        -------
        column label or None
        """
        self._check_is_fitted()
        return next((c for c in columns if self.roles_.get(str(c)) == "id"), None)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Names of the output features, shape (n_features_out,)."""
        self._check_is_fitted()
        return np.asarray(self.feature_names_out_, dtype=object)

    def feature_column(self) -> list[str]:
        """For every output feature, the input column it comes from (length n_features_out)."""
        self._check_is_fitted()
        out = []
        for col in self.columns_:
            out.extend([col] * (1 if col in self.numeric_ else len(self.categories_[col]["levels"])))
        return out

    def summary(self) -> list[dict[str, Any]]:
        """How every column was used: a list of JSON-able dicts (one per input column)."""
        self._check_is_fitted()
        return [dict(e) for e in self.report_]

    # ------------------------------------------------------------------ state

    def to_state(self) -> dict[str, Any]:
        """The fitted state as JSON-able data (no arrays, no pickle)."""
        self._check_is_fitted()
        return {
            "params": {k: v for k, v in self.get_params().items() if k != "roles"} | {"roles": dict(self.roles or {})},
            "roles_": self.roles_,
            "columns_": self.columns_,
            "numeric_": self.numeric_,
            "categories_": self.categories_,
            "feature_names_out_": self.feature_names_out_,
            "report_": self.report_,
            "feature_names_in_": [str(c) for c in self.feature_names_in_],
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> FeaturePrep:
        """Rebuild a fitted FeaturePrep from :meth:`to_state` output."""
        prep = cls(**state["params"])
        prep.roles_ = dict(state["roles_"])
        prep.columns_ = list(state["columns_"])
        prep.numeric_ = {k: dict(v) for k, v in state["numeric_"].items()}
        prep.categories_ = {k: dict(v) for k, v in state["categories_"].items()}
        prep.feature_names_out_ = list(state["feature_names_out_"])
        prep.report_ = [dict(e) for e in state["report_"]]
        prep.feature_names_in_ = np.asarray(state["feature_names_in_"], dtype=object)
        prep.n_features_in_ = len(prep.feature_names_in_)
        return prep


# ---------------------------------------------------------------------- helpers


def _as_frame(X):
    """A DataFrame or :class:`NumberTable` as it is; an array as a DataFrame."""
    if isinstance(X, NumberTable):
        return X
    import pandas as pd

    if isinstance(X, pd.DataFrame):
        return X
    arr = np.asarray(X)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise TableError(f"expected a table (DataFrame or 2-D array), got an array of shape {arr.shape}")
    return pd.DataFrame(arr, columns=[f"x{i}" for i in range(arr.shape[1])])


def _looks_numeric(series, *, decimals: bool = False) -> bool:
    """Whether at least half of a text column's values read as numbers (with ``.`` or ``,`` decimals).

    With ``decimals``, some must also be fractional: integer codes are fine as identifiers.
    """
    import pandas as pd

    if pd.api.types.is_numeric_dtype(series):
        return False
    text = series.dropna().astype(str).str.strip().iloc[:500].str.replace(",", ".", regex=False)
    numbers = pd.to_numeric(text, errors="coerce")
    if not len(text) or numbers.notna().mean() < 0.5:
        return False
    return not decimals or bool((numbers.dropna() % 1 != 0).any())


def _number_positions(frame) -> dict:
    """``{name: position}`` of the columns of ``frame`` with a numeric (not boolean) dtype."""
    if isinstance(frame, NumberTable):
        return {c: pos for pos, c in enumerate(frame.columns)}
    import pandas as pd

    kinds = {t: pd.api.types.is_numeric_dtype(t) and not pd.api.types.is_bool_dtype(t) for t in set(frame.dtypes)}
    return {c: pos for pos, (c, dtype) in enumerate(frame.dtypes.items()) if kinds[dtype]}


def _number_values(frame, position: int) -> np.ndarray:
    """The column at ``position`` (a numeric dtype) as float64 of shape (n_rows,), NaN for non-finite values.

    A float64 column without infinities is returned without a copy (read-only): the table
    is not held twice.
    """
    if isinstance(frame, NumberTable):
        values = np.asarray(frame.array(frame.columns[position]), dtype=np.float64)
    else:
        values = frame.iloc[:, position].to_numpy(dtype=np.float64, na_value=np.nan)
    infinite = np.isinf(values)
    return np.where(infinite, np.nan, values) if infinite.any() else values


def _infer_role(name: str, series) -> tuple[str, str]:
    import pandas as pd

    values = series.dropna()
    n = max(1, values.shape[0])
    n_unique = int(values.nunique())
    if pd.api.types.is_bool_dtype(series):
        return "categorical", "true/false values"
    if pd.api.types.is_datetime64_any_dtype(series):
        return "date", "date/time values"
    if pd.api.types.is_numeric_dtype(series):
        return _infer_number_role(name, values.to_numpy(dtype=float))
    text = values.astype(str)
    if n_unique == n and n >= 10 and (text.str.len().mean() < 40) and not text.str.contains(r"\s").mean() > 0.5:
        return "id", "a unique value per row"
    if n_unique <= 2:
        return "categorical", f"{n_unique} level(s)"
    sample = text.iloc[:500]
    numeric = pd.to_numeric(sample, errors="coerce")
    if numeric.notna().mean() > 0.95:
        return "numeric", "numbers stored as text"
    if parse_decimal_commas(sample) is not None:
        return "numeric", "numbers with decimal commas"
    dates = _parse_dates(sample)
    if dates.notna().mean() > 0.95:
        return "date", "text that parses as dates"
    if (n_unique <= 50 and n_unique <= 0.5 * n) or n_unique <= 0.05 * n:
        return "categorical", f"{n_unique} distinct values"
    return "text", f"free text or high-cardinality labels ({n_unique} distinct values)"


def _infer_number_role(name: str, numbers: np.ndarray) -> tuple[str, str]:
    """The role of a number column from its present values (no NaN), shape (n_values,).

    pandas is imported only to parse YYYYMMDD integers of a date-like column.
    """
    n = max(1, numbers.shape[0])
    n_unique = int(np.unique(numbers).size)
    integer = bool(np.all(np.mod(numbers[np.isfinite(numbers)], 1) == 0)) if n_unique else False
    if integer and n_unique == n and n >= 10 and _ID_NAME.search(name):
        return "id", "unique integer per row with an identifier-like name"
    # 8 characters as text: 10000000..99999999 or -9999999..-1000000
    eight = ((numbers >= 1e7) & (numbers < 1e8)) | ((numbers > -1e7) & (numbers <= -1e6))
    if integer and _DATE_NAME.search(name) and n_unique > 1 and eight.all():
        import pandas as pd

        as_text = pd.Series(numbers.astype("int64")).astype(str)
        if as_text.str.len().eq(8).all():
            parsed = pd.to_datetime(as_text, format="%Y%m%d", errors="coerce")
            if parsed.notna().mean() > 0.99:
                return "date", "YYYYMMDD integers in a date-like column"
    return "numeric", "numbers"


def _parse_dates(values):
    import warnings

    import pandas as pd

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pd.to_datetime(values, errors="coerce", format="mixed")


def _numeric_values(series, role: str, reference) -> tuple[np.ndarray, str | None]:
    import pandas as pd

    if role != "date":
        commas = parse_decimal_commas(series)
        values = np.array(pd.to_numeric(series, errors="coerce") if commas is None else commas, dtype=np.float64)
        values[~np.isfinite(values)] = np.nan
        return values, None
    if pd.api.types.is_datetime64_any_dtype(series):
        dates = pd.to_datetime(series, errors="coerce")
    elif pd.api.types.is_numeric_dtype(series):
        dates = pd.to_datetime(series.astype("Int64").astype("string"), format="%Y%m%d", errors="coerce")
    else:
        dates = _parse_dates(series.astype("string"))
    if getattr(dates.dt, "tz", None) is not None:
        dates = dates.dt.tz_convert(None)
    if reference is None:
        latest = dates.max()
        if pd.isna(latest):
            raise TableError(f"column {series.name!r} has no readable dates; set its role or fix the values")
        ref = latest.normalize() + pd.Timedelta(days=1)
    else:
        ref = pd.Timestamp(reference)
    days = (ref - dates).dt.total_seconds().to_numpy(dtype=np.float64) / 86400.0
    return np.where(np.isnan(days), np.nan, days), str(ref.date())


def _lattice(x: np.ndarray) -> tuple[float, float, float]:
    """``(resolution, share of the most common value, rows per distinct value)``.

    The resolution is the lattice step of the values (1 for counts and days, 0.01 for
    cents), 0 when the values are not on a lattice. Sums of decimals carry rounding
    noise, so values are compared at 9 significant digits of the column's range.
    """
    span = float(np.max(np.abs(x))) or 1.0
    digits = max(0, 9 - int(np.ceil(np.log10(span))))
    uniq, counts = np.unique(np.round(x, digits), return_counts=True)
    top = float(counts.max() / x.size)
    per_value = float(x.size / uniq.size)
    if uniq.size < 2:
        return 0.0, top, per_value
    step = float(np.diff(uniq).min())
    if step <= 10.0 ** (-digits):
        return 0.0, top, per_value
    ratio = (uniq - uniq[0]) / step
    if np.max(np.abs(ratio - np.round(ratio))) > 1e-3:
        return 0.0, top, per_value
    return float(np.round(step, digits)), top, per_value


def _fit_binary(values: np.ndarray, finite: np.ndarray) -> dict[str, Any]:
    low, high = (float(v) for v in np.unique(finite))
    share = float(np.mean(finite == high))
    return {
        "transform": "binary",
        "low": low,
        "high": high,
        "share": share,
        "fill": high if share > 0.5 else low,
        "dequantize": False,
        "center": 0.0,
        "scale": 1.0,
    }


def _describe_binary(state: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "transform": "0/1",
        "values": [state["low"], state["high"]],
        "share_high": round(state["share"], 4),
        "imputed": state["n_missing"],
        "fill": state["fill"],
        "dequantized": False,
    }


def _forward(x: np.ndarray, state: Mapping[str, Any]) -> np.ndarray:
    if state["transform"] == "binary":
        return (x >= 0.5 * (state["low"] + state["high"])).astype(np.float64)
    if state["transform"] == "log1p":
        return np.log1p(np.maximum((x - state["shift"]) / state["step"], -0.999999))
    return x


def _backward(y: np.ndarray, state: Mapping[str, Any]) -> np.ndarray:
    if state["transform"] == "binary":
        return state["low"] + np.clip(y, 0.0, 1.0) * (state["high"] - state["low"])
    if state["transform"] == "log1p":
        return np.expm1(y) * state["step"] + state["shift"]
    return y


def _log_gain(x: np.ndarray, shift: float, step: float) -> float:
    """Mean log-likelihood gain per row of one Gaussian on log1p((x - shift)/step) over one on x.

    Both are densities of ``x`` (the log transform's Jacobian is included), so the numbers
    compare directly; a positive gain means the log makes the column more Gaussian.
    """
    var_x = float(np.var(x))
    if var_x <= 0:
        return 0.0
    u = (x - shift) / step
    y = np.log1p(u)
    var_y = float(np.var(y))
    if var_y <= 0:
        return -np.inf
    log_jacobian = -np.mean(np.log1p(u)) - np.log(step)
    return float(-0.5 * np.log(var_y) + log_jacobian + 0.5 * np.log(var_x))


def _mixture_log_gain(x: np.ndarray, shift: float, step: float, noise: float) -> float:
    """Mean log-likelihood gain per row of the best 1-D mixture on log1p((x - shift)/step) over the best on x.

    As :func:`_log_gain` (the Jacobian included) with a mixture (K 1..3 by BIC) for one Gaussian,
    on a seeded sample of at most ``MIXTURE_GAIN_ROWS`` of ``x`` with uniform noise of width
    ``noise`` (the dequantization of a tied lattice column; 0 for none). -inf when either side
    is constant.
    """
    rng = np.random.default_rng(0)
    if x.size > MIXTURE_GAIN_ROWS:
        x = rng.choice(x, MIXTURE_GAIN_ROWS, replace=False)
    if noise > 0:
        x = x + rng.uniform(-0.5, 0.5, x.size) * noise
    u = np.maximum((x - shift) / step, -0.999999)
    log_jacobian = -np.mean(np.log1p(u)) - np.log(step)
    gain = _mixture_log_likelihood(np.log1p(u)) + log_jacobian - _mixture_log_likelihood(x)
    return float(gain) if np.isfinite(gain) else -np.inf


def _mixture_log_likelihood(v: np.ndarray) -> float:
    """Mean log-likelihood per row of ``v`` (n,) under its best 1-D mixture by BIC, in ``v``'s units."""
    spread = float(np.std(v))
    if not spread > 0:
        return np.inf
    z = ((v - np.mean(v)) / spread)[:, None]
    res = select_components(
        z, MIXTURE_GAIN_COMPONENTS, "full", random_state=0, reg_covar=MIXTURE_GAIN_REG_COVAR, restarts=0
    )
    return float(np.mean(res.best_model.score_samples(z)) - np.log(spread))


def _describe_numeric(state: Mapping[str, Any], role: str) -> dict[str, Any]:
    out = {
        "transform": state["transform"],
        "log1p_gain_nats_per_row": round(state["log_gain"], 4),
        "imputed": state["n_missing"],
        "fill": state["fill"],
        "dequantized": state["dequantize"],
        "resolution": state["resolution"],
        "top_value_share": round(state["top_share"], 4),
    }
    if "mixture_log_gain" in state:  # the best 1-D mixture's gain, where it decided (skew_transform="mixture")
        gain = state["mixture_log_gain"]
        out["mixture_log1p_gain_nats_per_row"] = None if gain is None else round(gain, 4)
    if role == "date":
        out["unit"] = f"days before {state['reference_date']}"
    return out
