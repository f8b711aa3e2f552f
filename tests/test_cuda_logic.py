"""The code only a GPU runs, run before a GPU does (issue 21 item 4):

* CUDA device parsing for CuPy and torch, with the device count and CUDA's
  availability faked (CuPy must be installed, no GPU: .ci/run installs it);
* NcclComm against a fake NCCL module: pointers, counts, dtype codes, the
  sum operation, the current stream, rank 0's unique id;
* a saved run resumed bit for bit on every backend of the matrix: on a GPU
  machine its CuPy and CUDA-torch legs run, here the CPU legs run the same
  code (host copies by ``to_numpy``, parameters moved to the device, the
  optimizer's and the shuffle's state).
"""

from __future__ import annotations

import itertools
import sys
import threading
import types

import numpy as np
import pytest

import anynet
from anynet.distributed import NcclComm
from anynet.errors import ArgumentError, DeviceUnavailable
from anynet.xp import devices, precision
from anynet.xp.backend import get_backend, to_numpy
from mpi.fakes import FakeComm, FakeWorld

# -- CUDA device parsing ------------------------------------------------------------------


@pytest.fixture
def two_cupy_gpus(monkeypatch):
    cupy = pytest.importorskip("cupy")
    monkeypatch.setattr(devices, "cuda_device_count", lambda: 2)
    return cupy


@pytest.mark.parametrize("device, index", [(None, 0), (1, 1), ("cuda", 0), ("cuda:1", 1), ("gpu:1", 1), ("1", 1)])
def test_cupy_devices_are_read_like_cuda_names(two_cupy_gpus, device, index):
    resolved = devices.resolve_device("cupy", device)
    assert resolved == two_cupy_gpus.cuda.Device(index)
    assert devices.device_name("cupy", resolved) == f"cuda:{index}"
    assert devices.resolve_device("cupy", resolved) is resolved  # a Device object is taken as it is


@pytest.mark.parametrize(
    "device, message",
    [("cuda:2", r"does not exist: 2 CUDA device\(s\)"), (-1, "does not exist"), ("tpu:0", "cannot read a CUDA device"),
     (True, "cannot read a CUDA device"), ("cuda:x", "cannot read a CUDA device")],
)
def test_bad_cupy_devices_are_refused(two_cupy_gpus, device, message):
    with pytest.raises(ArgumentError, match=message):
        devices.resolve_device("cupy", device)


def test_cupy_without_a_gpu_is_unavailable(monkeypatch):
    pytest.importorskip("cupy")
    monkeypatch.setattr(devices, "cuda_device_count", lambda: 0)
    with pytest.raises(DeviceUnavailable, match="needs an NVIDIA GPU"):
        devices.resolve_device("cupy", "cuda:0")


@pytest.fixture
def two_torch_gpus(monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 1)
    return torch


@pytest.mark.parametrize("device, index", [("cuda", 1), ("cuda:0", 0), ("cuda:1", 1)])
def test_torch_cuda_devices_are_named(two_torch_gpus, device, index, monkeypatch):
    """"cuda" is the current device, named with its index, so that arrays on
    cuda:1 match; a CUDA backend turns on cuBLAS's reproducible workspace."""
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    backend = get_backend("torch", device, "float32")
    assert backend.device == two_torch_gpus.device("cuda", index) and backend.device_name == f"cuda:{index}"
    assert precision.uses_cuda(backend) and not precision.uses_cuda(get_backend("torch", "cpu"))
    assert precision.cublas_workspace() == ":4096:8"


@pytest.mark.parametrize("device, error", [("cuda:2", ArgumentError), ("tpu", ArgumentError)])
def test_bad_torch_devices_are_refused(two_torch_gpus, device, error):
    with pytest.raises(error, match="does not exist|has no device"):
        get_backend("torch", device)


def test_torch_cuda_without_cuda_is_unavailable(monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceUnavailable, match="needs CUDA"):
        get_backend("torch", "cuda:0")


# -- NcclComm against a fake NCCL ---------------------------------------------------------


class DeviceArray:
    """What NcclComm reads of a CuPy array: ``.data.ptr``, ``.size``, ``.dtype``."""

    memory = {}  # pointer -> the host array behind it
    _pointers = itertools.count(4096, 4096)

    def __init__(self, host):
        self.host, self.size, self.dtype = host, host.size, host.dtype
        self.data = types.SimpleNamespace(ptr=next(self._pointers))
        self.memory[self.data.ptr] = host


