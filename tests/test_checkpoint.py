"""Checkpoints: round trips across backends, network2.py's JSON files, and the
refusal of every file that is not a sound checkpoint (truncated, modified,
pickled, inconsistent) with a CheckpointError naming the file.  The helpers
here (a trained network, a hand-written checkpoint, anynet 0.1's writer) are
shared by the other test_checkpoint_*.py files."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import ORDER_RTOL, make_backend, numpy_underneath, rel_diff

import anynet
from anynet.io import npzfile
from anynet.model.activations import Sigmoid
from anynet.io.checkpoint import CheckpointError, arrays_sha256, save

SIZES = [6, 5, 4]
V1_FIXTURE = Path(__file__).parent / "data" / "checkpoint_v1.npz"  # written by anynet 0.1.0's save


def data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, SIZES[0])), rng.integers(0, SIZES[-1], n)


def trained(**kwargs):
    net = anynet.Network(SIZES, seed=7, **kwargs)
    net.SGD(data(), 2, 10, 1.0, verbose=False)
    return net


def host(arrays):
    return [anynet.xp.backend.to_numpy(a) for a in arrays]


def read_npz(path):
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    return json.loads(arrays.pop("header").tobytes()), arrays


def write_npz(path, header, arrays, *, rehash=True, **extra):
    """Write a checkpoint by hand with np.savez, with a consistent digest
    (format version 2: header and arrays; 1: arrays) unless ``rehash`` is False."""
    if rehash:
        digest = arrays_sha256(arrays) if header.get("format_version") == 1 else npzfile.digest(header, arrays)
        header = dict(header, sha256=digest)
    raw = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    with open(path, "wb") as f:
        np.savez(f, header=raw, **arrays, **extra)


def write_v1(path, net):
    """anynet 0.1's save, line for line: format version 1, whose sha256 covers
    the arrays only (the header is not protected)."""
    names = [f"w{i}" for i in range(len(net.weights))] + [f"b{i}" for i in range(len(net.biases))]
    arrays = {n: np.ascontiguousarray(a) for n, a in zip(names, host(net.weights) + host(net.biases))}
    header = {
        "format": "anynet-checkpoint", "format_version": 1, "sizes": net.sizes, "cost": "quadratic",
        "activations": [a.name for a in net.activations], "dtype": "float64", "anynet_version": "0.1.0",
        "seed": net.seed, "sha256": arrays_sha256(arrays),
    }
    raw = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    with open(path, "wb") as f:
        np.savez(f, header=raw, **arrays)


def same_network(a, b) -> bool:
    """Equal in everything a checkpoint records."""
    return (
        a.sizes == b.sizes and a.cost is b.cost and a.seed == b.seed
        and [x.name for x in a.activations] == [x.name for x in b.activations]
        and all(x.dtype == y.dtype and np.array_equal(x, y) for x, y in zip(host(a.weights + a.biases), host(b.weights + b.biases)))
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"cost": "cross-entropy", "activation": "tanh"},
        {"cost": "log-likelihood", "activation": "relu"},
    ],
    ids=["book", "cross-entropy-tanh", "log-likelihood-softmax"],
)
def test_round_trip_numpy_is_bit_identical(tmp_path, kwargs):
    net = trained(**kwargs)
    path = tmp_path / "net.ckpt"
    net_state = np.random.get_state()[1].copy()
    net.save(path)
    loaded = anynet.load(path)

    assert sorted(os.listdir(tmp_path)) == ["net.ckpt"]  # the name as given, no .npz added
    assert np.array_equal(np.random.get_state()[1], net_state)  # loading draws no random numbers
    assert loaded.sizes == net.sizes and loaded.cost is net.cost
    assert [a.name for a in loaded.activations] == [a.name for a in net.activations]
    for a, b in zip(net.weights + net.biases, loaded.weights + loaded.biases):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    x = data(5, seed=1)[0].T
    assert np.array_equal(net.feedforward(x), loaded.feedforward(x))


def test_header_records_the_network(tmp_path):
    net = trained(cost="cross-entropy")
    net.save(tmp_path / "net.npz")
    header, arrays = read_npz(tmp_path / "net.npz")
    assert header["format"] == "anynet-checkpoint" and header["format_version"] == 3
    assert header["layers"] == [
        {"type": "Dense", "n_in": x, "n_out": y, "activation": "sigmoid", "initializer": "default"}
        for x, y in zip(SIZES[:-1], SIZES[1:])
    ]
    assert header["input_shape"] == SIZES[:1] and header["cost"] == "cross-entropy" and header["dtype"] == "float64"
    assert header["seed"] == 7 and header["anynet_version"] == anynet.__version__
    assert sorted(arrays) == ["b0", "b1", "w0", "w1"]
    assert all(a.dtype.str == "<f8" for a in arrays.values())


def test_digest_is_the_documented_one(tmp_path):
    """The recipe of docs/checkpoints.md, so another program can verify a checkpoint: SHA-256
    of the header without sha256 as sorted compact ASCII JSON, a NUL, then per
    array in name order: name NUL dtype NUL shape-list NUL bytes."""
    trained().save(tmp_path / "net.npz")
    header, arrays = read_npz(tmp_path / "net.npz")
    body = {k: v for k, v in header.items() if k != "sha256"}
    sha = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode() + b"\0")
    for name in sorted(arrays):
        sha.update(f"{name}\0{arrays[name].dtype.str}\0{list(arrays[name].shape)}\0".encode() + arrays[name].tobytes())
    assert header["sha256"] == sha.hexdigest()


@pytest.mark.parametrize(
    "combo",
    [("array_api_strict", None, "float64"), ("array_api_strict", "device1", "float64"), ("torch", "cpu", "float64")],
    ids=["strict-default", "strict-device1", "torch-cpu"],
)
def test_save_on_numpy_load_anywhere(tmp_path, combo):
    backend = make_backend(combo)  # skips when the library is missing
    net = trained()
    net.save(tmp_path / "net.npz")
    loaded = anynet.load(tmp_path / "net.npz", backend=combo[0], device=combo[1])

    assert loaded.backend.name == backend.name and loaded.backend.device == backend.device
    test = data(60, seed=2)
    assert loaded.evaluate(test) == net.evaluate(test)
    x = test[0][:8].T
    # NumPy underneath gives NumPy's bits; torch's own matrix products pick their kernels by CPU and may sum in
    # another order (measured 0 on the 2-core Xeon, 2.8e-16 on an AMD EPYC): one forward pass, ORDER_RTOL
    tolerance = 0 if numpy_underneath(backend) else ORDER_RTOL["float64"]
    assert rel_diff(loaded.feedforward(x), net.feedforward(x)) <= tolerance
    for a, b in zip(host(loaded.weights), net.weights):
        assert np.array_equal(a, b)


@pytest.mark.parametrize(
    "combo", [("array_api_strict", "device1", "float32"), ("torch", "cpu", "float64")], ids=["strict-device1-float32", "torch"]
)
def test_save_anywhere_load_on_numpy(tmp_path, combo):
    backend = make_backend(combo)
    net = anynet.Network(SIZES, seed=5, backend=backend.name, device=backend.device, dtype=backend.dtype_name)
    net.save(tmp_path / "net.npz")  # network2's method name
    loaded = anynet.load(tmp_path / "net.npz")
    assert loaded.backend.name == "numpy" and loaded.backend.dtype_name == combo[2]
    for a, b in zip(host(net.weights + net.biases), loaded.weights + loaded.biases):
        assert np.array_equal(a, b)


def test_float32_round_trip(tmp_path):
    net = trained(dtype="float32")
    net.save(tmp_path / "net32.npz")
    header, arrays = read_npz(tmp_path / "net32.npz")
    assert header["dtype"] == "float32" and all(a.dtype == np.float32 for a in arrays.values())
    loaded = anynet.load(tmp_path / "net32.npz")
    assert loaded.backend.dtype_name == "float32"
    for a, b in zip(net.weights + net.biases, loaded.weights + loaded.biases):
        assert b.dtype == np.float32 and np.array_equal(a, b)


def test_load_with_another_dtype(tmp_path):
    net = trained()
    net.save(tmp_path / "net.npz")
    loaded = anynet.load(tmp_path / "net.npz", dtype="float32")
    assert loaded.backend.dtype_name == "float32"
    assert np.array_equal(loaded.weights[0], net.weights[0].astype(np.float32))


def network2_save(sizes, weights, biases, cost_name, filename):
    """network2.py's Network.save, line for line (self.* replaced by arguments)."""
    data = {"sizes": sizes, "weights": [w.tolist() for w in weights], "biases": [b.tolist() for b in biases], "cost": str(cost_name)}
    f = open(filename, "w")
    json.dump(data, f)
    f.close()


