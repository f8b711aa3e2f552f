"""The book's two modules, ``anynet.network`` and ``anynet.network2``, and its
``mnist_loader``, against oracles nobody here wrote:

* network: the seed's own code (tests/seed_network.py, verbatim from the seed
  document), on real data (the bundled Fashion-MNIST sample): same printed
  lines, same weights after 2 epochs at eta 1.0 to 6e-14 relative (the
  seed computes np.dot(w, a) per sample, anynet a @ w.T per batch: rounding
  differences of a few ulps grow through 800 updates; measured 6.1e-16).  eta 1.0 rather than the book's 3.0: at 3.0 some
  seeds are chaotic and a 1-ulp change grows to 1e-5 in 2 epochs.
* network2: an implementation written here from chapter 3's text (the
  cross-entropy cost C = -sum[y ln a + (1-y) ln(1-a)], weights N(0, 1/n_in),
  the L2 update w -> (1 - eta lmbda/n) w - (eta/m) sum nabla C_x, the printed
  lines and the JSON file) -- not the book's source.
* Book-style scripts run in a subprocess against the modules, with the
  book's mnist.pkl.gz in ../data/ as the book keeps it.
"""

import contextlib
import gzip
import io
import json
import os
import pickle
import random
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from anynet import mnist_loader, network, network2
from anynet.datasets import load_dataset, to_tuples
from conftest import ORDER_RTOL, RUN_RTOL, rel_diff
from seed_network import Network as SeedNetwork


@pytest.fixture(scope="module")
def sample():
    data = load_dataset("sample")
    (x, y), (tx, ty) = data.train, data.test
    return to_tuples(x[:1000], y[:1000], one_hot=True), to_tuples(tx[:300], ty[:300], one_hot=False)


def run_printing(fn):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        result = fn()
    return result, out.getvalue()


def test_network_matches_the_seed_on_real_data(sample):
    training, test = sample
    runs = []
    for make in (SeedNetwork, network.Network):
        np.random.seed(12)
        random.seed(34)
        net = make([784, 30, 10])
        result, printed = run_printing(lambda: net.SGD(list(training), 2, 10, 1.0, test))
        runs.append((net, result, printed))
    (seed_net, seed_result, seed_out), (net, result, out) = runs
    assert result is None and seed_result is None
    assert out == seed_out and out.startswith("Epoch 0 : ")
    for ours, theirs in zip(net.weights + net.biases, seed_net.weights + seed_net.biases):
        assert rel_diff(ours, theirs) <= 6e-14  # measured worst 6.1e-16
    assert net.evaluate(test) == seed_net.evaluate(test)


def test_network_surface_is_the_seeds():
    np.random.seed(1)
    net = network.Network([4, 3, 2])
    np.random.seed(1)
    seed_net = SeedNetwork([4, 3, 2])
    assert net.num_layers == 3 and net.sizes == [4, 3, 2]
    for ours, theirs in zip(net.weights + net.biases, seed_net.weights + seed_net.biases):
        np.testing.assert_array_equal(ours, theirs)
    x, y = np.linspace(0, 1, 4).reshape(4, 1), np.array([[0.0], [1.0]])
    for ours, theirs in zip(sum(net.backprop(x, y), []), sum(seed_net.backprop(x, y), [])):
        assert rel_diff(ours, theirs) == 0  # one sample: the seed's very operations (measured 0)
    np.testing.assert_array_equal(network.sigmoid(x), 1.0 / (1.0 + np.exp(-x)))
    assert net.cost_derivative(x, x).shape == (4, 1)
    _, printed = run_printing(lambda: net.SGD([(x, y)] * 3, 1, 2, 0.5))
    assert printed == "Epoch 0 complete\n"


# -- network2, from chapter 3's text ---------------------------------------------


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


