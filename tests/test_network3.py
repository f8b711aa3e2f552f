"""anynet.network3, the book's chapter 6 program without Theano.

Oracles nobody here wrote: torch autograd running network3.py's own order
(conv2d with the filters flipped, max_pool2d, the bias added after the pool,
dropout masks on the layer inputs, log_softmax, the mean log-likelihood plus
0.5 * lmbda * sum(w**2) / num_training_batches, param -= eta * grad); the
book's printed lines; and chapter 6's runs on real images (the bundled
Fashion-MNIST sample written in the book's pickle format, so nothing outside
the repository is needed)."""

from __future__ import annotations

import gzip
import os
import pickle
import random
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from anynet import network3
from anynet.datasets import load_dataset
from anynet.errors import ArgumentError, DataError, TrainingDiverged
from anynet.model.costs import LogLikelihoodCost
from anynet.model.layers import chain
from anynet.network3 import ConvPoolLayer, FullyConnectedLayer, Network, ReLU, SoftmaxLayer
from conftest import ORDER_RTOL, rel_diff

ROOT = Path(__file__).resolve().parent.parent


def write_book_pickle(path, train, validation, test):
    path.parent.mkdir(parents=True, exist_ok=True)
    splits = tuple((x.astype(np.float32), y.astype(np.int64)) for x, y in (train, validation, test))
    with gzip.open(path, "wb") as f:
        pickle.dump(splits, f, protocol=2)


@pytest.fixture(scope="module")
def book_dir(tmp_path_factory):
    """``data/mnist.pkl.gz`` from the bundled sample (real Fashion-MNIST images):
    3,000 training, 1,000 validation and 1,000 test images; ``src/`` beside it."""
    sample = load_dataset("sample")
    (x, y), test = sample.train, sample.test
    root = tmp_path_factory.mktemp("book")
    write_book_pickle(root / "data" / "mnist.pkl.gz", (x[:3000], y[:3000]), (x[3000:], y[3000:]), test)
    (root / "src").mkdir()
    return root


# -- a small conv net, float64, with its parameters drawn at random --------------------------------


def small_net(m, p=(0.3, 0.2), lmbda_seed=0, dtype="float64", backend="numpy", seed=4, device=None):
    np.random.seed(lmbda_seed)
    layers = [ConvPoolLayer(filter_shape=(3, 1, 3, 3), image_shape=(m, 1, 10, 10), poolsize=(2, 2)),
              FullyConnectedLayer(n_in=48, n_out=7, activation_fn=network3.tanh, p_dropout=p[0]),
              SoftmaxLayer(n_in=7, n_out=10, p_dropout=p[1])]
    rng = np.random.default_rng(lmbda_seed)
    for layer in layers:  # the softmax layer starts at zero: give every layer a gradient to check
        layer.w.value = rng.normal(size=layer.w.shape) * 0.5
        layer.b.value = rng.normal(size=layer.b.shape) * 0.5
    return layers, Network(layers, m, dtype=dtype, backend=backend, seed=seed, device=device)


def images(n, seed=1):
    rng = np.random.default_rng(seed)
    return rng.random((n, 100)), rng.integers(0, 10, n)


def torch_network3(torch, params, x, masks, p):
    """network3.py's forward in torch, in the book's parameter shapes: the
    output's log-probabilities while training (masks) or at evaluation (masks None)."""
    F = torch.nn.functional
    (cw, cb), (fw, fb), (sw, sb) = params
    a = F.conv2d(x.reshape(len(x), 1, 10, 10), torch.flip(cw, (2, 3)))  # Theano's conv2d: a true convolution
    a = torch.sigmoid(F.max_pool2d(a, 2) + cb[None, :, None, None])  # the bias after the pooling
    a = a.reshape(len(x), -1)
    if masks is None:
        a = torch.tanh((1 - p[0]) * (a @ fw) + fb)
        return F.log_softmax((1 - p[1]) * (a @ sw) + sb, -1)
    a = torch.tanh((a * masks[0]) @ fw + fb)
    return F.log_softmax((a * masks[1]) @ sw + sb, -1)


