"""``anynet evaluate --data FILE`` maps FILE's labels through the classes the
network was trained on (issue 20, item 6): a file with a subset of the
classes, or with them in another order, is scored against the right outputs,
and a label the network does not know is an error that names it."""

from __future__ import annotations

import numpy as np
import pytest

import anynet
from anynet.cli import main

NAMES = ["bird", "cat", "dog"]


def write_csv(path, labels, seed):
    rng = np.random.default_rng(seed)
    X = rng.random((len(labels), 4)) + np.array([[0, 1, 2, 3]]) * np.array([[NAMES.index(l) if l in NAMES else 0]
                                                                          for l in labels]) * 0.3
    rows = ["species,a,b,c,d"] + [f"{label},{','.join(f'{v:.4f}' for v in x)}" for label, x in zip(labels, X)]
    path.write_text("\n".join(rows) + "\n")
    return X


def run(capsys, argv):
    status = main(argv)
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture
def trained(tmp_path, capsys):
    labels = [NAMES[i % 3] for i in range(90)]
    write_csv(tmp_path / "train.csv", labels, 0)
    path = tmp_path / "run.npz"
    status, out, err = run(capsys, ["train", "--data", str(tmp_path / "train.csv"), "--sizes", "4,6,3", "--epochs", "5",
                                    "--batch-size", "10", "--eta", "2", "--seed", "0", "--quiet", "--save", str(path)])
    assert status == 0, err
    return path


@pytest.mark.parametrize("labels", [["dog", "cat"] * 10, ["dog", "bird"] * 10, ["cat", "dog", "bird"] * 7],
                         ids=["subset", "subset-out-of-order", "all"])
def test_evaluate_scores_the_files_labels_by_the_runs_classes(trained, tmp_path, capsys, labels):
    X = write_csv(tmp_path / "test.csv", labels, 1)
    net = anynet.load(trained)
    expected = sum(NAMES[int(i)] == label for i, label in zip(net.predict(X), labels))
    status, out, err = run(capsys, ["evaluate", str(trained), "--data", str(tmp_path / "test.csv")])
    assert status == 0, err
    assert out.startswith(f"training accuracy {100 * expected / len(labels):.2f}% ({expected}/{len(labels)})"), out


def test_evaluate_names_a_label_the_network_does_not_know(trained, tmp_path, capsys):
    write_csv(tmp_path / "test.csv", ["cat", "dog", "fish"] * 5, 1)  # three classes, one renamed
    status, out, err = run(capsys, ["evaluate", str(trained), "--data", str(tmp_path / "test.csv")])
    assert status == 1 and out == ""
    assert err == (f"anynet: error: {tmp_path / 'test.csv'}: label 'fish' is not one of the 3 classes the network "
                   "was trained on (bird, cat, dog)\n")
