"""Argument checks at the public boundary: each returns a plain Python value
or raises an error from :mod:`anynet.errors` naming the argument.

Numbers may be Python numbers, NumPy scalars (``np.float32(0.9)``,
``np.int64(10)``) or 0-d arrays of any backend; ``bool`` is never a number.
"""

from __future__ import annotations

import math
import numbers
import operator

from .errors import ArgumentError, ArgumentTypeError


def _scalar(value):
    """A 0-d array as its Python scalar; anything else unchanged."""
    if getattr(value, "shape", None) == () and hasattr(value, "dtype"):
        kind = str(value.dtype)
        if "bool" in kind:
            return value  # refused below, like True
        try:
            return value.item() if hasattr(value, "item") else float(value)
        except (TypeError, ValueError):
            return value
    return value


def real(name: str, value, *, low=None, high=None, low_open=False, high_open=False) -> float:
    """``value`` as a finite float within the given bounds."""
    value = _scalar(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ArgumentTypeError(f"{name} must be a real number, not {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ArgumentError(f"{name} must be finite, not {value!r}")
    too_low = low is not None and (value < low or (low_open and value == low))
    too_high = high is not None and (value > high or (high_open and value == high))
    if too_low or too_high:
        if low is not None and high is not None:
            left, right = "(" if low_open else "[", ")" if high_open else "]"
            raise ArgumentError(f"{name} must be in {left}{low:g}, {high:g}{right}, not {value!r}")
        bound = f"{'>' if low_open else '>='} {low:g}" if too_low else f"{'<' if high_open else '<='} {high:g}"
        raise ArgumentError(f"{name} must be {bound}, not {value!r}")
    return value


def integer(name: str, value, *, low=None, high=None) -> int:
    """``value`` as an int within the given bounds; floats such as 3.0 are refused."""
    value = _scalar(value)
    if isinstance(value, bool):  # operator.index(True) would be 1
        raise ArgumentTypeError(f"{name} must be an integer, not {value!r}")
    if not isinstance(value, numbers.Integral):
        try:
            value = operator.index(value)  # other integer types that declare themselves
        except TypeError:
            raise ArgumentTypeError(f"{name} must be an integer, not {value!r}") from None
    value = int(value)
    if low is not None and value < low:
        raise ArgumentError(f"{name} must be >= {low}, not {value!r}")
    if high is not None and value > high:
        raise ArgumentError(f"{name} must be <= {high}, not {value!r}")
    return value


def sizes(value) -> list[int]:
    """Layer widths such as [784, 30, 10]: at least two positive integers."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        raise ArgumentTypeError(f"sizes must be a list of layer widths such as [784, 30, 10], not {value!r}")
    if len(value) < 2:
        raise ArgumentError(f"a network needs at least two layers (input and output), got sizes={list(value)}")
    result = []
    for size in value:
        size = _scalar(size)
        if isinstance(size, bool) or not isinstance(size, numbers.Integral):
            raise ArgumentTypeError(f"layer sizes must be integers, got {size!r} in {list(value)}")
        if size < 1:
            raise ArgumentError(f"layer sizes must be positive, got {size} in {list(value)}")
        result.append(int(size))
    return result


def choice(name: str, value, choices) -> str:
    """``value`` if it is one of ``choices`` (strings), else an error listing them."""
    if not isinstance(value, str) or value not in choices:
        raise ArgumentError(f"unknown {name} {value!r}; choose one of {', '.join(choices)}")
    return value
