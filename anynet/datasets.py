"""Datasets: MNIST, Fashion-MNIST, KMNIST, Nielsen's mnist.pkl.gz and a bundled sample.

This is host code: it reads files into NumPy arrays, and the backend moves them
to the device afterwards.  :func:`load_dataset` is the entry point; it looks for
the data in this order and uses the first place that has it:

1. an explicit path (a directory holding the four IDX files, raw or ``.gz``, or
   Nielsen's ``mnist.pkl.gz``);
2. ``$ANYNET_DATA/<name>/``, then ``$ANYNET_DATA/`` itself;
3. the cache, ``$XDG_CACHE_HOME/anynet/<name>/`` (default ``~/.cache/anynet``);
4. system locations (Fashion-MNIST from the Debian/Ubuntu package
   ``dataset-fashion-mnist``);
5. a download from the dataset's mirrors, SHA-256 verified, into the cache.

``load_dataset("sample")`` needs none of these: a small real subset of
Fashion-MNIST ships inside the package (see ``anynet/data/SAMPLE.md``).
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import http.client
import os
import pickle
import struct
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .errors import DataNotFoundError

__all__ = [
    "AnynetDataWarning",
    "CHECKSUMS",
    "DataNotFoundError",
    "Dataset",
    "MIRRORS",
    "SYSTEM_DIRS",
    "fetch",
    "load_dataset",
    "load_mnist_pickle",
    "read_idx",
    "to_tuples",
]

N_CLASSES = 10

# The four files of an MNIST-format dataset, by role.
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

# Base URLs tried in order; each serves the four files as <base><file>.gz.
MIRRORS = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
    "fashion-mnist": (
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ),
    "kmnist": ("http://codh.rois.ac.jp/kmnist/dataset/kmnist/",),
}

# (size in bytes, SHA-256) of each .gz file exactly as the mirrors serve it.
# These are the published digests (tensorflow/datasets url_checksums/*.txt and
# other independent projects agree).  The Debian package's Fashion-MNIST files
# are recompressed copies (no file name in the gzip header), so their bytes
# differ from these; they are read from disk and never checked against this.
CHECKSUMS = {
    "mnist": {
        "train-images-idx3-ubyte.gz": (9912422, "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
        "train-labels-idx1-ubyte.gz": (28881, "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
        "t10k-images-idx3-ubyte.gz": (1648877, "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
        "t10k-labels-idx1-ubyte.gz": (4542, "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": (26421880, "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"),
        "train-labels-idx1-ubyte.gz": (29515, "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"),
        "t10k-images-idx3-ubyte.gz": (4422102, "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"),
        "t10k-labels-idx1-ubyte.gz": (5148, "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"),
    },
    "kmnist": {
        "train-images-idx3-ubyte.gz": (18165135, "51467d22d8cc72929e2a028a0428f2086b092bb31cfb79c69cc0a90ce135fde4"),
        "train-labels-idx1-ubyte.gz": (29497, "e38f9ebcd0f3ebcdec7fc8eabdcdaef93bb0df8ea12bee65224341c8183d8e17"),
        "t10k-images-idx3-ubyte.gz": (3041136, "edd7a857845ad6bb1d0ba43fe7e794d164fe2dce499a1694695a792adfac43c5"),
        "t10k-labels-idx1-ubyte.gz": (5120, "20bb9a0ef54c7db3efc55a92eef5582c109615df22683c380526788f98e42a1c"),
    },
}

# Directories where an operating-system package installs a dataset.
SYSTEM_DIRS = {
    "fashion-mnist": (Path("/usr/share/datasets/fashion-mnist"), "Debian package dataset-fashion-mnist"),
}

SAMPLE_DIR = Path(__file__).with_name("data")
SAMPLE_FILES = {role: SAMPLE_DIR / f"sample-{stem}.gz" for role, stem in IDX_FILES.items()}

PICKLE_NAME = "mnist.pkl.gz"
TIMEOUT_S = 30  # per network operation (connect, each read), not per file
_CHUNK = 1 << 16

_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


@dataclass(frozen=True, eq=False)  # eq=False: comparing arrays with == is ambiguous
class Dataset:
    """A labelled image dataset split the way the book splits MNIST.

    ``train``, ``validation`` and ``test`` are ``(X, y)`` pairs: ``X`` is a float
    array of shape ``(n, 784)`` with values in ``[0, 1]``, ``y`` an int64 array of
    shape ``(n,)`` with labels ``0..n_classes-1``.  ``validation`` is None for
    the bundled sample.  ``source`` is one human-readable line saying where the
    data came from.
    """

    name: str
    source: str
    train: tuple[np.ndarray, np.ndarray]
    validation: tuple[np.ndarray, np.ndarray] | None
    test: tuple[np.ndarray, np.ndarray]
    n_classes: int


class AnynetDataWarning(UserWarning):
    """Something about the data deserves the user's attention, e.g. the sample stands in."""


