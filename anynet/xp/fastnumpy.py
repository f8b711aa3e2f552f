"""The NumPy namespace anynet computes with: array-api-compat's, with the
few functions a training step calls most bound to NumPy's C entry points."""

from __future__ import annotations

import functools
import operator
import types

import numpy as np


@functools.cache
def namespace():
    """array-api-compat's NumPy namespace with ``take``, ``sum``,
    ``matrix_transpose`` and ``reshape`` bound to what ``np.take``,
    ``np.sum``, ``np.matrix_transpose`` and ``np.reshape`` wrap in Python
    (1-2.5 us a call against 0.1-0.2 us; about a dozen calls per mini-batch:
    7 % of an epoch at mini-batch 10 for take and sum,
    benchmarks/results/profile-cpu.txt).  Same results and dtypes.
    ``matrix_transpose`` is a C callable (an attrgetter of ``.mT``: no
    Python frame per call; the math cannot use ``.mT`` itself, CuPy arrays
    lack it); ``sum`` calls ``np.add.reduce`` positionally (see :func:`_sum`)."""
    import array_api_compat.numpy as compat

    fast = types.ModuleType(compat.__name__, compat.__doc__)
    fast.__dict__.update(vars(compat))
    fast.take = _take
    fast.sum = _sum
    fast.matrix_transpose = operator.attrgetter("mT")
    fast.reshape = _reshape
    return fast


def _take(x, indices, /, *, axis=None):
    return x.take(indices, axis=axis)


_add_reduce = np.add.reduce


def _sum(x, /, *, axis=None, dtype=None, keepdims=False):
    """The array API's ``sum``: ``np.add.reduce`` (``np.sum`` without its
    Python dispatch), called positionally: a partial of it with keywords
    costs a dict merge and a keyword parse per call (1.8 us against 1.2 us
    on this machine's mini-batch sums)."""
    return _add_reduce(x, axis, dtype, None, keepdims)


def _reshape(x, /, shape, *, copy=None):
    """array-api-compat's ``reshape``; without ``copy``, the method it ends in."""
    if copy is None:
        return x.reshape(shape)
    import array_api_compat.numpy as compat

    return compat.reshape(x, shape, copy=copy)
