"""``anynet check`` for networks of layers (issue 18 item 2): the default conv
net (every layer kind, dropout with a fixed mask) and a user's ``--layers
SPEC`` are compared with NumPy on every backend, the check's own NumPy
gradients are torch autograd's, and a backend whose convolution gradient is
wrong fails the check."""

from __future__ import annotations

import numpy as np
import pytest

import anynet
from anynet.api import crosscheck
from anynet.cli import main
from anynet.errors import ArgumentError
from anynet.model.layers import Conv2D, Dropout
from conftest import ORDER_RTOL, RUN_RTOL, numpy_underneath, on_gpu, rel_diff

STEPS = 50  # the check trains 200 steps; a quarter keeps the matrix fast (the CLI tests below run 200)
SMALL = "image:1:6:6,conv:2:3,pool:2,relu,dropout:0.3,dense:5:softmax"


def torch_gradients(net, x, labels, mask, p):
    """The gradients of the check's conv net (CONV) by torch autograd from
    the network's weights, with the same inverted-dropout mask: the summed
    log-likelihood of the mini-batch, in float64."""
    torch = pytest.importorskip("torch")
    fn = torch.nn.functional
    params = [torch.tensor(np.asarray(net.backend.to_numpy(a), dtype=np.float64), requires_grad=True)
              for a in net.weights + net.biases]
    w1, w2, w3, b1, b2, b3 = params
    h = fn.conv2d(torch.tensor(x).reshape(-1, 1, 10, 10), w1, b1.reshape(-1))
    h = torch.relu(fn.max_pool2d(h, 2)) * torch.tensor(mask, dtype=torch.float64) / (1 - p)
    h = torch.tanh(h.flatten(1) @ w2.T + b2.reshape(1, -1))
    loss = fn.cross_entropy(h @ w3.T + b3.reshape(1, -1), torch.tensor(labels), reduction="sum")
    return [g.numpy() for g in torch.autograd.grad(loss, params)]


def check_against_torch(dtype):
    """The check's NumPy gradients of CONV (one mini-batch of its data, its
    fixed dropout mask) against torch autograd, matched by shape (every
    parameter of CONV has its own)."""
    net = anynet.Network(crosscheck.networks()["conv"], seed=0, dtype=dtype)
    x, labels = crosscheck.problem(0, net.model.n_in, net.model.n_out, 10)
    dropout = next(layer for layer in net.model.layers if isinstance(layer, Dropout))
    mask = dropout.draw_mask(np.random.default_rng([0, 2]), (10, 4, 4, 4))
    ours = crosscheck.batch_gradients(net, x, labels, 0)
    theirs = {g.shape: g for g in torch_gradients(net, x, labels, mask, dropout.p)}
    assert len(ours) == len(theirs) == 6
    for g in ours:
        # measured 4.7e-16 (float64) / 1.5e-07 (float32, anynet's rounding against torch's float64)
        assert rel_diff(g, theirs[tuple(g.shape)]) <= {"float64": 3e-14, "float32": 2e-5}[dtype]


def test_the_conv_check_matches_numpy_on_every_backend(backend):
    """anynet check's comparison of its conv net; the NumPy leg itself is
    checked against torch autograd instead.  Measured worst on torch and JAX
    (CPU, 50 steps): gradients 4.4e-16 / 2.0e-07, weights 2.2e-16 / 2.3e-07
    (float64 / float32; the CLI's 200 steps: weights 5.8e-16 / 4.2e-07)."""
    if backend.name == "numpy" and backend.xp is anynet.get_backend("numpy").xp:
        return check_against_torch(backend.dtype_name)
    result = crosscheck.compare_backend(backend, layers=crosscheck.CONV, network="conv", steps=STEPS)
    assert result.network == "conv" and result.ok
    if numpy_underneath(backend):
        assert result.grad_rel_diff == 0 and result.weight_rel_diff == 0
    elif not on_gpu(backend):
        assert result.grad_rel_diff <= ORDER_RTOL[backend.dtype_name]
        assert result.weight_rel_diff <= RUN_RTOL[backend.dtype_name]


def test_check_of_a_layer_spec_on_the_installed_backends(capsys):
    """`anynet check --layers SPEC` on array-api-strict (both devices) and
    torch, 200 steps each, in float64 and float32: every row ok, exit 0
    (JAX runs the same comparison above, in fewer steps: its eager steps are
    slow to start)."""
    status = main(["check", "--backends", "array_api_strict,torch", "--dtype", "both", "--layers", SMALL])
    out = capsys.readouterr().out
    assert status == 0, out
    lines = out.splitlines()
    assert lines[0] == f"layers: {SMALL}, SGD at eta 0.1"
    rows = [line.split() for line in lines[3:-1]]
    assert {row[1] for row in rows} == {"array_api_strict", "torch"} and len(rows) == 6
    assert all(row[0] == "layers" and row[-1] == "ok" for row in rows), out
    assert lines[-1].startswith("compared 6 of 6 network/backend/device/dtype legs")


def test_a_backend_with_a_wrong_conv_gradient_fails_the_check(capsys, monkeypatch):
    """A planted bug: array-api-strict's convolution weight gradient is off
    by one part in a million (NumPy's stays right).  Its rows fail, the
    command exits 1; a network without a convolution still passes."""
    right = Conv2D.backward
    strict = anynet.get_backend("array_api_strict").xp

    def wrong(self, params, saved, g, *, xp, **kwargs):
        g_in, grads = right(self, params, saved, g, xp=xp, **kwargs)
        return g_in, (grads._replace(weight=grads.weight * (1 + 1e-6)) if xp is strict else grads)

    monkeypatch.setattr(Conv2D, "backward", wrong)
    status = main(["check", "--backends", "numpy,array_api_strict", "--layers", SMALL])
    out = capsys.readouterr().out
    verdicts = {tuple(line.split()[1:3]): line.split()[-1] for line in out.splitlines()[3:-1]}
    assert status == 1
    assert verdicts == {("numpy", "cpu"): "ok", ("array_api_strict", "CPU_DEVICE"): "MISMATCH",
                        ("array_api_strict", "device1"): "MISMATCH"}
    assert out.splitlines()[-1].endswith(": 2 mismatched, 0 skipped")
    status = main(["check", "--backends", "array_api_strict", "--layers", "image:1:6:6,dense:4:relu,dense:5:softmax"])
    assert status == 0, capsys.readouterr().out


def test_bad_specs_are_refused_before_any_backend_runs(capsys, monkeypatch):
    monkeypatch.setattr(crosscheck, "compare_backend", lambda *a, **k: pytest.fail("a backend ran"))
    assert main(["check", "--layers", "conv:20:5,pool:30,dense:10:softmax"]) == 1
    err = capsys.readouterr().err
    assert "--layers item 'pool:30'" in err and "larger than the 24x24 image" in err
    with pytest.raises(ArgumentError, match="layers: unknown item 'conv3'"):
        crosscheck.check(["array_api_strict"], layers="conv3,dense:10:softmax")


def test_the_python_check_takes_layer_objects():
    """check(layers=[...]) compares the caller's own list of layers."""
    layers = anynet.api.layerspec.parse(SMALL)
    results = crosscheck.check(["array_api_strict"], ("float32",), layers=layers, steps=STEPS)
    assert [(r.network, r.device, r.ok) for r in results] == [("layers", "CPU_DEVICE", True),
                                                              ("layers", "device1", True)]
    assert all(r.grad_rel_diff == 0 and r.weight_rel_diff == 0 for r in results)