def book_feedforward(weights, biases, a):
    for b, w in zip(biases, weights):
        a = 1.0 / (1.0 + np.exp(-(np.dot(w, a) + b)))
    return a


@pytest.mark.parametrize("cost_name", ["CrossEntropyCost", "QuadraticCost"])
def test_loads_network2_json(tmp_path, cost_name):
    rng = np.random.default_rng(3)
    biases = [rng.standard_normal((y, 1)) for y in SIZES[1:]]
    weights = [rng.standard_normal((y, x)) / np.sqrt(x) for x, y in zip(SIZES[:-1], SIZES[1:])]
    path = tmp_path / "net2"  # network2.py users pick any name
    network2_save(SIZES, weights, biases, cost_name, path)

    net = anynet.load(path)
    assert net.cost is getattr(anynet, cost_name)
    assert [a.name for a in net.activations] == ["sigmoid", "sigmoid"]
    X, y = data(50, seed=4)
    expected = book_feedforward(weights, biases, X.T)
    assert rel_diff(net.feedforward(X.T), expected) == 0  # measured 0
    assert net.evaluate((X, y)) == int(np.sum(np.argmax(expected, axis=0) == y))


@pytest.mark.parametrize("cost_name", ["os.system", "__import__", "Network", ""])
def test_network2_json_unknown_cost_is_refused(tmp_path, cost_name):
    net = trained()
    path = tmp_path / "net.json"
    network2_save(SIZES, net.weights, net.biases, cost_name, path)
    with pytest.raises(CheckpointError, match="unknown cost") as info:
        anynet.load(path)
    assert str(path) in str(info.value)


