"""The Dataset every reader returns, label encoding, the validation split and
the book's list-of-tuples format."""

from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass

import numpy as np

from ..errors import ArgumentError, ArgumentTypeError, DataError

N_CLASSES = 10  # MNIST, Fashion-MNIST, KMNIST

# The names of the classes where a dataset defines them (label i is named
# CLASS_NAMES[name][i]): Fashion-MNIST's from its README
# (github.com/zalandoresearch/fashion-mnist), KMNIST's romanised hiragana from
# its kmnist_classmap.csv (github.com/rois-codh/kmnist).  MNIST's labels are
# its digits' names.
CLASS_NAMES = {
    "fashion-mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                      "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    "kmnist": ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
}

Pair = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True, eq=False)  # eq=False: comparing arrays with == is ambiguous
class Dataset:
    """A labelled dataset: ``(X, y)`` pairs for training, validation and test.

    ``X`` is a float array of shape ``(n, d)`` (images flattened, pixels in
    ``[0, 1]``), ``y`` an int64 array of shape ``(n,)`` with labels
    ``0..n_classes-1``.  ``validation`` is None when the data has no
    validation split (the bundled sample, a CSV or .npz file loaded without
    ``validation_split``); ``test`` is None when the file has no test split (a
    CSV file, an .npz file with only ``X``/``y``).  ``classes[i]`` is the
    original label of class ``i`` (an int or a str, JSON-serialisable): for
    MNIST-like data ``[0, 1, ..., 9]``, for a CSV file with labels "cat" and
    "dog" ``["cat", "dog"]``.  ``class_names[i]`` names class ``i`` where
    the dataset defines names its labels are not (Fashion-MNIST's
    "T-shirt/top", ..., KMNIST's: :data:`CLASS_NAMES`), else it is None.
    ``source`` is one human-readable line saying
    where the data came from and what was done to it.

    A regression dataset (``task="regression"``, from a CSV file with a
    real-valued target column, see :mod:`.tables`) has float targets ``y``
    of shape ``(n, n_classes)`` instead of labels (``n_classes`` is then the
    number of targets) and ``classes`` holds the targets' column names.
    """

    name: str
    source: str
    train: Pair
    validation: Pair | None
    test: Pair | None
    n_classes: int
    classes: list | None = None  # None: the labels are the classes, 0..n_classes-1
    class_names: list | None = None  # None: the labels name the classes
    task: str = "classification"  # or "regression": y is float targets (n, n_classes), classes their names

    def __post_init__(self):
        if self.classes is None:
            object.__setattr__(self, "classes", list(range(self.n_classes)))
        for what in ("classes", "class_names"):
            given = getattr(self, what)
            if given is not None and len(given) != self.n_classes:
                raise ArgumentError(f"Dataset {self.name}: {len(given)} {what} given for n_classes={self.n_classes}")

    @property
    def n_inputs(self) -> int:
        """The number of features (pixels) of one sample."""
        return self.train[0].shape[1]


def float_dtype(dtype) -> np.dtype:
    """``dtype`` as a NumPy floating dtype; ArgumentTypeError if it is not one."""
    problem = f"dtype must be a floating NumPy dtype such as 'float64' or 'float32', got {dtype!r}"
    try:
        result = np.dtype(dtype)
    except TypeError as error:
        raise ArgumentTypeError(problem) from error
    if result.kind != "f":
        raise ArgumentTypeError(problem)
    return result


def describe(value) -> str:
    if isinstance(value, np.ndarray):
        return f"{value.dtype} array of shape {value.shape}"
    return type(value).__name__


def integer_labels(values: np.ndarray, what: str, locate=lambda i: f"row {i + 1}") -> np.ndarray:
    """Labels as int64: integers, booleans and integral floats (3.0 is the
    class 3) are accepted; a non-integral or non-finite number, or anything
    else, raises DataError naming ``what`` (e.g. "data.npz: y") and the first
    bad entry (``locate(i)`` says where entry ``i`` is, e.g. its line)."""
    values = np.asarray(values)
    if values.dtype.kind == "f":
        bad = ~np.isfinite(values) | (values != np.round(values)) | (np.abs(values) > 2**53)
        if bad.any():
            i = int(np.argmax(bad))
            raise DataError(
                f"{what} must be integers (3 or 3.0) or class names: {values[i].item()!r} ({locate(i)}) is not; "
                "anynet classifies, it does not fit numbers"
            )
    elif values.dtype.kind not in "biu":
        raise DataError(f"{what} must be integers, not {values.dtype}")
    return values.astype(np.int64, copy=False)


def encode_labels(values: np.ndarray, what: str, locate=lambda i: f"row {i + 1}") -> tuple[np.ndarray, list]:
    """Encode labels of any type as ``0..k-1`` in the order of their sorted values.

    ``values`` is a 1-d array of integers, integral floats or strings (see
    :func:`integer_labels` for numbers).  Returns ``(codes, classes)``: int64
    codes and the list of the k original values (Python ints or strs), so
    that ``classes[codes[i]] == values[i]``.
    """
    values = np.asarray(values)
    if values.dtype.kind != "U":
        values = integer_labels(values, what, locate)
    classes, codes = np.unique(values, return_inverse=True)
    return codes.reshape(-1).astype(np.int64), [value.item() for value in classes]


