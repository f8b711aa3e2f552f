"""No host syncs while training.

A device-to-host conversion (``float()``, ``bool()``, ``int()``, ``.item()``,
a copy to NumPy, a Python ``if`` on an array, an operation whose result's
shape depends on the data) makes the host wait for every queued GPU kernel.
These tests count them on array-api-strict's non-default device "device1",
where every such conversion goes through a method of its Array class that
:func:`count_syncs` wraps, and prove:

* a step of the training loop makes none: an epoch of 4 steps and one of 16
  make the same number, and that number is exactly the per-run reading of the
  data's device-side checks plus, per epoch, the finiteness check and one per
  monitor;
* the book's ``update_mini_batch`` and ``feedforward`` make none per call,
  and a bad batch still cannot pass: it leaves the parameters as they were,
  and the next call that reads a result raises DataError.

The counter is proven to count (``test_the_counter_counts``), so a zero here
can fail.  On a GPU, the same loops run under PyTorch's and CuPy's own sync
detectors (skipped without one).
"""

from __future__ import annotations

import contextlib
import re
import sys
import traceback
import warnings
import weakref
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

xp = pytest.importorskip("array_api_strict")

import anynet
import anynet.xp.backend
from anynet.train import engine
from anynet.train.step import LocalReducer
from anynet import network, network2
from anynet.xp.devices import cuda_device_count
from anynet.errors import DataError
from anynet.train.fit import Shuffler
from anynet.datasets.boundary import Pending
from anynet.model.optimizers import get_optimizer

ArrayClass = type(xp.asarray(0))
CPU = xp.Device("CPU_DEVICE")
DEVICE = xp.Device("device1")
SIZES = [6, 5, 3]
PACKAGE = str(Path(anynet.__file__).parent)
VERIFY = f"{Pending.__module__.rsplit('.', 1)[-1]}.verify"  # reading back a dataset's device-side checks

# Conversions of an array to a host value; each makes the host wait for the device.
CONVERSIONS = ("__bool__", "__int__", "__float__", "__index__", "__complex__", "__array__", "__dlpack__",
               "__buffer__", "__repr__", "__str__", "tolist", "item")
# Functions whose result's shape depends on the data: the host must read it.
DATA_SHAPED = ("nonzero", "unique_all", "unique_counts", "unique_inverse", "unique_values")


class SyncCounter:
    """Counts host syncs; ``events`` says where each came from: the innermost
    anynet function on the stack (``"fit._epoch"``), or ``"test"``."""

    def __init__(self):
        self.depth = 0  # a conversion inside a counted one (to_numpy's to_device) is the same sync
        self.events = []

    @property
    def count(self) -> int:
        return len(self.events)

    def where(self) -> Counter:
        return Counter(self.events)

    def _record(self, name):
        frames = [f for f in traceback.extract_stack()[:-2] if f.filename.startswith(PACKAGE)]
        self.events.append(f"{Path(frames[-1].filename).stem}.{frames[-1].name}" if frames else f"test {name}")


def _counted(counter, name, original, applies=None):
    def wrapper(*args, **kwargs):
        if counter.depth == 0 and (applies is None or applies(*args, **kwargs)):
            counter._record(name)
        counter.depth += 1
        try:
            return original(*args, **kwargs)
        finally:
            counter.depth -= 1

    return wrapper


def _to_host(self, device, /, *args, **kwargs):
    return self.device != CPU and device == CPU


def _boolean_index(self, key):
    keys = key if isinstance(key, tuple) else (key,)
    return any(isinstance(k, ArrayClass) and k.dtype == xp.bool for k in keys)


@contextlib.contextmanager
def count_syncs():
    """Within the block, count every device-to-host conversion of an
    array-api-strict array (and every anynet.xp.backend.to_numpy); yields a
    :class:`SyncCounter`."""
    counter = SyncCounter()
    patches = [(ArrayClass, name, None) for name in CONVERSIONS if hasattr(ArrayClass, name)]
    patches += [(ArrayClass, "to_device", _to_host), (ArrayClass, "__getitem__", _boolean_index)]
    patches += [(xp, name, None) for name in DATA_SHAPED]
    patches += [(module, "to_numpy", None) for name, module in list(sys.modules.items())  # every module that bound it
                if name.startswith("anynet") and getattr(module, "to_numpy", None) is anynet.xp.backend.to_numpy]
    saved = []
    try:
        for owner, name, applies in patches:
            original = getattr(owner, name)
            saved.append((owner, name, original))
            setattr(owner, name, _counted(counter, name, original, applies))
        yield counter
    finally:
        for owner, name, original in reversed(saved):
            setattr(owner, name, original)