class Chapter3:
    """Chapter 3's network, per sample, as the text describes it."""

    def __init__(self, sizes):
        self.sizes = sizes
        self.biases = [np.random.randn(y, 1) for y in sizes[1:]]  # N(0, 1)
        self.weights = [np.random.randn(y, x) / np.sqrt(x) for x, y in zip(sizes[:-1], sizes[1:])]  # N(0, 1/n_in)

    def output(self, a):
        for b, w in zip(self.biases, self.weights):
            a = sigmoid(w @ a + b)
        return a

    def gradient(self, x, y):
        activations, zs = [x], []
        for b, w in zip(self.biases, self.weights):
            zs.append(w @ activations[-1] + b)
            activations.append(sigmoid(zs[-1]))
        delta = activations[-1] - y  # cross-entropy: the sigmoid' cancels
        grads = []
        for layer in range(len(self.weights) - 1, -1, -1):
            grads.append((delta, delta @ activations[layer].T))
            if layer:
                s = sigmoid(zs[layer - 1])
                delta = (self.weights[layer].T @ delta) * s * (1 - s)
        return grads[::-1]

    def train(self, data, epochs, m, eta, lmbda, evaluation):
        n = len(data)
        data = list(data)
        history = ([], [], [], [])
        for j in range(epochs):
            random.shuffle(data)
            for k in range(0, n, m):
                batch = data[k : k + m]
                sums = [self.gradient(x, y) for x, y in batch]
                for layer in range(len(self.weights)):
                    nb = sum(g[layer][0] for g in sums)
                    nw = sum(g[layer][1] for g in sums)
                    self.weights[layer] = (1 - eta * lmbda / n) * self.weights[layer] - eta / len(batch) * nw
                    self.biases[layer] = self.biases[layer] - eta / len(batch) * nb
            print(f"Epoch {j} training complete")
            for label, (value, size) in (
                ("Cost on training data: {}", (self.cost(data, lmbda), None)),
                ("Accuracy on training data: {} / {}", (self.correct(data), n)),
                ("Cost on evaluation data: {}", (self.cost(evaluation, lmbda), None)),
                ("Accuracy on evaluation data: {} / {}", (self.correct(evaluation), len(evaluation))),
            ):
                print(label.format(value, size))
            print()
        return history

    def cost(self, data, lmbda):
        total = 0.0
        for x, y in data:
            y = y if np.ndim(y) else np.eye(10)[y].reshape(10, 1)
            a = self.output(x)
            total += -np.sum(y * np.log(a) + (1 - y) * np.log(1 - a)) / len(data)
        return total + 0.5 * (lmbda / len(data)) * sum(np.sum(w * w) for w in self.weights)

    def correct(self, data):
        return sum(int(np.argmax(self.output(x)) == (y if not np.ndim(y) else np.argmax(y))) for x, y in data)


NUMBER = re.compile(r"-?\d+\.\d+(?:e-?\d+)?")


def test_network2_matches_chapter_3(sample):
    training, test = sample
    training = training[:400]
    printed = []
    for make in (Chapter3, network2.Network):
        np.random.seed(5)
        random.seed(6)
        net = make([784, 20, 10])
        if make is Chapter3:
            _, out = run_printing(lambda: net.train(training, 2, 10, 1.0, 5.0, test))
            reference = net
        else:
            lists, out = run_printing(lambda: net.SGD(
                training, 2, 10, 1.0, lmbda=5.0, evaluation_data=test, monitor_evaluation_cost=True,
                monitor_evaluation_accuracy=True, monitor_training_cost=True, monitor_training_accuracy=True))
        printed.append(out)
    ours, theirs = printed[1], printed[0]
    assert NUMBER.sub("#", ours) == NUMBER.sub("#", theirs)  # the same lines, counts included
    for a, b in zip(NUMBER.findall(ours), NUMBER.findall(theirs)):
        assert rel_diff(float(a), float(b)) <= ORDER_RTOL["float64"]  # the printed costs; measured worst 8.0e-16
    for w_ours, w_theirs in zip(net.weights + net.biases, reference.weights + reference.biases):
        assert rel_diff(w_ours, w_theirs) <= RUN_RTOL["float64"]  # measured worst 2.4e-15
    evaluation_cost, evaluation_accuracy, training_cost, training_accuracy = lists
    assert all(type(v) is float for v in evaluation_cost + training_cost)
    assert all(type(v) is int for v in evaluation_accuracy + training_accuracy)
    json.dumps(lists)  # the book's scripts dump them
    assert evaluation_accuracy[-1] == reference.correct(test)
    # the costs of the trained weights, summed in another order: measured worst 0 and 8.0e-16
    assert rel_diff(training_cost[-1], reference.cost(training, 5.0)) <= ORDER_RTOL["float64"]
    assert rel_diff(net.total_cost(test, 5.0, convert=True), reference.cost(test, 5.0)) <= ORDER_RTOL["float64"]