def test_conv_net_gradients_and_outputs_equal_torch_autograd():
    torch = pytest.importorskip("torch")
    m, p = 6, (0.3, 0.2)
    layers, net = small_net(m, p)
    x, labels = images(m)
    rng = np.random.default_rng(9)
    host_masks = [rng.random((m, 48)) >= p[0], rng.random((m, 7)) >= p[1]]
    model = net.model
    masks = [None] * len(model.layers)
    dropouts = [i for i, layer in enumerate(model.layers) if type(layer).__name__ == "Dropout"]
    for i, mask in zip(dropouts, host_masks):
        masks[i] = mask
    grads = chain.gradients(model.layers, model.params, x, np.eye(10)[labels], cost=LogLikelihoodCost, xp=model.xp,
                            masks=masks)
    nw, nb = [g.weight for g in grads], [g.bias for g in grads]
    params = [[torch.tensor(layer.w.value, requires_grad=True), torch.tensor(layer.b.value, requires_grad=True)]
              for layer in layers]
    logp = torch_network3(torch, params, torch.tensor(x), [torch.tensor(k, dtype=torch.float64) for k in host_masks], p)
    torch.nn.functional.nll_loss(logp, torch.tensor(labels), reduction="sum").backward()
    ours = [(nw[0], nb[0]), (nw[1].T, nb[1][:, 0]), (nw[2].T, nb[2][:, 0])]
    worst = max(rel_diff(o, t.grad.numpy()) for pair, tp in zip(ours, params) for o, t in zip(pair, tp))
    assert worst <= 1e-9, worst  # the bound; measured 4.1e-16
    # evaluation: anynet adds the conv bias before the pool and scales the input by 1 - p, network3.py
    # adds it after and scales the weighted input; the same numbers up to the order of the sums
    out = model.feedforward(x)
    with torch.no_grad():
        expected = torch.exp(torch_network3(torch, params, torch.tensor(x), None, p)).numpy()
    assert rel_diff(out, expected) <= ORDER_RTOL["float64"]


def torch_sgd(torch, layers, x, labels, *, epochs, m, eta, lmbda, p, seed, dtype):
    """network3.py's training, in torch: mini-batches in order, a last partial
    one dropped, masks from the seeded Generator in layer order, the mean
    log-likelihood plus the L2 term over num_training_batches, plain SGD."""
    tdtype = {"float64": torch.float64, "float32": torch.float32}[dtype]
    params = [[torch.tensor(layer.w.value, dtype=tdtype, requires_grad=True),
               torch.tensor(layer.b.value, dtype=tdtype, requires_grad=True)] for layer in layers]
    rng, batches = np.random.default_rng(seed), len(x) // m
    xt, yt = torch.tensor(x, dtype=tdtype), torch.tensor(labels)
    for _ in range(epochs):
        for k in range(batches):
            masks = [torch.tensor(rng.random((m, 48)) >= p[0], dtype=tdtype),
                     torch.tensor(rng.random((m, 7)) >= p[1], dtype=tdtype)]
            logp = torch_network3(torch, params, xt[k * m:(k + 1) * m], masks, p)
            l2 = sum((w ** 2).sum() for w, _ in params)
            cost = torch.nn.functional.nll_loss(logp, yt[k * m:(k + 1) * m]) + 0.5 * lmbda * l2 / batches
            grads = torch.autograd.grad(cost, [t for pair in params for t in pair])
            with torch.no_grad():
                params = [[w - eta * gw, b - eta * gb] for (w, b), gw, gb in zip(params, grads[::2], grads[1::2])]
            params = [[w.requires_grad_(), b.requires_grad_()] for w, b in params]
    return [t.detach().numpy() for pair in params for t in pair]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_sgd_equals_a_torch_reimplementation_of_network3(dtype, capsys):
    torch = pytest.importorskip("torch")
    m, p = 5, (0.3, 0.2)
    layers, net = small_net(m, p, dtype=dtype)
    x, labels = images(23)  # 4 mini-batches an epoch, the last 3 images never trained on
    expected = torch_sgd(torch, layers, x, labels, epochs=2, m=m, eta=0.3, lmbda=0.5, p=p, seed=4, dtype=dtype)
    net.SGD((x, labels), 2, m, 0.3, (x, labels), (x, labels), lmbda=0.5)
    ours = [a for layer in layers for a in (layer.w.get_value(), layer.b.get_value())]
    # 8 steps; each a torch-vs-anynet difference in the order of sums (ORDER_RTOL), compounding
    tolerance = {"float64": 1e-12, "float32": 1e-5}[dtype]  # measured 5.2e-16 and 2.2e-7
    assert max(rel_diff(a, b) for a, b in zip(ours, expected)) <= tolerance
    assert "Epoch 1: validation accuracy" in capsys.readouterr().out


