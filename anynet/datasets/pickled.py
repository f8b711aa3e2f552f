"""Nielsen's ``mnist.pkl.gz``, read without trusting it.

The file is a pickle of ``((train_X, train_y), (val_X, val_y), (test_X,
test_y))`` NumPy arrays.  Pickle can run code and allocate whatever a file
asks for, so the unpickler here admits only the few globals that NumPy writes
for plain arrays, and checks the arguments of each before anything is
allocated: an array is built empty, and its state (shape, dtype, raw bytes)
must describe exactly the bytes the file really holds, of a plain numeric
dtype.  The decompressed stream is bounded too (:data:`MAX_PICKLE_BYTES`), and
read in chunks so that a length field cannot make Python reserve memory the
file does not back.
"""

from __future__ import annotations

import math
import pickle
from pathlib import Path

import numpy as np

from ..errors import DataError
from .core import N_CLASSES, Dataset, check_labels, describe, float_dtype
from .opening import CHUNK, open_data

# The book's file inflates to 220 MB (float32); a float64 copy to 440 MB.
MAX_PICKLE_BYTES = 1 << 30
# The book's file needs a few hundred reads (one per opcode); a pickle that
# needs far more is building many small objects, which a MNIST pickle never does.
MAX_PICKLE_READS = 100_000
_DTYPES = frozenset("f2 f4 f8 i1 i2 i4 i8 u1 u2 u4 u8".split())


class _Refused(DataError):
    """A pickle asks for something a MNIST pickle never contains."""


def _latin1_encode(text, encoding):
    """Stand-in for ``_codecs.encode``: Python 3 protocol-2 pickles store bytes as
    ``_codecs.encode(str, "latin1")``; allow exactly that and nothing else."""
    if not isinstance(text, str) or encoding != "latin1":
        raise _Refused(f"a MNIST pickle only encodes text as latin1, not {type(text).__name__} as {encoding!r}")
    return text.encode("latin1")


# numpy's array reconstructor; asking an array for it avoids importing the
# deprecated numpy.core alias under which NumPy 1.x wrote it.
_RECONSTRUCT = np.empty(0).__reduce__()[0]


class _NdarrayType:
    """What the pickle gets for ``numpy.ndarray``: a name to pass to
    ``_reconstruct``, not the class itself, so that calling it cannot allocate."""


_NDARRAY = _NdarrayType()


class _CheckedArray(np.ndarray):
    """An empty array whose state (set by the pickle's BUILD) is checked first."""

    def __setstate__(self, state):
        if not (isinstance(state, tuple) and len(state) == 5):
            raise _Refused(f"an array's state must be (version, shape, dtype, fortran, bytes), got {describe(state)}")
        _, shape, dtype, _, raw = state
        if not (isinstance(shape, tuple) and len(shape) <= 2 and all(type(n) is int and n >= 0 for n in shape)):
            raise _Refused(f"an array's shape must be at most 2 non-negative ints, got {shape!r}"[:200])
        if not (isinstance(dtype, np.dtype) and dtype.fields is None and dtype.subdtype is None):
            raise _Refused(f"an array's dtype must be a plain number type, got {dtype!r}")
        if dtype.str[1:] not in _DTYPES:
            raise _Refused(f"an array's dtype must be a plain number type, got {dtype.str}")
        if not isinstance(raw, (bytes, str)):
            raise _Refused(f"an array's data must be bytes, got {type(raw).__name__}")
        declared = math.prod(shape) * dtype.itemsize
        if declared != len(raw):
            raise _Refused(
                f"an array declares shape {shape} {dtype.name} ({declared:,} bytes) but holds {len(raw):,} bytes"
            )
        super().__setstate__(state)


def _reconstruct(subtype, shape, dtype_code):
    """``numpy.core.multiarray._reconstruct`` as NumPy pickles use it: an empty
    array, filled in by BUILD.  Anything else would allocate from the pickle's say-so."""
    if subtype is not _NDARRAY or shape != (0,) or dtype_code not in (b"b", "b"):
        raise _Refused(f"_reconstruct is only ever called as (ndarray, (0,), b'b'), not with {shape!r:.100}")
    return _RECONSTRUCT(_CheckedArray, (0,), b"b")


def _dtype(spec, align=False, copy=False):
    """``numpy.dtype`` for the plain number types a MNIST pickle holds."""
    if not (isinstance(spec, str) and spec in _DTYPES):
        raise _Refused(f"a MNIST pickle holds only plain number dtypes, not {spec!r:.100}")
    return np.dtype(spec, align=bool(align), copy=bool(copy))


# Every global a pickle of ((X, y), (X, y), (X, y)) NumPy arrays references.
_PICKLE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,  # written by NumPy 1.x (the book's file)
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,  # written by NumPy 2.x
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _dtype,
    ("_codecs", "encode"): _latin1_encode,  # array bytes, when written by Python 3 with protocol 2
}


