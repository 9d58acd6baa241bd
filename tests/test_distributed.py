"""The Dask backend on a real LocalCluster of worker processes (loopback only).

References: the in-memory :class:`gmmseg.GaussianMixture` / :func:`gmmseg.select_components`
fitted from identical initial parameters, scikit-learn, weights ≡ repeated rows,
the generating parameters, and ``math.sqrt`` for the batch runner.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

from gmmseg import GaussianMixture, InputError, ParameterError  # noqa: E402
from gmmseg import distributed as gd  # noqa: E402
from gmmseg import select_components as select_in_memory  # noqa: E402
from gmmseg.errors import ConvergenceWarning, FailedItem  # noqa: E402
from tests.conftest import loopback_cluster  # noqa: E402

TYPES = ("full", "tied", "diag", "spherical")
TRUE_MEANS = np.array([[2.0, 3.0, 1.0], [7.0, 3.0, 5.0], [2.0, 9.0, 6.0]])


def _relative(a, b) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def _assert_same_model(a: GaussianMixture, b: GaussianMixture, rtol: float = 1e-8) -> None:
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        assert _relative(getattr(a, name), getattr(b, name)) < rtol, name
    assert a.n_iter_ == b.n_iter_
    assert abs(a.lower_bound_ - b.lower_bound_) < rtol * abs(b.lower_bound_)


@pytest.fixture(scope="module")
def client():
    # workers import gmmseg (installed); helpers of this module travel by value
    import cloudpickle

    module = sys.modules.get(__name__)
    if module is not None:
        cloudpickle.register_pickle_by_value(module)
    cluster = loopback_cluster(distributed)
    client = distributed.Client(cluster, set_as_default=False)
    try:
        yield client
    finally:
        client.close()
        cluster.close()
        if module is not None:
            cloudpickle.unregister_pickle_by_value(module)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    X = np.concatenate(
        [
            rng.normal(TRUE_MEANS[0], 0.6, (1500, 3)),
            rng.normal(TRUE_MEANS[1], 1.0, (1000, 3)),
            rng.normal(TRUE_MEANS[2], 0.8, (1500, 3)),
        ]
    )
    rng.shuffle(X)
    return X


def _initial(X, covariance_type):
    """Deliberately rough initial parameters (so EM has work to do)."""
    means = np.array([[1.0, 2.0, 2.0], [6.0, 4.0, 4.0], [3.0, 8.0, 5.0]])
    k, d = means.shape
    precisions = {
        "full": np.stack([np.eye(d) * 0.5] * k),
        "tied": np.eye(d) * 0.5,
        "diag": np.full((k, d), 0.5),
        "spherical": np.full(k, 0.5),
    }[covariance_type]
    return {"weights_init": np.array([0.2, 0.5, 0.3]), "means_init": means, "precisions_init": precisions}


@pytest.mark.parametrize("covariance_type", TYPES)
def test_fit_equals_in_memory_fit_from_identical_initial_parameters(client, data, covariance_type):
    init = _initial(data, covariance_type)
    params = dict(covariance_type=covariance_type, tol=0.0, max_iter=15, **init)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        expected = GaussianMixture(3, **params).fit(data)
        got = gd.fit_mixture(da.from_array(data, chunks=(700, 3)), 3, client=client, **params)
    assert type(got) is GaussianMixture
    assert got.n_iter_ == 15 and len(got.lower_bounds_) == 15
    _assert_same_model(got, expected)
    # the lower bound never decreases (EM invariant), on the cluster too
    assert np.all(np.diff(got.lower_bounds_) > -1e-10)
    # a normal in-memory model afterwards
    np.testing.assert_array_equal(got.predict(data), expected.predict(data))


def test_full_fit_matches_scikit_learn(client, data):
    sklearn_mixture = pytest.importorskip("sklearn.mixture")
    init = _initial(data, "full")
    reference = sklearn_mixture.GaussianMixture(3, covariance_type="full", tol=0.0, max_iter=10, **init)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference.fit(data)
        got = gd.fit_mixture(da.from_array(data, chunks=(1000, 3)), 3, client=client, tol=0.0, max_iter=10, **init)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        assert _relative(getattr(got, name), getattr(reference, name)) < 1e-6, name


def test_weighted_fit_equals_in_memory_and_repeated_rows(client, data):
    rng = np.random.default_rng(3)
    weights = rng.integers(0, 4, data.shape[0]).astype(float)  # zeros drop rows
    init = _initial(data, "full")
    params = dict(covariance_type="full", tol=0.0, max_iter=12, **init)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        expected = GaussianMixture(3, **params).fit(data, sample_weight=weights)
        repeated = GaussianMixture(3, **params).fit(np.repeat(data, weights.astype(int), axis=0))
        Xd = da.from_array(data, chunks=(900, 3))
        got = gd.fit_mixture(Xd, 3, sample_weight=da.from_array(weights, chunks=500), client=client, **params)
        got_numpy_weights = gd.fit_mixture(Xd, 3, sample_weight=weights, client=client, **params)
    _assert_same_model(got, expected)
    _assert_same_model(got_numpy_weights, expected)
    _assert_same_model(got, repeated, rtol=1e-7)
    assert got.weight_sum_ == pytest.approx(weights.sum())


def test_kmeans_initialization_reproduces_in_memory_fit_on_small_data(client, data):
    # n_samples <= sample_size: the sample is the whole data, so the same random_state gives the same fit
    expected = GaussianMixture(3, covariance_type="diag", random_state=5).fit(data)
    got = gd.fit_mixture(
        da.from_array(data, chunks=(1100, 3)), 3, covariance_type="diag", random_state=5, client=client
    )
    assert got.converged_
    _assert_same_model(got, expected)


def test_sampled_initialization_recovers_the_mixture(client, data):
    # n_samples > sample_size: k-means++ on a chunk-wise weighted sample, then k-means and hard statistics
    Xd = da.from_array(data, chunks=(800, 3))
    got = gd.fit_mixture(Xd, 3, random_state=1, sample_size=300, client=client)
    reference = GaussianMixture(3, random_state=1).fit(data)
    order = np.argsort(got.means_[:, 0] * 100 + got.means_[:, 1])
    truth = np.argsort(TRUE_MEANS[:, 0] * 100 + TRUE_MEANS[:, 1])
    np.testing.assert_allclose(got.means_[order], TRUE_MEANS[truth], atol=0.15)
    assert got.converged_
    assert got.lower_bound_ == pytest.approx(reference.lower_bound_, abs=1e-3)


def test_dask_dataframe_input_keeps_column_names(client, data):
    dd = pytest.importorskip("dask.dataframe")
    pd = pytest.importorskip("pandas")
    frame = dd.from_pandas(pd.DataFrame(data, columns=["a", "b", "c"]), npartitions=3)
    init = _initial(data, "tied")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        got = gd.fit_mixture(frame, 3, covariance_type="tied", tol=0.0, max_iter=8, client=client, **init)
        expected = GaussianMixture(3, covariance_type="tied", tol=0.0, max_iter=8, **init).fit(data)
    _assert_same_model(got, expected)
    assert list(got.feature_names_in_) == ["a", "b", "c"]


_BLOCK_CALLS: list[int] = []


def _counted(block):
    _BLOCK_CALLS.append(block.shape[0])
    return block


def test_predict_score_samples_are_lazy_and_chunk_wise(client, data):
    model = GaussianMixture(3, random_state=0).fit(data)
    _BLOCK_CALLS.clear()
    Xd = da.from_array(data, chunks=(1000, 3)).map_blocks(_counted, meta=np.empty((0, 3)))
    with dask.config.set(scheduler="synchronous"):
        labels = gd.predict(model, Xd)
        proba = gd.predict_proba(model, Xd)
        scores = gd.score_samples(model, Xd)
        assert _BLOCK_CALLS == []  # nothing computed yet
        assert isinstance(labels, da.Array) and labels.shape == (data.shape[0],)
        assert proba.shape == (data.shape[0], 3) and scores.numblocks == (4,)
        np.testing.assert_array_equal(labels.compute(), model.predict(data))
        assert sorted(_BLOCK_CALLS) == [1000] * 4  # one task per block
    # on the cluster
    Xc = da.from_array(data, chunks=(1000, 3))
    labels, proba, scores = client.compute(
        [gd.predict(model, Xc), gd.predict_proba(model, Xc), gd.score_samples(model, Xc)]
    )
    np.testing.assert_array_equal(labels.result(), model.predict(data))
    np.testing.assert_allclose(proba.result(), model.predict_proba(data), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(scores.result(), model.score_samples(data), rtol=1e-12)
    with pytest.raises(InputError, match="features"):
        gd.predict(model, Xc[:, :2])


def test_select_components_equals_in_memory_selection(client, data):
    expected = select_in_memory(data, range(1, 5), ("full", "spherical"), random_state=0)
    got = gd.select_components(
        da.from_array(data, chunks=(1000, 3)), range(1, 5), ("full", "spherical"), random_state=0, client=client
    )
    assert type(got) is type(expected)
    assert got.best_n_components == expected.best_n_components == 3
    assert got.best_covariance_type == expected.best_covariance_type
    _assert_same_model(got.best_model, expected.best_model)
    assert [(r["n_components"], r["covariance_type"]) for r in got.table] == [
        (r["n_components"], r["covariance_type"]) for r in expected.table
    ]
    for row_got, row_expected in zip(got.table, expected.table):
        for key in ("bic", "aic", "icl", "log_likelihood"):
            assert row_got[key] == pytest.approx(row_expected[key], rel=1e-8), key


def test_invalid_data_fails_with_the_row(client, data):
    bad = data.copy()
    bad[2345, 1] = np.nan
    with pytest.raises(InputError, match="row 2345"):
        gd.fit_mixture(da.from_array(bad, chunks=(1000, 3)), 2, client=client)
    with pytest.raises(InputError, match="dask array"):
        gd.fit_mixture(data, 2, client=client)
    with pytest.raises(InputError, match="sample_weight"):
        gd.fit_mixture(da.from_array(data, chunks=(1000, 3)), 2, sample_weight=np.ones(5), client=client)


def test_missing_dask_is_a_one_line_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "dask", None)
    monkeypatch.setitem(sys.modules, "dask.array", None)
    with pytest.raises(gd.DaskNotInstalledError, match=r"pip install 'gmmseg\[dask\]'"):
        gd.predict(GaussianMixture(), np.zeros((2, 2)))


def test_importing_the_backend_and_the_cli_loads_no_dask():
    code = (
        "import sys, gmmseg.distributed, gmmseg.cli; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _flaky(path: str) -> str:
    """Fails on its first attempt at every path, then succeeds (state kept in a marker file)."""
    marker = path + ".seen"
    if not os.path.exists(marker):
        open(marker, "w").close()
        raise RuntimeError("first attempt fails")
    return "ok"


def test_map_files_reports_failures_and_streams_results(client):
    seen = []
    outcomes = gd.map_files(math.sqrt, [4.0, 9.0, -1.0, 16.0], client=client, progress=lambda *args: seen.append(args))
    assert [item for item, _ in outcomes] == [4.0, 9.0, -1.0, 16.0]
    assert [o for _, o in outcomes if not isinstance(o, FailedItem)] == [2.0, 3.0, 4.0]
    error = outcomes[2][1]
    assert isinstance(error, FailedItem) and error.startswith("ValueError") and "domain" in error
    assert sorted(done for done, *_ in seen) == [1, 2, 3, 4] and all(total == 4 for _, total, *_ in seen)
    assert {item: outcome for _, _, item, outcome in seen} == dict(outcomes)
    # the same contract in process
    (_, root), (_, failed) = gd.map_files(math.sqrt, [4.0, -1.0], client=None)
    assert root == 2.0
    assert isinstance(failed, FailedItem) and failed == error


def test_map_files_retries_then_succeeds(client, tmp_path):
    paths = [str(tmp_path / f"item{i}") for i in range(3)]
    assert [o for _, o in gd.map_files(_flaky, paths, client=client, retries=1)] == ["ok"] * 3
    fresh = [str(tmp_path / "again")]
    (failed,) = gd.map_files(_flaky, fresh, client=client, retries=0)
    assert failed == (fresh[0], "RuntimeError: first attempt fails")


def test_get_client_starts_and_closes_a_local_cluster():
    with pytest.raises(ParameterError, match="local:N"):
        gd.get_client("local:two")
    client = gd.get_client("local:1")
    try:
        assert len(client.scheduler_info()["workers"]) == 1
        assert client.scheduler.address.startswith("tcp://127.0.0.1:")
        assert client.submit(math.sqrt, 25.0).result() == 5.0
    finally:
        cluster = client.cluster
        client.close()
    assert cluster.status.name == "closed"


def _exit_once(path: str) -> str:
    """Kills its worker process on the first attempt at a path (a lost worker), then succeeds."""
    marker = path + ".died"
    if not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(1)
    return "ok"


def _exit_once_block(block, marker: str):
    if block.shape[0] and not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(1)
    return block


def test_lost_worker_is_survived_by_a_fit_and_a_batch(client, data, tmp_path):
    # last in the module: the nanny restarts the killed worker, the scheduler reruns its tasks elsewhere
    marker = str(tmp_path / "block.died")
    Xd = da.from_array(data, chunks=(1000, 3)).map_blocks(_exit_once_block, marker, meta=np.empty((0, 3)))
    init = _initial(data, "diag")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        got = gd.fit_mixture(Xd, 3, covariance_type="diag", tol=0.0, max_iter=5, client=client, **init)
        expected = GaussianMixture(3, covariance_type="diag", tol=0.0, max_iter=5, **init).fit(data)
    assert os.path.exists(marker)  # a worker did die
    _assert_same_model(got, expected)
    paths = [str(tmp_path / f"scan{i}") for i in range(3)]
    assert [o for _, o in gd.map_files(_exit_once, paths, client=client)] == ["ok"] * 3
