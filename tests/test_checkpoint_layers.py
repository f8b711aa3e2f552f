"""Checkpoints record the layer list (issue 17 item 1): a model of any of
anynet's layers saves and loads with its parameters and predictions equal,
a file's layer list is checked strictly, and the files anynet 0.2.0 wrote
(format version 2: sizes and activations) still load, predict and resume.

tests/data/anynet_0_2_*.npz were written by anynet 0.2.0 itself (the commit
before the layout move, 4bf386f) with tests/data/make_anynet_0_2_files.py;
its predictions were recorded by that code, so they are an oracle this code
did not write."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import anynet
from anynet.errors import ArgumentError, CheckpointError, TooLargeError
from anynet.api.saved import load_run
from anynet.io import checkpoint, npzfile
from anynet.model.costs import LogLikelihoodCost
from anynet.model.layers import Activate, Conv2D, Dense, Dropout, Flatten, MaxPool2D, Reshape, chain
from anynet.model.memory import check_memory
from anynet.model.model import Model
from anynet.model.params import Params, book_lists
from anynet.xp.backend import get_backend

DATA = Path(__file__).parent / "data"
V2_CHECKPOINT, V2_RUN = DATA / "anynet_0_2_checkpoint.npz", DATA / "anynet_0_2_run.npz"


def recorded():
    with np.load(DATA / "anynet_0_2_data.npz", allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def file_contents(path):
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    return json.loads(arrays.pop("header").tobytes()), arrays


def bits(net):
    """Every parameter's bytes, weights then biases (of a Network, or of a Model's list of Params)."""
    weights, biases = book_lists(net.parameters()) if isinstance(net, Model) else (net.weights, net.biases)
    return [(p.dtype.str, p.shape, p.tobytes()) for p in map(np.asarray, weights + biases)]


# -- anynet 0.2.0's files -------------------------------------------------------------


def test_a_checkpoint_of_anynet_0_2_loads_and_predicts():
    header, arrays = file_contents(V2_CHECKPOINT)
    assert header["format_version"] == 2 and header["anynet_version"] == "0.2.0" and "layers" not in header
    net = anynet.load(V2_CHECKPOINT)
    assert net.sizes == [6, 5, 3] and net.cost is anynet.CrossEntropyCost and net.seed == 7
    assert [a.name for a in net.activations] == ["tanh", "sigmoid"]
    assert [layer.config()["type"] for layer in net.model.layers] == ["Dense", "Dense"]
    for name, value in zip(["w0", "w1", "b0", "b1"], net.weights + net.biases):
        assert value.dtype == arrays[name].dtype and np.array_equal(value, arrays[name])
    data = recorded()
    # the same float64 operations in the same order as anynet 0.2.0: the same bits
    assert np.array_equal(net.predict_proba(data["x"]), data["checkpoint_proba"])
    assert np.array_equal(net.predict(data["x"]), data["checkpoint_predict"])


def test_a_run_of_anynet_0_2_resumes_bit_for_bit(tmp_path):
    data = recorded()
    x, y = data["x"], data["y"]
    path = tmp_path / "run.npz"
    shutil.copyfile(V2_RUN, path)
    loaded = load_run(path)
    assert np.array_equal(loaded.net.predict_proba(x), data["run_proba"]) and len(loaded.state.history) == 2
    halfway = bits(loaded.net)
    resumed = anynet.resume(path, (x, y), epochs=4, verbose=False)
    # the uninterrupted run, computed by this code from the same start (the same seed's draws)
    full = anynet.Network([6, 5, 3], "cross-entropy", seed=3)
    full.SGD((x, y), 4, 10, 0.5, lmbda=0.1, optimizer="momentum", verbose=False)
    assert len(resumed.history) == 4 and bits(resumed) == bits(full) != halfway
    # the file the resumed run wrote is this anynet's format, with its layer list
    header, _ = file_contents(path)
    assert header["format_version"] == checkpoint.FORMAT_VERSION == 3 and len(header["layers"]) == 2
    assert bits(anynet.load(path)) == bits(full)


def test_a_version_2_file_relabelled_as_version_1_is_refused(tmp_path):
    """Version 1's digest covers the arrays only: a relabelled version 2 file must not pass."""
    header, arrays = file_contents(V2_CHECKPOINT)
    header["format_version"] = 1
    path = tmp_path / "net.npz"
    with open(path, "wb") as f:
        np.savez(f, header=np.frombuffer(json.dumps(header).encode(), np.uint8), **arrays)
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        anynet.load(path)


