"""CSV datasets: header detection, the label column, label encoding, chunked
parsing against Python's csv module, and every refusal naming file, line and column."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from test_data_support import hermetic  # noqa: F401  (autouse fixture)

from anynet.datasets import load_dataset, load_inputs, opening, tables
from anynet.errors import ArgumentError, ArgumentTypeError, DataError, TooLargeError


def write_csv(path, rows, header=None, delimiter=","):
    """Write rows with Python's csv module (the oracle's writer); floats as repr, which round-trips exactly."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, delimiter=delimiter)
        if header is not None:
            writer.writerow(header)
        writer.writerows([[repr(c) if isinstance(c, float) else c for c in row] for row in rows])
    return path


@pytest.fixture
def random_table():
    rng = np.random.default_rng(7)
    X = rng.standard_normal((50, 4))
    labels = rng.choice(["cat", "dog", "emu"], size=50)
    return X, labels


@pytest.mark.parametrize("chunk", [tables.ROWS_PER_CHUNK, 7])
@pytest.mark.parametrize("with_header", [True, False])
def test_csv_matches_the_csv_module(tmp_path, random_table, monkeypatch, chunk, with_header):
    monkeypatch.setattr(tables, "ROWS_PER_CHUNK", chunk)
    X, labels = random_table
    header = ["species", "a", "b", "c", "d"] if with_header else None
    path = write_csv(tmp_path / "t.csv", [[label, *row] for label, row in zip(labels, X.tolist(), strict=True)], header)
    dataset = load_dataset(path)
    assert dataset.test is None and dataset.validation is None
    assert dataset.classes == ["cat", "dog", "emu"] and dataset.n_classes == 3
    np.testing.assert_array_equal(dataset.train[0], X)  # repr round-trips: exact
    np.testing.assert_array_equal(np.array(dataset.classes)[dataset.train[1]], labels)
    assert dataset.train[1].dtype == np.int64 and dataset.train[0].dtype == np.float64
    assert "50 rows, 4 features" in dataset.source and "3 classes" in dataset.source
    json.dumps(dataset.classes)  # a checkpoint can store it


def test_label_column_by_header_name_and_default_names(tmp_path):
    path = write_csv(tmp_path / "t.csv", [[1.0, 2.0, 1], [3.0, 4.0, 0]], header=["a", "b", "Target"])
    dataset = load_dataset(path)  # a column named label/class/target/y is the label by default
    np.testing.assert_array_equal(dataset.train[0], [[1, 2], [3, 4]])
    assert dataset.classes == [0, 1] and list(dataset.train[1]) == [1, 0]
    assert "column 3 ('Target')" in dataset.source
    by_name = load_dataset(path, label_column="a")
    np.testing.assert_array_equal(by_name.train[0], [[2, 1], [4, 0]])
    assert by_name.classes == [1, 3]


@pytest.mark.parametrize("index", [2, -1])
def test_label_column_by_index(tmp_path, index):
    path = write_csv(tmp_path / "t.csv", [[0.5, 0.25, 7], [0.75, 0.125, 9]])
    dataset = load_dataset(path, label_column=index)
    np.testing.assert_array_equal(dataset.train[0], [[0.5, 0.25], [0.75, 0.125]])
    assert dataset.classes == [7, 9]


@pytest.mark.parametrize(
    ("label_column", "error", "message"),
    [
        (5, ArgumentError, r"label_column=5, but .*t.csv has 3 columns"),
        ("z", ArgumentError, r"label_column='z' is not a column of .*\(columns: 'label', 'a', 'b'\)"),
        (True, ArgumentTypeError, r"column name or index"),
        (1.0, ArgumentTypeError, r"column name or index"),
    ],
)
def test_bad_label_column(tmp_path, label_column, error, message):
    path = write_csv(tmp_path / "t.csv", [[1, 2.0, 3.0]], header=["label", "a", "b"])
    with pytest.raises(error, match=message):
        load_dataset(path, label_column=label_column)


def test_label_column_name_without_a_header(tmp_path):
    path = write_csv(tmp_path / "t.csv", [[1, 2.0], [0, 3.0]])
    with pytest.raises(ArgumentError, match=r"has no header; give the column's index"):
        load_dataset(path, label_column="label")


def test_label_column_is_for_csv_only(tmp_path):
    with pytest.raises(ArgumentError, match=r"label_column applies to CSV files"):
        load_dataset("sample", label_column=0)


