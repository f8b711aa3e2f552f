"""The ``Network`` of Nielsen's network.py and network2.py, on any array backend.

State (parameters, the backend, the random generator) lives here; the math is
in :mod:`anynet.backprop` and :mod:`anynet.optimizers` as pure functions.
"""

from __future__ import annotations

import math
import numbers
import random
import time
from dataclasses import dataclass, field

import numpy as np

from . import backprop as _math
from .activations import HIDDEN_ACTIVATIONS, get_activation
from .backend import get_backend, is_array, to_numpy
from .costs import QuadraticCost, get_cost
from .initializers import get_initializer
from .inputs import column, prepare
from .optimizers import REGULARIZATIONS, Regularizer, SGD as PlainSGD, get_optimizer
from .schedules import DivideOnPlateau

# Monitoring evaluates a dataset in chunks of this many rows: whole-batch
# matrix work, bounded memory for wide networks.
_EVAL_CHUNK = 10_000


@dataclass
class EpochReport:
    """What ``SGD`` measured in one epoch; passed to ``callback``."""

    epoch: int
    eta: float
    seconds: float
    evaluation_cost: float | None = None
    evaluation_accuracy: int | None = None
    n_evaluation: int | None = None
    training_cost: float | None = None
    training_accuracy: int | None = None
    n_training: int = 0
    extra: dict = field(default_factory=dict)


def _check_sizes(sizes):
    if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__len__"):
        raise TypeError(f"sizes must be a list of layer widths such as [784, 30, 10], not {sizes!r}")
    if len(sizes) < 2:
        raise ValueError(f"a network needs at least two layers (input and output), got sizes={list(sizes)}")
    for size in sizes:
        if isinstance(size, bool) or not isinstance(size, numbers.Integral):
            raise TypeError(f"layer sizes must be integers, got {size!r} in {list(sizes)}")
        if size < 1:
            raise ValueError(f"layer sizes must be positive, got {size} in {list(sizes)}")
    return [int(s) for s in sizes]


