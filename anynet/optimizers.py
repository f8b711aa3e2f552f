"""Parameter updates as pure functions: each ``step`` returns new weight and
bias lists and a new state, and never writes into an existing array (JAX
arrays are immutable; it also keeps a failed step from half-updating a net).

``nabla_w``/``nabla_b`` are gradients summed over a mini-batch of ``m``
samples; the mean gradient is ``nabla / m`` plus the regularisation term
``decay(w)`` (weights only, as in the book).
"""

from __future__ import annotations

import math


class Regularizer:
    """Weight penalty (lmbda / n) * R(w) of network2.py; biases are not regularised."""

    def __init__(self, kind: str, lmbda: float, n: int):
        self.kind = kind
        self.coef = lmbda / n

    def grad(self, w, *, xp):
        if self.kind == "l2":
            return self.coef * w
        return self.coef * xp.sign(w)

    def penalty(self, weights, *, xp):
        if self.kind == "l2":
            return 0.5 * self.coef * sum(xp.sum(w * w) for w in weights)
        return self.coef * sum(xp.sum(xp.abs(w)) for w in weights)


REGULARIZATIONS = ("l2", "l1")


class Optimizer:
    name = ""

    def init(self, weights, biases, *, xp):
        """The optimiser's initial state for these parameters."""
        return None

    def step(self, weights, biases, nabla_w, nabla_b, state, *, eta, m, reg, xp):
        """Return (weights, biases, state) after one update."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


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
    argument is written.  JAX has no in-place ``+=``: it rebinds, same result."""
    fresh += w
    return fresh


def _mean_grads(weights, nabla_w, nabla_b, m, reg, xp):
    gw = [nw / m for nw in nabla_w]
    if reg is not None:
        gw = [g + reg.grad(w, xp=xp) for g, w in zip(gw, weights)]
    return gw, [nb / m for nb in nabla_b]


class Momentum(Optimizer):
    """Momentum SGD of the book's chapter 3: v -> mu v - eta g, w -> w + v."""

    name = "momentum"

    def __init__(self, mu: float = 0.9):
        if not (isinstance(mu, (int, float)) and 0.0 <= mu < 1.0):
            raise ValueError(f"momentum coefficient mu must be in [0, 1), not {mu!r}")
        self.mu = float(mu)

    def init(self, weights, biases, *, xp):
        return [xp.zeros_like(w) for w in weights], [xp.zeros_like(b) for b in biases]

    def step(self, weights, biases, nabla_w, nabla_b, state, *, eta, m, reg, xp):
        gw, gb = _mean_grads(weights, nabla_w, nabla_b, m, reg, xp)
        vw = [self.mu * v - eta * g for v, g in zip(state[0], gw)]
        vb = [self.mu * v - eta * g for v, g in zip(state[1], gb)]
        new_w = [w + v for w, v in zip(weights, vw)]
        new_b = [b + v for b, v in zip(biases, vb)]
        return new_w, new_b, (vw, vb)

    def __repr__(self) -> str:
        return f"Momentum(mu={self.mu})"


class Adam(Optimizer):
    """Adam (Kingma and Ba, 2015) with bias correction; eta is the step size."""

    name = "adam"

    def __init__(self, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8):
        for label, value in (("beta1", beta1), ("beta2", beta2)):
            if not (isinstance(value, (int, float)) and 0.0 <= value < 1.0):
                raise ValueError(f"Adam {label} must be in [0, 1), not {value!r}")
        if not (isinstance(eps, (int, float)) and eps > 0 and math.isfinite(eps)):
            raise ValueError(f"Adam eps must be a positive number, not {eps!r}")
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)

    def init(self, weights, biases, *, xp):
        zeros = lambda arrays: [xp.zeros_like(a) for a in arrays]  # noqa: E731
        return 0, zeros(weights), zeros(biases), zeros(weights), zeros(biases)

    def step(self, weights, biases, nabla_w, nabla_b, state, *, eta, m, reg, xp):
        t, m_w, m_b, v_w, v_b = state
        t += 1
        gw, gb = _mean_grads(weights, nabla_w, nabla_b, m, reg, xp)
        b1, b2 = self.beta1, self.beta2
        m_w = [b1 * mo + (1 - b1) * g for mo, g in zip(m_w, gw)]
        m_b = [b1 * mo + (1 - b1) * g for mo, g in zip(m_b, gb)]
        v_w = [b2 * v + (1 - b2) * (g * g) for v, g in zip(v_w, gw)]
        v_b = [b2 * v + (1 - b2) * (g * g) for v, g in zip(v_b, gb)]
        step_size = eta / (1 - b1**t)
        root_correction = math.sqrt(1 - b2**t)

        def move(params, moments, variances):
            return [
                p - step_size * mo / (xp.sqrt(v) / root_correction + self.eps)
                for p, mo, v in zip(params, moments, variances)
            ]

        new_w = move(weights, m_w, v_w)
        new_b = move(biases, m_b, v_b)
        return new_w, new_b, (t, m_w, m_b, v_w, v_b)

    def __repr__(self) -> str:
        return f"Adam(beta1={self.beta1}, beta2={self.beta2}, eps={self.eps})"


OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "adam": Adam}


def get_optimizer(spec) -> Optimizer:
    """An Optimizer from a name ("sgd", "momentum", "adam"), a class or an instance."""
    if isinstance(spec, Optimizer):
        return spec
    if isinstance(spec, type) and issubclass(spec, Optimizer):
        return spec()
    if isinstance(spec, str) and spec.lower() in OPTIMIZERS:
        return OPTIMIZERS[spec.lower()]()
    raise ValueError(f"unknown optimizer {spec!r}; choose one of {', '.join(OPTIMIZERS)}")
