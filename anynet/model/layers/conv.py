"""A 2-D convolution, valid and of stride 1, as a gather and a matmul.

The forward gathers every ``kh x kw`` patch of every channel into columns
(im2col: one ``xp.take`` with an index computed once per image shape and
device) and multiplies them by the filters as a ``(filters, channels*kh*kw)``
matrix.  The backward's input gradient is the transpose of that gather
(col2im), itself a gather: each pixel takes the ``kh*kw`` column entries it
fed (an entry past the end, a zero, where a filter position falls outside
the image) and sums them.  Everything is in the array API standard, nothing
is written in place, and only ``take`` sees the index arrays.

The filter's orientation: ``flip=False`` (the default) is torch's ``conv2d``,
a cross-correlation; ``flip=True`` is a true convolution (the filters flipped
in height and width), Theano's ``conv2d``, which the book's network3.py uses.
Flipping is a different gather, so it costs nothing per step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

from ...errors import ArgumentError
from ...xp.kernels import fused
from .. import backprop
from ..activations import get_activation
from ..initializers import get_initializer
from .base import Array, Layer, Params, check_rank, positive_int, positive_pair
from .indices import cached, device_of


class ConvSaved(NamedTuple):
    """The columns of the input (``(..., n, C*kh*kw, P)``), the weighted input and the output."""

    cols: Array
    z: Array
    a: Array
    input_shape: tuple


@dataclass(frozen=True)
class Conv2D(Layer):
    """``out_channels`` filters of ``kernel = (height, width)`` over images of
    ``in_channels`` channels: valid (the output is ``kernel - 1`` smaller),
    stride 1, a bias per filter, and an optional activation (None: the
    weighted input itself; network3.py's conv-pool layer applies it after the
    pooling, which :class:`Activate` does).  ``initializer`` is a dense
    initializer applied to the ``(out_channels, in_channels*kh*kw)`` filter
    matrix (so "default" is N(0, 1/fan_in) weights and N(0, 1) biases)."""

    in_channels: int
    out_channels: int
    kernel: tuple
    activation: str | None = None
    flip: bool = False
    initializer: str = "default"

    has_params = True

    def __post_init__(self):
        object.__setattr__(self, "in_channels", positive_int("in_channels", self.in_channels))
        object.__setattr__(self, "out_channels", positive_int("out_channels", self.out_channels))
        object.__setattr__(self, "kernel", positive_pair("kernel", self.kernel))
        act = None if self.activation is None else get_activation(self.activation)
        object.__setattr__(self, "activation", None if act is None else act.name)
        object.__setattr__(self, "act", act)
        object.__setattr__(self, "flip", bool(self.flip))
        get_initializer(self.initializer)

    def output_shape(self, input_shape) -> tuple:
        c, h, w = check_rank(self, input_shape, 3, "images (channels, height, width)")
        kh, kw = self.kernel
        if c != self.in_channels:
            raise ArgumentError(f"{self!r} takes {self.in_channels} channels, but its input has {c} "
                                f"(images of shape {(c, h, w)})")
        if kh > h or kw > w:
            raise ArgumentError(f"{self!r}: the {kh}x{kw} filter is larger than the {h}x{w} image it filters")
        return (self.out_channels, h - kh + 1, w - kw + 1)

    @property
    def fan_in(self) -> int:
        return self.in_channels * self.kernel[0] * self.kernel[1]

    def param_shapes(self, input_shape) -> Params:
        """Weight ``(out_channels, in_channels, kh, kw)``, bias ``(out_channels,)``."""
        self.output_shape(input_shape)
        return Params((self.out_channels, self.in_channels, *self.kernel), (self.out_channels,))

    def init(self, rng, input_shape) -> Params:
        """Biases then weights, drawn by the named dense initializer for the filter matrix."""
        self.output_shape(input_shape)
        ((weight, bias),) = get_initializer(self.initializer)([self.fan_in, self.out_channels], rng)
        return Params(weight.reshape((self.out_channels, self.in_channels, *self.kernel)), bias.reshape(-1))

    def forward(self, params, x, *, xp, train=False, mask=None, fuse=None):
        """``(y, saved)`` for images ``x`` of shape ``(..., n, C, H, W)``; ``y`` is ``(..., n, F, OH, OW)``."""
        c, h, w = x.shape[-3:]
        f, oh, ow = self.output_shape((c, h, w))
        lead = tuple(x.shape[:-3])
        columns = cached(xp, x, ("im2col", c, h, w, self.kernel, self.flip), self._im2col_index)
        flat = xp.reshape(x, (math.prod(lead), c * h * w))
        cols = xp.reshape(xp.take(flat, columns, axis=1), (*lead, self.fan_in, oh * ow))
        stack = tuple(params.weight.shape[:-4])
        filters = xp.reshape(params.weight, (*stack, 1, f, self.fan_in))  # a new axis to broadcast over the samples
        zw = filters @ cols
        bias = xp.reshape(params.bias, (*stack, 1, f, 1))
        if self.act is None:
            z = a = zw + bias
        else:
            (layer,) = fused(fuse, backprop.layer)
            z, a = layer(zw, bias, act=self.act, xp=xp)
        # the product's leading axes: x's, or (K, n) where K stacked filters share one batch x
        return xp.reshape(a, (*a.shape[:-2], f, oh, ow)), ConvSaved(cols, z, a, (c, h, w))

    def backward(self, params, saved, g, *, xp, fuse=None, input_grad=True):
        """``(g_in, grads)`` from ``g = dC/dy`` of shape ``(..., n, F, OH, OW)``."""
        f = self.out_channels
        delta = xp.reshape(g, (*g.shape[:-2], g.shape[-2] * g.shape[-1]))
        if self.act is not None:
            (backward,) = fused(fuse, backprop.backward)
            delta = backward(delta, saved.z, saved.a, act=self.act, xp=xp)
        nabla_w = xp.sum(delta @ xp.matrix_transpose(saved.cols), axis=-3)
        nabla_w = xp.reshape(nabla_w, (*nabla_w.shape[:-2], f, *params.weight.shape[-3:]))
        nabla_b = xp.sum(xp.sum(delta, axis=-1), axis=-2)
        g_in = self._input_gradient(params, saved, delta, xp=xp) if input_grad else None
        return g_in, Params(nabla_w, nabla_b)

    def _input_gradient(self, params, saved, delta, *, xp):
        c, h, w = saved.input_shape
        f = self.out_channels
        filters = xp.reshape(params.weight, (*params.weight.shape[:-4], 1, f, self.fan_in))
        dcols = xp.matrix_transpose(filters) @ delta  # (..., n, C*kh*kw, P)
        lead = tuple(dcols.shape[:-2])
        rows = math.prod(lead)
        flat = xp.reshape(dcols, (rows, dcols.shape[-2] * dcols.shape[-1]))
        padded = xp.concat([flat, xp.zeros((rows, 1), dtype=flat.dtype, device=device_of(flat))], axis=1)
        sources = cached(xp, flat, ("col2im", c, h, w, self.kernel, self.flip), self._col2im_index)
        kh, kw = self.kernel
        gathered = xp.reshape(xp.take(padded, sources, axis=1), (rows, kh * kw, c * h * w))
        return xp.reshape(xp.sum(gathered, axis=-2), (*lead, c, h, w))

    # -- the index arrays, built once per image shape and device with xp itself

    def _kernel_offsets(self, xp, device):
        """The filter position (ki, kj) each column row reads, flipped for a true convolution."""
        kh, kw = self.kernel
        ki = xp.arange(kh, device=device)
        kj = xp.arange(kw, device=device)
        if self.flip:
            ki, kj = (kh - 1) - ki, (kw - 1) - kj
        return ki, kj

    def _im2col_index(self, xp, device, c, h, w, kernel, flip):
        """Column entry (channel, ki, kj; oi, oj) reads pixel (channel, oi + ki, oj + kj)."""
        kh, kw = kernel
        oh, ow = h - kh + 1, w - kw + 1
        ki, kj = self._kernel_offsets(xp, device)
        channel = xp.reshape(xp.arange(c, device=device), (c, 1, 1, 1, 1))
        ki, kj = xp.reshape(ki, (1, kh, 1, 1, 1)), xp.reshape(kj, (1, 1, kw, 1, 1))
        oi = xp.reshape(xp.arange(oh, device=device), (1, 1, 1, oh, 1))
        oj = xp.reshape(xp.arange(ow, device=device), (1, 1, 1, 1, ow))
        return xp.reshape(channel * (h * w) + (oi + ki) * w + (oj + kj), (-1,))

    def _col2im_index(self, xp, device, c, h, w, kernel, flip):
        """For filter position (ki, kj) and pixel (channel, y, x), in that order (the sum over
        positions then adds whole rows): column entry (channel, ki, kj; y - ki, x - kj) where
        that falls inside the output, else the zero past the end."""
        kh, kw = kernel
        oh, ow = h - kh + 1, w - kw + 1
        ki, kj = self._kernel_offsets(xp, device)
        ki, kj = xp.reshape(ki, (kh, 1, 1, 1, 1)), xp.reshape(kj, (1, kw, 1, 1, 1))
        channel = xp.reshape(xp.arange(c, device=device), (1, 1, c, 1, 1))
        y = xp.reshape(xp.arange(h, device=device), (1, 1, 1, h, 1))
        x = xp.reshape(xp.arange(w, device=device), (1, 1, 1, 1, w))
        # the column row of (channel, ki, kj) is its position in the forward's gather
        row = (channel * kh + xp.reshape(xp.arange(kh, device=device), (kh, 1, 1, 1, 1))) * kw \
            + xp.reshape(xp.arange(kw, device=device), (1, kw, 1, 1, 1))
        oi, oj = y - ki, x - kj
        inside = (oi >= 0) & (oi < oh) & (oj >= 0) & (oj < ow)
        entry = row * (oh * ow) + oi * ow + oj
        past_end = xp.full_like(entry, c * kh * kw * oh * ow)
        return xp.reshape(xp.where(inside, entry, past_end), (-1,))
