"""Density-based anomaly flagging for tables.

:class:`TableAnomalyDetector` prepares the table (:class:`~gmmseg.tables.prepare.FeaturePrep`),
fits Gaussian mixtures with the core (K and covariance type chosen by BIC), and scores
every row by its log-density: low means unlikely. For each flagged row it names the
features that make it unlikely, in the table's own units.

The table is prepared by :class:`~gmmseg.tables.prepare.FeaturePrep` with
``skew_transform="mixture"``: a skewed column is logged only where the log raises the
likelihood of the best 1-D mixture (K 1..3), not only that of one Gaussian, since the log pulls
in the rows far out along a long tail (ADBench develop 0.923 -> 0.935, docs/anomalies.md).

The score
---------
With ``ensemble="none", n_estimators=1, trim=0`` the score is exactly the fitted mixture's
log-density of the prepared row. The default combines four measured ingredients:

- two experts, the joint mixture (K in 1..5, full or diag, by BIC) and one 1-D mixture per
  feature (K in 1..3 by BIC) whose log-densities are summed; the member's score is the
  mean of the two (the log of a product of experts, an unnormalized density);
- trimmed refitting: after a first fit, the 20% least likely rows get weight 0 and the
  experts are refitted, so that anomalies do not shape the density;
- three members with other dequantization noise and EM starts; the score is the mean of
  their log-densities;
- feature bagging (Lazarevic and Kumar 2005): eight joint mixtures, each on a random half or
  more of the features (member 0's K and covariance type, fitted on its trimmed rows); each
  bag's log-density is put on the members' scale (the same mean and sd over the kept fit
  rows) and the score is the mean of the members' score and the bags' mean. It weighs
  combinations of intermediate order, which neither the joint nor the 1-D experts see alone.

A table of more than 64 prepared features is modelled on its 32 leading principal
components (:func:`principal_axes`): the per-feature experts cost a sweep per feature.

Sign conventions are scikit-learn's: ``score_samples`` is higher for more normal rows,
``decision_function = score_samples - offset_`` is negative for flagged rows, and
``predict`` and ``labels_`` give -1 for flagged rows and 1 for the others.
:func:`detect_anomalies` runs the whole table workflow (column choice, fit, scores table
with reasons) that ``gmmseg anomalies`` writes out.

ROC AUC on the 20 ADBench sets (``scripts/bench_anomalies.py``): joint mixture alone
0.775, marginal experts alone 0.799, the pair 0.817, + trimming 0.818-0.832 depending on the
share (0.05: 0.819, 0.10: 0.832, 0.15: 0.818, 0.20: 0.832: noisy, hence the members). The
20% share was chosen on the develop half of ``scripts/eval_adbench.py`` (0.918 against 0.906
for 10%, three members; docs/anomalies.md has the confirm half).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..core.coarse import bin_rows
from ..core.covariance import full_matrices
from ..core.estimator import EstimatorBase
from ..core.mixture import GaussianMixture
from ..core.selection import select_components
from ..core.threads import limit_blas_threads
from ..errors import ConvergenceWarning, FittingError, NotFittedError, ParameterError
from .io import select_columns
from .numbers import column_values
from .prepare import FeaturePrep, _as_frame, _backward

__all__ = ["TableAnomalyDetector", "AnomalyDetection", "anomaly_table", "detect_anomalies", "without_small_tight"]

ENSEMBLES = ("none", "marginal")
SMALL_CLUSTERS = ("normal", "anomalous")
#: ``small_clusters="anomalous"``: a joint component is a small tight cluster when it weighs less than
#: this and its log-volume per feature is below the other components' weighted mean minus log 2
#: (half their spread per feature); a tight cluster of 10% anomalies weighs 0.10-0.125 (session 8).
SMALL_CLUSTER_WEIGHT = 0.15
#: Features above which the joint mixture uses diagonal covariances only.
FULL_MAX_FEATURES = 40
#: Components smaller than this share of the rows disqualify a model (see fit).
MIN_COMPONENT_SHARE = 0.01
#: Prepared features beyond which the table is modelled on its principal components: the
#: per-feature experts cost one sweep per feature (a 1,555-column table took minutes).
WIDE_FEATURES = 64
#: Principal components a wide table is modelled on, and the rows their SVD is taken on.
WIDE_COMPONENTS = 32
WIDE_SVD_ROWS = 4000
#: The mixtures are fitted on a seeded random subset of at most this many rows (all rows are scored).
MAX_FIT_ROWS = 20_000
#: Rows per scoring chunk (fewer for wide tables: about 8 MB of prepared features): no float64
#: copy of a whole large table.
SCORE_CHUNK_ROWS = 65_536
SCORE_CHUNK_CELLS = 1 << 20
#: EM iterations of a warm-started refit: members 1..'s untrimmed fit, and their trimmed one.
MEMBER_MAX_ITER = 100
REFIT_MAX_ITER = 30
#: The sweeps keep one start per K (``select_components(restarts=0)``): the extra starts near
#: the chosen K moved the ADBench develop mean ROC AUC by +0.003 (0.917 -> 0.920, under the
#: +0.005 a change must win by) for twice the CPU over the 20 sets.
NO_RESTARTS = 0
#: Bin width (prepared units) of the rows the per-feature mixtures are fitted on: binning moves a
#: row by at most half a bin, adding at most step**2 / 12 (8e-6) to a variance that reg_covar
#: floors at 1e-3, and cuts 20,000 rows to a few hundred weighted bins.
MARGINAL_BIN = 0.01
#: Compute dtype of the joint mixture's sweep: on a 20,000 x 39 table it took 2.2 s of CPU in
#: float32 against 3.1 s in float64, with the same criterion table to the unit and the same choice.
#: The parameters are float64 and the rows are scored in float64 (the exact log-density). A
#: sweep that float32 cannot start (far outliers make its moments' covariance singular, as on
#: ADBench's shuttle) is redone in float64. The warm-started refits stay float64: in float32 a
#: far component's weight underflowed (1e-19) and was re-seeded, with a warning.
JOINT_DTYPE = "float32"
#: A reason must carry at least this share of its row's unlikeliness (the positive per-column
#: terms' sum); smaller ones are what any ordinary row shows and would send the reader astray.
REASON_MIN_SHARE = 0.1

#: Feature bags (session 9, chosen on the develop half: docs/anomalies.md).
N_BAGS = 8
#: Kept fit rows a bag is fitted on (a seeded sample): the bags then cost about an eighth of the
#: fit on a 50,000 x 64 table instead of a fifth (the "no 50,000-row table over 10 s" target).
BAG_FIT_ROWS = 5000


class TableAnomalyDetector(EstimatorBase):
    """Flag the rows of a table that a Gaussian mixture finds unlikely.

    Parameters
    ----------
    n_components : "auto" or int, default="auto"
        ``auto`` chooses K in 1..``max_components`` by BIC.
    covariance_type : {"auto", "full", "diag", "tied", "spherical"}, default="auto"
        ``auto`` tries full and diag (diag only above 40 prepared features).
    max_components : int, default=5
        Largest K tried by ``n_components="auto"``.
    contamination : float, default=0.01
        Share of the training rows flagged; sets ``offset_`` (ignored if ``threshold`` is given).
    threshold : float, optional
        Explicit score threshold (a log-density): rows whose ``score_samples`` is below it are flagged.
    ensemble : {"marginal", "none"}, default="marginal"
        ``none``: the score is the joint mixture's log-density. ``marginal``: the mean of
        it and the sum of per-feature 1-D mixture log-densities.
    scaling : {"robust", "standard"}, default="robust"
    reg_covar : float, default=1e-3
        Added to covariance diagonals of the standardized features.
    trim : float, default=0.2
        If positive, the models are refitted with this share of the least likely rows
        left out (weight 0), so that anomalies do not shape the density (trimmed likelihood).
    n_estimators : int, default=3
        Members of the ensemble: each is fitted with other dequantization noise and other
        EM starts; the score is the mean of their log-densities. Member 0 chooses the
        models (the sweeps); the others refit its choice, started from its parameters.
    n_bags : int, default=8
        Feature-bagged joint mixtures of ``ensemble="marginal"`` (0: none): each is fitted
        on a random subset of ceil(d/2)..d-1 features (tables of 3 or more features) with
        member 0's K and covariance type on its trimmed rows (a sample of 5,000 of them at
        most); the score becomes the mean of the members' score and the bags' mean
        log-density, each bag's put on the members' scale (mean and sd over the kept fit rows).
    small_clusters : {"normal", "anomalous"}, default="normal"
        ``anomalous``: small tight clusters are taken for anomalies (fraud rings, a batch of bad
        records). Every member's joint mixture and every bag drop their components lighter than
        15% whose log-volume per feature is below the other components' weighted mean minus
        log 2, so that such a cluster's rows get the density of the components around them
        instead of a high one of their own. A small tight segment of ordinary rows is then
        flagged too: from the rows alone the two look the same (docs/anomalies.md, sessions 8 and 10).
        Needs a covariance per component (not ``covariance_type="tied"``).
    max_fit_rows : int or None, default=20000
        Fit the mixtures on a seeded random subset of at most this many rows (None: all
        rows); every row is scored.
    roles : dict, optional
        Role overrides for :class:`FeaturePrep` (e.g. ``{"customer": "id"}``).
    random_state : int or None, default=0

    Attributes
    ----------
    prep_ : FeaturePrep
    mixture_ : GaussianMixture
        The joint mixture (member 0's); with ``small_clusters="anomalous"``, without its small
        tight components, so its ``n_components`` (and the summary's) can be below the K that
        ``selection_`` chose.
    marginals_ : list of GaussianMixture
        One 1-D mixture per prepared feature (``ensemble="marginal"``).
    small_components_dropped_ : int
        How many small tight components member 0's joint mixture lost (``small_clusters="anomalous"``;
        0 otherwise).
    bags_ : list of (ndarray, GaussianMixture, float, float)
        Per bag: its feature indices, its mixture, and the mean and sd of its log-density
        over the kept fit rows (empty without bags).
    selection_ : SelectionResult
        The BIC table. The model used is the lowest-BIC one whose components each hold
        at least 1% of the rows (and d + 1 rows): a component on a few extreme rows would
        give them a high density.
    offset_ : float
        The score threshold (a log-density): ``decision_function = score_samples - offset_``,
        rows scoring below it are flagged.
    threshold_ : float
        The same threshold as ``offset_`` (same value, same sign).
    labels_ : ndarray of shape (n_samples,)
        -1 for flagged training rows, 1 otherwise (as ``predict``).
    feature_names_in_ : ndarray of str
    training_scores_ : ndarray of shape (n_samples,)
        ``score_samples`` of the training rows.
    timings_ : dict
        Seconds spent preparing, fitting and scoring the training table.
    projection_ : dict or None
        For a table of more than 64 prepared features, the principal axes it is modelled on
        (:func:`principal_axes`: ``center``, ``axes`` of shape (n_prepared, 32), ``explained``);
        None otherwise.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(0, 1, (300, 2)), [[8.0, 8.0]]])
    >>> det = TableAnomalyDetector(contamination=0.01, random_state=0).fit(X)
    >>> int(np.argmin(det.score_samples(X)))
    300
    >>> det.predict(X[-1:]).tolist()
    [-1]
    """

    # scikit-learn's OutlierMixin without importing scikit-learn (~150 MB of the process)
    _estimator_type = "outlier_detector"

    def __init__(
        self,
        n_components: int | str = "auto",
        *,
        covariance_type: str = "auto",
        max_components: int = 5,
        contamination: float = 0.01,
        threshold: float | None = None,
        ensemble: str = "marginal",
        scaling: str = "robust",
        reg_covar: float = 1e-3,
        trim: float = 0.2,
        n_estimators: int = 3,
        n_bags: int = N_BAGS,
        small_clusters: str = "normal",
        max_fit_rows: int | None = MAX_FIT_ROWS,
        roles: dict | None = None,
        random_state: int | None = 0,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.max_components = max_components
        self.contamination = contamination
        self.threshold = threshold
        self.ensemble = ensemble
        self.scaling = scaling
        self.reg_covar = reg_covar
        self.trim = trim
        self.n_estimators = n_estimators
        self.n_bags = n_bags
        self.small_clusters = small_clusters
        self.max_fit_rows = max_fit_rows
        self.roles = roles
        self.random_state = random_state

    def _check_params(self) -> None:
        if self.ensemble not in ENSEMBLES:
            raise ParameterError(f"ensemble must be one of {', '.join(ENSEMBLES)}, got {self.ensemble!r}")
        if self.small_clusters not in SMALL_CLUSTERS:
            raise ParameterError(
                f"small_clusters must be one of {', '.join(SMALL_CLUSTERS)}, got {self.small_clusters!r}"
            )
        if self.small_clusters == "anomalous" and self.covariance_type == "tied":
            raise ParameterError(
                "small_clusters='anomalous' needs a covariance per component; "
                "use covariance_type auto, full, diag or spherical"
            )
        if self.threshold is None and not (0.0 < float(self.contamination) < 0.5):
            raise ParameterError(f"contamination must be in (0, 0.5), got {self.contamination!r}")
        if self.n_components != "auto" and not (
            isinstance(self.n_components, (int, np.integer)) and self.n_components >= 1
        ):
            raise ParameterError(f"n_components must be 'auto' or a positive int, got {self.n_components!r}")

    def fit(self, X, y=None, progress=None) -> TableAnomalyDetector:
        """Fit the preparation and the mixtures, and set the threshold.

        Work is shared between the members: member 0 runs the K x covariance-type sweep
        (and every marginal's K 1..3 sweep) untrimmed, then again on the trimmed rows; the
        other members (other dequantization noise, other EM seed) refit only member 0's
        choice, started from its parameters, before and after their own trimming.

        Parameters
        ----------
        X : pandas.DataFrame, NumberTable or array-like of shape (n_samples, n_features)
            The reference table.
        y : ignored
        progress : callable, optional
            Called as ``progress(done, total)`` after each of the ``total`` stages (the
            fits of every member, then the scoring), e.g. to draw a progress bar.

        Returns
        -------
        self : TableAnomalyDetector
        """
        self._check_params()
        clock = time.perf_counter()
        frame = _as_frame(X)
        n = frame.shape[0]
        self.prep_ = FeaturePrep(
            self.roles, scaling=self.scaling, skew_transform="mixture", random_state=self.random_state
        )
        self.prep_.fit(frame)
        width = len(self.prep_.feature_names_out_)
        self.feature_names_in_ = self.prep_.feature_names_in_
        self.n_features_in_ = len(self.feature_names_in_)
        base = 0 if self.random_state is None else int(self.random_state)
        fit_frame = frame
        if self.max_fit_rows is not None and n > int(self.max_fit_rows):
            rows = np.random.default_rng(base + 7).choice(n, int(self.max_fit_rows), replace=False)
            fit_frame = frame.iloc[np.sort(rows)]
        self.projection_ = None
        if width > WIDE_FEATURES:
            sample = fit_frame
            if fit_frame.shape[0] > WIDE_SVD_ROWS:
                rows = np.random.default_rng(base + 11).choice(fit_frame.shape[0], WIDE_SVD_ROWS, replace=False)
                sample = fit_frame.iloc[np.sort(rows)]
            self.projection_ = principal_axes(self.prep_.transform(sample), WIDE_COMPONENTS, base)
            width = self.projection_["axes"].shape[1]
        if self.covariance_type == "auto":
            types = ("full", "diag") if width <= FULL_MAX_FEATURES else ("diag",)
        else:
            types = (self.covariance_type,)
        ks = range(1, int(self.max_components) + 1) if self.n_components == "auto" else [int(self.n_components)]
        bagged = self.ensemble == "marginal" and int(self.n_bags) > 0 and width >= 3
        stages = int(self.n_estimators) * (2 if self.trim > 0 else 1) + 1 + int(bagged)
        done = 0

        def advance() -> None:
            nonlocal done
            done += 1
            if progress is not None:
                progress(done, stages)

        prepared = time.perf_counter()
        # BLAS threads on the small per-chunk products cost up to 9x on a busy machine
        # (a 39-D full mixture scored 26,000 rows in 1.49 s, 0.16 s single-threaded)
        self.bags_ = []
        with limit_blas_threads(1):
            members = []
            for i in range(int(self.n_estimators)):
                # member 0: fit_transform's noise (seed = random_state); the others: other noise
                Z_fit = self._features(fit_frame, dequantize=True, seed=base if i == 0 else base + 1000 + i)
                seed = None if self.random_state is None else base + i
                if i == 0:
                    member = self._fit_models(Z_fit, ks, types, None, seed)
                else:
                    member = self._refit_models(members[0], Z_fit, None, seed, MEMBER_MAX_ITER)
                advance()
                if self.trim > 0:
                    # refit without the least likely rows, so that they cannot shape the density
                    first = self._member_score(member[0], member[1], Z_fit)
                    weights = self._kept_rows(first).astype(np.float64)
                    if i == 0:
                        member = self._fit_models(Z_fit, ks, types, weights, seed)
                    else:
                        # from member 0's trimmed models, not the member's own untrimmed ones: a
                        # component of those can sit on the trimmed rows, empty (weight ~1e-18) and
                        # be re-seeded with a "component N collapsed" warning
                        member = self._refit_models(members[0], Z_fit, weights, seed, REFIT_MAX_ITER)
                    advance()
                members.append(member)
                if i == 0:
                    Z_first = Z_fit
            chosen = members[0][0]
            if self.small_clusters == "anomalous":
                members = [(without_small_tight(mixture), *rest) for mixture, *rest in members]
            self.members_ = members
            self.mixture_, self.marginals_, self.selection_ = members[0]
            self.small_components_dropped_ = int(chosen.n_components - self.mixture_.n_components)
            if bagged:
                self.bags_ = self._fit_bags(Z_first, base, chosen)
                advance()
        del Z_fit, Z_first
        fitted = time.perf_counter()
        scores = self.score_samples(frame)
        advance()
        if self.threshold is not None:
            self.offset_ = float(self.threshold)
        else:
            # taken on the negated scores: np.quantile(scores, c) can differ in the last bit,
            # and the recorded CLI outputs (scripts/check_outputs.py) hold this value
            self.offset_ = float(-np.quantile(-scores, 1.0 - float(self.contamination)))
        self.threshold_ = self.offset_
        self.labels_ = np.where(scores < self.offset_, -1, 1)
        self.training_scores_ = scores
        end = time.perf_counter()
        self.timings_ = {
            "prepare_seconds": round(prepared - clock, 3),
            "fit_seconds": round(fitted - prepared, 3),
            "score_seconds": round(end - fitted, 3),
        }
        return self

    def _fit_bags(self, Z_fit, base: int, chosen: GaussianMixture) -> list:
        """The feature bags on member 0's fit rows, their scores' mean and sd on its kept rows (see ``n_bags``).

        The K and covariance type of member 0's joint mixture (``chosen``, as its sweep chose it:
        before any small tight component is dropped) serve every bag (one EM each, no sweep), and the
        members' own score on these rows sets the trimming and the scale the bags are put on.
        Each bag is fitted, and its scale taken, on at most ``BAG_FIT_ROWS`` of the kept rows.
        """
        members = self._members_score(Z_fit)
        kept = self._kept_rows(members)
        self.bag_scale_ = (float(members[kept].mean()), max(float(members[kept].std()), 1e-12))
        Z_bag, weights = Z_fit, kept.astype(np.float64)
        if np.count_nonzero(kept) > BAG_FIT_ROWS:
            rows = np.random.default_rng(base + 13).choice(np.flatnonzero(kept), BAG_FIT_ROWS, replace=False)
            Z_bag, weights = Z_fit[np.sort(rows)], None
        on_bag = slice(None) if weights is None else kept
        d = Z_fit.shape[1]
        rng = np.random.default_rng(base)
        bags = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            for b in range(int(self.n_bags)):
                columns = np.sort(rng.choice(d, int(rng.integers(-(-d // 2), d)), replace=False))
                model = GaussianMixture(
                    chosen.n_components,
                    covariance_type=chosen.covariance_type,
                    reg_covar=self.reg_covar,
                    random_state=None if self.random_state is None else base + b,
                    max_iter=MEMBER_MAX_ITER,
                ).fit(Z_bag[:, columns], sample_weight=weights)
                if self.small_clusters == "anomalous":
                    model = without_small_tight(model)
                s = model.score_samples(Z_bag[:, columns])[on_bag]
                bags.append((columns, model, float(s.mean()), max(float(s.std()), 1e-12)))
        return bags

    def _kept_rows(self, scores: np.ndarray) -> np.ndarray:
        """Rows above the ``trim`` quantile of ``scores`` (n,): the trimmed refits' rows, (n,) bool."""
        if self.trim <= 0:
            return np.ones(len(scores), dtype=bool)
        return scores > np.quantile(scores, float(self.trim))

    def _fit_models(self, Z_fit, ks, types, weights, seed):
        """The sweeps: the joint K x covariance type by BIC, and K 1..3 per marginal feature."""
        d = Z_fit.shape[1]
        n = Z_fit.shape[0] if weights is None else int(np.count_nonzero(weights))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            selection = _in_joint_dtype(
                lambda dtype: select_components(
                    Z_fit,
                    ks,
                    types,
                    sample_weight=weights,
                    random_state=seed,
                    reg_covar=self.reg_covar,
                    dtype=dtype,
                    keep_models=True,
                    restarts=NO_RESTARTS,
                )
            )
            mixture = best_without_tiny_components(selection, n, d).set_params(dtype="float64")
            marginals = []
            if self.ensemble == "marginal":
                for j in range(d):
                    column, column_weights = binned_column(Z_fit[:, j], weights)
                    res = select_components(
                        column,
                        range(1, 4),
                        "full",
                        sample_weight=column_weights,
                        random_state=seed,
                        reg_covar=self.reg_covar,
                        restarts=NO_RESTARTS,
                    )
                    marginals.append(res.best_model)
        return mixture, marginals, selection

    def _refit_models(self, start, Z_fit, weights, seed, max_iter):
        """Refit the models of ``start`` (same covariance types), started from their parameters.

        A start component that holds less than one of these rows (a member trims other rows
        than member 0, whose trimmed models can keep a component on a few far rows) is left
        out: it would empty (weight ~1e-18) and be re-seeded at an unlikely row, with a warning.
        """
        mixture, marginals, selection = start

        def refit(model, Z, weights):
            resp = model.predict_proba(Z)
            mass = resp.sum(axis=0) if weights is None else weights @ resp
            keep = mass >= 1.0
            keep[np.argmax(mass)] = True
            precisions = model.precisions_ if model.covariance_type == "tied" else model.precisions_[keep]
            return GaussianMixture(
                int(np.count_nonzero(keep)),
                covariance_type=model.covariance_type,
                reg_covar=self.reg_covar,
                random_state=seed,
                max_iter=max_iter,
                weights_init=model.weights_[keep] / model.weights_[keep].sum(),
                means_init=model.means_[keep],
                precisions_init=precisions,
            ).fit(Z, sample_weight=weights)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return (
                refit(mixture, Z_fit, weights),
                [refit(m, *binned_column(Z_fit[:, j], weights)) for j, m in enumerate(marginals)],
                selection,
            )

    def _check_is_fitted(self) -> None:
        if not hasattr(self, "mixture_"):
            raise NotFittedError("this TableAnomalyDetector is not fitted yet; call fit(table) first")

    @staticmethod
    def _member_score(mixture, marginals, Z: np.ndarray) -> np.ndarray:
        joint = mixture.score_samples(Z)
        if not marginals:
            return joint
        marginal = np.zeros(Z.shape[0])
        for j, model in enumerate(marginals):
            marginal += model.score_samples(Z[:, j : j + 1])
        return 0.5 * (joint + marginal)

    def _members_score(self, Z: np.ndarray) -> np.ndarray:
        total = np.zeros(Z.shape[0])
        for mixture, marginals, _ in self.members_:
            total += self._member_score(mixture, marginals, Z)
        return total / len(self.members_)

    def _score(self, Z: np.ndarray) -> np.ndarray:
        members = self._members_score(Z)
        if not self.bags_:
            return members
        bagged = np.zeros(Z.shape[0])
        for columns, model, mean, sd in self.bags_:
            bagged += (model.score_samples(Z[:, columns]) - mean) / sd
        center, spread = self.bag_scale_
        return 0.5 * (members + center + spread * bagged / len(self.bags_))

    def score_samples(self, X) -> np.ndarray:
        """Score of every row: its (ensemble) log-density, higher = more normal.

        Parameters
        ----------
        X : pandas.DataFrame, NumberTable or array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        self._check_is_fitted()
        frame = _as_frame(X)
        scores = np.empty(frame.shape[0])
        step = self._chunk_rows()
        with limit_blas_threads(1):
            for start in range(0, frame.shape[0], step):
                scores[start : start + step] = self._score(self._features(frame.iloc[start : start + step]))
        return scores

    def _chunk_rows(self) -> int:
        return int(max(1, min(SCORE_CHUNK_ROWS, SCORE_CHUNK_CELLS // len(self.prep_.feature_names_out_))))

    def _features(self, frame, *, dequantize: bool = False, seed=None) -> np.ndarray:
        """The modelled features of a table, shape (n_rows, n_features): prepared, then projected
        on the principal axes of a wide table (in chunks of rows: no copy of all prepared features)."""
        if self.projection_ is None:
            return self.prep_.transform(frame, dequantize=dequantize, seed=seed)
        center, axes = self.projection_["center"], self.projection_["axes"]
        step = self._chunk_rows()
        rng = np.random.default_rng(seed)
        out = np.empty((frame.shape[0], axes.shape[1]))
        for start in range(0, frame.shape[0], step):
            # every chunk its own noise seed, drawn from the one seed
            chunk_seed = int(rng.integers(2**31)) if dequantize else None
            block = self.prep_.transform(frame.iloc[start : start + step], dequantize=dequantize, seed=chunk_seed)
            out[start : start + step] = (block - center) @ axes
        return out

    def decision_function(self, X) -> np.ndarray:
        """``score_samples - offset_``: negative for flagged rows.

        Parameters
        ----------
        X : pandas.DataFrame, NumberTable or array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        return self.score_samples(X) - self.offset_

    def predict(self, X) -> np.ndarray:
        """-1 for flagged rows, 1 for the others.

        Parameters
        ----------
        X : pandas.DataFrame, NumberTable or array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of int of shape (n_samples,)
        """
        return np.where(self.decision_function(X) < 0, -1, 1)

    def fit_predict(self, X, y=None) -> np.ndarray:
        """Fit, then ``labels_``: -1 for the flagged training rows, 1 for the others.

        Parameters
        ----------
        X : pandas.DataFrame, NumberTable or array-like of shape (n_samples, n_features)
        y : ignored

        Returns
        -------
        ndarray of int of shape (n_samples,)
        """
        return self.fit(X).labels_

    def explain(self, X, n_reasons: int = 3) -> list[list[dict[str, Any]]]:
        """The features that make each row unlikely, in original units.

        For every row, the component most responsible for it is taken and its
        Mahalanobis distance is split into per-feature terms ``0.5 · r_j · (P r)_j``
        (``r`` the row minus the component mean, ``P`` the precision; the terms sum to
        half the squared distance). The largest terms are returned with the row's value
        and the component's typical range (mean ± 2 standard deviations) mapped back to
        original units.

        Parameters
        ----------
        X : pandas.DataFrame, NumberTable or array-like of shape (n_samples, n_features)
        n_reasons : int, default=3
            Reasons per row, largest term first.

        Returns
        -------
        list (one per row) of lists of dict
            ``column``, ``value`` (original units), ``typical_low``, ``typical_high``,
            ``term`` (nats), ``direction`` ("high", "low", or "unusual combination" when
            the value is inside the typical range but unlikely given the other columns), ``text``.
            The first reason is always given; the others only when their term is at least
            ``REASON_MIN_SHARE`` of the row's positive terms' sum, so a row may have fewer.
        """
        self._check_is_fitted()
        frame = _as_frame(X)
        Z = self.prep_.transform(frame)
        mix, projection = self.mixture_, self.projection_
        modelled = Z if projection is None else (Z - projection["center"]) @ projection["axes"]
        n = Z.shape[0]
        with limit_blas_threads(1):
            resp = mix.predict_proba(modelled).argmax(axis=1)
        precisions = full_matrices(mix.covariance_type, mix.precisions_, mix.n_components, modelled.shape[1])
        # rows grouped by their component: one matrix product per component, no Python loop per row
        residuals = modelled - mix.means_[resp]
        pulled = np.empty_like(residuals)
        for k in np.unique(resp):
            rows = resp == k
            pulled[rows] = residuals[rows] @ precisions[k]
        if projection is not None:
            # back on the prepared features; the axes are orthonormal, so the terms still sum
            # to half the squared distance (of the row's part in the principal subspace)
            residuals, pulled = residuals @ projection["axes"].T, pulled @ projection["axes"].T
        terms = 0.5 * residuals * pulled
        source = self.prep_.feature_column()
        columns = list(dict.fromkeys(source))
        groups = [[j for j, c in enumerate(source) if c == col] for col in columns]
        # a column's term is the sum of its features' terms, added in feature order
        per_col = np.zeros((n, len(columns)))
        best_j = np.empty((n, len(columns)), dtype=np.intp)
        for c, feats in enumerate(groups):
            for j in feats:
                per_col[:, c] += terms[:, j]
            size = np.abs(residuals[:, feats])
            best_j[:, c] = np.asarray(feats)[size.argmax(axis=1)]  # first feature of the largest |residual|
        # largest term first; ties keep the column order
        ranked = np.argsort(-per_col, axis=1, kind="stable")[:, : int(n_reasons)]
        enough = (
            np.take_along_axis(per_col, ranked, axis=1)
            >= REASON_MIN_SHARE * np.maximum(per_col, 0).sum(axis=1)[:, None]
        )
        enough[:, 0] = True
        ranges = self._typical_ranges()
        values = {col: column_values(frame, col) for col in columns}
        out = []
        for i in range(n):
            k = int(resp[i])
            reasons = []
            for c in ranked[i][enough[i]]:
                col, j = columns[c], int(best_j[i, c])
                typical = (float(ranges[col][0][k]), float(ranges[col][1][k])) if col in ranges else None
                reasons.append(self._reason(col, values[col][i], residuals[i, j], typical, per_col[i, c]))
            out.append(reasons)
        return out

    def _typical_ranges(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Per numeric column, the typical low and high (mean ± 2 sd) of every component in original units.

        Clipped to the column's range in the fitted table (a count is never typically below 0)
        and, for whole-number columns, rounded to whole numbers.
        """
        prep, mix, projection = self.prep_, self.mixture_, self.projection_
        covariances = full_matrices(mix.covariance_type, mix.covariances_, mix.n_components, mix.means_.shape[1])
        if projection is None:
            means, variances = mix.means_, np.einsum("kjj->kj", covariances)
        else:  # the components seen on the prepared features
            axes = projection["axes"]
            means = projection["center"] + mix.means_ @ axes.T
            variances = np.einsum("jp,kpq,jq->kj", axes, covariances, axes)
        out = {}
        for j, col in enumerate(prep.feature_column()):
            if col in prep.numeric_:
                state = prep.numeric_[col]
                sd = np.sqrt(np.maximum(variances[:, j], 0.0))
                low, high = (
                    _backward((means[:, j] + sign * 2 * sd) * state["scale"] + state["center"], state)
                    for sign in (-1, 1)
                )
                low, high = np.maximum(low, state["low"]), np.minimum(high, state["high"])
                if state.get("resolution", 0.0) >= 1 and float(state["resolution"]).is_integer():  # none for binary
                    low, high = np.floor(low), np.ceil(high)
                out[col] = (low, high)
        return out

    @staticmethod
    def _reason(col, value, residual, typical, term) -> dict[str, Any]:
        """One reason: a numeric column with its ``typical`` (low, high) range, or a category (``typical`` None)."""
        direction = "high" if residual > 0 else "low"
        if typical is not None:
            low, high = typical
            try:
                value = float(value)
                shown = f"{value:.6g}"
            except (TypeError, ValueError):
                shown = str(value)
            inside = isinstance(value, float) and low <= value <= high
            if inside:  # unusual only jointly with the other columns (correlation)
                direction = "unusual combination"
                text = f"{col} = {shown} is unusual with the other values (typical {low:.4g} to {high:.4g})"
            else:
                text = f"{col} = {shown} is {direction} (typical {low:.4g} to {high:.4g})"
            return {
                "column": col,
                "value": value,
                "typical_low": low,
                "typical_high": high,
                "term": round(float(term), 4),
                "direction": direction,
                "text": text,
            }
        value = str(value)
        return {
            "column": col,
            "value": value,
            "typical_low": None,
            "typical_high": None,
            "term": round(float(term), 4),
            "direction": "rare",
            "text": f"{col} = {value} is unusual here",
        }

    def reduction(self) -> dict[str, Any] | None:
        """How a wide table was reduced (None: modelled on all its prepared features).

        Returns
        -------
        dict or None
            ``method`` ("pca"), ``n_features`` (prepared), ``n_components`` (modelled),
            ``explained_variance`` (share held by the kept axes) and ``note`` (one line for people).
        """
        self._check_is_fitted()
        if self.projection_ is None:
            return None
        n_features, kept = self.projection_["n_features"], self.projection_["axes"].shape[1]
        explained = self.projection_["explained"]
        return {
            "method": "pca",
            "n_features": int(n_features),
            "n_components": int(kept),
            "explained_variance": round(float(explained), 4),
            "note": (
                f"the table has {n_features} features after preparation (more than {WIDE_FEATURES}); it was modelled "
                f"on its {kept} principal components ({explained:.0%} of the variance); reasons are mapped back "
                "to the columns"
            ),
        }

    def summary(self) -> dict[str, Any]:
        """JSON-able description of the fitted detector.

        Returns
        -------
        dict
            Chosen mixture, ensemble settings, ``threshold_score`` (= ``offset_``),
            ``n_flagged_training_rows``, the column preparation and the criterion table; for
            a wide table also ``reduction`` (:meth:`reduction`).
        """
        self._check_is_fitted()
        reduction = self.reduction()
        return {
            "n_components": int(self.mixture_.n_components),
            "covariance_type": self.mixture_.covariance_type,
            "ensemble": self.ensemble,
            "n_estimators": int(self.n_estimators),
            "n_bags": len(self.bags_),
            "small_clusters": self.small_clusters,
            "small_components_dropped": int(self.small_components_dropped_),
            "trim": float(self.trim),
            "marginal_components": [int(m.n_components) for m in self.marginals_],
            "threshold_score": float(self.offset_),
            "contamination": None if self.threshold is not None else float(self.contamination),
            "n_flagged_training_rows": int(np.count_nonzero(self.labels_ == -1)),
            "max_fit_rows": None if self.max_fit_rows is None else int(self.max_fit_rows),
            "timings": dict(self.timings_),
            "columns": self.prep_.summary(),
            "criterion_table": self.selection_.table,
        } | ({"reduction": reduction} if reduction is not None else {})


def principal_axes(Z: np.ndarray, n_components: int, random_state: int = 0) -> dict[str, Any]:
    """The leading principal axes of prepared features (an SVD of the centered rows).

    A large matrix gets a randomized SVD (a range finder with power iterations, Halko,
    Martinsson and Tropp 2011): only the leading axes are needed, and the full SVD of a
    4,000 x 2,000 matrix takes tens of seconds.

    Parameters
    ----------
    Z : ndarray of shape (n_rows, n_features)
    n_components : int
        Axes kept (at most ``min(n_rows, n_features)``).
    random_state : int, default=0
        Seed of the randomized SVD's test matrix.

    Returns
    -------
    dict
        ``center`` of shape (n_features,), ``axes`` of shape (n_features, n_kept) with
        orthonormal columns, ``explained`` (share of the variance the kept axes hold),
        ``n_features``.
    """
    center = Z.mean(axis=0)
    A = Z - center
    kept = int(min(n_components, *A.shape))
    if min(A.shape) <= 4 * kept:
        _, singular, vt = np.linalg.svd(A, full_matrices=False)
    else:
        Q = A @ np.random.default_rng(random_state).normal(size=(A.shape[1], kept + 10))
        for _ in range(4):
            Q = A @ (A.T @ np.linalg.qr(Q)[0])
        Q = np.linalg.qr(Q)[0]
        _, singular, vt = np.linalg.svd(Q.T @ A, full_matrices=False)
    total = float(np.einsum("ij,ij->", A, A))
    explained = float(np.sum(singular[:kept] ** 2) / total) if total > 0 else 1.0
    return {"center": center, "axes": vt[:kept].T.copy(), "explained": explained, "n_features": int(Z.shape[1])}


def without_small_tight(mixture: GaussianMixture) -> GaussianMixture:
    """A fitted mixture without its small tight components (``small_clusters="anomalous"``), weights renormalized.

    A component is dropped when it weighs less than ``SMALL_CLUSTER_WEIGHT`` and its
    log-volume per feature (``0.5 * log det(cov) / d``) is below the weighted mean of the other
    components' minus log 2; the largest component never is. Its rows then get the density of
    the components around them: a tight cluster of anomalies with a component of its own would
    otherwise score as the most normal rows of the table.

    Parameters
    ----------
    mixture : GaussianMixture
        Fitted; a tied mixture (one shared covariance) is returned as it is.

    Returns
    -------
    GaussianMixture
        ``mixture`` itself when nothing is dropped, else a copy with ``n_components`` the kept ones.
    """
    weights, d = mixture.weights_, mixture.means_.shape[1]
    if mixture.covariance_type == "tied" or mixture.n_components < 2:
        return mixture
    covariances = full_matrices(mixture.covariance_type, mixture.covariances_, mixture.n_components, d)
    volume = np.array([0.5 * np.linalg.slogdet(c)[1] / d for c in covariances])
    keep = np.ones(mixture.n_components, dtype=bool)
    for k in np.flatnonzero(weights < SMALL_CLUSTER_WEIGHT):
        others = np.arange(mixture.n_components) != k
        keep[k] = volume[k] >= np.average(volume[others], weights=weights[others]) - np.log(2.0)
    keep[np.argmax(weights)] = True
    return mixture if keep.all() else mixture.kept_components(keep)


def _in_joint_dtype(fit):
    """``fit(JOINT_DTYPE)``, or ``fit("float64")`` when float32 cannot start the fit."""
    try:
        return fit(JOINT_DTYPE)
    except FittingError:
        return fit("float64")


def binned_column(z: np.ndarray, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One feature's rows binned to ``MARGINAL_BIN``: the weighted mean and total weight of every occupied bin.

    Weighted EM on the bins is EM on the rows moved to their bin's mean
    (:func:`~gmmseg.core.coarse.bin_rows` of the one column).

    Parameters
    ----------
    z : ndarray of shape (n_rows,)
    weights : ndarray of shape (n_rows,), optional
        Row weights; rows of weight 0 are dropped.

    Returns
    -------
    values : ndarray of shape (n_bins, 1)
    total : ndarray of shape (n_bins,)
    """
    return bin_rows(z[:, None], weights, MARGINAL_BIN)


def best_without_tiny_components(selection, n: int, d: int) -> GaussianMixture:
    """The lowest-BIC model none of whose components is smaller than 1% of the rows (or d + 1 rows).

    A few extreme rows can earn a component of their own, which gives them a *high*
    density; such a model is useless for flagging them, so it is passed over.

    Parameters
    ----------
    selection : SelectionResult
        A sweep run with ``keep_models=True``.
    n : int
        Rows the models were fitted on (with a positive weight).
    d : int
        Features.

    Returns
    -------
    GaussianMixture
        The chosen model (``selection.best_model`` when every model has a tiny component).
    """
    min_rows = max(MIN_COMPONENT_SHARE * n, d + 1)
    rows = sorted(selection.table, key=lambda r: r[selection.criterion])
    for row in rows:
        model = selection.models.get((row["n_components"], row["covariance_type"]))
        if model is not None and float(np.min(model.weights_)) * n >= min_rows:
            return model
    return selection.best_model


def anomaly_table(
    detector: TableAnomalyDetector, table, *, id_column: str | None = None, n_reasons: int = 3, scores=None
):
    """Score every row of a table and give the reasons of the flagged ones.

    Parameters
    ----------
    detector : TableAnomalyDetector
        A fitted detector.
    table : pandas.DataFrame or NumberTable of shape (n_rows, n_columns)
        The rows to score, with the columns the detector was fitted on (and ``id_column``).
    id_column : str, optional
        Identifier column copied to the first column; without it the row number, in a column ``row``.
    n_reasons : int, default=3
        Reason columns ``reason_1`` .. ``reason_N``: the ``text`` of
        :meth:`TableAnomalyDetector.explain` for flagged rows, empty for the others.
    scores : ndarray of shape (n_rows,), optional
        ``detector.score_samples(table)`` when already known (the training table's
        ``training_scores_``), so that a large table is not scored twice.

    Returns
    -------
    pandas.DataFrame of shape (n_rows, 3 + n_reasons)
        ``id_column`` (or ``row``), ``score`` (rounded to 6 decimals), ``flagged`` (bool:
        ``predict == -1``) and the reason columns (categorical: empty for the rows not flagged).
    """
    return _scores_frame(_score_columns(detector, table, id_column=id_column, n_reasons=n_reasons, scores=scores))


def _score_columns(detector, table, *, id_column, n_reasons, scores) -> dict[str, Any]:
    """The columns of :func:`anomaly_table` as NumPy arrays, a reason column as ``(codes, categories)``.

    Made without pandas, so that a :class:`~gmmseg.tables.numbers.NumberTable` can be dropped
    before pandas is imported for the DataFrame (:func:`_scores_frame`).
    """
    scores = detector.score_samples(table) if scores is None else np.asarray(scores, dtype=np.float64)
    flagged = scores < detector.offset_
    rows = np.flatnonzero(flagged)
    ids = column_values(table, id_column) if id_column else np.arange(table.shape[0])
    out: dict[str, Any] = {id_column or "row": ids, "score": np.round(scores, 6), "flagged": flagged}
    # Only the flagged rows have reasons. A column of 10^6 mostly empty strings costs a Python
    # object per row and 40 MB more while pandas converts it; as a categorical it is 4 bytes a row.
    explained = detector.explain(table.iloc[rows], n_reasons=n_reasons) if rows.size else []
    for r in range(int(n_reasons)):
        texts = np.asarray([""] + [items[r]["text"] if r < len(items) else "" for items in explained], dtype=object)
        categories, codes = np.unique(texts, return_inverse=True)  # "" sorts first: code 0
        column = np.zeros(len(scores), dtype=np.int32)
        column[rows] = codes[1:]
        out[f"reason_{r + 1}"] = (column, categories)
    return out


def _scores_frame(columns: dict[str, Any]):
    """The DataFrame of :func:`_score_columns`' columns."""
    import pandas as pd

    return pd.DataFrame(
        {
            name: pd.Categorical.from_codes(*values) if isinstance(values, tuple) else values
            for name, values in columns.items()
        }
    )


class AnomalyDetection:
    """Result of :func:`detect_anomalies`.

    Parameters
    ----------
    scores : pandas.DataFrame or dict
        The :func:`anomaly_table` of the scored table, or its columns (NumPy arrays, reasons as
        ``(codes, categories)``), made into the DataFrame when ``scores`` is first read: the
        command line drops a large input table before pandas is imported for it.
    detector : TableAnomalyDetector
        The detector fitted on the reference table.
    id_column : str, optional
    source, reference_source : str, optional
        Where the scored and the reference tables came from (None: not given / no reference).

    Attributes
    ----------
    scores : pandas.DataFrame of shape (n_rows, 3 + n_reasons)
    detector, id_column, source, reference_source
        As given.
    """

    def __init__(
        self,
        scores,
        detector: TableAnomalyDetector,
        id_column: str | None = None,
        source: str | None = None,
        reference_source: str | None = None,
    ):
        self._scores = scores
        self.detector = detector
        self.id_column = id_column
        self.source = source
        self.reference_source = reference_source

    @property
    def scores(self):
        """The scores table (a pandas DataFrame)."""
        if isinstance(self._scores, dict):
            self._scores = _scores_frame(self._scores)
        return self._scores

    def _column(self, name: str) -> np.ndarray:
        return self._scores[name] if isinstance(self._scores, dict) else self._scores[name].to_numpy()

    @property
    def n_rows(self) -> int:
        """Rows scored."""
        return int(self._column("score").shape[0])

    @property
    def n_flagged(self) -> int:
        """Rows flagged."""
        return int(np.count_nonzero(self._column("flagged")))

    def summary(self) -> dict[str, Any]:
        """JSON-able summary: the detector's summary, the sources and the counts.

        Returns
        -------
        dict
            :meth:`TableAnomalyDetector.summary` plus ``data``, ``reference``, ``n_rows``,
            ``n_flagged`` and ``id_column``.
        """
        return self.detector.summary() | {
            "data": self.source,
            "reference": self.reference_source,
            "n_rows": self.n_rows,
            "n_flagged": self.n_flagged,
            "id_column": self.id_column,
        }


def detect_anomalies(
    table,
    *,
    reference=None,
    id_column: str | None = None,
    columns: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    contamination: float = 0.01,
    threshold: float | None = None,
    small_clusters: str = "normal",
    random_state: int | None = 0,
    n_reasons: int = 3,
    source: str | None = None,
    reference_source: str | None = None,
    progress=None,
) -> AnomalyDetection:
    """Fit a :class:`TableAnomalyDetector` on a reference table and score a table, with reasons.

    Parameters
    ----------
    table : pandas.DataFrame or NumberTable of shape (n_rows, n_columns)
        The rows to score. Not modified.
    reference : pandas.DataFrame or NumberTable of shape (n_reference_rows, n_columns), optional
        The table the detector is fitted on (default: ``table`` itself).
    id_column : str, optional
        Identifier column, carried to the scores table and left out of the model. Without it,
        the first column :class:`FeaturePrep` finds to be an identifier (a unique value per
        row) is carried, and the rows are numbered (``row``) only if there is none.
    columns, exclude : sequence of str, optional
        Model only these columns / leave these out (:func:`~gmmseg.tables.io.select_columns`).
    contamination : float, default=0.01
        Share of the reference rows flagged (ignored when ``threshold`` is given).
    threshold : float, optional
        Flag rows whose score (log-density) is below this.
    small_clusters : {"normal", "anomalous"}, default="normal"
        ``anomalous``: small tight clusters are flagged (:class:`TableAnomalyDetector`).
    random_state : int or None, default=0
    n_reasons : int, default=3
        Reason columns of the scores table.
    source, reference_source : str, optional
        Names of the two tables (file paths) for error messages and the summary.
    progress : callable, optional
        ``progress(done, total)`` after each stage of the fit (:meth:`TableAnomalyDetector.fit`).

    Returns
    -------
    AnomalyDetection
    """
    keep = [id_column] if id_column else []
    choice = {"columns": columns or None, "exclude": exclude or None, "keep": keep}
    used = select_columns(table, **choice, source=source)
    if reference is None:
        reference_used = used
    else:
        reference_used = select_columns(reference, **choice, source=reference_source or source)
    detector = TableAnomalyDetector(
        contamination=contamination,
        threshold=threshold,
        small_clusters=small_clusters,
        roles={id_column: "id"} if id_column else None,
        random_state=random_state,
    ).fit(reference_used, progress=progress)
    started = time.perf_counter()
    if id_column is None:  # an identifier found by FeaturePrep is left out of the model and carried
        id_column = detector.prep_.first_identifier(used.columns)
    known = detector.training_scores_ if reference is None else None
    scores = _score_columns(detector, used, id_column=id_column, n_reasons=n_reasons, scores=known)
    detector.timings_["table_seconds"] = round(time.perf_counter() - started, 3)
    return AnomalyDetection(
        scores=scores, detector=detector, id_column=id_column, source=source, reference_source=reference_source
    )
