""".npz datasets, .npy/.npz inputs, the validation split, and Dataset without a test split."""

from __future__ import annotations

import gzip
import io
import pickle
import zipfile

import numpy as np
import pytest
from test_data_support import MiB, hermetic, make_idx_dir, peak_memory  # noqa: F401  (autouse fixture)

from anynet.datasets import Dataset, load_dataset, load_inputs, opening, split_validation
from anynet.errors import ArgumentError, DataError, TooLargeError


def npy_bytes(header: dict, data: bytes) -> bytes:
    """A .npy file with a hand-written header, so that header and data may disagree."""
    out = io.BytesIO()
    np.lib.format.write_array_header_1_0(out, header)
    return out.getvalue() + data


def zip_of(path, members: dict[str, bytes]):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


# --------------------------------------------------------------- .npz datasets


def test_npz_with_x_and_y_is_a_training_split(tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.random((6, 5)), np.array([3, 1, 3, 3, 1, 1])
    np.savez(tmp_path / "d.npz", X=X, y=y)
    dataset = load_dataset(tmp_path / "d.npz")
    np.testing.assert_array_equal(dataset.train[0], X)
    assert dataset.classes == [1, 3] and list(dataset.train[1]) == [1, 0, 1, 1, 0, 0]
    assert dataset.test is None and dataset.validation is None and dataset.n_inputs == 5
    assert "6 training rows; 5 features; 2 classes" in dataset.source


def test_npz_with_train_and_test_splits_shares_one_label_encoding(tmp_path):
    np.savez_compressed(
        tmp_path / "d.npz",
        x_train=np.zeros((3, 2)), y_train=np.array(["b", "a", "b"]),
        x_test=np.ones((2, 2)), y_test=np.array(["c", "a"]),
    )
    dataset = load_dataset(tmp_path / "d.npz")
    assert dataset.classes == ["a", "b", "c"]
    assert list(dataset.train[1]) == [1, 0, 1] and list(dataset.test[1]) == [2, 0]
    np.testing.assert_array_equal(dataset.test[0], np.ones((2, 2)))


def test_npz_uint8_images_are_flattened_and_scaled(tmp_path):
    images = np.random.default_rng(1).integers(0, 256, (4, 28, 28, 1), dtype=np.uint8)
    np.savez(tmp_path / "d.npz", X_train=images, Y_train=np.array([0, 1, 0, 1], dtype=np.float32))
    dataset = load_dataset(tmp_path / "d.npz", dtype="float32")
    X = dataset.train[0]
    assert X.shape == (4, 784) and X.dtype == np.float32
    np.testing.assert_array_equal(X, images.reshape(4, 784).astype(np.float32) / np.float32(255))
    assert "x_train uint8 0..255 scaled to [0, 1]" in dataset.source and dataset.classes == [0, 1]


def test_npz_fortran_order_arrays(tmp_path):
    X = np.asfortranarray(np.arange(12.0).reshape(3, 4))
    np.savez(tmp_path / "d.npz", X=X, y=np.arange(3))
    np.testing.assert_array_equal(load_dataset(tmp_path / "d.npz").train[0], X)


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"X": np.zeros((2, 2))}, r"holds the arrays X; a dataset needs X and y"),
        (
            {"x_train": np.zeros((2, 2)), "y_train": [0, 1], "x_test": np.zeros((1, 2))},
            r"arrays x_train, y_train, x_test; .*optionally x_test and y_test",
        ),
        ({"X": np.zeros((2, 2)), "y": [0, 1, 1]}, r"y must hold one label per row of X, shape \(2,\), got \(3,\)"),
        ({"X": np.zeros((2, 2)), "y": np.eye(2)}, r"got \(2, 2\); for one-hot rows use y.argmax\(axis=1\)"),
        ({"X": np.zeros(3), "y": [0, 1, 1]}, r"X has shape \(3,\); it needs one row per sample"),
        ({"X": np.array([[1.0, np.nan]]), "y": [0]}, r"X row 0, column 1 is nan"),
        ({"X": np.zeros((1, 2)), "y": [0.5]}, r"the labels must be integers \(3 or 3.0\) or class names: 0.5"),
        ({"X": np.array([["a"]]), "y": [0]}, r"X must be numbers"),
        (
            {"x_train": np.zeros((2, 3)), "y_train": [0, 1], "x_test": np.zeros((2, 4)), "y_test": [0, 1]},
            r"x_train rows have 3 values but x_test rows have 4",
        ),
    ],
    ids=["no-y", "test-without-labels", "count", "one-hot", "one-dimensional", "nan", "fraction", "text", "widths"],
)
def test_bad_npz_is_refused_naming_the_file(tmp_path, arrays, message):
    np.savez(tmp_path / "d.npz", **arrays)
    with pytest.raises(DataError, match=rf"d.npz.*{message}"):
        load_dataset(tmp_path / "d.npz")


