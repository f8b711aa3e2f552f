"""The book's feedforward and backpropagation, as pure functions of the
parameters and a batch, in the "fully matrix-based" form of chapter 2.

Rows are samples: a batch ``x`` has shape ``(m, sizes[0])`` and each layer
computes ``z = a @ w.T + b.T`` with the book's ``w`` of shape ``(y, x)`` and
``b`` of shape ``(y, 1)``.  Gradients are *summed* over the batch, exactly the
sum of the per-sample ``backprop`` results the book accumulates.  Only the
array API standard is used, through ``xp``; nothing is written in place
but a layer's own fresh product (:func:`_plus`).

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

from ..xp.kernels import fused, tracing


def layer(zw, bT, *, act, xp):
    """A layer's ``(z, a)`` from its weighted input ``zw = a_prev @ w.T`` and
    its biases as a row ``bT``: z = zw + b.T, a = act(z).  ``zw`` is the
    caller's fresh product, which z is written into (see :func:`_plus`)."""
    z = _plus(zw, bT, xp=xp)
    return z, act.fn(z, xp=xp)


def _plus(fresh, bT, *, xp):
    """``fresh + bT``, written into ``fresh``, a product no one else holds:
    one array fewer per layer, the same numbers (an array of a dataset's
    rows costs page faults whenever the allocator hands it back to the
    system).  JAX arrays have no in-place ``+=``: Python falls back to
    ``fresh + bT``.  In a function traced into a fused kernel, ``fresh`` is
    the kernel's input, which is not written."""
    if tracing(xp):
        return fresh + bT
    fresh += bT
    return fresh


def backward(g, z, a, *, act, xp):
    """A hidden layer's delta from the error sent back to it, ``g = delta @ w``
    of the layer above: g * act'(z)."""
    return g * act.prime(z, a, xp=xp)


def feedforward(weights, biases, x, *, activations, xp, fuse=None):
    """Output activations for the batch ``x`` (rows are samples)."""
    return output_layer(weights, biases, x, activations=activations, xp=xp, fuse=fuse)[1]


def output_layer(weights, biases, x, *, activations, xp, fuse=None, activate=True):
    """``(z, a)`` of the output layer for the batch ``x``: costs are computed
    from ``z`` where ``a`` has rounded to exactly 0 or 1.  With ``activate``
    False, ``a`` is None and the output activation is not computed (a cost
    that needs only ``z``).  No hidden layer's ``z`` outlives its layer."""
    (layer_,) = fused(fuse, layer)
    a = x
    *hidden, (w_out, b_out, act_out) = zip(weights, biases, activations)
    for w, b, act in hidden:
        a = layer_(a @ xp.matrix_transpose(w), xp.matrix_transpose(b), act=act, xp=xp)[1]
    zw = a @ xp.matrix_transpose(w_out)
    if not activate:
        return _plus(zw, xp.matrix_transpose(b_out), xp=xp), None
    return layer_(zw, xp.matrix_transpose(b_out), act=act_out, xp=xp)


def backprop(weights, biases, x, y, *, activations, cost, xp, fuse=None):
    """Return ``(nabla_b, nabla_w)``, the gradient of ``cost`` summed over the
    batch ``(x, y)``, in the shapes of ``biases`` and ``weights``."""
    layer_, backward_ = fused(fuse, layer, backward)
    # feedforward, keeping every z and activation
    activation = x
    acts = [x]
    zs = []
    for w, b, act in zip(weights, biases, activations):
        z, activation = layer_(activation @ xp.matrix_transpose(w), xp.matrix_transpose(b), act=act, xp=xp)
        zs.append(z)
        acts.append(activation)
    # backward pass
    num_layers = len(weights) + 1
    nabla_b = [None] * len(biases)
    nabla_w = [None] * len(weights)
    delta = cost.output_delta(zs[-1], acts[-1], y, activations[-1], xp=xp)
    nabla_b[-1] = _bias_gradient(delta, xp)
    nabla_w[-1] = xp.matrix_transpose(delta) @ acts[-2]
    for l in range(2, num_layers):
        delta = backward_(delta @ weights[-l + 1], zs[-l], acts[-l], act=activations[-l], xp=xp)
        nabla_b[-l] = _bias_gradient(delta, xp)
        nabla_w[-l] = xp.matrix_transpose(delta) @ acts[-l - 1]
    return nabla_b, nabla_w


def _bias_gradient(delta, xp):
    """The bias gradient, a column: delta summed over the samples (axis -2).
    A new axis rather than a transpose, so that the column is contiguous as the
    biases are (torch's compiled scan requires its carry's strides to stay)."""
    return xp.expand_dims(xp.sum(delta, axis=-2), axis=-1)