def test_network2_json_with_nan_is_refused(tmp_path):
    net = trained()
    weights = [w.copy() for w in net.weights]
    weights[1][0, 0] = np.nan
    network2_save(SIZES, weights, net.biases, "QuadraticCost", tmp_path / "nan.json")
    with pytest.raises(CheckpointError, match="NaN"):
        anynet.load(tmp_path / "nan.json")


def test_network2_json_wrong_shapes_are_refused(tmp_path):
    net = trained()
    network2_save([6, 4, 5], net.weights, net.biases, "QuadraticCost", tmp_path / "bad.json")
    with pytest.raises(CheckpointError, match="shape"):
        anynet.load(tmp_path / "bad.json")


@pytest.fixture
def checkpoint(tmp_path):
    path = tmp_path / "net.npz"
    trained().save(path)
    return path


@pytest.mark.parametrize("keep", [0.3, 0.95, -10], ids=["30%", "95%", "10-bytes-short"])
def test_truncated_file_is_refused(checkpoint, keep):
    raw = checkpoint.read_bytes()
    checkpoint.write_bytes(raw[: int(len(raw) * keep)] if keep > 0 else raw[:keep])
    with pytest.raises(CheckpointError, match="truncated|corrupt|not an anynet") as info:
        anynet.load(checkpoint)
    assert str(checkpoint) in str(info.value)


