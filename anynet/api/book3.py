"""network3.py's three layer kinds, mapped onto anynet's layer library
(:mod:`anynet.model.layers`); :mod:`anynet.network3` is the face that uses them.

Each book layer draws its parameters from the global ``numpy.random`` when
it is constructed, weights then biases, with network3.py's distributions,
and knows the anynet layers it stands for:

* ``ConvPoolLayer``: ``Conv2D(flip=True)`` (Theano's conv2d: valid, a true
  convolution), ``MaxPool2D`` (the border dropped), ``Activate``.  network3.py
  adds the per-filter bias after the pooling; anynet's Conv2D adds it
  before, which is the same number: ``max(z_i) + b = max(z_i + b)``, and
  rounding is monotone, so even the float results agree (tests/test_network3.py
  checks the gradients against torch computing network3.py's order);
* ``FullyConnectedLayer`` / ``SoftmaxLayer``: ``Dropout(p, inverted=False)``
  on the layer's input (the mask while training, ``1 - p`` at evaluation,
  as network3.py scales the weighted input) when ``p_dropout > 0``, then
  ``Dense`` with the book's ``w`` transposed to anynet's ``(out, in)``.

Shapes are checked when a layer is constructed (against itself) and when
the Network is built (against the layer before it and the mini-batch size),
before anything is drawn or trained; messages name both sides.
"""

from __future__ import annotations

import math

import numpy as np

from .. import arguments
from ..errors import ArgumentError, ArgumentTypeError
from ..model.activations import get_activation
from ..model.layers import Activate, Conv2D, Dense, Dropout, Flatten, MaxPool2D, Params, Reshape



def _apply(name, z):
    import array_api_compat

    return get_activation(name).fn(z, xp=array_api_compat.array_namespace(z))


# network3.py's activation functions, on arrays of any backend; a layer's activation_fn is one of these
def sigmoid(z):
    """1 / (1 + exp(-z))."""
    return _apply("sigmoid", z)


def tanh(z):
    """The hyperbolic tangent."""
    return _apply("tanh", z)


def ReLU(z):
    """max(0, z)."""
    return _apply("relu", z)


def linear(z):
    """z itself."""
    return z


ACTIVATIONS = {"sigmoid": sigmoid, "tanh": tanh, "ReLU": ReLU, "linear": linear}
_ANYNET_NAMES = {"sigmoid": "sigmoid", "tanh": "tanh", "ReLU": "relu", "linear": "linear"}


class Shared:
    """A value in the place of a Theano shared variable: ``get_value()``
    returns a host NumPy copy (``borrow=True``: the array itself, on its
    device), ``shape`` its shape."""

    def __init__(self, value):
        self.value = value

    def get_value(self, borrow=False):
        from ..xp.backend import to_numpy

        return self.value if borrow else np.array(to_numpy(self.value))

    @property
    def shape(self) -> tuple:
        return tuple(self.value.shape)


def activation_name(fn) -> str:
    """anynet's name for one of network3's activation functions."""
    for name, known in ACTIVATIONS.items():
        if fn is known:
            return _ANYNET_NAMES[name]
    raise ArgumentTypeError(f"activation_fn must be one of network3's {', '.join(ACTIVATIONS)}, not {fn!r}")


def _shape(name: str, value, length: int) -> tuple:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != length:
        raise ArgumentError(f"{name} must be a tuple of {length} positive integers, not {value!r}")
    return tuple(arguments.integer(f"{name}[{i}]", v, low=1) for i, v in enumerate(value))


def _p_dropout(value) -> float:
    return arguments.real("p_dropout", value, low=0.0, high=1.0, high_open=True)