class _ForbiddenGlobal(ValueError):
    """A pickle names a callable that a MNIST pickle never contains."""


class _VerificationError(ValueError):
    """A downloaded file does not have the expected size or SHA-256."""


# --------------------------------------------------------------------------- IDX


def read_idx(path) -> np.ndarray:
    """Read an IDX file (raw or gzipped) and return its array in native byte order.

    Accepts every IDX element type (uint8, int8, int16, int32, float32, float64)
    and any number of dimensions.  Raises ValueError naming the file when the
    magic number is wrong or the size does not match the header (truncated or
    corrupt file).
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES or data[3] == 0:
        raise ValueError(f"{path} is not an IDX file (magic number {data[:4].hex() or 'missing'})")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{path} is truncated: its header needs {header} bytes, the file has {len(data)}")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    dtype = _IDX_DTYPES[data[2]]
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        raise ValueError(
            f"{path} is truncated or corrupt: its header describes {shape} {dtype.name} "
            f"({expected:,} bytes), the file has {len(data):,} bytes"
        )
    return np.frombuffer(data, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _open(path: Path):
    """Open a file for reading bytes, decompressing it on the fly if it is gzip."""
    with open(path, "rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"  # the gzip magic, whatever the file is called
    return gzip.open(path, "rb") if gzipped else open(path, "rb")


def _read_bytes(path: Path) -> bytes:
    try:
        with _open(path) as f:
            return f.read()
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise ValueError(f"{path} is a truncated or corrupt gzip file: {error}") from error


def _images_and_labels(images_path: Path, labels_path: Path, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """Read a pair of IDX files into X (n, rows*cols) scaled to [0, 1] and y int64."""
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.dtype != np.uint8 or images.ndim != 3 or len(images) == 0:
        raise ValueError(
            f"{images_path}: expected uint8 images of shape (n, rows, cols), got {images.dtype} {images.shape}"
        )
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise ValueError(f"{labels_path}: expected uint8 labels of shape (n,), got {labels.dtype} {labels.shape}")
    if len(images) != len(labels):
        raise ValueError(f"{images_path} holds {len(images):,} images but {labels_path} holds {len(labels):,} labels")
    if labels.max() >= N_CLASSES:
        raise ValueError(f"{labels_path}: labels must be 0..{N_CLASSES - 1}, found {labels.max()}")
    X = images.reshape(len(images), -1).astype(dtype)
    X /= 255  # in place: the full training set is 188 MB as float32, 376 MB as float64
    return X, labels.astype(np.int64)


def _book_split(X: np.ndarray, y: np.ndarray):
    """Split a training file like the book: the last sixth (10,000 of 60,000) is validation."""
    n_train = len(y) - len(y) // 6
    return (X[:n_train], y[:n_train]), (X[n_train:], y[n_train:])


def _find_idx_files(directory: Path) -> dict[str, Path] | None:
    """The four IDX files in ``directory`` (raw preferred over .gz), or None if any is missing."""
    found = {}
    for role, stem in IDX_FILES.items():
        candidates = [directory / stem, directory / f"{stem}.gz"]
        existing = [p for p in candidates if p.is_file()]
        if not existing:
            return None
        found[role] = existing[0]
    return found


def _load_idx_files(files: dict[str, Path], *, name: str, source: str, dtype: np.dtype) -> Dataset:
    full = _images_and_labels(files["train_images"], files["train_labels"], dtype)
    train, validation = _book_split(*full)
    test = _images_and_labels(files["test_images"], files["test_labels"], dtype)
    return Dataset(name=name, source=source, train=train, validation=validation, test=test, n_classes=N_CLASSES)


# ------------------------------------------------------------------ mnist.pkl.gz


def _latin1_encode(text, encoding):
    """Stand-in for ``_codecs.encode``: Python 3 protocol-2 pickles store bytes as
    ``_codecs.encode(str, "latin1")``; allow exactly that and nothing else."""
    if not isinstance(text, str) or encoding != "latin1":
        raise ValueError(f"a MNIST pickle only encodes text as latin1, not {type(text).__name__} as {encoding!r}")
    return text.encode("latin1")


# numpy's array reconstructor; asking an array for it avoids importing the
# deprecated numpy.core alias under which NumPy 1.x wrote it.
_RECONSTRUCT = np.empty(0).__reduce__()[0]

# Every global a pickle of ((X, y), (X, y), (X, y)) NumPy arrays references.
_PICKLE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,  # written by NumPy 1.x (the book's file)
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,  # written by NumPy 2.x
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_encode,  # array bytes, when written by Python 3 with protocol 2
}


class _MnistUnpickler(pickle.Unpickler):
    """An unpickler that can build NumPy arrays and nothing else."""

    def __init__(self, file, path: Path):
        # latin1 is how the book reads its Python 2 pickle: array bytes were str there.
        super().__init__(file, encoding="latin1")
        self._path = path

    def find_class(self, module, name):
        try:
            return _PICKLE_GLOBALS[(module, name)]
        except KeyError:
            raise _ForbiddenGlobal(
                f"refusing to load {self._path}: it references {module}.{name}, which a MNIST pickle never contains"
            ) from None


def load_mnist_pickle(path, *, dtype="float64") -> Dataset:
    """Load Nielsen's ``mnist.pkl.gz`` (gzipped or not) without executing code from it.

    The file is a pickle of ``((train_X, train_y), (val_X, val_y), (test_X,
    test_y))`` NumPy arrays.  It is read with an unpickler that refuses every
    global except the few NumPy array reconstructors, so a malicious file raises
    ValueError instead of running anything.  Returns a :class:`Dataset` named
    "mnist" with X converted to ``dtype``.
    """
    path = Path(path)
    dtype = _float_dtype(dtype)
    try:
        with _open(path) as f:
            data = _MnistUnpickler(f, path).load()
    except _ForbiddenGlobal:
        raise
    except Exception as error:  # any failure to decode untrusted bytes means: not a valid file
        raise ValueError(f"{path} is not a readable MNIST pickle: {error}") from error
    train, validation, test = _check_pickle_splits(data, path, dtype)
    return Dataset(
        name="mnist",
        source=f"{path} (Nielsen's mnist.pkl.gz)",
        train=train,
        validation=validation,
        test=test,
        n_classes=N_CLASSES,
    )


def _check_pickle_splits(data, path: Path, dtype: np.dtype):
    """Validate the unpickled structure and convert it to ((X, y), (X, y), (X, y))."""
    if not (isinstance(data, (tuple, list)) and len(data) == 3):
        raise ValueError(
            f"{path}: expected 3 (images, labels) pairs (train, validation, test), got {type(data).__name__}"
        )
    splits = ("train", "validation", "test")
    return tuple(_check_pickle_pair(pair, path, split, dtype) for pair, split in zip(data, splits, strict=True))


def _check_pickle_pair(pair, path: Path, split: str, dtype: np.dtype):
    if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
        raise ValueError(f"{path}: the {split} split is not an (images, labels) pair")
    X, y = pair
    if not (isinstance(X, np.ndarray) and X.dtype.kind == "f" and X.ndim == 2 and X.shape[1] == 784 and len(X)):
        raise ValueError(f"{path}: {split} images must be a float array of shape (n, 784), got {_describe(X)}")
    if not (isinstance(y, np.ndarray) and y.dtype.kind in "iu" and y.shape == (len(X),)):
        raise ValueError(f"{path}: {split} labels must be an integer array of shape ({len(X)},), got {_describe(y)}")
    if not (np.isfinite(X).all() and X.min() >= 0 and X.max() <= 1):
        raise ValueError(f"{path}: {split} images must be finite values in [0, 1]")
    if y.min() < 0 or y.max() >= N_CLASSES:
        raise ValueError(f"{path}: {split} labels must be 0..{N_CLASSES - 1}, found {y.min()}..{y.max()}")
    return X.astype(dtype), y.astype(np.int64)


def _describe(value) -> str:
    if isinstance(value, np.ndarray):
        return f"{value.dtype} array of shape {value.shape}"
    return type(value).__name__


# -------------------------------------------------------------------- the book


def to_tuples(X, y, *, one_hot: bool, n_classes: int = N_CLASSES) -> list:
    """Convert arrays to the book's format: a list of ``(x, y)`` tuples.

    ``X`` is a float array (n, d) and ``y`` integer labels (n,).  Each ``x`` is a
    (d, 1) column (a view of ``X``).  With ``one_hot=True`` each ``y`` is a
    (n_classes, 1) one-hot column of X's dtype (the book's training data);
    otherwise it is the int label (its validation and test data).
    """
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim != 2 or X.dtype.kind != "f":
        raise TypeError(f"X must be a 2-D float array, got {_describe(X)}")
    if y.shape != (len(X),) or y.dtype.kind not in "iu":
        raise TypeError(f"y must be an integer array of shape ({len(X)},), got {_describe(y)}")
    if len(y) and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"labels must be 0..{n_classes - 1}, found {y.min()}..{y.max()}")
    columns = X[:, :, None]
    if not one_hot:
        return [(columns[i], int(label)) for i, label in enumerate(y)]
    targets = np.zeros((len(y), n_classes, 1), dtype=X.dtype)  # one array per sample, like the book
    targets[np.arange(len(y)), y, 0] = 1
    return list(zip(columns, targets, strict=True))


# -------------------------------------------------------------------- downloads


def fetch(name, *, data_dir=None, mirrors=None, progress=True) -> Path:
    """Download the four .gz files of dataset ``name`` into its cache directory.

    ``name`` is "mnist", "fashion-mnist" or "kmnist".  The directory is
    ``<data_dir>/<name>`` if ``data_dir`` is given, else ``<cache>/<name>`` (see
    :func:`load_dataset`).  Files already there are kept.  Each missing file is
    tried on each mirror in turn (``mirrors``, else ``$ANYNET_MIRRORS``, a
    comma-separated list of base URLs, else :data:`MIRRORS`), downloaded to a
    temporary file beside it, checked against :data:`CHECKSUMS` and renamed
    into place.  Returns the directory; raises :class:`DataNotFoundError` when a
    file cannot be had from any mirror.
    """
    if name not in MIRRORS:
        raise ValueError(f"cannot download {name!r}: known datasets are {', '.join(MIRRORS)}")
    urls = _mirror_list(name, mirrors)
    directory = _cache_root(data_dir) / name
    problems = _download_missing(name, directory, urls, progress)
    if problems:
        raise DataNotFoundError(_not_found_message(name, data_dir, urls, looked_in=[], problems=problems))
    return directory


def _mirror_list(name: str, mirrors) -> tuple[str, ...]:
    if mirrors is None:
        mirrors = os.environ.get("ANYNET_MIRRORS") or MIRRORS[name]
    if isinstance(mirrors, str):
        mirrors = mirrors.split(",")
    urls = tuple(m.strip() for m in mirrors if m.strip())
    for url in urls:
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise ValueError(f"mirror {url!r} is not an http(s) URL")
    if not urls:
        raise ValueError("no mirrors given")
    return urls


def _cache_root(data_dir) -> Path:
    if data_dir is not None:
        return Path(data_dir)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "anynet"


def _download_missing(name: str, directory: Path, urls, progress: bool) -> list[str]:
    """Download each file not yet in ``directory``; return what went wrong (empty: all there)."""
    directory.mkdir(parents=True, exist_ok=True)
    problems = []
    for stem in IDX_FILES.values():
        if (directory / stem).is_file() or (directory / f"{stem}.gz").is_file():
            continue
        filename = f"{stem}.gz"
        problems += _download_file(filename, directory / filename, urls, CHECKSUMS[name][filename], progress)
    return problems


def _download_file(filename: str, target: Path, urls, expected, progress: bool) -> list[str]:
    """Try each mirror until one delivers a verified file; return the failures if none does."""
    failures = []
    for base in urls:
        url = urllib.parse.urljoin(base if base.endswith("/") else base + "/", filename)
        try:
            _download_verified(url, target, expected, progress)
            return []
        except http.client.HTTPException as error:  # the server did not speak HTTP properly
            failures.append(f"{url}: broken HTTP response ({type(error).__name__}: {error})")
        except (OSError, _VerificationError) as error:
            failures.append(f"{url}: {error}")
    return failures


def _download_verified(url: str, target: Path, expected: tuple[int, str], progress: bool) -> None:
    """Download ``url`` to ``target`` atomically: nothing lands there unless it verifies."""
    size, sha256 = expected
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            digest, received = _stream(url, out, size, progress, target.name)
        if received != size:
            raise _VerificationError(f"got {received:,} bytes, expected {size:,}")
        if digest != sha256:
            raise _VerificationError(f"SHA-256 mismatch: got {digest}, expected {sha256}")
        os.replace(tmp, target)
    except BaseException:  # also on Ctrl-C: never leave a partial file behind
        Path(tmp).unlink(missing_ok=True)
        raise


def _stream(url: str, out, size: int, progress: bool, label: str) -> tuple[str, int]:
    """Copy ``url`` into ``out``; return (SHA-256 hex digest, bytes received)."""
    request = urllib.request.Request(url, headers={"User-Agent": "anynet"})
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as error:
        error.close()  # it holds the open connection
        raise
    digest, received = hashlib.sha256(), 0
    with (
        response,
        tqdm(total=size, unit="B", unit_scale=True, unit_divisor=1024, desc=label, disable=not progress) as bar,
    ):
        while chunk := response.read(_CHUNK):
            received += len(chunk)
            if received > size:  # stop a server that sends more than the file can be
                raise _VerificationError(f"more than the expected {size:,} bytes")
            digest.update(chunk)
            out.write(chunk)
            bar.update(len(chunk))
    return digest.hexdigest(), received


# ------------------------------------------------------------------ load_dataset


def load_dataset(
    name_or_path: str | os.PathLike = "mnist",
    *,
    data_dir=None,
    download: bool = True,
    dtype="float64",
    progress: bool = True,
    fallback_to_sample: bool = False,
) -> Dataset:
    """Load a dataset by name ("mnist", "fashion-mnist", "kmnist", "sample") or path.

    A path is a directory holding the four IDX files (raw or .gz) or Nielsen's
    ``mnist.pkl.gz``, or that pickle file itself; it is used as is.  A name is
    looked up in ``$ANYNET_DATA``, the cache (``data_dir`` if given, else
    ``$XDG_CACHE_HOME/anynet`` or ``~/.cache/anynet``), system locations, and
    then, if ``download``, downloaded from the mirrors into the cache (with a
    progress bar if ``progress``).

    The 60,000-image training file is split like the book: the first 50,000 for
    training, the last 10,000 for validation.  X has ``dtype`` (float32 or
    float64) and values in [0, 1]; y is int64.

    If the data is nowhere and ``fallback_to_sample`` is True, returns the
    bundled sample instead, says so in ``Dataset.source`` and warns with
    :class:`AnynetDataWarning`; otherwise raises :class:`DataNotFoundError`,
    whose message lists every way to provide the data.
    """
    dtype = _float_dtype(dtype)
    name = os.fspath(name_or_path)
    if name == "sample":
        return _load_sample(dtype)
    if name not in MIRRORS:
        return _load_path(Path(name), dtype)

    looked_in = []
    for directory, how in _local_candidates(name, data_dir):
        looked_in.append(f"{directory} ({how})")
        dataset = _load_directory(directory, name=name, how=how, dtype=dtype, pickle_ok=name == "mnist")
        if dataset is not None:
            return dataset

    urls, problems = MIRRORS[name], None
    if download:
        urls = _mirror_list(name, None)
        directory = _cache_root(data_dir) / name
        problems = _download_missing(name, directory, urls, progress)
        if not problems:
            files = _find_idx_files(directory)
            return _load_idx_files(files, name=name, source=f"{directory} (downloaded, SHA-256 verified)", dtype=dtype)

    if fallback_to_sample:
        return _sample_instead(name, "download failed" if download else "download disabled", dtype)
    raise DataNotFoundError(_not_found_message(name, data_dir, urls, looked_in=looked_in, problems=problems))


def _float_dtype(dtype) -> np.dtype:
    problem = f"dtype must be a floating NumPy dtype such as 'float64' or 'float32', got {dtype!r}"
    try:
        result = np.dtype(dtype)
    except TypeError as error:
        raise TypeError(problem) from error
    if result.kind != "f":
        raise TypeError(problem)
    return result


def _local_candidates(name: str, data_dir):
    """Directories that may hold dataset ``name``, in priority order, with how we got there."""
    anynet_data = os.environ.get("ANYNET_DATA")
    if anynet_data:
        yield Path(anynet_data) / name, "$ANYNET_DATA"
        yield Path(anynet_data), "$ANYNET_DATA"
    yield _cache_root(data_dir) / name, "cache"
    if name in SYSTEM_DIRS:
        yield SYSTEM_DIRS[name]


def _load_directory(directory: Path, *, name: str, how: str, dtype: np.dtype, pickle_ok: bool) -> Dataset | None:
    """The dataset in ``directory`` (IDX files, or if ``pickle_ok`` the book's pickle), or None."""
    files = _find_idx_files(directory)
    if files is not None:
        return _load_idx_files(files, name=name, source=f"{directory} ({how})", dtype=dtype)
    pickle_path = directory / PICKLE_NAME
    if pickle_ok and pickle_path.is_file():
        return dataclasses.replace(
            load_mnist_pickle(pickle_path, dtype=dtype),
            name=name,
            source=f"{pickle_path} (Nielsen's mnist.pkl.gz, {how})",
        )
    return None


def _load_path(path: Path, dtype: np.dtype) -> Dataset:
    if path.is_file():
        return dataclasses.replace(load_mnist_pickle(path, dtype=dtype), name=str(path))
    if path.is_dir():
        dataset = _load_directory(path, name=str(path), how="given path", dtype=dtype, pickle_ok=True)
        if dataset is not None:
            return dataset
        expected = ", ".join(f"{stem}[.gz]" for stem in IDX_FILES.values())
        raise DataNotFoundError(f"{path} holds neither the four IDX files ({expected}) nor {PICKLE_NAME}")
    raise DataNotFoundError(
        f"{str(path)!r} is neither a dataset name ({', '.join([*MIRRORS, 'sample'])}) nor an existing path"
    )


def _load_sample(dtype: np.dtype) -> Dataset:
    missing = [str(p) for p in SAMPLE_FILES.values() if not p.is_file()]
    if missing:
        raise DataNotFoundError(f"the bundled sample is missing ({', '.join(missing)}); reinstall anynet")
    train = _images_and_labels(SAMPLE_FILES["train_images"], SAMPLE_FILES["train_labels"], dtype)
    test = _images_and_labels(SAMPLE_FILES["test_images"], SAMPLE_FILES["test_labels"], dtype)
    description = (
        f"{len(train[1]):,} train / {len(test[1]):,} test Fashion-MNIST images (MIT licence, Zalando Research)"
    )
    return Dataset(
        name="sample",
        source=f"bundled sample: {description}",
        train=train,
        validation=None,
        test=test,
        n_classes=N_CLASSES,
    )


def _sample_instead(name: str, reason: str, dtype: np.dtype) -> Dataset:
    sample = _load_sample(dtype)
    line = f"{name} not found ({reason}); using the {sample.source}"
    warnings.warn(line, AnynetDataWarning, stacklevel=3)
    return dataclasses.replace(sample, source=line)


def _not_found_message(name: str, data_dir, urls, *, looked_in: list[str], problems: list[str] | None) -> str:
    """Say what was tried and list every way to provide the data."""
    lines = [f"{name} not found."]
    if looked_in:
        lines += ["Looked in:", *(f"  {place}" for place in looked_in)]
    if problems is None:
        lines.append("Download skipped (download disabled).")
    else:
        lines += ["Download failed:", *(f"  {problem}" for problem in problems)]
    stems = ", ".join(IDX_FILES.values())
    pickle_hint = f", or Nielsen's {PICKLE_NAME}" if name == "mnist" else ""
    lines += [
        "Ways to provide it:",
        f"  - pass a path: a directory holding {stems} (raw or .gz){pickle_hint}",
        f"  - set ANYNET_DATA to a directory holding {name}/ (or those files directly)",
        f"  - put the files in the cache directory {_cache_root(data_dir) / name}",
        "  - for Fashion-MNIST: apt install dataset-fashion-mnist (Debian/Ubuntu), then use fashion-mnist",
        f"  - be online: the files are downloaded from {', '.join(urls)} (set ANYNET_MIRRORS to use other mirrors)",
        "  - or use the bundled sample: --data sample (load_dataset('sample'))",
    ]
    return "\n".join(lines)
