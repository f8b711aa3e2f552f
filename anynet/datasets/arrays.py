"""NumPy files: ``.npz`` datasets and ``.npy``/``.npz`` inputs, read without pickle.

An ``.npz`` dataset holds ``X`` and ``y`` (the training split only), or
``x_train``, ``y_train`` and optionally ``x_test``, ``y_test`` (other arrays
are ignored; ``x``/``Y`` spellings are accepted).  ``X`` has shape ``(n, d)``,
or ``(n, h, w, ...)``, flattened to ``(n, h*w*...)``; uint8 images are
scaled from 0..255 to [0, 1] (``Dataset.source`` says so); other numbers are
used as they are.  ``y`` holds labels of any type (see
:func:`~anynet.datasets.core.encode_labels`), one per row of ``X``.

Before any array is read, the zip directory's member names and declared sizes
and each ``.npy`` header are checked against each other and against this
machine's memory; arrays of Python objects are refused (loading them would
unpickle).  Each array is then streamed into a buffer of exactly its size, so
neither a header nor a compressed member can make anynet allocate more.
"""

from __future__ import annotations

import math
import zipfile
from pathlib import Path

import numpy as np

from ..errors import DataError
from .core import Dataset, encode_labels
from ..io.files import damaged
from .opening import check_fits, fill, open_regular

_NPY_HEADER_MAX = 12 + 10000  # magic, version, length field and numpy's largest header
# canonical name -> the member names it may have, the first as messages spell it
_SPELLINGS = {
    "x": ("X", "x"),
    "y": ("y", "Y"),
    "x_train": ("x_train", "X_train"),
    "y_train": ("y_train", "Y_train"),
    "x_test": ("x_test", "X_test"),
    "y_test": ("y_test", "Y_test"),
}


def _read_npy(stream, path: Path, what: str, declared: int) -> np.ndarray:
    """The array in the .npy stream ``stream``, whose total length is ``declared`` bytes."""
    version = np.lib.format.read_magic(stream)
    if version not in ((1, 0), (2, 0), (3, 0)):
        raise DataError(f"{path}: {what} has .npy version {version}; anynet reads 1.0 to 3.0")
    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran, dtype = read_header(stream)
    if dtype.hasobject:
        raise DataError(
            f"{path}: {what} holds Python objects; anynet never unpickles data (it could run code). "
            "Save numbers or fixed-width strings instead"
        )
    count = math.prod(shape)
    promised = f"the header of {what} describes {shape} {dtype}"
    if declared - stream.tell() != count * dtype.itemsize:
        raise DataError(
            f"{path}: {promised} ({count * dtype.itemsize:,} bytes), but it holds {declared - stream.tell():,}"
        )
    check_fits(count * dtype.itemsize, path, promised)
    flat = fill(stream, np.empty(count, dtype), path, promised)
    array = flat.reshape(shape[::-1]).T if fortran else flat.reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=False)


def read_npy(path) -> np.ndarray:
    """The array of the .npy file ``path`` (no pickled objects)."""
    path = Path(path)
    with open_regular(path, "a .npy file") as f, damaged(path, "the .npy header"):
        size = f.seek(0, 2)
        f.seek(0)
        return _read_npy(f, path, "the array", size)


def read_npz(path, wanted) -> dict[str, np.ndarray]:
    """The arrays named in ``wanted`` that the .npz file ``path`` holds (the
    first of each name's spellings, e.g. ``X`` or ``x``), read in bounds."""
    path = Path(path)
    with open_regular(path, "an .npz file") as f:
        with damaged(path, "its zip directory"):
            archive = zipfile.ZipFile(f)
        with archive:
            members = {info.filename[:-4]: info for info in archive.infolist() if info.filename.endswith(".npy")}
            chosen = {}
            for name in wanted:
                found = [members[spelling] for spelling in _SPELLINGS.get(name, (name,)) if spelling in members]
                if found:
                    chosen[name] = found[0]
            for info in chosen.values():
                if info.flag_bits & 0x1 or info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                    raise DataError(
                        f"{path}: the array {info.filename!r} is encrypted or compressed in a way NumPy never writes"
                    )
            check_fits(sum(info.file_size for info in chosen.values()), path, "its arrays")
            arrays = {}
            for name, info in chosen.items():
                with damaged(path, f"the array {info.filename!r}"), archive.open(info) as stream:
                    arrays[name] = _read_npy(stream, path, f"the array {info.filename[:-4]!r}", info.file_size)
            return arrays


