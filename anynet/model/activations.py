"""Activation functions, written once against the array API standard.

Each activation has ``fn(z, *, xp)`` and ``prime(z, a, *, xp)``, the derivative
at ``z`` given ``a = fn(z)`` (sigmoid and tanh are cheaper from ``a``).  Rows
are samples; softmax normalises over the last axis.
"""

from __future__ import annotations

import array_api_compat

from ..xp.backend import namespace_of
from ..xp.kernels import tracing
from ..errors import ArgumentError


class Activation:
    name = ""

    def fn(self, z, *, xp):
        raise NotImplementedError

    def prime(self, z, a, *, xp):
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Sigmoid(Activation):
    name = "sigmoid"

    def fn(self, z, *, xp):
        return 1.0 / (1.0 + xp.exp(-z))

    def prime(self, z, a, *, xp):
        return a * (1 - a)


class Tanh(Activation):
    name = "tanh"

    def fn(self, z, *, xp):
        return xp.tanh(z)

    def prime(self, z, a, *, xp):
        return 1 - a * a


class ReLU(Activation):
    name = "relu"

    def fn(self, z, *, xp):
        return xp.maximum(z, _zero(z, xp))  # array API 2023.12 takes no scalar here

    def prime(self, z, a, *, xp):
        return xp.astype(z > 0, z.dtype)


class Linear(Activation):
    """The identity, a = z: the output layer of a regression network (with
    the quadratic cost, whose output error is then a - y)."""

    name = "linear"

    def fn(self, z, *, xp):
        return z

    def prime(self, z, a, *, xp):
        return xp.ones_like(z)


class Softmax(Activation):
    """Softmax over the units of a layer; only as the output layer of the
    log-likelihood cost, whose delta (a - y) needs no Jacobian."""

    name = "softmax"

    def fn(self, z, *, xp):
        e = xp.exp(z - xp.max(z, axis=-1, keepdims=True))
        return e / xp.sum(e, axis=-1, keepdims=True)

    def prime(self, z, a, *, xp):
        raise ArgumentError("softmax has no elementwise derivative; use it as the output of the log-likelihood cost")


def _zero(z, xp):
    """A 0-d zero of ``z``'s dtype on its device, which ``maximum`` broadcasts:
    a full array of zeros would cost an allocation and a pass over memory per
    layer and batch (a fifth of the time of an evaluation pass at 100 hidden
    units).  In a function traced into a fused kernel, ``zeros_like`` is
    already the kernel's scalar 0."""
    if tracing(xp):
        return xp.zeros_like(z)
    return xp.zeros((), dtype=z.dtype, device=array_api_compat.device(z))


ACTIVATIONS = {cls.name: cls for cls in (Sigmoid, Tanh, ReLU, Linear, Softmax)}
HIDDEN_ACTIVATIONS = ("sigmoid", "tanh", "relu")
_ALIASES = {"identity": "linear"}


def get_activation(spec) -> Activation:
    """An Activation from a name ("sigmoid", "tanh", "relu", "linear" (or
    "identity"), "softmax"), a class or an instance."""
    if isinstance(spec, Activation):
        return spec
    if isinstance(spec, type) and issubclass(spec, Activation):
        return spec()
    key = _ALIASES.get(spec.lower(), spec.lower()) if isinstance(spec, str) else None
    if key in ACTIVATIONS:
        return ACTIVATIONS[key]()
    raise ArgumentError(f"unknown activation {spec!r}; choose one of {', '.join(ACTIVATIONS)}")


def sigmoid(z):
    """The sigmoid function 1/(1+exp(-z)), elementwise, on an array of any backend."""
    xp = namespace_of(z)
    if not hasattr(z, "shape"):
        z = xp.asarray(z, dtype=xp.float64)
    return Sigmoid().fn(z, xp=xp)


def sigmoid_prime(z):
    """Derivative of the sigmoid function, sigmoid(z)*(1-sigmoid(z))."""
    s = sigmoid(z)
    return s * (1 - s)
