"""Inference on arrays: predict, predict_proba and score on every backend,
against the network's own feedforward (the book's column surface) as the
oracle, and in bounded memory for many rows."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import anynet
from conftest import RTOL, assert_on_backend, on_gpu, rel_diff

SIZES = [6, 5, 4]


def rows(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, SIZES[0])), rng.integers(0, SIZES[-1], n)


@pytest.fixture
def net(backend):
    return anynet.Network(SIZES, "log-likelihood", backend=backend, seed=1)


def test_predict_proba_is_feedforward_row_by_row(net, backend):
    X, _ = rows(30)
    proba = net.predict_proba(X)
    assert isinstance(proba, np.ndarray) and proba.shape == (30, 4)  # host in, host out
    expected = backend.to_numpy(net.feedforward(X.T)).T
    # the same forward pass, rows as columns: measured 0 on every CPU backend (GPU legs: RTOL, not measured)
    assert rel_diff(proba, expected) <= (RTOL[backend.dtype_name] if on_gpu(backend) else 0.0)
    assert np.allclose(proba.sum(axis=1), 1.0, rtol=0, atol=8 * np.finfo(backend.dtype_name).eps)  # softmax rows


def test_predict_and_score_agree_with_evaluate(net, backend):
    X, y = rows(50)
    predicted = net.predict(X)
    assert predicted.shape == (50,) and predicted.dtype.kind == "i"
    np.testing.assert_array_equal(predicted, np.argmax(net.predict_proba(X), axis=1))
    score = net.score(X, y)
    assert isinstance(score, float) and score == net.evaluate((X, y)) / 50
    assert net.score(X, np.eye(4)[y]) == score  # one-hot targets


def test_device_input_gives_device_output(net, backend):
    X, _ = rows(12)
    device_X = backend.asarray(X)
    proba = net.predict_proba(device_X)
    assert_on_backend(proba, backend, (12, 4))
    assert rel_diff(proba, net.predict_proba(X)) == 0.0
    assert backend.owns(net.predict(device_X))


def test_bad_inputs_are_refused(net):
    X, y = rows(5)
    with pytest.raises(anynet.errors.DataError, match=r"X must have shape \(n, 6\)"):
        net.predict(X[:, :5])
    bad = X.copy()
    bad[2, 3] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        net.predict_proba(bad)
    with pytest.raises(ValueError, match="label 9"):
        net.score(X, np.array([0, 1, 2, 3, 9]))


def test_a_million_rows_in_bounded_memory():
    """predict on 10^6 rows moves and computes EVAL_CHUNK rows at a time: the
    peak of new allocations stays near one chunk's worth, not the whole
    (10^6, 4) float64 activation matrix of every layer."""
    net = anynet.Network([6, 50, 4], seed=0)
    X = np.random.default_rng(0).random((10**6, 6))
    tracemalloc.start()
    predicted = net.predict(X)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert predicted.shape == (10**6,)
    whole_hidden_layer = 10**6 * 50 * 8  # 400 MB if computed at once
    assert peak < whole_hidden_layer / 10, f"peak {peak / 2**20:.0f} MiB"
    np.testing.assert_array_equal(predicted[:7], net.predict(X[:7]))


def test_torch_cuda_device_is_normalised_to_its_index(monkeypatch):
    """device="cuda" must resolve to cuda:N so that data on cuda:0 is accepted
    (tested without a GPU by standing in for torch.cuda's answers)."""
    torch = pytest.importorskip("torch")
    from anynet.xp import devices

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert devices.resolve_device("torch", "cuda") == torch.device("cuda", 0)
    assert devices.resolve_device("torch", "cuda:1") == torch.device("cuda", 1)
    with pytest.raises(anynet.errors.ArgumentError, match="does not exist"):
        devices.resolve_device("torch", "cuda:5")