def test_flipped_byte_in_an_array_is_refused(checkpoint):
    raw = bytearray(checkpoint.read_bytes())
    _, arrays = read_npz(checkpoint)
    at = raw.find(arrays["w1"].tobytes()) + 3
    raw[at] ^= 0x01
    checkpoint.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError) as info:
        anynet.load(checkpoint)
    assert str(checkpoint) in str(info.value)


def test_rewritten_arrays_fail_the_checksum(checkpoint):
    header, arrays = read_npz(checkpoint)
    arrays["w0"] = arrays["w0"] + 1e-9  # a well-formed archive whose numbers changed
    write_npz(checkpoint, header, arrays, rehash=False)
    with pytest.raises(CheckpointError, match="checksum mismatch") as info:
        anynet.load(checkpoint)
    assert str(checkpoint) in str(info.value)


class Payload:
    """Unpickling this creates a directory: proof that code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_pickle_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"sizes": SIZES, "weights": Payload(marker)})
    pickle.loads(payload)  # the payload is live ...
    assert marker.is_dir()
    marker.rmdir()
    path = tmp_path / "net.npz"  # ... and hides behind a checkpoint's name
    path.write_bytes(payload)
    with pytest.raises(CheckpointError, match="pickle") as info:
        anynet.load(path)
    assert str(path) in str(info.value)
    assert not marker.exists()


def test_protocol_0_pickle_is_refused(tmp_path):
    path = tmp_path / "old.pkl"
    path.write_bytes(pickle.dumps({"sizes": SIZES}, protocol=0))
    with pytest.raises(CheckpointError, match="pickle"):
        anynet.load(path)


@pytest.mark.parametrize("name", ["w0", "extra"])
def test_npz_with_object_array_is_refused_without_running_it(tmp_path, checkpoint, name):
    marker = tmp_path / "pwned"
    header, arrays = read_npz(checkpoint)
    arrays[name] = np.array([Payload(marker)], dtype=object)
    raw = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    with open(checkpoint, "wb") as f:
        np.savez(f, header=raw, **arrays)
    with pytest.raises(CheckpointError, match="pickle" if name == "w0" else "unexpected arrays extra") as info:
        anynet.load(checkpoint)
    assert str(checkpoint) in str(info.value)
    assert not marker.exists()


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda h, a: a.update(w0=a["w0"].T.copy()), "shape"),
        (lambda h, a: a.pop("b1"), "missing arrays b1"),
        (lambda h, a: a.update(w2=np.zeros((2, 2))), "unexpected arrays w2"),
        (lambda h, a: h.update(cost="os.system"), "unknown cost"),
        (lambda h, a: h["layers"][1].update(activation="eval"), r"layer 1 \(Dense\) has a bad configuration"),
        (lambda h, a: h["layers"][0].update(activation="softmax"), "hidden layers cannot use softmax"),
        (lambda h, a: h["layers"][1].update(activation="softmax"), "QuadraticCost cannot follow a softmax"),
        (lambda h, a: h["layers"][1].update(n_in=4), "do not chain"),
        (lambda h, a: h.update(format_version=4), "format version 4"),
        (lambda h, a: h.update(format="something-else"), "not an anynet checkpoint"),
        (lambda h, a: h.update(input_shape=[6, "5"]), "input_shape"),
        (lambda h, a: h.update(dtype="float16"), "dtype"),
        (lambda h, a: h.pop("sha256"), "lacks sha256"),
        (lambda h, a: a.update({k: v.astype(np.float32) for k, v in a.items()}), "float32"),
    ],
    ids=["shape", "missing", "extra", "cost", "activation", "hidden-softmax", "cost-output", "chain", "version", "format", "input-shape", "dtype", "no-sha", "array-dtype"],
)
def test_inconsistent_checkpoint_is_refused(checkpoint, mutate, message):
    header, arrays = read_npz(checkpoint)
    mutate(header, arrays)
    write_npz(checkpoint, header, arrays, rehash="sha256" in header)
    with pytest.raises(CheckpointError, match=message) as info:
        anynet.load(checkpoint)
    assert str(checkpoint) in str(info.value)


@pytest.mark.parametrize(
    "content",
    [b"", b"hello world\n", b"\x93NUMPY\x01\x00", b"\x1f\x8b\x08\x00", b"[1, 2, 3]", b"{not json"],
    ids=["empty", "text", "npy", "gzip", "json-list", "bad-json"],
)
def test_other_files_are_refused(tmp_path, content):
    path = tmp_path / "net.npz"
    path.write_bytes(content)
    with pytest.raises(CheckpointError) as info:
        anynet.load(path)
    assert str(path) in str(info.value)


def test_npz_without_header_is_refused(tmp_path):
    buffer = io.BytesIO()
    np.savez(buffer, w0=np.zeros((5, 6)))
    (tmp_path / "plain.npz").write_bytes(buffer.getvalue())
    with pytest.raises(CheckpointError, match="header"):
        anynet.load(tmp_path / "plain.npz")


def test_failed_write_keeps_the_old_checkpoint(checkpoint, monkeypatch):
    before = checkpoint.read_bytes()

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np.lib.format, "write_array", disk_full)
    with pytest.raises(OSError, match="no space left on device") as info:  # an OutputPathError naming the file
        trained(cost="cross-entropy").save(checkpoint)
    assert str(info.value) == f"could not write {checkpoint}: no space left on device; the previous {checkpoint.name} is intact"
    assert checkpoint.read_bytes() == before
    assert os.listdir(checkpoint.parent) == [checkpoint.name]


def test_overwrite_leaves_no_temporary_files(checkpoint):
    net = trained(cost="cross-entropy")
    net.save(checkpoint)
    assert os.listdir(checkpoint.parent) == [checkpoint.name]
    assert anynet.load(checkpoint).cost is anynet.CrossEntropyCost


def test_custom_activation_cannot_be_saved(tmp_path):
    class MySigmoid(Sigmoid):
        pass

    net = anynet.Network(SIZES, seed=1, activation=MySigmoid())
    with pytest.raises(ValueError, match="custom activation"):
        net.save(tmp_path / "net.npz")
    assert os.listdir(tmp_path) == []


def test_backend_errors_are_not_checkpoint_errors(checkpoint):
    with pytest.raises(ValueError, match="numpy has only the 'cpu' device") as info:
        anynet.load(checkpoint, device="cuda:0")
    assert not isinstance(info.value, CheckpointError)


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        anynet.load(tmp_path / "nope.npz")


_LOAD_CHILD = r"""
import json, resource, sys, tracemalloc
limit = int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
import anynet
from anynet.errors import CheckpointError
tracemalloc.start()
try:
    anynet.load(sys.argv[1])
    outcome, message = "loaded", ""
except CheckpointError as exc:
    outcome, message = "refused", str(exc)
print(json.dumps({"outcome": outcome, "message": message, "peak": tracemalloc.get_traced_memory()[1]}))
"""


def load_in_subprocess(path, *, timeout=120, memory_limit=2 << 30):
    """``anynet.load(path)`` in a fresh interpreter under an address-space limit
    and a timeout, so a regression that hangs or eats memory fails the test
    instead of taking the run down.  Returns the child's report: outcome
    ("loaded" or "refused"), message, and peak (bytes traced by tracemalloc;
    NumPy reports its array buffers there)."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    try:
        result = subprocess.run(
            [sys.executable, "-c", _LOAD_CHILD, str(path), str(memory_limit)],
            capture_output=True, text=True, timeout=timeout, env=env, cwd=Path(__file__).parent.parent, check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"anynet.load({path}) was still running after {timeout} s")
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])
