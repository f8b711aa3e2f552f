"""Fused kernels (anynet.xp.kernels) and matmul precision (anynet.xp.precision).

On the CPU: the fused path calls exactly the shared functions the plain path
runs (a recording fuser), the fuser's cache and its fallback for what cannot
be fused (on NumPy, whose ufuncs stand in for CuPy's), cupy.fuse's own
tracer accepting every shared function on unallocated CuPy arrays (when CuPy
is installed; no GPU needed) with float32 kept float32, and the TF32 switches
set and restored.  On a GPU: fused against unfused results, to rounding.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from conftest import RTOL, rel_diff

import anynet
from anynet.model import backprop, optimizers
from anynet.model.layers import chain
from anynet.xp import kernels, precision
from anynet.model.activations import get_activation
from anynet.xp.backend import Backend, get_backend
from anynet.xp.devices import cuda_device_count
from anynet.errors import ArgumentTypeError
from anynet.model.optimizers import Regularizer, get_optimizer

SIZES = [6, 5, 4, 3]
SHARED = {backprop.layer, backprop.backward, optimizers.sgd_update, optimizers.momentum_update,
          optimizers.adam_update}
MODELS = [("quadratic", "sigmoid", "sigmoid"), ("cross-entropy", "tanh", "sigmoid"),
          ("log-likelihood", "relu", "softmax")]
OPTIMIZERS = ["sgd", "momentum", "adam", anynet.Momentum(nesterov=True)]


class RecordingFuser(kernels.CupyFuser):
    """CupyFuser with NumPy's ufuncs standing in for CuPy's and a "cupy.fuse"
    that runs the traced function as it is: each function the fused path asks
    for runs through the FusionNamespace and CupyFuser's calling convention
    (arrays and numbers positional, settings by keyword), as on a GPU.  It
    records which functions were asked for and which kernels ran, so a path
    that asks for a kernel and then runs the plain function, or passes it
    other arguments, shows."""

    def __init__(self):
        self.functions, self.ran = set(), []

        def fuse(kernel_name):
            def decorate(traced):
                def kernel(*args):
                    result = traced(*args)  # raises NotFusable for what a kernel cannot do
                    self.ran.append(kernel_name)
                    return result

                return kernel

            return decorate

        super().__init__(fuse, kernels.FusionNamespace(np, np.ufunc))

    def __call__(self, fn):
        self.functions.add(fn)
        return super().__call__(fn)


def _problem(model, seed=0):
    cost, hidden, output = model
    net = anynet.Network(SIZES, cost, seed=seed, activation=hidden, output_activation=output)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((7, SIZES[0]))
    y = np.eye(SIZES[-1])[rng.integers(0, SIZES[-1], 7)]
    return net, x, y


def _same(a_list, b_list):
    return len(a_list) == len(b_list) and all(np.array_equal(a, b) for a, b in zip(a_list, b_list))


def _arrays(params):
    """Every array of a list of Params, weight then bias."""
    return [a for p in params for a in p]


# -- dispatch: the fused path runs the shared functions ------------------------------------


@pytest.mark.parametrize("model", MODELS, ids="-".join)
def test_backprop_asks_the_fuser_for_layer_and_backward(model):
    net, x, y = _problem(model)
    fuse = RecordingFuser()
    args = {"activations": net.model.activations, "cost": net.cost, "xp": net.backend.xp}
    plain = chain.mlp_gradients(net.model.params, x, y, **args)
    through = chain.mlp_gradients(net.model.params, x, y, fuse=fuse, **args)
    assert fuse.functions == {backprop.layer, backprop.backward}
    softmax = model[2] == "softmax"  # its layer cannot be fused: it runs unfused, the others as kernels
    layers = len(SIZES) - 1
    assert sorted(fuse.ran) == sorted(["anynet_layer"] * (layers - softmax) + ["anynet_backward"] * (layers - 1))
    assert _same(_arrays(plain), _arrays(through))
    fuse.functions.clear()
    fuse.ran.clear()
    chain.mlp_output(net.model.params, x, activations=net.model.activations, xp=np, fuse=fuse)
    # binding a Dense layer asks for both of its kernels (asking compiles nothing); an evaluation runs only the layer's
    assert backprop.layer in fuse.functions
    assert sorted(fuse.ran) == ["anynet_layer"] * (layers - softmax)


@pytest.mark.parametrize("optimizer", OPTIMIZERS, ids=str)
@pytest.mark.parametrize("reg", [None, "l2", "l1"])
def test_optimizers_ask_the_fuser_for_their_update(optimizer, reg):
    net, x, y = _problem(MODELS[0])
    opt = get_optimizer(optimizer)
    grads = net.model.gradients(x, y)
    regularizer = Regularizer(reg, 0.5, 50) if reg else None
    state = opt.init(net.model.params, xp=np)
    fuse = RecordingFuser()
    args = {"eta": 0.3, "m": 7, "reg": regularizer, "xp": np}
    plain, _ = opt.step(net.model.params, grads, state, **args)
    through, _ = opt.step(net.model.params, grads, state, fuse=fuse, **args)
    expected = {"sgd": optimizers.sgd_update, "momentum": optimizers.momentum_update, "adam": optimizers.adam_update}
    assert fuse.functions == {expected[opt.name]}
    kernel = "anynet_" + expected[opt.name].__name__.strip("_")
    assert fuse.ran == [kernel] * 2 * (len(SIZES) - 1)  # one kernel per weight and per bias array
    assert _same(_arrays(plain), _arrays(through))


def test_training_runs_the_backends_fuser(monkeypatch):
    """The training loop, the model and update_mini_batch take the fuser from the backend."""
    fuse = RecordingFuser()
    monkeypatch.setattr(kernels, "fuser_for", lambda name: fuse)
    net, x, y = _problem(MODELS[0])
    net.SGD((x, y), 1, 3, 0.5, optimizer="adam", verbose=False)
    net.update_mini_batch((x, y), 0.5)
    net.evaluate((x, y))
    assert fuse.functions == {backprop.layer, backprop.backward, optimizers.adam_update, optimizers.sgd_update}


def test_only_cupy_fuses():
    assert get_backend("numpy").fuse is None
    assert kernels.fuser_for("torch") is None and kernels.fuser_for("array_api_strict") is None
    if importlib.util.find_spec("cupy") is not None:
        assert kernels.fuser_for("cupy") is kernels.cupy_fuser()


# -- the fuser itself, with NumPy's ufuncs standing in for CuPy's ------------------------------


def _numpy_fuser():
    traced = []

    def fake_fuse(kernel_name):  # cupy.fuse(kernel_name=...) returns a decorator
        def decorate(fn):
            traced.append(kernel_name)
            return fn

        return decorate

    return kernels.CupyFuser(fake_fuse, kernels.FusionNamespace(np, np.ufunc)), traced


@pytest.mark.parametrize("model", MODELS, ids="-".join)
@pytest.mark.parametrize("optimizer", OPTIMIZERS, ids=str)
def test_the_fuser_gives_the_plain_numbers(model, optimizer):
    fuser, traced = _numpy_fuser()
    plain_net, x, y = _problem(model)
    fused_net, _, _ = _problem(model)
    for net, fuse in ((plain_net, None), (fused_net, fuser)):
        opt = get_optimizer(optimizer)
        params = net.model.params
        state = opt.init(params, xp=np)
        reg = Regularizer("l1", 0.5, 50)
        for step in range(3):
            traced_before_step = len(traced)
            grads = chain.mlp_gradients(params, x, y, activations=net.model.activations, cost=net.cost, xp=np,
                                        fuse=fuse)
            params, state = opt.step(params, grads, state, eta=0.3, m=7, reg=reg, xp=np, fuse=fuse)
        net.model.set_parameters(params)
    # zeros_like -> 0 and astype -> .astype are exact stand-ins: the very same numbers
    assert _same(plain_net.weights + plain_net.biases, fused_net.weights + fused_net.biases)
    softmax = model[2] == "softmax"
    assert {name for name, _ in fuser.unfused} == ({"layer"} if softmax else set())
    assert len(traced) == traced_before_step  # a kernel per function and setting, traced once and reused


def test_a_custom_activation_that_reduces_runs_unfused():
    class RowNormalised(anynet.Sigmoid):
        name = "row-normalised"

        def fn(self, z, *, xp):
            s = super().fn(z, xp=xp)
            return s / xp.sum(s, axis=-1, keepdims=True)

    fuser, _ = _numpy_fuser()
    act = RowNormalised()
    zw, bT = np.ones((2, 3)), np.zeros((1, 3))
    _, a = fuser(backprop.layer)(zw, bT, act=act, xp=np)
    assert np.allclose(a, 1 / 3)
    assert fuser.unfused == {("layer", (("act", act),))}
    fuser(backprop.layer)(zw, bT, act=act, xp=np)  # the decision is kept: no second attempt
    assert len(fuser.unfused) == 1


# -- cupy.fuse's own tracer, on arrays that are never allocated (no GPU needed) ------------------


def _cupy_tracer():
    cupy = pytest.importorskip("cupy")
    try:
        from cupy._core import fusion
    except ImportError:
        pytest.skip("this CuPy has no cupy._core.fusion tracer")
    namespace = kernels.FusionNamespace(cupy, cupy.ufunc)

    def unallocated(shape, dtype):
        memory = cupy.cuda.UnownedMemory(0, 0, None, device_id=0)
        return cupy.ndarray(shape, dtype=dtype, memptr=cupy.cuda.MemoryPointer(memory, 0))

    def trace(fn, args, settings):
        """The ElementwiseKernel cupy.fuse builds from ``fn`` (tracing only; nothing runs)."""
        return trace_bound(kernels._bound(fn, namespace, settings), args)

    return unallocated, trace


def trace_bound(bound, args):
    """The ElementwiseKernel cupy.fuse builds from ``bound(*args)``, traced by CuPy's own tracer."""
    from cupy._core import fusion

    history = fusion._FusionHistory()
    fusion._thread_local.history, fusion._thread_local.is_old_fusing = history, True
    try:
        return history.get_fusion(bound, args, "trace")[0]
    finally:
        fusion._thread_local.history, fusion._thread_local.is_old_fusing = None, False


