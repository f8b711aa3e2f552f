"""Weights as safetensors: ``net.save("w.safetensors")`` and ``anynet.load``
of it; the file opens with ``safetensors.numpy`` / ``safetensors.torch`` in a
Python that cannot import anynet; a damaged file is refused by name."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys

import numpy as np
import pytest

import anynet
from anynet.errors import CheckpointError
from anynet.io import safetensorsfile

st = pytest.importorskip("safetensors.numpy")


def trained(dtype="float64", sizes=(5, 7, 6, 3), **kwargs):
    net = anynet.Network(list(sizes), "log-likelihood", dtype=dtype, seed=4, **kwargs)
    rng = np.random.default_rng(0)
    net.SGD((rng.normal(size=(30, sizes[0])), rng.integers(0, sizes[-1], 30)), 1, 10, 0.5, verbose=False)
    return net


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_save_and_load_round_trip_bit_for_bit(tmp_path, dtype):
    net = trained(dtype, activation=["relu", "tanh"])
    net.classes = ["a", "b", "c"]
    path = tmp_path / "w.safetensors"
    net.save(path)
    back = anynet.load(path)
    assert (back.sizes, back.cost, back.seed) == (net.sizes, net.cost, 4)
    assert [type(a) for a in back.activations] == [anynet.ReLU, anynet.Tanh, anynet.Softmax]
    assert back.backend.dtype_name == dtype and back.classes == ["a", "b", "c"]
    for mine, theirs in zip(net.weights + net.biases, back.weights + back.biases):
        assert mine.dtype == theirs.dtype and mine.shape == theirs.shape
        assert np.array_equal(mine, theirs)
    x = np.random.default_rng(1).normal(size=(4, 5))
    assert np.array_equal(back.predict_proba(x), net.predict_proba(x))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.safetensors"]


def test_names_shapes_and_metadata(tmp_path):
    net = trained("float32")
    path = tmp_path / "w.safetensors"
    net.save(path)
    tensors = st.load_file(str(path))
    assert {name: t.shape for name, t in tensors.items()} == {
        "layers.0.weight": (7, 5), "layers.0.bias": (7,), "layers.1.weight": (6, 7), "layers.1.bias": (6,),
        "layers.2.weight": (3, 6), "layers.2.bias": (3,),
    }
    assert all(t.dtype == np.float32 for t in tensors.values())
    assert np.array_equal(tensors["layers.1.bias"], net.biases[1][:, 0])
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    metadata = json.loads(raw[8 : 8 + length])["__metadata__"]
    assert metadata == {
        "format": "anynet-weights", "format_version": "1", "layers": '["dense", "dense", "dense"]',
        "sizes": "[5, 7, 6, 3]", "activations": '["sigmoid", "sigmoid", "softmax"]', "cost": "log-likelihood",
        "dtype": "float32", "anynet_version": anynet.__version__, "seed": "4", "classes": "null",
    }


# A Python in which anynet cannot be imported (isolated mode, and a finder that
# refuses it even from the editable install) loads the file with safetensors
# alone and runs the network from the metadata: torch when it is installed.
WITHOUT_ANYNET = r"""
import importlib.util, json, sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "anynet":
            raise ImportError("anynet is not installed here")
sys.meta_path.insert(0, Block())
try:
    import anynet
except ImportError:
    pass
else:
    raise SystemExit("anynet was importable")
import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file

NUMPY = {"sigmoid": lambda z: 1 / (1 + np.exp(-z)), "tanh": np.tanh, "relu": lambda z: np.maximum(z, 0),
         "softmax": lambda z: np.exp(z - z.max(1, keepdims=True)) / np.exp(z - z.max(1, keepdims=True)).sum(1, keepdims=True)}
torch = importlib.util.find_spec("torch") and __import__("torch")
for path, x_path, out in zip(*[iter(sys.argv[1:])] * 3):
    with safe_open(path, "np") as f:
        acts = json.loads(f.metadata()["activations"])
    w, a = load_file(path), np.load(x_path)
    for i, act in enumerate(acts):
        a = NUMPY[act](a @ w[f"layers.{i}.weight"].T + w[f"layers.{i}.bias"])
    np.save(out + "-numpy.npy", a)
    if torch:
        from safetensors.torch import load_file as load_torch
        t, a = load_torch(path), torch.from_numpy(np.load(x_path))
        for i, act in enumerate(acts):
            z = torch.nn.functional.linear(a, t[f"layers.{i}.weight"], t[f"layers.{i}.bias"])
            a = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu, "softmax": lambda z: torch.softmax(z, 1)}[act](z)
        np.save(out + "-torch.npy", a.numpy())
