"""The backend matrix: every backend x device x dtype against oracles.

* central finite differences (float64, h = 1e-6): truncation error h^2 ~ 1e-12
  and cancellation eps/h ~ 1e-10 relative to the cost, so 1e-7 relative to the
  gradient's scale (measured worst 1.5e-8);
* the matrix-based mini-batch against the sum of per-sample backprops;
* every backend against NumPy (``anynet check``'s comparison): exact where
  NumPy computes underneath (numpy-generic, array_api_strict), to the measured
  bounds of conftest elsewhere; NumPy itself against the seed's code;
* PyTorch autograd on the same weights.

Bounds: ~100x the worst measured on the CPU backends here, beside each (the
GPU legs keep the library's GRAD_RTOL / TRAIN_RTOL, not measured here).
"""

import array_api_compat
import numpy as np
import pytest

import anynet
from anynet.model.layers import chain
from anynet.model.params import book_lists, from_book
from anynet.api.crosscheck import GRAD_RTOL, TRAIN_RTOL, compare_backend
from anynet.xp.backend import get_backend, to_numpy
from conftest import assert_on_backend, numpy_underneath, on_gpu, rel_diff
from seed_network import Network as SeedNetwork

SIZES = [7, 6, 5, 4]


def problem(n=9, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, SIZES[0])), rng.integers(0, SIZES[-1], size=n)


def test_same_seed_gives_bit_identical_initial_weights(backend):
    net = anynet.Network(SIZES, backend=backend, seed=42)
    ref = anynet.Network(SIZES, seed=42)
    for ours, theirs, shape in zip(net.weights + net.biases, ref.weights + ref.biases, [(6, 7), (5, 6), (4, 5), (6, 1), (5, 1), (4, 1)]):
        assert_on_backend(ours, backend, shape)
        np.testing.assert_array_equal(backend.to_numpy(ours), theirs.astype(backend.dtype_name))


def test_results_stay_on_the_backends_device(backend):
    net = anynet.Network(SIZES, backend=backend, seed=1)
    x, y = problem()
    out = net.feedforward(x[:2].T)
    assert_on_backend(out, backend, (4, 2))
    nabla_b, nabla_w = net.backprop(x[0].reshape(-1, 1), np.eye(4)[y[0]].reshape(-1, 1))
    for g, p in zip(nabla_b + nabla_w, net.biases + net.weights):
        assert_on_backend(g, backend, p.shape)
    net.SGD((x, y), 2, 4, 1.0, verbose=False)
    for p, shape in zip(net.weights, [(6, 7), (5, 6), (4, 5)]):
        assert_on_backend(p, backend, shape)
    assert isinstance(net.evaluate((x, y)), int)


def test_finite_differences(backend64):
    xp = backend64.xp
    net = anynet.Network(SIZES, backend=backend64, seed=3)
    x, labels = problem()
    y = np.eye(4)[labels]
    X, Y = backend64.asarray(x), backend64.asarray(y)
    nabla_w, nabla_b = book_lists(chain.mlp_gradients(net.model.params, X, Y, activations=net.activations,
                                                      cost=net.cost, xp=xp))
    host_w = [backend64.to_numpy(w) for w in net.weights]
    host_b = [backend64.to_numpy(b) for b in net.biases]

    def cost(ws, bs):
        out = chain.mlp_output(from_book([backend64.asarray(w) for w in ws], [backend64.asarray(b) for b in bs]), X,
                               activations=net.activations, xp=xp)[1]
        return float(net.cost._fn(out, Y, xp=xp))

    h = 1e-6
    for params, grads, is_weight in ((host_w, nabla_w, True), (host_b, nabla_b, False)):
        for layer, (param, grad) in enumerate(zip(params, grads)):
            numeric = np.zeros_like(param)
            for index in np.ndindex(param.shape):
                plus = [p.copy() for p in params]
                minus = [p.copy() for p in params]
                plus[layer][index] += h
                minus[layer][index] -= h
                args_plus = (plus, host_b) if is_weight else (host_w, plus)
                args_minus = (minus, host_b) if is_weight else (host_w, minus)
                numeric[index] = (cost(*args_plus) - cost(*args_minus)) / (2 * h)
            assert rel_diff(grad, numeric) <= 1e-7


def test_mini_batch_equals_sum_of_per_sample_backprops(backend):
    net = anynet.Network(SIZES, backend=backend, seed=5)
    x, labels = problem(n=6)
    one_hot = np.eye(4)[labels]
    batch_b, batch_w = net.backprop(x.T, one_hot.T)
    sum_b = [0.0] * 3
    sum_w = [0.0] * 3
    for xi, yi in zip(x, one_hot):
        nb, nw = net.backprop(xi.reshape(-1, 1), yi.reshape(-1, 1))
        sum_b = [s + backend.to_numpy(g) for s, g in zip(sum_b, nb)]
        sum_w = [s + backend.to_numpy(g) for s, g in zip(sum_w, nw)]
    bound = (GRAD_RTOL if on_gpu(backend) else {"float64": 3e-14, "float32": 3e-5})[backend.dtype_name]
    for batch, summed in zip(batch_b + batch_w, sum_b + sum_w):
        assert rel_diff(batch, summed) <= bound  # measured worst 3.2e-16 / 3.4e-07


