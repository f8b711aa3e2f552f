"""Parameter updates as pure functions: each ``step`` returns a new
parameter list and a new state, and never writes into an existing array (JAX
arrays are immutable; it also keeps a failed step from half-updating a net).

Parameters, gradients and moments are lists of
:class:`~anynet.model.params.Params` (one per layer that has parameters);
``grads`` are summed over a mini-batch of ``m`` samples; the mean gradient
is ``nabla / m`` plus the regularisation term ``decay(w)`` (weights only, as
in the book).  An optimizer's state is a dict of such lists (and a step
count) that a checkpoint stores and a compiled epoch carries: arrays only
(Adam's step count is a 0-d integer array), never turned into Python numbers.

Each update is written once, for one array, as a function of arrays, numbers
and ``xp`` (``sgd_update``, ``momentum_update``, ``adam_update``): a step maps
it over the parameters, and on CuPy runs it as one fused kernel per array
(``fuse``, see :mod:`anynet.xp.kernels`).
"""

from __future__ import annotations

import array_api_compat

from .. import arguments
from ..errors import ArgumentError, ArgumentTypeError
from ..xp.kernels import fused
from .params import Params

_new = tuple.__new__  # Params from a pair without the NamedTuple's Python-level __new__ (once per layer and step)


REGULARIZATIONS = ("l2", "l1")


class Regularizer:
    """Weight penalty (lmbda / n) * R(w) of network2.py; biases are not regularised.
    L2: R = 0.5 * sum(w^2), gradient (lmbda/n) w.  L1: R = sum(|w|), gradient (lmbda/n) sign(w)."""

    def __init__(self, kind: str, lmbda: float, n: int):
        self.kind = arguments.choice("regularization", kind, REGULARIZATIONS)
        self.lmbda = lmbda
        self.coef = lmbda / n

    def grad(self, w, *, xp):
        return decay(w, self.coef, kind=self.kind, xp=xp)

    def penalty(self, params, *, xp):
        """The penalty of the weights of ``params`` (a list of Params)."""
        if self.kind == "l2":
            return 0.5 * self.coef * sum(xp.sum(p.weight * p.weight) for p in params)
        return self.coef * sum(xp.sum(xp.abs(p.weight)) for p in params)


class Optimizer:
    name = ""

    def init(self, params, *, xp) -> dict:
        """The optimiser's initial state for ``params`` (a list of Params)."""
        return {}

    def step(self, params, grads, state, *, eta, m, reg, xp, fuse=None):
        """Return ``(params, state)`` after one update (``params`` and
        ``grads``: lists of Params); ``fuse`` (given on CuPy only) runs each
        array's update as one kernel."""
        raise NotImplementedError

    def bind(self, *, reg, xp, fuse=None):
        """``update(params, grads, state, eta, m) -> (params, state)``:
        :meth:`step` with the settings fixed once (a training step calls it
        once per mini-batch).  An optimizer written before fusion takes no
        ``fuse``: it is passed only when given."""
        step, settings = self.step, ({} if fuse is None else {"fuse": fuse})

        def update(params, grads, state, eta, m):
            return step(params, grads, state, eta=eta, m=m, reg=reg, xp=xp, **settings)

        return update

    def config(self) -> dict:
        """The constructor's arguments, to record in a checkpoint."""
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """The book's update: w -> w - (eta/m) nabla_w (minus eta * decay with lmbda)."""

    name = "sgd"

    def step(self, params, grads, state, *, eta, m, reg, xp, fuse=None):
        return self.bind(reg=reg, xp=xp, fuse=fuse)(params, grads, state, eta, m)

    def bind(self, *, reg, xp, fuse=None):
        if type(self).step is not SGD.step:  # a subclass's own step
            return super().bind(reg=reg, xp=xp, fuse=fuse)
        (update,) = fused(fuse, sgd_update)
        kind, coef = _kind(reg), _coef(reg)

        def step(params, grads, state, eta, m):
            rate, new = eta / m, []
            for (w, b), (nw, nb) in zip(params, grads):  # a loop, not a comprehension: no frame (Python < 3.12)
                new.append(_new(Params, (update(w, nw, rate, eta, coef, kind=kind, xp=xp),
                                         update(b, nb, rate, eta, 0.0, kind=None, xp=xp))))
            return new, state

        return step


