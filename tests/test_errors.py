"""Bad input is refused at the public boundary with a ValueError/TypeError
that names the problem, and the network is left exactly as it was."""

import math
import sys

import numpy as np
import pytest

import anynet
from anynet.model.params import Params

SIZES = [4, 3, 2]


def data(n=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 4)), rng.integers(0, 2, size=n)


@pytest.fixture
def net(backend):
    return anynet.Network(SIZES, backend=backend, seed=0)


def snapshot(net):
    return [net.backend.to_numpy(p).copy() for p in net.weights + net.biases]


def assert_unchanged(net, before):
    for p, q in zip(net.weights + net.biases, before):
        np.testing.assert_array_equal(net.backend.to_numpy(p), q)


@pytest.mark.parametrize(
    "sizes, error, message",
    [
        ([4], ValueError, "at least two layers"),
        ([], ValueError, "at least two layers"),
        ([4, 0, 2], ValueError, "positive"),
        ([4, -3, 2], ValueError, "positive"),
        ([4, 2.5, 2], TypeError, "integers"),
        ([4, True, 2], TypeError, "integers"),
        ("784,30,10", TypeError, "list of layer widths"),
        (784, TypeError, "list of layer widths"),
    ],
)
def test_bad_sizes(sizes, error, message):
    with pytest.raises(error, match=message):
        anynet.Network(sizes)


def bad_training_sets():
    x, y = data()
    nan_x = x.copy()
    nan_x[2, 1] = np.nan
    inf_x = x.copy()
    inf_x[0, 0] = np.inf
    return [
        ("wrong width", (x[:, :3], y), ValueError, r"4 values \(sizes\[0\]\), got 3"),
        ("nan", (nan_x, y), ValueError, r"NaN or inf \(1 value\(s\), first at sample 2, column 1\)"),
        ("inf", (inf_x, y), ValueError, "NaN or inf"),
        ("label too big", (x, np.array([0, 1, 2, 0, 1, 0])), ValueError, r"label 2 at sample 2 is outside \[0, 2\)"),
        ("negative label", (x, np.array([0, -1, 1, 0, 1, 0])), ValueError, r"label -1 at sample 1"),
        ("fractional labels", (x, y + 0.5), TypeError, "labels must be integers; y holds 0.5 at sample 0"),
        ("lengths differ", (x, y[:5]), ValueError, "6 samples but y has shape"),
        ("empty arrays", (x[:0], y[:0]), ValueError, "empty"),
        ("empty list", [], ValueError, "empty"),
        ("target width", (x, np.zeros((6, 3))), ValueError, r"2 values \(sizes\[-1\]\), got 3"),
        ("nan target", (x, np.full((6, 2), np.nan)), ValueError, "targets contain NaN"),
        ("book pairs wrong width", [(np.zeros((5, 1)), 0)], ValueError, "4 values"),
        ("not pairs", [np.zeros((4, 1))], TypeError, r"\(x, y\) pair"),
        ("string", "data", TypeError, "list of \\(x, y\\) pairs"),
    ]


@pytest.mark.parametrize("case", bad_training_sets(), ids=lambda c: c[0])
def test_bad_training_data_is_refused_and_nothing_changes(net, case):
    _, training, error, message = case
    before = snapshot(net)
    with pytest.raises(error, match=message):
        net.SGD(training, 1, 2, 1.0, verbose=False)
    assert_unchanged(net, before)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(mini_batch_size=0), ValueError, "mini_batch_size must be >= 1"),
        (dict(mini_batch_size=2.5), TypeError, "mini_batch_size must be an integer"),
        (dict(eta=math.nan), ValueError, "eta must be finite"),
        (dict(eta=math.inf), ValueError, "eta must be finite"),
        (dict(eta=-1.0), ValueError, "eta must be > 0"),
        (dict(eta="3"), TypeError, "eta must be a real number"),
        (dict(epochs=-1), ValueError, "epochs must be >= 0"),
        (dict(lmbda=-0.1), ValueError, "lmbda must be >= 0"),
        (dict(optimizer="rmsprop"), ValueError, "sgd, momentum, adam"),
        (dict(regularization="l3"), ValueError, "l2, l1"),
        (dict(early_stopping=3), ValueError, "need evaluation_data"),
    ],
)
def test_bad_training_arguments(net, kwargs, error, message):
    args = dict(training_data=data(), epochs=1, mini_batch_size=2, eta=1.0, verbose=False)
    args.update(kwargs)
    before = snapshot(net)
    with pytest.raises(error, match=message):
        net.SGD(**args)
    assert_unchanged(net, before)


def test_bad_evaluation_data_refused_before_any_training(net):
    x, y = data()
    before = snapshot(net)
    with pytest.raises(ValueError, match="evaluation_data"):
        net.SGD((x, y), 2, 2, 1.0, evaluation_data=(x[:, :2], y), verbose=False)
    assert_unchanged(net, before)


