"""Cost functions: network2.py's ``QuadraticCost`` and ``CrossEntropyCost`` and
the log-likelihood cost of a softmax output layer (book chapter 3).

``fn(a, y)`` is the cost summed over every sample in ``a`` (one column vector,
as in the book, or a batch); ``delta(z, a, y)`` is the output error of the
book's sigmoid output layer.  Inside anynet, ``output_delta`` generalises
``delta`` to the output activation actually used, and ``total(z, a, y)``
computes the summed cost from the output layer's ``z``: a sigmoid or softmax
output rounds to exactly 0 or 1 long before the cost is large (z ~ 17 in
float32), where ``fn(a, y)`` can only answer inf.
"""

from __future__ import annotations

from .activations import Sigmoid
from ..xp.backend import namespace_of
from ..errors import ArgumentError


def _xlogy(x, y, *, xp):
    """x*log(y) with 0*log(0) = 0: no NaN at a = 0 or 1."""
    safe_y = xp.where(x == 0, xp.ones_like(y), y)
    return x * xp.log(safe_y)


class Cost:
    name = ""
    output_activations: tuple[str, ...] = ()
    total_needs_output = True  # total() reads ``a``; False: ``z`` alone, so a is not computed for it

    @classmethod
    def fn(cls, a, y):
        """The cost of output ``a`` against target ``y``, summed over samples."""
        return cls._fn(a, y, xp=namespace_of(a))

    @classmethod
    def check_output(cls, activation) -> None:
        if activation.name not in cls.output_activations:
            raise ArgumentError(
                f"{cls.__name__} cannot follow a {activation.name} output layer; "
                f"its output activation must be one of {', '.join(cls.output_activations)}"
            )


class QuadraticCost(Cost):
    """C = 0.5 * ||a - y||^2, the cost of network.py; with a linear output
    layer, least squares regression (the mean cost over the samples is half
    their mean squared error summed over the outputs; scikit-learn's
    MLPRegressor minimises the same)."""

    name = "quadratic"
    output_activations = ("sigmoid", "tanh", "relu", "linear")

    @staticmethod
    def _fn(a, y, *, xp):
        d = a - y
        return 0.5 * xp.sum(d * d)

    @classmethod
    def delta(cls, z, a, y):
        """network2.py: the output error (a - y) * sigmoid'(z) of a sigmoid output
        layer, sigmoid'(z) computed from z as the book does (training uses
        ``output_delta``, which takes it from a = sigmoid(z))."""
        xp = namespace_of(z, a, y)
        s = Sigmoid().fn(z, xp=xp)
        return (a - y) * (s * (1 - s))

    @staticmethod
    def output_delta(z, a, y, activation, *, xp):
        """The output error dC/dz for the output layer's ``activation``."""
        return (a - y) * activation.prime(z, a, xp=xp)

    @classmethod
    def total(cls, z, a, y, *, xp):
        return cls._fn(a, y, xp=xp)


class _MatchedCost(Cost):
    """A cost whose output activation's derivative cancels against its own:
    the output error is simply a - y."""

    @classmethod
    def delta(cls, z, a, y):
        """network2.py: the output error a - y (the output activation's derivative cancels)."""
        return cls.output_delta(z, a, y, None, xp=None)

    @staticmethod
    def output_delta(z, a, y, activation, *, xp):
        """The output error dC/dz: a - y, whatever the matched activation."""
        return a - y


class CrossEntropyCost(_MatchedCost):
    """C = -sum(y ln a + (1 - y) ln(1 - a)) for sigmoid outputs; NaN-free at a = 0 or 1."""

    name = "cross-entropy"
    output_activations = ("sigmoid",)
    total_needs_output = False

    @staticmethod
    def _fn(a, y, *, xp):
        return -xp.sum(_xlogy(y, a, xp=xp) + _xlogy(1 - y, 1 - a, xp=xp))

    @staticmethod
    def total(z, a, y, *, xp):
        # -[y ln s(z) + (1-y) ln(1-s(z))] = ln(1 + e^z) - y z, finite for every finite z
        return xp.sum(xp.logaddexp(xp.zeros_like(z), z) - y * z)


class LogLikelihoodCost(_MatchedCost):
    """C = -sum(y ln a) for a softmax output layer (y one-hot: -ln a_y)."""

    name = "log-likelihood"
    output_activations = ("softmax",)
    total_needs_output = False

    @staticmethod
    def _fn(a, y, *, xp):
        return -xp.sum(_xlogy(y, a, xp=xp))

    @staticmethod
    def total(z, a, y, *, xp):
        # -y ln softmax(z) = y (logsumexp(z) - z), with the row maximum taken out of the exp
        top = xp.max(z, axis=-1, keepdims=True)
        log_sum = top + xp.log(xp.sum(xp.exp(z - top), axis=-1, keepdims=True))
        return xp.sum(y * (log_sum - z))


COSTS = {cls.name: cls for cls in (QuadraticCost, CrossEntropyCost, LogLikelihoodCost)}


def get_cost(spec) -> type[Cost]:
    """A cost class from a name ("quadratic", "cross-entropy", "log-likelihood"), a class or an instance."""
    if isinstance(spec, type) and issubclass(spec, Cost):
        return spec
    if isinstance(spec, Cost):
        return type(spec)
    if isinstance(spec, str):
        key = spec.lower().replace("_", "-").replace("crossentropy", "cross-entropy")
        key = {"mse": "quadratic", "loglikelihood": "log-likelihood", "nll": "log-likelihood"}.get(key, key)
        if key in COSTS:
            return COSTS[key]
    raise ArgumentError(f"unknown cost {spec!r}; choose one of {', '.join(COSTS)}")
