"""Parameter updates as pure functions: each ``step`` returns new weight and
bias lists and a new state, and never writes into an existing array (JAX
arrays are immutable; it also keeps a failed step from half-updating a net).

``nabla_w``/``nabla_b`` are gradients summed over a mini-batch of ``m``
samples; the mean gradient is ``nabla / m`` plus the regularisation term
``decay(w)`` (weights only, as in the book).  An optimizer's state is a dict
of lists of arrays (and a step count), so a checkpoint can store it and a
compiled epoch (JAX's ``lax.scan``) can carry it; nothing in a step turns an
array into a Python number.
"""

from __future__ import annotations

from . import checks
from .errors import ArgumentError, ArgumentTypeError

REGULARIZATIONS = ("l2", "l1")


class Regularizer:
    """Weight penalty (lmbda / n) * R(w) of network2.py; biases are not regularised.
    L2: R = 0.5 * sum(w^2), gradient (lmbda/n) w.  L1: R = sum(|w|), gradient (lmbda/n) sign(w)."""

    def __init__(self, kind: str, lmbda: float, n: int):
        self.kind = checks.choice("regularization", kind, REGULARIZATIONS)
        self.lmbda = lmbda
        self.coef = lmbda / n

    def grad(self, w, *, xp):
        if self.kind == "l2":
            return self.coef * w
        return self.coef * xp.sign(w)

    def penalty(self, weights, *, xp):
        if self.kind == "l2":
            return 0.5 * self.coef * sum(xp.sum(w * w) for w in weights)
        return self.coef * sum(xp.sum(xp.abs(w)) for w in weights)


class Optimizer:
    name = ""

    def init(self, weights, biases, *, xp) -> dict:
        """The optimiser's initial state for these parameters."""
        return {}

    def step(self, weights, biases, nabla_w, nabla_b, state, *, eta, m, reg, xp):
        """Return (weights, biases, state) after one update."""
        raise NotImplementedError

    def config(self) -> dict:
        """The constructor's arguments, to record in a checkpoint."""
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """The book's update: w -> w - (eta/m) nabla_w (minus eta * decay with lmbda)."""

    name = "sgd"

    def step(self, weights, biases, nabla_w, nabla_b, state, *, eta, m, reg, xp):
        rate = eta / m
        if reg is None:
            new_w = [_added(-rate * nw, w) for w, nw in zip(weights, nabla_w)]
        else:
            new_w = [w - eta * reg.grad(w, xp=xp) - rate * nw for w, nw in zip(weights, nabla_w)]
        new_b = [_added(-rate * nb, b) for b, nb in zip(biases, nabla_b)]
        return new_w, new_b, state


def _added(fresh, w):
    """``w + fresh``, written into ``fresh``: the product ``-rate * nabla`` is
    this step's own temporary, so ``w - rate * nabla`` costs one full-size
    array instead of two (bit for bit the same numbers), and no parameter or
    argument is written.  Immutable arrays (JAX) have no in-place ``+=``:
    Python falls back to ``fresh + w``, the same numbers."""
    fresh += w
    return fresh


def _mean_grads(weights, nabla_w, nabla_b, m, reg, xp):
    gw = [nw / m for nw in nabla_w]
    if reg is not None:
        gw = [g + reg.grad(w, xp=xp) for g, w in zip(gw, weights)]
    return gw, [nb / m for nb in nabla_b]


def _zeros(arrays, xp):
    return [xp.zeros_like(a) for a in arrays]


class Momentum(Optimizer):
    """Momentum SGD of the book's chapter 3: v -> mu v - eta g, w -> w + v.
    ``nesterov=True`` looks ahead: w -> w + mu v - eta g with the new v
    (Sutskever et al. 2013, as torch.optim.SGD(nesterov=True))."""

    name = "momentum"

    def __init__(self, mu=0.9, nesterov=False):
        self.mu = checks.real("momentum coefficient mu", mu, low=0.0, high=1.0, high_open=True)
        if not isinstance(nesterov, bool):
            raise ArgumentTypeError(f"nesterov must be True or False, not {nesterov!r}")
        self.nesterov = nesterov

    def init(self, weights, biases, *, xp):
        return {"v_w": _zeros(weights, xp), "v_b": _zeros(biases, xp)}

    def step(self, weights, biases, nabla_w, nabla_b, state, *, eta, m, reg, xp):
        gw, gb = _mean_grads(weights, nabla_w, nabla_b, m, reg, xp)
        mu = self.mu
        vw = [mu * v - eta * g for v, g in zip(state["v_w"], gw)]
        vb = [mu * v - eta * g for v, g in zip(state["v_b"], gb)]
        if self.nesterov:
            new_w = [w + mu * v - eta * g for w, v, g in zip(weights, vw, gw)]
            new_b = [b + mu * v - eta * g for b, v, g in zip(biases, vb, gb)]
        else:
            new_w = [w + v for w, v in zip(weights, vw)]
            new_b = [b + v for b, v in zip(biases, vb)]
        return new_w, new_b, {"v_w": vw, "v_b": vb}

    def config(self):
        return {"mu": self.mu, "nesterov": self.nesterov}


class Adam(Optimizer):
    """Adam (Kingma and Ba, 2015) with bias correction; eta is the step size."""

    name = "adam"

    def __init__(self, beta1=0.9, beta2=0.999, eps=1e-8):
        self.beta1 = checks.real("Adam beta1", beta1, low=0.0, high=1.0, high_open=True)
        self.beta2 = checks.real("Adam beta2", beta2, low=0.0, high=1.0, high_open=True)
        self.eps = checks.real("Adam eps", eps, low=0.0, low_open=True)

    def init(self, weights, biases, *, xp):
        return {
            "t": 0,
            "m_w": _zeros(weights, xp),
            "m_b": _zeros(biases, xp),
            "v_w": _zeros(weights, xp),
            "v_b": _zeros(biases, xp),
        }

    def step(self, weights, biases, nabla_w, nabla_b, state, *, eta, m, reg, xp):
        t = state["t"] + 1  # a Python int eagerly; a traced integer inside a compiled epoch
        gw, gb = _mean_grads(weights, nabla_w, nabla_b, m, reg, xp)
        b1, b2 = self.beta1, self.beta2
        m_w = [b1 * mo + (1 - b1) * g for mo, g in zip(state["m_w"], gw)]
        m_b = [b1 * mo + (1 - b1) * g for mo, g in zip(state["m_b"], gb)]
        v_w = [b2 * v + (1 - b2) * (g * g) for v, g in zip(state["v_w"], gw)]
        v_b = [b2 * v + (1 - b2) * (g * g) for v, g in zip(state["v_b"], gb)]
        step_size = eta / (1 - b1**t)
        root_correction = (1 - b2**t) ** 0.5

        def move(params, moments, variances):
            return [
                p - step_size * mo / (xp.sqrt(v) / root_correction + self.eps)
                for p, mo, v in zip(params, moments, variances)
            ]

        new_state = {"t": t, "m_w": m_w, "m_b": m_b, "v_w": v_w, "v_b": v_b}
        return move(weights, m_w, v_w), move(biases, m_b, v_b), new_state

    def config(self):
        return {"beta1": self.beta1, "beta2": self.beta2, "eps": self.eps}


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