def test_network2_prints_only_the_epoch_line_without_monitors():
    np.random.seed(0)
    net = network2.Network([3, 2])
    data = [(np.ones((3, 1)), np.array([[1.0], [0.0]]))] * 4
    lists, out = run_printing(lambda: net.SGD(data, 2, 2, 0.1))
    assert out == "Epoch 0 training complete\n\nEpoch 1 training complete\n\n"
    assert lists == ([], [], [], [])


def test_network2_save_and_load_are_the_books(tmp_path):
    np.random.seed(3)
    net = network2.Network([5, 4, 3], cost=network2.QuadraticCost)
    net.save(tmp_path / "net.json")
    document = json.loads((tmp_path / "net.json").read_text())
    assert set(document) == {"sizes", "weights", "biases", "cost"}
    assert document["cost"] == "QuadraticCost" and document["sizes"] == [5, 4, 3]
    np.testing.assert_array_equal(np.array(document["weights"][0]), net.weights[0])
    # the book's load builds Network(sizes, cost) first: the same global draws
    np.random.seed(9)
    loaded = network2.load(tmp_path / "net.json")
    after_load = np.random.rand()
    np.random.seed(9)
    network2.Network([5, 4, 3])
    assert np.random.rand() == after_load
    assert loaded.cost is network2.QuadraticCost
    for a, b in zip(loaded.weights + loaded.biases, net.weights + net.biases):
        np.testing.assert_array_equal(a, b)
    assert network2.vectorized_result(3).shape == (10, 1) and network2.vectorized_result(3)[3, 0] == 1.0


# -- the book's scripts, unchanged but for the import ----------------------------


def write_book_pickle(path, sample_dataset):
    """mnist.pkl.gz in the book's layout: ((X, y), (X, y), (X, y)), float32 X."""
    (x, y), (tx, ty) = sample_dataset.train, sample_dataset.test
    splits = ((x[:900], y[:900]), (x[900:1000], y[900:1000]), (tx[:200], ty[:200]))
    splits = tuple((a.astype(np.float32), b.astype(np.int64)) for a, b in splits)
    with gzip.open(path, "wb") as f:
        pickle.dump(splits, f, protocol=2)


SCRIPT = """
from anynet import mnist_loader
from anynet import network2
import json
import os
training_data, validation_data, test_data = mnist_loader.load_data_wrapper()
net = network2.Network([784, 30, 10], cost=network2.CrossEntropyCost)
net.large_weight_initializer()
evaluation_cost, evaluation_accuracy, training_cost, training_accuracy = net.SGD(
    training_data[:500], 2, 10, 0.5, evaluation_data=validation_data, lmbda=0.1,
    monitor_evaluation_cost=True, monitor_evaluation_accuracy=True,
    monitor_training_cost=True, monitor_training_accuracy=True)
net.save("net.json")
with open("history.json", "w") as f:
    json.dump([evaluation_cost, evaluation_accuracy, training_cost, training_accuracy], f)
net2 = network2.load("net.json")
print("loaded accuracy", net2.accuracy(test_data), "/", len(test_data))

from anynet import network
training_data, validation_data, test_data = mnist_loader.load_data_wrapper()
net = network.Network([784, 30, 10])
net.SGD(training_data[:500], 1, 10, 3.0, test_data=test_data)
"""


