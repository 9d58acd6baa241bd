"""TableAnomalyDetector: scores equal the mixture log-density, scikit-learn conventions, reasons, scores table."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from gmmseg.errors import ParameterError, TableError
from gmmseg.tables.anomalies import TableAnomalyDetector, anomaly_table, detect_anomalies
from gmmseg.tables.prepare import FeaturePrep


def _data(seed=0):
    rng = np.random.default_rng(seed)
    a = rng.multivariate_normal([0, 0, 0], [[1, 0.8, 0], [0.8, 1, 0], [0, 0, 1]], 300)
    b = rng.normal(6, 1, (200, 3))
    X = np.vstack([a, b, [[0.0, 0.0, 30.0]]])
    return pd.DataFrame(X, columns=["spend", "visits", "returns"])


def test_score_is_the_mixture_log_density():
    frame = _data()
    det = TableAnomalyDetector(ensemble="none", n_estimators=1).fit(frame)
    Z = det.prep_.transform(frame)
    mix = det.mixture_
    covs = mix.covariances_
    if mix.covariance_type == "diag":
        covs = [np.diag(c) for c in covs]
    ref = logsumexp(
        [np.log(w) + multivariate_normal(m, c).logpdf(Z) for w, m, c in zip(mix.weights_, mix.means_, covs)], axis=0
    )
    np.testing.assert_allclose(det.score_samples(frame), ref, rtol=1e-8)


def _members_score(det, Z):
    expected = np.zeros(len(Z))
    for mixture, marginals, _ in det.members_:
        marg = sum(m.score_samples(Z[:, [j]]) for j, m in enumerate(marginals))
        expected += 0.5 * (mixture.score_samples(Z) + marg) / len(det.members_)
    return expected


def test_score_without_bags_is_mean_over_members_of_joint_and_marginal_experts():
    frame = _data()
    det = TableAnomalyDetector(n_estimators=2, n_bags=0).fit(frame)
    assert det.bags_ == []
    np.testing.assert_allclose(det.score_samples(frame), _members_score(det, det.prep_.transform(frame)))


def _bagged_frame(n=400, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    X[:, 1] = X[:, 0] + 0.1 * rng.normal(size=n)
    return pd.DataFrame(X, columns=list("abcde"))


def test_default_score_averages_the_members_and_the_feature_bags_on_their_scale():
    frame = _bagged_frame()
    det = TableAnomalyDetector(n_estimators=2).fit(frame)
    assert len(det.bags_) == 8 and det.summary()["n_bags"] == 8
    Z = det.prep_.transform(frame)
    # member 0's fit rows (its dequantization noise) and its trimming (the 20% least likely rows out)
    Z_fit = det.prep_.transform(frame, dequantize=True, seed=0)
    members_fit = _members_score(det, Z_fit)
    kept = members_fit > np.quantile(members_fit, 0.2)
    center, spread = members_fit[kept].mean(), members_fit[kept].std()
    bagged = np.zeros(len(frame))
    for columns, model, _, _ in det.bags_:
        assert 3 <= len(columns) <= 4 and len(set(columns)) == len(columns)  # ceil(5/2)..5-1 features
        assert (model.n_components, model.covariance_type) == (det.mixture_.n_components, det.mixture_.covariance_type)
        on_fit = model.score_samples(Z_fit[:, columns])[kept]
        bagged += (model.score_samples(Z[:, columns]) - on_fit.mean()) / on_fit.std() / len(det.bags_)
    expected = 0.5 * (_members_score(det, Z) + center + spread * bagged)
    np.testing.assert_allclose(det.score_samples(frame), expected, rtol=1e-9, atol=1e-9)


def test_bags_catch_a_broken_pair_that_the_one_dimensional_experts_miss():
    # a row typical in every column but breaking the a ~ b relation: the bags that hold both see it
    frame = _bagged_frame()
    frame.loc[len(frame)] = [1.5, -1.5, 0.0, 0.0, 0.0]
    det = TableAnomalyDetector().fit(frame)
    assert int(np.argmin(det.training_scores_)) == len(frame) - 1
    assert det.predict(frame.iloc[[-1]]).tolist() == [-1]


def test_no_bags_for_tables_under_three_features_or_without_the_marginal_ensemble():
    frame = _bagged_frame()
    assert TableAnomalyDetector(n_estimators=1).fit(frame[["a", "b"]]).bags_ == []
    assert TableAnomalyDetector(ensemble="none", n_estimators=1).fit(frame).bags_ == []


def test_a_skew_that_is_a_second_mode_is_not_logged_before_flagging():
    # 1-10 scores whose right skew is a 30% group of high rows (breastw-like): the log that one
    # Gaussian asks for would pull those rows in; the detector's FeaturePrep leaves the column as it is
    rng = np.random.default_rng(4)
    n = 1000
    high = rng.random(n) < 0.3
    score = np.where(high, rng.integers(7, 11, n), rng.integers(1, 4, n)).astype(float)
    frame = pd.DataFrame({"score": score, "other": rng.normal(0.0, 1.0, n), "more": rng.normal(0.0, 1.0, n)})
    det = TableAnomalyDetector(n_estimators=1, n_bags=0).fit(frame)
    assert det.prep_.skew_transform == "mixture"
    assert det.prep_.numeric_["score"]["transform"] == "identity"
    assert FeaturePrep().fit(frame).numeric_["score"]["transform"] == "log1p"


def test_trim_refits_without_the_least_likely_rows():
    frame = _data()
    det = TableAnomalyDetector(ensemble="none", n_estimators=1, trim=0.1).fit(frame)
    first = TableAnomalyDetector(ensemble="none", n_estimators=1, trim=0.0).fit(frame)
    Z = first.prep_.transform(frame)
    kept = first.mixture_.score_samples(Z) > np.quantile(first.mixture_.score_samples(Z), 0.1)
    # the criterion table of the trimmed fit counts only the kept rows: n = 0.9 * rows
    row = det.selection_.table[0]  # K=1: a unique optimum, so an exact reference exists
    mean = Z[kept].mean(axis=0)
    assert row["n_components"] == 1
    model = det.selection_.models[(1, row["covariance_type"])]
    np.testing.assert_allclose(model.means_[0], mean, atol=1e-8)


def test_scikit_learn_outlier_conventions_and_threshold():
    frame = _data()
    det = TableAnomalyDetector(contamination=0.02).fit(frame)
    scores = det.score_samples(frame)
    # the threshold is the contamination quantile of the training scores, on the score's sign
    assert det.offset_ == det.threshold_ == pytest.approx(np.quantile(scores, 0.02), rel=1e-12)
    np.testing.assert_allclose(det.decision_function(frame), scores - det.offset_)
    np.testing.assert_array_equal(det.labels_, np.where(scores < det.offset_, -1, 1))
    np.testing.assert_array_equal(det.predict(frame), det.labels_)
    assert set(np.unique(det.labels_)) == {-1, 1}
    assert (det.labels_ == -1).sum() == pytest.approx(0.02 * len(frame), abs=1)
    assert det.labels_[-1] == -1 and np.argmin(scores) == len(frame) - 1
    assert det.summary()["threshold_score"] == det.offset_
    assert det.summary()["n_flagged_training_rows"] == (det.labels_ == -1).sum()
    explicit = TableAnomalyDetector(threshold=float(np.median(scores))).fit(frame)
    assert explicit.offset_ == float(np.median(scores))
    assert (explicit.labels_ == -1).sum() == (scores < np.median(scores)).sum()


def test_fit_predict_equals_fit_then_predict():
    frame = _data()
    labels = TableAnomalyDetector(n_estimators=1).fit_predict(frame)
    np.testing.assert_array_equal(labels, TableAnomalyDetector(n_estimators=1).fit(frame).predict(frame))


def test_works_inside_a_scikit_learn_pipeline():
    from sklearn.base import clone
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    frame = _data()
    pipe = make_pipeline(FunctionTransformer(), TableAnomalyDetector(n_estimators=1, max_components=2))
    labels = pipe.fit(frame).predict(frame)
    alone = TableAnomalyDetector(n_estimators=1, max_components=2).fit(frame)
    np.testing.assert_array_equal(labels, alone.predict(frame))
    assert clone(alone).get_params()["max_components"] == 2


def test_reasons_name_the_unusual_feature_in_original_units():
    frame = _data()
    det = TableAnomalyDetector().fit(frame)
    reasons = det.explain(frame.iloc[[-1]])[0]
    assert reasons[0]["column"] == "returns" and reasons[0]["value"] == 30.0
    assert reasons[0]["typical_high"] < 30.0 and reasons[0]["direction"] == "high"
    assert "returns = 30" in reasons[0]["text"]


def test_high_dimensional_uses_diag():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 45))
    det = TableAnomalyDetector(ensemble="none", max_components=2).fit(X)
    assert det.mixture_.covariance_type == "diag"


def test_adbench_beats_isolation_forest_on_two_sets(shared_data):
    """Full 20-set comparison in scripts/bench_anomalies.py; here two small sets."""
    from sklearn.ensemble import IsolationForest
    from sklearn.metrics import roc_auc_score

    ours, peer = [], []
    for name in ("42_WBC", "27_PageBlocks"):
        data = np.load(shared_data / "adbench" / f"{name}.npz")
        X, y = data["X"].astype(float), data["y"]
        ours.append(roc_auc_score(y, -TableAnomalyDetector().fit(X).score_samples(X)))
        peer.append(roc_auc_score(y, -IsolationForest(random_state=0).fit(X).score_samples(X)))
    assert np.mean(ours) > np.mean(peer)


def _explicit_reasons(det, frame, i, n_reasons=3):
    """Columns of the largest terms 0.5 r_j (P r)_j for the most responsible component, by a plain loop.

    After the first, a column is a reason only when its term is at least a tenth of the sum of
    the row's positive terms.
    """
    Z = det.prep_.transform(frame)
    mix = det.mixture_
    z = Z[i]
    k = int(np.argmax(mix.predict_proba(Z[i : i + 1])[0]))
    cov = mix.covariances_[k] if mix.covariance_type == "full" else np.diag(mix.covariances_[k])
    precision = np.linalg.inv(cov)
    r = z - mix.means_[k]
    terms = {}
    for j, column in enumerate(det.prep_.feature_column()):
        terms[column] = terms.get(column, 0.0) + 0.5 * r[j] * sum(precision[j, m] * r[m] for m in range(len(r)))
    ranked = sorted(terms, key=lambda c: -terms[c])[:n_reasons]
    positive = sum(t for t in terms.values() if t > 0)
    return [c for r, c in enumerate(ranked) if r == 0 or terms[c] >= 0.1 * positive], terms


def test_anomaly_table_scores_flags_and_reasons_match_an_explicit_computation():
    frame = _data().assign(customer=np.arange(501) + 1000)
    det = TableAnomalyDetector(roles={"customer": "id"}, contamination=0.01).fit(frame)
    out = anomaly_table(det, frame, id_column="customer")
    assert list(out.columns) == ["customer", "score", "flagged", "reason_1", "reason_2", "reason_3"]
    np.testing.assert_array_equal(out["customer"], frame["customer"])
    np.testing.assert_array_equal(out["score"], np.round(det.score_samples(frame), 6))
    np.testing.assert_array_equal(out["flagged"], det.predict(frame) == -1)
    assert out["flagged"].sum() == (det.labels_ == -1).sum()
    assert (out.loc[~out["flagged"], ["reason_1", "reason_2", "reason_3"]] == "").all(axis=None)
    for i in np.flatnonzero(out["flagged"]):
        ranked, terms = _explicit_reasons(det, frame, i)
        texts = [out.loc[i, f"reason_{r + 1}"] for r in range(3)]
        assert [t.split(" = ")[0] for t in texts if t] == ranked
        assert all(texts[: len(ranked)]) and not any(texts[len(ranked) :])
        explained = det.explain(frame.iloc[[i]])[0]
        np.testing.assert_allclose([e["term"] for e in explained], [round(terms[c], 4) for c in ranked], atol=1e-4)
    assert out.loc[500, "reason_1"].startswith("returns = 30 is high")


def test_anomaly_table_without_id_numbers_the_rows_and_takes_n_reasons():
    frame = _data()
    det = TableAnomalyDetector(n_estimators=1).fit(frame)
    out = anomaly_table(det, frame, n_reasons=1)
    assert list(out.columns) == ["row", "score", "flagged", "reason_1"]
    np.testing.assert_array_equal(out["row"], np.arange(len(frame)))


def test_detect_anomalies_fits_on_the_reference_and_scores_the_table():
    reference = _data(seed=0).assign(id=np.arange(501), note="y")
    table = _data(seed=1).assign(id=np.arange(501) + 5000, note="x")
    found = detect_anomalies(table, reference=reference, id_column="id", exclude=["note"], source="t.csv")
    det = TableAnomalyDetector(roles={"id": "id"}).fit(reference.drop(columns="note"))
    np.testing.assert_array_equal(found.detector.offset_, det.offset_)
    np.testing.assert_array_equal(found.scores["score"], np.round(det.score_samples(table.drop(columns="note")), 6))
    summary = found.summary()
    assert summary["data"] == "t.csv" and summary["reference"] is None and summary["id_column"] == "id"
    assert summary["n_rows"] == 501 and summary["n_flagged"] == int(found.scores["flagged"].sum())


def test_detect_anomalies_names_the_missing_column():
    with pytest.raises(TableError, match=r"column\(s\) nope not found in t.csv"):
        detect_anomalies(_data(), columns=["nope"], source="t.csv")


def test_binned_column_is_the_weighted_mean_and_weight_of_every_occupied_bin():
    from gmmseg.tables.anomalies import MARGINAL_BIN, binned_column

    rng = np.random.default_rng(3)
    z = np.concatenate([rng.normal(0, 1, 400), [25.0, 25.001]])
    w = rng.integers(0, 3, z.size).astype(float)
    values, total = binned_column(z, w)
    # reference: a dict of bins by a plain loop
    bins: dict[int, list[float]] = {}
    for x, wi in zip(z, w):
        if wi > 0:
            b = bins.setdefault(int(np.floor(x / MARGINAL_BIN)), [0.0, 0.0])
            b[0] += wi * x
            b[1] += wi
    keys = sorted(bins)
    np.testing.assert_allclose(values[:, 0], [bins[k][0] / bins[k][1] for k in keys])
    np.testing.assert_allclose(total, [bins[k][1] for k in keys])
    assert values.shape == (len(keys), 1) and total.sum() == w.sum()


def test_per_feature_mixtures_on_bins_match_the_fit_on_all_rows():
    from gmmseg.core.selection import select_components
    from gmmseg.tables.anomalies import binned_column

    rng = np.random.default_rng(4)
    z = np.concatenate([rng.normal(0, 1, 3000), rng.normal(4, 0.5, 1000)])
    exact = select_components(z[:, None], range(1, 4), "full", random_state=0, reg_covar=1e-3)
    values, total = binned_column(z)
    binned = select_components(values, range(1, 4), "full", sample_weight=total, random_state=0, reg_covar=1e-3)
    assert binned.best_n_components == exact.best_n_components == 2
    np.testing.assert_allclose([r["bic"] for r in binned.table], [r["bic"] for r in exact.table], rtol=1e-4)
    grid = np.linspace(-3, 6, 50)[:, None]
    np.testing.assert_allclose(binned.best_model.score_samples(grid), exact.best_model.score_samples(grid), atol=2e-3)


def test_a_joint_sweep_float32_cannot_start_is_redone_in_float64(monkeypatch):
    import gmmseg.tables.anomalies as module
    from gmmseg.errors import FittingError

    original = module.select_components
    dtypes = []

    def refuse_float32(X, *args, **kwargs):
        dtypes.append(kwargs.get("dtype", "float64"))
        if kwargs.get("dtype") == "float32":
            raise FittingError("the initial covariance of component(s) [1] is singular")
        return original(X, *args, **kwargs)

    monkeypatch.setattr(module, "select_components", refuse_float32)
    frame = _data()
    det = TableAnomalyDetector(n_estimators=1, trim=0).fit(frame)
    assert dtypes[:2] == ["float32", "float64"]
    monkeypatch.setattr(module, "JOINT_DTYPE", "float64")
    monkeypatch.setattr(module, "select_components", original)
    np.testing.assert_array_equal(
        det.training_scores_, TableAnomalyDetector(n_estimators=1, trim=0).fit(frame).training_scores_
    )


def test_reason_columns_are_categorical_and_empty_for_rows_not_flagged():
    frame = _data()
    det = TableAnomalyDetector(n_estimators=1).fit(frame)
    out = anomaly_table(det, frame)
    assert isinstance(out["reason_1"].dtype, pd.CategoricalDtype)
    flagged = out["flagged"].to_numpy()
    texts = [[r["text"] for r in reasons] for reasons in det.explain(frame[flagged])]
    assert out.loc[flagged, "reason_1"].astype(str).tolist() == [t[0] for t in texts]
    assert set(out.loc[~flagged, "reason_1"].astype(str)) == {""}


def test_the_anomaly_report_draws_without_matplotlib(tmp_path):
    import subprocess
    import sys

    code = (
        "import sys, numpy as np, pandas as pd\n"
        "from gmmseg.reports.anomalies import write_anomaly_report\n"
        "scores = pd.DataFrame({'row': [0, 1, 2], 'score': [-1.0, -2.0, -30.0], 'flagged': [False, False, True]})\n"
        "summary = {'threshold_score': -10.0, 'n_rows': 3, 'n_flagged': 1, 'n_components': 1, 'covariance_type': 'full'}\n"
        f"write_anomaly_report(scores, summary, {str(tmp_path / 'r.html')!r})\n"
        "assert 'matplotlib' not in sys.modules, 'matplotlib was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])
    html = (tmp_path / "r.html").read_text()
    assert '<img src="data:image/svg+xml;base64,' in html and "http://" not in html


def test_members_trimmed_refits_leave_no_component_to_collapse():
    # 5% of the rows far out: member 0's trimmed per-feature mixture kept a 0.4% component on
    # a few far rows that member 2 trims, and member 1's untrimmed models a component on the
    # rows it trims; both emptied (weight ~1e-18) and were re-seeded with a warning
    from gmmseg.errors import ComponentCollapseWarning

    rng = np.random.default_rng(2)
    n = 600
    frame = pd.DataFrame(
        {
            "x": rng.normal(0, 1, n),
            "amount": rng.lognormal(3, 1, n),
            "visits": rng.poisson(3, n),
            "cents": np.round(rng.uniform(0, 20, n), 2),
            "member": rng.integers(0, 2, n),
        }
    )
    frame.loc[: n // 20 - 1, ["x", "amount"]] += 15.0
    with warnings.catch_warnings():
        warnings.simplefilter("error", ComponentCollapseWarning)
        for seed in (1, 2):
            det = TableAnomalyDetector(random_state=seed).fit(frame)
            assert np.all(np.flatnonzero(det.labels_ == -1) < n // 20)  # only planted rows are flagged
            for mixture, marginals, _ in det.members_:
                assert min(mixture.weights_.min(), *(m.weights_.min() for m in marginals)) > 1e-6


def test_typical_ranges_stay_inside_the_fitted_columns_and_whole_for_counts():
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"age_days": rng.integers(0, 2001, 1000), "amount": rng.lognormal(3, 0.6, 1000).round(2)})
    frame.loc[0, "amount"] = 5000.0
    det = TableAnomalyDetector(n_estimators=1).fit(frame)
    for reason in (r for row in det.explain(frame.iloc[:50], n_reasons=2) for r in row):
        column = frame[reason["column"]]
        assert column.min() <= reason["typical_low"] <= reason["typical_high"] <= column.max()
        if reason["column"] == "age_days":  # mean - 2 sd of a uniform 0..2000 is below 0 unclipped
            assert float(reason["typical_low"]).is_integer() and float(reason["typical_high"]).is_integer()


def test_bags_are_fitted_on_a_sample_of_the_kept_rows_of_a_large_table(monkeypatch):
    from gmmseg.tables import anomalies as module

    fitted_rows = []
    original = module.GaussianMixture.fit

    def counting_fit(self, X, *args, **kwargs):
        fitted_rows.append(len(X))
        return original(self, X, *args, **kwargs)

    monkeypatch.setattr(module, "BAG_FIT_ROWS", 150)
    monkeypatch.setattr(module.GaussianMixture, "fit", counting_fit)
    det = TableAnomalyDetector(n_estimators=1).fit(_bagged_frame())
    # the last 8 fits are the bags: 150 of the 320 kept rows (400 minus the 20% trimmed), unweighted
    assert fitted_rows[-8:] == [150] * 8 and len(det.bags_) == 8
    assert np.isfinite(det.training_scores_).all()


def _roc_auc(y, abnormal):
    from scipy.stats import rankdata

    ranks = rankdata(abnormal)
    positives = int(y.sum())
    return (ranks[y == 1].sum() - positives * (positives + 1) / 2) / (positives * (len(y) - positives))


def _tight_cluster_frame(seed=0):
    # 10% anomalies in one tight cluster: the joint mixture gives them a component of their own
    rng = np.random.default_rng(seed)
    normal = np.vstack([rng.normal(0, 1, (1000, 5)), rng.normal([6, 0, 0, 0, 0], 1, (800, 5))])
    cluster = rng.normal([0, 3, 3, 3, 0], 0.1, (200, 5))  # 3 sd off the first segment in three columns
    return pd.DataFrame(np.vstack([normal, cluster]).round(4), columns=list("abcde")), np.r_[
        np.zeros(1800), np.ones(200)
    ]


def test_small_clusters_anomalous_drops_small_tight_components_and_unmasks_the_cluster():
    from gmmseg.core.covariance import full_matrices

    frame, y = _tight_cluster_frame()
    masked = TableAnomalyDetector().fit(frame)
    assert _roc_auc(y, -masked.training_scores_) < 0.5
    det = TableAnomalyDetector(small_clusters="anomalous").fit(frame)
    assert det.summary()["small_clusters"] == "anomalous"
    # the members are fitted as without the option; the drop comes after
    full = masked.mixture_
    d = full.means_.shape[1]
    covs = full_matrices(full.covariance_type, full.covariances_, full.n_components, d)
    volume = np.array([0.5 * np.linalg.slogdet(c)[1] / d for c in covs])
    keep = np.ones(full.n_components, dtype=bool)
    for k in range(full.n_components):
        others = np.arange(full.n_components) != k
        mean_other = np.sum(full.weights_[others] * volume[others]) / full.weights_[others].sum()
        keep[k] = not (full.weights_[k] < 0.15 and volume[k] < mean_other - np.log(2.0))
    assert not keep.all() and keep.sum() == det.mixture_.n_components
    assert det.summary()["small_components_dropped"] == full.n_components - keep.sum()
    assert masked.summary()["small_components_dropped"] == 0
    Z = det.prep_.transform(frame)
    expected = logsumexp(full.component_log_prob(Z)[:, keep], axis=1) - np.log(full.weights_[keep].sum())
    np.testing.assert_allclose(det.mixture_.score_samples(Z), expected, rtol=1e-10)
    assert _roc_auc(y, -det.training_scores_) > 0.9


def test_small_clusters_anomalous_drops_the_cluster_from_the_bags_too():
    """On make_fresh_tables' clustered anomalies the bags' own fits give the cluster a component."""
    from scripts.make_fresh_tables import clustered_anomalies

    frame, y = clustered_anomalies(np.random.default_rng(0))
    full = TableAnomalyDetector().fit(frame)
    assert _roc_auc(y, -full.training_scores_) < 0.1  # masked: the cluster is the densest place
    det = TableAnomalyDetector(small_clusters="anomalous").fit(frame)
    assert any(model.n_components < full.mixture_.n_components for _, model, _, _ in det.bags_)
    assert _roc_auc(y, -det.training_scores_) > 0.7


def test_small_clusters_is_checked():
    with pytest.raises(ParameterError, match="small_clusters must be one of normal, anomalous"):
        TableAnomalyDetector(small_clusters="tight").fit(_data())
    with pytest.raises(ParameterError, match="needs a covariance per component"):
        TableAnomalyDetector(small_clusters="anomalous", covariance_type="tied").fit(_data())
