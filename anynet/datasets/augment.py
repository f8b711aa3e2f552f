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

AUGMENTATIONS = ("mirror",)


def mirrored(dataset: Dataset, *, width: int | None = None) -> Dataset:
    """``dataset`` with every training image also mirrored left to right,
    appended after the originals with the same labels.  For classes that a
    mirror does not change (Fashion-MNIST's clothes, not digits).  A row is an
    image of ``width`` pixels per line; by default the row length's square
    root (28 for MNIST-like data)."""
    X, y = dataset.train
    n, n_in = X.shape
    if width is None:
        width = math.isqrt(n_in)
        if width * width != n_in:
            raise DataError(f"{dataset.name}: rows of {n_in} values are not square images; give the image width")
    else:
        width = arguments.integer("width", width, low=1)
        if n_in % width:
            raise DataError(f"{dataset.name}: rows of {n_in} values are not images {width} pixels wide")
    flipped = np.ascontiguousarray(X.reshape(n, n_in // width, width)[:, :, ::-1]).reshape(n, n_in)
    source = f"{dataset.source}; training images also mirrored left to right ({n:,} more)"
    return dataclasses.replace(dataset, source=source, train=(np.concatenate([X, flipped]), np.concatenate([y, y])))


def augmented(dataset: Dataset, how: str | None) -> Dataset:
    """``dataset`` augmented as ``how`` names (one of AUGMENTATIONS), or as it is for None."""
    if how is None:
        return dataset
    arguments.choice("augmentation", how, AUGMENTATIONS)
    return mirrored(dataset)