# -- data and networks ---------------------------------------------------------------


def device_data(n, seed=0):
    """``(X, y)`` with ``n`` rows, already on device1."""
    rng = np.random.default_rng(seed)
    return (xp.asarray(rng.random((n, SIZES[0])), device=DEVICE),
            xp.asarray(rng.integers(0, SIZES[-1], n), device=DEVICE))


FRONTS = {
    "anynet": lambda: anynet.Network(SIZES, seed=0, backend="array_api_strict", device="device1"),
    "network": lambda: network.Network(SIZES, backend="array_api_strict", device="device1"),
    "network2": lambda: network2.Network(SIZES, backend="array_api_strict", device="device1"),
}


def host(array):
    return np.asarray(array.to_device(CPU))


def parameters(net):
    return [host(a) for a in net.weights + net.biases]


def sgd(front, net, data, epochs, evaluation=None):
    """The front's own SGD call, every monitor it has switched on."""
    if front == "network":
        return net.SGD(data, epochs, 10, 0.5, test_data=evaluation)
    if front == "network2":
        return net.SGD(data, epochs, 10, 0.5, lmbda=0.1, evaluation_data=evaluation, monitor_evaluation_cost=True,
                       monitor_evaluation_accuracy=True, monitor_training_cost=True, monitor_training_accuracy=True)
    return net.SGD(data, epochs, 10, 0.5, evaluation_data=evaluation, monitor_evaluation_accuracy=True,
                   monitor_training_cost=True, verbose=False)


# Per epoch, besides the finiteness check: one sync per monitor each front switches on above.
MONITOR_SYNCS = {
    "network": {"fit._measure": 1},
    "network2": {"fit._measure": 2, "fit.total_cost": 2},
    "anynet": {"fit._measure": 1, "fit.total_cost": 1},
}


def update(front, net, batch):
    if front == "network2":
        return net.update_mini_batch(batch, 0.5, 0.1, 100)
    return net.update_mini_batch(batch, 0.5)


# -- the counter ------------------------------------------------------------------------


def test_the_counter_counts():
    x, _ = device_data(4)
    with count_syncs() as counter:
        y = x * 2.0 + 1.0  # device work alone
        assert counter.count == 0
        float(xp.sum(y))
        bool(xp.all(y > 0))
        int(xp.argmax(y[:, 0]))
        assert counter.count == 3
        anynet.xp.backend.to_numpy(y)  # one transfer, though it calls to_device and __array__ inside
        assert counter.count == 4
        y.to_device(CPU)
        y.to_device(xp.Device("device2"))  # device to device: the host does not wait
        assert counter.count == 5
        y[y > 1.5]  # a boolean mask: the result's shape is read back
        xp.nonzero(y > 1.5)
        assert counter.count == 7
    assert counter.where() == Counter({"test __float__": 1, "test __bool__": 1, "test __int__": 1, "test to_numpy": 1,
                                       "test to_device": 1, "test __getitem__": 1, "test nonzero": 1})
    with count_syncs() as counter:
        anynet.Network(SIZES, backend="array_api_strict", device="device1").evaluate(device_data(8))
    assert counter.count > 0  # the counter sees syncs made inside anynet, and names them
    assert all(not event.startswith("test") for event in counter.events)


def test_the_counter_restores_the_array_class():
    originals = {name: getattr(ArrayClass, name) for name in CONVERSIONS if hasattr(ArrayClass, name)}
    with pytest.raises(RuntimeError), count_syncs():
        raise RuntimeError("leaving the block by an exception")
    assert {name: getattr(ArrayClass, name) for name in originals} == originals
    assert anynet.xp.backend.to_numpy.__name__ == "to_numpy"


# -- the training loop ---------------------------------------------------------------------


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_an_epoch_of_steps_makes_no_sync(optimizer):
    net = FRONTS["anynet"]()
    model, opt = net.model, get_optimizer(optimizer)
    for n in (40, 160):  # 4 and 16 mini-batches
        data = net.to_device(device_data(n))
        state = opt.init(model.parameters(), xp=xp)
        order = Shuffler(n, np.random.default_rng(0)).next_epoch()
        with count_syncs() as counter:
            engine.run_epoch(model, data, order, engine=engine.LOOP, mini_batch_size=10, eta=0.5, reg=None, optimizer=opt,
                             opt_state=state, reducer=LocalReducer())
        assert counter.count == 0, counter.where()


