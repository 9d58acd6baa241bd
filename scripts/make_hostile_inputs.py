"""Write a corpus of hostile and odd inputs, to re-run gmmseg's fault cases by hand.

Every file here once ended in an internal error, a silent wrong result or a hang (issue 14);
each must now give a one-line ``gmmseg: error: ...`` naming the problem and the fix, exit 2
(3 for a batch with failed items), no traceback and nothing written under a final name.
The tests in ``tests/`` build small versions of the same cases; this script writes the full
sizes (a member that decompresses to 1.6 GB, 10,000 columns) for manual runs::

    python scripts/make_hostile_inputs.py hostile/
    python -c "import gmmseg; gmmseg.load('hostile/models/bomb.npz')"
    gmmseg defects scan hostile/models/defect_nan_threshold.gmmseg sample_images/factory -o out/
    gmmseg customers hostile/models/customers.csv --model hostile/models/customer_order.gmmseg -o out/
    gmmseg anomalies hostile/tables/european.csv -o out/
    gmmseg segment 'hostile/loops/**/*.png' -o out/

The script prints each file with the behaviour expected of it.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _npy_header(shape: tuple[int, ...], dtype: str = "<f8") -> bytes:
    """A .npy version-1 header for an array of ``shape`` (the data need not follow)."""
    text = repr({"descr": dtype, "fortran_order": False, "shape": shape}) + " "
    pad = 64 - (10 + len(text) + 1) % 64
    text = text + " " * pad + "\n"
    return b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text.encode("latin1")


def _header_member(header) -> bytes:
    blob = json.dumps(header).encode() if not isinstance(header, bytes) else header
    buffer = io.BytesIO()
    np.save(buffer, np.frombuffer(blob, dtype=np.uint8))
    return buffer.getvalue()


def _rewrite(source: Path, target: Path, *, header=None, arrays: dict | None = None) -> None:
    """Copy model file ``source`` to ``target``, replacing its header or some arrays."""
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            name = info.filename[:-4]
            if name == "__header__" and header is not None:
                zout.writestr(info.filename, _header_member(header))
            elif arrays and name in arrays:
                buffer = io.BytesIO()
                np.save(buffer, arrays[name])
                zout.writestr(info.filename, buffer.getvalue())
            else:
                zout.writestr(info.filename, zin.read(info.filename))


def _read_header(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as archive:
        return json.loads(archive["__header__"].tobytes().decode())


def make_models(folder: Path) -> list[tuple[Path, str]]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    sys.path.insert(0, str(ROOT))
    import gmmseg

    mixture = gmmseg.GaussianMixture(2, random_state=0).fit(rng.normal(size=(200, 3)))
    good = folder / "mixture.npz"
    mixture.save(good)
    cases = []

    bomb = folder / "bomb.npz"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zout:
        zout.writestr("__header__.npy", _header_member(_read_header(good)))
        n = 200_000_000  # 1.6 GB of float64 zeros, about 1.5 MB compressed
        with zout.open("means.npy", "w", force_zip64=True) as member:
            member.write(_npy_header((n,)))
            zeros = bytes(8 * 2**20)
            for _ in range(n * 8 // len(zeros)):
                member.write(zeros)
    cases.append((bomb, "a member that decompresses to 1.6 GB: refused before it is read"))

    claim = folder / "huge_claim.npz"
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(claim, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            zout.writestr(info.filename, _npy_header((10**12,)) + bytes(16) if info.filename == "weights.npy" else data)
    cases.append((claim, "a member header claiming 10^12 elements: ModelFileError naming the file, no MemoryError"))

    for name, value in (("nan", np.nan), ("inf", np.inf)):
        path = folder / f"{name}_means.npz"
        means = mixture.means_.copy()
        means[0, 0] = value
        _rewrite(good, path, arrays={"means": means})
        cases.append((path, f"{name} in the means: refused at load"))

    objects = folder / "object_array.npz"
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(objects, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            zout.writestr(info.filename, _npy_header((2,), "|O") + bytes(16) if info.filename == "means.npy" else data)
    cases.append((objects, "an object (pickle) array: refused before anything is unpickled"))

    weights = folder / "weights_sum.npz"
    _rewrite(good, weights, arrays={"weights": np.array([0.7, 0.7])})
    cases.append((weights, "weights summing to 1.4: refused at load"))

    not_object = folder / "header_list.npz"
    _rewrite(good, not_object, header=[1, 2, 3])
    cases.append((not_object, "a header that is JSON but not an object: ModelFileError"))

    deep = folder / "header_deep.npz"
    _rewrite(good, deep, header=b'{"format": "gmmseg-model", "metadata": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    cases.append((deep, "a header nested 100,000 deep: ModelFileError, no RecursionError"))

    defect = folder / "defect.gmmseg"
    goods = sorted(str(p) for p in (ROOT / "sample_images" / "factory").glob("good_*.png"))[:12]
    subprocess.run(
        [sys.executable, "-m", "gmmseg", "--quiet", "defects", "fit", *goods, "-o", str(defect)], check=True, cwd=ROOT
    )
    header = _read_header(defect)

    def patched(change) -> dict:
        copy = json.loads(json.dumps(header))
        change(copy["metadata"])
        return copy

    def set_threshold(meta):
        meta["threshold"] = float("nan")
        for member in meta.get("members", []):
            member["threshold"] = float("nan")

    def set_work_size(meta):
        for member in [meta, *meta.get("members", [])]:
            for key in ("work_size",):
                if key in member.get("params", {}):
                    member["params"][key] = 10**9
            if "texture" in member:
                member["texture"]["work_size"] = 10**9

    def set_sigmas(meta):
        for member in [meta, *meta.get("members", [])]:
            member["params"]["sigmas"] = [1.0, 1e9]

    for name, change, expect in (
        ("defect_nan_threshold", set_threshold, "a NaN threshold: refused at load (it would flag nothing, ever)"),
        ("defect_work_size", set_work_size, "a working size of 10^9: refused at load"),
        ("defect_sigmas", set_sigmas, "a filter scale of 10^9: refused at load"),
    ):
        path = folder / f"{name}.gmmseg"
        _rewrite(defect, path, header=patched(change))
        cases.append((path, expect))
    with np.load(defect, allow_pickle=False) as archive:
        scaling = [n for n in archive.files if "scaling" in n or n.endswith("_scale")]
    if scaling:
        path = folder / "defect_scaling_shape.gmmseg"
        _rewrite(defect, path, arrays={scaling[0]: np.zeros((3, 3, 3))})
        cases.append((path, f"array {scaling[0]!r} of the wrong shape: refused at load"))
    with np.load(defect, allow_pickle=False) as archive:
        means = next(n for n in archive.files if n.endswith("mixture_means"))
        path = folder / "defect_mixture_nan.gmmseg"
        _rewrite(defect, path, arrays={means: np.full(archive[means].shape, np.nan)})
    cases.append((path, f"NaN in {means!r}: refused at load"))
    cases += make_customer_models(folder, rng)
    return cases


def make_customer_models(folder: Path, rng) -> list[tuple[Path, str]]:
    import pandas as pd

    import gmmseg
    from gmmseg.tables.prepare import FeaturePrep
    from gmmseg.tables.segment_model import CustomerSegmentModel

    frame = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(300)],
            "spend": rng.gamma(2.0, 30.0, 300),
            "plan": rng.choice(["basic", "pro"], 300),
        }
    )
    frame.to_csv(folder / "customers.csv", index=False)
    prep = FeaturePrep(id_column="customer_id", random_state=0)
    mixture = gmmseg.GaussianMixture(2, random_state=0).fit(prep.fit_transform(frame))
    good = CustomerSegmentModel(prep, mixture, [1, 0], ["big", "small"], "customer_id").save(folder / "customer.gmmseg")
    order = folder / "customer_order.gmmseg"
    _rewrite(good, order, arrays={"order": np.array([1, 1])})
    header = _read_header(good)
    header["metadata"]["prep"]["categories_"]["plan"]["levels"].pop()
    levels = folder / "customer_levels.gmmseg"
    _rewrite(good, levels, header=header)
    return [
        (order, "an order that is not a permutation: refused at load (gmmseg customers --model exits 2)"),
        (levels, "a preparation with fewer features than the mixture: refused at load"),
    ]


def make_tables(folder: Path) -> list[tuple[Path, str]]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    cases = []
    long_field = folder / "long_field.csv"
    long_field.write_text("id,a,b\n1,2.5,x\n2," + "9" * 200_000 + ",y\n3,1.0,z\n")
    cases.append(
        (long_field, "a field over the csv module's limit: a clear TableError (or read), never an internal error")
    )

    european = folder / "european.csv"
    lines = ["kunde;betrag;anzahl"] + [
        f"K{i};{rng.gamma(2, 20):.2f};{rng.integers(1, 9)}".replace(".", ",", 1) for i in range(400)
    ]
    european.write_text("\n".join(lines) + "\n")
    cases.append((european, "semicolons and decimal commas: amounts read as numbers (or a warning on stderr)"))

    wide = folder / "wide.csv"
    values = rng.normal(size=(1000, 10_000)).round(3)
    with open(wide, "w") as handle:
        handle.write(",".join(f"c{j}" for j in range(values.shape[1])) + "\n")
        np.savetxt(handle, values, delimiter=",", fmt="%.3f")
    cases.append((wide, "10,000 columns x 1,000 rows: read and prepared in seconds, or a clear message"))

    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        print("pyarrow missing: no nested Parquet case", file=sys.stderr)
    else:
        nested = folder / "nested.parquet"
        table = pa.table(
            {
                "id": list(range(200)),
                "amount": rng.gamma(2, 10, 200).tolist(),
                "tags": [[int(t)] * int(t % 3) for t in range(200)],
                "address": [{"zip": str(10000 + i), "city": "x"} for i in range(200)],
            }
        )
        pq.write_table(table, nested)
        cases.append((nested, "list and struct columns: skipped with a note (or refused clearly)"))
    return cases


def make_loops(folder: Path) -> list[tuple[Path, str]]:
    from PIL import Image

    inner = folder / "a" / "b"
    inner.mkdir(parents=True, exist_ok=True)
    pixels = (np.random.default_rng(2).uniform(0, 255, (32, 32, 3))).astype(np.uint8)
    Image.fromarray(pixels).save(folder / "a" / "one.png")
    Image.fromarray(pixels[::-1]).save(inner / "two.png")
    for link, target in ((inner / "up", ".."), (folder / "a" / "again", "."), (folder / "alias", "a")):
        if not link.is_symlink():
            os.symlink(target, link)
    return [(folder, "'DIR/**/*.png' through folder links that loop: each image once, listing ends")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir", type=Path)
    args = parser.parse_args()
    cases = []
    cases += make_models(args.outdir / "models")
    cases += make_tables(args.outdir / "tables")
    cases += make_loops(args.outdir / "loops")
    for path, expect in cases:
        print(f"{path}: {expect}")


if __name__ == "__main__":
    main()