def test_book_scripts_run_unchanged(tmp_path):
    (tmp_path / "data").mkdir()
    write_book_pickle(tmp_path / "data" / "mnist.pkl.gz", load_dataset("sample"))
    work = tmp_path / "src"
    work.mkdir()
    (work / "script.py").write_text(textwrap.dedent(SCRIPT))
    done = subprocess.run([sys.executable, "script.py"], cwd=work, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # the book's faces print nothing to stderr
    lines = done.stdout.splitlines()
    number = r"-?\d+\.\d+(e-?\d+)?"
    expected = [
        "Epoch 0 training complete",
        f"Cost on training data: {number}",
        r"Accuracy on training data: \d+ / 500",
        f"Cost on evaluation data: {number}",
        r"Accuracy on evaluation data: \d+ / 100",
        "",
    ]
    for line, pattern in zip(lines, expected):
        assert re.fullmatch(pattern, line), (line, pattern)
    assert re.fullmatch(r"loaded accuracy \d+ / 200", lines[-2])
    assert re.fullmatch(r"Epoch 0 : \d+ / 200", lines[-1])
    history = json.loads((work / "history.json").read_text())
    assert [len(h) for h in history] == [2, 2, 2, 2]


def test_mnist_loader_says_where_to_put_mnist(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ANYNET_DATA", str(tmp_path / "nothing"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("ANYNET_MIRRORS", "http://127.0.0.1:9/")
    with pytest.raises(FileNotFoundError, match=r"(?s)MNIST not found: the book's scripts read mnist.pkl.gz") as caught:
        mnist_loader.load_data()
    assert caught.value.__cause__ is None and caught.value.__suppress_context__  # not chained under another message


def test_a_book_script_without_mnist_prints_one_short_error(tmp_path):
    """Issue 19: the error was printed twice (a chained traceback, ~60 lines),
    did not say where the book's file comes from, and suggested --data sample,
    a flag a script cannot pass."""
    work = tmp_path / "src"
    work.mkdir()
    (work / "script.py").write_text("from anynet import mnist_loader\nmnist_loader.load_data_wrapper()\n")
    env = {**os.environ, "ANYNET_DATA": str(tmp_path / "nothing"), "XDG_CACHE_HOME": str(tmp_path / "cache"),
           "ANYNET_MIRRORS": "http://127.0.0.1:9/"}
    done = subprocess.run([sys.executable, "script.py"], cwd=work, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 1 and done.stdout == ""
    err = done.stderr
    assert err.count("Traceback") == 1 and err.count("MNIST not found") == 1, err
    assert "--data" not in err and "sample" not in err, err
    assert "mnielsen/neural-networks-and-deep-learning" in err and "data/mnist.pkl.gz" in err
    assert str(tmp_path / "data" / "mnist.pkl.gz") in err  # ../data/ of the script, spelled out
    assert "ANYNET_DATA" in err
    assert len(err.splitlines()) <= 20, err


def test_mnist_loader_formats(tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    write_book_pickle(tmp_path / "data" / "mnist.pkl.gz", load_dataset("sample"))
    (tmp_path / "src").mkdir()
    monkeypatch.chdir(tmp_path / "src")
    (x, y), validation, test = mnist_loader.load_data()
    assert x.shape == (900, 784) and y.shape == (900,) and validation[0].shape == (100, 784)
    training_data, validation_data, test_data = mnist_loader.load_data_wrapper()
    assert isinstance(training_data, list) and len(training_data) == 900
    assert training_data[0][0].shape == (784, 1) and training_data[0][1].shape == (10, 1)
    assert isinstance(test_data[0][1], int) and len(test_data) == 200


def test_quadratic_cost_delta_is_the_books_for_any_activation():
    """network2.QuadraticCost.delta(z, a, y) is (a - y) * sigmoid_prime(z), with
    sigmoid'(z) from z (it used a, which differs when a is not sigmoid(z));
    the oracle is the book's formula in NumPy."""
    rng = np.random.default_rng(0)
    z, a, y = rng.normal(size=(3, 10, 1))
    s = 1 / (1 + np.exp(-z))
    np.testing.assert_allclose(network2.QuadraticCost.delta(z, a, y), (a - y) * s * (1 - s), rtol=1e-15)
    np.testing.assert_allclose(network2.CrossEntropyCost.delta(z, a, y), a - y, rtol=0)
