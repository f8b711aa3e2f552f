"""The test matrix: ONE fixture, ``backend``, yields every backend x device x
dtype this machine can run.  A library that is missing, or has no device,
becomes a skip that says why.  ``ANYNET_TEST_BACKENDS`` (comma-separated
names, e.g. ``numpy,torch``) selects a subset.

Tolerances (see docs/DESIGN.md, "equal gradients"): float64 results agree with
NumPy's to 1e-12 relative (a few ulps, 2.2e-16 each, times depth and the
length of the sums); float32 to 1e-5 (float32 epsilon 1.2e-7 times the same
factors).  TF32 is switched off so torch float32 matmuls are true float32.
"""

from __future__ import annotations

import dataclasses
import os

import pytest

from anynet.xp.backend import get_backend
from anynet.api.crosscheck import GRAD_RTOL, rel_diff  # noqa: F401  (tests import rel_diff from here)

os.environ.setdefault("JAX_PLATFORMS", "cpu")

try:
    import jax

    jax.config.update("jax_enable_x64", True)  # float64 legs need 64-bit mode
except ImportError:
    jax = None

try:
    import torch

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
except ImportError:
    torch = None


# (backend, device, dtype); ids read "numpy-cpu-float64"
COMBINATIONS = [
    ("numpy", None, "float64"),
    ("numpy", None, "float32"),
    # the generic path behind the NumPy fast path: array-api-compat's own namespace
    ("numpy-generic", None, "float64"),
    ("numpy-generic", None, "float32"),
    ("array_api_strict", "CPU_DEVICE", "float64"),
    ("array_api_strict", "device1", "float64"),
    ("array_api_strict", "device1", "float32"),
    ("torch", "cpu", "float64"),
    ("torch", "cpu", "float32"),
    ("jax", "cpu", "float64"),
    ("jax", "cpu", "float32"),
    ("cupy", "cuda:0", "float64"),
    ("cupy", "cuda:0", "float32"),
    ("torch", "cuda", "float64"),
]

RTOL = GRAD_RTOL


def _combo_id(combo):
    name, device, dtype = combo
    return f"{name}-{device or 'cpu'}-{dtype}"


def _selected(combo):
    wanted = os.environ.get("ANYNET_TEST_BACKENDS")
    return not wanted or combo[0].split("-")[0] in {w.strip() for w in wanted.split(",")}


def make_backend(combo):
    """The Backend for a combination, or a pytest skip saying why it can't run here."""
    name, device, dtype = combo
    if not _selected(combo):
        pytest.skip(f"{name} not in ANYNET_TEST_BACKENDS")
    if name == "numpy-generic":
        import array_api_compat.numpy

        return dataclasses.replace(get_backend("numpy", None, dtype), xp=array_api_compat.numpy)
    try:
        return get_backend(name, device, dtype)
    except ImportError as exc:
        pytest.skip(f"{name}: {exc}")
    except RuntimeError as exc:
        pytest.skip(f"{name} {device}: {exc}")


@pytest.fixture(params=COMBINATIONS, ids=_combo_id)
def backend(request):
    """Every backend x device x dtype usable here."""
    return make_backend(request.param)


@pytest.fixture(params=[c for c in COMBINATIONS if c[2] == "float64"], ids=_combo_id)
def backend64(request):
    """The float64 legs (finite differences need float64)."""
    return make_backend(request.param)


def assert_on_backend(array, backend, shape):
    """Namespace, device, dtype and shape before values."""
    import array_api_compat

    assert backend.owns(array), f"{type(array)} is not a {backend.name} array"
    assert array_api_compat.device(array) == backend.device
    assert array.dtype == backend.dtype
    assert tuple(array.shape) == tuple(shape)


def assert_close(actual, expected, dtype_name, *, factor=1.0):
    """Relative agreement at the dtype's tolerance (times ``factor``, which a
    test must justify)."""
    diff = rel_diff(actual, expected)
    tol = RTOL[dtype_name] * factor
    assert diff <= tol, f"relative difference {diff:.3e} > {tol:.1e}"
    return diff