def decay(w, coef, *, kind, xp):
    """The gradient of the weight penalty: coef * w (L2) or coef * sign(w) (L1)."""
    if kind == "l2":
        return coef * w
    return coef * xp.sign(w)


def sgd_update(w, nabla, rate, eta, coef, *, kind, xp):
    """One array's SGD step: w - rate * nabla (rate = eta/m), minus eta *
    decay(w) with a penalty ``kind``."""
    if kind is None:
        fresh = -rate * nabla  # _added(-rate * nabla, w), inlined: a call fewer per array and step
        fresh += w
        return fresh
    return w - eta * decay(w, coef, kind=kind, xp=xp) - rate * nabla


def mean_gradient(w, nabla, m, coef, *, kind, xp):
    """The mean gradient nabla / m, plus decay(w) with a penalty ``kind``."""
    g = nabla / m
    if kind is not None:
        g = g + decay(w, coef, kind=kind, xp=xp)
    return g


def momentum_update(w, v, nabla, m, eta, mu, coef, *, kind, nesterov, xp):
    """One array's momentum step: ``(new w, new v)``."""
    g = mean_gradient(w, nabla, m, coef, kind=kind, xp=xp)
    v = mu * v - eta * g
    return (w + mu * v - eta * g if nesterov else w + v), v


def adam_update(p, moment, variance, nabla, m, coef, b1, b2, step_size, root_correction, eps, *, kind, xp):
    """One array's Adam step: ``(new p, new moment, new variance)``."""
    g = mean_gradient(p, nabla, m, coef, kind=kind, xp=xp)
    # Each line's first product is this step's own array, and the rest is
    # added into it (_added): the same numbers as b1 * moment + (1 - b1) * g
    # and so on (+ and * commute exactly), with half the temporaries.
    moment = _added((1 - b1) * g, b1 * moment)
    variance = _added(_scaled(g * g, 1 - b2), b2 * variance)
    denominator = _added(_divided(xp.sqrt(variance), root_correction), eps)
    return p - _divided(step_size * moment, denominator), moment, variance


def _kind(reg):
    return None if reg is None else reg.kind


def _coef(reg):
    return 0.0 if reg is None else reg.coef


def _added(fresh, w):
    """``w + fresh``, written into ``fresh``: the product ``-rate * nabla`` is
    this step's own temporary, so ``w - rate * nabla`` costs one full-size
    array instead of two (bit for bit the same numbers), and no parameter or
    argument is written.  Immutable arrays (JAX) have no in-place ``+=``:
    Python falls back to ``fresh + w``, the same numbers."""
    fresh += w
    return fresh


def _scaled(fresh, factor):
    """``fresh * factor``, written into ``fresh`` (see :func:`_added`)."""
    fresh *= factor
    return fresh


def _divided(fresh, divisor):
    """``fresh / divisor``, written into ``fresh`` (see :func:`_added`)."""
    fresh /= divisor
    return fresh


def _zeros(params, xp):
    return [Params(xp.zeros_like(p.weight), xp.zeros_like(p.bias)) for p in params]


def _widest_float(xp):
    """float64, or float32 where the namespace has no float64 (JAX's 32-bit mode)."""
    floats = xp.__array_namespace_info__().dtypes(kind="real floating")
    return floats.get("float64", floats["float32"])


def step_count(like, *, xp):
    """A step counter: a 0-d array 0 of the default indexing dtype (int64;
    int32 on JAX without 64-bit mode) on ``like``'s device.  An array, not a
    Python int: a compiled epoch carries it (torch.compile would compile
    anew for every new int)."""
    dtype = xp.__array_namespace_info__().default_dtypes()["indexing"]
    return xp.zeros((), dtype=dtype, device=array_api_compat.device(like))


