"""Layers without parameters that act on each value: an activation, and
dropout with a mask the caller draws."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from ... import arguments
from ...errors import ArgumentError
from ...xp.kernels import fused
from .. import backprop
from ..activations import HIDDEN_ACTIVATIONS, get_activation
from .base import Array, Layer


def activate(z, *, act, xp):
    """``act(z)``: a fusable function (see :mod:`anynet.xp.kernels`)."""
    return act.fn(z, xp=xp)


class ActivateSaved(NamedTuple):
    z: Array
    a: Array


@dataclass(frozen=True)
class Activate(Layer):
    """An activation as a layer of its own: ``a = act(z)`` elementwise, for
    an activation after a pooling (network3.py's ``act(pool(conv) + b)``)."""

    activation: str = "sigmoid"

    def __post_init__(self):
        act = get_activation(self.activation)
        if act.name not in HIDDEN_ACTIVATIONS:
            raise ArgumentError(f"an Activate layer takes an elementwise activation "
                                f"({', '.join(HIDDEN_ACTIVATIONS)}), not {act.name}")
        object.__setattr__(self, "activation", act.name)
        object.__setattr__(self, "act", act)

    def output_shape(self, input_shape) -> tuple:
        return tuple(input_shape)

    def forward(self, params, x, *, xp, train=False, mask=None, fuse=None):
        (activate_,) = fused(fuse, activate)
        a = activate_(x, act=self.act, xp=xp)
        return a, ActivateSaved(x, a)

    def backward(self, params, saved, g, *, xp, fuse=None, input_grad=True):
        (backward,) = fused(fuse, backprop.backward)
        return (backward(g, saved.z, saved.a, act=self.act, xp=xp) if input_grad else None), None


@dataclass(frozen=True)
class Dropout(Layer):
    """Dropout of probability ``p`` on this layer's input, with a mask the
    caller gives (a 0/1 or boolean array of the input's shape, 1 keeps a
    value; :meth:`draw_mask` draws one from a seeded host generator, so a run
    is reproducible from its seed on every backend).

    ``inverted=True`` (torch's convention): training multiplies by
    ``mask / (1 - p)``, evaluation is the identity.  ``inverted=False`` (the
    book's network3.py): training multiplies by the mask, evaluation by
    ``1 - p``.  ``p = 0`` is the identity, exactly, in both."""

    p: float = 0.5
    inverted: bool = True

    def __post_init__(self):
        object.__setattr__(self, "p", arguments.real("a dropout probability p", self.p, low=0, high=1, high_open=True))
        object.__setattr__(self, "inverted", bool(self.inverted))

    def output_shape(self, input_shape) -> tuple:
        return tuple(input_shape)

    def draw_mask(self, rng, shape):
        """A host boolean mask of ``shape`` (True keeps a value, with
        probability 1 - p), from a NumPy Generator or ``numpy.random``."""
        return rng.random(shape) >= self.p

    def _scale(self, mask, x, *, xp):
        keep = xp.astype(mask, x.dtype)
        return keep / (1.0 - self.p) if self.inverted else keep

    def forward(self, params, x, *, xp, train=False, mask=None, fuse=None):
        """``(y, saved)``: with ``train`` the mask applies (and must be given), without it the evaluation scaling."""
        if self.p == 0.0:
            return x, None
        if not train:
            return (x, None) if self.inverted else (x * (1.0 - self.p), 1.0 - self.p)
        if mask is None:
            raise ArgumentError(f"{self!r} needs a mask while training (see Dropout.draw_mask)")
        if tuple(mask.shape) != tuple(x.shape):
            raise ArgumentError(f"{self!r}: the mask has shape {tuple(mask.shape)}, the input {tuple(x.shape)}")
        scale = self._scale(mask, x, xp=xp)
        return x * scale, scale

    def backward(self, params, saved, g, *, xp, fuse=None, input_grad=True):
        """``(g * the forward's scale, None)``; the identity where the forward was."""
        if not input_grad:
            return None, None
        return (g if saved is None else g * saved), None
