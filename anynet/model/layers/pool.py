"""Max-pooling over non-overlapping windows, the border that does not fill a
window dropped (network3.py's ``pool_2d(..., ignore_border=True)``).

The forward is an elementwise maximum of the ``ph*pw`` strided views of the
image (each window position's value); the backward routes each window's
gradient to the first position, in row-major order, that holds the window's
maximum: torch's ``max_pool2d`` does the same, so the gradients agree with it
even where a window holds ties (a blank region of an image).  (Theano's pool
gradient, which the book's network3.py used, gives the gradient to every tied
position instead.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from ...errors import ArgumentError
from .base import Array, Layer, check_rank, positive_pair
from .indices import device_of


class PoolSaved(NamedTuple):
    """The window views of the input (cropped to whole windows), the output, and the input's shape."""

    views: tuple
    y: Array
    input_hw: tuple


@dataclass(frozen=True)
class MaxPool2D(Layer):
    """The maximum of each ``pool = (height, width)`` window of each channel."""

    pool: tuple = (2, 2)

    def __post_init__(self):
        object.__setattr__(self, "pool", positive_pair("pool", self.pool))

    def output_shape(self, input_shape) -> tuple:
        c, h, w = check_rank(self, input_shape, 3, "images (channels, height, width)")
        ph, pw = self.pool
        if ph > h or pw > w:
            raise ArgumentError(f"{self!r}: the {ph}x{pw} pool is larger than the {h}x{w} image it pools")
        return (c, h // ph, w // pw)

    def forward(self, params, x, *, xp, train=False, mask=None, fuse=None):
        """``(y, saved)`` for images ``x`` of shape ``(..., n, C, H, W)``."""
        h, w = x.shape[-2:]
        _, oh, ow = self.output_shape(tuple(x.shape[-3:]))
        ph, pw = self.pool
        windows = xp.reshape(x[..., : oh * ph, : ow * pw], (*x.shape[:-2], oh, ph, ow, pw))
        views = tuple(windows[..., i, :, j] for i in range(ph) for j in range(pw))
        y = views[0]
        for view in views[1:]:
            y = xp.maximum(y, view)
        return y, PoolSaved(views, y, (h, w))

    def backward(self, params, saved, g, *, xp, fuse=None, input_grad=True):
        """``(g_in, None)``: ``g`` routed to each window's first maximum, zeros elsewhere and on the border."""
        if not input_grad:
            return None, None
        ph, pw = self.pool
        taken = None
        parts = []
        for view in saved.views:
            hit = view == saved.y
            first = hit if taken is None else xp.logical_and(hit, xp.logical_not(taken))
            taken = hit if taken is None else xp.logical_or(taken, hit)
            parts.append(g * xp.astype(first, g.dtype))
        *lead, oh, ow = g.shape
        rows = [xp.reshape(xp.stack(parts[i * pw:(i + 1) * pw], axis=-1), (*lead, oh, ow * pw)) for i in range(ph)]
        g_in = xp.reshape(xp.stack(rows, axis=-2), (*lead, oh * ph, ow * pw))
        return _pad_border(g_in, saved.input_hw, xp=xp), None


def _pad_border(g, hw, *, xp):
    """``g`` grown with zero rows and columns to the input's height and width."""
    h, w = hw
    *lead, gh, gw = g.shape
    if gw < w:
        g = xp.concat([g, xp.zeros((*lead, gh, w - gw), dtype=g.dtype, device=device_of(g))], axis=-1)
    if gh < h:
        g = xp.concat([g, xp.zeros((*lead, h - gh, w), dtype=g.dtype, device=device_of(g))], axis=-2)
    return g