def test_sgd_over_spans_of_1000_mini_batches_equals_torch(capsys):
    """SGD runs fit over spans cut at every 1,000th mini-batch (network3.Spans, so that the book's
    lines print when reached): the cuts change no number.  2 epochs of 1,100 one-image mini-batches
    (spans 0-999, 1000-1099, 1100-1999, 2000-2199) with dropout and lmbda against network3's
    training in torch, whose masks come from one Generator stream and whose L2 term divides by the
    epoch's 1,100 mini-batches: a span that restarted the mask stream, counted its own mini-batches
    for lmbda or lost rows would move the weights by far more than the bound.  Float64, 2,200
    steps: measured 7.7e-15; bound 65x that."""
    torch = pytest.importorskip("torch")
    m, p = 1, (0.3, 0.2)
    layers, net = small_net(m, p)
    x, labels = images(1100)
    expected = torch_sgd(torch, layers, x, labels, epochs=2, m=m, eta=0.05, lmbda=0.5, p=p, seed=4, dtype="float64")
    net.SGD((x, labels), 2, m, 0.05, (x[:5], labels[:5]), None, lmbda=0.5)
    ours = [a for layer in layers for a in (layer.w.get_value(), layer.b.get_value())]
    worst = max(rel_diff(a, b) for a, b in zip(ours, expected))
    assert worst <= 5e-13, worst
    assert "Training mini-batch number 2000" in capsys.readouterr().out


def test_one_step_on_every_backend_equals_numpy(backend, capsys):
    """One SGD step (one mini-batch, dropout on) on each backend against NumPy's."""
    x, labels = images(6)
    results = []
    for b in (backend, "numpy"):
        layers, net = small_net(6, dtype=backend.dtype_name, backend=b)
        net.SGD((x, labels), 1, 6, 0.5, (x, labels), (x, labels), lmbda=0.2)
        results.append([a for layer in layers for a in (layer.w.get_value(), layer.b.get_value())])
    tolerance = {"float64": 1e-12, "float32": 1e-5}[backend.dtype_name]
    assert max(rel_diff(a, b) for a, b in zip(*results)) <= tolerance


# -- the book's scripts ---------------------------------------------------------------------------

SCRIPT = """
from anynet import network3
from anynet.network3 import Network
from anynet.network3 import ConvPoolLayer, FullyConnectedLayer, SoftmaxLayer
import numpy as np
np.random.seed(12)
training_data, validation_data, test_data = network3.load_data_shared()
mini_batch_size = 2
net = Network([
    FullyConnectedLayer(n_in=784, n_out=100),
    SoftmaxLayer(n_in=100, n_out=10)], mini_batch_size)
net.SGD(training_data, 2, mini_batch_size, 0.1, validation_data, test_data)
print(network3.size(training_data), network3.size(validation_data))
"""

LINE = r"(\d+\.\d\d)%"