def _check_real(name, value, *, low=None, strict_low=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, not {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, not {value!r}")
    if low is not None and (value < low or (strict_low and value == low)):
        raise ValueError(f"{name} must be {'>' if strict_low else '>='} {low}, not {value!r}")
    return float(value)


def _check_int(name, value, *, low):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, not {value!r}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, not {value!r}")
    return int(value)


class Network:
    """A feedforward network of fully connected layers trained by backpropagation
    and mini-batch stochastic gradient descent, as in the book.

    ``Network(sizes)`` is network.py's: sigmoid layers, quadratic cost, weights
    and biases N(0, 1).  ``Network(sizes, cost=CrossEntropyCost)`` is
    network2.py's, with its N(0, 1/n_in) weights.  Keyword-only extras:

    backend, device, dtype
        where the arrays live: "numpy" (default), "cupy", "torch", "jax",
        "array_api_strict", a namespace module or an array; what that library
        calls a device; "float64" (the default, unless a Backend object with
        its own dtype is given) or "float32".
    seed
        an int seeds a NumPy Generator on the host for initial weights and
        shuffling, so every backend gets bit-identical weights and batches.
        None uses the global ``numpy.random`` and ``random`` states, as the
        book's code does.
    activation, output_activation
        hidden-layer activation ("sigmoid", "tanh", "relu"; or a list with one
        per hidden layer) and the output layer's ("sigmoid", "tanh", "relu",
        "softmax"); the output default is softmax for the log-likelihood cost,
        else sigmoid.
    initializer
        "large" (network.py's), "default" (network2.py's), "he", "glorot";
        None picks the book's: "large" without a ``cost``, "default" with one.
    """

    def __init__(
        self,
        sizes,
        cost=None,
        *,
        backend="numpy",
        device=None,
        dtype=None,
        seed=None,
        activation="sigmoid",
        output_activation=None,
        initializer=None,
    ):
        sizes = _check_sizes(sizes)
        cost_class = get_cost(QuadraticCost if cost is None else cost)
        activations = self._build_activations(sizes, cost_class, activation, output_activation)
        if initializer is None:
            initializer = "large" if cost is None else "default"
        init = get_initializer(initializer)
        if seed is not None:
            seed = _check_int("seed", seed, low=0)
        self._backend = get_backend(backend, device, dtype)
        self.num_layers = len(sizes)
        self.sizes = sizes
        self.cost = cost_class
        self.activations = activations
        self._seed = seed
        self._rng = np.random.default_rng(seed) if seed is not None else None
        self._init_parameters(init)

    @staticmethod
    def _build_activations(sizes, cost_class, activation, output_activation):
        hidden_count = len(sizes) - 2
        if isinstance(activation, (list, tuple)):
            if len(activation) != hidden_count:
                raise ValueError(
                    f"activation lists one activation per hidden layer: {hidden_count} expected, got {len(activation)}"
                )
            hidden = [get_activation(a) for a in activation]
        else:
            hidden = [get_activation(activation) for _ in range(hidden_count)]
        for act in hidden:
            if act.name not in HIDDEN_ACTIVATIONS:
                raise ValueError(f"hidden layers cannot use {act.name}; choose one of {', '.join(HIDDEN_ACTIVATIONS)}")
        if output_activation is None:
            output_activation = "softmax" if cost_class.output_activations == ("softmax",) else "sigmoid"
        output = get_activation(output_activation)
        cost_class.check_output(output)
        return hidden + [output]

    # -- the backend and parameters --------------------------------------

    @property
    def backend(self):
        """The :class:`~anynet.backend.Backend` (namespace, device, dtype) this network runs on."""
        return self._backend

    @property
    def seed(self):
        """The int seed of the host random generator, or None for the global state."""
        return self._seed

    @property
    def weights(self):
        """List of weight matrices, one ``(sizes[l+1], sizes[l])`` array per layer."""
        return self._weights

    @weights.setter
    def weights(self, values):
        shapes = [(y, x) for x, y in zip(self.sizes[:-1], self.sizes[1:])]
        self._set(self._accept_parameters(values, shapes, "weights"), self._biases)

    @property
    def biases(self):
        """List of bias columns, one ``(sizes[l+1], 1)`` array per layer."""
        return self._biases

    @biases.setter
    def biases(self, values):
        self._set(self._weights, self._accept_parameters(values, [(y, 1) for y in self.sizes[1:]], "biases"))

    def _accept_parameters(self, values, shapes, what):
        values = list(values)
        if len(values) != len(shapes):
            raise ValueError(f"{what} needs {len(shapes)} arrays (one per layer), got {len(values)}")
        accepted = []
        for i, (value, shape) in enumerate(zip(values, shapes)):
            host = to_numpy(value) if is_array(value) and not self._backend.owns(value) else value
            if self._backend.owns(host):
                self._backend.check_device(host, f"{what}[{i}]")
            array = self._backend.asarray(host, copy=True)  # later writes to the user's array can't reach the network
            if tuple(array.shape) != shape:
                raise ValueError(f"{what}[{i}] must have shape {shape}, got {tuple(array.shape)}")
            if not bool(self._backend.xp.all(self._backend.xp.isfinite(array))):
                raise ValueError(f"{what}[{i}] contains NaN or inf")
            accepted.append(array)
        return accepted

    def _set(self, weights, biases):
        """Install parameters anynet made or checked, and remember them."""
        self._weights, self._biases = weights, biases
        self._checked = tuple(weights) + tuple(biases)

    def _params(self):
        """The parameters, re-validated if a user replaced an item of the lists."""
        current = self._weights + self._biases
        if len(current) != len(self._checked) or any(p is not q for p, q in zip(current, self._checked)):
            self.weights = list(self._weights)
            self.biases = list(self._biases)
        return self._weights, self._biases

    def _init_parameters(self, init):
        rng = self._rng if self._rng is not None else np.random
        drawn = init(self.sizes, rng)
        if not (isinstance(drawn, (tuple, list)) and len(drawn) == 2):
            raise TypeError(f"an initializer must return (biases, weights) lists, not {type(drawn).__name__}")
        self._set([], [])
        self.biases, self.weights = drawn

    def default_weight_initializer(self):
        """network2.py: weights N(0, 1/n_in), biases N(0, 1), redrawn now."""
        self._init_parameters(get_initializer("default"))

    def large_weight_initializer(self):
        """network2.py: weights and biases N(0, 1), as network.py draws them."""
        self._init_parameters(get_initializer("large"))

    # -- the seed's surface -------------------------------------------------

    def feedforward(self, a):
        """Return the output of the network for input column ``a`` (``(sizes[0], 1)``;
        several columns ``(sizes[0], k)`` give ``(sizes[-1], k)``)."""
        weights, biases = self._params()
        rows = column(a, backend=self._backend, size=self.sizes[0], what="feedforward input")
        with self._backend.errstate():
            out = _math.feedforward(weights, biases, rows, activations=self.activations, xp=self._backend.xp)
        if len(getattr(a, "shape", ())) == 1:
            return out[0, ...]
        return out.T

    def backprop(self, x, y):
        """Return ``(nabla_b, nabla_w)``, the gradient of the cost for one sample
        ``(x, y)`` (or summed over columns), layer by layer in the shapes of
        ``biases`` and ``weights``."""
        weights, biases = self._params()
        data = self._prepare([(x, y)], "backprop") if _is_single(x, self.sizes[0]) else None
        if data is None:
            rows = column(x, backend=self._backend, size=self.sizes[0], what="backprop x")
            targets = column(y, backend=self._backend, size=self.sizes[-1], what="backprop y")
            if targets.shape[0] != rows.shape[0]:
                raise ValueError(f"backprop: x has {rows.shape[0]} columns but y has {targets.shape[0]}")
        else:
            rows, targets = data.x, data.targets
        with self._backend.errstate():
            return _math.backprop(
                weights, biases, rows, targets, activations=self.activations, cost=self.cost, xp=self._backend.xp
            )

    def update_mini_batch(self, mini_batch, eta, lmbda=0.0, n=None):
        """Apply one gradient-descent step for ``mini_batch`` (a list of
        ``(x, y)`` pairs or arrays ``(X, y)``) with learning rate ``eta``;
        with ``lmbda`` and the training-set size ``n``, L2 weight decay as in
        network2.py."""
        eta = _check_real("eta", eta, low=0.0, strict_low=True)
        lmbda = _check_real("lmbda", lmbda, low=0.0)
        if lmbda and n is None:
            raise ValueError("update_mini_batch with lmbda > 0 needs n, the size of the training set")
        reg = Regularizer("l2", lmbda, _check_int("n", n, low=1)) if lmbda else None
        self._params()
        batch = self._prepare(mini_batch, "mini_batch")
        with self._backend.errstate():
            self._step(batch.x, batch.targets, eta, reg, PlainSGD(), None)

    def SGD(
        self,
        training_data,
        epochs,
        mini_batch_size,
        eta,
        lmbda=0.0,
        evaluation_data=None,
        monitor_evaluation_cost=False,
        monitor_evaluation_accuracy=False,
        monitor_training_cost=False,
        monitor_training_accuracy=False,
        *,
        test_data=None,
        regularization="l2",
        optimizer="sgd",
        eta_schedule=None,
        early_stopping=None,
        verbose=True,
        progress=False,
        callback=None,
    ):
        """Train with mini-batch stochastic gradient descent.

        The seed's call ``SGD(training_data, epochs, mini_batch_size, eta,
        test_data=None)`` prints ``Epoch j : correct / n`` after each epoch.
        network2.py's call adds ``lmbda`` (regularisation), ``evaluation_data``
        and the four ``monitor_*`` flags, and returns the four per-epoch lists
        ``(evaluation_cost, evaluation_accuracy, training_cost,
        training_accuracy)``.

        Keyword-only: ``regularization`` "l2" or "l1"; ``optimizer`` "sgd",
        "momentum", "adam" or an Optimizer; ``eta_schedule`` a
        :class:`DivideOnPlateau` (or True for the book's: halve after 10
        epochs without improvement, stop at eta/128); ``early_stopping=n``
        stops after ``n`` epochs without a better evaluation accuracy and
        restores the best weights; ``verbose`` prints the book's lines;
        ``progress`` shows a progress bar within each epoch; ``callback`` is
        called with an :class:`EpochReport` after each epoch.
        """
        if lmbda is not None and not isinstance(lmbda, numbers.Real):
            # The seed's positional call SGD(data, epochs, m, eta, test_data).
            if test_data is not None:
                raise TypeError("SGD got test_data both positionally and by keyword")
            lmbda, test_data = 0.0, lmbda
        epochs = _check_int("epochs", epochs, low=0)
        mini_batch_size = _check_int("mini_batch_size", mini_batch_size, low=1)
        eta = _check_real("eta", eta, low=0.0, strict_low=True)
        lmbda = _check_real("lmbda", 0.0 if lmbda is None else lmbda, low=0.0)
        if regularization not in REGULARIZATIONS:
            raise ValueError(f"unknown regularization {regularization!r}; choose one of {', '.join(REGULARIZATIONS)}")
        optimizer = get_optimizer(optimizer)
        if eta_schedule is True:
            eta_schedule = DivideOnPlateau()
        if eta_schedule is not None and not isinstance(eta_schedule, DivideOnPlateau):
            raise TypeError(f"eta_schedule must be a DivideOnPlateau or True, not {eta_schedule!r}")
        if early_stopping is not None:
            early_stopping = _check_int("early_stopping", early_stopping, low=1)
        if test_data is not None and evaluation_data is not None:
            raise ValueError("give test_data (network.py) or evaluation_data (network2.py), not both")
        seed_style = test_data is not None or not any(
            (monitor_evaluation_cost, monitor_evaluation_accuracy, monitor_training_cost, monitor_training_accuracy)
        )
        evaluation_data = test_data if test_data is not None else evaluation_data
        if (eta_schedule is not None or early_stopping is not None) and evaluation_data is None:
            raise ValueError("eta_schedule and early_stopping need evaluation_data to measure accuracy on")

        self._params()
        train = self._prepare(training_data, "training_data")
        evald = self._prepare(evaluation_data, "evaluation_data") if evaluation_data is not None else None
        need_eval_accuracy = evald is not None and (
            seed_style or monitor_evaluation_accuracy or eta_schedule is not None or early_stopping is not None
        )
        reg = Regularizer(regularization, lmbda, train.n) if lmbda else None
        xp = self._backend.xp
        state = optimizer.init(self._weights, self._biases, xp=xp)
        schedule = eta_schedule.start(eta) if eta_schedule is not None else None
        best = (-1, None)  # (accuracy, parameters) for early stopping
        since_best = 0
        history = ([], [], [], [])
        order = list(range(train.n)) if self._rng is None else np.arange(train.n)
        for j in range(epochs):
            start = time.perf_counter()
            with self._backend.errstate():
                state = self._epoch(train, order, mini_batch_size, eta, reg, optimizer, state, progress, j)
                report = EpochReport(epoch=j, eta=eta, seconds=0.0, n_training=train.n)
                if monitor_training_cost:
                    report.training_cost = self._total_cost(train, lmbda, regularization)
                    history[2].append(report.training_cost)
                if monitor_training_accuracy:
                    report.training_accuracy = self._correct(train)
                    history[3].append(report.training_accuracy)
                if evald is not None:
                    report.n_evaluation = evald.n
                    if monitor_evaluation_cost:
                        report.evaluation_cost = self._total_cost(evald, lmbda, regularization)
                        history[0].append(report.evaluation_cost)
                    if need_eval_accuracy:
                        report.evaluation_accuracy = self._correct(evald)
                        if monitor_evaluation_accuracy or seed_style:
                            history[1].append(report.evaluation_accuracy)
            report.seconds = time.perf_counter() - start
            if verbose:
                self._print_epoch(report, seed_style)
            if callback is not None:
                callback(report)
            stop = False
            if early_stopping is not None:
                if report.evaluation_accuracy > best[0]:
                    best = (report.evaluation_accuracy, (list(self._weights), list(self._biases)))
                    since_best = 0
                else:
                    since_best += 1
                    stop = since_best >= early_stopping
            if schedule is not None:
                eta, schedule_stop = schedule.update(report.evaluation_accuracy)
                stop = stop or schedule_stop
            if stop:
                break
        if early_stopping is not None and best[1] is not None:
            self._set(*best[1])
        return history

    def to_device(self, data):
        """Validate ``data`` (either form) and move it to this network's device
        once; the result can be passed to ``SGD``, ``evaluate``, ``accuracy``
        and ``total_cost`` in place of the data, with no further transfer."""
        return self._prepare(data, "data")

    def evaluate(self, test_data):
        """Return the number of inputs in ``test_data`` for which the network's
        most active output neuron is the correct label."""
        self._params()
        return self._correct(self._prepare(test_data, "test_data"))

    def accuracy(self, data, convert=False):
        """network2.py: the number of correctly classified inputs in ``data``.
        Labels may be ints or one-hot vectors; ``convert`` is accepted for
        network2.py's callers and not needed."""
        self._params()
        return self._correct(self._prepare(data, "data"))

    def total_cost(self, data, lmbda, convert=False):
        """network2.py: the mean cost over ``data`` plus the L2 penalty
        0.5 * (lmbda / len(data)) * sum of squared weights."""
        lmbda = _check_real("lmbda", lmbda, low=0.0)
        self._params()
        return self._total_cost(self._prepare(data, "data"), lmbda)

    def save(self, filename):
        """Save the network to ``filename`` (a pickle-free ``.npz`` checkpoint,
        see :mod:`anynet.checkpoint`); ``anynet.load(filename)`` reads it back
        onto any backend."""
        from .checkpoint import save

        save(self, filename)

    def cost_derivative(self, output_activations, y):
        """The vector of partial derivatives dC_x/da of the quadratic cost."""
        return output_activations - y

    # -- internals ------------------------------------------------------------

    def _prepare(self, data, what):
        return prepare(data, backend=self._backend, n_in=self.sizes[0], n_out=self.sizes[-1], what=what)

    def _step(self, x, y, eta, reg, optimizer, state):
        xp = self._backend.xp
        nabla_b, nabla_w = _math.backprop(
            self._weights, self._biases, x, y, activations=self.activations, cost=self.cost, xp=xp
        )
        weights, biases, state = optimizer.step(
            self._weights, self._biases, nabla_w, nabla_b, state, eta=eta, m=x.shape[0], reg=reg, xp=xp
        )
        self._set(weights, biases)
        return state

    def _shuffle(self, order):
        """Shuffle the host list ``order`` in place, as the book's SGD shuffles
        its training list (each epoch continues from the last one's order),
        and return it as a device index array."""
        if self._rng is None:
            random.shuffle(order)  # the book's random.shuffle: same sequence
        else:
            self._rng.shuffle(order)
        return self._backend.asarray(np.asarray(order), dtype=self._backend.index_dtype)

    def _epoch(self, train, order, m, eta, reg, optimizer, state, progress, epoch):
        xp = self._backend.xp
        order = self._shuffle(order)
        starts = range(0, train.n, m)
        if progress:
            from tqdm.auto import tqdm

            starts = tqdm(starts, desc=f"epoch {epoch}", unit="batch", leave=False)
        for k in starts:
            idx = order[k : min(k + m, train.n)]  # the standard leaves out-of-range stops undefined
            state = self._step(xp.take(train.x, idx, axis=0), xp.take(train.targets, idx, axis=0), eta, reg, optimizer, state)
        return state

    def _chunks(self, data):
        for k in range(0, data.n, _EVAL_CHUNK):
            stop = min(k + _EVAL_CHUNK, data.n)
            yield data.x[k:stop, ...], data.targets[k:stop, ...], data.labels[k:stop]

    def _correct(self, data) -> int:
        xp = self._backend.xp
        total = 0
        with self._backend.errstate():
            for x, _, labels in self._chunks(data):
                out = _math.feedforward(self._weights, self._biases, x, activations=self.activations, xp=xp)
                hits = xp.argmax(out, axis=1) == labels
                total = total + xp.sum(xp.astype(hits, self._backend.index_dtype))
        return int(total)

    def _total_cost(self, data, lmbda, regularization="l2") -> float:
        xp = self._backend.xp
        total = 0.0
        with self._backend.errstate():
            for x, targets, _ in self._chunks(data):
                z, out = _math.output_layer(self._weights, self._biases, x, activations=self.activations, xp=xp)
                total = total + self.cost.total(z, out, targets, xp=xp)
            total = total / data.n
            if lmbda:
                total = total + Regularizer(regularization, lmbda, data.n).penalty(self._weights, xp=xp)
        return float(total)

    def _print_epoch(self, report, seed_style):
        j = report.epoch
        if seed_style:
            if report.evaluation_accuracy is not None:
                print("Epoch {} : {} / {}".format(j, report.evaluation_accuracy, report.n_evaluation))
            else:
                print("Epoch {} complete".format(j))
            return
        print("Epoch %s training complete" % j)
        if report.training_cost is not None:
            print("Cost on training data: {}".format(report.training_cost))
        if report.training_accuracy is not None:
            print("Accuracy on training data: {} / {}".format(report.training_accuracy, report.n_training))
        if report.evaluation_cost is not None:
            print("Cost on evaluation data: {}".format(report.evaluation_cost))
        if report.evaluation_accuracy is not None:
            print("Accuracy on evaluation data: {} / {}".format(report.evaluation_accuracy, report.n_evaluation))
        print()

    def __repr__(self) -> str:
        acts = ",".join(a.name for a in self.activations)
        return f"Network({self.sizes}, cost={self.cost.__name__}, activations=[{acts}], backend={self._backend})"


def _is_single(x, n_in) -> bool:
    """A single book-style sample: a column (n_in, 1) or a flat vector (n_in,)."""
    shape = tuple(getattr(x, "shape", ()))
    return shape in ((n_in, 1), (n_in,))