@pytest.mark.parametrize("front", FRONTS)
@pytest.mark.parametrize("epochs", [1, 3])
def test_sgd_syncs_do_not_grow_with_the_steps(front, epochs, capsys):
    """SGD on device arrays: one reading of each dataset's device-side checks
    per run, then per epoch one finiteness check and one per monitor; the
    same count for 4 mini-batches an epoch and for 16."""
    counts = []
    for n in (40, 160):
        net = FRONTS[front]()
        train, evaluation = device_data(n), device_data(20, seed=1)
        with count_syncs() as counter:
            sgd(front, net, train, epochs, evaluation)
        counts.append(counter.where())
    expected = Counter({VERIFY: 2, "fit._epoch": epochs})
    expected.update({where: k * epochs for where, k in MONITOR_SYNCS[front].items()})
    assert counts == [expected, expected]


def test_data_moved_once_is_not_checked_again():
    net = FRONTS["anynet"]()
    data = net.to_device(device_data(40))  # validated here: its checks read back once
    with count_syncs() as counter:
        net.SGD(data, 2, 10, 0.5, verbose=False)
    assert counter.where() == Counter({"fit._epoch": 2})


# -- the book's per-batch calls -------------------------------------------------------------


@pytest.mark.parametrize("front", FRONTS)
def test_update_mini_batch_and_feedforward_make_no_sync(front):
    net = FRONTS[front]()
    x, y = device_data(40)
    before = parameters(net)
    with count_syncs() as counter:
        for k in range(0, 40, 10):
            update(front, net, (x[k : k + 10, ...], y[k : k + 10]))
            net.feedforward(x[k : k + 3, ...].T)  # columns, as the book feeds them
            net.feedforward(x[k, ...])
    assert counter.count == 0, counter.where()
    assert not any(np.array_equal(a, b) for a, b in zip(parameters(net), before))  # the steps did happen


@pytest.mark.parametrize("front", FRONTS)
def test_many_deferred_calls_keep_no_batch_alive(front):
    net = FRONTS[front]()
    x, y = device_data(10)
    net.feedforward(x.T)
    batch_x = x + 0.0  # only this call's reference
    update(front, net, (batch_x, y))
    ref = weakref.ref(batch_x)
    del batch_x
    assert ref() is None  # the deferred checks hold 0-d flags, not the batch
    net.evaluate(device_data(10))  # and they read back fine


BAD_BATCHES = {
    "nan-input": (lambda x, y: (xp.where(x > 0.5, xp.nan, x), y), "mini_batch: inputs contain NaN or inf"),
    "label-outside": (lambda x, y: (x, y + SIZES[-1]), "mini_batch: a label is outside [0, 3)"),
    "fraction-label": (lambda x, y: (x, xp.astype(y, xp.float64) + 0.5), "labels must be integers"),
}


def _read(front, net, how, tmp_path):
    data = device_data(10, seed=2)
    if how == "evaluate":
        return net.evaluate(data)
    if how == "accuracy":
        return net.accuracy(data)
    if how == "total_cost":
        return net.total_cost(data, 0.0)
    if how == "save":
        return net.save(tmp_path / "net.json")
    if how == "predict":
        return net.predict(data[0])
    return sgd(front, net, data, 1)


@pytest.mark.parametrize("bad", BAD_BATCHES)
@pytest.mark.parametrize("how", ["evaluate", "accuracy", "total_cost", "save", "predict", "SGD"])
@pytest.mark.parametrize("front", FRONTS)
def test_a_bad_batch_leaves_the_parameters_and_fails_the_next_read(front, how, bad, tmp_path, capsys):
    net = FRONTS[front]()
    x, y = device_data(20)
    spoil, message = BAD_BATCHES[bad]
    update(front, net, (x[:10, ...], y[:10]))
    good = parameters(net)
    with count_syncs() as counter:
        update(front, net, spoil(x[10:, ...], y[10:]))
    assert counter.count == 0  # the bad batch is not read back here
    for now, then in zip(parameters(net), good):
        assert np.array_equal(now, then)  # bit for bit: the step was not applied
    update(front, net, (x[:10, ...], y[:10]))  # later good batches still train
    trained = parameters(net)
    with pytest.raises(DataError, match=re.escape(message)):
        _read(front, net, how, tmp_path)
    assert not (tmp_path / "net.json").exists()
    assert all(np.array_equal(a, b) for a, b in zip(parameters(net), trained))  # the failing read changed nothing
    _read(front, net, how, tmp_path)  # reported once: the next read goes through