def test_a_book_script_runs_unchanged_and_prints_the_books_lines(book_dir):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    silent = subprocess.run([sys.executable, "-c", "import anynet.network3"], capture_output=True, text=True, env=env)
    assert silent.returncode == 0 and silent.stdout == "" and silent.stderr == ""  # nothing at import
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=book_dir / "src", capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    # 3,000 images in mini-batches of 2: 1,500 an epoch; lines at mini-batches 0, 1000 and 2000
    assert lines[:2] == ["Training mini-batch number 0", "Training mini-batch number 1000"]
    assert re.fullmatch(r"Epoch 0: validation accuracy " + LINE, lines[2])
    assert lines[3] == "This is the best validation accuracy to date."
    assert re.fullmatch(r"The corresponding test accuracy is " + LINE, lines[4])
    assert lines[5] == "Training mini-batch number 2000"
    assert re.fullmatch(r"Epoch 1: validation accuracy " + LINE, lines[6])
    end = lines.index("Finished training network.")
    best = re.fullmatch(r"Best validation accuracy of " + LINE + r" obtained at iteration (1499|2999)", lines[end + 1])
    assert best and re.fullmatch(r"Corresponding test accuracy of " + LINE, lines[end + 2])
    validation = [float(re.search(LINE, line).group(1)) for line in lines if line.startswith("Epoch")]
    assert float(best.group(1)) == max(validation) and max(validation) > 60  # chance is 10%
    assert lines[-1] == "3000 1000"


def chapter6_nets(m):
    """Chapter 6's networks, as its text builds them (``(name, layers, eta, lmbda, data file)``)."""
    conv1 = lambda act=network3.sigmoid: ConvPoolLayer(image_shape=(m, 1, 28, 28), filter_shape=(20, 1, 5, 5),  # noqa: E731
                                                       poolsize=(2, 2), activation_fn=act)
    conv2 = lambda act=network3.sigmoid: ConvPoolLayer(image_shape=(m, 20, 12, 12), filter_shape=(40, 20, 5, 5),  # noqa: E731
                                                       poolsize=(2, 2), activation_fn=act)
    yield "fully connected", lambda: [FullyConnectedLayer(n_in=784, n_out=100), SoftmaxLayer(n_in=100, n_out=10)], 0.1, 0.0, "mnist.pkl.gz"
    yield "one conv-pool", lambda: [conv1(), FullyConnectedLayer(n_in=20 * 12 * 12, n_out=100),
                                    SoftmaxLayer(n_in=100, n_out=10)], 0.1, 0.0, "mnist.pkl.gz"
    yield "two conv-pool", lambda: [conv1(), conv2(), FullyConnectedLayer(n_in=40 * 4 * 4, n_out=100),
                                    SoftmaxLayer(n_in=100, n_out=10)], 0.1, 0.0, "mnist.pkl.gz"
    relu = lambda: [conv1(ReLU), conv2(ReLU), FullyConnectedLayer(n_in=40 * 4 * 4, n_out=100, activation_fn=ReLU),  # noqa: E731
                    SoftmaxLayer(n_in=100, n_out=10)]
    yield "ReLU, lmbda 0.1", relu, 0.03, 0.1, "mnist.pkl.gz"
    yield "expanded data", relu, 0.03, 0.1, "mnist_expanded.pkl.gz"
    yield "dropout", lambda: [conv1(ReLU), conv2(ReLU),
                              FullyConnectedLayer(n_in=40 * 4 * 4, n_out=1000, activation_fn=ReLU, p_dropout=0.5),
                              FullyConnectedLayer(n_in=1000, n_out=1000, activation_fn=ReLU, p_dropout=0.5),
                              SoftmaxLayer(n_in=1000, n_out=10, p_dropout=0.5)], 0.03, 0.1, "mnist.pkl.gz"


@pytest.fixture(scope="module")
def expanded(book_dir):
    """mnist_expanded.pkl.gz by the expand_mnist companion, from the first 600
    training images (3,000 expanded: 300 mini-batches of 10)."""
    from anynet.expand_mnist import expand

    small = book_dir / "expand" / "mnist.pkl.gz"
    sample = load_dataset("sample")
    (x, y), test = sample.train, sample.test
    write_book_pickle(small, (x[:600], y[:600]), (x[3000:], y[3000:]), test)
    random.seed(0)
    assert expand(small, book_dir / "data" / "mnist_expanded.pkl.gz")
    return book_dir / "data" / "mnist_expanded.pkl.gz"


