"""The CPU contestants, each training the same network from the same initial
weights on the same data: ``reset()`` (untimed) restores the initial weights,
``run()`` (timed) trains one epoch, shuffling included, as each contestant's
users would write it.

* ``AnynetSGD``    ``anynet.Network(...).SGD((X, y), 1, m, eta)``: its timing
                   includes SGD's validation and move of the data to the device;
                   ``AnynetPrepare`` times that part alone (``SGD`` with 0 epochs).
* ``SeedSGD``      the seed notebook's per-sample ``Network`` on the book's list
                   of ``(x, y)`` tuples, on ``fraction`` of the samples.
* ``NumpyLoop``    ``numpy_loop.epoch``, the hand-written NumPy floor.
* ``TorchEager``   ``nn.Sequential`` of ``nn.Linear`` + ``nn.Sigmoid``, the
                   quadratic cost as ``0.5 * MSELoss(reduction="sum")`` and
                   ``torch.optim.SGD(lr=eta/m)``.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass

import harness
import numpy as np
import numpy_loop

SEED = 20240601


@dataclass
class Workload:
    sizes: list
    mini_batch_size: int
    eta: float
    dtype: str
    X: np.ndarray  # (n, sizes[0]) in ``dtype``
    y: np.ndarray  # int64 labels (n,)

    @property
    def n(self):
        return len(self.y)

    def initial_parameters(self):
        """anynet's initial ``(weights, biases)`` for ``SEED`` as host arrays:
        every contestant starts from these numbers."""
        import anynet

        net = anynet.Network(self.sizes, seed=SEED, dtype=self.dtype)
        to_host = net.backend.to_numpy
        return [to_host(w) for w in net.weights], [to_host(b) for b in net.biases]

    def describe(self):
        return {
            "sizes": self.sizes,
            "mini_batch_size": self.mini_batch_size,
            "eta": self.eta,
            "dtype": self.dtype,
            "n_samples": self.n,
            "epochs": 1,
            "cost": "quadratic",
            "activation": "sigmoid",
        }


class AnynetSGD:
    label = "anynet SGD (incl. data move)"

    def __init__(self, work: Workload, backend="numpy", device=None, epochs=1):
        import anynet

        self.anynet, self.work, self.backend, self.device, self.epochs = anynet, work, backend, device, epochs
        self.net = None

    def reset(self):
        w = self.work
        self.net = self.anynet.Network(w.sizes, seed=SEED, dtype=w.dtype, backend=self.backend, device=self.device)

    def run(self):
        w = self.work
        self.net.SGD((w.X, w.y), self.epochs, w.mini_batch_size, w.eta, verbose=False)
        self.net.backend.synchronize()

    def train_in_order(self, order):
        """One epoch in the given sample order, through the public
        ``update_mini_batch`` (the same math as SGD's step); for agreement checks."""
        self.reset()
        w, m = self.work, self.work.mini_batch_size
        for k in range(0, len(order), m):
            idx = order[k : k + m]
            self.net.update_mini_batch((w.X[idx], w.y[idx]), w.eta)
        to_host = self.net.backend.to_numpy
        return [to_host(x) for x in self.net.weights]


class AnynetPrepare(AnynetSGD):
    """SGD with 0 epochs: validation, one-hot targets, move to the device."""

    label = "  of which data move (SGD, 0 epochs)"

    def __init__(self, work: Workload, backend="numpy", device=None):
        super().__init__(work, backend, device, epochs=0)


def _seed_network():
    """The seed's Network class from tests/seed_network.py, the one verbatim
    copy of the notebook's code (tests/test_seed.py checks it against the seed)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "tests" / "seed_network.py"
    spec = importlib.util.spec_from_file_location("seed_network", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class SeedSGD:
    """The seed's per-sample algorithm.  It is float64 whatever the data: its
    ``np.zeros`` accumulators promote float32 weights on the first update."""

    label = "seed per-sample Network"

    def __init__(self, work: Workload, fraction: float):
        from anynet.datasets import to_tuples

        self.seed_network, self.work = _seed_network(), work
        self.n_timed = max(work.mini_batch_size, round(work.n * fraction))
        self.scale = work.n / self.n_timed
        self.data = to_tuples(work.X[: self.n_timed], work.y[: self.n_timed], one_hot=True)
        self.weights, self.biases = work.initial_parameters()
        self.net = None

    def reset(self):
        self.net = self.seed_network.Network(list(self.work.sizes))
        self.net.weights = [w.copy() for w in self.weights]
        self.net.biases = [b.copy() for b in self.biases]

    def run(self):
        with contextlib.redirect_stdout(io.StringIO()):  # its "Epoch 0 complete"
            self.net.SGD(self.data, 1, self.work.mini_batch_size, self.work.eta, None)

    def train_in_order(self, order):
        self.reset()
        from anynet.datasets import to_tuples

        w, m = self.work, self.work.mini_batch_size
        data = to_tuples(w.X, w.y, one_hot=True)
        for k in range(0, len(order), m):
            self.net.update_mini_batch([data[i] for i in order[k : k + m]], w.eta)
        return [np.asarray(x) for x in self.net.weights]


class NumpyLoop:
    label = "hand-written NumPy loop"

    def __init__(self, work: Workload):
        self.work = work
        self.Y = harness.one_hot(work.y, work.X.dtype)
        self.weights0, biases0 = work.initial_parameters()
        self.biases0 = [b.reshape(-1) for b in biases0]
        self.rng = np.random.default_rng(SEED)

    def reset(self):
        self.weights = [w.copy() for w in self.weights0]
        self.biases = [b.copy() for b in self.biases0]

    def run(self):
        order = self.rng.permutation(self.work.n)
        self.train(order)

    def train(self, order):
        w = self.work
        with np.errstate(over="ignore"):  # exp(-z) overflows to inf for z << 0; sigmoid is then 0
            numpy_loop.epoch(self.weights, self.biases, w.X, self.Y, order, w.mini_batch_size, w.eta)

    def train_in_order(self, order):
        self.reset()
        self.train(np.asarray(order))
        return [x.copy() for x in self.weights]


class TorchEager:
    label = "PyTorch eager"

    def __init__(self, work: Workload, device="cpu"):
        import torch

        self.torch, self.work, self.device = torch, work, torch.device(device)
        self.dtype = getattr(torch, work.dtype)
        self.X = torch.from_numpy(np.ascontiguousarray(work.X)).to(self.device)
        self.Y = torch.from_numpy(harness.one_hot(work.y, work.X.dtype)).to(self.device)
        self.weights0, self.biases0 = work.initial_parameters()
        self.generator = torch.Generator(device=self.device).manual_seed(SEED)

    def reset(self):
        torch, nn = self.torch, self.torch.nn
        layers = []
        for w, b in zip(self.weights0, self.biases0):
            linear = nn.Linear(w.shape[1], w.shape[0], dtype=self.dtype, device=self.device)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(w))
                linear.bias.copy_(torch.from_numpy(b.reshape(-1)))
            layers += [linear, nn.Sigmoid()]
        self.model = nn.Sequential(*layers)
        self.loss = nn.MSELoss(reduction="sum")
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=self.work.eta / self.work.mini_batch_size)

    def run(self):
        order = self.torch.randperm(self.work.n, generator=self.generator, device=self.device)
        self.train(order)
        if self.device.type == "cuda":
            self.torch.cuda.synchronize(self.device)

    def train(self, order):
        model, loss_fn, optimizer, X, Y = self.model, self.loss, self.optimizer, self.X, self.Y
        m = self.work.mini_batch_size
        for k in range(0, order.shape[0], m):
            idx = order[k : k + m]
            optimizer.zero_grad()
            loss = 0.5 * loss_fn(model(X[idx]), Y[idx])
            loss.backward()
            optimizer.step()
        # The last batch may be short: lr = eta/m is exact only for full batches,
        # as torch.optim.SGD has one fixed learning rate (50,000 / 10 leaves none).

    def train_in_order(self, order):
        self.reset()
        self.train(self.torch.as_tensor(np.asarray(order), device=self.device))
        return [layer.weight.detach().cpu().numpy().copy() for layer in self.model if hasattr(layer, "weight")]

