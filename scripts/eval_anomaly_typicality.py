"""Session 11's candidates for ``TableAnomalyDetector``: typicality instead of density, and the log1p decision (issue 13).

A mixture's log-density ``log sum_k w_k N_k(x)`` mixes how far a row is from a component
(its squared Mahalanobis distance ``D2_k``) with the component's volume: a row in a broad,
sparse component gets a low density although it is typical of that component. Each candidate
is the session-10 default (bags on; ``S10_default``, whose FeaturePrep has ``skew_transform="auto"``) with one change to the term a fitted mixture gives a row
(K, covariance types, trimming, members and the bags' fits are the default's); the rule they were
judged by, written down before they ran, is quoted in docs/anomalies.md ("Session 11"):

- ``T1w_typicality_weights``: every member's joint term is ``log sum_k w_k sf_d(D2_k)``, with
  ``sf_d`` the chi-square(d) survival function (the tail probability of the row's distance under
  the component), wherever the member score is used (trimming's first pass, the score, the bags'
  scale);
- ``T1r_typicality_resp``: the joint term is ``sum_k r_k log sf_d(D2_k)``, ``r_k`` the
  responsibilities;
- ``T2_entropy_normalised``: the joint term is ``log sum_k w_k exp(log N_k + H_k)``, ``H_k`` the
  component's entropy (the volumes taken out, the weights kept);
- ``T1wb_typicality_bags``: T1w, and every bag's term is its ``log sum_k w_k sf_{d_bag}(D2_k)``;
- ``T3_typicality_all``: T1wb, and every 1-D per-feature term is ``log sum_k w_k sf_1(z_k^2)``
  (component-wise two-sided tails combined by the weights);
- ``T4_calibrated_typicality`` (round 2): T1w with each component's distances matched by a scaled
  chi-square (Satterthwaite: the mean and variance of ``D2_k`` over the kept fit rows, weighted by
  responsibility) instead of chi-square(d); trimming's first pass stays the default density;
- ``T5_typicality_on_density_scale`` (round 3): T1w's joint term matched per member to the mean and
  sd of the joint log-density over the kept fit rows (the ranking changes, not the experts' weights);
- ``S1_no_log_for_flagging`` (round 4, from the per-table losses): no log1p on skewed columns
  (``FeaturePrep(skew_transform="none")``): log1p pulls in rows far out along a long tail;
- ``S2_log_where_the_mixture_gains`` (round 5, adopted: the detector's ``skew_transform="mixture"``
  since session 11): log1p only where it also raises the best 1-D mixture's (K 1..3 by BIC)
  log-likelihood per row by more than 0.05 nats, not only one Gaussian's.

    nice -n 15 env OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python scripts/eval_adbench.py --half develop \
        --methods iforest,default --variants-from scripts/eval_anomaly_typicality.py \
        --variant T1w_typicality_weights --variant T1r_typicality_resp --variant T2_entropy_normalised \
        --variant T1wb_typicality_bags --variant T3_typicality_all
    python scripts/eval_anomaly_typicality.py [--methods default,T1w_typicality_weights]
        # the masking check of eval_anomaly_candidates.py, and the demo's planted orders among the 30 least likely
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # this checkout's gmmseg
sys.path.insert(0, str(HERE))

from gmmseg.core.covariance import full_matrices  # noqa: E402
from gmmseg.tables.anomalies import BAG_FIT_ROWS, TableAnomalyDetector  # noqa: E402

#: Below this survival probability ``gammaincc`` loses its digits; the continued fraction takes over.
SF_FLOOR = 1e-280
#: Terms of the continued fraction (it converges in a few for the far rows it is used on).
CF_TERMS = 60


def log_chi2_sf(x: np.ndarray, dof: int) -> np.ndarray:
    """``log P(chi2(dof) > x)``, finite however far ``x`` is (scipy's ``chi2.logsf`` gives -inf past ~1,500).

    ``P = Q(dof / 2, x / 2)``, the regularized upper incomplete gamma function; where it underflows, its
    Legendre continued fraction (Lentz's method) in log form.
    """
    from scipy.special import gammaincc, gammaln

    a, y = 0.5 * dof, 0.5 * np.maximum(np.asarray(x, dtype=np.float64), 0.0)
    q = gammaincc(a, y)
    out = np.log(np.maximum(q, SF_FLOOR))
    far = q < SF_FLOOR
    if far.any():
        yf = y[far]
        b = yf + 1.0 - a
        c = np.full_like(yf, 1e300)
        d = 1.0 / b
        h = d.copy()
        for i in range(1, CF_TERMS + 1):
            an = -i * (i - a)
            b = b + 2.0
            d = an * d + b
            c = b + an / c
            d = 1.0 / d
            h *= d * c
        out[far] = -yf + a * np.log(yf) - gammaln(a) + np.log(h)
    return out


def _component_parts(model, Z):
    """``log w_k``, the squared Mahalanobis distances (n, K) and the log-determinants (K,) of a fitted mixture."""
    d = model.means_.shape[1]
    covariances = full_matrices(model.covariance_type, model.covariances_, model.n_components, d)
    logdet = np.array([np.linalg.slogdet(c)[1] for c in covariances])
    log_w = np.log(model.weights_)
    log_prob = model.component_log_prob(Z)  # log w_k + log N_k
    distance = np.maximum(-2.0 * (log_prob - log_w) - d * np.log(2.0 * np.pi) - logdet, 0.0)
    return log_w, distance, logdet, log_prob


def typicality_weights(model, Z) -> np.ndarray:
    """``log sum_k w_k sf_d(D2_k(x))``, shape (n_rows,)."""
    from scipy.special import logsumexp

    log_w, distance, _, _ = _component_parts(model, Z)
    return logsumexp(log_chi2_sf(distance, model.means_.shape[1]) + log_w, axis=1)


def typicality_resp(model, Z) -> np.ndarray:
    """``sum_k r_k(x) log sf_d(D2_k(x))``, shape (n_rows,)."""
    from scipy.special import softmax

    _, distance, _, log_prob = _component_parts(model, Z)
    return np.sum(softmax(log_prob, axis=1) * log_chi2_sf(distance, model.means_.shape[1]), axis=1)


def entropy_normalised(model, Z) -> np.ndarray:
    """``log sum_k w_k exp(log N_k(x) + H_k)``, shape (n_rows,)."""
    from scipy.special import logsumexp

    d = model.means_.shape[1]
    _, _, logdet, log_prob = _component_parts(model, Z)
    entropy = 0.5 * d * (1.0 + np.log(2.0 * np.pi)) + 0.5 * logdet
    return logsumexp(log_prob + entropy, axis=1)


def density(model, Z) -> np.ndarray:
    return model.score_samples(Z)


class SkewTransform(TableAnomalyDetector):
    """The detector with its FeaturePrep's ``skew_transform`` set to ``skew`` (the session-10 default: "auto")."""

    skew = "auto"

    def fit(self, X, y=None, progress=None):
        import gmmseg.tables.anomalies as anomalies

        original, skew = anomalies.FeaturePrep, self.skew

        def prep(*args, **params):
            return original(*args, **(params | {"skew_transform": skew}))

        anomalies.FeaturePrep = prep
        try:
            return super().fit(X, y, progress)
        finally:
            anomalies.FeaturePrep = original


class S1(SkewTransform):
    skew = "none"


class S2(SkewTransform):
    skew = "mixture"


class Typicality(SkewTransform):
    """The default with other terms for the joint mixtures, the bags and the 1-D experts."""

    joint_term = staticmethod(density)
    bag_term = staticmethod(density)
    marginal_term = staticmethod(density)

    def _member_score(self, mixture, marginals, Z):
        joint = self.joint_term(mixture, Z)
        marginal = np.zeros(Z.shape[0])
        for j, model in enumerate(marginals):
            marginal += self.marginal_term(model, Z[:, j : j + 1])
        return 0.5 * (joint + marginal)

    def _fit_bags(self, Z_fit, base, chosen):
        bags = super()._fit_bags(Z_fit, base, chosen)
        if self.bag_term is density:
            return bags
        # the bags' scale on their new term, over the rows the default takes it on
        kept = self._kept_rows(self._members_score(Z_fit))
        rows = np.flatnonzero(kept)
        if rows.size > BAG_FIT_ROWS:
            rows = np.sort(np.random.default_rng(base + 13).choice(rows, BAG_FIT_ROWS, replace=False))
        out = []
        for columns, model, _, _ in bags:
            s = self.bag_term(model, Z_fit[rows][:, columns])
            out.append((columns, model, float(s.mean()), max(float(s.std()), 1e-12)))
        return out

    def _score(self, Z):
        members = self._members_score(Z)
        if not self.bags_:
            return members
        bagged = np.zeros(Z.shape[0])
        for columns, model, mean, sd in self.bags_:
            bagged += (self.bag_term(model, Z[:, columns]) - mean) / sd
        center, spread = self.bag_scale_
        return 0.5 * (members + center + spread * bagged / len(self.bags_))


class T1w(Typicality):
    joint_term = staticmethod(typicality_weights)


class T1r(Typicality):
    joint_term = staticmethod(typicality_resp)


class T2(Typicality):
    joint_term = staticmethod(entropy_normalised)


class T1wb(Typicality):
    joint_term = staticmethod(typicality_weights)
    bag_term = staticmethod(typicality_weights)


class T3(T1wb):
    marginal_term = staticmethod(typicality_weights)


def calibrated_distances(model, Z, weights) -> tuple[np.ndarray, np.ndarray]:
    """Each component's scaled chi-square (Satterthwaite): ``nu_k = 2 m_k^2 / v_k`` and ``c_k = v_k / (2 m_k)``.

    ``m_k`` and ``v_k`` are the mean and variance of ``D2_k`` over the rows, weighted by ``weights``
    times the responsibilities; a Gaussian component gives ``nu = d``, ``c = 1``. Shapes (K,), (K,).
    """
    from scipy.special import softmax

    _, distance, _, log_prob = _component_parts(model, Z)
    r = softmax(log_prob, axis=1) * weights[:, None]
    total = np.maximum(r.sum(axis=0), 1e-12)
    mean = (r * distance).sum(axis=0) / total
    var = np.maximum((r * (distance - mean) ** 2).sum(axis=0) / total, 1e-12)
    return 2.0 * mean**2 / var, var / (2.0 * mean)


def calibrated_typicality(model, calibration, Z) -> np.ndarray:
    """``log sum_k w_k sf_{nu_k}(D2_k / c_k)``, shape (n_rows,)."""
    from scipy.special import logsumexp

    nu, scale = calibration
    log_w, distance, _, _ = _component_parts(model, Z)
    tails = np.column_stack([log_chi2_sf(distance[:, k] / scale[k], nu[k]) for k in range(len(nu))])
    return logsumexp(tails + log_w, axis=1)


class T4(Typicality):
    """T1w with each component's distances matched by a scaled chi-square on the kept fit rows (trimming stays density)."""

    def _fit_bags(self, Z_fit, base, chosen):
        kept = self._kept_rows(TableAnomalyDetector._members_score(self, Z_fit)).astype(np.float64)
        self.calibration_ = [calibrated_distances(mixture, Z_fit, kept) for mixture, _, _ in self.members_]
        return super()._fit_bags(Z_fit, base, chosen)

    def _members_score(self, Z):
        if not hasattr(self, "calibration_"):
            return TableAnomalyDetector._members_score(self, Z)
        total = np.zeros(Z.shape[0])
        for (mixture, marginals, _), calibration in zip(self.members_, self.calibration_, strict=True):
            marginal = np.zeros(Z.shape[0])
            for j, model in enumerate(marginals):
                marginal += model.score_samples(Z[:, j : j + 1])
            total += 0.5 * (calibrated_typicality(mixture, calibration, Z) + marginal)
        return total / len(self.members_)


class T5(Typicality):
    """T1w's joint term matched per member to the joint log-density's mean and sd over the kept fit rows."""

    def _fit_bags(self, Z_fit, base, chosen):
        kept = self._kept_rows(TableAnomalyDetector._members_score(self, Z_fit))
        self.joint_scale_ = []
        for mixture, _, _ in self.members_:
            dens, typ = mixture.score_samples(Z_fit)[kept], typicality_weights(mixture, Z_fit)[kept]
            b = dens.std() / max(typ.std(), 1e-12)
            self.joint_scale_.append((dens.mean() - b * typ.mean(), b))
        return super()._fit_bags(Z_fit, base, chosen)

    def _members_score(self, Z):
        if not hasattr(self, "joint_scale_"):
            return TableAnomalyDetector._members_score(self, Z)
        total = np.zeros(Z.shape[0])
        for (mixture, marginals, _), (a, b) in zip(self.members_, self.joint_scale_, strict=True):
            marginal = np.zeros(Z.shape[0])
            for j, model in enumerate(marginals):
                marginal += model.score_samples(Z[:, j : j + 1])
            total += 0.5 * (a + b * typicality_weights(mixture, Z) + marginal)
        return total / len(self.members_)


VARIANTS = {
    "S10_default": SkewTransform,
    "T1w_typicality_weights": T1w,
    "T1r_typicality_resp": T1r,
    "T2_entropy_normalised": T2,
    "T1wb_typicality_bags": T1wb,
    "T3_typicality_all": T3,
    "T4_calibrated_typicality": T4,
    "T5_typicality_on_density_scale": T5,
    "S1_no_log_for_flagging": S1,
    "S2_log_where_the_mixture_gains": S2,
}


def main() -> int:
    from eval_anomaly_candidates import methods_from_command_line, print_masking_check, print_orders_check

    runners, names = methods_from_command_line(VARIANTS, __doc__)
    print_masking_check(runners, names)
    print_orders_check(VARIANTS, names)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