def _shared_calls(array):
    """Every shared function with every setting anynet uses, on arrays made by ``array()``."""
    calls = []
    for name in ("sigmoid", "tanh", "relu"):
        act = get_activation(name)
        calls.append((backprop.layer, (array(), array((1, 3))), {"act": act}, 2))
        calls.append((backprop.backward, (array(), array(), array()), {"act": act}, 1))
    for kind in (None, "l2", "l1"):
        calls.append((optimizers.sgd_update, (array(), array(), 0.03, 0.3, 0.01), {"kind": kind}, 1))
        for nesterov in (False, True):
            calls.append((optimizers.momentum_update, (array(), array(), array(), 10, 0.3, 0.9, 0.01),
                          {"kind": kind, "nesterov": nesterov}, 2))
        calls.append((optimizers.adam_update, (array(), array(), array(), array(), 10, 0.01, 0.9, 0.999, 0.3, 0.04,
                                               1e-8), {"kind": kind}, 3))
    return calls


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cupy_fuse_traces_every_shared_function(dtype):
    unallocated, trace = _cupy_tracer()
    calls = _shared_calls(lambda shape=(4, 3): unallocated(shape, dtype))
    assert {fn for fn, *_ in calls} == SHARED
    for fn, args, settings, outputs in calls:
        kernel = trace(fn, args, settings)  # raises if cupy.fuse cannot trace it
        assert [p.dtype for p in kernel.out_params] == [np.dtype(dtype)] * outputs, (fn.__name__, settings)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_cupy_backends_fuser_fuses_every_shared_function(dtype, monkeypatch):
    """The fuser a CuPy network gets (fuser_for("cupy")) hands cupy.fuse each
    shared function bound to the namespace it chose, and CuPy's tracer makes
    one kernel of each: nothing falls back to unfused kernels, which only a
    GPU's clock would notice.  cupy.fuse is replaced by one that traces and
    does not compile, so no GPU is needed."""
    cupy = pytest.importorskip("cupy")
    unallocated, _ = _cupy_tracer()
    kernels_made = []

    def fuse(kernel_name):
        def decorate(bound):
            def kernel(*args):
                kernels_made.append((kernel_name, trace_bound(bound, args)))

            return kernel

        return decorate

    monkeypatch.setattr(cupy, "fuse", fuse)
    kernels.cupy_fuser.cache_clear()
    try:
        fuser = kernels.fuser_for("cupy")
        calls = _shared_calls(lambda shape=(4, 3): unallocated(shape, dtype))
        for fn, args, settings, outputs in calls:
            fuser(fn)(*args, xp=cupy, **settings)
            name, kernel = kernels_made[-1]
            assert name == "anynet_" + fn.__name__.strip("_")
            assert [p.dtype for p in kernel.out_params] == [np.dtype(dtype)] * outputs, (fn.__name__, settings)
        assert len(kernels_made) == len(calls) and fuser.unfused == set()
    finally:
        kernels.cupy_fuser.cache_clear()  # the next CuPy network gets a fuser of the real cupy.fuse


