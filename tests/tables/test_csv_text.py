"""csv_text: the NumPy-made CSV bytes are pandas' ``to_csv(index=False)`` bytes, cell for cell."""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd
import pytest

import gmmseg.tables.csv_text as csv_text
from gmmseg.tables.csv_text import csv_chunks

TEXTS = ["", "a", "b,c", 'say "hi"', "new\nline", "cr\rx", "ünïcødé", " lead", "tail ", "x" * 40]


def _joined(frame, chunk_rows=csv_text.CHUNK_ROWS) -> bytes:
    chunks = csv_chunks(frame, chunk_rows)
    assert chunks is not None, frame.dtypes
    return b"".join(chunks)


def _hostile(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ints = rng.integers(-(10**18), 10**18, n)
    ints[:9] = [0, -1, 1, 9, 10, -10, 100, np.iinfo(np.int64).max, -np.iinfo(np.int64).max]
    score = np.round(rng.normal(-15, 5, n), 6)
    score[: n // 3] = np.round(rng.normal(0, 1, n // 3) * 10.0 ** rng.integers(-8, 11, n // 3), 6)
    edges = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-4, -9.9999999e-5, 2.0**31 - 1e-6, 2.0**31, 1e16, 0.1 + 0.2]
    score[9 : 9 + len(edges)] = edges
    codes = rng.integers(-1, len(TEXTS), n)  # -1: a missing level
    return pd.DataFrame(
        {
            "id": ints,
            "score": score,
            "flagged": rng.random(n) < 0.3,
            "reason": pd.Categorical.from_codes(codes, categories=pd.Index(TEXTS[1:] + ["zz"])),
            "name": np.array(TEXTS, dtype=object)[rng.integers(0, len(TEXTS), n)],
            "small": rng.integers(-5, 100, n).astype(np.int32),
        }
    )


@pytest.mark.parametrize("chunk_rows", [csv_text.CHUNK_ROWS, 7])
def test_bytes_are_pandas_bytes_on_hostile_cells(chunk_rows):
    frame = _hostile()
    assert _joined(frame, chunk_rows) == frame.to_csv(index=False).encode()


def test_floats_off_the_grid_are_written_by_repr(monkeypatch):
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"p": rng.random(500), "q": rng.standard_cauchy(500) * 1e-6, "n": np.arange(500)})
    assert csv_chunks(frame) is None  # mostly repr per cell: left to pandas
    monkeypatch.setattr(csv_text, "FAST_SHARE_MIN", 0.0)
    assert _joined(frame) == frame.to_csv(index=False).encode()


def test_empty_and_single_row_tables_and_header_quoting():
    frame = _hostile().rename(columns={"name": "a,b"})
    for part in (frame.iloc[:0], frame.iloc[:1]):
        assert _joined(part) == part.to_csv(index=False).encode()


@pytest.mark.parametrize(
    "frame",
    [
        pd.DataFrame({"only": ["", "x"]}),  # a lone empty cell is quoted by pandas
        pd.DataFrame({"a": [1, 2], "when": pd.to_datetime(["2020-01-01", "2021-01-01"])}),
        pd.DataFrame({"a": [1, 2], "text": ["x", None]}),
        pd.DataFrame({"a": [1, 2], "n": pd.array([1, None], dtype="Int64")}),
    ],
)
def test_other_columns_are_left_to_pandas(frame):
    assert csv_chunks(frame) is None


def test_write_csv_writes_the_same_file_either_way(tmp_path, monkeypatch):
    from gmmseg.cli.tables._options import write_csv

    frame = _hostile()
    frame["name"] = frame["name"].str.replace("\r", "")  # pandas leaves a lone CR unquoted: not read back
    frame["reason"] = frame["reason"].cat.rename_categories(lambda level: level.replace("\r", ""))
    write_csv(frame, tmp_path / "fast.csv")
    monkeypatch.setattr(csv_text, "csv_chunks", lambda frame, chunk_rows=0: None)
    write_csv(frame, tmp_path / "pandas.csv")
    assert (tmp_path / "fast.csv").read_bytes() == (tmp_path / "pandas.csv").read_bytes()
    with open(tmp_path / "fast.csv", newline="", encoding="utf-8") as handle:  # valid CSV: it reads back
        rows = list(csv.reader(handle))
    assert [row[4] for row in rows] == ["name", *frame["name"]]
