"""Seeded synthetic data makers shared by the tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

#: The real data folder beside the project (absent in a user's clone).
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def make_mixture(n_samples=600, n_components=3, n_features=2, *, separation=6.0, seed=0, elongation=1.0):
    """Rows from a known Gaussian mixture; returns ``(X, labels, means, covariances)``."""
    rng = np.random.default_rng(seed)
    means = rng.normal(scale=separation, size=(n_components, n_features))
    covs = []
    for _ in range(n_components):
        A = rng.normal(size=(n_features, n_features))
        scales = np.linspace(1.0, elongation, n_features)
        Q, _ = np.linalg.qr(A)
        covs.append(Q @ np.diag(scales**2) @ Q.T)
    weights = rng.dirichlet(np.full(n_components, 5.0))
    labels = rng.choice(n_components, size=n_samples, p=weights)
    X = np.empty((n_samples, n_features))
    for k in range(n_components):
        idx = labels == k
        X[idx] = rng.multivariate_normal(means[k], covs[k], size=int(idx.sum()))
    return X, labels, means, np.array(covs)


@pytest.fixture
def blobs():
    X, labels, _, _ = make_mixture(600, 3, 2, seed=1)
    return X, labels


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (it ships beside the project, not with it)")
    return SHARED_DATA


def loopback_cluster(distributed):
    """A ``distributed.LocalCluster`` of 2 single-threaded worker processes on 127.0.0.1.

    No dashboard: the scheduler's small HTTP server listens on a free loopback port (not 8787).
    """
    return distributed.LocalCluster(
        n_workers=2,
        processes=True,
        threads_per_worker=1,
        host="127.0.0.1",
        dashboard_address=None,
        scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
    )
