"""network3.py, the book's chapter 6 program, without Theano.

A script written for the book's ``network3.py`` (its Python 3 form) runs
unchanged with ``from anynet import network3``::

    training_data, validation_data, test_data = network3.load_data_shared()
    net = Network([ConvPoolLayer(image_shape=(10, 1, 28, 28), filter_shape=(20, 1, 5, 5), poolsize=(2, 2)),
                   FullyConnectedLayer(n_in=20*12*12, n_out=100),
                   SoftmaxLayer(n_in=100, n_out=10)], 10)
    net.SGD(training_data, 60, 10, 0.1, validation_data, test_data)

The book's semantics hold: each layer draws its weights and then its biases
from the global ``numpy.random`` when it is constructed (network3.py's
distributions); the convolution is Theano's (valid, filters flipped);
pooling drops the border; dropout acts on a layer's input while training and
scales its weighted input by ``1 - p`` at evaluation; the cost is the mean
log-likelihood plus ``0.5 * lmbda * sum(w**2) / num_training_batches``;
plain SGD; the mini-batches in stored order, a last partial one dropped;
accuracies are means of per-mini-batch accuracies; SGD prints the book's
lines.  Nothing is printed at import.

Differences, each forced or chosen:

* float32 by default (the book's GPU setting); ``backend=``, ``device=``,
  ``dtype=`` run the same script on NumPy, CuPy, PyTorch or JAX;
* dropout masks come from a NumPy Generator seeded with ``seed`` (default:
  the value network3.py seeded Theano's stream with, so a run's masks are
  the same every time, as the book's were); Theano's MRG stream itself
  cannot be reproduced, so a dropout run's numbers differ from Theano's;
* max-pooling sends a tied window's gradient to its first maximum (torch's
  rule); Theano's gave it to every tied position;
* ``load_data_shared`` reads the pickle without executing it, and puts the
  data on the device once; ``test_mb_predictions`` is not provided.

Training runs through anynet's one loop (:func:`anynet.train.fit.fit`) with
``drop_last=True, lmbda_divisor="mini_batches"`` and the masks drawn per step
(:mod:`anynet.train.dropout`); each of fit's epochs is a span of at most
1,000 mini-batches in stored order (:class:`Spans`), so that the lines are
printed as training reaches them, in the book's order, and no step calls
back into Python.
"""

from __future__ import annotations

import numpy as np

from . import arguments
from .api.book3 import (  # noqa: F401  (the book's names)
    ConvPoolLayer, FullyConnectedLayer, ReLU, Shared, SoftmaxLayer, build_chain, linear, sigmoid, tanh,
)
from .api.printing import Network3Lines
from .datasets.boundary import prepare
from .datasets.devicedata import DeviceData
from .errors import ArgumentError, DataError, TrainingDiverged
from .model.costs import LogLikelihoodCost
from .model.model import Model
from .model.params import Params
from .train.fit import TrainConfig, fit
from .xp.backend import get_backend

EVAL_ROWS = 1000  # evaluation works through this many rows at a time (a multiple of the mini-batch size)


def book_seed() -> int:
    """The seed network3.py gave Theano's random stream: ``RandomState(0).randint(999999)``."""
    return int(np.random.RandomState(0).randint(999999))


class SharedData(tuple):
    """One split as ``load_data_shared`` returns it: the pair ``(x, y)`` of
    :class:`Shared` values (``size(data)`` reads ``x``), carrying its data on
    the device it was loaded for."""

    def __new__(cls, device_data: DeviceData, backend, host):
        pair = super().__new__(cls, (Shared(device_data.x), Shared(device_data.labels)))
        pair.device_data, pair.backend, pair.host = device_data, backend, host
        return pair


