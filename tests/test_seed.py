"""anynet's seed surface against the seed's own code (tests/seed_network.py,
a verbatim copy of the notebook's Network class).

float64 throughout.  The seed computes np.dot(w, a) on columns and anynet
a @ w.T on rows, so BLAS may sum in another order: results agree to rounding,
1e-12 relative for one step; 1e-9 after a whole training run, as rounding
differences feed back through a few hundred updates.
"""

import contextlib
import io
import pathlib
import random

import numpy as np
import pytest

import anynet
from conftest import RUN_RTOL, rel_diff
from seed_network import Network as SeedNetwork

SIZES = [6, 5, 4]
SEED_DOC = pathlib.Path(__file__).resolve().parents[2] / "shared" / "seed" / "backprop-notebook.md"


def book_data(n, rng, one_hot):
    """The book's format: list of ((6,1) input, (4,1) one-hot or int label)."""
    pairs = []
    for _ in range(n):
        x = rng.random((SIZES[0], 1))
        label = int(rng.integers(SIZES[-1]))
        y = np.eye(SIZES[-1])[label].reshape(-1, 1) if one_hot else label
        pairs.append((x, y))
    return pairs


def twins(seed=3):
    """A seed Network and an anynet Network drawn from the same global state."""
    np.random.seed(seed)
    seed_net = SeedNetwork(SIZES)
    np.random.seed(seed)
    net = anynet.Network(SIZES)
    return seed_net, net


def test_copy_matches_the_seed_document():
    if not SEED_DOC.exists():
        pytest.skip(f"seed document not found at {SEED_DOC}")
    document = SEED_DOC.read_text()
    copy = pathlib.Path(__file__).with_name("seed_network.py").read_text()
    code = "".join(line + "\n" for line in copy.splitlines() if not line.startswith("# "))
    assert code.strip() in document


def test_same_global_seed_gives_the_seeds_initial_weights():
    seed_net, net = twins()
    for ours, theirs in zip(net.weights + net.biases, seed_net.weights + seed_net.biases):
        assert ours.shape == theirs.shape
        np.testing.assert_array_equal(ours, theirs)
    assert net.num_layers == seed_net.num_layers and net.sizes == seed_net.sizes


def test_feedforward_backprop_and_functions_match_the_seed():
    seed_net, net = twins()
    rng = np.random.default_rng(0)
    for x, y in book_data(5, rng, one_hot=True):
        assert rel_diff(net.feedforward(x), seed_net.feedforward(x)) == 0  # one sample: the seed's operations (measured 0)
        ours_b, ours_w = net.backprop(x, y)
        theirs_b, theirs_w = seed_net.backprop(x, y)
        for ours, theirs in zip(ours_b + ours_w, theirs_b + theirs_w):
            assert ours.shape == theirs.shape
            assert rel_diff(ours, theirs) == 0  # measured 0
        a = seed_net.feedforward(x)
        np.testing.assert_array_equal(net.cost_derivative(a, y), seed_net.cost_derivative(a, y))
    z = rng.normal(size=(4, 3)) * 5
    from seed_network import sigmoid, sigmoid_prime

    np.testing.assert_array_equal(anynet.sigmoid(z), sigmoid(z))
    np.testing.assert_array_equal(anynet.sigmoid_prime(z), sigmoid_prime(z))


def test_matrix_mini_batch_update_matches_the_seeds_per_sample_loop():
    seed_net, net = twins()
    batch = book_data(10, np.random.default_rng(1), one_hot=True)
    seed_net.update_mini_batch(batch, 3.0)
    net.update_mini_batch(batch, 3.0)
    for ours, theirs in zip(net.weights + net.biases, seed_net.weights + seed_net.biases):
        assert rel_diff(ours, theirs) <= 1.5e-14  # a batch's sums in another order: measured worst 1.5e-16


