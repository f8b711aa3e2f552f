"""Layers that only reshape each sample: between images and vectors."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ...errors import ArgumentError
from .base import Layer, positive_int


@dataclass(frozen=True)
class Reshape(Layer):
    """Each sample's last ``input_ndim`` axes reshaped to ``shape`` (a
    vector to an image: ``Reshape((1, 28, 28))``); the leading sample and
    stack axes stay."""

    shape: tuple
    input_ndim: int = 1

    def __post_init__(self):
        object.__setattr__(self, "shape", tuple(positive_int("a Reshape's shape", s) for s in self.shape))
        object.__setattr__(self, "input_ndim", positive_int("input_ndim", self.input_ndim))

    def output_shape(self, input_shape) -> tuple:
        input_shape = tuple(input_shape)
        if len(input_shape) != self.input_ndim or math.prod(input_shape) != math.prod(self.shape):
            raise ArgumentError(f"{self!r} takes {self.input_ndim}-axis samples of {math.prod(self.shape)} values, "
                                f"but its input has shape {input_shape}")
        return self.shape

    def forward(self, params, x, *, xp, train=False, mask=None, fuse=None):
        return _regroup(x, self.input_ndim, self.shape, xp=xp)

    def backward(self, params, saved, g, *, xp, fuse=None, input_grad=True):
        return (xp.reshape(g, saved) if input_grad else None), None


@dataclass(frozen=True)
class Flatten(Layer):
    """Each sample's last ``input_ndim`` axes (3: an image's channels,
    height and width) flattened into one vector, in C order (as torch's
    ``reshape(n, -1)``)."""

    input_ndim: int = 3

    def __post_init__(self):
        object.__setattr__(self, "input_ndim", positive_int("input_ndim", self.input_ndim))

    def output_shape(self, input_shape) -> tuple:
        input_shape = tuple(input_shape)
        if len(input_shape) != self.input_ndim:
            raise ArgumentError(f"{self!r} flattens {self.input_ndim}-axis samples, "
                                f"but its input has shape {input_shape}")
        return (math.prod(input_shape),)

    def forward(self, params, x, *, xp, train=False, mask=None, fuse=None):
        return _regroup(x, self.input_ndim, (math.prod(x.shape[x.ndim - self.input_ndim:]),), xp=xp)

    def backward(self, params, saved, g, *, xp, fuse=None, input_grad=True):
        return (xp.reshape(g, saved) if input_grad else None), None


def _regroup(x, input_ndim, shape, *, xp):
    """``(y, saved)``: ``x`` with its last ``input_ndim`` axes reshaped to ``shape``; saved is x's shape."""
    lead = tuple(x.shape[: x.ndim - input_ndim])
    return xp.reshape(x, (*lead, *shape)), tuple(x.shape)
