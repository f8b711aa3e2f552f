"""The one parameter type: :class:`Params`, a layer's ``(weight, bias)``.

Inside the library a network's parameters are one list of ``Params``, one
per layer that has parameters, in layer order (the order of
:func:`anynet.model.layers.chain.param_shapes`), and everything that has the
parameters' shape uses the same form: the initializers' draws, the
gradients, the optimizers' moments, a reducer's gradients, the best epoch's
parameters in a run.  The book's separate ``weights`` and ``biases`` lists
(and ``backprop``'s ``(nabla_b, nabla_w)``) exist only on the book faces,
converted by :func:`book_lists` and :func:`from_book`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

Array = Any


class Params(NamedTuple):
    """A layer's parameters, in one order everywhere: ``weight`` then ``bias``.
    A dense layer's weight is the book's ``(out, in)``, its bias ``(out, 1)``;
    a convolution's weight ``(filters, channels, height, width)``, its bias
    ``(filters,)``.  Stacked networks add a leading K to both."""

    weight: Array
    bias: Array


def book_lists(params) -> tuple[list, list]:
    """``(weights, biases)``: a list of Params as the book's two lists."""
    return [p.weight for p in params], [p.bias for p in params]


def from_book(weights, biases) -> list:
    """The book's ``weights`` and ``biases`` lists as one list of Params."""
    return [Params(w, b) for w, b in zip(weights, biases, strict=True)]
