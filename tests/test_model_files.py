"""Model files from someone else: every hostile or broken file is one ModelFileError at load.

Small versions of the cases ``scripts/make_hostile_inputs.py`` writes at full size (issue 14):
each asserts the error names the file and the problem, and the CLI exits 2 with one line.
"""

from __future__ import annotations

import io
import json
import re
import time
import tracemalloc
import zipfile

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import gmmseg
from gmmseg import GaussianMixture, ModelFileError
from gmmseg.cli import cli
from gmmseg.core import persist


def npy_header(shape, dtype="<f8") -> bytes:
    """A .npy version-1 header for ``shape`` (the data need not follow)."""
    text = repr({"descr": dtype, "fortran_order": False, "shape": tuple(shape)}) + " "
    text += " " * (64 - (10 + len(text) + 1) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text.encode("latin1")


def npy(array) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def read_header(path) -> dict:
    with zipfile.ZipFile(path) as archive:
        return json.loads(np.load(io.BytesIO(archive.read("__header__.npy"))).tobytes())


def rewrite(source, target, *, header=None, metadata=None, arrays=None, raw=None):
    """Copy model file ``source`` to ``target`` with a new header, metadata edit, arrays or raw members."""
    if metadata is not None:
        header = read_header(source)
        metadata(header["metadata"])
    members = {}
    with zipfile.ZipFile(source) as archive:
        for name in archive.namelist():
            members[name] = archive.read(name)
    if header is not None:
        blob = header if isinstance(header, bytes) else json.dumps(header).encode()
        members["__header__.npy"] = npy(np.frombuffer(blob, dtype=np.uint8))
    for name, value in (arrays or {}).items():
        members[f"{name}.npy"] = npy(value)
    members |= raw or {}
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return target


def assert_refused(path, problem: str):
    """Assert that loading ``path`` raises one ModelFileError naming the file and ``problem`` (pytest.raises with match)."""
    with pytest.raises(ModelFileError, match=re.escape(str(path)) + ".*" + problem) as info:
        gmmseg.load(path)
    assert "\n" not in str(info.value)
    return info.value


@pytest.fixture(scope="module")
def mixture_file(tmp_path_factory):
    X = np.random.default_rng(0).normal(size=(300, 3))
    path = tmp_path_factory.mktemp("mixture") / "mixture.npz"
    GaussianMixture(2, random_state=0).fit(X).save(path)
    return path


# ---------------------------------------------------------------------- the container


def test_a_decompression_bomb_is_refused_from_the_directory_without_reading_it(tmp_path, mixture_file, monkeypatch):
    bomb = tmp_path / "bomb.npz"
    n = 18 * 2**21  # 288 MiB of float64 zeros, a few hundred kB compressed
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("__header__.npy", npy(np.frombuffer(json.dumps(read_header(mixture_file)).encode(), np.uint8)))
        with archive.open("means.npy", "w", force_zip64=True) as member:
            member.write(npy_header((n,)))
            zeros = bytes(2**24)
            for _ in range(n * 8 // len(zeros)):
                member.write(zeros)
    assert bomb.stat().st_size < 2e6
    monkeypatch.setattr(persist, "MAX_MODEL_BYTES", 2**26)  # the real limit is 1 GiB; a test bomb stays small (288 MiB)
    tracemalloc.start()
    start = time.perf_counter()
    error = assert_refused(bomb, "decompresses to 288.0 MiB .*over the 64.0 MiB limit")
    elapsed = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert elapsed < 0.5 and peak < 5e6, (elapsed, peak)
    assert "re-create it" in str(error)


def test_a_member_header_claiming_a_trillion_elements_is_refused_without_memory_error(tmp_path, mixture_file):
    path = rewrite(mixture_file, tmp_path / "claim.npz", raw={"weights.npy": npy_header((10**12,)) + bytes(16)})
    assert_refused(path, r"array 'weights' claims shape \(1000000000000,\) \(7.3 TiB\), but its member holds 16 bytes")


def test_object_arrays_and_odd_members_are_refused(tmp_path, mixture_file):
    objects = rewrite(mixture_file, tmp_path / "objects.npz", raw={"means.npy": npy_header((2,), "|O") + bytes(16)})
    assert_refused(objects, "array 'means' has dtype object; model files hold only numbers")
    folder = rewrite(mixture_file, tmp_path / "folder.npz", raw={"x/y.npy": b""})
    assert_refused(folder, "member 'x/y.npy' that no model file holds")


def test_too_many_members_are_refused(tmp_path, mixture_file, monkeypatch):
    monkeypatch.setattr(persist, "MAX_MEMBERS", 5)
    path = rewrite(mixture_file, tmp_path / "many.npz", arrays={f"a{i}": np.zeros(1) for i in range(3)})
    assert_refused(path, "has 8 members, more than a model file's 5")


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        ([1, 2, 3], "its header is a JSON list, not an object"),
        (b'{"format": "gmmseg-model", "metadata": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested 100001 levels"),
        (b'{"format": "gmmseg-model", "format_version": 1, "kind": "GaussianMixture"', "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        ({"format": "gmmseg-model", "format_version": 1, "kind": 7, "metadata": {}}, "field 'kind' is 7, not a str"),
        ({"format": "gmmseg-model", "format_version": True}, "format version True"),
    ],
    ids=["list", "deep", "truncated", "not-utf8", "kind-type", "version-bool"],
)
def test_bad_headers_are_refused(tmp_path, mixture_file, header, problem):
    assert_refused(rewrite(mixture_file, tmp_path / "bad.npz", header=header), problem)


def test_an_oversized_header_is_refused_before_it_is_read(tmp_path, mixture_file, monkeypatch):
    monkeypatch.setattr(persist, "MAX_HEADER_BYTES", 1000)
    header = read_header(mixture_file) | {"padding": "x" * 2000}
    assert_refused(
        rewrite(mixture_file, tmp_path / "big.npz", header=header), "its header is 2.7 KiB, over the 1000 bytes limit"
    )


# ---------------------------------------------------------------------- GaussianMixture contents


def _set(key, value):
    def change(meta):
        meta["params"][key] = value

    return change


@pytest.mark.parametrize(
    ("arrays", "metadata", "problem"),
    [
        ({"means": np.array([[np.nan, 0, 0], [1, 1, 1]])}, None, "array 'means' holds NaN or infinite values"),
        ({"means": np.array([[np.inf, 0, 0], [1, 1, 1]])}, None, "array 'means' holds NaN or infinite values"),
        ({"means": np.zeros((2, 4))}, None, r"array 'means' has shape \(2, 4\), expected \(2, 3\)"),
        ({"weights": np.array([0.7, 0.7])}, None, "weights must be >= 0 and sum to 1 .they sum to 1.4"),
        ({"weights": np.array([1.5, -0.5])}, None, "weights must be >= 0"),
        ({"covariances": np.tile(-np.eye(3), (2, 1, 1))}, None, "covariances are not all positive definite"),
        ({"precisions_cholesky": np.tile(np.ones((3, 3)), (2, 1, 1))}, None, "triangular factors"),
        ({"precisions_cholesky": np.tile(-np.eye(3), (2, 1, 1))}, None, "positive diagonal"),
        ({"weights": np.array([1, 0], dtype=np.int8)}, None, None),  # integers are numbers: loads
        (None, _set("covariance_type", "banana"), "covariance_type is 'banana', not one of 'full'"),
        (None, _set("n_components", 10**9), r"n_components=1000000000 is outside \[1, 100000\]"),
        (None, _set("tol", -1.0), "tol must be a finite number >= 0"),
        (None, _set("shell", "rm -rf"), "unknown mixture parameter 'shell'"),
        (None, lambda meta: meta.update(n_features="3"), "'n_features' is '3', not a Integral"),
        (None, lambda meta: meta.pop("converged"), "'converged' is missing"),
        (None, _set("dtype", 5), "malformed contents .TypeError"),
    ],
)
def test_mixture_contents_are_validated(tmp_path, mixture_file, arrays, metadata, problem):
    path = rewrite(mixture_file, tmp_path / "bad.npz", arrays=arrays, metadata=metadata)
    if problem is None:
        assert gmmseg.load(path).weights_.tolist() == [1.0, 0.0]
        return
    error = assert_refused(path, "is not a valid GaussianMixture file: .*" + problem)
    assert str(error).endswith("re-create it with GaussianMixture(...).fit(X).save(path)")


def test_diag_variances_must_be_positive(tmp_path):
    X = np.random.default_rng(1).normal(size=(200, 2))
    good = tmp_path / "diag.npz"
    GaussianMixture(2, covariance_type="diag", random_state=0).fit(X).save(good)
    path = rewrite(good, tmp_path / "bad.npz", arrays={"covariances": np.array([[1.0, 0.0], [1.0, 1.0]])})
    assert_refused(path, "variances and Cholesky factors of the precisions must be positive")


# ---------------------------------------------------------------------- DefectModel contents


@pytest.fixture(scope="module")
def defect_files(tmp_path_factory):
    """A one-scale and a two-scale defect model file, fitted on small synthetic textures."""
    from scipy import ndimage

    rng = np.random.default_rng(0)
    good = []
    for _ in range(8):
        tex = ndimage.gaussian_filter(rng.normal(size=(48, 48)), 1.2)
        good.append(np.clip(120 + 25 * tex / tex.std(), 0, 255).astype(np.uint8))
    root = tmp_path_factory.mktemp("defect_files")
    files = {}
    for scaling in ("longest", "both"):
        model = gmmseg.DefectModel(
            n_components=2, work_size=48, scaling=scaling, pixels_per_image=300, tail_share=0.0, random_state=0
        )
        files[scaling] = model.fit(good).save(root / f"{scaling}.gmmseg")
    files["images"] = good
    return files


def _everywhere(key, value):
    """Set ``key`` in a scale's metadata (the top level of a one-scale file, every member of a two-scale one)."""

    def change(meta):
        for place in [meta, *meta.get("members", [])]:
            place[key] = value

    return change


@pytest.mark.parametrize("scaling", ["longest", "both"])
@pytest.mark.parametrize(
    ("metadata", "arrays", "problem"),
    [
        (_everywhere("threshold", float("nan")), None, "threshold is nan, not a finite number"),
        (_everywhere("pixel_threshold", float("inf")), None, "pixel_threshold is inf, not a finite number"),
        (_set("work_size", 10**9), None, r"work_size=1000000000 is outside \[0, 4096\]"),
        (_set("work_size", 8), None, r"work_size=8 is outside 0 or \[16, 4096\]"),
        (_set("sigmas", [1.0, 1e9]), None, r"sigmas=1e\+09 is outside \(0, 64\]"),
        (_set("sigmas", []), None, "sigmas holds 0 scales"),
        (_set("blur_sigma", 1e9), None, r"blur_sigma=1e\+09 is outside \[0, 64\]"),
        (_set("peak_window", -1), None, r"peak_window=-1 is outside \[0, 1024\]"),
        (_set("target_fpr", 0.0), None, r"target_fpr=0 is outside \(0, 1\)"),
        (_set("families", ["smooth", "fourier"]), None, "families must be distinct names"),
        (_set("contrast_sigma", 2.0), None, "uses contrast_sigma, which was removed"),
        (_everywhere("n_features", 3), None, "n_features=3, but the texture settings give 17 features"),
    ],
)
def test_defect_settings_are_validated(tmp_path, defect_files, scaling, metadata, arrays, problem):
    path = rewrite(defect_files[scaling], tmp_path / "bad.gmmseg", metadata=metadata, arrays=arrays)
    error = assert_refused(path, "is not a valid DefectModel file: .*" + problem)
    assert str(error).endswith("re-create it with gmmseg defects fit")
    with pytest.raises(ModelFileError, match=problem):
        gmmseg.DefectModel.load(path)


@pytest.mark.parametrize(
    ("scaling", "name", "value", "problem"),
    [
        ("longest", "scale", np.zeros((3, 3, 3)), r"array 'scale' has shape \(3, 3, 3\), expected \(17,\)"),
        ("longest", "scale", np.zeros(17), "array 'scale' must be positive"),
        ("longest", "pca_components", np.zeros((17, 16)), r"array 'pca_components' has shape \(17, 16\)"),
        ("longest", "calibration_scores", np.array([1.0, np.nan]), "'calibration_scores' holds NaN"),
        ("both", "member1_mixture_means", np.full((2, 17), np.nan), "member 1: mixture: array 'means' holds NaN"),
        ("both", "member0_mean", np.zeros(5), r"member 0: array 'mean' has shape \(5,\)"),
    ],
)
def test_defect_arrays_are_validated(tmp_path, defect_files, scaling, name, value, problem):
    path = rewrite(defect_files[scaling], tmp_path / "bad.gmmseg", arrays={name: value})
    assert_refused(path, problem)


def test_member_spread_and_counts_of_two_scale_files(tmp_path, defect_files):
    path = rewrite(defect_files["both"], tmp_path / "s.gmmseg", metadata=lambda m: m.update(member_spread=[1.0, 0.0]))
    assert_refused(path, r"member_spread=0 is outside \(-?0, inf\]")
    path = rewrite(defect_files["both"], tmp_path / "m.gmmseg", metadata=lambda m: m.update(members=m["members"][:1]))
    assert_refused(path, "must hold 2 members, not 1")


def test_valid_defect_files_load_and_score_as_saved(defect_files):
    image = defect_files["images"][0]
    for scaling in ("longest", "both"):
        model = gmmseg.load(defect_files[scaling])
        assert np.isfinite(model.score(image)) and np.isfinite(model.threshold_)


# ---------------------------------------------------------------------- CustomerSegmentModel contents


@pytest.fixture(scope="module")
def customer_file(tmp_path_factory):
    import pandas as pd

    from gmmseg.tables.prepare import FeaturePrep
    from gmmseg.tables.segment_model import CustomerSegmentModel

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(200)],
            "spend": rng.gamma(2.0, 30.0, 200),
            "plan": rng.choice(["basic", "pro"], 200),
        }
    )
    prep = FeaturePrep(id_column="customer_id", random_state=0)
    mixture = GaussianMixture(2, random_state=0).fit(prep.fit_transform(frame))
    model = CustomerSegmentModel(prep, mixture, [1, 0], ["big", "small"], "customer_id")
    root = tmp_path_factory.mktemp("customers")
    frame.to_csv(root / "customers.csv", index=False)
    return model.save(root / "model.gmmseg")


