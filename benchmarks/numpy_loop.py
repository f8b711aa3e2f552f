"""The floor for NumPy code: the book's mini-batch SGD written by hand, as tight
as plain NumPy allows, with no array API layer.

The math is anynet's (and the book's): rows are samples, ``z = a @ w.T + b``,
sigmoid layers, quadratic cost, gradients summed over the mini-batch, then
``w - (eta/m) * nabla_w``.  What makes it tight: sigmoid and the update run in
place on arrays this loop owns, the gradient of a layer is applied as soon as
the next delta no longer needs that layer's weights, and nothing is looked up
twice.  The results equal a plain (allocating) transcription bit for bit.

``lib`` is ``numpy`` or ``cupy``: the same code is the hand-written CuPy loop
of ``bench_gpu.py``.
"""

from __future__ import annotations

import numpy as np


def epoch(weights, biases, X, Y, order, mini_batch_size, eta, *, lib=np):
    """Train one epoch in the given sample ``order``; return ``(weights, biases)``.

    ``weights[l]`` is ``(y, x)`` as in the book; ``biases[l]`` is a flat
    ``(y,)`` row; both are updated in place.  ``X`` is ``(n, sizes[0])``,
    ``Y`` one-hot ``(n, sizes[-1])``, ``order`` an integer array on the same
    device."""
    exp, negative, reciprocal, take = lib.exp, lib.negative, lib.reciprocal, lib.take
    layers = len(weights)
    for k in range(0, order.shape[0], mini_batch_size):
        idx = order[k : k + mini_batch_size]
        a = take(X, idx, axis=0)
        targets = take(Y, idx, axis=0)
        activations = [a]
        for w, b in zip(weights, biases):
            z = a @ w.T
            z += b
            negative(z, out=z)
            exp(z, out=z)
            z += 1.0
            a = reciprocal(z, out=z)  # sigmoid, in place
            activations.append(a)
        delta = a - targets
        delta *= a
        delta *= 1.0 - a
        rate = eta / idx.shape[0]
        for l in range(1, layers + 1):
            w, below = weights[-l], activations[-l - 1]
            if l < layers:  # the next delta needs w before it is updated
                next_delta = delta @ w
                next_delta *= below
                next_delta *= 1.0 - below
            step = delta.T @ below
            step *= rate
            w -= step
            biases[-l] -= rate * delta.sum(axis=0)
            if l < layers:
                delta = next_delta
    return weights, biases
