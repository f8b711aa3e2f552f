"""A network as a chain of layers: shapes, initial parameters, the forward
pass and backpropagation, as pure functions of a layer list, its parameter
list (one :class:`Params` or None per layer) and a batch.

The last layer is the output layer (a :class:`Dense` whose activation the
cost accepts); its error comes from the cost, ``cost.output_delta(z, a, y)``,
as in :mod:`anynet.model.backprop`, and flows back through each layer's
``backward``.  Gradients are summed over the batch.  With Dense layers only,
these are backprop.py's operations in backprop.py's order: the same bits.
"""

from __future__ import annotations

import math

from ...errors import ArgumentError
from ..initializers import get_initializer
from .base import Params
from .dense import Dense
from .shape import Reshape


def output_shapes(layers, input_shape) -> list[tuple]:
    """Each layer's per-sample output shape for a per-sample input of
    ``input_shape``; the first layer that does not fit its input raises."""
    shapes = []
    shape = tuple(input_shape)
    for layer in layers:
        shape = layer.output_shape(shape)
        shapes.append(shape)
    return shapes


def param_shapes(layers, input_shape) -> list[Params]:
    """The shapes of the parameters of every layer that has any, in layer
    order (the order of a model's parameter list): one
    :class:`Params` of shape tuples each.  The chain's shapes must fit."""
    shapes = [tuple(input_shape), *output_shapes(layers, input_shape)]
    found = (layer.param_shapes(shape) for layer, shape in zip(layers, shapes))
    return [p for p in found if p is not None]


def parameter_count(layers, input_shape) -> int:
    """How many numbers the parameters of the chain hold."""
    return sum(math.prod(p.weight) + math.prod(p.bias) for p in param_shapes(layers, input_shape))


def input_shape_of(layers):
    """The per-sample input shape a chain's first layer implies, or None
    where it does not fix one (a convolution takes images of any size)."""
    first = layers[0] if layers else None
    if isinstance(first, Dense):
        return (first.n_in,)
    if isinstance(first, Reshape) and first.input_ndim == 1:
        return (math.prod(first.shape),)
    return None


def init_params(layers, rng, input_shape) -> list:
    """Fresh parameters for every layer, drawn on the host from ``rng``.

    A chain of Dense layers with one initializer draws as network.py and
    network2.py do, every bias and then every weight (the numbers the
    initializer gives for the sizes); any other chain draws layer by layer,
    each layer's biases then its weights."""
    layers = list(layers)
    shapes = [tuple(input_shape), *output_shapes(layers, input_shape)]
    if layers and all(isinstance(layer, Dense) for layer in layers) and len({l.initializer for l in layers}) == 1:
        sizes = [layers[0].n_in, *(layer.n_out for layer in layers)]
        return get_initializer(layers[0].initializer)(sizes, rng)
    return [layer.init(rng, shape) for layer, shape in zip(layers, shapes)]


def forward(layers, params, x, *, xp, train=False, masks=None, fuse=None):
    """``(output, saved)``: the last layer's output for the batch ``x`` and
    what each layer kept for the backward.  ``masks`` gives each Dropout
    layer its mask (a list with one entry per layer, None where none)."""
    masks = _masks(layers, masks)
    saved = []
    a = x
    for layer, p, mask in zip(layers, params, masks):
        a, kept = layer.forward(p, a, xp=xp, train=train, mask=mask, fuse=fuse)
        saved.append(kept)
    return a, saved


def output_layer(layers, params, x, *, xp, masks=None, fuse=None, activate=True):
    """``(z, a)`` of the output layer (costs are computed from ``z``), at
    evaluation; no hidden layer's output outlives the next layer.  With
    ``activate`` False, ``a`` is None and the output activation is not
    computed (a cost that needs only ``z``)."""
    masks = _masks(layers, masks)
    a = x
    for layer, p, mask in zip(layers[:-1], params[:-1], masks[:-1]):
        a, _ = layer.forward(p, a, xp=xp, mask=mask, fuse=fuse)
    if not activate:
        return layers[-1].weighted_input(params[-1], a, xp=xp), None
    _, saved = layers[-1].forward(params[-1], a, xp=xp, mask=masks[-1], fuse=fuse)
    return saved.z, saved.a


def per_layer(layers, params) -> list:
    """Each layer's :class:`Params` (None for a layer without parameters)
    from a model's parameter list (one Params per layer that has any, in
    layer order)."""
    if len(params) == len(layers):
        return list(params)
    found = iter(params)
    return [next(found) if layer.has_params else None for layer in layers]