def array_names(path) -> list[str]:
    """The names of the arrays in the .npz file ``path``."""
    path = Path(path)
    with open_regular(path, "an .npz file") as f, damaged(path, "its zip directory"), zipfile.ZipFile(f) as archive:
        return [name[:-4] for name in archive.namelist() if name.endswith(".npy")]


def features(X: np.ndarray, path: Path, what: str, dtype) -> tuple[np.ndarray, str]:
    """``X`` as a finite float array (n, d) of ``dtype``, and a note if uint8 pixels were scaled to [0, 1]."""
    if X.ndim < 1 or X.dtype.kind not in "biuf":
        raise DataError(f"{path}: {what} must be numbers of shape (n, d) or (n, h, w), got {X.dtype} {X.shape}")
    if X.ndim == 1:
        raise DataError(f"{path}: {what} has shape {X.shape}; it needs one row per sample, (n, d) or (n, h, w)")
    scaled = X.dtype == np.uint8
    out = X.reshape(len(X), -1).astype(dtype)
    if scaled:
        out /= 255
    bad = ~np.isfinite(out)
    if bad.any():
        row, column = np.argwhere(bad)[0]
        raise DataError(f"{path}: {what} row {row}, column {column} is {out[row, column]}; values must be finite")
    return out, f"{what} uint8 0..255 scaled to [0, 1]" if scaled else ""


def load_npz(path, *, dtype) -> Dataset:
    """A Dataset from an .npz file holding X/y, or x_train/y_train (and x_test/y_test)."""
    path = Path(path)
    arrays = read_npz(path, ["x", "y", "x_train", "y_train", "x_test", "y_test"])
    if "x_train" in arrays or "y_train" in arrays:
        splits = {"train": ("x_train", "y_train"), "test": ("x_test", "y_test")}
    else:
        splits = {"train": ("x", "y")}
    for split, (x_name, y_name) in splits.items():
        if (x_name in arrays) != (y_name in arrays) or (split == "train" and x_name not in arrays):
            raise DataError(
                f"{path} holds the arrays {', '.join(array_names(path)) or 'none'}; a dataset needs X and y, or "
                "x_train and y_train (and optionally x_test and y_test)"
            )
    pairs, notes = {}, []
    for split, (x_name, y_name) in splits.items():
        if x_name not in arrays:
            continue
        X, note = features(arrays[x_name], path, _SPELLINGS[x_name][0], dtype)
        y = arrays[y_name]
        if y.shape != (len(X),):
            hint = "; for one-hot rows use y.argmax(axis=1)" if y.ndim == 2 else ""
            raise DataError(
                f"{path}: {y_name} must hold one label per row of {_SPELLINGS[x_name][0]}, "
                f"shape ({len(X)},), got {y.shape}{hint}"
            )
        pairs[split] = (X, y)
        notes += [note] if note else []
    if "test" in pairs and pairs["test"][0].shape[1] != pairs["train"][0].shape[1]:
        raise DataError(
            f"{path}: x_train rows have {pairs['train'][0].shape[1]} values but x_test rows have "
            f"{pairs['test'][0].shape[1]}; both splits must have samples of one size"
        )
    labels = [y.astype(str) if y.dtype.kind == "S" else y for _, y in pairs.values()]
    codes, classes = encode_labels(np.concatenate(labels), f"{path}: the labels")
    cut = len(pairs["train"][1])
    train = (pairs["train"][0], codes[:cut])
    test = (pairs["test"][0], codes[cut:]) if "test" in pairs else None
    sizes = f"{len(train[1]):,} training" + (f", {len(test[1]):,} test" if test else "") + " rows"
    notes = "; ".join([sizes, f"{train[0].shape[1]:,} features", f"{len(classes)} classes", *notes])
    return Dataset(
        name=str(path),
        source=f"{path} (.npz: {notes})",
        train=train,
        validation=None,
        test=test,
        n_classes=len(classes),
        classes=classes,
    )
