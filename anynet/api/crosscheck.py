"""The cross-backend consistency check behind ``anynet check`` and the test matrix.

For each backend and device: build the same network from the same seed, feed
the same mini-batch, and compare its gradients with NumPy's; then train the
same number of mini-batch steps on the same data in the same order and compare
the weights.  The tolerances are those of docs/DESIGN.md ("equal gradients"):

* gradients: float64 <= 1e-12, float32 <= 1e-5, relative to the array's scale;
* weights after a short training run: float64 <= 1e-9, float32 <= 1e-4.

Rounding differences (a matmul summing in another order) start at one ulp and
grow as training feeds them back, which is why the training bound is looser
than the gradient bound.  The float32 training bound was measured: 200 steps
of the check's network on torch and JAX reach ~1e-6; 1e-4 leaves room for
other BLAS libraries and GPUs without hiding a real bug, which shows up as
differences of order 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..xp.backend import get_backend, to_numpy
from ..xp.devices import available_backends
from ..errors import ArgumentError

STEPS = 200  # mini-batch steps of the training comparison
GRAD_RTOL = {"float64": 1e-12, "float32": 1e-5}
TRAIN_RTOL = {"float64": 1e-9, "float32": 1e-4}

# array_api_strict also offers devices that lack float64 or int64 on purpose;
# the check runs on its default device and one other.
_STRICT_DEVICES = ("CPU_DEVICE", "device1")


@dataclass
class CheckResult:
    """One row of the consistency table."""

    backend: str
    device: str
    dtype: str
    grad_rel_diff: float | None = None
    weight_rel_diff: float | None = None
    ok: bool | None = None
    skipped_reason: str | None = None


def rel_diff(actual, expected) -> float:
    """max|actual - expected| / max|expected|, over host copies in float64."""
    a = np.asarray(to_numpy(actual), dtype=np.float64)
    e = np.asarray(to_numpy(expected), dtype=np.float64)
    if a.shape != e.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {e.shape}")
    scale = max(float(np.max(np.abs(e))), np.finfo(np.float64).tiny)
    return float(np.max(np.abs(a - e))) / scale


def _problem(seed, sizes, n):
    rng = np.random.default_rng(seed + 1)
    x = rng.random((n, sizes[0]))
    labels = rng.integers(0, sizes[-1], size=n)
    return x, labels


def _gradients_and_training(backend, *, seed, sizes, n, batch, steps, eta):
    from .network_api import Network

    net = Network(sizes, backend=backend, seed=seed)
    x, labels = _problem(seed, sizes, n)
    one_hot = np.eye(sizes[-1])[labels[:batch]]
    nabla_b, nabla_w = net.backprop(x[:batch].T, one_hot.T)
    net.SGD((x[: steps * batch], labels[: steps * batch]), 1, batch, eta, verbose=False)
    return nabla_b + nabla_w, net.weights + net.biases


def compare_backend(backend, *, seed=0, sizes=(64, 32, 10), n=2000, batch=10, steps=STEPS, eta=3.0) -> CheckResult:
    """Compare one backend (a :class:`~anynet.xp.backend.Backend`) with NumPy in
    the same dtype: gradients on one mini-batch and weights after ``steps``
    mini-batch steps of SGD."""
    steps = min(steps, n // batch)
    reference = get_backend("numpy", None, backend.dtype_name)
    kwargs = dict(seed=seed, sizes=list(sizes), n=n, batch=batch, steps=steps, eta=eta)
    ref_grads, ref_params = _gradients_and_training(reference, **kwargs)
    grads, params = _gradients_and_training(backend, **kwargs)
    grad_diff = max(rel_diff(g, r) for g, r in zip(grads, ref_grads))
    weight_diff = max(rel_diff(p, r) for p, r in zip(params, ref_params))
    ok = grad_diff <= GRAD_RTOL[backend.dtype_name] and weight_diff <= TRAIN_RTOL[backend.dtype_name]
    return CheckResult(backend.name, backend.device_name, backend.dtype_name, grad_diff, weight_diff, ok)


def _legs(backends, dtypes):
    infos = {info.name: info for info in available_backends()}
    for name in backends:
        info = infos.get(name)
        if info is None:
            raise ArgumentError(f"unknown backend {name!r}; choose from {', '.join(infos)}")
        devices = info.devices if name != "array_api_strict" else _STRICT_DEVICES
        for dtype in dtypes:
            if not info.usable:
                yield name, None, dtype, info.reason
                continue
            for device in devices:
                yield name, device, dtype, None


def check(backends=None, dtypes=("float64",), *, seed=0, steps=STEPS) -> list[CheckResult]:
    """Run :func:`compare_backend` on every usable backend and device (or the
    named ``backends``) in each of ``dtypes``; unusable ones come back as
    skipped rows with the reason."""
    if backends is None:
        backends = [info.name for info in available_backends() if info.name != "numpy"]
    results = []
    for name, device, dtype, reason in _legs(backends, dtypes):
        if reason is not None:
            results.append(CheckResult(name, "-", dtype, skipped_reason=reason))
            continue
        try:
            backend = get_backend(name, device, dtype)
        except (ImportError, RuntimeError, ValueError) as exc:
            results.append(CheckResult(name, str(device), dtype, skipped_reason=str(exc)))
            continue
        results.append(compare_backend(backend, seed=seed, steps=steps))
    return results


def format_table(results) -> str:
    """The results as a text table: backend, device, dtype, differences, verdict."""
    header = ("backend", "device", "dtype", "max rel grad diff", "max rel weight diff", "verdict")
    rows = []
    for r in results:
        if r.skipped_reason is not None:
            rows.append((r.backend, r.device, r.dtype, "-", "-", f"skipped: {r.skipped_reason}"))
            continue
        verdict = "ok" if r.ok else "MISMATCH"
        rows.append((r.backend, r.device, r.dtype, f"{r.grad_rel_diff:.2e}", f"{r.weight_rel_diff:.2e}", verdict))
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header) - 1)]
    lines = []
    for row in [header, *rows]:
        cells = [str(c).ljust(w) for c, w in zip(row[:-1], widths)]
        lines.append("  ".join(cells + [str(row[-1])]))
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)