class Momentum(Optimizer):
    """Momentum SGD of the book's chapter 3: v -> mu v - eta g, w -> w + v.
    ``nesterov=True`` looks ahead: w -> w + mu v - eta g with the new v
    (Sutskever et al. 2013, as torch.optim.SGD(nesterov=True))."""

    name = "momentum"

    def __init__(self, mu=0.9, nesterov=False):
        self.mu = arguments.real("momentum coefficient mu", mu, low=0.0, high=1.0, high_open=True)
        if not isinstance(nesterov, bool):
            raise ArgumentTypeError(f"nesterov must be True or False, not {nesterov!r}")
        self.nesterov = nesterov

    def init(self, params, *, xp):
        return {"v": _zeros(params, xp)}

    def step(self, params, grads, state, *, eta, m, reg, xp, fuse=None):
        (update,) = fused(fuse, momentum_update)
        kind, coef, mu, nesterov = _kind(reg), _coef(reg), self.mu, self.nesterov
        new, velocities = [], []
        for p, v, g in zip(params, state["v"], grads):
            w, vw = update(p.weight, v.weight, g.weight, m, eta, mu, coef, kind=kind, nesterov=nesterov, xp=xp)
            b, vb = update(p.bias, v.bias, g.bias, m, eta, mu, 0.0, kind=None, nesterov=nesterov, xp=xp)
            new.append(Params(w, b))
            velocities.append(Params(vw, vb))
        return new, {"v": velocities}

    def config(self):
        return {"mu": self.mu, "nesterov": self.nesterov}


class Adam(Optimizer):
    """Adam (Kingma and Ba, 2015) with bias correction; eta is the step size."""

    name = "adam"

    def __init__(self, beta1=0.9, beta2=0.999, eps=1e-8):
        self.beta1 = arguments.real("Adam beta1", beta1, low=0.0, high=1.0, high_open=True)
        self.beta2 = arguments.real("Adam beta2", beta2, low=0.0, high=1.0, high_open=True)
        self.eps = arguments.real("Adam eps", eps, low=0.0, low_open=True)

    def init(self, params, *, xp):
        return {"t": step_count(params[0].weight, xp=xp), "m": _zeros(params, xp), "v": _zeros(params, xp)}

    def step(self, params, grads, state, *, eta, m, reg, xp, fuse=None):
        (update,) = fused(fuse, adam_update)
        t = state["t"] + 1
        # The bias corrections in float64 where the namespace has one (not JAX's
        # 32-bit mode; in float32, 1 - b2**t would lose 1e-5 to cancellation),
        # then in the parameters' dtype.  NumPy returns t + 1 as a scalar, whose
        # ** is C's pow, as a Python int's is: the bits of a Python int t.
        dtype, tf = params[0].weight.dtype, xp.astype(t, _widest_float(xp))
        b1, b2, eps = self.beta1, self.beta2, self.eps
        correction, sizes = 1 - b1**tf, {}
        root_correction = xp.astype((1 - b2**tf) ** 0.5, dtype)
        coef, kind = _coef(reg), _kind(reg)
        new, moments, variances = [], [], []
        for p, mo, v, g in zip(params, state["m"], state["v"], grads):
            size_w, size_b = (_step_size(sizes, eta, correction, a, dtype, xp) for a in p)
            w, mw, vw = update(p.weight, mo.weight, v.weight, g.weight, m, coef, b1, b2, size_w, root_correction, eps,
                               kind=kind, xp=xp)
            b, mb, vb = update(p.bias, mo.bias, v.bias, g.bias, m, 0.0, b1, b2, size_b, root_correction, eps,
                               kind=None, xp=xp)
            new.append(Params(w, b))
            moments.append(Params(mw, mb))
            variances.append(Params(vw, vb))
        return new, {"t": t, "m": moments, "v": variances}

    def config(self):
        return {"beta1": self.beta1, "beta2": self.beta2, "eps": self.eps}


def _step_size(sizes, eta, correction, like, dtype, xp):
    """Adam's ``eta / (1 - b1**t)`` in ``dtype`` and ``like``'s rank (once per
    rank): a stack's per-network eta (a PerModel) then gives one value per
    network whatever the parameters' rank (a conv weight's, its bias's).  The
    power is taken on the 0-d value (C's pow on NumPy), then reshaped."""
    rank = like.ndim
    size = sizes.get(rank)
    if size is None:
        size = sizes[rank] = xp.astype(eta / xp.reshape(correction, (1,) * rank), dtype)
    return size


OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "adam": Adam}


def get_optimizer(spec) -> Optimizer:
    """An Optimizer from a name ("sgd", "momentum", "adam"), a class or an instance."""
    if isinstance(spec, Optimizer):
        return spec
    if isinstance(spec, type) and issubclass(spec, Optimizer):
        return spec()
    if isinstance(spec, str) and spec.lower() in OPTIMIZERS:
        return OPTIMIZERS[spec.lower()]()
    raise ArgumentError(f"unknown optimizer {spec!r}; choose one of {', '.join(OPTIMIZERS)}")
