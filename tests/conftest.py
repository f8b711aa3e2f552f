"""The test matrix: ONE fixture, ``backend``, yields every backend x device x
dtype this machine can run.  A leg skips only when its library is not
installed (BackendUnavailable, and the library really cannot be found) or its
device is not here (DeviceUnavailable, and an independent look finds no such
device); any other error, from any leg, fails.  The run's summary says how
many legs ran per backend, so a backend lost to a bug shows.
``ANYNET_TEST_BACKENDS`` (comma-separated names, e.g. ``numpy,torch``)
selects a subset.

Tolerances come from measurement (issue 21): ORDER_RTOL and RUN_RTOL below
are about 100x the worst relative difference measured on every CPU backend
here, and results that are exact compare exactly.  ``ANYNET_MEASURE=1
python -m pytest tests/...`` prints the worst rel_diff of every assertion
line per leg, to measure again.  RTOL is the library's own "equal gradients"
bound (docs/DESIGN.md, anynet check: 1e-12 float64, 1e-5 float32), kept for
the GPU legs, which were not measured here.  TF32 is switched off so torch
float32 matmuls are true float32.

For the run: scikit-learn's array API support needs ``SCIPY_ARRAY_API=1``
before SciPy is first imported; JAX's compiled programs and torch inductor's
kernels are kept in ``.cache/tests`` (ignored by git), so a second run
compiles nothing again.
"""

from __future__ import annotations

import collections
import dataclasses
import importlib.util
import os
import pathlib

CACHE = pathlib.Path(__file__).resolve().parent.parent / ".cache" / "tests"
os.environ.setdefault("SCIPY_ARRAY_API", "1")  # before anything imports SciPy (JAX and scikit-learn do)
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(CACHE / "torchinductor"))

import pytest  # noqa: E402

from anynet.api.crosscheck import GRAD_RTOL  # noqa: E402
from anynet.api.crosscheck import rel_diff as _rel_diff  # noqa: E402
from anynet.errors import BackendUnavailable, DeviceUnavailable  # noqa: E402
from anynet.xp.backend import get_backend  # noqa: E402

try:
    import jax

    jax.config.update("jax_enable_x64", True)  # float64 legs need 64-bit mode
    jax.config.update("jax_compilation_cache_dir", str(CACHE / "jax"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)  # the tests' programs are small
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
    ("torch", "cuda", "float32"),
]

RTOL = GRAD_RTOL

# Measured on the shared 2-core Xeon (numpy, numpy-generic, array_api_strict,
# torch 2.13 CPU, jax 0.10 CPU) with ANYNET_MEASURE=1 over test_matrix,
# test_combinations, test_book, test_seed, test_engines, test_sweep,
# test_inference, test_distributed*, test_checkpoint and test_sklearn.
ORDER_RTOL = {"float64": 5e-14, "float32": 4e-5}
# ^ one computation whose sums run in another order (a mini-batch's gradient
#   against NumPy's, against per-sample sums, against torch autograd; a
#   forward pass): worst 8.5e-16 float64 (jax's gradient against torch
#   autograd, linear output), 3.4e-07 float32 (torch's batch against its
#   per-sample sums).  Sites whose own worst is far smaller have their own
#   bound beside them; sites measured exact compare exactly.
RUN_RTOL = {"float64": 1e-13, "float32": 7e-5}
# ^ tens to hundreds of SGD steps whose rounding differences feed back: worst
#   9.8e-16 float64 (anynet against the seed's code, 2 epochs), 7.4e-07
#   float32 (NumPy float32 against the seed's float64 code, 200 steps)


def on_gpu(backend) -> bool:
    """A leg on a GPU: not measured here, so it keeps the library's RTOL."""
    return str(backend.device_name).startswith(("cuda", "gpu"))


def numpy_underneath(backend) -> bool:
    """NumPy computes this leg (numpy, numpy-generic, array_api_strict): the
    same operations on the same library give NumPy's bits exactly."""
    return backend.name in ("numpy", "array_api_strict")