class Marker:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_npz_of_python_objects_is_refused_without_unpickling(tmp_path):
    marker = tmp_path / "pwned"
    np.savez(tmp_path / "d.npz", X=np.array([[Marker(str(marker))]], dtype=object), y=np.array([0]))
    assert b"pwned" in (tmp_path / "d.npz").read_bytes()  # the pickle is really in there
    with pytest.raises(DataError, match=r"d.npz: the array 'X' holds Python objects; anynet never unpickles"):
        load_dataset(tmp_path / "d.npz")
    assert not marker.exists()


def test_npy_header_promising_more_than_the_member_holds_is_refused_before_allocating(tmp_path):
    header = {"descr": "<f4", "fortran_order": False, "shape": (10**9, 784)}
    labels = npy_bytes({"descr": "<i8", "fortran_order": False, "shape": (1,)}, bytes(8))
    zip_of(tmp_path / "d.npz", {"X.npy": npy_bytes(header, bytes(16)), "y.npy": labels})

    def load():
        with pytest.raises(DataError, match=r"describes \(1000000000, 784\) float32 .* but it holds 16"):
            load_dataset(tmp_path / "d.npz")

    assert peak_memory(load) < 32 * MiB


def test_npz_member_with_trailing_bytes_is_refused(tmp_path):
    good = io.BytesIO()
    np.save(good, np.zeros((2, 2)))
    zip_of(tmp_path / "d.npz", {"X.npy": good.getvalue() + b"extra", "y.npy": good.getvalue()})
    with pytest.raises(DataError, match=r"d.npz: the header of the array 'X' describes \(2, 2\)"):
        load_dataset(tmp_path / "d.npz")


def test_npz_larger_than_memory_is_refused_from_its_directory(tmp_path, monkeypatch):
    np.savez(tmp_path / "d.npz", X=np.zeros((100, 10)), y=np.zeros(100))
    monkeypatch.setattr(opening, "physical_memory", lambda: 1000)
    with pytest.raises(TooLargeError, match=r"d.npz: its arrays needs"):
        load_dataset(tmp_path / "d.npz")


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_damaged_npz_names_the_file(tmp_path, damage):
    path = tmp_path / "d.npz"
    np.savez(path, X=np.arange(4000.0).reshape(1000, 4), y=np.zeros(1000))
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    else:
        data[2000] ^= 0xFF  # inside X's data: the CRC no longer matches
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"d.npz: .*truncated or corrupt"):
        load_dataset(path)


def test_npy_is_not_a_dataset(tmp_path):
    np.save(tmp_path / "d.npy", np.zeros((2, 2)))
    with pytest.raises(DataError, match=r"d.npy: a .npy file holds one array; .*save both in an .npz"):
        load_dataset(tmp_path / "d.npy")


# --------------------------------------------------------------------- inputs


def test_npy_inputs(tmp_path):
    X = np.random.default_rng(2).random((3, 5))
    np.save(tmp_path / "x.npy", X)
    np.testing.assert_array_equal(load_inputs(tmp_path / "x.npy"), X)
    np.save(tmp_path / "one.npy", X[0])
    np.testing.assert_array_equal(load_inputs(str(tmp_path / "one.npy")), X[:1])
    np.save(tmp_path / "img.npy", np.full((2, 28, 28), 51, np.uint8))
    inputs = load_inputs(tmp_path / "img.npy", dtype="float32")
    assert inputs.shape == (2, 784) and inputs.dtype == np.float32
    np.testing.assert_array_equal(inputs, np.float32(51) / np.float32(255))


def test_npz_inputs_choose_the_only_array_then_x_then_x_test(tmp_path):
    np.savez(tmp_path / "only.npz", pixels=np.ones((2, 3)))
    np.testing.assert_array_equal(load_inputs(tmp_path / "only.npz"), np.ones((2, 3)))
    np.savez(tmp_path / "x.npz", X=np.ones((2, 3)), y=np.zeros(2), x_test=np.zeros((1, 3)))
    np.testing.assert_array_equal(load_inputs(tmp_path / "x.npz"), np.ones((2, 3)))
    np.savez(tmp_path / "test.npz", x_train=np.ones((2, 3)), x_test=np.zeros((1, 3)))
    np.testing.assert_array_equal(load_inputs(tmp_path / "test.npz"), np.zeros((1, 3)))
    np.savez(tmp_path / "none.npz", a=np.ones(2), b=np.ones(2))
    with pytest.raises(DataError, match=r"none.npz holds the arrays a, b; inputs are its only array, X or x_test"):
        load_inputs(tmp_path / "none.npz")