# Two nets sit at chance for their first few hundred mini-batches on these 3,000 images, as the
# same nets in torch do from the same weights (measured: two sigmoid conv-pool layers 9.8% after
# 900 mini-batches; the dropout net 9.8% after 300, 33% after 500; its L2 term is 17x the book's,
# lmbda over 300 mini-batches instead of 5,000): for them the run and its lines are checked here,
# their numbers by the torch oracles above.
SLOW_STARTERS = ("two conv-pool", "dropout")


@pytest.mark.parametrize("name", [net[0] for net in chapter6_nets(10)])
def test_chapter_6_runs(name, book_dir, expanded, capsys, monkeypatch):
    """Each of chapter 6's runs, one epoch of 300 mini-batches of real images,
    learns (validation accuracy well above chance) and prints the book's lines."""
    _, build, eta, lmbda, data = next(net for net in chapter6_nets(10) if net[0] == name)
    monkeypatch.chdir(book_dir / "src")
    training_data, validation_data, test_data = network3.load_data_shared()
    if data != "mnist.pkl.gz":
        training_data, _, _ = network3.load_data_shared(f"../data/{data}")
    np.random.seed(3)
    net = Network(build(), 10)
    net.SGD(training_data, 1, 10, eta, validation_data, test_data, lmbda=lmbda)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Training mini-batch number 0" and out[-3] == "Finished training network."
    accuracy = float(re.search(LINE, out[1]).group(1))
    if name not in SLOW_STARTERS:
        assert accuracy > 40, out  # chance is 10%; measured 49.3-69.5% after these 300 mini-batches
    assert out[-2] == f"Best validation accuracy of {accuracy:.2f}% obtained at iteration 299"


def test_the_expanded_file_holds_each_image_and_its_four_shifts(expanded, book_dir):
    from anynet.datasets import load_mnist_pickle

    original = load_mnist_pickle(book_dir / "expand" / "mnist.pkl.gz", dtype="float32")
    grown = load_mnist_pickle(expanded, dtype="float32")
    X, y = original.train
    images_ = X.reshape(-1, 28, 28)
    down = np.zeros_like(images_)
    down[:, 1:] = images_[:, :-1]
    rows = {row.tobytes(): label for row, label in zip(grown.train[0], grown.train[1])}
    assert len(grown.train[0]) == 5 * len(X)
    for i in range(0, len(X), 97):  # a sample of images: itself and its downward shift, same label
        assert rows[X[i].tobytes()] == y[i] and rows[down[i].reshape(-1).tobytes()] == y[i]
    assert not np.array_equal(grown.train[1][:len(X)], np.repeat(y, 5)[:len(X)])  # shuffled
    assert np.array_equal(grown.test[0], original.test[0])


def test_the_expanded_file_stores_the_array_bytes_as_they_are(expanded):
    """expand_mnist's pickle holds about the arrays' own bytes: pickle protocol 2 stored each array
    as latin-1 text, a byte more for each byte >= 0x80, and Fashion-MNIST's 250,000 expanded images
    (784 MB) grew past the reader's 1 GiB bound, so load_data_shared refused the file expand_mnist
    had just written.  Measured on these 3,000 expanded sample images (and the 1,000 + 1,000 kept):
    protocol 2 stored 20,060,851 bytes for 15,720,000 of arrays (1.28x); protocol 4 passes the bound."""
    from anynet.datasets import load_mnist_pickle

    stored = len(gzip.decompress(expanded.read_bytes()))
    data = load_mnist_pickle(expanded, dtype="float32")
    arrays = sum(x.nbytes + y.astype(np.int64).nbytes for x, y in (data.train, data.validation, data.test))
    assert stored < arrays + 4096, (stored, arrays)


