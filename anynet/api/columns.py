"""The book's per-sample surface of :class:`anynet.Network`: ``feedforward``,
``backprop``, ``update_mini_batch`` and ``cost_derivative`` on the book's
column vectors, and network2.py's weight initialisers (a mixin: it uses the
network's ``_params``, ``_prepare``, ``_install``, ``_pending``, ``_rng``,
``backend`` and ``sizes``).

Device-resident inputs are checked on the device and the check is read back
by the next call that reads a result, so a loop of ``update_mini_batch``
calls never waits for the device.
"""

from __future__ import annotations

import numpy as np

from .. import arguments
from ..errors import ArgumentError
from ..model import model as _model
from ..model.initializers import get_initializer
from ..datasets.boundary import column
from ..model.optimizers import SGD as PlainSGD, Regularizer
from ..model.params import Params, book_lists
from ..train.fit import total_cost


class BookColumns:
    def feedforward(self, a):
        """Return the output of the network for input column ``a`` (``(sizes[0], 1)``;
        several columns ``(sizes[0], k)`` give ``(sizes[-1], k)``)."""
        model = self._params(verify=False)
        rows, pending = column(a, backend=self.backend, size=self.sizes[0], what="feedforward input", defer=True)
        if pending is not None:
            self._pending.add(pending, self.backend.xp)
        out = model.feedforward(rows)
        return out[0, ...] if len(getattr(a, "shape", ())) == 1 else out.T

    def backprop(self, x, y):
        """Return ``(nabla_b, nabla_w)``, the gradient of the cost for one sample
        ``(x, y)`` (or summed over columns), layer by layer in the shapes of
        ``biases`` and ``weights`` (the book's order and lists)."""
        model = self._params()
        if _is_single(x, self.sizes[0]):
            data = self._prepare([(x, y)], "backprop")
            rows, targets = data.x, data.targets
        else:
            rows, _ = column(x, backend=self.backend, size=self.sizes[0], what="backprop x")
            targets, _ = column(y, backend=self.backend, size=self.sizes[-1], what="backprop y")
            if targets.shape[0] != rows.shape[0]:
                raise ArgumentError(f"backprop: x has {rows.shape[0]} columns but y has {targets.shape[0]}")
        nabla_w, nabla_b = book_lists(model.gradients(rows, targets))
        return nabla_b, nabla_w

    def update_mini_batch(self, mini_batch, eta, lmbda=0.0, n=None):
        """Apply one gradient-descent step for ``mini_batch`` (a list of
        ``(x, y)`` pairs or arrays ``(X, y)``) with learning rate ``eta``;
        with ``lmbda`` and the training-set size ``n``, L2 weight decay as in
        network2.py.  Device-resident data is checked on the device: a bad
        batch leaves the parameters unchanged and is reported by the next call
        that reads a result."""
        eta = arguments.real("eta", eta, low=0.0, low_open=True)
        lmbda = arguments.real("lmbda", lmbda, low=0.0)
        if lmbda and n is None:
            raise ArgumentError("update_mini_batch with lmbda > 0 needs n, the size of the training set")
        reg = Regularizer("l2", lmbda, arguments.integer("n", n, low=1)) if lmbda else None
        model = self._params(verify=False)
        batch = self._prepare(mini_batch, "mini_batch", defer=True)
        xp = self.backend.xp
        params = model.parameters()
        grads = model.gradients(batch.x, batch.targets)
        with self.backend.errstate():
            new, _ = PlainSGD().step(params, grads, {}, eta=eta, m=batch.n, reg=reg, xp=xp, fuse=self.backend.fuse)
        if batch.pending is not None:  # keep the old parameters where the batch was bad, without reading the flag
            ok = self._pending.add(batch.pending, xp)
            new = [Params(xp.where(ok, p.weight, q.weight), xp.where(ok, p.bias, q.bias)) for p, q in zip(new, params)]
        self._install(new)

    def accuracy(self, data, convert=False):
        """network2.py: the number of correctly classified inputs in ``data``.
        Labels may be ints or one-hot vectors; ``convert`` is accepted for
        network2.py's callers and not needed."""
        return self.evaluate(data)

    def total_cost(self, data, lmbda, convert=False, *, regularization=None):
        """network2.py: the mean cost over ``data`` plus the regularisation term
        once: L2 0.5 * (lmbda / len(data)) * sum of squared weights, or L1
        (lmbda / len(data)) * sum |w| when the last run used L1 (or
        ``regularization="l1"``)."""
        lmbda = arguments.real("lmbda", lmbda, low=0.0)
        kind = arguments.choice("regularization", regularization or self.regularization, ("l2", "l1"))
        model = self._params()
        penalty = (lambda n: Regularizer(kind, lmbda, n).penalty(model.parameters(), xp=model.xp)) if lmbda else None
        return total_cost(model, self._prepare(data, "data"), penalty)

    def cost_derivative(self, output_activations, y):
        """The vector of partial derivatives dC_x/da of the quadratic cost."""
        return output_activations - y

    def _redraw(self, initializer):
        rng = self._rng if self._rng is not None else np.random
        drawn = _model.draw(get_initializer(initializer), self.sizes, rng)
        self._install(_model.accept_parameters(self.backend, self._model.parameter_shapes(), drawn))

    def default_weight_initializer(self):
        """network2.py: weights N(0, 1/n_in), biases N(0, 1), redrawn now."""
        self._redraw("default")

    def large_weight_initializer(self):
        """network2.py: weights and biases N(0, 1), as network.py draws them."""
        self._redraw("large")


def _is_single(x, n_in) -> bool:
    """A single book-style sample: a column (n_in, 1) or a flat vector (n_in,)."""
    shape = tuple(getattr(x, "shape", ()))
    return shape in ((n_in, 1), (n_in,))

