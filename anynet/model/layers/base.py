"""What every layer shares: the one parameter type, the layer protocol, and
the shape checks.

A layer is a small frozen dataclass holding its configuration and nothing
else; its methods are pure functions of arrays, written once against the
array API (``xp`` passed keyword-only):

* ``output_shape(input_shape) -> tuple``: the per-sample output shape, the
  one place a layer's shapes are computed; an input that does not fit is
  refused with an :class:`~anynet.errors.ArgumentError` naming both sides;
* ``param_shapes(input_shape) -> Params | None``: the shapes of the layer's
  parameters (None without any), the one place they are computed;
* ``init(rng, input_shape) -> Params | None``: fresh parameters drawn on the
  host from a NumPy ``Generator`` (or the ``numpy.random`` module);
* ``forward(params, x, *, xp, train=False, mask=None, fuse=None) -> (y, saved)``;
* ``backward(params, saved, g, *, xp, fuse=None, input_grad=True) -> (g_in, grads)``:
  ``g`` is dC/dy, ``g_in`` dC/dx (None when ``input_grad`` is false: the
  first layer's input needs none), ``grads`` a :class:`Params` like
  ``params`` (or None), summed over the samples as :mod:`anynet.model.backprop`
  sums them;
* ``bind(*, xp, fuse=None) -> Bound``: the forward and backward with ``xp``
  and the kernels fixed, called positionally (what a training step calls
  once per mini-batch: :func:`~anynet.model.layers.chain.gradient_fn`).

Rows are samples: a batch has shape ``(n, *per_sample_shape)``, images
``(n, channels, height, width)``.  Every layer also takes a leading stack
axis, ``x`` of shape ``(K, n, ...)`` with parameters ``(K, ...)`` (K networks
trained as one, :mod:`anynet.model.stacked`); a layer that could not would set
``stackable = False``, which a sweep checks before training.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple

from ... import arguments
from ...errors import ArgumentError
from ..params import Params  # noqa: F401  (the layers' parameter type, defined beside the model)

Array = Any


class Bound(NamedTuple):
    """A layer's computations with the namespace and kernels fixed
    (:meth:`Layer.bind`), all arguments positional: ``forward(params, x,
    train, mask) -> (y, saved)``, ``backward(params, saved, g, input_grad)
    -> (g_in, grads)``; ``params`` and ``grads`` are :class:`Params` or None.  An
    output layer also has ``backward_delta(params, saved, delta,
    input_grad)``, from the error of its weighted input (None elsewhere)."""

    forward: Callable
    backward: Callable
    backward_delta: Callable | None = None


class Layer:
    """The base of every layer (see the module docstring for the protocol).
    Subclasses are frozen dataclasses; parameter-free layers inherit ``init``
    and return ``None`` gradients."""

    stackable = True  # every layer here keeps a leading stack axis K
    has_params = False
    act = None  # the Activation a layer applies (Dense, Conv2D, Activate), else None

    def param_shapes(self, input_shape):
        """The :class:`Params` of shapes (tuples) of this layer's parameters for
        an input of per-sample shape ``input_shape``; None without parameters."""
        self.output_shape(input_shape)
        return None

    def init(self, rng, input_shape):
        """Fresh parameters for an input of per-sample shape ``input_shape``; None without parameters."""
        self.output_shape(input_shape)
        return None

    def bind(self, *, xp, fuse=None) -> Bound:
        """This layer's ``forward`` and ``backward`` on ``xp`` with ``fuse``,
        as positional functions (a layer with a faster binding overrides it)."""
        forward, backward = self.forward, self.backward

        def bound_forward(params, x, train=False, mask=None):
            return forward(params, x, xp=xp, train=train, mask=mask, fuse=fuse)

        def bound_backward(params, saved, g, input_grad=True):
            return backward(params, saved, g, xp=xp, fuse=fuse, input_grad=input_grad)

        return Bound(bound_forward, bound_backward)

    def config(self) -> dict:
        """The layer's type and configuration, plain values only (what a checkpoint stores)."""
        return {"type": type(self).__name__, **dataclasses.asdict(self)}


def check_rank(layer, input_shape, rank: int, what: str) -> tuple:
    """``input_shape`` as a tuple of ``rank`` positive ints, or an ArgumentError naming both sides."""
    shape = tuple(input_shape)
    if len(shape) != rank or not all(isinstance(s, int) and s > 0 for s in shape):
        raise ArgumentError(f"{layer!r} takes {what} per sample, but its input has shape {shape}")
    return shape


def positive_pair(name: str, value) -> tuple[int, int]:
    """A ``(height, width)`` pair of positive ints (one int means a square)."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        value = (value, value)
    if len(value) != 2:
        raise ArgumentError(f"{name} must be a pair (height, width), not {value!r}")
    return tuple(arguments.integer(f"{name}'s {side}", v, low=1) for side, v in zip(("height", "width"), value))


def positive_int(name: str, value) -> int:
    """``value`` as an int >= 1."""
    return arguments.integer(name, value, low=1)
