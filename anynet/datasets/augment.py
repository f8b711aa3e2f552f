"""More training images from the ones there are: the training split alone
grows, so that validation (selection) and test (the estimate) still see only
real images."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from .. import arguments
from ..errors import DataError
from .core import Dataset

AUGMENTATIONS = ("mirror", "shift", "mirror+shift")


def mirrored(dataset: Dataset, *, width: int | None = None) -> Dataset:
    """``dataset`` with every training image also mirrored left to right,
    appended after the originals with the same labels.  For classes that a
    mirror does not change (Fashion-MNIST's clothes, not digits).  A row is an
    image of ``width`` pixels per line; by default the row length's square
    root (28 for MNIST-like data)."""
    X, y = dataset.train
    n, n_in = X.shape
    width = _width(dataset, n_in, width)
    flipped = np.ascontiguousarray(X.reshape(n, n_in // width, width)[:, :, ::-1]).reshape(n, n_in)
    source = f"{dataset.source}; training images also mirrored left to right ({n:,} more)"
    return dataclasses.replace(dataset, source=source, train=(np.concatenate([X, flipped]), np.concatenate([y, y])))


def one_pixel_shifts(X: np.ndarray, width: int) -> list:
    """The book's expand_mnist.py displacements of the rows ``X`` (images
    ``width`` pixels wide): each image moved one pixel down, up, right and
    left (in that order), the row or column it uncovers set to zero."""
    n, n_in = X.shape
    images = X.reshape(n, n_in // width, width)
    zero = np.zeros_like(images)
    down, up, right, left = zero.copy(), zero.copy(), zero.copy(), zero.copy()
    down[:, 1:, :] = images[:, :-1, :]
    up[:, :-1, :] = images[:, 1:, :]
    right[:, :, 1:] = images[:, :, :-1]
    left[:, :, :-1] = images[:, :, 1:]
    return [a.reshape(n, n_in) for a in (down, up, right, left)]


def shifted(dataset: Dataset, *, width: int | None = None) -> Dataset:
    """``dataset`` with every training image also shifted by one pixel down,
    up, right and left (:func:`one_pixel_shifts`; the book's expanded MNIST,
    five times the training images), the four shifted copies appended after
    the originals with the same labels."""
    X, y = dataset.train
    n, n_in = X.shape
    moved = one_pixel_shifts(X, _width(dataset, n_in, width))
    source = f"{dataset.source}; training images also shifted by one pixel down, up, right and left ({4 * n:,} more)"
    return dataclasses.replace(dataset, source=source, train=(np.concatenate([X, *moved]), np.concatenate([y] * 5)))


def _width(dataset: Dataset, n_in: int, width: int | None) -> int:
    """The images' width: ``width``, or the square root of a row's length."""
    if width is None:
        width = math.isqrt(n_in)
        if width * width != n_in:
            raise DataError(f"{dataset.name}: rows of {n_in} values are not square images; give the image width")
        return width
    width = arguments.integer("width", width, low=1)
    if n_in % width:
        raise DataError(f"{dataset.name}: rows of {n_in} values are not images {width} pixels wide")
    return width


def augmented(dataset: Dataset, how: str | None) -> Dataset:
    """``dataset`` augmented as ``how`` names (one of AUGMENTATIONS), or as it is for None;
    "mirror+shift": mirrored, then every image (mirrored ones too) shifted, ten times the images."""
    if how is None:
        return dataset
    arguments.choice("augmentation", how, AUGMENTATIONS)
    if how == "mirror+shift":
        return shifted(mirrored(dataset))
    return mirrored(dataset) if how == "mirror" else shifted(dataset)
