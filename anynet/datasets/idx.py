"""IDX files (MNIST's format, raw or gzipped) and MNIST-like datasets made of four of them.

An IDX file is a 4-byte magic number (two zero bytes, an element type, the
number of dimensions), one big-endian uint32 per dimension, then the elements.
The header is read first and fixes how many bytes may follow: the data is
streamed into an array of exactly that size, so a small gzip file that would
inflate to gigabytes is refused after reading what its header promised, and a
header promising more than this machine's memory is refused before anything
is allocated.
"""

from __future__ import annotations

import math
import struct
from pathlib import Path

import numpy as np

from ..errors import DataError
from .core import N_CLASSES, Dataset, check_labels
from .opening import check_fits, fill, open_data, read_exactly

# The four files of an MNIST-format dataset, by role.
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _read_header(stream, path: Path) -> tuple[np.dtype, tuple[int, ...]]:
    magic = stream.read(4)
    if len(magic) < 4 or magic[0] != 0 or magic[1] != 0 or magic[2] not in _IDX_DTYPES or magic[3] == 0:
        hint = ""
        if magic and all(32 <= b < 127 or b in b"\t\r\n" for b in magic):
            hint = "; it starts like text: a CSV file is read by load_dataset('file.csv'), not as an IDX file"
        raise DataError(f"{path} is not an IDX file (magic number {magic.hex() or 'missing'}){hint}")
    ndim = magic[3]
    dims = read_exactly(stream, 4 * ndim, path, f"its header ({ndim} dimensions)")
    return _IDX_DTYPES[magic[2]], struct.unpack(f">{ndim}I", dims)


def idx_header(path) -> tuple[np.dtype, tuple[int, ...]]:
    """The element type (in the file's byte order) and shape an IDX file's header declares."""
    path = Path(path)
    with open_data(path, "an IDX file") as stream:
        return _read_header(stream, path)


def read_idx(path) -> np.ndarray:
    """Read an IDX file (raw or gzipped) and return its array in native byte order.

    Accepts every IDX element type (uint8, int8, int16, int32, float32, float64)
    and any number of dimensions.  Raises DataError naming the file when the
    magic number is wrong, the data is shorter or longer than the header says
    or the gzip stream is damaged; TooLargeError when the header describes
    more than this machine's memory; DataError for a FIFO, a device or a
    directory (refused before opening).
    """
    path = Path(path)
    with open_data(path, "an IDX file") as stream:
        dtype, shape = _read_header(stream, path)
        promised = f"its header describes {shape} {dtype.name}"
        check_fits(math.prod(shape) * dtype.itemsize, path, promised)
        array = fill(stream, np.empty(shape, dtype), path, promised)
    return array.astype(dtype.newbyteorder("="), copy=False)


def find_idx_files(directory: Path) -> dict[str, Path] | None:
    """The four IDX files in ``directory`` (raw preferred over .gz), or None if
    any is missing.  A FIFO or device by one of these names counts as found,
    so that reading it says what it is instead of "missing"."""
    found = {}
    for role, stem in IDX_FILES.items():
        existing = [p for p in (directory / stem, directory / f"{stem}.gz") if p.exists()]
        if not existing:
            return None
        found[role] = existing[0]
    return found


def _check_pair(images_path: Path, labels_path: Path) -> tuple[int, ...]:
    """Check two headers against each other before any data is read; return the images' shape."""
    images_dtype, images_shape = idx_header(images_path)
    labels_dtype, labels_shape = idx_header(labels_path)
    if images_dtype != np.uint8 or len(images_shape) != 3 or images_shape[0] == 0:
        raise DataError(
            f"{images_path}: expected uint8 images of shape (n, rows, cols), got {images_dtype.name} {images_shape}"
        )
    if len(labels_shape) != 1:
        raise DataError(f"{labels_path}: expected labels of shape (n,), got {labels_shape}")
    if images_shape[0] != labels_shape[0]:
        raise DataError(
            f"{images_path} holds {images_shape[0]:,} images but {labels_path} holds {labels_shape[0]:,} labels"
        )
    return images_shape


def check_idx_files(files: dict[str, Path], dtype: np.dtype) -> None:
    """Refuse a set of IDX files whose headers do not fit together (counts,
    training and test image sizes) or whose float arrays would not fit in
    memory, before reading any data."""
    train = _check_pair(files["train_images"], files["train_labels"])
    test = _check_pair(files["test_images"], files["test_labels"])
    if train[1:] != test[1:]:
        raise DataError(
            f"the training images are {train[1]}x{train[2]} ({files['train_images']}) but the test images are "
            f"{test[1]}x{test[2]} ({files['test_images']}); both splits must have images of one size"
        )
    n_values = (train[0] + test[0]) * train[1] * train[2]
    check_fits(n_values * (dtype.itemsize + 1), files["train_images"].parent, "the images as floats")


def images_and_labels(images_path: Path, labels_path: Path, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """Read a pair of IDX files into X (n, rows*cols) scaled to [0, 1] and y int64."""
    images, labels = read_idx(images_path), read_idx(labels_path)
    y = check_labels(labels, N_CLASSES, f"{labels_path}: labels")
    X = images.reshape(len(images), -1).astype(dtype)
    X /= 255  # in place: the full training set is 188 MB as float32, 376 MB as float64
    return X, y


def book_split(X: np.ndarray, y: np.ndarray):
    """Split a training file like the book: the last sixth (10,000 of 60,000) is validation."""
    n_train = len(y) - len(y) // 6
    return (X[:n_train], y[:n_train]), (X[n_train:], y[n_train:])


def load_idx_files(files: dict[str, Path], *, name: str, source: str, dtype: np.dtype, split=book_split) -> Dataset:
    """A Dataset from the four IDX files in ``files`` (role -> path); ``split``
    cuts the training file into training and validation (None: no validation)."""
    check_idx_files(files, dtype)
    full = images_and_labels(files["train_images"], files["train_labels"], dtype)
    train, validation = split(*full) if split else (full, None)
    test = images_and_labels(files["test_images"], files["test_labels"], dtype)
    return Dataset(name=name, source=source, train=train, validation=validation, test=test, n_classes=N_CLASSES)