def check_labels(y: np.ndarray, n_classes: int, what: str) -> np.ndarray:
    """Labels in ``0..n_classes-1`` as int64 (see :func:`integer_labels`);
    DataError naming ``what`` (e.g. "mnist.pkl.gz: test labels") otherwise."""
    y = integer_labels(y, what)
    if len(y) and (y.min() < 0 or y.max() >= n_classes):
        raise DataError(f"{what} must be 0..{n_classes - 1}, found {y.min()}..{y.max()}")
    return y


def check_fraction(fraction) -> float:
    """``fraction`` if it is a number in [0, 1) (0: no validation split); ArgumentError otherwise."""
    if isinstance(fraction, bool) or not isinstance(fraction, numbers.Real) or not 0 <= fraction < 1:
        raise ArgumentError(f"validation_split must be a fraction between 0 and 1 (0 included: no validation split; "
                            f"1 excluded), got {fraction!r}")
    return float(fraction)


def split_validation(dataset: Dataset, fraction) -> Dataset:
    """``dataset`` with the last ``fraction`` of its training rows as validation.

    The training rows are the training file's rows in file order (for MNIST-like
    data the book's training and validation splits together, which restores
    the file), so the split is deterministic: no shuffle.  ``fraction`` must be
    in [0, 1) and leave at least one row on each side; 0 means no validation
    split: every training row trains (a configuration chosen on validation,
    refit on all the data).  ``source`` says how many rows went to validation.
    """
    fraction = check_fraction(fraction)
    X, y = dataset.train
    if dataset.validation is not None:
        X, y = np.concatenate([X, dataset.validation[0]]), np.concatenate([y, dataset.validation[1]])
    n = len(y)
    if fraction == 0:
        source = f"{dataset.source}; no validation split: all {n:,} training rows train (validation_split=0)"
        return dataclasses.replace(dataset, source=source, train=(X, y), validation=None)
    n_validation = round(n * fraction)
    if not 0 < n_validation < n:
        raise DataError(
            f"{dataset.name}: validation_split={fraction:g} of {n:,} training rows leaves "
            f"{n - n_validation:,} for training and {n_validation:,} for validation; both need at least one"
        )
    cut = n - n_validation
    source = (
        f"{dataset.source}; validation: the last {n_validation:,} of {n:,} training rows "
        f"(validation_split={fraction:g})"
    )
    return dataclasses.replace(dataset, source=source, train=(X[:cut], y[:cut]), validation=(X[cut:], y[cut:]))


def relabel(dataset: Dataset, classes, what: str) -> Dataset:
    """``dataset`` with its labels coded by ``classes`` (the original labels
    a network was trained on, in its output order) instead of by its own:
    a file with a subset of the classes, or with them in another order, is
    scored against the right outputs.  Labels are matched by their text (3
    and "3" are one label).  A label that is not in ``classes`` is a
    DataError naming it and ``what`` (the file)."""
    own = dataset.classes if dataset.classes is not None else list(range(dataset.n_classes))
    lookup = {str(value): index for index, value in enumerate(classes)}
    codes = np.array([lookup.get(str(value), -1) for value in own], dtype=np.int64)

    def mapped(split):
        if split is None:
            return None
        X, y = split
        new = codes[y]
        if len(new) and new.min() < 0:
            unknown = own[int(y[int(np.argmin(new))])]
            shown = ", ".join(map(str, classes[:20])) + (", ..." if len(classes) > 20 else "")
            raise DataError(f"{what}: label {unknown!r} is not one of the {len(classes)} classes the network was "
                            f"trained on ({shown})")
        return X, new

    return dataclasses.replace(dataset, train=mapped(dataset.train), validation=mapped(dataset.validation),
                               test=mapped(dataset.test), n_classes=len(classes), classes=list(classes), class_names=None)


def to_tuples(X, y, *, one_hot: bool, n_classes: int = N_CLASSES) -> list:
    """Convert arrays to the book's format: a list of ``(x, y)`` tuples.

    ``X`` is a float array (n, d) and ``y`` integer labels (n,).  Each ``x`` is a
    (d, 1) column (a view of ``X``).  With ``one_hot=True`` each ``y`` is a
    (n_classes, 1) one-hot column of X's dtype (the book's training data);
    otherwise it is the int label (its validation and test data).
    """
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim != 2 or X.dtype.kind != "f":
        raise ArgumentTypeError(f"X must be a 2-D float array, got {describe(X)}")
    if y.shape != (len(X),) or y.dtype.kind not in "iu":
        raise ArgumentTypeError(f"y must be an integer array of shape ({len(X)},), got {describe(y)}")
    if len(y) and (y.min() < 0 or y.max() >= n_classes):
        raise DataError(f"labels must be 0..{n_classes - 1}, found {y.min()}..{y.max()}")
    columns = X[:, :, None]
    if not one_hot:
        return [(columns[i], int(label)) for i, label in enumerate(y)]
    targets = np.zeros((len(y), n_classes, 1), dtype=X.dtype)  # one array per sample, like the book
    targets[np.arange(len(y)), y, 0] = 1
    return list(zip(columns, targets, strict=True))
