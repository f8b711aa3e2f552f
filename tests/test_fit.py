"""The training loop's own promises: early stopping stops where it should and
restores the best epoch, the schedule, divergence caught once per epoch with
the last finite parameters kept, callbacks; and the reliability findings at
the data boundary (overflow in float32, uint8 pixels, torch autograd graphs,
networks too large for memory, output paths checked before training)."""

from __future__ import annotations

import numpy as np
import pytest

import anynet
from anynet.errors import AnynetError, DataError, OutputPathError, TooLargeError, TrainingDiverged
from anynet.train.fit import Callback, Shuffler, TrainConfig, fit
from anynet.datasets.boundary import prepare


def blobs(n, seed, width=8, classes=3):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    return np.eye(classes, width)[y] * 0.8 + rng.random((n, width)) * 0.3, y


def device(net, data):
    return prepare(data, backend=net.backend, n_in=net.sizes[0], n_out=net.sizes[-1], what="data")


class Recorder(Callback):
    def __init__(self):
        self.epochs, self.parameters, self.ended = [], [], False

    def on_epoch_end(self, report, state):
        self.epochs.append((report.epoch, report.evaluation_accuracy, state.eta, state.stopped))
        self.parameters.append([np.asarray(p) for p in state_parameters(report)])

    def on_train_end(self, state):
        self.ended = True


def state_parameters(report):
    return report.extra["parameters"]


class Keep(Callback):
    """Stores each epoch's parameters on its report (for the Recorder)."""

    def __init__(self, net):
        self.net = net

    def on_epoch_end(self, report, state):
        report.extra["parameters"] = [np.array(p) for p in self.net.weights + self.net.biases]


def test_early_stopping_stops_after_patience_and_restores_the_best_epoch():
    net = anynet.Network([8, 4, 3], seed=1)
    train, validation = device(net, blobs(120, 0)), device(net, blobs(40, 1))
    recorder = Recorder()
    # eta 40 bounces around: accuracy stops improving within a few epochs
    config = TrainConfig(50, 10, 40.0, early_stopping=3, monitors=frozenset({"evaluation_accuracy"}))
    state = fit(net.model, train, config, evaluation=validation, callbacks=[Keep(net), recorder],
                shuffler=Shuffler(train.n, np.random.default_rng(0)))
    accuracies = [a for _, a, _, _ in recorder.epochs]
    best = int(np.argmax(accuracies))  # the first of equals
    assert len(accuracies) == best + 4 < 50  # stopped 3 epochs after the best, not at 50
    assert all(a <= accuracies[best] for a in accuracies[best + 1:])
    assert recorder.epochs[-1][3] is True and recorder.ended
    assert state.best_epoch == best
    for ours, kept in zip(net.weights + net.biases, recorder.parameters[best]):
        np.testing.assert_array_equal(np.asarray(ours), kept)


def test_eta_schedule_halves_on_plateau_and_stops_at_the_floor():
    net = anynet.Network([8, 4, 3], seed=1)
    train, validation = device(net, blobs(60, 0)), device(net, blobs(20, 1))
    recorder = Recorder()
    schedule = anynet.DivideOnPlateau(patience=1, factor=2.0, min_ratio=1 / 4)
    config = TrainConfig(200, 10, 8.0, eta_schedule=schedule)
    fit(net.model, train, config, evaluation=validation, callbacks=[Keep(net), recorder])
    etas = [eta for _, _, eta, _ in recorder.epochs]
    assert etas[-1] == 2.0 and len(etas) < 200  # 8 -> 4 -> 2 = 8/4: stop
    assert all(b in (a, a / 2) for a, b in zip([8.0, *etas], etas))


def test_divergence_is_caught_once_per_epoch_and_the_last_finite_epoch_kept():
    net = anynet.Network([8, 4, 3], "cross-entropy", seed=0)
    train = device(net, blobs(100, 0))
    kept = []

    class Snapshot(Callback):
        def on_epoch_end(self, report, state):
            kept[:] = [np.array(p) for p in net.weights + net.biases]

    config = TrainConfig(5, 10, 3.0, lmbda=5.0)
    fit(net.model, train, config, callbacks=[Snapshot()])  # a sane first run, then one that diverges
    # weight decay (1 - eta lmbda/n) = -5e6 per step: the weights overflow within a few epochs
    with pytest.raises(TrainingDiverged, match=r"training diverged in epoch [1-9]: .* at eta 1e\+08; try a smaller eta"):
        fit(net.model, train, TrainConfig(20, 10, 1e8, lmbda=5.0), callbacks=[Snapshot()])
    for ours, good in zip(net.weights + net.biases, kept):
        np.testing.assert_array_equal(np.asarray(ours), good)
        assert np.isfinite(good).all()