def test_gradients_and_training_match_numpy(backend):
    """The check ``anynet check`` runs: one mini-batch's gradients, then 200
    SGD steps, compared with NumPy in the same dtype.  Where NumPy computes
    underneath (numpy-generic, array_api_strict) the bits are NumPy's; the
    NumPy leg itself is compared with the seed's code instead."""
    if backend.name == "numpy" and backend.xp is get_backend("numpy").xp:
        return compare_with_the_seeds_code(backend)
    result = compare_backend(backend, steps=200)
    if numpy_underneath(backend):
        assert result.grad_rel_diff == 0 and result.weight_rel_diff == 0
    elif on_gpu(backend):
        assert result.grad_rel_diff <= GRAD_RTOL[backend.dtype_name]
        assert result.weight_rel_diff <= TRAIN_RTOL[backend.dtype_name]
    else:  # measured worst: gradients 4.1e-16 / 2.4e-07, weights 6.6e-16 / 4.1e-07 (torch, jax)
        assert result.grad_rel_diff <= {"float64": 4e-14, "float32": 2e-5}[backend.dtype_name]
        assert result.weight_rel_diff <= {"float64": 6e-14, "float32": 4e-5}[backend.dtype_name]
    assert result.ok


def compare_with_the_seeds_code(backend, sizes=(64, 32, 10), batch=10, steps=200, eta=3.0):
    """anynet's NumPy leg against the seed's per-sample code (float64, from
    the same weights): one mini-batch's gradients and ``steps`` book-style
    updates on the same batches.  Measured worst: gradients 3.1e-16 / 1.4e-07,
    weights 5.9e-16 / 7.4e-07 (float64 / float32; float32 is anynet's
    rounding against the seed's float64)."""
    net = anynet.Network(list(sizes), backend=backend, seed=0)
    seed = SeedNetwork(list(sizes))
    seed.weights = [to_numpy(w).astype(np.float64) for w in net.weights]
    seed.biases = [to_numpy(b).astype(np.float64) for b in net.biases]
    rng = np.random.default_rng(1)
    x, labels = rng.random((batch * steps, sizes[0])), rng.integers(0, sizes[-1], batch * steps)
    one_hot = np.eye(sizes[-1])[labels]
    nabla_b, nabla_w = net.backprop(x[:batch].T, one_hot[:batch].T)
    seed_b, seed_w = [np.zeros(b.shape) for b in seed.biases], [np.zeros(w.shape) for w in seed.weights]
    for xi, yi in zip(x[:batch], one_hot[:batch]):
        db, dw = seed.backprop(xi.reshape(-1, 1), yi.reshape(-1, 1))
        seed_b, seed_w = [s + d for s, d in zip(seed_b, db)], [s + d for s, d in zip(seed_w, dw)]
    for ours, theirs in zip(nabla_b + nabla_w, seed_b + seed_w):
        assert rel_diff(ours, theirs) <= {"float64": 3e-14, "float32": 1.4e-5}[backend.dtype_name]
    for k in range(0, batch * steps, batch):
        net.update_mini_batch((x[k : k + batch], labels[k : k + batch]), eta)
        seed.update_mini_batch([(xi.reshape(-1, 1), yi.reshape(-1, 1)) for xi, yi in zip(x[k : k + batch], one_hot[k : k + batch])], eta)
    for ours, theirs in zip(net.weights + net.biases, seed.weights + seed.biases):
        assert rel_diff(ours, theirs) <= {"float64": 6e-14, "float32": 7e-5}[backend.dtype_name]


def test_device_resident_data_trains_like_host_data(backend):
    x, y = problem(n=40)
    host_net = anynet.Network(SIZES, backend=backend, seed=8)
    device_net = anynet.Network(SIZES, backend=backend, seed=8)
    host_net.SGD((x, y), 2, 5, 2.0, verbose=False)
    X = backend.asarray(x)
    Y = backend.asarray(y, dtype=backend.index_dtype)
    device_net.SGD((X, Y), 2, 5, 2.0, verbose=False)
    for a, b in zip(host_net.weights, device_net.weights):
        assert rel_diff(a, b) == 0.0
    assert device_net.evaluate((X, Y)) == host_net.evaluate((x, y))


def test_gradients_match_pytorch_autograd(backend64):
    torch = pytest.importorskip("torch")
    net = anynet.Network(SIZES, backend=backend64, seed=9)
    x, labels = problem()
    y = np.eye(4)[labels]
    nabla_b, nabla_w = net.backprop(x.T, y.T)
    ws = [torch.tensor(backend64.to_numpy(w), requires_grad=True) for w in net.weights]
    bs = [torch.tensor(backend64.to_numpy(b), requires_grad=True) for b in net.biases]
    a = torch.tensor(x)
    for w, b in zip(ws, bs):
        a = torch.sigmoid(a @ w.T + b.T)
    cost = 0.5 * ((a - torch.tensor(y)) ** 2).sum()
    cost.backward()
    bound = GRAD_RTOL["float64"] if on_gpu(backend64) else 2e-14
    for ours, param in zip(nabla_w + nabla_b, ws + bs):
        assert rel_diff(ours, param.grad.numpy()) <= bound  # measured worst 2.1e-16


def test_sgd_is_reproducible_from_the_seed(backend):
    x, y = problem(n=30)
    runs = []
    for _ in range(2):
        net = anynet.Network(SIZES, backend=backend, seed=21)
        net.SGD((x, y), 2, 4, 1.0, verbose=False)
        runs.append([backend.to_numpy(w) for w in net.weights])
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


def test_device_of_strict_arrays_is_checked():
    strict = pytest.importorskip("array_api_strict")
    net = anynet.Network(SIZES, backend="array_api_strict", device="device1", seed=1)
    x, y = problem()
    on_default = (strict.asarray(x), strict.asarray(y))
    with pytest.raises(ValueError, match="device"):
        net.SGD(on_default, 1, 3, 1.0, verbose=False)
    assert array_api_compat.device(net.weights[0]) == strict.Device("device1")