def test_numeric_labels_sort_as_numbers_and_integral_floats_are_integers(tmp_path):
    path = write_csv(tmp_path / "t.csv", [[10, 1.0], ["2.0", 2.0], [2, 3.0], ["1e1", 4.0]])
    dataset = load_dataset(path)
    assert dataset.classes == [2, 10]  # "2.0" and 2 are one class; 2 before 10
    assert list(dataset.train[1]) == [1, 0, 0, 1]
    assert all(type(c) is int for c in dataset.classes)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", r"t.csv is empty"),
        ("\n\n", r"t.csv is empty"),
        ("label,a,b\n", r"t.csv has a header but no data rows"),
        ("3\n4\n", r"t.csv has one column; .*labels alone cannot be trained on"),
        ("1,2,3\n4,x,6\n", r"t.csv, line 2, column 2: 'x' is not a number"),
        ("label,a,b\n1,2,3\n\n4,5,\n", r"t.csv, line 4, column 3 \('b'\): '' is not a number"),
        ("1,2,3\n4,5\n", r"t.csv, line 2: 2 columns, but the first row has 3"),
        ("1,2,3\n4,5,6,7\n", r"t.csv, line 2: 4 columns, but the first row has 3"),
        ("1,2,3\n4,5,inf\n", r"t.csv, line 2, column 3: inf is not a finite number"),
        ("label,a,b\n1,nan,3\n", r"t.csv, line 2, column 2 \('a'\): nan is not a finite number"),
        ("1,2\n2.5,3\n", r"t.csv: the labels in column 1 must be integers \(3 or 3.0\) or class names: 2.5 \(line 2\)"),
        ("1,2\nnan,3\n", r"the labels in column 1 must be integers .*nan \(line 2\)"),
        ("1,2\n,3\n", r"t.csv, line 2, column 1: the label is empty"),
    ],
    ids=[
        "empty", "blank", "header-only", "one-column", "text-feature", "empty-cell", "short-row", "long-row",
        "inf", "nan", "fractional-label", "nan-label", "empty-label",
    ],
)
def test_bad_csv_is_refused_naming_file_line_and_column(tmp_path, content, message):
    path = tmp_path / "t.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        load_dataset(path)


@pytest.mark.parametrize("row", [300, 301, 599])
def test_errors_in_later_chunks_name_the_right_line(tmp_path, monkeypatch, row):
    monkeypatch.setattr(tables, "ROWS_PER_CHUNK", 100)
    lines = ["label,a,b"] + [f"{i % 3},{i},{i}" for i in range(600)]
    lines[row] = lines[row].replace(f",{row - 1},", ",oops,")
    path = tmp_path / "t.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=rf"t.csv, line {row + 1}, column 2 \('a'\): 'oops'"):
        load_dataset(path)


def test_a_chunk_with_another_column_count_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(tables, "ROWS_PER_CHUNK", 2)
    path = tmp_path / "t.csv"
    path.write_text("1,2,3\n4,5,6\n7,8\n9,10\n")  # each chunk is consistent in itself
    with pytest.raises(DataError, match=r"t.csv, line 3: 2 columns, but the first row has 3"):
        load_dataset(path)


def test_quotes_bom_crlf_and_semicolons(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes('\ufefflabel;x;y\r\n"big, red";1,5;2\r\n'.replace(",5", ".5").encode("utf-8"))
    dataset = load_dataset(path)
    assert dataset.classes == ["big, red"]
    np.testing.assert_array_equal(dataset.train[0], [[1.5, 2.0]])


def test_header_detection(tmp_path):
    cases = {
        "pixel0,pixel1,label\n0,1,3\n": ([[0, 1]], [3]),  # Kaggle-style header, label last
        "digit,px0,px1\n3,0,1\n": ([[0, 1]], [3]),  # text over numbers: a header
        "cat,0.5,1\ndog,1,2\n": ([[0.5, 1], [1, 2]], ["cat", "dog"]),  # text over text: data
        ",2\n3,4\n": None,  # an empty cell is not a header's name: data, and its label is empty
    }
    for i, (content, expected) in enumerate(cases.items()):
        path = tmp_path / f"{i}.csv"
        path.write_text(content)
        if expected is None:
            with pytest.raises(DataError, match=r"line 1, column 1: the label is empty"):
                load_dataset(path)
            continue
        dataset = load_dataset(path)
        np.testing.assert_array_equal(dataset.train[0], expected[0])
        assert dataset.classes == expected[1]


def test_float32(tmp_path):
    path = write_csv(tmp_path / "t.csv", [[1, 0.1, 0.2]])
    X = load_dataset(path, dtype="float32").train[0]
    assert X.dtype == np.float32
    np.testing.assert_array_equal(X, np.array([[0.1, 0.2]], dtype=np.float32))


def test_not_utf8(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(b"\x1f\x8b\x08\x00\xff\xfe,1\n")
    with pytest.raises(DataError, match=r"t.csv, line 1: not UTF-8 text.*compressed"):
        load_dataset(path)


def test_a_line_without_end_is_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(tables, "MAX_LINE", 64)
    path = tmp_path / "t.csv"
    path.write_text("1," * 100)
    with pytest.raises(DataError, match=r"t.csv, line 1: longer than 64 characters"):
        load_dataset(path)


def test_more_than_memory_is_refused_while_reading(tmp_path, monkeypatch):
    monkeypatch.setattr(opening, "physical_memory", lambda: 10_000)
    path = write_csv(tmp_path / "t.csv", [[i % 2, float(i), float(i)] for i in range(1000)])
    with pytest.raises(TooLargeError, match=r"t.csv: reading it \(the first 1,000 rows\) needs"):
        load_dataset(path)


def test_validation_split_of_a_csv_takes_the_last_rows(tmp_path):
    path = write_csv(tmp_path / "t.csv", [[i % 2, float(i)] for i in range(10)])
    dataset = load_dataset(path, validation_split=0.3)
    np.testing.assert_array_equal(dataset.train[0][:, 0], np.arange(7))
    np.testing.assert_array_equal(dataset.validation[0][:, 0], [7, 8, 9])
    assert dataset.test is None
    assert dataset.source.endswith("validation: the last 3 of 10 training rows (validation_split=0.3)")


@pytest.mark.parametrize("content", ["a,b\n1,2\n3,4\n", "1,2\n3,4\n"])
def test_csv_inputs_are_all_features(tmp_path, content):
    path = tmp_path / "in.csv"
    path.write_text(content)
    np.testing.assert_array_equal(load_inputs(path), [[1, 2], [3, 4]])