# -- a model of any layers -------------------------------------------------------------


def conv_layers():
    """A small network3.py-shaped chain of every kind of layer."""
    return [Reshape((1, 8, 8)), Conv2D(1, 3, (3, 3), flip=True), MaxPool2D((2, 2)), Activate("relu"), Flatten(),
            Dropout(0.25, inverted=False), Dense(27, 10, "tanh"), Dense(10, 4, "softmax")]


def conv_model(dtype="float64"):
    layers = conv_layers()
    params = [p for p in chain.init_params(layers, np.random.default_rng(0), (64,)) if p is not None]
    backend = get_backend("numpy", None, dtype)
    return Model(layers, cost=LogLikelihoodCost, backend=backend, input_shape=(64,),
                 params=[Params(backend.asarray(p.weight), backend.asarray(p.bias)) for p in params])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_conv_net_round_trips(tmp_path, dtype):
    model = conv_model(dtype)
    path = tmp_path / "conv.npz"
    checkpoint.save(model, path, seed=5, classes=["a", "b", "c", "d"])
    header, arrays = file_contents(path)
    assert header["layers"] == [json.loads(json.dumps(layer.config())) for layer in model.layers]
    assert header["layers"][1] == {"type": "Conv2D", "in_channels": 1, "out_channels": 3, "kernel": [3, 3],
                                   "activation": None, "flip": True, "initializer": "default"}
    assert header["input_shape"] == [64] and sorted(arrays) == ["b0", "b1", "b2", "w0", "w1", "w2"]
    assert arrays["w0"].shape == (3, 1, 3, 3) and arrays["b0"].shape == (3,)
    found = checkpoint.read(path)
    loaded = found.model
    assert loaded.layers == model.layers and loaded.input_shape == (64,) and loaded.cost is LogLikelihoodCost
    assert found.seed == 5 and found.classes == ["a", "b", "c", "d"]
    assert bits(loaded) == bits(model)
    x = get_backend("numpy", None, dtype).asarray(np.random.default_rng(1).random((7, 64)))
    assert np.array_equal(loaded.feedforward(x), model.feedforward(x))
    net = anynet.load(path)  # a Network around it predicts, as the model computes
    assert net.classes == ["a", "b", "c", "d"] and net.seed == 5
    assert np.array_equal(net.predict_proba(np.asarray(x)), np.asarray(model.feedforward(x)))


def test_an_mlp_still_loads_as_the_books_network(tmp_path):
    net = anynet.Network([6, 5, 3], "log-likelihood", activation="relu", seed=2)
    net.save(tmp_path / "net.npz")
    loaded = anynet.load(tmp_path / "net.npz")
    assert loaded.sizes == [6, 5, 3] and [a.name for a in loaded.activations] == ["relu", "softmax"]
    assert bits(loaded) == bits(net)


def test_a_conv_net_run_resumes_bit_for_bit(tmp_path):
    """A run file records the layer list too: Adam on a conv net, stopped after
    one epoch and resumed to three, equals the uninterrupted run."""
    def network():
        model = conv_model()
        layers = [layer for layer in model.layers if not isinstance(layer, Dropout)]  # the loop draws no masks yet
        return anynet.Network.from_model(Model(layers, cost=model.cost, backend=model.backend, params=model.params),
                                         seed=4)

    rng = np.random.default_rng(1)
    data = (rng.random((30, 64)), rng.integers(0, 4, 30))
    full = network()
    full.SGD(data, 3, 10, 0.1, optimizer="adam", verbose=False)
    part = network()
    part.SGD(data, 1, 10, 0.1, optimizer="adam", verbose=False, checkpoint=tmp_path / "run.npz")
    assert file_contents(tmp_path / "run.npz")[0]["layers"][1]["type"] == "Conv2D"
    resumed = anynet.resume(tmp_path / "run.npz", data, epochs=3, verbose=False)
    assert bits(resumed) == bits(full) != bits(part) and len(resumed.history) == 3


