"""anynet.Network of any layers (issue 18 item 2; the model is a sequence of
layers, issue 17): a small conv net trained through the one loop equals the
same training written in torch (autograd, the same initial weights and
sample order), every backend equals NumPy, dropout is reproducible from the
seed, and saving, loading, resuming and predicting work as for the book's
network."""

from __future__ import annotations

import numpy as np
import pytest

import anynet
from anynet.errors import ArgumentError
from anynet.model.layers import Activate, Conv2D, Dense, Dropout, Flatten, MaxPool2D, Reshape, chain
from conftest import RUN_RTOL, numpy_underneath, rel_diff

N, M, EPOCHS, ETA = 24, 4, 2, 0.3


def layers(p=0.0):
    return [Reshape((1, 8, 8)), Conv2D(1, 3, (3, 3)), MaxPool2D((2, 2)), Activate("relu"), Flatten(),
            Dropout(p, inverted=False), Dense(27, 5, "softmax")]


def data(seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((N, 64)), rng.integers(0, 5, N)


def bits(net):
    return [net.backend.to_numpy(a).tobytes() for a in net.weights + net.biases]


def test_a_conv_net_trains_as_torch_computes_it():
    """Oracle: torch autograd on the same weights, in the order the seeded
    Generator gives (weights drawn first, then one shuffle per epoch), with
    the summed log-likelihood's gradient scaled by eta / m as the book's SGD.
    Measured 4e-16; bound 1e-12 (float64, a few ulps times the steps)."""
    torch = pytest.importorskip("torch")
    x, y = data()
    net = anynet.Network(layers(), "log-likelihood", seed=3)
    rng = np.random.default_rng(3)
    start = [p for p in chain.init_params(layers(), rng, (64,)) if p is not None]
    assert all(np.array_equal(p.weight, w) for p, w in zip(start, net.weights))
    w1, b1, w2, b2 = (torch.tensor(a, requires_grad=True)
                      for a in (start[0].weight, start[0].bias, start[1].weight, start[1].bias))
    order = np.arange(N)
    for _ in range(EPOCHS):
        rng.shuffle(order)
        for k in range(0, N, M):
            idx = order[k:k + M]
            xb = torch.tensor(x[idx]).reshape(-1, 1, 8, 8)
            h = torch.relu(torch.nn.functional.max_pool2d(torch.nn.functional.conv2d(xb, w1, b1), 2)).flatten(1)
            loss = torch.nn.functional.cross_entropy(h @ w2.T + b2.T, torch.tensor(y[idx]), reduction="sum")
            grads = torch.autograd.grad(loss, (w1, b1, w2, b2))
            with torch.no_grad():
                for p, g in zip((w1, b1, w2, b2), grads):
                    p -= ETA / M * g
    net.SGD((x, y), EPOCHS, M, ETA, verbose=False)
    for ours, theirs in zip(net.weights + net.biases, (w1, w2, b1, b2)):
        assert rel_diff(ours, theirs.detach().numpy()) <= 1e-12


def test_every_backend_trains_a_conv_net_as_numpy(backend):
    x, y = data()
    reference = anynet.Network(layers(), seed=5, dtype=backend.dtype_name)
    reference.SGD((x, y), EPOCHS, M, ETA, verbose=False)
    net = anynet.Network(layers(), seed=5, backend=backend)
    net.SGD((x, y), EPOCHS, M, ETA, verbose=False)
    bound = 0.0 if numpy_underneath(backend) else RUN_RTOL[backend.dtype_name]
    for ours, theirs in zip(net.weights + net.biases, reference.weights + reference.biases):
        assert rel_diff(ours, reference.backend.to_numpy(theirs)) <= bound


def test_dropout_is_reproducible_from_the_seed_and_p0_is_no_dropout():
    x, y = data()
    runs = []
    for _ in range(2):
        net = anynet.Network(layers(0.5), seed=7)
        net.SGD((x, y), EPOCHS, M, ETA, verbose=False)
        runs.append(bits(net))
    assert runs[0] == runs[1]
    plain, zero = anynet.Network(layers(), seed=7), anynet.Network(layers(0.0), seed=7)
    for net in (plain, zero):
        net.SGD((x, y), EPOCHS, M, ETA, verbose=False)
    assert bits(plain) == bits(zero) != runs[0]


def test_save_load_predict_and_resume_bit_for_bit(tmp_path):
    x, y = data()
    full = anynet.Network(layers(0.5), seed=2)
    full.SGD((x, y), 3, M, ETA, verbose=False)
    part = anynet.Network(layers(0.5), seed=2)
    part.SGD((x, y), 1, M, ETA, verbose=False, checkpoint=tmp_path / "run.npz")
    resumed = anynet.resume(tmp_path / "run.npz", (x, y), epochs=3, verbose=False)
    assert bits(resumed) == bits(full)
    full.save(tmp_path / "net.npz")
    loaded = anynet.load(tmp_path / "net.npz")
    assert [type(a) for a in loaded.model.layers] == [type(a) for a in full.model.layers]
    np.testing.assert_array_equal(loaded.predict_proba(x), full.predict_proba(x))
    assert full.score(x, y) == loaded.score(x, y)


def test_bad_layer_networks_are_refused_before_anything_is_drawn():
    with pytest.raises(ArgumentError, match="takes 20 inputs, but the layer before it gives 27"):
        anynet.Network([*layers()[:-1], Dense(20, 5, "softmax")])
    with pytest.raises(ArgumentError, match="activations and initializers from its layers"):
        anynet.Network(layers(), activation="relu")
    with pytest.raises(ArgumentError, match="input_shape is for a Network of layers"):
        anynet.Network([4, 3], input_shape=(4,))
    with pytest.raises(ArgumentError, match="output layer must be a Dense layer"):
        anynet.Network(layers()[:-1])
    with pytest.raises(ValueError, match="each input must have 64 values"):
        anynet.Network(layers(), seed=0).SGD((np.zeros((4, 63)), np.zeros(4, dtype=int)), 1, 2, 0.1)


def test_a_sweep_of_conv_nets_equals_their_separate_runs_bit_for_bit():
    """Every layer keeps the leading stack axis: K conv nets train as one
    stack, each ending where its own Network(seed=s).SGD ends (NumPy: the same
    BLAS call per network, so the same bits)."""
    x, y = data()
    nets = anynet.sweep(layers(), (x, y), EPOCHS, M, eta=[0.1, 0.3], seeds=[0, 1])
    for net in nets:
        alone = anynet.Network(layers(), seed=net.sweep["seed"])
        alone.SGD((x, y), EPOCHS, M, net.sweep["eta"], verbose=False)
        assert bits(net) == bits(alone)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("optimizer, p, etas", [("momentum", 0.5, [0.1, 0.3]), ("adam", 0.0, [0.01, 0.03]),
                                                ("adam", 0.5, [0.01, 0.03])])
def test_a_sweep_of_conv_nets_with_dropout_and_adam_equals_their_separate_runs(dtype, optimizer, p, etas):
    """Issue 18 item 2's "every existing feature" in a sweep: Adam's state and
    dropout masks per network of a stack of conv nets.  Each network draws its
    masks from its own seed's generator in its separate run's order, and
    Adam's step size takes each network's eta whatever its parameters' rank:
    on NumPy every network ends bit for bit where Network(seed=s).SGD ends.
    (A stack sharing one network's masks, or Adam's (K, 1, 1) step size on a
    conv weight, fails here.)"""
    x, y = data()
    nets = anynet.sweep(layers(p), (x, y), EPOCHS, M, eta=etas, seeds=[0, 1], optimizer=optimizer, dtype=dtype)
    assert len(nets) == 4
    for net in nets:
        alone = anynet.Network(layers(p), seed=net.sweep["seed"], dtype=dtype)
        alone.SGD((x, y), EPOCHS, M, net.sweep["eta"], verbose=False, optimizer=optimizer)
        assert bits(net) == bits(alone)


def test_a_conv_net_is_bit_identical_on_1_to_4_ranks():
    """MPI data-parallel training of a conv net (exact reducer): the same
    bits for any number of ranks (threads over tests/mpi/fakes.py's fake
    communicator, which test_distributed.py shows gives real MPI's bits),
    within rounding of one process alone (blocks of rows summed in order
    instead of one product; measured 8.7e-17, bound 1e-13)."""
    from anynet import distributed
    from mpi.fakes import FakeComm, FakeWorld

    x, y = data()

    def weights(comm):
        net = anynet.Network(layers(), seed=6)
        net.SGD((x, y), EPOCHS, M, ETA, verbose=False, comm=comm)
        return np.concatenate([np.ravel(net.backend.to_numpy(a)) for a in net.weights + net.biases])

    alone = anynet.Network(layers(), seed=6)
    alone.SGD((x, y), EPOCHS, M, ETA, verbose=False)
    reference = np.concatenate([np.ravel(a) for a in alone.weights + alone.biases])
    runs = {}
    for size in (1, 2, 3, 4):
        world = FakeWorld(size)
        runs[size] = world.run(lambda rank, world=world: weights(FakeComm(world, rank)))
    for size, ranks in runs.items():
        for bits_ in ranks:
            assert bits_.tobytes() == runs[1][0].tobytes(), f"{size} ranks"
    assert rel_diff(runs[1][0], reference) <= 1e-13
