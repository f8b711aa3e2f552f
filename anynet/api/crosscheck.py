"""The cross-backend consistency check behind ``anynet check`` and the test matrix.

For each backend and device: build the same network from the same seed, feed
the same mini-batch, and compare its gradients with NumPy's; then train the
same number of mini-batch steps on the same data in the same order and compare
the weights.  The networks are the book's dense one (:data:`DENSE`) and a
small conv net with every layer kind (:data:`CONV`: convolution, max-pooling,
an activation, dropout, a dense hidden layer and a softmax output), or the
caller's own (``layers=``: a layer spec as ``anynet train --layers`` takes,
or a list of :mod:`anynet.model.layers`).  Dropout's masks come from a seeded
host generator, so every backend applies the same mask: a fixed one for the
gradients, the run's own (from the network's seed) while training.  The
tolerances are those of docs/DESIGN.md ("equal gradients"), for every network:

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
from ..model.layers import chain
from ..model.params import book_lists
from ..train.dropout import DropoutMasks
from .layerspec import parse

STEPS = 200  # mini-batch steps of the training comparison
DENSE = (64, 32, 10)  # the book's network: sigmoid layers, quadratic cost, trained at eta 3.0
# every layer kind: Reshape, Conv2D, MaxPool2D, Activate, Dropout, Flatten, Dense; softmax and the
# log-likelihood cost; trained at eta 0.1, as is any network of layers
CONV = "image:1:10:10,conv:4:3,pool:2,relu,dropout:0.2,dense:16:tanh,dense:10:softmax"
ETA = {"dense": 3.0, "layers": 0.1}
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
    network: str = "dense"  # which network: "dense", "conv", "layers" (the caller's)


def rel_diff(actual, expected) -> float:
    """max|actual - expected| / max|expected|, over host copies in float64."""
    a = np.asarray(to_numpy(actual), dtype=np.float64)
    e = np.asarray(to_numpy(expected), dtype=np.float64)
    if a.shape != e.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {e.shape}")
    scale = max(float(np.max(np.abs(e))), np.finfo(np.float64).tiny)
    return float(np.max(np.abs(a - e))) / scale


def problem(seed, n_in, n_out, n):
    """The check's data: ``n`` rows of ``n_in`` values in [0, 1) and labels below ``n_out``."""
    rng = np.random.default_rng(seed + 1)
    x = rng.random((n, n_in))
    labels = rng.integers(0, n_out, size=n)
    return x, labels


def _network(backend, architecture, seed):
    """``(network, eta)``: the book's network of widths, or a network of
    layers (a spec or a list), built from ``seed``."""
    from .network_api import Network

    if isinstance(architecture, str):
        architecture = parse(architecture, name="layers")
    eta = ETA["dense"] if isinstance(architecture[0], (int, np.integer)) else ETA["layers"]
    return Network(list(architecture), backend=backend, seed=seed), eta


def batch_gradients(net, x, labels, seed):
    """The cost's gradients for one mini-batch, every array in one list; a
    network with dropout applies masks drawn from a generator of ``seed``."""
    if net.model.is_dense:
        one_hot = np.eye(net.model.n_out)[labels]
        nabla_b, nabla_w = net.backprop(x.T, one_hot.T)
        return list(nabla_b) + list(nabla_w)
    model, batch = net.model, net.to_device((x, labels), name="the check's mini-batch")
    masks = DropoutMasks(model.layers, model.input_shape, np.random.default_rng([seed, 2]), net.backend).draw(len(x))
    with net.backend.errstate():
        grads = chain.gradients(model.layers, model.parameters(), batch.x, batch.targets, cost=model.cost,
                                xp=net.backend.xp, masks=masks, fuse=net.backend.fuse)
    nabla_w, nabla_b = book_lists(grads)
    return nabla_b + nabla_w  # the dense networks' order (backprop's)


def _gradients_and_training(backend, architecture, *, seed, n, batch, steps):
    net, eta = _network(backend, architecture, seed)
    x, labels = problem(seed, net.model.n_in, net.model.n_out, n)
    grads = batch_gradients(net, x[:batch], labels[:batch], seed)
    net.SGD((x[: steps * batch], labels[: steps * batch]), 1, batch, eta, verbose=False)
    return grads, net.weights + net.biases