def _prep(change):
    def edit(meta):
        change(meta["prep"])

    return edit


@pytest.mark.parametrize(
    ("metadata", "arrays", "problem"),
    [
        (None, {"order": np.array([0, 0])}, r"array 'order' must be a permutation of 0..1"),
        (None, {"order": np.array([0.0, 1.0])}, r"array 'order' must be a permutation"),
        (lambda m: m.update(names=["one"]), None, "'names' must hold 2 segment names, not 1 items"),
        (_prep(lambda p: p["categories_"]["plan"]["levels"].pop()), None, "prep: 3 feature names for 2 features"),
        (_prep(lambda p: p["numeric_"]["spend"].update(scale=0.0)), None, r"column 'spend': scale=0 is outside \(0"),
        (_prep(lambda p: p["numeric_"]["spend"].update(transform="exp")), None, "transform is 'exp', not one of"),
        (_prep(lambda p: p["numeric_"]["spend"].update(shift=10**400)), None, "shift is inf, not a finite number"),
        (_prep(lambda p: p["roles_"].update(spend="banana")), None, "prep: roles_ holds roles other than"),
        (_prep(lambda p: p["columns_"].append("ghost")), None, "columns_ must list each numeric and categorical"),
        (_prep(lambda p: p["params"].update(scaling="log")), None, "prep: scaling is 'log', not one of"),
        (lambda m: m["mixture"].update(n_features=2), None, r"mixture: array 'means' has shape \(2, 3\)"),
    ],
)
def test_customer_model_contents_are_validated(tmp_path, customer_file, metadata, arrays, problem):
    from gmmseg.tables.segment_model import load_customer_model

    path = rewrite(customer_file, tmp_path / "bad.gmmseg", metadata=metadata, arrays=arrays)
    error = assert_refused(path, "is not a valid CustomerSegmentModel file: .*" + problem)
    assert str(error).endswith("re-create it with gmmseg customers")
    with pytest.raises(ModelFileError, match=problem):
        load_customer_model(path)


