"""A layer spec: a network of any layers (:mod:`anynet.model.layers`) as one
string of comma-separated items (``anynet train --layers SPEC``, ``anynet
check --layers SPEC``, the scikit-learn estimators' ``layers=``), each
layer's shapes following from the one before:

* ``image:C:H:W`` (first only; default ``image:1:28:28``, a 28x28 grey image
  per row of 784 values): the per-sample image the rows are reshaped to;
* ``conv:F:K`` F filters of K x K (valid, stride 1), ``pool:P`` P x P
  max-pooling, ``sigmoid`` / ``tanh`` / ``relu`` an activation,
  ``dropout:P`` dropout of probability P (inverted);
* ``dense:N[:ACTIVATION]`` N units (flattening what comes before it), sigmoid
  unless named; the last item is the output layer (``dense:10:softmax``).

For example ``conv:20:5,pool:2,relu,dense:100:relu,dropout:0.5,dense:10:softmax``
is chapter 6's network with ReLU and dropout."""

from __future__ import annotations

import math

from ..errors import ArgumentError, ArgumentTypeError
from ..model.activations import HIDDEN_ACTIVATIONS
from ..model.layers import Activate, Conv2D, Dense, Dropout, Flatten, MaxPool2D, Reshape


def parse(spec: str, *, image=(1, 28, 28), name: str = "--layers") -> list:
    """The layers ``spec`` describes (see the module's docstring), starting
    with a Reshape of each row to the spec's ``image:`` item, else to
    ``image`` (a shape: ``(64,)`` keeps rows flat); a bad item is refused
    naming it (and the spec as ``name``), and shapes that do not chain name
    both sides."""
    if not isinstance(spec, str):
        raise ArgumentTypeError(f"{name} must be a string of items such as conv:20:5,pool:2,relu,dense:10:softmax, "
                                f"not {type(spec).__name__}")
    items = [item.strip() for item in spec.split(",") if item.strip()]
    if not items:
        raise ArgumentError(f"{name} is empty; give items such as conv:20:5,pool:2,relu,dense:10:softmax")
    if items[0].startswith("image:"):
        image = tuple(_ints(items.pop(0), 3, name))
    layers, shape = [Reshape(tuple(image))], tuple(image)
    for item in items:
        try:
            made = _layers(item, shape, name)
        except ArgumentError as error:  # a layer's own check (a probability, an activation): name the item
            raise (error if repr(item) in str(error) else ArgumentError(f"{name} item {item!r}: {error}")) from None
        for layer in made:
            try:
                shape = layer.output_shape(shape)
            except ArgumentError as error:
                raise ArgumentError(f"{name} item {item!r}: {error}") from None
            layers.append(layer)
    if not isinstance(layers[-1], Dense):
        raise ArgumentError(f"{name} must end with the output layer, dense:N:ACTIVATION, not {items[-1]!r}")
    return layers


def _layers(item, shape, name) -> list:
    kind, _, rest = item.partition(":")
    if kind in HIDDEN_ACTIVATIONS and not rest:
        return [Activate(kind)]
    if kind == "conv":
        filters, kernel = _ints(item, 2, name)
        return [Conv2D(shape[0], filters, (kernel, kernel))]
    if kind == "pool":
        (size,) = _ints(item, 1, name)
        return [MaxPool2D((size, size))]
    if kind == "dropout":
        return [Dropout(_number(item, rest, name))]
    if kind == "dense":
        units, _, activation = rest.partition(":")
        (n,) = _ints(f"dense:{units}", 1, name)
        flat = [Flatten(len(shape))] if len(shape) > 1 else []
        return [*flat, Dense(math.prod(shape), n, activation or "sigmoid")]
    raise ArgumentError(f"{name}: unknown item {item!r}; use image:C:H:W, conv:F:K, pool:P, sigmoid, tanh, relu, "
                        "dropout:P or dense:N[:ACTIVATION]")


def _ints(item, count, name) -> list:
    values = item.split(":")[1:]
    try:
        numbers = [int(v) for v in values]
    except ValueError:
        numbers = []
    if len(numbers) != count or min(numbers) < 1:
        raise ArgumentError(f"{name} item {item!r} needs {count} positive whole number(s) after its name")
    return numbers


def _number(item, text, name) -> float:
    try:
        return float(text)
    except ValueError:
        raise ArgumentError(f"{name} item {item!r} needs a probability after its name") from None


def describe(net) -> str:
    """A layer network in a few words: ``conv 20x5x5 / pool 2 / relu / dense 100 relu / ...``."""
    words = []
    for layer in net.model.layers[1:]:
        if isinstance(layer, Conv2D):
            words.append(f"conv {layer.out_channels}x{layer.kernel[0]}x{layer.kernel[1]}")
        elif isinstance(layer, MaxPool2D):
            words.append(f"pool {layer.pool[0]}")
        elif isinstance(layer, Activate):
            words.append(layer.activation)
        elif isinstance(layer, Dropout):
            words.append(f"dropout {layer.p:g}")
        elif isinstance(layer, Dense):
            words.append(f"dense {layer.n_out} {layer.activation}")
    return " / ".join(words)