def gradients(layers, params, x, y, *, cost, xp, masks=None, fuse=None) -> list:
    """The gradient of ``cost`` summed over the batch ``(x, y)``, in the form
    of a model's parameters: one :class:`Params` per layer that has any."""
    return gradient_fn(layers, cost=cost, xp=xp, fuse=fuse)(params, x, y, masks)


def gradient_fn(layers, *, cost, xp, fuse=None):
    """``grads(params, x, y, masks=None) -> list of Params``: :func:`gradients`
    with each layer's computations bound once
    (:meth:`~anynet.model.layers.base.Layer.bind`), for a training step that
    calls it once per mini-batch: the same operations, in the same order."""
    layers = tuple(layers)
    run = _backprop_fn(layers, cost=cost, xp=xp, fuse=fuse)
    slots = tuple(i for i, layer in enumerate(layers) if layer.has_params)
    if len(slots) == len(layers):
        return run  # every layer has parameters: the lists line up

    def grads(params, x, y, masks=None):
        found = iter(params)
        every = run([next(found) if layer.has_params else None for layer in layers], x, y, masks)
        return [every[i] for i in slots]

    return grads


def mlp_gradients(params, x, y, *, activations, cost, xp, fuse=None) -> list:
    """:func:`gradients` of the book's network given by its parameters (one
    Params per layer) and one Activation per layer."""
    return gradients(_dense_for(params, activations), params, x, y, cost=cost, xp=xp, fuse=fuse)


def mlp_output(params, x, *, activations, xp, fuse=None, activate=True):
    """:func:`output_layer` of the book's network given by its parameters (one
    Params per layer) and one Activation per layer: ``(z, a)``."""
    return output_layer(_dense_for(params, activations), list(params), x, xp=xp, fuse=fuse, activate=activate)


def _dense_for(params, activations) -> list:
    return [Dense(p.weight.shape[-1], p.weight.shape[-2], act) for p, act in zip(params, activations)]


def dense_layers(sizes, activations) -> list:
    """The book's network as layers: a :class:`Dense` per pair of widths, with
    the given Activation objects (one instance each: fused kernels are cached by it)."""
    return [Dense(n_in, n_out, act) for n_in, n_out, act in zip(sizes[:-1], sizes[1:], activations)]


def backprop(layers, params, x, y, *, cost, xp, masks=None, fuse=None) -> list:
    """The gradient of ``cost`` summed over the batch ``(x, y)``: one
    :class:`Params` (or None) per layer, in the shapes of ``params``."""
    return _backprop_fn(tuple(layers), cost=cost, xp=xp, fuse=fuse)(params, x, y, masks)


def _backprop_fn(layers, *, cost, xp, fuse):
    """``run(params, x, y, masks) -> grads``: backpropagation with every
    layer bound (``params`` and ``grads``: a :class:`Params` or None per
    layer).  The output error comes from the cost, then flows back
    through each layer's ``backward``."""
    output = layers[-1]
    if not isinstance(output, Dense):
        raise ArgumentError(f"the output layer must be a Dense layer, not {output!r}")
    bound = [layer.bind(xp=xp, fuse=fuse) for layer in layers]
    forwards = tuple(b.forward for b in bound)
    # a layer passes a gradient down only when some layer below it has parameters (a reshape or
    # activation at the bottom needs none: the input's own gradient is never used)
    below = [any(layer.has_params for layer in layers[:i]) for i in range(len(layers))]
    hidden = tuple((i, bound[i].backward, below[i]) for i in range(len(layers) - 2, -1, -1))
    output_backward, output_delta, act = bound[-1].backward_delta, cost.output_delta, output.act
    input_grad, no_masks = below[-1], (None,) * len(layers)

    def run(params, x, y, masks=None):
        saved = []
        a = x
        for forward, p, mask in zip(forwards, params, no_masks if masks is None else _masks(layers, masks)):
            a, kept = forward(p, a, True, mask)
            saved.append(kept)
        last = saved[-1]
        grads = [None] * len(saved)
        g, grads[-1] = output_backward(params[-1], last, output_delta(last.z, last.a, y, act, xp=xp), input_grad)
        for i, backward, below in hidden:
            g, grads[i] = backward(params[i], saved[i], g, below)
        return grads

    return run


def _masks(layers, masks):
    if masks is None:
        return [None] * len(layers)
    masks = list(masks)
    if len(masks) != len(layers):
        raise ArgumentError(f"masks needs one entry per layer ({len(layers)}), got {len(masks)}")
    return masks