# ---------------------------------------------------------------------- through the command line


def _one_line_error(result, path, problem):
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gmmseg: error: "), result.output
    assert str(path) in lines[0] and re.search(problem, lines[0]), lines[0]
    assert "Traceback" not in result.output


def test_defects_scan_with_a_bad_model_exits_2_with_one_line(tmp_path, defect_files):
    image = tmp_path / "part.png"
    Image.fromarray(defect_files["images"][0]).save(image)
    runner = CliRunner()
    for name, metadata in (("nan.gmmseg", _everywhere("threshold", float("nan"))), ("big.gmmseg", None)):
        path = rewrite(defect_files["longest"], tmp_path / name, metadata=metadata)
        if metadata is None:
            path = rewrite(path, path, raw={"mean.npy": npy_header((10**12,)) + bytes(8)})
        out = tmp_path / f"out_{name}"
        result = runner.invoke(cli, ["defects", "scan", str(path), str(image), "-o", str(out)])
        _one_line_error(result, path, "threshold is nan|claims shape")
        assert not out.exists() or not any(out.iterdir())


def test_customers_with_a_bad_model_exits_2_with_one_line(tmp_path, customer_file):
    path = rewrite(customer_file, tmp_path / "bad.gmmseg", arrays={"order": np.array([1, 1])})
    table = customer_file.parent / "customers.csv"
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["customers", str(table), "--model", str(path), "-o", str(out)])
    _one_line_error(result, path, "array 'order' must be a permutation")
    assert not (out / "assignments.csv").exists()


def test_saving_refuses_arrays_a_model_file_cannot_hold(tmp_path):
    from gmmseg.core.persist import save_arrays

    for value in (np.array(["text"]), np.array([{"a": 1}], dtype=object)):
        with pytest.raises(ModelFileError, match="a model file holds only numeric arrays"):
            save_arrays(tmp_path / "m.npz", "GaussianMixture", {}, {"names": value})
    assert not (tmp_path / "m.npz").exists()


def test_saving_refuses_a_model_too_large_to_load(tmp_path, monkeypatch):
    from gmmseg.core.persist import save_arrays

    monkeypatch.setattr(persist, "MAX_MODEL_BYTES", 2**20)
    with pytest.raises(ModelFileError, match="take 2.0 MiB, over the 1.0 MiB limit of a model file"):
        save_arrays(tmp_path / "m.npz", "GaussianMixture", {}, {"means": np.zeros(2**18)})
    assert not (tmp_path / "m.npz").exists()