class ConvPoolLayer:
    """A convolution of ``filter_shape = (filters, feature maps, height,
    width)`` over images of ``image_shape = (mini-batch size, feature maps,
    height, width)``, max-pooling of ``poolsize``, and ``activation_fn``:
    ``activation_fn(pool(conv(x, w)) + b)``.  Draws w ~ N(0, 1/n_out) with
    n_out = filters * height * width // pool area (network3.py's count, in
    the Python 2 integer division it ran under), then b ~ N(0, 1) per filter."""

    def __init__(self, filter_shape, image_shape, poolsize=(2, 2), activation_fn=sigmoid):
        self.filter_shape = _shape("filter_shape", filter_shape, 4)
        self.image_shape = _shape("image_shape", image_shape, 4)
        self.poolsize = _shape("poolsize", poolsize, 2)
        self.activation_fn = activation_fn
        self.activation = activation_name(activation_fn)
        filters, maps, kh, kw = self.filter_shape
        _, image_maps, h, w = self.image_shape
        if maps != image_maps:
            raise ArgumentError(f"filter_shape {self.filter_shape} filters {maps} feature maps, but image_shape "
                                f"{self.image_shape} has {image_maps}")
        if kh > h or kw > w:
            raise ArgumentError(f"filter_shape {self.filter_shape}: the {kh}x{kw} filter is larger than the "
                                f"{h}x{w} images of image_shape {self.image_shape}")
        ph, pw = self.poolsize
        if ph > h - kh + 1 or pw > w - kw + 1:
            raise ArgumentError(f"poolsize {self.poolsize} is larger than the {h - kh + 1}x{w - kw + 1} "
                                f"convolved images (image_shape {self.image_shape}, filter_shape {self.filter_shape})")
        n_out = filters * kh * kw // (ph * pw)
        self.w = Shared(np.random.normal(loc=0, scale=np.sqrt(1.0 / n_out), size=self.filter_shape))
        self.b = Shared(np.random.normal(loc=0, scale=1.0, size=(filters,)))
        self.params = [self.w, self.b]

    @property
    def input_shape(self) -> tuple:
        return self.image_shape[1:]

    @property
    def output_shape(self) -> tuple:
        filters, _, kh, kw = self.filter_shape
        _, _, h, w = self.image_shape
        return (filters, (h - kh + 1) // self.poolsize[0], (w - kw + 1) // self.poolsize[1])

    def layers(self, previous) -> list:
        """anynet's layers for an input of per-sample shape ``previous``."""
        filters, maps, kh, kw = self.filter_shape
        if math.prod(previous) != math.prod(self.input_shape):
            raise ArgumentError(f"image_shape {self.image_shape} takes {math.prod(self.input_shape)} values per "
                                f"image, but the layer before it gives {math.prod(previous)} {_shape_words(previous)}")
        reshape = [] if tuple(previous) == self.input_shape else [Reshape(self.input_shape, input_ndim=len(previous))]
        conv = [Conv2D(maps, filters, (kh, kw), flip=True), MaxPool2D(self.poolsize)]
        return reshape + conv + ([] if self.activation == "linear" else [Activate(self.activation)])

    def anynet_params(self) -> Params:
        return Params(self.w.value, self.b.value)

    def set_trained(self, weight, bias) -> None:
        self.w, self.b = Shared(weight), Shared(bias)
        self.params = [self.w, self.b]


class FullyConnectedLayer:
    """``n_in`` inputs to ``n_out`` units: ``activation_fn(x @ w + b)``, with
    dropout of ``p_dropout`` on its input.  Draws w ~ N(0, 1/n_out) of shape
    ``(n_in, n_out)``, then b ~ N(0, 1)."""

    softmax = False

    def __init__(self, n_in, n_out, activation_fn=sigmoid, p_dropout=0.0):
        self.n_in = arguments.integer("n_in", n_in, low=1)
        self.n_out = arguments.integer("n_out", n_out, low=1)
        self.p_dropout = _p_dropout(p_dropout)
        self.activation_fn = activation_fn
        self.activation = activation_name(activation_fn)
        self._draw()

    def _draw(self):
        self.w = Shared(np.random.normal(loc=0.0, scale=np.sqrt(1.0 / self.n_out), size=(self.n_in, self.n_out)))
        self.b = Shared(np.random.normal(loc=0.0, scale=1.0, size=(self.n_out,)))
        self.params = [self.w, self.b]

    @property
    def output_shape(self) -> tuple:
        return (self.n_out,)

    def layers(self, previous) -> list:
        """anynet's layers for an input of per-sample shape ``previous``."""
        if math.prod(previous) != self.n_in:
            raise ArgumentError(f"{type(self).__name__} takes n_in={self.n_in} inputs, but the layer before it "
                                f"gives {math.prod(previous)} {_shape_words(previous)}")
        flatten = [Flatten(len(previous))] if len(previous) > 1 else []
        dropout = [Dropout(self.p_dropout, inverted=False)] if self.p_dropout > 0 else []
        return flatten + dropout + [Dense(self.n_in, self.n_out, "softmax" if self.softmax else self.activation)]

    def anynet_params(self) -> Params:
        return Params(self.w.value.T, self.b.value.reshape(-1, 1))

    def set_trained(self, weight, bias) -> None:
        self.w, self.b = Shared(weight.T), Shared(bias.reshape(-1))
        self.params = [self.w, self.b]


class SoftmaxLayer(FullyConnectedLayer):
    """The softmax output layer, ``softmax(x @ w + b)``, with dropout of
    ``p_dropout`` on its input; w and b start at zero (nothing is drawn).
    Its cost is the mean log-likelihood of the mini-batch."""

    softmax = True

    def __init__(self, n_in, n_out, p_dropout=0.0):
        super().__init__(n_in, n_out, p_dropout=p_dropout)

    def _draw(self):
        self.w = Shared(np.zeros((self.n_in, self.n_out)))
        self.b = Shared(np.zeros((self.n_out,)))
        self.params = [self.w, self.b]


def _shape_words(shape) -> str:
    shape = tuple(shape)
    return "values" if len(shape) == 1 else f"(images of shape {shape})"


def build_chain(book_layers, mini_batch_size: int):
    """``(layers, params, n_in)``: anynet's layers for the book's list, the
    parameters (host arrays) of each anynet layer that has any, and the
    number of values per input image; every shape checked against its
    neighbours and ``mini_batch_size`` first."""
    book_layers = list(book_layers)
    if not book_layers:
        raise ArgumentError("a Network needs at least one layer")
    for i, layer in enumerate(book_layers):
        if not isinstance(layer, (ConvPoolLayer, FullyConnectedLayer)):
            raise ArgumentTypeError(f"layer {i} is a {type(layer).__name__}; network3's layers are ConvPoolLayer, "
                                    "FullyConnectedLayer and SoftmaxLayer")
        if isinstance(layer, ConvPoolLayer) and layer.image_shape[0] != mini_batch_size:
            raise ArgumentError(f"layer {i}'s image_shape {layer.image_shape} is for mini-batches of "
                                f"{layer.image_shape[0]}, but the Network's mini_batch_size is {mini_batch_size}")
    if not isinstance(book_layers[-1], SoftmaxLayer):
        raise ArgumentError(f"the last layer must be a SoftmaxLayer (its cost is the log-likelihood), "
                            f"not a {type(book_layers[-1]).__name__}")
    first = book_layers[0]
    n_in = math.prod(first.input_shape) if isinstance(first, ConvPoolLayer) else first.n_in
    layers, params, shape = [], [], (n_in,)
    for i, layer in enumerate(book_layers):
        try:
            layers += layer.layers(shape)
        except ArgumentError as error:
            raise ArgumentError(f"layer {i}: {error}") from None
        params.append(layer.anynet_params())
        shape = layer.output_shape
    return layers, params, n_in