def test_float32_overflow_in_the_data_is_refused_with_the_place():
    """Reliability finding 2: 1e39 becomes inf in float32 and trained into inf weights."""
    X, y = blobs(10, 0)
    X[3, 5] = 1e39
    net = anynet.Network([8, 4, 3], dtype="float32", seed=0)
    with pytest.raises(DataError, match=r"1 value\(s\) overflow float32 \(first at sample 3, column 5: 1e\+39\)"):
        net.SGD((X, y), 1, 5, 1.0, verbose=False)
    anynet.Network([8, 4, 3], dtype="float64", seed=0).SGD((X, y), 1, 5, 1.0, verbose=False)  # fine in float64


def test_uint8_pixels_are_scaled_with_a_notice():
    X, y = blobs(40, 0)
    pixels = np.round(X / X.max() * 255).astype(np.uint8)
    nets = [anynet.Network([8, 4, 3], seed=0) for _ in range(2)]
    with pytest.warns(anynet.errors.AnynetDataWarning, match="uint8 inputs are taken as pixels 0-255"):
        nets[0].SGD((pixels, y), 2, 5, 1.0, verbose=False)
    nets[1].SGD((pixels / np.float64(255), y), 2, 5, 1.0, verbose=False)
    for a, b in zip(nets[0].weights, nets[1].weights):
        np.testing.assert_array_equal(a, b)


def test_torch_inputs_that_require_grad_are_detached():
    """Reliability finding 7: the user's autograd graph stayed alive and the
    parameters joined it."""
    torch = pytest.importorskip("torch")
    X, y = blobs(50, 0)
    inputs = torch.tensor(X, requires_grad=True) * 1.0  # a tensor with a graph behind it
    net = anynet.Network([8, 4, 3], backend="torch", seed=0)
    data = net.to_device((inputs, torch.tensor(y)))
    assert not data.x.requires_grad and data.x.grad_fn is None
    net.SGD((inputs, torch.tensor(y)), 1, 5, 1.0, verbose=False)
    assert not any(p.requires_grad for p in net.weights + net.biases)
    assert not net.predict_proba(inputs).requires_grad


def test_a_network_too_large_for_memory_is_refused_before_allocating():
    """Reliability finding 3: sizes 784,10^6,10^6 died with MemoryError or the OOM killer."""
    with pytest.raises(TooLargeError, match=r"1,000,786,000,000 parameters and needs about [\d,.]+ GiB .* available"):
        anynet.Network([784, 10**6, 10**6])


@pytest.mark.parametrize("target, phrase", [("missing/run.npz", "does not exist"), (".", "is a directory")])
def test_output_paths_are_checked_before_training_and_named(tmp_path, target, phrase):
    """Reliability finding 5: --save into a missing directory failed after the
    whole run, naming the temporary file."""
    from anynet.io.files import check_output_path

    with pytest.raises(OutputPathError, match=phrase) as caught:
        check_output_path(tmp_path / target, "--save")
    assert str(tmp_path) in str(caught.value) and ".tmp" not in str(caught.value)


def test_every_user_error_is_an_anynet_error_and_its_old_builtin():
    net = anynet.Network([8, 4, 3], seed=0)
    for bad, builtin in ((lambda: net.SGD(blobs(5, 0), 1, 0, 1.0), ValueError),
                         (lambda: anynet.Network("8,4,3"), TypeError),
                         (lambda: anynet.Momentum(2.0), ValueError),
                         (lambda: anynet.load("/nonexistent/x.npz"), OSError)):
        with pytest.raises(builtin) as caught:
            bad()
        assert isinstance(caught.value, (AnynetError, FileNotFoundError))


def test_numbers_of_numpy_types_and_0d_arrays_are_accepted():
    assert anynet.Momentum(np.float32(0.5)).mu == 0.5
    assert anynet.DivideOnPlateau(np.int64(10)).patience == 10
    assert anynet.Adam(beta1=np.asarray(0.8)).beta1 == pytest.approx(0.8)
    net = anynet.Network(np.array([8, 4, 3]), seed=np.int32(2))
    net.SGD(blobs(20, 0), np.int64(1), np.int16(5), np.float32(0.5), verbose=False)
