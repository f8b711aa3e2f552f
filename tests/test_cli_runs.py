"""Runs of the command line on real data (the bundled Fashion-MNIST sample):
resuming bit for bit (also after SIGKILL), divergence that never replaces a
good file, logs and plots, tabular data, and ``anynet predict``."""

from __future__ import annotations

import csv
import io
import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import anynet
import anynet.api.saved
from anynet.cli import main
from anynet.datasets import load_dataset

SMALL = ["--data", "sample", "--sizes", "784,10,10", "--batch-size", "20", "--eta", "1.0", "--seed", "3", "--quiet"]


def run(capsys, argv):
    status = main(argv)
    out, err = capsys.readouterr()
    return status, out, err


def parameters(path):
    net = anynet.load(path)
    return [np.asarray(p) for p in net.weights + net.biases]


def assert_same_bits(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.dtype == y.dtype and x.tobytes() == y.tobytes()


@pytest.mark.parametrize("extra", [[], ["--optimizer", "adam", "--eta", "0.01", "--validation-split", "0.2",
                                        "--early-stopping", "2", "--eta-schedule", "--cost", "log-likelihood"]],
                         ids=["sgd", "adam-schedule-early-stopping"])
def test_resumed_run_equals_the_uninterrupted_one(capsys, tmp_path, extra):
    full, part = tmp_path / "full.npz", tmp_path / "part.npz"
    assert run(capsys, ["train", *SMALL, *extra, "--epochs", "4", "--save", str(full)])[0] == 0
    assert run(capsys, ["train", *SMALL, *extra, "--epochs", "2", "--save", str(part)])[0] == 0
    status, out, err = run(capsys, ["train", "--resume", str(part), "--epochs", "4", "--quiet"])
    assert status == 0, err
    assert out.startswith(f"resuming {part}: 2 of 4 epochs done")
    assert_same_bits(parameters(part), parameters(full))


def test_resume_refuses_other_settings_and_foreign_files(capsys, tmp_path):
    path = tmp_path / "run.npz"
    assert run(capsys, ["train", *SMALL, "--epochs", "1", "--save", str(path)])[0] == 0
    status, out, err = run(capsys, ["train", "--resume", str(path), "--eta", "0.5"])
    assert status == 1 and "--resume takes the run's configuration from" in err and "--eta" in err
    anynet.Network([3, 2], seed=0).save(tmp_path / "plain.npz")
    status, out, err = run(capsys, ["train", "--resume", str(tmp_path / "plain.npz")])
    assert status == 1 and "no training run to resume" in err


def test_resume_after_sigkill_mid_epoch_equals_the_uninterrupted_run(tmp_path):
    """The run file is replaced atomically after each epoch: a SIGKILL leaves the
    last completed epoch, and resuming from it ends bit-identical."""
    full, killed = tmp_path / "full.npz", tmp_path / "killed.npz"
    # 30 short epochs: the kill lands long before the end, however loaded the machine
    argv = [sys.executable, "-m", "anynet", "train", *SMALL, "--epochs", "30"]
    subprocess.run([*argv, "--save", str(full)], check=True, capture_output=True, timeout=300)
    process = subprocess.Popen([*argv, "--save", str(killed)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not killed.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.1)  # into the next epoch
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL
    done = anynet.api.saved.load_run(killed).state.epoch
    assert 1 <= done < 30
    resumed = subprocess.run([sys.executable, "-m", "anynet", "train", "--resume", str(killed), "--quiet"],
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{done} of 30 epochs done" in resumed.stdout
    assert_same_bits(parameters(killed), parameters(full))


def test_divergence_stops_nonzero_and_keeps_the_good_checkpoint(capsys, tmp_path):
    """Reliability finding 1: a diverging run exited 0 and overwrote a good
    checkpoint with one that cannot be loaded."""
    path = tmp_path / "good.npz"
    assert run(capsys, ["train", *SMALL, "--epochs", "1", "--save", str(path)])[0] == 0
    good = path.read_bytes()
    status, out, err = run(capsys, ["train", "--data", "sample", "--cost", "cross-entropy", "--lmbda", "5",
                                    "--eta", "1e4", "--epochs", "3", "--seed", "0", "--quiet", "--save", str(path),
                                    "--overwrite"])
    assert status == 1 and "Traceback" not in err
    assert "training diverged in epoch 0" in err and "smaller eta" in err and "was not written" not in err
    assert path.read_bytes() == good  # epoch 0 diverged: nothing replaced the good file
    anynet.load(path)


def test_save_refuses_an_existing_file_unless_overwrite(capsys, tmp_path):
    """Issue 19: --save silently replaced another run's file."""
    other = tmp_path / "other.npz"
    assert run(capsys, ["train", *SMALL, "--epochs", "1", "--save", str(other)])[0] == 0
    kept = other.read_bytes()
    notes = tmp_path / "notes.txt"
    notes.write_text("not a run")
    for path in (other, notes):
        status, out, err = run(capsys, ["train", *SMALL, "--epochs", "1", "--seed", "4", "--save", str(path)])
        assert status == 1 and "Epoch" not in out, err  # refused before any training
        assert f"--save {path}: the file exists" in err and "--overwrite" in err
        assert f"anynet train --resume {path}" in err  # what to do instead
    assert other.read_bytes() == kept and notes.read_text() == "not a run"
    status, out, err = run(capsys, ["train", *SMALL, "--epochs", "1", "--seed", "4", "--save", str(other), "--overwrite"])
    assert status == 0, err
    assert other.read_bytes() != kept and anynet.api.saved.load_run(other).net.seed == 4
    # resuming writes its own file, which is no refusal
    status, out, err = run(capsys, ["train", "--resume", str(other), "--epochs", "2", "--quiet"])
    assert status == 0 and "2 of 2 epochs" not in err, err


def test_save_refuses_nonfinite_weights_unless_asked(tmp_path):
    from anynet.io import checkpoint

    model = anynet.Network([3, 2], seed=0).model
    model.set_parameters([model.params[0]._replace(weight=model.params[0].weight * np.nan)])  # as a diverged run would leave them
    with pytest.raises(anynet.errors.TrainingDiverged, match="refusing to save .* holds NaN or inf"):
        checkpoint.save(model, tmp_path / "nan.npz")
    assert not (tmp_path / "nan.npz").exists()
    checkpoint.save(model, tmp_path / "nan.npz", allow_nonfinite=True)
    assert (tmp_path / "nan.npz").exists()


def test_log_has_one_json_object_per_epoch_and_plots_take_their_format(capsys, tmp_path):
    log = tmp_path / "run.jsonl"
    for suffix, magic in (("svg", b"<?xml"), ("pdf", b"%PDF"), ("png", b"\x89PNG")):
        plot = tmp_path / f"curves.{suffix}"
        assert run(capsys, ["train", *SMALL, "--epochs", "2", "--log", str(log), "--plot", str(plot)])[0] == 0
        assert plot.read_bytes().startswith(magic)
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert [e["epoch"] for e in entries] == [0, 1] * 3
    for key in ("seconds", "eta", "training_cost", "training_accuracy", "evaluation_cost", "evaluation_accuracy"):
        assert key in entries[0]
    status, out, err = run(capsys, ["train", *SMALL, "--plot", str(tmp_path / "curves.jpg")])
    assert status == 1 and ".png, .svg, .pdf" in err and "Epoch" not in out


def write_csv(path, X, labels, header=True):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        if header:
            writer.writerow(["species", *(f"f{i}" for i in range(X.shape[1]))])
        for label, row in zip(labels, X):
            writer.writerow([label, *(f"{v:.6f}" for v in row)])


def test_csv_data_with_string_labels_round_trips_through_predict(capsys, tmp_path):
    rng = np.random.default_rng(0)
    names = np.array(["setosa", "versicolor", "virginica"])
    y = rng.integers(0, 3, 300)
    X = np.eye(3, 6)[y] * 0.8 + rng.random((300, 6)) * 0.2
    write_csv(tmp_path / "train.csv", X, names[y])
    model = tmp_path / "model.npz"
    status, out, err = run(capsys, ["train", "--data", str(tmp_path / "train.csv"), "--label-column", "species",
                                    "--validation-split", "0.2", "--sizes", "6,5,3", "--epochs", "8", "--eta", "2",
                                    "--seed", "1", "--quiet", "--save", str(model)])
    assert status == 0, err
    assert "validation: the last 60 of 300 training rows" in out
    np.savetxt(tmp_path / "inputs.csv", X[:20], delimiter=",")
    status, out, err = run(capsys, ["predict", str(model), str(tmp_path / "inputs.csv"), "--proba"])
    assert status == 0, err
    header, *rows = list(csv.reader(io.StringIO(out)))
    assert header == ["input", "label", *(f"output {name}" for name in names)]  # sigmoid: outputs, not probabilities
    assert len(rows) == 20 and all(len(r) == 5 for r in rows) and [r[0] for r in rows] == [str(i) for i in range(1, 21)]
    assert sum(r[1] == t for r, t in zip(rows, names[y[:20]])) >= 18  # separable: a broken pipeline gets ~7
    assert all(r[1] == names[int(np.argmax([float(v) for v in r[2:]]))] for r in rows)
    status, out, err = run(capsys, ["predict", str(model), str(tmp_path / "inputs.csv"), "--output", str(tmp_path / "p.csv")])
    assert status == 0 and out == "" and len((tmp_path / "p.csv").read_text().splitlines()) == 21


def test_predict_reads_npy_npz_and_images(capsys, tmp_path):
    model = tmp_path / "model.npz"
    assert run(capsys, ["train", *SMALL, "--epochs", "1", "--save", str(model)])[0] == 0
    X = load_dataset("sample").test[0][:5]
    net = anynet.load(model)
    expected = [str(int(k)) for k in np.argmax(net.predict_proba(X), axis=1)]
    np.save(tmp_path / "x.npy", X)
    np.savez(tmp_path / "x.npz", X=X)
    for name in ("x.npy", "x.npz"):
        status, out, err = run(capsys, ["predict", str(model), str(tmp_path / name)])
        assert status == 0, err
        assert [row[1] for row in csv.reader(io.StringIO(out))][1:] == expected
    PIL = pytest.importorskip("PIL.Image")
    images = tmp_path / "images"
    images.mkdir()
    for i, row in enumerate(X):
        PIL.fromarray(np.round(row.reshape(28, 28) * 255).astype(np.uint8), mode="L").save(images / f"{i}.png")
    status, out, err = run(capsys, ["predict", str(model), str(images)])
    assert status == 0, err
    labels = [row[1] for row in csv.reader(io.StringIO(out))][1:]
    assert labels == expected  # 8-bit pixels of the 8-bit originals: the same inputs


def test_predict_refuses_inputs_of_the_wrong_width(capsys, tmp_path):
    model = tmp_path / "model.npz"
    assert run(capsys, ["train", *SMALL, "--epochs", "1", "--save", str(model)])[0] == 0
    np.save(tmp_path / "x.npy", np.zeros((2, 5)))
    status, out, err = run(capsys, ["predict", str(model), str(tmp_path / "x.npy")])
    assert status == 1 and "rows of 5 features, but the network takes 784" in err


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"anynet {anynet.__version__}"


def test_progress_bar_shows_samples_per_second_and_time_left(capsys):
    X, y = load_dataset("sample").train
    anynet.Network([784, 10, 10], seed=0).SGD((X[:500], y[:500]), 1, 10, 1.0, verbose=False, progress=True)
    err = capsys.readouterr().err
    assert "sample/s" in err and "<" in err  # tqdm's "[elapsed<remaining, rate]"