def test_a_full_size_expanded_file_is_within_the_readers_bounds(expanded, monkeypatch):
    """anynet reads back what anynet writes, at the book's size: expand_mnist's file for MNIST or
    Fashion-MNIST holds 250,000 training images and 10,000 + 10,000 kept ones (784 float32 pixels and
    an int64 label each).  Writing it takes minutes and 800 MB, so the full size is computed from the
    sample's file: its pickle's overhead (the stored bytes less the arrays' bytes, measured 400 bytes
    here, independent of the rows: one BINBYTES8 per array) plus the full arrays' bytes is 848,880,400
    bytes, under MAX_PICKLE_BYTES (1,073,741,824); and the sample file is read within a bound scaled
    to its own size in 23 reads (protocol 4 reads an array's bytes in one read; bound: 1% of the
    100,000 allowed)."""
    from anynet.datasets import load_mnist_pickle, pickled

    stored = len(gzip.decompress(expanded.read_bytes()))
    data = load_mnist_pickle(expanded, dtype="float32")
    row = 784 * 4 + 8
    arrays = sum(len(y) for _, y in (data.train, data.validation, data.test)) * row
    overhead = stored - arrays
    assert 0 <= overhead < 4096, overhead
    assert overhead + (250_000 + 10_000 + 10_000) * row < pickled.MAX_PICKLE_BYTES
    reads = []
    spend = pickled._BoundedReader._spend
    monkeypatch.setattr(pickled._BoundedReader, "_spend", lambda self, n: (reads.append(n), spend(self, n)))
    monkeypatch.setattr(pickled, "MAX_PICKLE_BYTES", stored)  # exactly the file: it still reads
    again = load_mnist_pickle(expanded, dtype="float32")
    assert np.array_equal(again.train[0], data.train[0])
    assert sum(reads) <= stored and len(reads) < pickled.MAX_PICKLE_READS // 100, len(reads)


# -- refusals at construction (issue 18 item 6) ----------------------------------------------------


@pytest.mark.parametrize("build, words", [
    (lambda: ConvPoolLayer((20, 1, 5, 5), (10, 1, 4, 4)), r"5x5 filter is larger than the 4x4 images"),
    (lambda: ConvPoolLayer((20, 1, 5, 5), (10, 1, 6, 6), poolsize=(3, 3)),
     r"poolsize \(3, 3\) is larger than the 2x2 convolved images"),
    (lambda: ConvPoolLayer((20, 3, 5, 5), (10, 1, 28, 28)), r"filters 3 feature maps, but image_shape .* has 1"),
    (lambda: FullyConnectedLayer(10, 5, p_dropout=1.0), r"p_dropout"),
    (lambda: SoftmaxLayer(10, 5, p_dropout=-0.1), r"p_dropout"),
    (lambda: Network([ConvPoolLayer((20, 1, 5, 5), (10, 1, 28, 28)), SoftmaxLayer(20 * 12 * 12, 10)], 20),
     r"image_shape \(10, 1, 28, 28\) is for mini-batches of 10, but the Network's mini_batch_size is 20"),
    (lambda: Network([ConvPoolLayer((20, 1, 5, 5), (10, 1, 28, 28)), SoftmaxLayer(100, 10)], 10),
     r"SoftmaxLayer takes n_in=100 inputs, but the layer before it gives 2880"),
    (lambda: Network([FullyConnectedLayer(784, 50), SoftmaxLayer(100, 10)], 10),
     r"n_in=100 inputs, but the layer before it gives 50"),
    (lambda: Network([ConvPoolLayer((20, 1, 5, 5), (10, 1, 28, 28)),
                      ConvPoolLayer((40, 20, 5, 5), (10, 20, 10, 10)), SoftmaxLayer(40 * 3 * 3, 10)], 10),
     r"image_shape \(10, 20, 10, 10\) takes 2000 values per image, but the layer before it gives 2880"),
    (lambda: Network([FullyConnectedLayer(784, 50)], 10), r"the last layer must be a SoftmaxLayer"),
])
def test_bad_networks_are_refused_naming_both_sides(build, words):
    with pytest.raises(ArgumentError, match=words):
        build()


