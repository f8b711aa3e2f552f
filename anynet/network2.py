"""network2.py, the book's chapter 3 program, as a thin face over anynet.

A script written for the book's ``network2.py`` (its Python 3 form) runs
unchanged with ``from anynet import network2``: the cross-entropy cost by
default, ``default_weight_initializer`` (N(0, 1/n_in) weights) and
``large_weight_initializer`` drawing from the global ``numpy.random``,
``SGD`` shuffling with the global ``random``, L2 regularisation
``(1 - eta lmbda / n) w - (eta / m) nabla_w``, the book's printed lines, the
four monitor lists of plain numbers, ``accuracy``, ``total_cost`` (the L2 term
added once), ``save`` to the book's JSON format and ``load``.  The optional
keywords ``backend``, ``device`` and ``dtype`` run the same script on a GPU.
"""

from __future__ import annotations

import json

import numpy as np

from .io import checkpoint
from .api import network_api as _net
from .model.activations import sigmoid, sigmoid_prime
from .model.costs import CrossEntropyCost, QuadraticCost
from .model.params import book_lists
from .errors import CheckpointError
from .io.files import write_atomically
from .api.printing import BookLines, history_lists
from .train.fit import MONITORS, TrainConfig


class Network(_net.Network):
    """network2.py's Network: sigmoid layers, a cost class (CrossEntropyCost
    by default), weights N(0, 1/n_in) and biases N(0, 1)."""

    def __init__(self, sizes, cost=CrossEntropyCost, *, backend="numpy", device=None, dtype=None):
        super().__init__(sizes, cost, backend=backend, device=device, dtype=dtype, initializer="default")

    def SGD(self, training_data, epochs, mini_batch_size, eta, lmbda=0.0, evaluation_data=None,
            monitor_evaluation_cost=False, monitor_evaluation_accuracy=False,
            monitor_training_cost=False, monitor_training_accuracy=False, *, progress=False):
        """Train with mini-batch stochastic gradient descent and L2
        regularisation ``lmbda``.  After each epoch print ``Epoch j training
        complete``, then one line per monitor that is on and an empty line.
        Returns ``(evaluation_cost, evaluation_accuracy, training_cost,
        training_accuracy)``: per-epoch lists of Python floats and ints, empty
        where the monitor is off."""
        flags = (monitor_evaluation_cost, monitor_evaluation_accuracy, monitor_training_cost, monitor_training_accuracy)
        monitors = frozenset(name for name, on in zip(MONITORS, flags) if on)
        config = TrainConfig(epochs, mini_batch_size, eta, lmbda, monitors=monitors)
        reporter = BookLines(seed_style=False, verbose=True, callback=None)
        state = self.train(training_data, config, evaluation_data=evaluation_data, callbacks=[reporter],
                           progress=progress)
        return history_lists(state.history, flags, seed_style=False)

    def update_mini_batch(self, mini_batch, eta, lmbda, n):
        """One gradient-descent step on ``mini_batch`` with L2 weight decay
        ``lmbda`` for a training set of ``n`` samples."""
        super().update_mini_batch(mini_batch, eta, lmbda, n)

    def save(self, filename):
        """Save the network to ``filename`` in the book's JSON format: sizes,
        weights, biases (nested lists) and the cost's class name."""
        self._params()
        document = {
            "sizes": self.sizes,
            "weights": [self.backend.to_numpy(w).tolist() for w in self.weights],
            "biases": [self.backend.to_numpy(b).tolist() for b in self.biases],
            "cost": str(self.cost.__name__),
        }
        write_atomically(filename, lambda f: f.write(json.dumps(document).encode("utf-8")))


def load(filename, *, backend="numpy", device=None, dtype=None):
    """Load a network saved by ``save`` (the book's JSON, or an anynet
    checkpoint).  Like the book's ``load`` it first builds
    ``Network(sizes, cost=cost)``, drawing its initial weights from the
    global ``numpy.random`` state, then replaces them with the file's."""
    model, _ = checkpoint.load_model(filename, backend=backend, device=device, dtype=dtype)
    if any(a.name != "sigmoid" for a in model.activations):
        raise CheckpointError(f"{filename}: network2 networks are sigmoid throughout; use anynet.load for this file")
    net = Network(model.sizes, cost=model.cost, backend=model.backend)
    net.weights, net.biases = book_lists(model.parameters())
    return net


def vectorized_result(j):
    """A 10-dimensional unit column vector with 1.0 in position ``j``: a
    digit's desired output."""
    e = np.zeros((10, 1))
    e[j] = 1.0
    return e


__all__ = [
    "CrossEntropyCost",
    "Network",
    "QuadraticCost",
    "load",
    "sigmoid",
    "sigmoid_prime",
    "vectorized_result",
]