def fake_nccl(world: FakeWorld):
    """A module with the parts of cupy.cuda.nccl that NcclComm uses, over ``world``."""
    nccl = types.ModuleType("cupy.cuda.nccl")
    nccl.NCCL_FLOAT32, nccl.NCCL_FLOAT64, nccl.NCCL_SUM, nccl.ids_made = 7, 8, 0, []
    codes = {7: np.float32, 8: np.float64}

    def get_unique_id():
        nccl.ids_made.append(threading.get_ident())
        return (1, 2, 3)

    class NcclCommunicator:
        def __init__(self, ndev, commId, rank):
            assert (ndev, commId) == (world.size, (1, 2, 3)), "every rank joins rank 0's clique"
            self.rank = rank

        def _check(self, sendbuf, count, datatype, stream):
            send = DeviceArray.memory[sendbuf]
            assert count == send.size and send.dtype == codes[datatype] and stream == STREAM.ptr
            return send

        def allGather(self, sendbuf, recvbuf, count, datatype, stream):
            send = self._check(sendbuf, count, datatype, stream)
            everyone = world.exchange(self.rank, send.ravel().copy())
            DeviceArray.memory[recvbuf].reshape(-1)[...] = np.concatenate(everyone)

        def allReduce(self, sendbuf, recvbuf, count, datatype, op, stream):
            assert op == nccl.NCCL_SUM
            send = self._check(sendbuf, count, datatype, stream)
            everyone = world.exchange(self.rank, send.ravel().copy())
            DeviceArray.memory[recvbuf].reshape(-1)[...] = sum(everyone[1:], everyone[0])

    nccl.get_unique_id, nccl.NcclCommunicator = get_unique_id, NcclCommunicator
    return nccl


STREAM = types.SimpleNamespace(ptr=0xC0FFEE)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size", [1, 3])
def test_nccl_comm_gathers_and_sums_through_nccl(monkeypatch, size, dtype):
    world = FakeWorld(size)
    nccl = fake_nccl(world)
    cupy = types.ModuleType("cupy")
    cupy.cuda = types.ModuleType("cupy.cuda")
    cupy.cuda.nccl, cupy.cuda.get_current_stream = nccl, lambda: STREAM
    for name, module in (("cupy", cupy), ("cupy.cuda", cupy.cuda), ("cupy.cuda.nccl", nccl)):
        monkeypatch.setitem(sys.modules, name, module)

    def work(rank):
        comm = NcclComm.from_mpi(FakeComm(world, rank))
        send = DeviceArray(np.arange(6, dtype=dtype).reshape(2, 3) + 10 * rank)
        gathered = DeviceArray(np.zeros((2 * size, 3), dtype=dtype))
        comm.all_gather(send, gathered)
        total = DeviceArray(np.zeros((2, 3), dtype=dtype))
        comm.all_reduce(send, total)
        return gathered.host, total.host

    parts = [np.arange(6, dtype=dtype).reshape(2, 3) + 10 * rank for rank in range(size)]
    for gathered, total in world.run(work):
        np.testing.assert_array_equal(gathered, np.concatenate(parts))  # in rank order
        np.testing.assert_array_equal(total, sum(parts[1:], parts[0]))
    assert len(nccl.ids_made) == 1  # rank 0 made the id; the others received it


# -- checkpoints on every backend ----------------------------------------------------------


def test_a_run_resumes_bit_for_bit_on_every_backend(backend, tmp_path):
    """Saved on the backend (host copies), read back onto it (moved to its
    device) and resumed: the uninterrupted run's bits; the file's network on
    NumPy has the bits it had on the device."""
    rng = np.random.default_rng(4)
    data = (rng.random((30, 5)), rng.integers(0, 3, 30))
    options = dict(optimizer="adam", verbose=False)
    full = anynet.Network([5, 4, 3], backend=backend, seed=2)
    full.SGD(data, 3, 7, 0.05, **options)
    part = anynet.Network([5, 4, 3], backend=backend, seed=2)
    part.SGD(data, 1, 7, 0.05, checkpoint=tmp_path / "run.npz", **options)
    saved = anynet.load(tmp_path / "run.npz")
    for on_host, on_device in zip(saved.weights + saved.biases, part.weights + part.biases):
        assert on_host.tobytes() == to_numpy(on_device).tobytes()
    resumed = anynet.resume(tmp_path / "run.npz", data, epochs=3, backend=backend, verbose=False)
    assert resumed.backend.name == backend.name and resumed.backend.device == backend.device
    for ours, theirs in zip(resumed.weights + resumed.biases, full.weights + full.biases):
        assert to_numpy(ours).tobytes() == to_numpy(theirs).tobytes()
