"""anynet train --layers (issue 18 item 2): a network of any layers from the
command line trains as the same network trained from Python, resumes bit for
bit, predicts, and bad specifications are refused naming the item."""

from __future__ import annotations

import numpy as np
import pytest

import anynet
from anynet.cli import main
from anynet.cli.layerspec import parse
from anynet.datasets import load_dataset

SPEC = "conv:3:5,pool:2,relu,dropout:0.2,dense:10:softmax"
COMMON = ["train", "--data", "sample", "--validation-split", "0.25", "--layers", SPEC, "--eta", "0.1", "--seed", "4",
          "--quiet"]


def parameters(path):
    net = anynet.load(path)
    return [net.backend.to_numpy(p) for p in net.weights + net.biases]


def test_the_command_line_trains_the_python_network_and_resumes_it_bit_for_bit(tmp_path, capsys):
    assert main([*COMMON, "--epochs", "2", "--save", str(tmp_path / "full.npz")]) == 0
    assert "network: conv 3x5x5 / pool 2 / relu / dropout 0.2 / dense 10 softmax, log-likelihood cost" in capsys.readouterr().out
    sample = load_dataset("sample", validation_split=0.25)
    net = anynet.Network(parse(SPEC), seed=4)
    net.SGD(sample.train, 2, 10, 0.1, verbose=False)
    for ours, theirs in zip(parameters(tmp_path / "full.npz"), net.weights + net.biases):
        np.testing.assert_array_equal(ours, theirs)
    assert main([*COMMON, "--epochs", "1", "--save", str(tmp_path / "part.npz")]) == 0
    assert main(["train", "--resume", str(tmp_path / "part.npz"), "--epochs", "2", "--quiet"]) == 0
    for ours, theirs in zip(parameters(tmp_path / "part.npz"), parameters(tmp_path / "full.npz")):
        np.testing.assert_array_equal(ours, theirs)
    assert main(["evaluate", str(tmp_path / "full.npz"), "--data", "sample"]) == 0


@pytest.mark.parametrize("spec, message", [
    ("conv:3:30,dense:10:softmax", "the 30x30 filter is larger than the 28x28 image"),
    ("conv:3:5,pool:30,dense:10:softmax", "--layers item 'pool:30': MaxPool2D(pool=(30, 30)): the 30x30 pool is larger than the 24x24 image"),
    ("conv:3,dense:10:softmax", "'conv:3' needs 2 positive whole number"),
    ("spline:3,dense:10:softmax", "unknown item 'spline:3'"),
    ("conv:3:5,relu", "must end with the output layer"),
    ("dense:10:softmax,dropout:x", "needs a probability"),
])
def test_bad_layer_specifications_are_refused_naming_the_item(spec, message, capsys):
    assert main(["train", "--data", "sample", "--layers", spec, "--epochs", "1", "--quiet"]) == 1
    assert message in capsys.readouterr().err


def test_layers_replace_the_dense_flags(capsys):
    assert main([*COMMON, "--epochs", "1", "--sizes", "784,10"]) == 1
    assert "--layers gives the whole network; drop --sizes" in capsys.readouterr().err


def test_a_sweep_of_layer_networks_from_the_command_line_equals_anynet_sweep(tmp_path, capsys):
    spec = "conv:3:5,pool:2,relu,dense:10:softmax"
    assert main(["sweep", "--data", "sample", "--validation-split", "0.25", "--layers", spec, "--eta", "0.05,0.1",
                 "--seeds", "0", "--epochs", "1", "--quiet", "--save-dir", str(tmp_path / "out")]) == 0
    assert "conv 3x5x5 / pool 2 / relu / dense 10 softmax, log-likelihood cost" in capsys.readouterr().out
    sample = load_dataset("sample", validation_split=0.25)
    nets = anynet.sweep(parse(spec), sample.train, 1, 10, [0.05, 0.1], evaluation_data=sample.validation)
    for net, saved in zip(nets, sorted((tmp_path / "out").glob("seed*.npz"))):
        for ours, theirs in zip(parameters(saved), net.weights + net.biases):
            np.testing.assert_array_equal(ours, theirs)


