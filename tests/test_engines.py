"""The engines that run an epoch (anynet.train.engine, engine_jax, engine_torch).

* Compiled epochs equal the step-by-step loop to rounding: JAX's scan in
  float32 and float64, torch's scan (its graph capture for every optimizer
  and penalty; inductor's C++ compilation once, in one smoke test), for SGD,
  momentum, Nesterov, Adam, L2 and L1, with a partial last mini-batch.  Two
  epochs of 6 steps at eta <= 0.5: long enough for every state to matter,
  short enough that the rounding of two correct codes has not grown (at eta
  3 a whole epoch of this workload is chaotic).  Bounds from measurement:
  JAX_RTOL and TORCH_RTOL below, ~100x the worst measured on this CPU.
* A compiled epoch is built once: later epochs, a later run of the same
  settings and a new eta run it without tracing the step again, and it runs
  no Python per step (so it can make no per-step host transfer).
* torch falls back to the loop, with the reason logged, when compiling fails.
* The engine choice rules, and the math changes the engines need (Adam's
  step count as a 0-d array, bit for bit the old float64 numbers on NumPy).
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import rel_diff

import anynet
from anynet.model.layers import Params, chain
from anynet.train import engine, engines
from anynet.train.step import LocalReducer
from anynet.xp.backend import get_backend
from anynet.errors import ArgumentError, ArgumentTypeError
from anynet.train.fit import Shuffler, TrainConfig
from anynet.model.optimizers import (
    OPTIMIZERS,
    Adam,
    Momentum,
    Regularizer,
    adam_update,
    get_optimizer,
)
from anynet.api.saved import load_run

SIZES = [6, 5, 3]
N = 53  # mini-batches of 10: five full and a partial one of 3
M = 10
CASES = {  # id: (optimizer, regularization, eta)
    "sgd": ("sgd", None, 0.5),
    "momentum": (Momentum(0.9), None, 0.5),
    "nesterov": (Momentum(0.9, nesterov=True), None, 0.5),
    "adam": (Adam(), None, 0.01),
    "sgd-l2": ("sgd", "l2", 0.5),
    "sgd-l1": ("sgd", "l1", 0.5),
    "momentum-l2": (Momentum(0.9), "l2", 0.5),
    "adam-l1": (Adam(), "l1", 0.01),
}


def data(n=N, seed=5):
    rng = np.random.default_rng(seed)
    return rng.random((n, SIZES[0])), rng.integers(0, SIZES[-1], n)


def network(backend, dtype, compile, cost="cross-entropy", activation="tanh", **kw):
    return anynet.Network(SIZES, cost, backend=backend, dtype=dtype, seed=1, activation=activation,
                          compile=compile, **kw)


def train(net, case, epochs=2, lmbda=3.0):
    optimizer, reg, eta = CASES[case]
    net.SGD(data(), epochs, M, eta, lmbda if reg else 0.0, regularization=reg or "l2", optimizer=optimizer,
            verbose=False)
    return [net.backend.to_numpy(p) for p in net.weights + net.biases]


# JAX's scan against its loop and both against NumPy: measured worst 8.1e-16 / 7.3e-07
JAX_RTOL = {"float64": 8e-14, "float32": 7e-5}
# torch's captured scan against its loop: measured worst 6.2e-17 / 1.0e-07
TORCH_RTOL = {"float64": 6e-15, "float32": 1e-5}


def differ(ours, theirs) -> float:
    """The largest relative difference (conftest.rel_diff) between matching parameters."""
    return max(rel_diff(a, b) for a, b in zip(ours, theirs, strict=True))


class CallCounter:
    """Counts the Python calls of the batch gradient a step runs (the function
    chain.gradient_fn binds when the step is made): a compiled epoch calls it
    only while tracing, the loop once per step."""

    def __init__(self, monkeypatch):
        self.calls = 0
        original = chain.gradient_fn

        def counted_fn(*args, **kwargs):
            grads = original(*args, **kwargs)

            def counted(*a, **k):
                self.calls += 1
                return grads(*a, **k)

            return counted

        monkeypatch.setattr(chain, "gradient_fn", counted_fn)


# -- JAX ---------------------------------------------------------------------------------------------


@pytest.fixture
def jax_x64():
    jax = pytest.importorskip("jax")
    if not jax.config.jax_enable_x64:
        pytest.skip("the float64 legs need JAX's 64-bit mode (conftest turns it on)")
    return jax


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", CASES)
def test_jax_scan_epoch_equals_the_loop(jax_x64, case, dtype):
    compiled = train(network("jax", dtype, None), case)
    loop = train(network("jax", dtype, False), case)
    numpy = train(network("numpy", dtype, None), case)
    assert differ(compiled, loop) <= JAX_RTOL[dtype]
    assert differ(compiled, numpy) <= JAX_RTOL[dtype]
    assert differ(loop, numpy) <= JAX_RTOL[dtype]


def test_jax_softmax_and_log_likelihood_scan(jax_x64):
    nets = [network("jax", "float64", c, cost="log-likelihood", activation="relu") for c in (None, False)]
    compiled, loop = (train(net, "momentum-l2") for net in nets)
    assert differ(compiled, loop) <= JAX_RTOL["float64"]  # measured 8.0e-16


def test_jax_epoch_is_traced_once_and_runs_no_python_per_step(jax_x64, monkeypatch):
    """One call of the compiled program per epoch; the step's Python runs only
    while tracing (the scan body and the partial batch: twice), never per
    step, so nothing per step can wait for the device.  A later run of the
    same settings, and a new eta, trace nothing again."""
    from anynet.train import engine_jax

    fresh = engine_jax.JaxScanEngine()
    monkeypatch.setattr(engine_jax, "ENGINE", fresh)
    counter = CallCounter(monkeypatch)
    programs = []
    build = fresh.program

    def counted_program(*args):
        program = build(*args)

        def call(*a):
            programs.append(1)
            return program(*a)

        return call

    monkeypatch.setattr(fresh, "program", counted_program)
    net = network("jax", "float64", None)
    net.SGD(data(), 1, M, 0.5, verbose=False)
    traced = counter.calls
    assert traced == 2 and len(programs) == 1  # the scan body and the partial batch; the loop: 6 steps
    net.SGD(data(), 3, M, 0.5, verbose=False)
    assert counter.calls == traced and len(programs) == 4
    network("jax", "float64", None).SGD(data(), 1, M, 0.25, verbose=False)  # a new run, a new eta
    schedule = anynet.DivideOnPlateau(patience=1, factor=2.0, min_ratio=1 / 64)
    other = network("jax", "float64", None)
    other.SGD(data(), 6, M, 0.5, evaluation_data=data(20, seed=9), eta_schedule=schedule, verbose=False)
    assert len({report.eta for report in other.history}) > 1  # the schedule changed eta between epochs
    assert counter.calls == traced
    assert len(fresh._programs) == 1
    loop = network("jax", "float64", False)
    loop.SGD(data(), 1, M, 0.5, verbose=False)
    assert counter.calls == traced + 6  # compile=False: the loop, one step a mini-batch


def test_jax_progress_bar_advances_once_per_epoch(jax_x64):
    updates = []

    class Bar:
        def update(self, k):
            updates.append(k)

    net = network("jax", "float32", None)
    state = get_optimizer("sgd").init(net.model.parameters(), xp=net.backend.xp)
    order = Shuffler(N, np.random.default_rng(0)).next_epoch()
    engine.run_epoch(net.model, net.to_device(data()), order, engine=engines.engine_of(net.model), mini_batch_size=M, eta=0.5, reg=None,
                     optimizer=get_optimizer("sgd"), opt_state=state, reducer=LocalReducer(), bar=Bar())
    assert updates == [N]


def test_jax_run_resumed_from_its_file_is_bit_identical(jax_x64, tmp_path):
    """The same engine before and after the checkpoint: bit for bit."""
    full, part = tmp_path / "full.npz", tmp_path / "part.npz"
    nets = [network("jax", "float64", None) for _ in range(2)]
    X, y = data()
    nets[0].SGD((X, y), 3, M, 0.01, optimizer="adam", verbose=False, checkpoint=full)
    nets[1].SGD((X, y), 2, M, 0.01, optimizer="adam", verbose=False, checkpoint=part)
    resumed = anynet.resume(part, (X, y), epochs=3, verbose=False, backend="jax")
    for a, b in zip(resumed.weights + resumed.biases, nets[0].weights + nets[0].biases):
        assert np.array_equal(np.asarray(a), np.asarray(b))


# -- torch -------------------------------------------------------------------------------------------

# torch.compile with the inductor compiler takes 20 to 30 s on two cores; its
# graph capture alone (Dynamo, the scan operator, AOT autograd) takes about one.
CAPTURE_ONLY = {"backend": "aot_eager", "fullgraph": True, "dynamic": False}


@pytest.fixture
def torch_engine(monkeypatch):
    """A fresh torch engine that captures graphs but does not compile them to C++."""
    pytest.importorskip("torch")
    from anynet.train import engine_torch

    fresh = engine_torch.TorchScanEngine(compile_options=CAPTURE_ONLY)
    monkeypatch.setattr(engine_torch, "ENGINE", fresh)
    return fresh


@pytest.mark.parametrize("case, dtype", [(case, "float64") for case in CASES] + [("sgd", "float32"), ("adam-l1", "float32")])
def test_torch_scan_graph_equals_the_loop(torch_engine, case, dtype):
    compiled = train(network("torch", dtype, True), case)
    loop = train(network("torch", dtype, None), case)
    assert torch_engine.fallbacks == {}
    assert len(torch_engine._programs) == 1
    assert differ(compiled, loop) <= TORCH_RTOL[dtype]


def test_torch_compile_failure_falls_back_to_the_loop(torch_engine, monkeypatch, caplog):
    import torch

    attempts = []

    def failing_compile(function, **options):
        def compiled(*args):
            attempts.append(1)
            raise RuntimeError("simulated: no C++ compiler\nsecond line")

        return compiled

    monkeypatch.setattr(torch, "compile", failing_compile)
    net = network("torch", "float64", True)
    with caplog.at_level(logging.WARNING, logger="anynet"):
        compiled = train(net, "adam-l1", epochs=3)
    assert len(attempts) == 1  # the configuration is not tried again in later epochs
    assert list(torch_engine.fallbacks.values()) == ["RuntimeError: simulated: no C++ compiler"]
    assert "simulated: no C++ compiler" in caplog.text and "step-by-step loop" in caplog.text
    loop = train(network("torch", "float64", None), "adam-l1", epochs=3)
    for a, b in zip(compiled, loop):
        assert np.array_equal(a, b)  # the loop itself, bit for bit


def _have_cxx():
    return any(shutil.which(name) for name in ("g++", "c++", "clang++"))


@pytest.mark.skipif(not _have_cxx(), reason="torch.compile's inductor needs a C++ compiler")
def test_torch_compiled_epoch_smoke(monkeypatch):
    """The one real compilation (inductor, C++ wrapper; about 25 s): Adam with
    L1 and a partial batch equals the loop; a second run with a new eta
    neither compiles nor traces again."""
    torch = pytest.importorskip("torch")
    from torch._dynamo.utils import counters

    from anynet.train import engine_torch

    fresh = engine_torch.TorchScanEngine()
    monkeypatch.setattr(engine_torch, "ENGINE", fresh)
    compiles = []
    compile_ = torch.compile
    monkeypatch.setattr(torch, "compile", lambda *a, **k: compiles.append(1) or compile_(*a, **k))
    compiled = train(network("torch", "float64", True), "adam-l1")
    assert fresh.fallbacks == {} and len(compiles) == 1
    graphs = counters["stats"]["unique_graphs"]
    assert graphs >= 1
    loop = train(network("torch", "float64", None), "adam-l1")
    assert differ(compiled, loop) <= TORCH_RTOL["float64"]  # measured 6.2e-17 (inductor, C++ wrapper)
    network("torch", "float64", True).SGD(data(), 2, M, 0.005, 3.0, regularization="l1", optimizer=Adam(),
                                          verbose=False)
    assert len(compiles) == 1 and counters["stats"]["unique_graphs"] == graphs
    assert len(fresh._programs) == 1 and fresh.fallbacks == {}


# -- choosing the engine, and the switch -----------------------------------------------------------


class OtherReducer(LocalReducer):
    """A reducer that could work per step (as MPI's and a timing one do)."""


def test_engine_choice():
    from anynet.train.engines import COMPILED

    assert engines.engine_for(get_backend("numpy")) is engine.LOOP
    assert engines.engine_for(get_backend("array_api_strict")) is engine.LOOP
    assert COMPILED == ("jax", "torch")
    if "torch" in anynet.available_backends():
        from anynet.train import engine_torch

        assert engines.engine_for(get_backend("torch")) is engine.LOOP  # opt-in
        assert engines.engine_for(get_backend("torch"), compile=True) is engine_torch.ENGINE
        assert engines.engine_for(get_backend("torch"), OtherReducer(), compile=True) is engine.LOOP
    if "jax" in anynet.available_backends():
        from anynet.train import engine_jax

        jax = get_backend("jax", dtype="float32")
        assert engines.engine_for(jax) is engine_jax.ENGINE
        assert engines.engine_for(jax, LocalReducer()) is engine_jax.ENGINE
        assert engines.engine_for(jax, compile=True) is engine_jax.ENGINE
        assert engines.engine_for(jax, compile=False) is engine.LOOP
        assert engines.engine_for(jax, OtherReducer()) is engine.LOOP


def test_compile_is_a_training_option_checked_before_anything_is_drawn():
    """Issue 17 item 2: compiling is a training option (TrainConfig.compile,
    Network(compile=) its runs' default), not a property of the backend."""
    with pytest.raises(ArgumentError, match="compile=True needs backend jax or torch; numpy"):
        engines.engine_for(get_backend("numpy"), compile=True)
    with pytest.raises(ArgumentTypeError, match="compile must be None, True or False"):
        TrainConfig(1, 10, 0.5, compile="yes")
    np.random.seed(0)
    before = np.random.get_state()[1].copy()
    with pytest.raises(ArgumentError, match="compile=True"):
        anynet.Network(SIZES, backend="array_api_strict", compile=True)
    assert (np.random.get_state()[1] == before).all()  # refused before the book's global draw
    assert not hasattr(get_backend("numpy"), "compile") and str(get_backend("numpy")) == "numpy (cpu, float64)"
    assert anynet.Network(SIZES, compile=False).compile is False
    assert TrainConfig(1, 10, 0.5).compile is None


def test_cli_compile_flag(capsys, tmp_path):
    from anynet.cli import main

    small = ["train", "--data", "sample", "--sizes", "784,10,10", "--epochs", "1", "--seed", "3", "--quiet"]
    assert main([*small, "--compile"]) == 1
    assert "compile=True needs backend jax or torch; numpy" in capsys.readouterr().err
    path = tmp_path / "run.npz"
    assert main([*small, "--no-compile", "--save", str(path)]) == 0
    run = load_run(path)
    assert run.extra["cli"]["compile"] is False


def test_take_rows_is_the_gather(backend):
    xp = backend.xp
    x = backend.asarray(np.arange(24.0).reshape(6, 4))
    idx = backend.asarray([4, 0, 4, 2], dtype=backend.index_dtype)
    rows = backend.take_rows(x, idx)
    assert rows.dtype == x.dtype and tuple(rows.shape) == (4, 4)
    assert np.array_equal(backend.to_numpy(rows), backend.to_numpy(xp.take(x, idx, axis=0)))


def test_import_anynet_imports_no_engine_library():
    code = ("import sys, numpy as np, anynet; net = anynet.Network([3, 2], seed=0); "
            "net.SGD((np.ones((4, 3)), np.array([0, 1, 0, 1])), 1, 2, 0.5, verbose=False); "
            "print(sorted(m for m in ('jax', 'torch', 'anynet.train.engine_jax', 'anynet.train.engine_torch') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


# -- the math the compiled engines need ------------------------------------------------------------


def test_every_optimizer_state_is_arrays_only():
    backend = get_backend("numpy")
    params = [Params(backend.asarray(np.ones((2, 3))), backend.asarray(np.ones((2, 1))))]
    for name in OPTIMIZERS:
        state = get_optimizer(name).init(params, xp=backend.xp)
        assert isinstance(state, dict)
        for value in state.values():
            if isinstance(value, list):
                assert all(type(p) is Params for p in value)
                value = [a for p in value for a in p]
            assert all(backend.owns(a) for a in (value if isinstance(value, list) else [value]))
    t = Adam().init(params, xp=backend.xp)["t"]
    assert t.shape == () and t.dtype == backend.index_dtype and int(t) == 0


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_adam_on_numpy_is_bit_for_bit_the_python_int_formula(dtype):
    """The oracle: adam_update with the bias corrections of a Python int t
    (b**t by C's pow, in double precision), as the step computed them before
    t became an array.  300 steps: NumPy's vectorised pow differs from C's at
    t = 7, 23, 26, ..., so a power of an array (not a scalar) would fail here,
    and float32 corrections would fail at once."""
    backend = get_backend("numpy", dtype=dtype)
    xp = backend.xp
    rng = np.random.default_rng(0)
    w = [rng.standard_normal((3, 4)).astype(dtype)]
    b = [rng.standard_normal((3, 1)).astype(dtype)]
    grads = [(rng.standard_normal((3, 4)).astype(dtype), rng.standard_normal((3, 1)).astype(dtype)) for _ in range(300)]
    adam, reg = Adam(), Regularizer("l2", 2.0, 50)
    params = [Params(w[0], b[0])]
    state = adam.init(params, xp=xp)
    mine = [[w[0], b[0]], [np.zeros_like(w[0]), np.zeros_like(b[0])], [np.zeros_like(w[0]), np.zeros_like(b[0])]]
    for t, (gw, gb) in enumerate(grads, start=1):
        params, state = adam.step(params, [Params(gw, gb)], state, eta=0.01, m=5, reg=reg, xp=xp)
        step_size, root = 0.01 / (1 - 0.9**t), (1 - 0.999**t) ** 0.5
        for i, (g, coef, kind) in enumerate(((gw, reg.coef, "l2"), (gb, 0.0, None))):
            mine[0][i], mine[1][i], mine[2][i] = adam_update(mine[0][i], mine[1][i], mine[2][i], g, 5, coef, 0.9, 0.999,
                                                             step_size, root, 1e-8, kind=kind, xp=xp)
    assert int(state["t"]) == 300
    assert params[0].weight.dtype == np.dtype(dtype)
    assert np.array_equal(params[0].weight, mine[0][0]) and np.array_equal(params[0].bias, mine[0][1])


def test_resumed_step_count_is_an_array(tmp_path):
    from anynet.train import runstate

    net = anynet.Network(SIZES, seed=0)
    path = tmp_path / "run.npz"
    net.SGD(data(), 2, M, 0.01, optimizer="adam", verbose=False, checkpoint=path)
    run = load_run(path)
    t = run.state.optimizer_state["t"]
    assert net.backend.owns(t) and t.shape == () and int(t) == 2 * 6
    assert runstate.encode(run.config, run.state, data_sha256="x")[0]["optimizer_state"]["t"] == {"value": 12}
