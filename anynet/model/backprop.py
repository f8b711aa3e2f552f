"""The elementwise steps of the book's feedforward and backpropagation
("fully matrix-based", chapter 2), which the layers
(:mod:`anynet.model.layers`, a network as a chain of them in
:mod:`~anynet.model.layers.chain`) are made of.

Rows are samples: a batch ``x`` has shape ``(m, sizes[0])`` and each layer
computes ``z = a @ w.T + b.T`` with the book's ``w`` of shape ``(y, x)`` and
``b`` of shape ``(y, 1)``.  Gradients are *summed* over the batch, exactly the
sum of the per-sample ``backprop`` results the book accumulates.  Only the
array API standard is used, through ``xp``; nothing is written in place
but a layer's own fresh product (:func:`plus`).

The same code trains K stacked networks (:mod:`anynet.model.stacked`): weights
``(K, y, x)``, biases ``(K, y, 1)``, a batch ``(K, m, sizes[0])`` (or one
``(m, sizes[0])`` batch shared by all K).  Transposes are of the last two
axes and sums run over the sample axis ``-2``, so the leading axis
broadcasts through ``@``; on NumPy the stacked product calls the same BLAS
routine per network as the single one, so a stacked network's numbers are
bit for bit those of its separate run.

The elementwise steps, ``layer`` and ``backward``, are functions of their own
so that a backend may run each as one fused kernel (``fuse``, see
:mod:`anynet.xp.kernels`); without ``fuse`` they run as written.
"""

from __future__ import annotations

from ..xp.kernels import FusionNamespace


def layer(zw, bT, *, act, xp):
    """A layer's ``(z, a)`` from its weighted input ``zw = a_prev @ w.T`` and
    its biases as a row ``bT``: z = zw + b.T, a = act(z).  ``zw`` is the
    caller's fresh product, which z is written into (see :func:`plus`)."""
    z = plus(zw, bT, xp=xp)
    return z, act.fn(z, xp=xp)


def plus(fresh, bT, *, xp):
    """``fresh + bT``, written into ``fresh``, a product no one else holds:
    one array fewer per layer, the same numbers (an array of a dataset's
    rows costs page faults whenever the allocator hands it back to the
    system).  JAX arrays have no in-place ``+=``: Python falls back to
    ``fresh + bT``.  In a function traced into a fused kernel, ``fresh`` is
    the kernel's input, which is not written."""
    if isinstance(xp, FusionNamespace):  # kernels.tracing(xp), without a call per layer and step
        return fresh + bT
    fresh += bT
    return fresh


def backward(g, z, a, *, act, xp):
    """A hidden layer's delta from the error sent back to it, ``g = delta @ w``
    of the layer above: g * act'(z)."""
    return g * act.prime(z, a, xp=xp)
