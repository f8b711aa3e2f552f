"""Weight initialisers.  All draw on the host from a NumPy random generator so
that the same seed gives bit-identical parameters on every backend.

Each takes ``sizes`` and ``rng`` (a ``numpy.random.Generator``, or the
``numpy.random`` module itself to share the book's global state) and returns
one host :class:`~anynet.model.params.Params` per layer, in the book's shapes:
weight ``(y, x)``, bias ``(y, 1)``.  Biases are drawn first, layer by layer,
then weights, as the book does.
"""

from __future__ import annotations

import numpy as np

from ..errors import ArgumentError
from .params import from_book


def _pairs(sizes):
    return list(zip(sizes[:-1], sizes[1:]))


def large(sizes, rng):
    """network.py's initialiser: every weight and bias N(0, 1)."""
    biases = [rng.standard_normal((y, 1)) for y in sizes[1:]]
    weights = [rng.standard_normal((y, x)) for x, y in _pairs(sizes)]
    return from_book(weights, biases)


def default(sizes, rng):
    """network2.py's default: biases N(0, 1), weights N(0, 1/n_in)."""
    biases = [rng.standard_normal((y, 1)) for y in sizes[1:]]
    weights = [rng.standard_normal((y, x)) / np.sqrt(x) for x, y in _pairs(sizes)]
    return from_book(weights, biases)


def he(sizes, rng):
    """He et al. (2015), for ReLU layers: weights N(0, 2/n_in), biases 0."""
    biases = [np.zeros((y, 1)) for y in sizes[1:]]
    weights = [rng.standard_normal((y, x)) * np.sqrt(2.0 / x) for x, y in _pairs(sizes)]
    return from_book(weights, biases)


def glorot(sizes, rng):
    """Glorot and Bengio (2010): weights U(-r, r), r = sqrt(6/(n_in+n_out)), biases 0."""
    biases = [np.zeros((y, 1)) for y in sizes[1:]]
    weights = []
    for x, y in _pairs(sizes):
        limit = np.sqrt(6.0 / (x + y))
        weights.append(rng.uniform(-limit, limit, size=(y, x)))
    return from_book(weights, biases)


INITIALIZERS = {"large": large, "default": default, "he": he, "glorot": glorot}


def get_initializer(spec):
    """An initialiser from its name ("default", "large", "he", "glorot") or a callable."""
    if callable(spec):
        return spec
    if isinstance(spec, str) and spec.lower() in INITIALIZERS:
        return INITIALIZERS[spec.lower()]
    raise ArgumentError(f"unknown initializer {spec!r}; choose one of {', '.join(INITIALIZERS)}")
