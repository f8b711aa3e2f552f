"""Building the Model of a :class:`anynet.Network`: the book's network from
its layer widths, or any list of layers (:mod:`anynet.model.layers`), and
the generator its dropout masks come from."""

from __future__ import annotations

import numpy as np

from ..errors import ArgumentError, ArgumentTypeError
from ..model import model as _model
from ..model.costs import get_cost
from ..model.layers import Dense, Dropout, Layer, chain
from ..model.memory import check_memory


def build(sizes, cost, *, backend, rng, activation, output_activation, initializer, input_shape):
    """The Model of ``Network(sizes, cost, ...)``: ``sizes`` is the book's
    list of layer widths, or a list of layers (then the activations and
    initializers are the layers' own, and ``input_shape`` may say each
    sample's shape where the first layer does not)."""
    if is_layer_list(sizes):
        if activation != "sigmoid" or output_activation is not None or initializer is not None:
            raise ArgumentError("a Network of layers takes its activations and initializers from its layers; "
                                "drop activation=, output_activation= and initializer=")
        return build_layers(sizes, _layer_cost(cost, sizes), input_shape=input_shape, backend=backend, rng=rng)
    if input_shape is not None:
        raise ArgumentError("input_shape is for a Network of layers; the book's network takes sizes[0] values")
    return _model.build(sizes, cost, backend=backend, activation=activation,
                        output_activation=output_activation, initializer=initializer, rng=rng)


def build_layers(layers, cost, *, input_shape, backend, rng=None) -> "_model.Model":
    """A Model of ``layers`` (anynet.model.layers objects; the last a Dense
    output layer the ``cost`` accepts) for samples of ``input_shape`` (rows
    of ``prod(input_shape)`` values: an image network starts with a
    Reshape), its parameters drawn layer by layer from ``rng`` (a NumPy
    Generator, or None for the global ``numpy.random``)."""
    layers = list(layers)
    if not layers or not all(isinstance(layer, Layer) for layer in layers):
        raise ArgumentTypeError("layers must be a non-empty list of anynet.model.layers objects "
                                "(Dense, Conv2D, MaxPool2D, Dropout, Activate, Flatten, Reshape)")
    if not isinstance(layers[-1], Dense):
        raise ArgumentError(f"the output layer must be a Dense layer, not {layers[-1]!r}")
    cost_class = get_cost(cost)
    cost_class.check_output(layers[-1].act)
    model = _model.Model(layers, cost=cost_class, backend=backend, input_shape=input_shape)
    check_memory(model.layers, model.input_shape, backend)
    drawn = [p for p in chain.init_params(model.layers, np.random if rng is None else rng, model.input_shape)
             if p is not None]
    model.set_parameters(_model.accept_parameters(backend, model.parameter_shapes(), drawn))
    return model


def is_layer_list(value) -> bool:
    """Whether ``value`` (Network's first argument) is a list of layers rather than the book's layer widths."""
    return isinstance(value, (list, tuple)) and bool(value) and isinstance(value[0], Layer)


def _layer_cost(cost, layers):
    """A layer network's cost: the one given, else the log-likelihood after a
    softmax output and the quadratic cost otherwise (as Network(sizes))."""
    if cost is not None:
        return cost
    return "log-likelihood" if getattr(layers[-1], "activation", None) == "softmax" else "quadratic"


def mask_generator(model, seed):
    """The NumPy Generator a network's dropout masks are drawn from, kept
    across its runs: one of its own from ``seed`` (apart from the shuffles'),
    else from the global ``numpy.random``; None for a network without dropout."""
    if not any(isinstance(layer, Dropout) and layer.p > 0 for layer in model.layers):
        return None
    return np.random.default_rng([seed, 1] if seed is not None else np.random.randint(2**31))

