"""Regression on the command line: a CSV file whose target column is
real-valued trains a linear-output network with the quadratic cost and is
reported by RMSE and R^2 (checked against scikit-learn's metrics on the
network's own predictions); its run resumes bit for bit, and evaluate and
predict read it back; whole-number targets stay classes unless --task
regression says otherwise."""

from __future__ import annotations

import json

import numpy as np
import pytest

import anynet
from anynet.cli import main
from anynet.datasets import load_dataset

REGRESSION = ["--target", "price", "--sizes", "3,12,1", "--eta", "0.01", "--optimizer", "adam", "--activation", "relu",
              "--batch-size", "16", "--validation-split", "0.25", "--seed", "1", "--quiet"]


def run(capsys, argv):
    status = main(argv)
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture
def table(tmp_path):
    """400 rows of y = sin(2a) + b^2 + c/2 + noise, written to 4 decimals (real-valued)."""
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (400, 3))
    y = np.sin(2 * X[:, 0]) + X[:, 1] ** 2 + 0.5 * X[:, 2] + 0.01 * rng.standard_normal(400)
    path = tmp_path / "houses.csv"
    rows = "".join(",".join(f"{v:.5f}" for v in row) + f",{t:.4f}\n" for row, t in zip(X, y))
    path.write_text("a,b,c,price\n" + rows)
    return path


def test_a_real_valued_target_trains_a_regressor(capsys, tmp_path, table):
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    run_file, log = tmp_path / "run.npz", tmp_path / "log.jsonl"
    status, out, _ = run(capsys, ["train", "--data", str(table), *REGRESSION, "--epochs", "4",
                                  "--save", str(run_file), "--log", str(log)])
    assert status == 0
    assert "regression targets from column 4 ('price')" in out and "quadratic cost, relu/linear" in out
    assert "accuracy" not in out and out.count("validation RMSE") == 5  # 4 epochs and the closing line
    net = anynet.load(run_file)
    assert [a.name for a in net.activations] == ["relu", "linear"] and net.cost.name == "quadratic"
    # The scores against scikit-learn's, on the network's own predictions of the validation rows.
    dataset = load_dataset(str(table), label_column="price", task="regression", validation_split=0.25)
    X, y = dataset.validation
    predicted = net.predict_proba(X)
    rmse = np.sqrt(sklearn_metrics.mean_squared_error(y, predicted))
    r2 = sklearn_metrics.r2_score(y, predicted)
    last = json.loads(log.read_text().splitlines()[-1])
    assert last["validation_rmse"] == pytest.approx(rmse, rel=1e-12)
    assert last["validation_r2"] == pytest.approx(r2, rel=1e-12)
    assert f"Last epoch 3: validation RMSE {rmse:.6g}, R^2 {r2:.4f}" in out
    assert r2 > 0.5  # measured 0.94 after 4 epochs; an untrained network scores below 0


def test_a_regression_run_resumes_evaluates_and_predicts(capsys, tmp_path, table):
    whole, part = tmp_path / "whole.npz", tmp_path / "part.npz"
    run(capsys, ["train", "--data", str(table), *REGRESSION, "--epochs", "3", "--save", str(whole)])
    run(capsys, ["train", "--data", str(table), *REGRESSION, "--epochs", "2", "--save", str(part)])
    status, out, _ = run(capsys, ["train", "--resume", str(part), "--epochs", "3", "--quiet"])
    assert status == 0 and "Epoch 2: validation RMSE" in out
    ours, theirs = anynet.load(part), anynet.load(whole)
    for a, b in zip(ours.weights + ours.biases, theirs.weights + theirs.biases):
        assert np.asarray(a).tobytes() == np.asarray(b).tobytes()
    status, out, _ = run(capsys, ["evaluate", str(whole)])
    assert status == 0 and out.startswith("validation RMSE ") and "R^2" in out
    features = tmp_path / "rows.csv"
    features.write_text("0.5,-0.2,0.1\n-0.3,0.9,0.0\n")
    status, out, _ = run(capsys, ["predict", str(whole), str(features)])
    expected = theirs.predict_proba(np.array([[0.5, -0.2, 0.1], [-0.3, 0.9, 0.0]]))[:, 0]
    assert status == 0 and out.splitlines() == ["input,price", *(f"{i},{v:.6g}" for i, v in enumerate(expected, 1))]


def test_whole_number_targets_are_classes_unless_told(capsys, tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b,price\n" + "".join(f"{i % 3},{i % 5},{100 + 10 * (i % 2)}\n" for i in range(40)))
    common = ["train", "--data", str(path), "--target", "price", "--epochs", "1", "--batch-size", "8", "--seed", "0",
              "--quiet", "--eta", "0.01"]
    status, out, _ = run(capsys, [*common, "--sizes", "2,4,2"])
    assert status == 0 and "2 classes" in out and "accuracy" in out
    status, out, _ = run(capsys, [*common, "--sizes", "2,4,1", "--task", "regression"])
    assert status == 0 and "regression targets" in out and "training RMSE" in out


def test_regression_refuses_a_classification_cost_and_text_targets(capsys, tmp_path, table):
    status, _, err = run(capsys, ["train", "--data", str(table), *REGRESSION, "--cost", "log-likelihood"])
    assert status != 0 and "regression trains the quadratic cost, not --cost log-likelihood" in err
    text = tmp_path / "text.csv"
    text.write_text("a,kind\n1,cat\n2,dog\n")
    status, _, err = run(capsys, ["train", "--data", str(text), "--target", "kind", "--task", "regression",
                                  "--sizes", "1,1", "--quiet"])
    assert status != 0 and "'cat', not a number; regression needs numeric targets" in err


def test_the_task_of_a_csv_file(tmp_path):
    """auto: real-valued (a number that is not whole) -> regression, whole numbers or text -> classes;
    regression refuses a non-finite target, naming its line."""
    real, whole, bad = tmp_path / "real.csv", tmp_path / "whole.csv", tmp_path / "bad.csv"
    real.write_text("a,y\n1,0.5\n2,1\n3,2\n")
    whole.write_text("a,y\n1,0.0\n2,1\n3,2.0\n")
    bad.write_text("a,y\n1,0.5\n2,inf\n")
    dataset = load_dataset(str(real), task="auto")
    assert dataset.task == "regression" and dataset.classes == ["y"] and dataset.n_classes == 1
    np.testing.assert_array_equal(dataset.train[1], [[0.5], [1.0], [2.0]])
    assert load_dataset(str(whole), task="auto").task == "classification"
    with pytest.raises(ValueError, match="must be integers"):  # the Python default classifies, as before
        load_dataset(str(real))
    with pytest.raises(ValueError, match=r"line 3, column 2 \('y'\): inf is not a finite number"):
        load_dataset(str(bad), task="regression")
    with pytest.raises(ValueError, match="task must be one of"):
        load_dataset(str(real), task="regress")
