"""Parameter updates as pure functions: each ``step`` returns new weight and
bias lists and a new state, and never writes into an existing array (JAX
arrays are immutable; it also keeps a failed step from half-updating a net).

``nabla_w``/``nabla_b`` are gradients summed over a mini-batch of ``m``
samples; the mean gradient is ``nabla / m`` plus the regularisation term
``decay(w)`` (weights only, as in the book).  An optimizer's state is a dict
of lists of arrays (and a step count), so a checkpoint can store it and a
compiled epoch (JAX's ``lax.scan``, torch's scan) can carry it: arrays only,
never None or a Python int (Adam's step count is a 0-d integer array), and
nothing in a step turns an array into a Python number.

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

    def penalty(self, weights, *, xp):
        if self.kind == "l2":
            return 0.5 * self.coef * sum(xp.sum(w * w) for w in weights)
        return self.coef * sum(xp.sum(xp.abs(w)) for w in weights)


class Optimizer:
    name = ""
    counts_steps = False  # a step count in the state (0-d), which a per-network eta meets (anynet.model.stacked.PerModel)

    def init(self, weights, biases, *, xp) -> dict:
        """The optimiser's initial state for these parameters."""
        return {}

    def step(self, weights, biases, nabla_w, nabla_b, state, *, eta, m, reg, xp, fuse=None):
        """Return (weights, biases, state) after one update; ``fuse`` (given on
        CuPy only) runs each array's update as one kernel."""
        raise NotImplementedError

    def bind(self, *, reg, xp, fuse=None):
        """``update(weights, biases, nabla_w, nabla_b, state, eta, m) ->
        (weights, biases, state)``: :meth:`step` with the settings fixed once
        (a training step calls it once per mini-batch).  An optimizer
        written before fusion takes no ``fuse``: it is passed only when given."""
        step, settings = self.step, ({} if fuse is None else {"fuse": fuse})

        def update(weights, biases, nabla_w, nabla_b, state, eta, m):
            return step(weights, biases, nabla_w, nabla_b, state, eta=eta, m=m, reg=reg, xp=xp, **settings)

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

    def step(self, weights, biases, nabla_w, nabla_b, state, *, eta, m, reg, xp, fuse=None):
        return self.bind(reg=reg, xp=xp, fuse=fuse)(weights, biases, nabla_w, nabla_b, state, eta, m)

    def bind(self, *, reg, xp, fuse=None):
        if type(self).step is not SGD.step:  # a subclass's own step
            return super().bind(reg=reg, xp=xp, fuse=fuse)
        (update,) = fused(fuse, sgd_update)
        kind, coef = _kind(reg), _coef(reg)

        def step(weights, biases, nabla_w, nabla_b, state, eta, m):
            rate, new_w, new_b = eta / m, [], []
            for w, nw in zip(weights, nabla_w):  # loops, not comprehensions: no frame each (Python < 3.12)
                new_w.append(update(w, nw, rate, eta, coef, kind=kind, xp=xp))
            for b, nb in zip(biases, nabla_b):
                new_b.append(update(b, nb, rate, eta, 0.0, kind=None, xp=xp))
            return new_w, new_b, state

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


def _zeros(arrays, xp):
    return [xp.zeros_like(a) for a in arrays]


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

    def init(self, weights, biases, *, xp):
        return {"v_w": _zeros(weights, xp), "v_b": _zeros(biases, xp)}

    def step(self, weights, biases, nabla_w, nabla_b, state, *, eta, m, reg, xp, fuse=None):
        (update,) = fused(fuse, momentum_update)
        kind, coef, mu, nesterov = _kind(reg), _coef(reg), self.mu, self.nesterov
        new_w, vw = _unzip(update(w, v, nw, m, eta, mu, coef, kind=kind, nesterov=nesterov, xp=xp)
                           for w, v, nw in zip(weights, state["v_w"], nabla_w))
        new_b, vb = _unzip(update(b, v, nb, m, eta, mu, 0.0, kind=None, nesterov=nesterov, xp=xp)
                           for b, v, nb in zip(biases, state["v_b"], nabla_b))
        return new_w, new_b, {"v_w": vw, "v_b": vb}

    def config(self):
        return {"mu": self.mu, "nesterov": self.nesterov}


class Adam(Optimizer):
    """Adam (Kingma and Ba, 2015) with bias correction; eta is the step size."""

    name = "adam"
    counts_steps = True

    def __init__(self, beta1=0.9, beta2=0.999, eps=1e-8):
        self.beta1 = arguments.real("Adam beta1", beta1, low=0.0, high=1.0, high_open=True)
        self.beta2 = arguments.real("Adam beta2", beta2, low=0.0, high=1.0, high_open=True)
        self.eps = arguments.real("Adam eps", eps, low=0.0, low_open=True)

    def init(self, weights, biases, *, xp):
        return {
            "t": step_count(weights[0], xp=xp),
            "m_w": _zeros(weights, xp),
            "m_b": _zeros(biases, xp),
            "v_w": _zeros(weights, xp),
            "v_b": _zeros(biases, xp),
        }

    def step(self, weights, biases, nabla_w, nabla_b, state, *, eta, m, reg, xp, fuse=None):
        (update,) = fused(fuse, adam_update)
        t = state["t"] + 1
        # The bias corrections in float64 where the namespace has one (not
        # JAX's 32-bit mode): in float32, 1 - b2**t would lose 1e-5 of its
        # value to cancellation.  Then in the parameters' dtype, which a
        # float64 0-d array would otherwise promote.  NumPy returns t + 1 as a
        # scalar, whose ** is C's pow, as a Python int's is: NumPy's results
        # are bit for bit those of a Python int t, in both dtypes.
        dtype, tf = weights[0].dtype, xp.astype(t, _widest_float(xp))
        b1, b2, eps = self.beta1, self.beta2, self.eps
        step_size = xp.astype(eta / (1 - b1**tf), dtype)
        root_correction = xp.astype((1 - b2**tf) ** 0.5, dtype)
        constants = (b1, b2, step_size, root_correction, eps)
        new_w, m_w, v_w = _unzip(update(w, mo, v, nw, m, _coef(reg), *constants, kind=_kind(reg), xp=xp)
                                 for w, mo, v, nw in zip(weights, state["m_w"], state["v_w"], nabla_w))
        new_b, m_b, v_b = _unzip(update(b, mo, v, nb, m, 0.0, *constants, kind=None, xp=xp)
                                 for b, mo, v, nb in zip(biases, state["m_b"], state["v_b"], nabla_b))
        new_state = {"t": t, "m_w": m_w, "m_b": m_b, "v_w": v_w, "v_b": v_b}
        return new_w, new_b, new_state

    def config(self):
        return {"beta1": self.beta1, "beta2": self.beta2, "eps": self.eps}


def _unzip(results):
    """Per-array update results ``[(a, b), ...]`` as lists ``[a, ...], [b, ...]``."""
    return tuple(list(column) for column in zip(*results))


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