"""


def test_loadable_by_safetensors_alone(tmp_path):
    nets, args = {}, []
    for dtype in ("float32", "float64"):
        nets[dtype] = trained(dtype, activation=["tanh", "relu"])
        nets[dtype].save(tmp_path / f"{dtype}.safetensors")
        np.save(tmp_path / f"x-{dtype}.npy", np.random.default_rng(2).normal(size=(9, 5)).astype(dtype))
        args += [str(tmp_path / f"{dtype}.safetensors"), str(tmp_path / f"x-{dtype}.npy"), str(tmp_path / dtype)]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-I", "-c", WITHOUT_ANYNET, *args],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    # the same formulas in another order: a few ulps of the dtype
    for dtype, tolerance in (("float32", 1e-5), ("float64", 1e-12)):
        want = nets[dtype].predict_proba(np.load(tmp_path / f"x-{dtype}.npy"))
        outputs = sorted(tmp_path.glob(f"{dtype}-*.npy"))
        assert tmp_path / f"{dtype}-numpy.npy" in outputs
        for path in outputs:
            got = np.load(path)
            assert got.dtype == want.dtype and np.max(np.abs(got - want)) <= tolerance, path.name


def damaged_files(good: bytes):
    (length,) = struct.unpack("<Q", good[:8])
    header = json.loads(good[8 : 8 + length])
    data = good[8 + length :]

    def rebuilt(change):
        h = json.loads(json.dumps(header))
        change(h)
        text = json.dumps(h).encode()
        return struct.pack("<Q", len(text)) + text + data

    yield "empty", b"", "empty"
    yield "length only", good[:8], "neither an anynet checkpoint (.npz), anynet weights (.safetensors)"
    yield "half the header", good[: 8 + length // 2], "truncated"
    yield "one byte short", good[:-1], "truncated"
    yield "one byte more", good + b"\0", "padded"
    yield "huge header length", struct.pack("<Q", 1 << 32) + good[8:], "more than"
    yield "header not JSON", struct.pack("<Q", length) + b"{" + b"x" * (length - 1) + data, "not valid JSON"
    yield "no metadata", rebuilt(lambda h: h.pop("__metadata__")), "without anynet's metadata"
    yield "other format", rebuilt(lambda h: h["__metadata__"].update(format="gpt")), "not anynet weights"
    yield "newer version", rebuilt(lambda h: h["__metadata__"].update(format_version="9")), "format version"
    yield "bad sizes", rebuilt(lambda h: h["__metadata__"].update(sizes="[5, -1, 6, 3]")), "sizes"
    yield "sizes not JSON", rebuilt(lambda h: h["__metadata__"].update(sizes="[5,")), "not valid JSON"
    yield "unknown cost", rebuilt(lambda h: h["__metadata__"].update(cost="hinge")), "cost"
    yield "unknown field", rebuilt(lambda h: h["__metadata__"].update(pickle="yes")), "unknown fields"
    yield "conv layer", rebuilt(lambda h: h["__metadata__"].update(layers='["conv2d"]')), "dense layers only"
    yield "missing tensor", rebuilt(lambda h: h.pop("layers.2.bias")), "missing tensors layers.2.bias"
    yield "extra tensor", rebuilt(lambda h: h.update({"extra": h["layers.2.bias"]})), "unexpected tensors extra"
    yield "wrong shape", rebuilt(lambda h: h["layers.0.weight"].update(shape=[5, 7])), "shape"
    yield "wrong dtype", rebuilt(lambda h: h["layers.0.weight"].update(dtype="F32")), "F32"
    yield "overlap", rebuilt(lambda h: h["layers.2.bias"].update(data_offsets=[0, 24])), "overlap"


def test_damaged_files_are_refused_by_name(tmp_path):
    net = trained()
    good_path = tmp_path / "good.safetensors"
    net.save(good_path)
    good = good_path.read_bytes()
    for k, (what, data, message) in enumerate(damaged_files(good)):
        path = tmp_path / f"bad-{k}.safetensors"
        path.write_bytes(data)
        with pytest.raises(CheckpointError) as caught:
            anynet.load(path)
        named, said = str(caught.value).split(": ", 1)
        assert named == str(path) and message in said, (what, str(caught.value))


def test_nan_weights_are_refused_on_save_and_on_load(tmp_path):
    net = trained()
    net.weights = [w.copy() for w in net.weights]
    net.weights[1][0, 0] = np.nan
    with pytest.raises(anynet.errors.TrainingDiverged):
        net.save(tmp_path / "w.safetensors")
    assert not (tmp_path / "w.safetensors").exists()
    net.save(tmp_path / "w.safetensors", allow_nonfinite=True)
    with pytest.raises(CheckpointError, match="w.safetensors"):
        anynet.load(tmp_path / "w.safetensors")


def test_the_suffix_chooses_the_format(tmp_path):
    net = trained()
    net.save(tmp_path / "W.SafeTensors")
    net.save(tmp_path / "w.npz")
    assert safetensorsfile.looks_like((tmp_path / "W.SafeTensors").read_bytes()[:9])
    assert (tmp_path / "w.npz").read_bytes()[:4] == b"PK\x03\x04"
    with pytest.raises(CheckpointError, match="no training run"):
        anynet.resume(tmp_path / "W.SafeTensors", (np.zeros((2, 5)), np.zeros(2, dtype=int)))


def test_a_network2_json_file_with_leading_spaces_is_still_json(tmp_path):
    """The content sniff: eight spaces and a ``{`` are not a safetensors length."""
    net = anynet.Network([2, 3, 1], seed=0)
    document = {"sizes": [2, 3, 1], "cost": "CrossEntropyCost",
                "weights": [w.tolist() for w in net.weights], "biases": [b.tolist() for b in net.biases]}
    path = tmp_path / "net.json"
    path.write_text(" " * 8 + json.dumps(document))
    back = anynet.load(path)
    assert all(np.array_equal(a, b) for a, b in zip(back.weights, net.weights))
