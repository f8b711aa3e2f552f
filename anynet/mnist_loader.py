"""mnist_loader.py, the book's MNIST loader, in its Python 3 form.

``load_data()`` returns ``(training_data, validation_data, test_data)``, each
a pair ``(images (n, 784) float, labels (n,) int)``; ``load_data_wrapper()``
returns the lists the book's networks train on: ``(x (784, 1), y (10, 1)
one-hot)`` for training, ``(x (784, 1), label int)`` for validation and test
(lists, not the zip iterators of the Python 3 ports).

The data comes from the book's ``mnist.pkl.gz`` where the book keeps it
(``../data/`` beside the script's working directory, or ``./``), read
without executing code (anynet's restricted unpickler), or from anything
:func:`anynet.datasets.load_dataset` finds for "mnist" (``$ANYNET_DATA``, the
cache, a download; ``$ANYNET_DATA`` may name a directory holding the pickle
or the four IDX files).  If MNIST is nowhere, one :class:`DataNotFoundError`
(a FileNotFoundError) says where the book publishes ``mnist.pkl.gz`` and
where to put it.
"""

from __future__ import annotations

import os
from pathlib import Path

from .datasets import load_dataset, load_mnist_pickle, to_tuples
from .datasets.cache import cache_root
from .errors import DataNotFoundError

BOOK_PLACES = (Path("../data/mnist.pkl.gz"), Path("mnist.pkl.gz"), Path("data/mnist.pkl.gz"))


BOOK_FILE_URL = "https://github.com/mnielsen/neural-networks-and-deep-learning/raw/master/data/mnist.pkl.gz"


def _dataset():
    for place in BOOK_PLACES:
        if place.is_file():
            return load_mnist_pickle(place)
    try:
        return load_dataset("mnist")
    except DataNotFoundError:
        # One message, not load_dataset's (which suggests command-line flags a
        # script cannot pass) chained under this one.
        raise DataNotFoundError(_not_found_message()) from None


def _not_found_message() -> str:
    places = ", ".join(str(p) for p in BOOK_PLACES[1:])
    return "\n".join([
        "MNIST not found: the book's scripts read mnist.pkl.gz, published in the book's repository "
        "mnielsen/neural-networks-and-deep-learning as data/mnist.pkl.gz:",
        f"  {BOOK_FILE_URL}",
        f"Put it in {BOOK_PLACES[0]} ({os.path.abspath(BOOK_PLACES[0])}), as the book's scripts expect, or in {places} "
        "(relative to the working directory).",
        "To read other data, set the environment variable ANYNET_DATA to a directory holding mnist.pkl.gz "
        "or the four MNIST IDX files (train-images-idx3-ubyte.gz, ...).",
        f"anynet also looked in $ANYNET_DATA and its cache ({cache_root() / 'mnist'}) and could not download MNIST; "
        "python -c \"from anynet.datasets import fetch; fetch('mnist')\" downloads it or says why not.",
    ])


def load_data():
    """``(training_data, validation_data, test_data)``: pairs of a float array
    of images ``(n, 784)`` and an int array of labels ``(n,)``; 50,000,
    10,000 and 10,000 images."""
    dataset = _dataset()
    return dataset.train, dataset.validation, dataset.test


def load_data_wrapper():
    """The book's training format: ``training_data`` a list of ``(x, y)`` with
    ``x`` a (784, 1) column and ``y`` a (10, 1) one-hot column;
    ``validation_data`` and ``test_data`` lists of ``(x, label)``."""
    training, validation, test = load_data()
    return (
        to_tuples(*training, one_hot=True),
        to_tuples(*validation, one_hot=False),
        to_tuples(*test, one_hot=False),
    )