def load_data_shared(filename="../data/mnist.pkl.gz", *, backend="numpy", device=None, dtype="float32"):
    """``[training_data, validation_data, test_data]`` from the book's
    ``mnist.pkl.gz`` (or any file in its format: :func:`anynet.datasets.load_mnist_pickle`),
    each put on ``backend``'s ``device`` in ``dtype`` once.  Give the Network
    the same backend, device and dtype, or SGD moves the data again."""
    from .datasets import load_mnist_pickle

    resolved = get_backend(backend, device, dtype)
    dataset = load_mnist_pickle(filename, dtype=resolved.dtype_name)
    splits = zip(("training_data", "validation_data", "test_data"), (dataset.train, dataset.validation, dataset.test))
    return [SharedData(prepare(pair, backend=resolved, n_in=pair[0].shape[1], n_out=10, what=what), resolved, pair)
            for what, pair in splits]


def size(data) -> int:
    """The number of images in ``data`` (a split from ``load_data_shared``)."""
    return data[0].get_value(borrow=True).shape[0]


def dropout_layer(layer, p_dropout, *, rng=None):
    """``layer`` with each value kept with probability ``1 - p_dropout`` and
    set to zero otherwise (no rescaling, as network3.py), the mask drawn on
    the host from ``rng`` (a NumPy Generator; default one seeded as
    :func:`book_seed`, the same mask every call, as the book's fresh stream
    gave)."""
    import array_api_compat

    p_dropout = arguments.real("p_dropout", p_dropout, low=0.0, high=1.0, high_open=True)
    xp = array_api_compat.array_namespace(layer)
    rng = np.random.default_rng(book_seed()) if rng is None else rng
    keep = rng.random(tuple(layer.shape)) >= p_dropout
    return layer * xp.asarray(keep, dtype=layer.dtype, device=array_api_compat.device(layer))


