"""Model files: bit-exact round trip; never unpickle; clear errors for bad files."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

import gmmseg
from gmmseg import GaussianMixture, ModelFileError
from gmmseg.core.covariance import COVARIANCE_TYPES
from gmmseg.core.persist import FORMAT_VERSION, load_arrays, save_arrays


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_round_trip_is_bit_exact(tmp_path, blobs, covariance_type):
    X, _ = blobs
    gm = GaussianMixture(3, covariance_type=covariance_type, random_state=0, reg_covar=1e-5).fit(X)
    path = tmp_path / "model.npz"
    gm.save(path)
    back = gmmseg.load(path)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_", "precisions_"):
        np.testing.assert_array_equal(getattr(back, name), getattr(gm, name))
    np.testing.assert_array_equal(back.score_samples(X), gm.score_samples(X))
    assert back.get_params()["reg_covar"] == 1e-5 and back.covariance_type == covariance_type
    header, _ = load_arrays(path)
    assert header["format_version"] == FORMAT_VERSION and header["kind"] == "GaussianMixture"
    assert header["gmmseg_version"] == gmmseg.__version__


def test_feature_names_are_kept(tmp_path, blobs):
    import pandas as pd

    X, _ = blobs
    gm = GaussianMixture(2, random_state=0).fit(pd.DataFrame(X, columns=["height", "width"]))
    gm.save(tmp_path / "m.npz")
    assert list(gmmseg.load(tmp_path / "m.npz").feature_names_in_) == ["height", "width"]


class _Exploit:
    """Unpickling this would create a file: a loader that unpickles runs it."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_loading_never_unpickles(tmp_path, blobs):
    X, _ = blobs
    path = tmp_path / "evil.npz"
    GaussianMixture(2, random_state=0).fit(X).save(path)
    # replace the weights by a pickled object array
    marker = tmp_path / "pwned"
    with zipfile.ZipFile(path) as src:
        members = {n: src.read(n) for n in src.namelist()}
    buffer = io.BytesIO()
    np.save(buffer, np.array([_Exploit(str(marker))], dtype=object), allow_pickle=True)
    members["weights.npy"] = buffer.getvalue()
    with zipfile.ZipFile(path, "w") as dst:
        for name, data in members.items():
            dst.writestr(name, data)
    with pytest.raises(ModelFileError):
        gmmseg.load(path)
    assert not marker.exists()


def test_truncated_corrupt_empty_missing_files(tmp_path, blobs):
    X, _ = blobs
    good = tmp_path / "good.npz"
    GaussianMixture(2, random_state=0).fit(X).save(good)
    data = good.read_bytes()
    (tmp_path / "truncated.npz").write_bytes(data[: len(data) // 2])
    (tmp_path / "garbage.npz").write_bytes(b"this is not a model" * 10)
    (tmp_path / "empty.npz").write_bytes(b"")
    for name, message in [
        ("truncated.npz", "truncated or corrupt"),
        ("garbage.npz", "not a readable gmmseg model file"),
        ("empty.npz", "empty"),
        ("missing.npz", "not found"),
    ]:
        with pytest.raises(ModelFileError, match=message):
            gmmseg.load(tmp_path / name)


def test_wrong_version_kind_and_foreign_npz(tmp_path):
    save_arrays(tmp_path / "future.npz", "GaussianMixture", {}, {"a": np.zeros(2)})
    with zipfile.ZipFile(tmp_path / "future.npz") as src:
        members = {n: src.read(n) for n in src.namelist()}
    header = json.loads(np.load(io.BytesIO(members["__header__.npy"])).tobytes())
    header["format_version"] = FORMAT_VERSION + 1
    buffer = io.BytesIO()
    np.save(buffer, np.frombuffer(json.dumps(header).encode(), dtype=np.uint8))
    members["__header__.npy"] = buffer.getvalue()
    with zipfile.ZipFile(tmp_path / "future.npz", "w") as dst:
        for name, data in members.items():
            dst.writestr(name, data)
    with pytest.raises(ModelFileError, match="upgrade gmmseg"):
        gmmseg.load(tmp_path / "future.npz")
    save_arrays(tmp_path / "other.npz", "SomethingElse", {}, {"a": np.zeros(2)})
    with pytest.raises(ModelFileError, match="holds a SomethingElse, not a GaussianMixture"):
        gmmseg.load(tmp_path / "other.npz", kind="GaussianMixture")
    np.savez(tmp_path / "plain.npz", a=np.zeros(3))
    with pytest.raises(ModelFileError, match="not a gmmseg model file"):
        gmmseg.load(tmp_path / "plain.npz")


def test_save_is_atomic_and_leaves_no_temporary_files(tmp_path, blobs):
    X, _ = blobs
    gm = GaussianMixture(2, random_state=0).fit(X)
    gm.save(tmp_path / "m.npz")
    gm.save(tmp_path / "m.npz")  # overwrite through a rename
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]


def test_saved_files_get_ordinary_permissions(tmp_path, blobs):
    import os
    import stat

    X, _ = blobs
    GaussianMixture(2, random_state=0).fit(X).save(tmp_path / "m.npz")
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE((tmp_path / "m.npz").stat().st_mode) == 0o666 & ~mask
