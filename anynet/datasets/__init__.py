"""Datasets: MNIST, Fashion-MNIST, KMNIST, Nielsen's mnist.pkl.gz, a bundled
sample, and your own data in CSV or .npz files.

This is host code: it reads files into NumPy arrays, and the backend moves them
to the device afterwards.  :func:`load_dataset` is the entry point; for a
dataset name it looks for the data in this order and uses the first place that
has it:

1. ``$ANYNET_DATA/<name>/``, then ``$ANYNET_DATA/`` itself;
2. the cache, ``$XDG_CACHE_HOME/anynet/<name>/`` (default ``~/.cache/anynet``),
   whose downloaded files are verified again (SHA-256) every time;
3. system locations (Fashion-MNIST from the Debian/Ubuntu package
   ``dataset-fashion-mnist``);
4. a download from the dataset's mirrors, SHA-256 verified, into the cache.

A path is used as it is: a directory holding the four IDX files (raw or
``.gz``) or Nielsen's ``mnist.pkl.gz``, that pickle itself, a ``.csv`` file
(:mod:`.tables`) or an ``.npz`` file (:mod:`.arrays`).
``load_dataset("sample")`` needs none of these: a small real subset of
Fashion-MNIST ships inside the package (see ``anynet/data/SAMPLE.md``).
:func:`load_inputs` reads the inputs of a prediction (.npy, .npz, .csv,
images).

Modules: core (the Dataset), opening (safe file access), idx, pickled,
download and cache, tables (CSV), arrays (.npy/.npz), images, inputs.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from ..errors import AnynetDataWarning, ArgumentError, DataError, DataNotFoundError
from .arrays import load_npz
from .augment import AUGMENTATIONS, augmented, mirrored, one_pixel_shifts, shifted
from .cache import (
    CHECKSUMS,
    MIRRORS,
    cache_problems,
    cache_root,
    ensure_downloaded,
    fetch,
    mirror_list,
    not_found_message,
)
from .core import CLASS_NAMES, Dataset, check_fraction, float_dtype, split_validation, to_tuples
from .download import download_timeout
from .idx import IDX_FILES, find_idx_files, load_idx_files, read_idx
from .inputs import image_paths, input_names, load_inputs
from .pickled import load_mnist_pickle
from .sample import load_sample, sample_instead
from .tables import load_csv

__all__ = [
    "AUGMENTATIONS",
    "CLASS_NAMES",
    "augmented",
    "mirrored",
    "one_pixel_shifts",
    "shifted",
    "AnynetDataWarning",
    "CHECKSUMS",
    "DataNotFoundError",
    "Dataset",
    "MIRRORS",
    "SYSTEM_DIRS",
    "fetch",
    "image_paths",
    "input_names",
    "load_dataset",
    "load_inputs",
    "load_mnist_pickle",
    "read_idx",
    "split_validation",
    "to_tuples",
]

# Directories where an operating-system package installs a dataset.
SYSTEM_DIRS = {
    "fashion-mnist": (Path("/usr/share/datasets/fashion-mnist"), "Debian package dataset-fashion-mnist"),
}

PICKLE_NAME = "mnist.pkl.gz"


def load_dataset(
    name_or_path: str | os.PathLike = "mnist",
    *,
    data_dir=None,
    download: bool = True,
    dtype="float64",
    progress: bool = True,
    fallback_to_sample: bool = False,
    timeout: float | None = None,
    validation_split: float | None = None,
    label_column: str | int | None = None,
    task: str = "classification",
) -> Dataset:
    """Load a dataset by name ("mnist", "fashion-mnist", "kmnist", "sample") or path.

    A path is used as it is: a directory holding the four IDX files (raw or
    .gz) or Nielsen's ``mnist.pkl.gz``; that pickle file itself; a ``.csv``
    file of a label column and feature columns (``label_column`` picks the
    label column by header name or index, ``task`` "classification",
    "regression" or "auto" what it holds; see :mod:`.tables`); an ``.npz``
    file of arrays ``X``/``y`` or ``x_train``/``y_train``/``x_test``/``y_test``
    (see :mod:`.arrays`).  A CSV file, or an .npz file without a test split,
    gives ``Dataset.test = None``.

    A name is looked up in ``$ANYNET_DATA``, the cache (``data_dir`` if
    given, else ``$XDG_CACHE_HOME/anynet`` or ``~/.cache/anynet``), system
    locations, and then, if ``download``, downloaded from the mirrors into the
    cache (with a progress bar if ``progress``; each file within ``timeout``
    seconds, else ``$ANYNET_DOWNLOAD_TIMEOUT``, else 300).

    The 60,000-image training file is split like the book: the first 50,000 for
    training, the last 10,000 for validation.  ``validation_split=F`` instead
    makes the last fraction F of the training rows the validation split (see
    :func:`split_validation`).  X has ``dtype`` (float32 or float64) and
    values in [0, 1]; y is int64.

    If the data is nowhere, raises :class:`DataNotFoundError`, whose message
    names the dataset and lists every way to provide it; never a silent
    substitute.  Only with ``fallback_to_sample=True`` (the command line's
    first run without arguments) does the bundled sample stand in, saying so
    in ``Dataset.source`` and with an :class:`AnynetDataWarning`.
    """
    # Arguments are checked before anything is read or downloaded.
    dtype = float_dtype(dtype)
    if timeout is not None:
        download_timeout(timeout)
    if validation_split is not None:
        check_fraction(validation_split)
    name = os.fspath(name_or_path)
    _check_csv_options(name, label_column, task)
    if name == "sample":
        dataset = load_sample(dtype)
    elif name in MIRRORS:
        dataset = _load_named(name, data_dir, download, dtype, progress, fallback_to_sample, timeout)
    else:
        dataset = _load_path(Path(name), dtype, label_column, task)
    if dataset.name in CLASS_NAMES and dataset.name == name:  # not the sample standing in for it
        dataset = dataclasses.replace(dataset, class_names=list(CLASS_NAMES[name]))
    return dataset if validation_split is None else split_validation(dataset, validation_split)


def _check_csv_options(name: str, label_column, task) -> None:
    """label_column and task="regression" choose a column of a CSV file: ArgumentError for other data."""
    if (label_column is not None or task == "regression") and Path(name).suffix.lower() != ".csv":
        what = "label_column applies to" if label_column is not None else "regression reads its targets from"
        raise ArgumentError(f"{what} CSV files, not to {name}")


def _load_named(name, data_dir, download, dtype, progress, fallback_to_sample, timeout) -> Dataset:
    looked_in, repaired = [], []
    for directory, how in _local_candidates(name, data_dir):
        if how == "cache" and (corrupt := cache_problems(name, directory)):
            looked_in.append(f"{directory} (cache): {'; '.join(corrupt)}")
            repaired += corrupt
            continue
        looked_in.append(f"{directory} ({how})")
        dataset = _load_directory(directory, name=name, how=how, dtype=dtype, pickle_ok=name == "mnist")
        if dataset is not None:
            return dataset

    urls, problems = MIRRORS[name], None
    if download:
        urls = mirror_list(name, None)
        directory = cache_root(data_dir) / name
        problems = ensure_downloaded(name, directory, urls, progress=progress, timeout=timeout)
        if not problems:
            again = "; downloaded again: the cached copy was corrupt" if repaired else ""
            source = f"{directory} (downloaded, SHA-256 verified{again})"
            return load_idx_files(find_idx_files(directory), name=name, source=source, dtype=dtype)

    if fallback_to_sample:
        return sample_instead(name, "download failed" if download else "download disabled", dtype)
    raise DataNotFoundError(not_found_message(name, data_dir, urls, looked_in=looked_in, problems=problems))


def _local_candidates(name: str, data_dir):
    """Directories that may hold dataset ``name``, in priority order, with how we got there."""
    anynet_data = os.environ.get("ANYNET_DATA")
    if anynet_data:
        yield Path(anynet_data) / name, "$ANYNET_DATA"
        yield Path(anynet_data), "$ANYNET_DATA"
    yield cache_root(data_dir) / name, "cache"
    if name in SYSTEM_DIRS:
        yield SYSTEM_DIRS[name]


def _load_directory(directory: Path, *, name: str, how: str, dtype, pickle_ok: bool) -> Dataset | None:
    """The dataset in ``directory`` (IDX files, or if ``pickle_ok`` the book's pickle), or None."""
    files = find_idx_files(directory)
    if files is not None:
        return load_idx_files(files, name=name, source=f"{directory} ({how})", dtype=dtype)
    pickle_path = directory / PICKLE_NAME
    if pickle_ok and pickle_path.is_file():
        return dataclasses.replace(
            load_mnist_pickle(pickle_path, dtype=dtype),
            name=name,
            source=f"{pickle_path} (Nielsen's mnist.pkl.gz, {how})",
        )
    return None


def _load_path(path: Path, dtype, label_column, task) -> Dataset:
    if path.is_dir():
        dataset = _load_directory(path, name=str(path), how="given path", dtype=dtype, pickle_ok=True)
        if dataset is not None:
            return dataset
        expected = ", ".join(f"{stem}[.gz]" for stem in IDX_FILES.values())
        raise DataNotFoundError(
            f"{path} holds neither the four IDX files ({expected}) nor {PICKLE_NAME}; "
            "a .csv or .npz dataset is given by its file name"
        )
    if path.exists():  # a file, or something posing as one (a FIFO, a device): the readers refuse those
        suffix = path.suffix.lower()
        if suffix == ".csv":
            return load_csv(path, label_column=label_column, dtype=dtype, task=task)
        if suffix == ".npz":
            return load_npz(path, dtype=dtype)
        if suffix == ".npy":
            raise DataError(f"{path}: a .npy file holds one array; a dataset needs X and y (save both in an .npz)")
        return dataclasses.replace(load_mnist_pickle(path, dtype=dtype), name=str(path))
    raise DataNotFoundError(
        f"{str(path)!r} is neither a dataset name ({', '.join([*MIRRORS, 'sample'])}) nor an existing path"
    )