def compare_backend(backend, *, seed=0, sizes=DENSE, layers=None, network=None, n=2000, batch=10,
                    steps=STEPS) -> CheckResult:
    """Compare one backend (a :class:`~anynet.xp.backend.Backend`) with NumPy in
    the same dtype: gradients on one mini-batch and weights after ``steps``
    mini-batch steps of SGD, of the book's network of widths ``sizes`` or,
    given ``layers`` (a layer spec or a list of layers), of that network
    (``network`` names it in the result: "dense" or "layers" by default)."""
    steps = min(steps, n // batch)
    architecture = list(sizes) if layers is None else layers
    reference = get_backend("numpy", None, backend.dtype_name)
    kwargs = dict(seed=seed, n=n, batch=batch, steps=steps)
    ref_grads, ref_params = _gradients_and_training(reference, architecture, **kwargs)
    grads, params = _gradients_and_training(backend, architecture, **kwargs)
    grad_diff = max(rel_diff(g, r) for g, r in zip(grads, ref_grads))
    weight_diff = max(rel_diff(p, r) for p, r in zip(params, ref_params))
    ok = grad_diff <= GRAD_RTOL[backend.dtype_name] and weight_diff <= TRAIN_RTOL[backend.dtype_name]
    name = network or ("dense" if layers is None else "layers")
    return CheckResult(backend.name, backend.device_name, backend.dtype_name, grad_diff, weight_diff, ok,
                       network=name)


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


def networks(layers=None) -> dict:
    """The networks a check compares, by name: the book's dense network and
    the conv net :data:`CONV`, or only ``layers`` (a layer spec or a list of
    layers), named "layers".  A spec is parsed here, so a bad one is refused
    before any backend runs."""
    if layers is None:
        return {"dense": None, "conv": parse(CONV, name="layers")}
    return {"layers": parse(layers, name="layers") if isinstance(layers, str) else list(layers)}


def check(backends=None, dtypes=("float64",), *, seed=0, steps=STEPS, layers=None) -> list[CheckResult]:
    """Run :func:`compare_backend` on every usable backend and device (or the
    named ``backends``) in each of ``dtypes``, for each of :func:`networks`
    (``layers``: check that network alone); unusable backends come back as
    skipped rows with the reason."""
    if backends is None:
        backends = [info.name for info in available_backends() if info.name != "numpy"]
    nets = networks(layers)
    results = []
    for name, device, dtype, reason in _legs(backends, dtypes):
        if reason is not None:
            results.extend(CheckResult(name, "-", dtype, skipped_reason=reason, network=net) for net in nets)
            continue
        try:
            backend = get_backend(name, device, dtype)
        except (ImportError, RuntimeError, ValueError) as exc:
            results.extend(CheckResult(name, str(device), dtype, skipped_reason=str(exc), network=net) for net in nets)
            continue
        for net, net_layers in nets.items():
            results.append(compare_backend(backend, seed=seed, steps=steps, layers=net_layers, network=net))
    return results


def format_table(results) -> str:
    """The results as a text table: network, backend, device, dtype, differences, verdict."""
    header = ("network", "backend", "device", "dtype", "max rel grad diff", "max rel weight diff", "verdict")
    rows = []
    for r in results:
        if r.skipped_reason is not None:
            rows.append((r.network, r.backend, r.device, r.dtype, "-", "-", f"skipped: {r.skipped_reason}"))
            continue
        verdict = "ok" if r.ok else "MISMATCH"
        rows.append((r.network, r.backend, r.device, r.dtype, f"{r.grad_rel_diff:.2e}", f"{r.weight_rel_diff:.2e}",
                     verdict))
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header) - 1)]
    lines = []
    for row in [header, *rows]:
        cells = [str(c).ljust(w) for c, w in zip(row[:-1], widths)]
        lines.append("  ".join(cells + [str(row[-1])]))
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)
