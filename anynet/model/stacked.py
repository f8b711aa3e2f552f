"""K networks of one shape trained as one stack (:mod:`anynet.api.sweep`; its engine is :mod:`anynet.train.engine_stacked`).

Network k's layer l is ``params[l].weight[k]`` of a ``(K, y, x)`` array
(biases ``(K, y, 1)``): the book's layout with a leading K.  A stacked mini-batch
``(K, m, x)`` holds each network's own rows, gathered by one ``take`` over a
flat index row; :mod:`anynet.model.backprop` and the optimizers run on the stack
unchanged, the leading axis broadcasting through ``@``.

Per-network hyperparameters (eta, lambda) are :class:`PerModel` values: K
float64 numbers kept on the host, where ``eta / m`` and ``lmbda / n`` are
computed exactly as a single run computes them with Python floats, and cast
to the parameters' dtype only where they meet an array, as a Python float is.
So on NumPy (whose stacked matmul calls the same BLAS routine per network as
the single product) every network of a stack ends bit for bit where its
separate run ends, in float64 and float32; elsewhere (torch's batched
matmul is another kernel) to rounding.
"""

from __future__ import annotations

import numbers

import array_api_compat
import numpy as np

from .model import Model
from .params import Params


class PerModel:
    """K real numbers, one per stacked network, with Python-float semantics:
    arithmetic with numbers stays on the host in float64; with an array,
    the values become a ``(K, 1, ..., 1)`` array of its dtype, device and
    rank (cached): network k's value meets network k's parameters, whatever
    their rank (a dense weight ``(K, y, x)``, a convolution's ``(K, F, C, kh,
    kw)``, its bias ``(K, F)``).  With a 0-d array they become ``(K, 1,
    1)``, the rank of a dense network's parameters: a 0-d value that is to
    meet other ranks takes their rank first (Adam's step size,
    ``optimizers._step_size``)."""

    __array_priority__ = 1000  # a NumPy array on the left defers to our __r*__

    def __init__(self, values):
        self.values = np.array(values, dtype=np.float64).reshape(-1, 1, 1)  # writable: torch warns on read-only
        self._cast = {}
        self._memo = {}

    def on(self, array):
        """These values as an array of ``array``'s namespace, dtype and device."""
        if isinstance(array, np.generic):
            array = np.asarray(array)
        rank = array.ndim or 3  # a 0-d array: a dense network's rank
        key = (array.dtype, array_api_compat.device(array), rank)  # hashable on every backend; str() would cost ~7 us a step
        cast = self._cast.get(key)
        if cast is None:
            xp = array_api_compat.array_namespace(array)
            values = self.values.reshape((-1,) + (1,) * (rank - 1))
            cast = xp.asarray(values, dtype=array.dtype, device=array_api_compat.device(array))
            self._cast[key] = cast
        return cast

    def _number(self, other):
        if type(other) in (int, float):  # the common case, without the slower ABC check
            return float(other)
        if isinstance(other, PerModel):
            return other.values
        if isinstance(other, np.generic):  # a NumPy scalar is NumPy's 0-d array (Adam's step count)
            return None
        if isinstance(other, numbers.Real):
            return float(other)
        return None

    def _derived(self, op, other, values):
        # eta / m and -rate are asked for every step: the same object comes
        # back, so its cast to the device is made once
        key = (op, other) if isinstance(other, float) else None
        hit = self._memo.get(key) if key is not None else None
        if hit is None:
            hit = PerModel(values)
            if key is not None and len(self._memo) < 8:
                self._memo[key] = hit
        return hit

    def __neg__(self):
        return self._derived("neg", 0.0, -self.values)

    def __mul__(self, other):
        o = self._number(other)
        return self.on(other) * other if o is None else self._derived("mul", o, self.values * o)

    def __rmul__(self, other):
        o = self._number(other)
        return other * self.on(other) if o is None else self._derived("rmul", o, o * self.values)

    def __truediv__(self, other):
        o = self._number(other)
        return self.on(other) / other if o is None else self._derived("div", o, self.values / o)

    def __rtruediv__(self, other):
        o = self._number(other)
        return other / self.on(other) if o is None else PerModel(o / self.values)

    def __add__(self, other):
        o = self._number(other)
        return self.on(other) + other if o is None else PerModel(self.values + o)

    __radd__ = __add__

    def __sub__(self, other):
        o = self._number(other)
        return self.on(other) - other if o is None else PerModel(self.values - o)

    def __rsub__(self, other):
        o = self._number(other)
        return other - self.on(other) if o is None else PerModel(o - self.values)

    def __bool__(self):
        return bool(np.any(self.values))

    def __repr__(self):
        return f"PerModel({self.values.ravel().tolist()})"


class StackedModel(Model):
    """K models of the same sizes, cost, activations and backend as one
    Model whose parameters carry a leading axis K."""

    def __init__(self, models):
        first = models[0]
        super().__init__(first.layers, cost=first.cost, backend=first.backend,
                         params=_stack([m.params for m in models], first.xp),
                         input_shape=first.input_shape)
        self.k = len(models)

    def member_parameters(self, k, params=None) -> list:
        """The parameters of network ``k`` (views of the stack, or of the given list)."""
        return [Params(p.weight[k, ...], p.bias[k, ...]) for p in (self.params if params is None else params)]

    def set_members(self, members) -> None:
        """Install each network's parameters (K lists of Params) as the stack's."""
        self.set_parameters(_stack(members, self.xp))

    def member(self, k) -> Model:
        """Network ``k`` as a Model viewing the stack's current parameters."""
        return Model(self.layers, cost=self.cost, backend=self.backend, params=self.member_parameters(k),
                     input_shape=self.input_shape)

    def all_finite(self, params=None):
        """A ``(K,)`` boolean array: network k holds no NaN or inf."""
        flags = []
        for k in range(self.k):
            flags.append(Model.all_finite(self, self.member_parameters(k, params)))
        return self.xp.stack(flags)


def _stack(members, xp) -> list:
    """K parameter lists (one per network) as one list of Params with a leading axis K."""
    return [Params(xp.stack([m[l].weight for m in members]), xp.stack([m[l].bias for m in members]))
            for l in range(len(members[0]))]