class _BoundedReader:
    """The file as the unpickler sees it: at most MAX_PICKLE_BYTES in at most
    MAX_PICKLE_READS reads, each read in chunks (never one allocation sized
    by a length field of the file)."""

    def __init__(self, stream, path: Path):
        self._stream, self._path = stream, path
        self._left, self._reads = MAX_PICKLE_BYTES, MAX_PICKLE_READS

    def _spend(self, n: int) -> None:
        self._reads -= 1
        if self._reads < 0:
            raise _Refused(f"it needs more than {MAX_PICKLE_READS:,} reads; a MNIST pickle holds six arrays")
        if n > self._left:
            done = MAX_PICKLE_BYTES - self._left
            raise _Refused(
                f"after {done:,} bytes it asks to read {n:,} more, {done + n:,} in all, beyond the "
                f"{MAX_PICKLE_BYTES:,} a MNIST pickle may hold once decompressed"
            )
        self._left -= n

    def read(self, n: int) -> bytes:  # the unpickler always asks for a length
        self._spend(n)
        parts = []
        while n > 0 and (part := self._stream.read(min(n, CHUNK))):
            parts.append(part)
            n -= len(part)
        return b"".join(parts)

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readline(self) -> bytes:
        line = self._stream.readline(min(self._left, 1 << 16))
        self._spend(len(line))
        return line


class _MnistUnpickler(pickle.Unpickler):
    """An unpickler that can build plain NumPy arrays and nothing else."""

    def __init__(self, file, path: Path):
        # latin1 is how the book reads its Python 2 pickle: array bytes were str there.
        super().__init__(file, encoding="latin1")
        self._path = path

    def find_class(self, module, name):
        try:
            return _PICKLE_GLOBALS[(module, name)]
        except KeyError:
            raise _Refused(f"it references {module}.{name}, which a MNIST pickle never contains") from None


def load_mnist_pickle(path, *, dtype="float64") -> Dataset:
    """Load Nielsen's ``mnist.pkl.gz`` (gzipped or not) without executing code from it.

    The file is a pickle of ``((train_X, train_y), (val_X, val_y), (test_X,
    test_y))`` NumPy arrays.  It is read with an unpickler that refuses every
    global except the few NumPy array reconstructors, and every array whose
    declared shape and dtype do not match the bytes the file holds, so a
    malicious file raises DataError naming it instead of running anything or
    allocating what it asks for.  Returns a :class:`Dataset` named "mnist"
    with X converted to ``dtype``.
    """
    path = Path(path)
    dtype = float_dtype(dtype)
    try:
        with open_data(path, "a MNIST pickle") as stream:
            data = _MnistUnpickler(_BoundedReader(stream, path), path).load()
    except _Refused as error:
        raise DataError(f"refusing to load {path}: {error}") from None
    except DataError:
        raise
    except Exception as error:  # any failure to decode untrusted bytes means: not a valid file
        raise DataError(f"{path} is not a readable MNIST pickle: {type(error).__name__}: {error}") from error
    train, validation, test = _check_splits(data, path, dtype)
    return Dataset(
        name="mnist",
        source=f"{path} (Nielsen's mnist.pkl.gz)",
        train=train,
        validation=validation,
        test=test,
        n_classes=N_CLASSES,
    )


def _check_splits(data, path: Path, dtype: np.dtype):
    """Validate the unpickled structure and convert it to ((X, y), (X, y), (X, y))."""
    if not (isinstance(data, (tuple, list)) and len(data) == 3):
        raise DataError(
            f"{path}: expected 3 (images, labels) pairs (train, validation, test), got {type(data).__name__}"
        )
    splits = ("train", "validation", "test")
    return tuple(_check_pair(pair, path, split, dtype) for pair, split in zip(data, splits, strict=True))


def _check_pair(pair, path: Path, split: str, dtype: np.dtype):
    if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
        raise DataError(f"{path}: the {split} split is not an (images, labels) pair")
    X, y = (np.asarray(a) if isinstance(a, np.ndarray) else a for a in pair)  # plain arrays, not _CheckedArray
    if not (isinstance(X, np.ndarray) and X.dtype.kind == "f" and X.ndim == 2 and X.shape[1] == 784 and len(X)):
        raise DataError(f"{path}: {split} images must be a float array of shape (n, 784), got {describe(X)}")
    if not (isinstance(y, np.ndarray) and y.shape == (len(X),)):
        raise DataError(f"{path}: {split} labels must be an integer array of shape ({len(X)},), got {describe(y)}")
    if not (np.isfinite(X).all() and X.min() >= 0 and X.max() <= 1):
        raise DataError(f"{path}: {split} images must be finite values in [0, 1]")
    return X.astype(dtype), check_labels(y, N_CLASSES, f"{path}: {split} labels")
