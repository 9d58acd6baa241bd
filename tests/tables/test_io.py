"""The table reader: formats, sniffing, and one-line errors for each bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gmmseg.errors import TableError
from gmmseg.tables.io import read_numeric_matrix, read_table, sniff_text


@pytest.mark.parametrize(("sep", "encoding"), [(",", "utf-8"), (";", "utf-8-sig"), ("\t", "utf-8"), ("|", "latin-1")])
def test_delimiter_and_encoding_sniffed(tmp_path, sep, encoding):
    frame = pd.DataFrame({"name": ["Zoë", "José", "Ann"], "spend": [1.5, 2.0, 3.25], "n": [1, 2, 3]})
    path = tmp_path / "t.csv"
    path.write_bytes(frame.to_csv(sep=sep, index=False).encode(encoding))
    enc, delim = sniff_text(path)
    assert delim == sep
    got = read_table(path)
    pd.testing.assert_frame_equal(got, frame)


def test_whitespace_text_and_headerless(tmp_path):
    path = tmp_path / "log.txt"
    path.write_text(" 00001 19970101  1   11.77\n 00002 19970112  5   77.00\n")
    got = read_table(path)
    assert list(got.columns) == ["x0", "x1", "x2", "x3"]
    assert got["x3"].tolist() == [11.77, 77.0]
    named = read_table(path, names=["id", "date", "n", "value"])
    assert list(named.columns) == ["id", "date", "n", "value"]
    # zero-padded integers are identifiers: the zeros survive; other integers stay numbers
    assert named["id"].tolist() == ["00001", "00002"]
    assert named["date"].tolist() == [19970101, 19970112] and named["n"].tolist() == [1, 5]


def test_zero_padded_ids_keep_their_zeros_but_plain_integers_do_not(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("zip,count,code\n02139,10,7\n10001,0,12\n,3,0\n")
    got = read_table(path)
    assert got["zip"].tolist()[:2] == ["02139", "10001"] and pd.isna(got["zip"].iloc[2])
    assert got["count"].tolist() == [10, 0, 3]  # a lone 0 is a number, not padding
    assert got["code"].tolist() == [7, 12, 0]


def test_parquet_and_npy(tmp_path):
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]})
    frame.to_parquet(tmp_path / "t.parquet")
    pd.testing.assert_frame_equal(read_table(tmp_path / "t.parquet"), frame)
    np.save(tmp_path / "t.npy", np.arange(6.0).reshape(3, 2))
    X, names = read_numeric_matrix(tmp_path / "t.npy")
    assert X.shape == (3, 2) and names == ["x0", "x1"]


def test_read_numeric_matrix_keeps_numeric_columns(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b,c\n1,x,2.5\n3,y,4.5\n")
    X, names = read_numeric_matrix(path)
    assert names == ["a", "c"]
    np.testing.assert_array_equal(X, [[1, 2.5], [3, 4.5]])


@pytest.mark.parametrize(
    ("content", "kwargs", "needle"),
    [
        (None, {}, "file not found"),
        ("", {}, "is empty"),
        ("a,b,c\n", {}, "header but no rows"),
        ("a,b\n1,2\n", {"columns": ["zz"]}, "the columns are: a, b"),
        ("a,a,b\n1,2,3\n", {}, "duplicate column name"),
        ("a,b\n1,\n2,\n", {}, "entirely missing"),
    ],
)
def test_errors_are_one_line(tmp_path, content, kwargs, needle):
    path = tmp_path / "t.csv"
    if content is not None:
        path.write_text(content)
    with pytest.raises(TableError) as info:
        read_table(path, **kwargs)
    message = str(info.value)
    assert needle in message
    assert "\n" not in message


def test_no_usable_columns(tmp_path):
    from gmmseg.tables.prepare import FeaturePrep

    frame = pd.DataFrame(
        {"id": [f"u{i}" for i in range(20)], "note": [f"free text number {i} here" for i in range(20)]}
    )
    with pytest.raises(TableError, match="no usable columns"):
        FeaturePrep().fit(frame)


def test_input_not_modified(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a;b\n1;2\n3;4\n")
    before = path.read_bytes()
    read_table(path)
    assert path.read_bytes() == before


def test_field_over_the_csv_limit_is_read(tmp_path):
    # the header and a body field each longer than the csv module's 128 KiB default limit
    long_name = "n" * 200_000
    path = tmp_path / "long.csv"
    path.write_text(f"id,{long_name}\n1,{'9' * 200_000}\n2,x\n")
    got = read_table(path)
    assert got.shape == (2, 2) and got.columns[1] == long_name
    assert got.iloc[0, 1] == "9" * 200_000


def test_parquet_nested_columns_skipped_with_a_note(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    path = tmp_path / "nested.parquet"
    table = {"amount": [1.0, 2.0, 3.0], "tags": [[1], [], [2, 3]], "address": [{"zip": "1"}] * 3}
    pq.write_table(pa.table(table), path)
    with pytest.warns(UserWarning, match="skipped the list/struct/map column"):
        got = read_table(path)
    assert list(got.columns) == ["amount"]
    only = tmp_path / "only.parquet"
    pq.write_table(pa.table({"tags": [[1], [2]]}), only)
    with pytest.raises(TableError, match="only list/struct/map columns"):
        read_table(only)


def test_semicolons_with_decimal_commas_read_as_numbers(tmp_path):
    path = tmp_path / "eu.csv"
    path.write_text("kunde;betrag;anzahl;plz\nK1;12,50;1;01067\nK2;1.234,75;2;10115\nK3;-3,00;3;80331\n")
    got = read_table(path)
    assert got["betrag"].tolist() == [12.5, 1234.75, -3.0]
    assert got["anzahl"].tolist() == [1, 2, 3]
    assert got["plz"].tolist() == ["01067", "10115", "80331"]  # zero-padded codes stay text


def test_wide_table_read_quickly(tmp_path):
    import time

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(200, 3000)).round(3), columns=[f"c{j}" for j in range(3000)])
    path = tmp_path / "wide.csv"
    frame.to_csv(path, index=False)
    start = time.process_time()
    got = read_table(path)
    assert time.process_time() - start < 10  # was about 10 s of per-column regex matching alone
    np.testing.assert_allclose(got.to_numpy(), frame.to_numpy())