def rewrite(path, edit):
    """Apply ``edit`` to the header's layer list (or the header), with a consistent digest."""
    header, arrays = file_contents(path)
    edit(header)
    header["sha256"] = npzfile.digest(header, arrays)
    with open(path, "wb") as f:
        np.savez(f, header=np.frombuffer(json.dumps(header).encode(), np.uint8), **arrays)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda h: h["layers"][1].update(type="Conv3D"), r"layer 1 has unknown type 'Conv3D'"),
        (lambda h: h["layers"][1].update(type="__import__"), r"layer 1 has unknown type"),
        (lambda h: h["layers"].__setitem__(0, ["Reshape"]), r"layer 0 has unknown type"),
        (lambda h: h["layers"][1].pop("flip"), r"layer 1 \(Conv2D\) has no flip"),
        (lambda h: h["layers"][2].update(stride=2), r"layer 2 \(MaxPool2D\) has unknown fields \['stride'\]"),
        (lambda h: h["layers"][1].update(kernel=[0, 3]), r"layer 1 \(Conv2D\) has a bad configuration"),
        (lambda h: h["layers"][1].update(out_channels="3"), r"layer 1 \(Conv2D\) has a bad configuration"),
        (lambda h: h["layers"][1].update(out_channels=True), r"layer 1 \(Conv2D\)"),
        (lambda h: h["layers"][5].update(inverted=0), r"layer 5 \(Dropout\): the configuration .* is not one"),
        (lambda h: h["layers"][6].update(activation="eval"), r"layer 6 \(Dense\) has a bad configuration"),
        (lambda h: h["layers"][6].update(activation="softmax"), r"layer 6 \(Dense\): hidden layers cannot use"),
        (lambda h: h["layers"][7].update(activation="sigmoid"), r"LogLikelihoodCost"),
        (lambda h: h["layers"][1].update(in_channels=2), r"do not chain .* takes 2 channels"),
        (lambda h: h["layers"][6].update(n_in=28), r"do not chain .* takes 28 inputs"),
        (lambda h: h["layers"].append({"type": "Flatten", "input_ndim": 1}), r"output layer must be a Dense"),
        (lambda h: h.update(input_shape=[65]), r"do not chain from input_shape \[65\]"),
        (lambda h: h.update(input_shape=[64.0]), r"input_shape must be a list"),
        (lambda h: h.update(layers=[]), r"layers must be a list of 1 to"),
        (lambda h: h.update(layers={"0": "Dense"}), r"layers must be a list"),
        (lambda h: h.update(classes=["a"]), r"classes must be a list of 4"),
        (lambda h: h.update(sizes=[64, 4]), r"unknown fields \['sizes'\]"),
        (lambda h: h.pop("input_shape"), r"lacks input_shape"),
    ],
)
def test_a_bad_layer_list_is_refused_naming_the_file(tmp_path, edit, message):
    path = tmp_path / "conv.npz"
    checkpoint.save(conv_model(), path, classes=["a", "b", "c", "d"])
    rewrite(path, edit)
    with pytest.raises(CheckpointError, match=message) as info:
        checkpoint.read(path)
    assert str(path) in str(info.value)


def test_arrays_that_do_not_fit_the_layers_are_refused(tmp_path):
    path = tmp_path / "conv.npz"
    checkpoint.save(conv_model(), path)
    rewrite(path, lambda h: h["layers"][1].update(kernel=[2, 2], out_channels=3))  # w0 is 3x1x3x3 in the file
    with pytest.raises(CheckpointError, match="do not chain|w0") as info:
        checkpoint.read(path)
    assert str(path) in str(info.value)


def test_a_custom_layer_is_not_saved(tmp_path):
    class Mine(Activate):
        pass

    model = conv_model()
    model.layers = (*model.layers[:3], Mine("relu"), *model.layers[4:])
    with pytest.raises(ArgumentError, match="custom layer"):
        checkpoint.save(model, tmp_path / "x.npz")
    assert not (tmp_path / "x.npz").exists()