def test_a_refused_layer_draws_nothing():
    np.random.seed(5)
    with pytest.raises(ArgumentError):
        ConvPoolLayer((20, 1, 5, 5), (10, 1, 4, 4))
    with pytest.raises(ArgumentError):
        FullyConnectedLayer(10, 5, p_dropout=1.0)
    assert np.random.random() == np.random.RandomState(5).random_sample()


def test_data_and_mini_batches_that_do_not_fit_are_refused_before_training(capsys):
    layers, net = small_net(5)
    x, labels = images(20)
    with pytest.raises(ArgumentError, match="SGD's mini_batch_size is 4, but the Network was built for mini-batches of 5"):
        net.SGD((x, labels), 1, 4, 0.1, (x, labels), (x, labels))
    wide = np.zeros((20, 784))
    with pytest.raises(DataError, match=r"training_data has images of 784 values, but the first layer takes 100 "
                                        r"\(image_shape \(5, 1, 10, 10\)\)"):
        net.SGD((wide, labels), 1, 5, 0.1, (x, labels), (x, labels))
    with pytest.raises(DataError, match="validation_data has 3 images, fewer than one mini-batch of 5"):
        net.SGD((x, labels), 1, 5, 0.1, (x[:3], labels[:3]), (x, labels))
    assert capsys.readouterr().out == ""


def test_the_books_weight_draws():
    """w then b from the global numpy.random at construction, network3.py's scales."""
    np.random.seed(1)
    conv = ConvPoolLayer((20, 1, 5, 5), (10, 1, 28, 28))
    fc = FullyConnectedLayer(2880, 100)
    soft = SoftmaxLayer(100, 10)
    rng = np.random.RandomState(1)
    assert np.array_equal(conv.w.get_value(), rng.normal(0, np.sqrt(1.0 / 125), (20, 1, 5, 5)))  # 20*25/4
    assert np.array_equal(conv.b.get_value(), rng.normal(0, 1.0, (20,)))
    assert np.array_equal(fc.w.get_value(), rng.normal(0, np.sqrt(1.0 / 100), (2880, 100)))
    assert np.array_equal(fc.b.get_value(), rng.normal(0, 1.0, (100,)))
    assert not soft.w.get_value().any() and not soft.b.get_value().any()
    with pytest.raises(TypeError, match="activation_fn must be one of network3's sigmoid, tanh, ReLU, linear"):
        FullyConnectedLayer(10, 5, activation_fn=np.tanh)


def test_a_step_makes_no_host_sync():
    """Counted on array-api-strict's device1 (tests/test_syncs.py's counter):
    an epoch of 4 steps and one of 16, dropout masks drawn for each step, make
    the same syncs (the finiteness check, the accuracies, the publishing of
    the trained weights), so a step makes none; a mask goes host to device only."""
    pytest.importorskip("array_api_strict")
    from test_syncs import count_syncs

    counts = []
    for n in (20, 80):
        x, labels = images(n)
        _, net = small_net(5, backend="array_api_strict", device="device1")
        with count_syncs() as counter:
            net.SGD((x, labels), 1, 5, 0.3, (x[:10], labels[:10]), (x[:10], labels[:10]), lmbda=0.1)
        counts.append(counter.where())
    assert counts[0] == counts[1] and sum(counts[0].values()) > 0, counts


def books_lines(epochs, num_batches):
    """network3.py's SGD loop, transcribed: each line it prints (the epoch
    lines by their start) with the number of mini-batches trained when it
    prints it."""
    lines = []
    for epoch in range(epochs):
        for minibatch_index in range(num_batches):
            iteration = num_batches * epoch + minibatch_index
            if iteration % 1000 == 0:
                lines.append((iteration, "Training mini-batch number {0}".format(iteration)))
            if (iteration + 1) % num_batches == 0:  # after train_mb(minibatch_index)
                lines.append((iteration + 1, f"Epoch {epoch}: validation accuracy"))
    return lines