MEASURING = bool(os.environ.get("ANYNET_MEASURE"))
MEASURED = {}  # (file:line, leg) -> the worst rel_diff seen there, when MEASURING


def rel_diff(actual, expected) -> float:
    """max|actual - expected| / max|expected| (anynet.api.crosscheck's), and
    with ANYNET_MEASURE set, the worst value of each calling line and leg kept
    for the run's summary."""
    value = _rel_diff(actual, expected)
    if MEASURING:
        import sys

        caller = sys._getframe(1)
        where = f"{pathlib.Path(caller.f_code.co_filename).name}:{caller.f_lineno}"
        test = os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0]
        leg = next((_combo_id(c) for c in COMBINATIONS if f"[{_combo_id(c)}" in test or f"-{_combo_id(c)}" in test),
                   "float32" if "float32" in test else "-")
        key = (where, leg)
        MEASURED[key] = max(MEASURED.get(key, 0.0), value)
    return value


def _combo_id(combo):
    name, device, dtype = combo
    return f"{name}-{device or 'cpu'}-{dtype}"


def _selected(combo):
    wanted = os.environ.get("ANYNET_TEST_BACKENDS")
    return not wanted or combo[0].split("-")[0] in {w.strip() for w in wanted.split(",")}


LEGS_RUN = collections.Counter()  # backend name -> legs set up
LEGS_SKIPPED = collections.defaultdict(collections.Counter)  # backend name -> {why: legs skipped}


def _really_absent(name, device, exc) -> bool:
    """Whether ``exc`` from get_backend tells the truth: the library cannot be
    found, or no such device is here (looked up without anynet)."""
    library = "numpy" if name == "numpy-generic" else name
    if isinstance(exc, BackendUnavailable):
        return importlib.util.find_spec(library) is None
    if name == "cupy":
        import cupy

        try:
            return cupy.cuda.runtime.getDeviceCount() == 0
        except cupy.cuda.runtime.CUDARuntimeError:  # no driver, or no device
            return True
    if name == "torch" and str(device).startswith("cuda"):
        return not torch.cuda.is_available()
    return False  # the CPU devices are always here: their legs must run


def make_backend(combo):
    """The Backend for a combination, or a pytest skip saying why it can't
    run here.  Only a missing library or device skips; any other error fails."""
    name, device, dtype = combo
    if not _selected(combo):
        LEGS_SKIPPED[name]["not in ANYNET_TEST_BACKENDS"] += 1
        pytest.skip(f"{name} not in ANYNET_TEST_BACKENDS")
    if name == "numpy-generic":
        import array_api_compat.numpy

        backend = dataclasses.replace(get_backend("numpy", None, dtype), xp=array_api_compat.numpy)
    else:
        try:
            backend = get_backend(name, device, dtype)
        except (BackendUnavailable, DeviceUnavailable) as exc:
            if not _really_absent(name, device, exc):
                raise
            LEGS_SKIPPED[name]["no library" if isinstance(exc, BackendUnavailable) else "no device"] += 1
            pytest.skip(f"{_combo_id(combo)}: {exc}")
    LEGS_RUN[name] += 1
    return backend


def pytest_terminal_summary(terminalreporter):
    """One line: the matrix legs that ran per backend (0 and why for a backend
    that did not); with ANYNET_MEASURE, the worst rel_diff per line and leg."""
    for (where, leg), value in sorted(MEASURED.items()):
        terminalreporter.write_line(f"measured {where} {leg}: worst rel_diff {value:.2e}")
    if not LEGS_RUN and not LEGS_SKIPPED:
        return
    names = list(dict.fromkeys(name for name, _, _ in COMBINATIONS))
    parts = []
    for name in names:
        skipped = "".join(f", {n} skipped ({why})" for why, n in sorted(LEGS_SKIPPED[name].items()))
        parts.append(f"{name} {LEGS_RUN[name]} run{skipped}")
    terminalreporter.write_line("backend legs: " + "; ".join(parts))


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
