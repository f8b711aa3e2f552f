"""anynet's NumPy namespace (anynet.xp.fastnumpy) binds the functions a training step calls most
to NumPy's C entry points; each must answer exactly what array-api-compat's NumPy namespace (the
oracle, not written here) answers: the same values, dtype and shape, for every argument form the
array API standard allows."""

import array_api_compat.numpy as compat
import numpy as np
import pytest

from anynet.xp import fastnumpy

FAST = fastnumpy.namespace()
RNG = np.random.default_rng(3)
ARRAYS = {
    "float64": RNG.standard_normal((4, 5, 3)),
    "float32": RNG.standard_normal((4, 5, 3)).astype(np.float32),
    "int32": RNG.integers(-50, 50, (4, 5, 3), dtype=np.int32),
    "uint8": RNG.integers(0, 255, (4, 5, 3), dtype=np.uint8),
    "bool": RNG.random((4, 5, 3)) > 0.5,
}


def same(ours, theirs):
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    assert np.array_equal(ours, theirs)


@pytest.mark.parametrize("name", ARRAYS)
@pytest.mark.parametrize("axis", [None, 0, -2, (0, 2), ()])
@pytest.mark.parametrize("keepdims", [False, True])
def test_sum_is_the_array_api_sum(name, axis, keepdims):
    x = ARRAYS[name]
    same(FAST.sum(x, axis=axis, keepdims=keepdims), compat.sum(x, axis=axis, keepdims=keepdims))


@pytest.mark.parametrize("dtype", [None, np.float64, np.int64])
def test_sum_takes_a_dtype(dtype):
    x = ARRAYS["int32"]
    same(FAST.sum(x, axis=1, dtype=dtype), compat.sum(x, axis=1, dtype=dtype))
    same(FAST.sum(x, dtype=dtype), compat.sum(x, dtype=dtype))


def test_sum_refuses_what_the_standard_refuses():
    with pytest.raises(TypeError):
        FAST.sum(ARRAYS["float64"], 1)  # axis is keyword-only in the standard


def test_take_matrix_transpose_and_reshape_are_the_array_api_ones():
    x = ARRAYS["float64"]
    idx = np.array([2, 0, 2])
    for axis in (0, 1, -1):
        same(FAST.take(x, idx, axis=axis), compat.take(x, idx, axis=axis))
    same(FAST.matrix_transpose(x), compat.matrix_transpose(x))
    same(FAST.reshape(x, (20, 3)), compat.reshape(x, (20, 3)))
    same(FAST.reshape(x, (-1,), copy=True), compat.reshape(x, (-1,), copy=True))