@pytest.mark.parametrize("num_batches, epochs", [(1300, 2), (500, 3)])
def test_the_lines_print_when_training_reaches_them(num_batches, epochs, monkeypatch):
    """Each "Training mini-batch number N" line is printed before mini-batch
    N trains and each epoch's lines after its last mini-batch, in the book's
    order: every printed line is recorded with the number of steps taken
    when it was written (steps counted by wrapping the loop's step)."""
    from anynet.train.step import StepSpec

    taken, printed = [0], []
    bound = StepSpec.step

    def counting_step(self, xp, **settings):
        step = bound(self, xp, **settings)

        def counted(*args):
            taken[0] += 1
            return step(*args)
        return counted

    class Recorder:
        def write(self, text):
            printed.extend((taken[0], line) for line in text.splitlines() if line)

        def flush(self):
            pass

    monkeypatch.setattr(StepSpec, "step", counting_step)
    monkeypatch.setattr(sys, "stdout", Recorder())
    rng = np.random.default_rng(0)
    x, labels = rng.random((num_batches, 3)), rng.integers(0, 10, num_batches)
    net = Network([SoftmaxLayer(n_in=3, n_out=10)], 1, dtype="float64")
    net.SGD((x, labels), epochs, 1, 0.1, (x[:5], labels[:5]), None)
    ours = [(steps, line) for steps, line in printed if line.startswith(("Training mini-batch", "Epoch"))]
    expected = books_lines(epochs, num_batches)
    assert [(steps, line[:len(book)]) for (steps, line), (_, book) in zip(ours, expected)] == expected
    assert len(ours) == len(expected) and taken[0] == epochs * num_batches
    assert printed[-2] == (taken[0], "Finished training network.")  # the last line: the best validation accuracy


def test_divergence_names_the_books_epoch_and_mini_batches(monkeypatch, capsys):
    """fit's epochs are spans of at most 1,000 mini-batches: a divergence
    (planted: the finiteness check fails after the third span, mini-batches
    1300-1999 of 1,300 an epoch) is reported in the book's epoch and
    mini-batches, and the parameters before that span are kept (equal to a
    one-epoch run's)."""
    from anynet.model.model import Model

    rng = np.random.default_rng(0)
    x, labels = rng.random((1300, 3)), rng.integers(0, 10, 1300)
    one = Network([SoftmaxLayer(n_in=3, n_out=10)], 1, dtype="float64")
    one.SGD((x, labels), 1, 1, 0.1, (x[:5], labels[:5]), None)
    checks, real = [], Model.all_finite

    def third_fails(model, *args, **kwargs):
        checks.append(real(model, *args, **kwargs))
        return bool(checks[-1]) and len(checks) != 3
    monkeypatch.setattr(Model, "all_finite", third_fails)
    net = Network([SoftmaxLayer(n_in=3, n_out=10)], 1, dtype="float64")
    with pytest.raises(TrainingDiverged, match=r"^training diverged in epoch 1 \(mini-batches 1300 to 1999\): "):
        net.SGD((x, labels), 2, 1, 0.1, (x[:5], labels[:5]), None)
    assert len(checks) == 3
    assert np.array_equal(net.layers[0].w.get_value(), one.layers[0].w.get_value())
    assert np.array_equal(net.layers[0].b.get_value(), one.layers[0].b.get_value())


def test_load_data_shared_puts_the_data_on_the_device_once(book_dir):
    path = book_dir / "data" / "mnist.pkl.gz"
    training_data, validation_data, test_data = network3.load_data_shared(path, dtype="float64")
    assert network3.size(training_data) == 3000 and network3.size(test_data) == 1000
    assert training_data[0].get_value().dtype == np.float64 and training_data[1].get_value().dtype.kind == "i"
    np.random.seed(0)
    same = Network([FullyConnectedLayer(784, 30), SoftmaxLayer(30, 10)], 10, dtype="float64")
    assert same._on_device(training_data, "training_data") is training_data.device_data  # no second move
    other = Network([FullyConnectedLayer(784, 30), SoftmaxLayer(30, 10)], 10)  # float32: moved again, once
    moved = other._on_device(training_data, "training_data")
    assert moved.x.dtype == np.float32 and np.array_equal(moved.labels, training_data.device_data.labels)