def test_cupy_fuse_refuses_softmax_and_anynet_falls_back():
    unallocated, trace = _cupy_tracer()
    with pytest.raises(kernels.NotFusable, match="max"):
        trace(backprop.layer, (unallocated((4, 3), np.float32), unallocated((1, 3), np.float32)),
              {"act": get_activation("softmax")})


# -- TF32 and cuBLAS ----------------------------------------------------------------------------


def _fake_cuda_backend(name, dtype_name, allow_tf32, library):
    device = library.device("cuda") if name == "torch" else None
    return Backend(name, None, device, getattr(library, dtype_name), dtype_name, allow_tf32)


@pytest.mark.parametrize("allow", [False, True])
def test_torch_tf32_is_set_for_anynet_and_restored(allow):
    torch = pytest.importorskip("torch")
    matmul = torch.backends.cuda.matmul
    before = matmul.allow_tf32
    try:
        matmul.allow_tf32 = not allow  # the user's own choice
        with _fake_cuda_backend("torch", "float32", allow, torch).errstate():
            assert matmul.allow_tf32 is allow
        assert matmul.allow_tf32 is (not allow)
        for untouched in (_fake_cuda_backend("torch", "float64", allow, torch),
                          Backend("torch", None, torch.device("cpu"), torch.float32, "float32", allow)):
            with untouched.errstate():
                assert matmul.allow_tf32 is (not allow)
    finally:
        matmul.allow_tf32 = before


