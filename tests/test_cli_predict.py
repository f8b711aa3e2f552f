"""``anynet predict`` prints a header, the input of each row and the class
names the data gives, and calls a non-softmax output layer's activations
outputs, not probabilities (issue 19); class names live in the Dataset and in
the checkpoint."""

from __future__ import annotations

import csv
import io
import shutil

import numpy as np
import pytest

import anynet
from anynet.cli import main
from anynet.datasets import CLASS_NAMES, Dataset, load_dataset
from anynet.datasets.sample import SAMPLE_FILES
from anynet.errors import ArgumentError, CheckpointError

FASHION = list(CLASS_NAMES["fashion-mnist"])
SMALL = ["--data", "sample", "--sizes", "784,10,10", "--batch-size", "20", "--eta", "1.0", "--seed", "3", "--quiet",
         "--epochs", "1"]


def run(capsys, argv):
    status = main(argv)
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A sigmoid network (the book's default) and a softmax one, trained on the sample."""
    where = tmp_path_factory.mktemp("models")
    paths = {"sigmoid": where / "sigmoid.npz", "softmax": where / "softmax.npz"}
    assert main(["train", *SMALL, "--save", str(paths["sigmoid"])]) == 0
    assert main(["train", *SMALL, "--cost", "log-likelihood", "--save", str(paths["softmax"])]) == 0
    return paths


def test_the_sample_and_fashion_mnist_name_their_classes(tmp_path, monkeypatch):
    assert load_dataset("sample").class_names == FASHION
    assert FASHION[:2] == ["T-shirt/top", "Trouser"] and FASHION[-1] == "Ankle boot"
    for name in ("fashion-mnist", "kmnist"):
        (tmp_path / name).mkdir()
        for path in SAMPLE_FILES.values():
            shutil.copy(path, tmp_path / name / path.name.removeprefix("sample-"))
    monkeypatch.setenv("ANYNET_DATA", str(tmp_path))
    assert load_dataset("fashion-mnist").class_names == FASHION
    assert load_dataset("kmnist", validation_split=0.1).class_names == list(CLASS_NAMES["kmnist"])
    shutil.rmtree(tmp_path / "kmnist")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.warns(anynet.datasets.AnynetDataWarning):
        stand_in = load_dataset("kmnist", download=False, fallback_to_sample=True)
    assert stand_in.class_names == FASHION  # the sample's own names, never KMNIST's for Fashion-MNIST images
    with pytest.raises(ArgumentError, match="2 class_names given for n_classes=3"):
        Dataset("d", "s", (np.zeros((1, 2)), np.zeros(1, int)), None, None, 3, class_names=["a", "b"])


def test_the_checkpoint_records_class_names(models, tmp_path):
    net = anynet.load(models["sigmoid"])
    assert net.classes == list(range(10)) and net.class_names == FASHION
    plain = anynet.Network([4, 3], seed=0)
    plain.save(tmp_path / "plain.npz")
    assert anynet.load(tmp_path / "plain.npz").class_names is None
    plain.class_names = ["a", 1, "c"]
    plain.save(tmp_path / "bad.npz")
    with pytest.raises(CheckpointError, match="class_names must be a list of 3 strings"):
        anynet.load(tmp_path / "bad.npz")


def test_predict_prints_a_header_inputs_and_class_names(models, capsys, tmp_path):
    X = load_dataset("sample").test[0][:6]
    expected = np.argmax(anynet.load(models["sigmoid"]).predict_proba(X), axis=1)
    np.save(tmp_path / "x.npy", X)
    status, out, err = run(capsys, ["predict", str(models["sigmoid"]), str(tmp_path / "x.npy")])
    assert status == 0 and err == "", err
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["input", "label", "class"]
    assert rows[1:] == [[str(i + 1), str(k), FASHION[k]] for i, k in enumerate(expected)]
    PIL = pytest.importorskip("PIL.Image")
    images = tmp_path / "images"
    images.mkdir()
    for i, row in enumerate(X[:2]):
        PIL.fromarray(np.round(row.reshape(28, 28) * 255).astype(np.uint8), mode="L").save(images / f"shoe{i}.png")
    status, out, err = run(capsys, ["predict", str(models["sigmoid"]), str(images / "shoe1.png"), str(images / "shoe0.png")])
    assert status == 0, err
    rows = list(csv.reader(io.StringIO(out)))
    assert [r[0] for r in rows[1:]] == [str(images / "shoe1.png"), str(images / "shoe0.png")]
    assert [r[1] for r in rows[1:]] == [str(expected[1]), str(expected[0])]


def test_proba_says_outputs_unless_the_output_layer_is_softmax(models, capsys, tmp_path):
    np.save(tmp_path / "x.npy", load_dataset("sample").test[0][:20])
    status, out, err = run(capsys, ["predict", str(models["sigmoid"]), str(tmp_path / "x.npy"), "--proba"])
    assert status == 0
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["input", "label", "class", *(f"output {name}" for name in FASHION)]
    assert "probabilit" not in out and "not probabilities" in err
    sums = [sum(float(v) for v in row[3:]) for row in rows[1:]]
    assert max(abs(s - 1) for s in sums) > 0.05  # sigmoid outputs: they do not sum to 1
    status, out, err = run(capsys, ["predict", str(models["softmax"]), str(tmp_path / "x.npy"), "--proba"])
    assert status == 0 and err == "", err
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["input", "label", "class", *(f"probability {name}" for name in FASHION)]
    # 10 values printed to 6 significant digits: each within 5e-7 relative, the sum within 1e-5
    assert all(abs(sum(float(v) for v in row[3:]) - 1) < 1e-5 for row in rows[1:])
