"""network.py, the book's first program, as a thin face over anynet.

A script written for the seed's ``network.py`` runs unchanged with ``from
anynet import network``: ``network.Network(sizes)`` draws its weights from
the global ``numpy.random`` state in the seed's order, ``SGD`` shuffles with
the global ``random`` module, prints the seed's lines and returns None, and
with the same ``np.random.seed``/``random.seed`` the run ends with the same
weights (to rounding).  The optional keywords ``backend``, ``device`` and
``dtype`` run the same script on a GPU.
"""

from __future__ import annotations

from .api import network_api as _net
from .model.activations import sigmoid, sigmoid_prime
from .api.printing import BookLines
from .train.fit import TrainConfig


class Network(_net.Network):
    """network.py's Network: sigmoid layers, quadratic cost, N(0, 1) weights and biases."""

    def __init__(self, sizes, *, backend="numpy", device=None, dtype=None):
        super().__init__(sizes, backend=backend, device=device, dtype=dtype)

    def SGD(self, training_data, epochs, mini_batch_size, eta, test_data=None, *, progress=False):
        """Train with mini-batch stochastic gradient descent.  After each epoch
        print ``Epoch j : correct / n_test`` when ``test_data`` is given, else
        ``Epoch j complete``.  Returns None, as network.py does."""
        monitors = frozenset({"evaluation_accuracy"}) if test_data is not None else frozenset()
        config = TrainConfig(epochs, mini_batch_size, eta, monitors=monitors)
        reporter = BookLines(seed_style=True, verbose=True, callback=None)
        self.train(training_data, config, evaluation_data=test_data, callbacks=[reporter], progress=progress)

    def update_mini_batch(self, mini_batch, eta):
        """One gradient-descent step on ``mini_batch``, a list of ``(x, y)`` pairs."""
        super().update_mini_batch(mini_batch, eta)


__all__ = ["Network", "sigmoid", "sigmoid_prime"]