def test_whole_sgd_run_matches_the_seed_with_the_same_global_seeds():
    """Same np.random and random states: same weights, same shuffles, same printout."""
    rng = np.random.default_rng(2)
    training, test = book_data(300, rng, one_hot=True), book_data(50, rng, one_hot=False)
    outputs = []
    nets = twins(seed=11)
    for network in nets:
        random.seed(7)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            network.SGD(training, 4, 10, 3.0, test)
        outputs.append(out.getvalue())
    seed_net, net = nets
    assert outputs[0] == outputs[1]
    assert outputs[1].splitlines()[0].startswith("Epoch 0 : ")
    for ours, theirs in zip(net.weights + net.biases, seed_net.weights + seed_net.biases):
        assert rel_diff(ours, theirs) <= RUN_RTOL["float64"]  # 120 steps at eta 3: measured worst 9.8e-16
    assert net.evaluate(test) == seed_net.evaluate(test)


def test_the_books_example_usage_runs_unchanged(capsys):
    """network.py's usage from the book, with `network` being anynet and data
    shaped as mnist_loader.load_data_wrapper returns it (zip objects)."""
    network = anynet
    rng = np.random.default_rng(4)
    inputs = [rng.random((784, 1)) for _ in range(200)]
    labels = rng.integers(0, 10, size=200)

    def vectorized_result(j):
        e = np.zeros((10, 1))
        e[j] = 1.0
        return e

    training_data = zip(inputs[:150], [vectorized_result(y) for y in labels[:150]])
    test_data = zip(inputs[150:], labels[150:])
    # --- the book's lines ---
    net = network.Network([784, 30, 10])
    net.SGD(training_data, 2, 10, 3.0, test_data=test_data)
    # ------------------------
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" : ")[0] for line in lines] == ["Epoch 0", "Epoch 1"]
    assert all(line.endswith(" / 50") for line in lines)


def test_network2_usage_runs_unchanged(capsys):
    """network2.py's usage from the book's chapter 3, with `network2` being
    anynet: the call with lmbda and all four monitors, its printout and its
    four per-epoch lists; total_cost is network2's formula."""
    network2 = anynet
    rng = np.random.default_rng(5)
    inputs = [rng.random((784, 1)) for _ in range(120)]
    labels = rng.integers(0, 10, size=120)
    training_data = [(x, np.eye(10)[y].reshape(-1, 1)) for x, y in zip(inputs[:100], labels[:100])]
    evaluation_data = list(zip(inputs[100:], labels[100:]))
    # --- the book's lines ---
    net = network2.Network([784, 30, 10], cost=network2.CrossEntropyCost)
    net.large_weight_initializer()
    evaluation_cost, evaluation_accuracy, training_cost, training_accuracy = net.SGD(
        training_data, 2, 10, 0.5,
        lmbda=5.0,
        evaluation_data=evaluation_data,
        monitor_evaluation_cost=True,
        monitor_evaluation_accuracy=True,
        monitor_training_cost=True,
        monitor_training_accuracy=True,
    )  # fmt: skip
    # ------------------------
    out = capsys.readouterr().out
    assert out.count("training complete") == 2
    assert "Accuracy on training data: " in out and " / 100" in out and " / 20" in out
    assert [len(h) for h in (evaluation_cost, evaluation_accuracy, training_cost, training_accuracy)] == [2, 2, 2, 2]
    assert evaluation_accuracy[-1] == net.accuracy(evaluation_data)
    assert training_accuracy[-1] == net.accuracy(training_data, convert=True)
    # network2's total_cost: mean cost over the data + 0.5 (lmbda/n) sum ||w||^2
    outputs = [net.feedforward(x) for x, _ in training_data]
    expected = sum(anynet.CrossEntropyCost.fn(a, y) for a, (_, y) in zip(outputs, training_data)) / 100
    expected += 0.5 * (5.0 / 100) * sum(np.linalg.norm(w) ** 2 for w in net.weights)
    assert net.total_cost(training_data, 5.0) == pytest.approx(expected, rel=1e-12)
    assert training_cost[-1] == pytest.approx(expected, rel=1e-12)