def test_cupy_float32_products_leave_tf32_off_and_restore_the_setting():
    pytest.importorskip("cupy")
    from cupy._core import _routines_linalg as linalg

    before = linalg.get_compute_type(np.float32)
    try:
        linalg.set_compute_type(np.float32, linalg.COMPUTE_TYPE_PEDANTIC)  # someone else's choice
        with _fake_cuda_backend("cupy", "float32", False, np).errstate():
            assert linalg.get_compute_type(np.float32) == linalg.COMPUTE_TYPE_DEFAULT
        assert linalg.get_compute_type(np.float32) == linalg.COMPUTE_TYPE_PEDANTIC
    finally:
        linalg.set_compute_type(np.float32, before)


def test_allow_tf32_is_a_backend_setting():
    backend = get_backend("numpy", dtype="float32")
    assert backend.allow_tf32 is False
    allowed = get_backend(backend, allow_tf32=True)
    assert allowed.allow_tf32 is True and allowed.dtype_name == "float32"
    assert get_backend(allowed) is allowed and get_backend(allowed, dtype="float64").allow_tf32 is True
    with pytest.raises(ArgumentTypeError, match="allow_tf32"):
        get_backend("numpy", allow_tf32="yes")
    assert anynet.Network([2, 2], backend=allowed).backend.allow_tf32 is True


def test_cublas_workspace_is_set_unless_the_user_set_it(monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    assert precision.cublas_workspace() == ":4096:8"
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":16:8")
    assert precision.cublas_workspace() == ":16:8"


# -- on a GPU ---------------------------------------------------------------------------------


def _cupy_gpu():
    cupy = pytest.importorskip("cupy")
    if cuda_device_count() == 0:
        pytest.skip("needs CuPy with a CUDA device")
    return cupy


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("model", MODELS, ids="-".join)
@pytest.mark.parametrize("optimizer", OPTIMIZERS, ids=str)
def test_fused_and_unfused_cupy_training_agree(dtype, model, optimizer, monkeypatch):
    cupy = _cupy_gpu()
    rng = np.random.default_rng(0)
    X, y = rng.random((60, SIZES[0])), rng.integers(0, SIZES[-1], 60)
    results = []
    for fuse in (kernels.cupy_fuser(), None):
        monkeypatch.setattr(kernels, "fuser_for", lambda name, fuse=fuse: fuse)
        net = anynet.Network(SIZES, model[0], seed=0, activation=model[1], output_activation=model[2],
                             backend="cupy", dtype=dtype)
        net.SGD((X, y), 2, 10, 0.1, lmbda=0.5, optimizer=optimizer, verbose=False)
        results.append([cupy.asnumpy(a) for a in net.weights + net.biases])
    # fused kernels may contract a*b+c into one FMA: equal to rounding, a few ulps per step
    for fused, plain in zip(*results):
        assert rel_diff(fused, plain) <= RTOL[dtype]
    assert {name for name, _ in kernels.cupy_fuser().unfused} <= {"layer"}  # softmax alone runs unfused


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["cupy", "torch"])
def test_float32_products_on_the_gpu_are_true_float32(name):
    if name == "cupy":
        _cupy_gpu()
        device = None
    else:
        torch = pytest.importorskip("torch")
        if not torch.cuda.is_available():
            pytest.skip("needs PyTorch with CUDA")
        device = "cuda"
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((512, 1024)), rng.standard_normal((1024, 256))
    exact = a @ b
    backend = get_backend(name, device, "float32")
    with backend.errstate():
        product = backend.to_numpy(backend.asarray(a) @ backend.asarray(b))
    assert rel_diff(product, exact) <= 1e-5  # TF32's 10-bit mantissa would give ~1e-3