def test_mixed_backends_are_refused(backend):
    torch = pytest.importorskip("torch")
    strict = pytest.importorskip("array_api_strict")
    net = anynet.Network(SIZES, backend=backend, seed=0)
    x, y = data()
    mixed = (strict.asarray(x), torch.asarray(y))
    if backend.name == "torch":
        mixed = (torch.asarray(x, dtype=backend.dtype), strict.asarray(y))
    before = snapshot(net)
    with pytest.raises(TypeError, match="backend"):
        net.SGD(mixed, 1, 2, 1.0, verbose=False)
    assert_unchanged(net, before)


def test_arrays_of_another_backend_are_refused():
    torch = pytest.importorskip("torch")
    net = anynet.Network(SIZES, seed=0)
    x, y = data()
    with pytest.raises(TypeError, match="torch arrays, but the network runs on the numpy backend"):
        net.evaluate((torch.asarray(x), torch.asarray(y)))


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(cost="hinge"), ValueError, "quadratic, cross-entropy, log-likelihood"),
        (dict(activation="swish"), ValueError, "sigmoid, tanh, relu, linear, softmax"),
        (dict(activation="softmax"), ValueError, "hidden layers cannot use softmax"),
        (dict(cost="log-likelihood", output_activation="sigmoid"), ValueError, "must be one of softmax"),
        (dict(cost="quadratic", output_activation="softmax"), ValueError, "cannot follow a softmax output"),
        (dict(cost="cross-entropy", output_activation="relu"), ValueError, "must be one of sigmoid"),
        (dict(initializer="zeros"), ValueError, "large, default, he, glorot"),
        (dict(backend="tensorflow"), ValueError, "unknown backend"),
        (dict(dtype="float16"), ValueError, "float32, float64"),
        (dict(activation=["relu", "tanh"]), ValueError, "one activation per hidden layer"),
        (dict(seed=-1), ValueError, "seed must be >= 0"),
    ],
)
def test_bad_network_choices_name_the_valid_ones(kwargs, error, message):
    cost = kwargs.pop("cost", None)
    with pytest.raises(error, match=message):
        anynet.Network(SIZES, cost, **kwargs)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: anynet.Momentum(1.0), r"mu must be in \[0, 1\)"),
        (lambda: anynet.Momentum(-0.1), r"mu must be in \[0, 1\)"),
        (lambda: anynet.Adam(beta1=1.0), r"beta1 must be in \[0, 1\)"),
        (lambda: anynet.DivideOnPlateau(patience=0), "patience"),
        (lambda: anynet.DivideOnPlateau(factor=1.0), "factor"),
    ],
)
def test_bad_optimizer_and_schedule_settings(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_unusable_backend_says_what_to_install(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_cupy(name, *args, **kwargs):
        if name == "cupy" or name.startswith("cupy."):
            raise ImportError("No module named 'cupy'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_cupy)
    monkeypatch.setitem(sys.modules, "cupy", None)  # an earlier test may have imported it: import now fails
    with pytest.raises(ImportError, match=r"pip install cupy-cuda12x"):
        anynet.Network(SIZES, backend="cupy")


def test_feedforward_and_backprop_check_shapes(net):
    with pytest.raises(ValueError, match="4 values per column, got 3"):
        net.feedforward(np.zeros((3, 1)))
    with pytest.raises(ValueError, match="NaN"):
        net.feedforward(np.full((4, 1), np.nan))
    with pytest.raises(ValueError, match="2 values"):
        net.backprop(np.zeros((4, 1)), np.zeros((3, 1)))


def test_assigned_parameters_are_checked_and_moved(net):
    host = [np.ones((3, 4)), np.ones((2, 3))]
    net.weights = host
    assert all(net.backend.owns(w) for w in net.weights)
    before = snapshot(net)
    with pytest.raises(ValueError, match=r"weights\[1\] must have shape \(2, 3\)"):
        net.weights = [np.ones((3, 4)), np.ones((3, 2))]
    with pytest.raises(ValueError, match="needs 2 arrays"):
        net.biases = [np.ones((3, 1))]
    with pytest.raises(ValueError, match="NaN"):
        net.biases = [np.ones((3, 1)), np.full((2, 1), np.nan)]
    assert_unchanged(net, before)


def test_update_mini_batch_refuses_bad_eta_and_missing_n(net):
    x, y = data()
    before = snapshot(net)
    with pytest.raises(ValueError, match="eta must be finite"):
        net.update_mini_batch((x, y), math.nan)
    with pytest.raises(ValueError, match="needs n"):
        net.update_mini_batch((x, y), 1.0, lmbda=0.5)
    assert_unchanged(net, before)


def test_replacing_one_parameter_in_place_is_checked(net):
    """A user may assign net.weights[i] directly; the next call checks it."""
    x, y = data()
    good = [net.backend.to_numpy(w) for w in net.weights]
    net.weights[1] = np.full((2, 3), np.nan)
    with pytest.raises(ValueError, match=r"weights\[1\] contains NaN"):
        net.SGD((x, y), 1, 2, 1.0, verbose=False)
    net.weights[1] = good[1]
    net.biases[0] = np.zeros(3)
    with pytest.raises(ValueError, match=r"biases\[0\] must have shape \(3, 1\)"):
        net.evaluate((x, y))


@pytest.mark.parametrize("given, asked", [("CPU_DEVICE", "device1"), ("device1", "CPU_DEVICE")])
def test_a_backend_object_with_another_device(given, asked):
    """array_api_strict has two devices here: a Backend on one, with the
    other asked for, builds the network on the one asked for, in the
    Backend's dtype, and leaves the Backend as it was."""
    import array_api_compat

    strict = pytest.importorskip("array_api_strict")
    backend = anynet.get_backend("array_api_strict", given, "float32")
    net = anynet.Network(SIZES, backend=backend, device=asked, seed=0)
    assert net.backend.device == strict.Device(asked) != backend.device
    assert net.backend.dtype_name == "float32" and backend.device == strict.Device(given)
    for array in net.weights + net.biases:
        assert array_api_compat.device(array) == strict.Device(asked) and array.dtype == strict.float32


def test_torch_parameters_are_detached_copies():
    torch = pytest.importorskip("torch")
    net = anynet.Network(SIZES, backend="torch", seed=0)
    w = torch.ones((3, 4), dtype=torch.float64, requires_grad=True)
    net.weights = [w, torch.ones((2, 3), dtype=torch.float64)]
    assert not net.weights[0].requires_grad and net.weights[0] is not w
    with torch.no_grad():
        w.zero_()
    assert float(net.weights[0].sum()) == 12.0


def test_bad_custom_initializer():
    with pytest.raises(TypeError, match=r"must return a list of Params\(weight, bias\), one per layer"):
        anynet.Network(SIZES, initializer=lambda sizes, rng: None)
    with pytest.raises(ValueError, match=r"weights\[0\] must have shape"):
        anynet.Network(SIZES, initializer=lambda sizes, rng: [Params(np.zeros((4, 3)), np.zeros((3, 1))),
                                                              Params(np.zeros((2, 3)), np.zeros((2, 1)))])


def test_big_endian_and_numpy_dtype_objects(backend):
    net = anynet.Network(SIZES, backend=backend, dtype=np.dtype(backend.dtype_name), seed=0)
    x, y = data()
    assert net.evaluate((x.astype(">f8"), y)) == net.evaluate((x, y))


# -- defects found while building layers (issue 17 item 5) ----------------------


def test_a_column_that_overflows_float32_is_refused_as_a_batch_is():
    """One (784, 1) column holding 1e39 used to come back as inf from a float32
    network's feedforward, while a batch with the same value was refused."""
    net = anynet.Network([4, 3, 2], dtype="float32", seed=0)
    x = np.zeros((4, 1))
    x[2, 0] = 1e39
    with pytest.raises(ValueError, match="overflow float32"):
        net.feedforward(x)
    with pytest.raises(ValueError, match="overflow float32"):
        net.SGD((x.T, np.array([1])), 1, 1, 0.5)
    x[2, 0] = 3.0e38  # the largest float32 is 3.4e38: still a number
    assert np.isfinite(net.backend.to_numpy(net.feedforward(x))).all()


@pytest.mark.parametrize("label", [3.0, np.float64(3), np.array(3.0)])
def test_book_pairs_take_whole_float_labels(label):
    """(x, 3.0) used to be read as a one-value target ("each target must have
    10 values, got 1"); a whole-number float is the label 3, as in arrays."""
    rng = np.random.default_rng(0)
    x = rng.random((4, 1))
    with_float = anynet.Network([4, 3, 5], seed=0)
    with_int = anynet.Network([4, 3, 5], seed=0)
    assert with_float.evaluate([(x, label)]) == with_int.evaluate([(x, 3)])
    with_float.SGD([(x, label)], 1, 1, 0.5)
    with_int.SGD([(x, 3)], 1, 1, 0.5)
    for a, b in zip(with_float.weights, with_int.weights):
        np.testing.assert_array_equal(a, b)


def test_book_pairs_with_a_fractional_label_say_labels_are_integers():
    x = np.zeros((4, 1))
    net = anynet.Network([4, 3, 5], seed=0)
    with pytest.raises(TypeError, match="labels must be integers; y holds 3.5 at sample 1"):
        net.SGD([(x, 2), (x, 3.5)], 1, 1, 0.5)
