"""Export from a network on every backend and device (NumPy, array-api-strict,
torch, JAX; CuPy and CUDA where there is a GPU): the ONNX model equals
``predict_proba`` on ONNX Runtime (1e-5 float32, 1e-9 float64, as in
test_export_onnx.py), and the safetensors file holds the device's weights bit
for bit and loads back onto the same backend."""

from __future__ import annotations

import numpy as np
import pytest

import anynet

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

TOLERANCE = {"float32": 1e-5, "float64": 1e-9}


def test_export_from_every_backend(backend, tmp_path):
    net = anynet.Network([6, 5, 4], "log-likelihood", activation="tanh", backend=backend, seed=1)
    rng = np.random.default_rng(0)
    net.SGD((rng.random((30, 6)), rng.integers(0, 4, 30)), 1, 10, 0.5, verbose=False)
    x = rng.random((11, 6)).astype(backend.dtype_name)
    session = ort.InferenceSession(str(net.to_onnx(tmp_path / "m.onnx")), providers=["CPUExecutionProvider"])
    got, want = session.run(["output"], {"input": x})[0], net.predict_proba(x)
    assert got.dtype == want.dtype and np.max(np.abs(got - want)) <= TOLERANCE[backend.dtype_name]
    net.save(tmp_path / "w.safetensors")
    back = anynet.load(tmp_path / "w.safetensors", backend=backend.name, device=backend.device)
    for mine, theirs in zip(net.weights + net.biases, back.weights + back.biases):
        assert backend.owns(theirs)
        assert np.array_equal(backend.to_numpy(mine), backend.to_numpy(theirs))