class Network:
    """network3.py's Network: ``layers`` (ConvPoolLayer, FullyConnectedLayer,
    ..., a SoftmaxLayer last) trained ``mini_batch_size`` images at a time.
    ``seed`` seeds the dropout masks (weights come from ``numpy.random``
    when the layers are built: call ``np.random.seed`` before building them)."""

    def __init__(self, layers, mini_batch_size, *, backend="numpy", device=None, dtype="float32", seed=None):
        self.mini_batch_size = arguments.integer("mini_batch_size", mini_batch_size, low=1)
        chain, params, self.n_in = build_chain(layers, self.mini_batch_size)
        self.layers = list(layers)
        resolved = get_backend(backend, device, dtype)
        self.model = Model(chain, cost=LogLikelihoodCost, backend=resolved,
                           params=[Params(resolved.asarray(p.weight), resolved.asarray(p.bias)) for p in params],
                           input_shape=(self.n_in,))
        self.mask_rng = np.random.default_rng(book_seed() if seed is None else seed)

    @property
    def backend(self):
        return self.model.backend

    def SGD(self, training_data, epochs, mini_batch_size, eta, validation_data, test_data, lmbda=0.0):
        """Train with network3.py's mini-batch SGD and print its lines: each
        epoch's validation accuracy, the test accuracy when the validation
        accuracy is the best so far, and the best at the end."""
        m = arguments.integer("mini_batch_size", mini_batch_size, low=1)
        if m != self.mini_batch_size:
            raise ArgumentError(f"SGD's mini_batch_size is {m}, but the Network was built for mini-batches of "
                                f"{self.mini_batch_size} (Network(layers, {self.mini_batch_size}))")
        train = self._on_device(training_data, "training_data")
        validation = self._on_device(validation_data, "validation_data")
        test = None if test_data is None else self._on_device(test_data, "test_data")
        epochs = arguments.integer("epochs", epochs, low=0)
        spans = Spans(epochs, train.n // m, m)  # fit (shuffle on) takes each epoch's rows from it: the stored order
        config = TrainConfig(len(spans.spans), m, eta, lmbda, drop_last=True, lmbda_divisor="mini_batches")
        lines = Network3Lines(spans.spans, lambda: self.accuracy(validation),
                              None if test is None else (lambda: self.accuracy(test)))
        try:
            fit(self.model, train, config, shuffler=spans, callbacks=[lines], mask_rng=self.mask_rng)
        except TrainingDiverged as diverged:
            first, stop, _ = spans.spans[lines.done]
            raise TrainingDiverged(f"training diverged in epoch {first // spans.num_batches} (mini-batches {first} to "
                                   f"{stop - 1}): the weights became NaN or inf at eta {config.eta:g}; try a smaller "
                                   "eta (the parameters before those mini-batches are kept)") from diverged
        finally:
            self._publish()

    def accuracy(self, data: DeviceData) -> float:
        """The mean of the per-mini-batch accuracies over ``data``'s whole
        mini-batches (network3.py's validation and test accuracy)."""
        whole = data.n // self.mini_batch_size * self.mini_batch_size
        step = max(self.mini_batch_size, EVAL_ROWS // self.mini_batch_size * self.mini_batch_size)
        total = None
        for k in range(0, whole, step):
            stop = min(k + step, whole)
            part = DeviceData(data.x[k:stop, ...], data.targets[k:stop, ...], data.labels[k:stop], stop - k)
            count = self.model.correct(part)
            total = count if total is None else total + count
        return int(total) / whole  # one read per evaluation

    def _on_device(self, data, what) -> DeviceData:
        """A split as DeviceData on this network's backend, its images checked against the first layer."""
        if isinstance(data, SharedData):
            same = (data.backend.name, data.backend.device, data.backend.dtype_name) == \
                (self.backend.name, self.backend.device, self.backend.dtype_name)
            data = data.device_data if same else data.host
        if not isinstance(data, DeviceData):
            if not (isinstance(data, (tuple, list)) and len(data) == 2):
                raise DataError(f"{what} must be a split from load_data_shared or an (images, labels) pair")
            data = prepare(tuple(data), backend=self.backend, n_in=_width(data[0]), n_out=10, what=what)
        if data.x.shape[1] != self.n_in:
            raise DataError(f"{what} has images of {data.x.shape[1]} values, but the first layer takes {self.n_in} "
                            f"({_first_words(self.layers[0])})")
        if data.n < self.mini_batch_size:
            raise DataError(f"{what} has {data.n} images, fewer than one mini-batch of {self.mini_batch_size}")
        return data

    def _publish(self) -> None:
        """The trained parameters back on the book's layers (``layer.w``, ``layer.b``)."""
        to_numpy = self.backend.to_numpy
        for layer, (weight, bias) in zip(self.layers, self.model.parameters()):
            layer.set_trained(to_numpy(weight), to_numpy(bias))


class Spans:
    """network3.py's mini-batches, ``epochs`` passes over ``num_batches`` of
    ``m`` rows in stored order, cut into the spans fit trains as its epochs:
    at every 1,000th mini-batch (the book prints its number there) and at
    every epoch's end.  ``spans``: ``(first, stop, epoch)``, the book's
    iterations ``first..stop-1`` and the epoch a span ends (else None);
    ``next_epoch()`` gives fit (as a Shuffler would) the next span's rows."""

    def __init__(self, epochs: int, num_batches: int, m: int):
        self.num_batches, self.m, self.given = num_batches, m, 0
        self.spans = []
        for epoch in range(epochs):
            start, end = epoch * num_batches, (epoch + 1) * num_batches
            cuts = [start, *range(-(-(start + 1) // 1000) * 1000, end, 1000), end]
            self.spans += [(a, b, epoch if b == end else None) for a, b in zip(cuts, cuts[1:])]

    def next_epoch(self) -> np.ndarray:
        first, stop, _ = self.spans[self.given]
        self.given += 1
        offset = first // self.num_batches * self.num_batches
        return np.arange((first - offset) * self.m, (stop - offset) * self.m)


def _width(x) -> int:
    shape = getattr(x, "shape", None)
    if shape is None or len(shape) != 2:
        raise DataError(f"images must be an array of shape (n, pixels), not {type(x).__name__}")
    return int(shape[1])


def _first_words(layer) -> str:
    if isinstance(layer, ConvPoolLayer):
        return f"image_shape {layer.image_shape}"
    return f"n_in={layer.n_in}"


__all__ = [
    "ConvPoolLayer", "FullyConnectedLayer", "Network", "ReLU", "SoftmaxLayer", "dropout_layer", "linear",
    "load_data_shared", "sigmoid", "size", "tanh",
]