def test_a_nan_feedforward_input_fails_the_next_read():
    net = network.Network(SIZES, backend="array_api_strict", device="device1")
    x, _ = device_data(3)
    with count_syncs() as counter:
        out = net.feedforward(xp.where(x > 0.5, xp.nan, x).T)
    assert counter.count == 0 and tuple(out.shape) == (SIZES[-1], 3)
    with pytest.raises(DataError, match="feedforward input: contains NaN or inf"):
        net.evaluate(device_data(10))


# -- on a GPU: the libraries' own sync detectors ------------------------------------------------


def host_twin(net):
    """A NumPy network with ``net``'s parameters: an oracle for its results."""
    twin = anynet.Network(SIZES, seed=0)
    twin.weights = [anynet.xp.backend.to_numpy(w) for w in net.weights]
    twin.biases = [anynet.xp.backend.to_numpy(b) for b in net.biases]
    return twin


def host(*arrays):
    return tuple(anynet.xp.backend.to_numpy(a) for a in arrays)


def _torch_cuda():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs PyTorch with a CUDA device")
    return torch


@pytest.mark.gpu
def test_torch_cuda_steps_make_no_sync():
    """PyTorch's sync debug mode raises on any synchronising CUDA call made in the block."""
    torch = _torch_cuda()
    net = anynet.Network(SIZES, seed=0, backend="torch", device="cuda")
    gen = torch.Generator(device="cuda").manual_seed(0)
    x = torch.rand((40, SIZES[0]), device="cuda", dtype=torch.float64, generator=gen)
    y = torch.randint(0, SIZES[-1], (40,), device="cuda", generator=gen)
    update("anynet", net, (x[:10], y[:10]))  # the first call compiles and caches
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for k in range(0, 40, 10):
            update("anynet", net, (x[k : k + 10], y[k : k + 10]))
            net.feedforward(x[k : k + 3].T)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert net.evaluate((x, y)) == host_twin(net).evaluate(host(x, y))  # the numbers, not only no sync


@pytest.mark.gpu
def test_torch_cuda_sgd_syncs_do_not_grow_with_the_steps():
    """The synchronising calls PyTorch reports for one epoch of 4 and of 16 mini-batches are as many."""
    torch = _torch_cuda()
    counts = []
    for n in (40, 160):
        net = anynet.Network(SIZES, seed=0, backend="torch", device="cuda")
        data = net.to_device((np.random.default_rng(0).random((n, SIZES[0])), np.arange(n) % SIZES[-1]))
        net.SGD(data, 1, 10, 0.5, verbose=False)  # warm-up
        torch.cuda.synchronize()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                net.SGD(data, 1, 10, 0.5, verbose=False)
            finally:
                torch.cuda.set_sync_debug_mode("default")
        counts.append(sum("synchroniz" in str(w.message) for w in caught))
    assert counts[0] == counts[1], counts


@pytest.mark.gpu
def test_cupy_steps_make_no_sync():
    """CuPy's allow_synchronize(False) raises DeviceSynchronized on the synchronising calls it watches."""
    cupy = pytest.importorskip("cupy")
    if cuda_device_count() == 0:
        pytest.skip("needs CuPy with a CUDA device")
    import cupyx

    net = anynet.Network(SIZES, seed=0, backend="cupy")
    rng = cupy.random.default_rng(0)
    x, y = rng.random((40, SIZES[0])), rng.integers(0, SIZES[-1], 40)
    update("anynet", net, (x[:10], y[:10]))
    cupy.cuda.Device().synchronize()
    with cupyx.allow_synchronize(False):
        for k in range(0, 40, 10):
            update("anynet", net, (x[k : k + 10], y[k : k + 10]))
            net.feedforward(x[k : k + 3].T)
    assert net.evaluate((x, y)) == host_twin(net).evaluate(host(x, y))  # the numbers, not only no sync
