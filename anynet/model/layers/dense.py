"""A fully connected layer, the book's: ``z = a @ w.T + b.T``, ``a' = act(z)``.

The operations are those of :mod:`anynet.model.backprop`, in the same order
and through the same fusable functions (``backprop.layer`` and
``backprop.backward``), so an MLP built of Dense layers gives bit for bit the
numbers of ``backprop.backprop`` on every backend.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from ...errors import ArgumentError
from ...xp.kernels import fused
from .. import backprop
from ..activations import get_activation
from ..initializers import get_initializer
from .base import Array, Bound, Layer, Params, check_rank, positive_int

_new = tuple.__new__


class DenseSaved(NamedTuple):
    """What a Dense forward keeps for its backward: its input, weighted input and output."""

    x: Array
    z: Array
    a: Array


@dataclass(frozen=True)
class Dense(Layer):
    """``n_in`` inputs to ``n_out`` units with an activation (a name from
    :mod:`anynet.model.activations`: "sigmoid", "tanh", "relu", "softmax").
    ``initializer`` names one of :mod:`anynet.model.initializers`' draws
    ("default": network2.py's N(0, 1/n_in) weights, N(0, 1) biases; "large":
    network.py's N(0, 1); "he"; "glorot")."""

    n_in: int
    n_out: int
    activation: str = "sigmoid"
    initializer: str = "default"

    has_params = True

    def __post_init__(self):
        object.__setattr__(self, "n_in", positive_int("n_in", self.n_in))
        object.__setattr__(self, "n_out", positive_int("n_out", self.n_out))
        act = get_activation(self.activation)
        get_initializer(self.initializer)
        object.__setattr__(self, "activation", act.name)
        object.__setattr__(self, "act", act)  # one instance: fused kernels are cached by it
        object.__setattr__(self, "_bound", {})  # (xp, fuse) -> Bound, see bind

    def output_shape(self, input_shape) -> tuple:
        (n_in,) = check_rank(self, input_shape, 1, "a vector")
        if n_in != self.n_in:
            raise ArgumentError(
                f"{self!r} takes {self.n_in} inputs, but the layer before it gives {n_in}")
        return (self.n_out,)

    def param_shapes(self, input_shape) -> Params:
        """The book's shapes: weight ``(n_out, n_in)``, bias ``(n_out, 1)``."""
        self.output_shape(input_shape)
        return Params((self.n_out, self.n_in), (self.n_out, 1))

    def init(self, rng, input_shape) -> Params:
        """Biases then weights, drawn by the named initializer for sizes ``[n_in, n_out]``."""
        self.output_shape(input_shape)
        (params,) = get_initializer(self.initializer)([self.n_in, self.n_out], rng)
        return params

    def bind(self, *, xp, fuse=None) -> Bound:
        """The forward, backward and backward_delta on ``xp`` with ``fuse``
        (see :class:`~anynet.model.layers.base.Bound`), made once per
        namespace and fuser and kept: the methods below run through them."""
        key = (xp, fuse)
        bound = self._bound.get(key)
        if bound is None:
            bound = self._bound[key] = _bind(self.act, xp, fuse)
        return bound

    def forward(self, params, x, *, xp, train=False, mask=None, fuse=None):
        """``(a, saved)`` for the rows ``x`` of shape ``(..., n, n_in)``."""
        return self.bind(xp=xp, fuse=fuse).forward(params, x, train, mask)

    def weighted_input(self, params, x, *, xp):
        """``z = x @ w.T + b.T`` alone, without the activation."""
        return backprop.plus(x @ xp.matrix_transpose(params.weight), xp.matrix_transpose(params.bias), xp=xp)

    def backward(self, params, saved, g, *, xp, fuse=None, input_grad=True):
        """``(g_in, grads)`` from ``g = dC/da``: the delta is ``g * act'(z)``."""
        return self.bind(xp=xp, fuse=fuse).backward(params, saved, g, input_grad)

    def backward_delta(self, params, saved, delta, *, xp, input_grad=True):
        """``(g_in, grads)`` from the error ``delta = dC/dz`` of this layer's
        weighted input (an output layer's, which the cost gives directly)."""
        return self.bind(xp=xp).backward_delta(params, saved, delta, input_grad)


def _bind(act, xp, fuse) -> Bound:
    """A Dense layer's computations with its activation, ``xp`` and kernels
    fixed; ``params`` and the gradients are :class:`Params` (a training step calls these once per
    mini-batch: no lookups or keyword arguments here that can be made once)."""
    layer, backward_fn = fused(fuse, backprop.layer, backprop.backward)
    transpose, total = xp.matrix_transpose, xp.sum

    def forward(params, x, train=False, mask=None):
        weight, bias = params
        z, a = layer(x @ transpose(weight), transpose(bias), act=act, xp=xp)
        return a, _new(DenseSaved, (x, z, a))  # a NamedTuple without its Python-level __new__

    def backward_delta(params, saved, delta, input_grad=True):
        # the bias gradient as the biases' column: the sums with a new last axis, by indexing (a
        # contiguous view, as the biases are: a compiled epoch carries the same layout; no Python
        # frame on NumPy, where a reshape or expand_dims costs one)
        nabla_b = total(delta, axis=-2)[..., None]
        nabla_w = transpose(delta) @ saved[0]
        return (delta @ params[0] if input_grad else None), _new(Params, (nabla_w, nabla_b))

    def backward(params, saved, g, input_grad=True):
        _, z, a = saved
        return backward_delta(params, saved, backward_fn(g, z, a, act=act, xp=xp), input_grad)

    return Bound(forward, backward, backward_delta)