FASHION_CONV_WORDS = ("conv 32x5x5 / relu / pool 2 / dropout 0.25 / conv 64x3x3 / relu / conv 64x3x3 / relu / "
                      "pool 2 / dropout 0.25 / dense 512 relu / dropout 0.5 / dense 10 softmax")


def test_the_fashion_conv_preset_trains_its_documented_conv_net(monkeypatch, capsys, tmp_path):
    """--preset fashion-conv (issue 18 item 2): its layers text goes through
    --layers' parser; the CLI run (two epochs of 128 sample images, mirrored:
    4 mini-batches of 64 each) is the Python run of ``split(preset)`` on the
    mirrored images bit for bit; its layers are the ones docs/cli.md names."""
    from pathlib import Path

    import anynet.datasets
    from anynet.api.presets import PRESETS, split
    from anynet.cli.layerspec import describe
    from anynet.datasets import Dataset, augmented

    sample = load_dataset("sample", dtype="float32")
    (x, y), (vx, vy) = sample.train, sample.test
    small = Dataset(name="small", source="128 sample images", train=(x[:128], y[:128]), validation=(vx[:64], vy[:64]),
                    test=(vx[64:128], vy[64:128]), n_classes=10)
    monkeypatch.setattr(anynet.datasets, "load_dataset", lambda name, **kwargs: small)
    assert main(["train", "--preset", "fashion-conv", "--data", "small", "--epochs", "2", "--quiet",
                 "--save", str(tmp_path / "run.npz")]) == 0
    out = capsys.readouterr().out
    assert f"network: {FASHION_CONV_WORDS}, log-likelihood cost" in out
    assert f"data: {augmented(small, PRESETS['fashion-conv']['augment']).source}\n" in out  # the preset's augmentation
    network, training = split(PRESETS["fashion-conv"])
    training.update(epochs=2)
    reference = anynet.Network(**network)
    assert describe(reference) == FASHION_CONV_WORDS
    reference.SGD(augmented(small, PRESETS["fashion-conv"]["augment"]).train, evaluation_data=small.validation,
                  verbose=False, **training)
    saved = anynet.load(tmp_path / "run.npz")
    assert [layer.config() for layer in saved.model.layers] == [layer.config() for layer in reference.model.layers]
    assert saved.backend.dtype_name == "float32"
    for a, b in zip(saved.weights + saved.biases, reference.weights + reference.biases):
        np.testing.assert_array_equal(a, b)
    assert FASHION_CONV_WORDS in (Path(__file__).resolve().parent.parent / "docs" / "cli.md").read_text()


def test_a_configuration_gives_sizes_or_layers():
    from anynet.api.presets import split
    from anynet.errors import ArgumentError

    network, _ = split({"layers": SPEC, "eta": 0.1})
    assert [layer.config() for layer in network["sizes"]] == [layer.config() for layer in parse(SPEC)]
    with pytest.raises(ArgumentError, match="either sizes or layers"):
        split({"layers": SPEC, "sizes": [784, 10]})


def test_sizes_on_the_command_line_replace_a_presets_layers(capsys):
    assert main(["train", "--preset", "fashion-conv", "--data", "sample", "--validation-split", "0.25", "--sizes",
                 "784,10", "--augment", "mirror", "--epochs", "1", "--quiet"]) == 0
    assert "network: [784, 10], log-likelihood cost" in capsys.readouterr().out
    assert main(["train", "--preset", "fashion-conv", "--data", "sample", "--sizes", "784,10", "--layers", SPEC,
                 "--epochs", "1", "--quiet"]) == 1
    assert "--layers gives the whole network; drop --sizes" in capsys.readouterr().err