def test_npy_inputs_of_objects_are_refused(tmp_path):
    np.save(tmp_path / "x.npy", np.array([[Marker(str(tmp_path / "pwned"))]], dtype=object))
    with pytest.raises(DataError, match=r"x.npy: the array holds Python objects"):
        load_inputs(tmp_path / "x.npy")
    assert not (tmp_path / "pwned").exists()


def test_inputs_of_an_unknown_kind_or_missing(tmp_path):
    (tmp_path / "x.txt").write_text("1 2 3")
    with pytest.raises(DataError, match=r"x.txt: inputs are .npy, .npz, .csv or image"):
        load_inputs(tmp_path / "x.txt")
    with pytest.raises(FileNotFoundError, match=r"nowhere.npy: no such file"):
        load_inputs(tmp_path / "nowhere.npy")
    with pytest.raises(ArgumentError, match=r"no inputs given"):
        load_inputs([])


# ----------------------------------------------------------- validation split


def test_validation_split_of_one_sixth_is_the_books_split(tmp_path):
    directory = make_idx_dir(tmp_path / "d", n_train=60)
    book = load_dataset(directory)
    split = load_dataset(directory, validation_split=1 / 6)
    for ours, theirs in zip((split.train, split.validation), (book.train, book.validation), strict=True):
        np.testing.assert_array_equal(ours[0], theirs[0])
        np.testing.assert_array_equal(ours[1], theirs[1])
    assert "validation: the last 10 of 60 training rows" in split.source


def test_validation_split_of_the_book_pickle_restores_the_training_file_order(tmp_path):
    rng = np.random.default_rng(3)
    splits = [(rng.random((n, 784), dtype=np.float32), np.arange(n) % 10) for n in (8, 4, 2)]
    (tmp_path / "mnist.pkl.gz").write_bytes(gzip.compress(pickle.dumps(tuple(splits), protocol=2)))
    dataset = load_dataset(tmp_path / "mnist.pkl.gz", validation_split=0.25)
    whole = np.concatenate([splits[0][0], splits[1][0]]).astype(np.float64)
    np.testing.assert_array_equal(dataset.train[0], whole[:9])
    np.testing.assert_array_equal(dataset.validation[0], whole[9:])
    np.testing.assert_array_equal(dataset.test[0], splits[2][0].astype(np.float64))


@pytest.mark.parametrize("fraction", [1, -0.1, 1.5, True, "0.1", float("nan")])
def test_validation_split_must_be_a_fraction(fraction):
    with pytest.raises(ArgumentError, match=r"validation_split must be a fraction between 0 and 1"):
        load_dataset("sample", validation_split=fraction)


def test_validation_split_0_trains_on_every_training_row(tmp_path):
    """0: the book's validation rows join the training rows, in file order (the 60,000-row file again)."""
    splits = [(np.random.default_rng(i).random((n, 784)).astype(np.float32), np.arange(n) % 10) for i, n in enumerate((6, 2, 3))]
    (tmp_path / "mnist.pkl.gz").write_bytes(gzip.compress(pickle.dumps(tuple(splits), protocol=2)))
    dataset = load_dataset(tmp_path / "mnist.pkl.gz", validation_split=0)
    np.testing.assert_array_equal(dataset.train[0], np.concatenate([splits[0][0], splits[1][0]]))
    np.testing.assert_array_equal(dataset.train[1], np.concatenate([splits[0][1], splits[1][1]]))
    assert dataset.validation is None and "no validation split: all 8 training rows train" in dataset.source


def test_validation_split_that_leaves_a_side_empty(tmp_path):
    np.savez(tmp_path / "d.npz", X=np.zeros((3, 2)), y=np.zeros(3))
    with pytest.raises(DataError, match=r"validation_split=0.01 of 3 training rows leaves 3 for training and 0"):
        load_dataset(tmp_path / "d.npz", validation_split=0.01)


def test_dataset_defaults_and_checks():
    X, y = np.zeros((2, 3)), np.array([0, 1])
    dataset = Dataset(name="t", source="s", train=(X, y), validation=None, test=None, n_classes=2)
    assert dataset.classes == [0, 1] and dataset.n_inputs == 3
    assert split_validation(dataset, 0.5).validation[0].shape == (1, 3)
    with pytest.raises(ArgumentError, match=r"3 classes given for n_classes=2"):
        Dataset(name="t", source="s", train=(X, y), validation=None, test=None, n_classes=2, classes=[1, 2, 3])