# -- shapes and memory from the layers --------------------------------------------------


def test_parameter_shapes_and_count_come_from_the_layers():
    model = conv_model()
    shapes = model.parameter_shapes()
    assert [tuple(p) for p in shapes] == [((3, 1, 3, 3), (3,)), ((10, 27), (10, 1)), ((4, 10), (4, 1))]
    assert [tuple(p.weight.shape) for p in model.params] == [p.weight for p in shapes]
    assert [tuple(p.bias.shape) for p in model.params] == [p.bias for p in shapes]
    assert model.parameter_count() == sum(int(np.prod(a.shape)) for p in model.params for a in p) == 3 * 9 + 3 + 280 + 44
    with pytest.raises(ArgumentError, match="has no sizes"):
        model.sizes
    with pytest.raises(ArgumentError, match="needs its input_shape"):
        Model(conv_layers()[1:], cost=LogLikelihoodCost, backend=model.backend)


class _SmallMachine:
    dtype_name, device_name = "float64", "cpu"

    def __init__(self, free):
        self.free = free

    def available_memory(self):
        return self.free, None


def test_check_memory_counts_a_conv_nets_parameters():
    layers = [Conv2D(1, 1000, (5, 5)), Flatten(), Dense(1000 * 24 * 24, 10, "softmax")]
    count = chain.parameter_count(layers, (1, 28, 28))
    assert count == 1000 * 25 + 1000 + 10 * 576_000 + 10
    need = count * 8 * 7  # the float64 draw and six float64 copies
    check_memory(layers, (1, 28, 28), _SmallMachine(need))
    with pytest.raises(TooLargeError, match=rf"3 layers \(Conv2D, Flatten, Dense\) has {count:,} parameters"):
        check_memory(layers, (1, 28, 28), _SmallMachine(need - 1))


# -- safetensors: the layer list in the metadata ----------------------------------------


def test_a_conv_net_round_trips_through_safetensors(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    model = conv_model("float32")
    net = anynet.Network.from_model(model, seed=3)
    path = tmp_path / "conv.safetensors"
    net.save(path)
    tensors = st.load_file(str(path))  # the safetensors package's reader, not anynet's
    assert {name: t.shape for name, t in tensors.items()} == {
        "layers.1.weight": (3, 1, 3, 3), "layers.1.bias": (3,), "layers.6.weight": (10, 27), "layers.6.bias": (10,),
        "layers.7.weight": (4, 10), "layers.7.bias": (4,)}
    assert np.array_equal(tensors["layers.6.bias"], np.asarray(model.params[1].bias)[:, 0])
    back = anynet.load(path)
    assert back.model.layers == model.layers and back.model.input_shape == (64,) and back.seed == 3
    assert bits(back) == bits(model)
    x = np.random.default_rng(2).random((5, 64)).astype(np.float32)
    assert np.array_equal(back.predict_proba(x), net.predict_proba(x))


def test_a_bad_layer_list_in_safetensors_is_refused(tmp_path):
    from anynet.io import safetensorsfile

    path = tmp_path / "conv.safetensors"
    safetensorsfile.save(conv_model(), path)
    raw = path.read_bytes()
    (length,) = np.frombuffer(raw[:8], "<u8")
    header = json.loads(raw[8:8 + int(length)])
    layers = json.loads(header["__metadata__"]["layers"])
    layers[1]["in_channels"] = 2
    for edit, message in ((dict(layers=json.dumps(layers)), "do not chain .* takes 2 channels"),
                          (dict(sizes="[64, 4]"), r"unknown fields \['sizes'\]"),
                          (dict(format_version="3"), "versions 1 and 2")):
        changed = dict(header, __metadata__={**header["__metadata__"], **edit})
        text = json.dumps(changed).encode()
        text += b" " * (-(8 + len(text)) % 8)
        path.write_bytes(len(text).to_bytes(8, "little") + text + raw[8 + int(length):])
        with pytest.raises(CheckpointError, match=message) as info:
            anynet.load(path)
        assert str(path) in str(info.value)
