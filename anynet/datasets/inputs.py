"""The inputs of a prediction: rows of features from a .npy, .npz or .csv
file, or images (files, or directories of them)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import ArgumentError, DataError, DataNotFoundError
from .arrays import array_names, features, read_npy, read_npz
from .core import float_dtype
from .images import IMAGE_SUFFIXES, read_image
from .tables import read_csv

_PREFERRED = ("x", "x_test")  # in an .npz of several arrays: X (or x), else x_test


def image_paths(paths) -> list[Path]:
    """The image files ``paths`` stands for, in the order of their rows in
    :func:`load_inputs`: files as given, and each directory's image files
    (by suffix: .png, .jpg, .jpeg, .bmp, .gif) sorted by name."""
    result = []
    for path in _as_paths(paths):
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise DataError(f"{path} holds no images ({', '.join(IMAGE_SUFFIXES)})")
            result += found
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            result.append(path)
        else:
            raise DataError(
                f"{path} is not an image ({', '.join(IMAGE_SUFFIXES)}); "
                "several inputs or a directory must all be images"
            )
    return result


def load_inputs(paths, *, dtype="float64") -> np.ndarray:
    """Read the inputs of a prediction as a float array (n, d), one row per sample.

    ``paths`` is one path or a list of them:

    - a ``.npy`` file: its array, (n, d) or (n, h, w) flattened; a 1-d array
      is one sample;
    - an ``.npz`` file: its only array, else ``X`` (or ``x``), else ``x_test``;
    - a ``.csv`` file: every column is a feature (header detected, see
      :mod:`anynet.datasets.tables`);
    - image files or directories of them (needs Pillow): one row per image,
      in the order of :func:`image_paths`; all images must have one size.

    uint8 arrays are scaled from 0..255 to [0, 1], like the training data.
    Raises DataNotFoundError for a path that does not exist and DataError
    naming the file for anything that cannot be read.
    """
    dtype = float_dtype(dtype)
    paths = _as_paths(paths)
    for path in paths:
        if not os.path.lexists(path):
            raise DataNotFoundError(f"{path}: no such file or directory")
    if _one_file_of_rows(paths):
        return _from_file(paths[0], dtype)
    images = image_paths(paths)
    rows = []
    for path in images:
        pixels = read_image(path)
        if rows and pixels.shape != rows[0][1].shape:
            raise DataError(
                f"{path} is {pixels.shape[1]}x{pixels.shape[0]} pixels but {rows[0][0]} is "
                f"{rows[0][1].shape[1]}x{rows[0][1].shape[0]}; all images must have one size"
            )
        rows.append((path, pixels))
    return np.stack([pixels.reshape(-1) for _, pixels in rows]).astype(dtype)


def input_names(paths, n_rows: int) -> list[str]:
    """What to call each of the ``n_rows`` rows :func:`load_inputs` read from
    ``paths``: an image's path as given, or for the rows of one .npy, .npz or
    .csv file their numbers 1, 2, ... (1 is the first row of data)."""
    paths = _as_paths(paths)
    if _one_file_of_rows(paths):
        return [str(i) for i in range(1, n_rows + 1)]
    return [str(p) for p in image_paths(paths)]


def _one_file_of_rows(paths) -> bool:
    return len(paths) == 1 and not paths[0].is_dir() and paths[0].suffix.lower() not in IMAGE_SUFFIXES


def _as_paths(paths) -> list[Path]:
    if isinstance(paths, (str, os.PathLike)):
        return [Path(paths)]
    paths = [Path(p) for p in paths]
    if not paths:
        raise ArgumentError("no inputs given")
    return paths


def _from_file(path: Path, dtype: np.dtype) -> np.ndarray:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return read_csv(path, labelled=False, dtype=dtype).X
    if suffix == ".npy":
        array, what = read_npy(path), "the array"
    elif suffix == ".npz":
        names = array_names(path)
        wanted = names if len(names) == 1 else _PREFERRED
        arrays = read_npz(path, wanted)
        if not arrays:
            raise DataError(
                f"{path} holds the arrays {', '.join(names) or 'none'}; inputs are its only array, X or x_test"
            )
        what, array = next(iter(arrays.items()))
    else:
        raise DataError(f"{path}: inputs are .npy, .npz, .csv or image ({', '.join(IMAGE_SUFFIXES)}) files")
    return features(array.reshape(1, -1) if array.ndim == 1 else array, path, what, dtype)[0]
