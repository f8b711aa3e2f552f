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
    benchmarks/results/profile-cpu.txt).  Same results and dtypes.  ``sum``
    and ``matrix_transpose`` are C callables (a partial of ``np.add.reduce``,
    an attrgetter of ``.mT``): no Python frame per call, which a dense
    training step at mini-batch 10 pays about 50 of.  (The math cannot use
    ``.mT`` itself: CuPy arrays lack it.)"""
    import array_api_compat.numpy as compat

    fast = types.ModuleType(compat.__name__, compat.__doc__)
    fast.__dict__.update(vars(compat))
    fast.take = _take
    fast.sum = functools.partial(np.add.reduce, axis=None)  # the array API's sum(x, /, *, axis=None, dtype, keepdims)
    fast.matrix_transpose = operator.attrgetter("mT")
    fast.reshape = _reshape
    return fast


def _take(x, indices, /, *, axis=None):
    return x.take(indices, axis=axis)


def _reshape(x, /, shape, *, copy=None):
    """array-api-compat's ``reshape``; without ``copy``, the method it ends in."""
    if copy is None:
        return x.reshape(shape)
    import array_api_compat.numpy as compat

    return compat.reshape(x, shape, copy=copy)
