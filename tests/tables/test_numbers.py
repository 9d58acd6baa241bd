"""The pandas-free path of a table of numbers: read, prepared, fitted and scored as the DataFrame path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gmmseg.errors import TableError
from gmmseg.tables.anomalies import TableAnomalyDetector, anomaly_table, detect_anomalies
from gmmseg.tables.io import read_table
from gmmseg.tables.numbers import NumberTable
from gmmseg.tables.prepare import FeaturePrep

ROOT = Path(__file__).resolve().parents[2]


def _number_csv(path: Path, n: int = 600) -> Path:
    """An id, floats written with 17 digits, a count, cents, a 0/1 flag, an identifier-like and a date-like name."""
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "id": np.arange(n) + 1000,
            "x": rng.normal(0, 1, n),
            "amount": rng.lognormal(3, 1, n),
            "visits": rng.poisson(3, n),
            "cents": np.round(rng.uniform(0, 20, n), 2),
            "member": rng.integers(0, 2, n),
            "store_id": rng.integers(1, 6, n),
            "signup_day": rng.integers(1, 300, n),
        }
    )
    frame.loc[:4, ["x", "amount"]] += 15.0  # a few far rows
    frame.to_csv(path, index=False, float_format="%.17g")
    return path


def test_number_table_matches_the_dataframe_path(tmp_path):
    path = _number_csv(tmp_path / "t.csv")
    numbers, frame = read_table(path, as_numbers=True), read_table(path)
    assert isinstance(numbers, NumberTable) and numbers.columns == list(frame.columns)
    for col in frame.columns:  # the same values and the same integer / float columns as pandas
        assert numbers.array(col).dtype == frame[col].dtype, col
        np.testing.assert_array_equal(numbers.array(col), frame[col].to_numpy())

    prep_n, prep_f = FeaturePrep(random_state=0), FeaturePrep(random_state=0)
    np.testing.assert_array_equal(prep_n.fit_transform(numbers), prep_f.fit_transform(frame))
    assert prep_n.summary() == prep_f.summary()  # roles (store_id an id? signup_day a date?) and transforms

    det_n = TableAnomalyDetector(roles={"id": "id"}).fit(numbers)
    det_f = TableAnomalyDetector(roles={"id": "id"}).fit(frame)
    np.testing.assert_array_equal(det_n.training_scores_, det_f.training_scores_)
    got = anomaly_table(det_n, numbers, id_column="id", scores=det_n.training_scores_)
    pd.testing.assert_frame_equal(got, anomaly_table(det_f, frame, id_column="id", scores=det_f.training_scores_))
    assert got["flagged"].iloc[:5].all() and got["reason_1"].iloc[0] != ""


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("a,b,plan\n1,2.5,x\n2,3.5,y\n3,1.0,x\n", "a text column"),
        ("a,b\n1,2.5\n2,\n3,1.0\n", "an empty field"),
        ("zip;n\n02139;1\n10001;2\n", "zero-padded integers"),
        ("a;b\n1;2,5\n2;3,5\n", "decimal commas"),
        ("a,b\n1,2\n9007199254740993,3\n", "an integer beyond float64's"),
        (",a\n0,1.5\n1,2.5\n", "an unnamed column"),
    ],
)
def test_other_tables_are_read_by_pandas(tmp_path, text, why):
    path = tmp_path / "t.csv"
    path.write_text(text)
    got = read_table(path, as_numbers=True)
    assert isinstance(got, pd.DataFrame), why
    pd.testing.assert_frame_equal(got, read_table(path))


def test_headerless_names_and_errors_as_the_dataframe_path(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("1 2.5\n\n3 4.5\n")
    got = read_table(path, as_numbers=True)
    assert isinstance(got, NumberTable) and got.columns == ["x0", "x1"]
    assert got.array("x0").tolist() == [1, 3] and got.array("x1").tolist() == [2.5, 4.5]
    named = read_table(path, names=["n", "v"], as_numbers=True)
    assert named.columns == ["n", "v"]
    with pytest.raises(TableError, match="--names gives 3 name"):
        read_table(path, names=["a", "b", "c"], as_numbers=True)
    only = tmp_path / "h.csv"
    only.write_text("a,b\n")
    with pytest.raises(TableError, match="has a header but no rows"):
        read_table(only, as_numbers=True)
    small = tmp_path / "e.csv"  # "e-05" is not a zero-padded integer
    small.write_text("a,b\n1.5e-05,2\n-3E+02,04.5\n")
    got = read_table(small, as_numbers=True)
    assert isinstance(got, NumberTable) and got.array("a").tolist() == [1.5e-05, -300.0]
    assert got.array("b").tolist() == [2.0, 4.5]
    nan = tmp_path / "nan.csv"
    nan.write_text("a,b\n1,nan\n2,nan\n")
    with pytest.raises(TableError, match="column.s. b .* entirely missing"):
        read_table(nan, as_numbers=True)
    subset = read_table(_number_csv(tmp_path / "t.csv"), columns=["x"], keep=["id"], as_numbers=True)
    assert subset.columns == ["id", "x"]


def test_numbers_are_scored_without_importing_pandas(tmp_path):
    path = _number_csv(tmp_path / "t.csv", n=300)
    code = (
        "import sys\n"
        "from gmmseg.tables.io import read_table\n"
        "from gmmseg.tables.anomalies import detect_anomalies\n"
        f"found = detect_anomalies(read_table({str(path)!r}, as_numbers=True), id_column='id')\n"
        "print('pandas' in sys.modules, found.n_rows, found.n_flagged)\n"
        "print(type(found.scores).__name__, 'pandas' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "300", "3", "DataFrame", "True"]
    # the library's result is the same as the DataFrame path's
    frame_found = detect_anomalies(read_table(path), id_column="id")
    pd.testing.assert_frame_equal(
        detect_anomalies(read_table(path, as_numbers=True), id_column="id").scores, frame_found.scores
    )
