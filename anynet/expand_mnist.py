"""expand_mnist.py, the companion of network3.py: the training images of the
book's ``mnist.pkl.gz``, each also shifted by one pixel down, up, right and
left (:func:`anynet.datasets.one_pixel_shifts`), shuffled with the global
``random`` module as the book's script shuffles its list (the same
permutation for the same ``random.seed``), saved with the validation and
test data as ``mnist_expanded.pkl.gz`` in the same format, which
``network3.load_data_shared`` reads.

Run it where the book runs its script (``src/``, beside ``../data/``)::

    python -m anynet.expand_mnist

The source is read without executing it (:func:`anynet.datasets.load_mnist_pickle`);
the result is written as plain NumPy arrays in pickle protocol 4 (the book's
script wrote Python lists of them, in Python 2's protocol) and replaces
nothing: an existing file is left alone, as the book's script leaves it.
"""

from __future__ import annotations

import gzip
import os
import pickle
import random

import numpy as np

from .datasets import load_mnist_pickle, one_pixel_shifts
from .io.files import write_atomically

SOURCE = "../data/mnist.pkl.gz"
TARGET = "../data/mnist_expanded.pkl.gz"


def expand(source=SOURCE, target=TARGET) -> bool:
    """Write the expanded training set of ``source`` to ``target``, printing
    the book's lines; False (and nothing written) when ``target`` exists."""
    print("Expanding the MNIST training set")
    if os.path.exists(target):
        print("The expanded training set already exists.  Exiting.")
        return False
    dataset = load_mnist_pickle(source, dtype="float32")
    X, y = dataset.train
    n, n_in = X.shape
    # the book's order before its shuffle: each image followed by its four shifts
    expanded = np.stack([X, *one_pixel_shifts(X, 28)], axis=1).reshape(5 * n, n_in)
    labels = np.repeat(y, 5)
    order = list(range(5 * n))
    random.shuffle(order)  # the book's random.shuffle of its 5n pairs: the same permutation
    order = np.asarray(order)
    splits = ((expanded[order], labels[order]), dataset.validation, dataset.test)
    print("Saving expanded data. This may take a few minutes.")

    def write(f):
        with gzip.GzipFile(fileobj=f, mode="wb") as z:
            # protocol 4: an array's bytes as bytes; protocol 2 stores them as latin-1 text, a byte more
            # for each byte >= 0x80, which took Fashion-MNIST's 784 MB of expanded images past the
            # reader's 1 GiB bound (anynet.datasets.pickled.MAX_PICKLE_BYTES)
            pickle.dump(tuple((np.ascontiguousarray(a), np.asarray(b, dtype=np.int64)) for a, b in splits), z,
                        protocol=4)

    write_atomically(target, write)
    return True


if __name__ == "__main__":
    expand()
