"""A resume that does not depend on where and how it is called (issue 20,
item 5; and issue 19 item 5's "resuming a run that already has the asked
epochs says so and exits non-zero"): the run records its data's absolute
path, so it resumes and evaluates from any directory; ``--data`` is accepted
on resume when it holds the run's data (same SHA-256); fewer or as many
epochs as done are refused with a clear message, a non-zero exit and the run
file untouched; a distributed run resumes with its own reduction."""

from __future__ import annotations

import os
import re
import sys

import numpy as np
import pytest

import anynet
from anynet.cli import main
from anynet.errors import ArgumentError

ARGS = ["--sizes", "4,5,3", "--batch-size", "10", "--eta", "0.5", "--seed", "1", "--quiet"]


def write_csv(path, seed=0):
    rng = np.random.default_rng(seed)
    rows = ["label,a,b,c,d"] + [f"{rng.integers(0, 3)},{','.join(f'{v:.3f}' for v in rng.random(4))}" for _ in range(60)]
    path.write_text("\n".join(rows) + "\n")


def run(capsys, argv):
    status = main(argv)
    out, err = capsys.readouterr()
    return status, out, err


def bits(path):
    net = anynet.load(path)
    return [np.asarray(p).tobytes() for p in net.weights + net.biases]


@pytest.fixture
def trained(tmp_path, capsys, monkeypatch):
    """A 1-epoch run on data/d.csv, trained inside data/ with a relative --data;
    the test then works from another directory."""
    data, other = tmp_path / "data", tmp_path / "other"
    data.mkdir(), other.mkdir()
    write_csv(data / "d.csv")
    monkeypatch.chdir(data)
    assert run(capsys, ["train", "--data", "d.csv", *ARGS, "--epochs", "1", "--save", "run.npz"])[0] == 0
    assert run(capsys, ["train", "--data", "d.csv", *ARGS, "--epochs", "2", "--save", "full.npz"])[0] == 0
    monkeypatch.chdir(other)
    return data


def test_a_run_resumes_and_evaluates_from_another_directory(trained, capsys):
    status, out, err = run(capsys, ["train", "--resume", "../data/run.npz", "--epochs", "2", "--quiet"])
    assert status == 0, err
    assert bits(trained / "run.npz") == bits(trained / "full.npz")
    status, out, err = run(capsys, ["evaluate", "../data/run.npz"])
    assert status == 0 and out.startswith("training accuracy"), err


def test_resume_takes_data_that_holds_the_runs_bytes(trained, capsys):
    copy = trained.parent / "other" / "copy.csv"
    copy.write_bytes((trained / "d.csv").read_bytes())
    changed = trained.parent / "other" / "changed.csv"
    write_csv(changed, seed=1)
    before = (trained / "run.npz").read_bytes()
    status, out, err = run(capsys, ["train", "--resume", "../data/run.npz", "--data", "changed.csv", "--epochs", "2"])
    assert status == 1 and f"{changed} is not the data this run was trained on" in err, err
    assert (trained / "run.npz").read_bytes() == before
    status, out, err = run(capsys, ["train", "--resume", "../data/run.npz", "--data", "copy.csv", "--epochs", "2",
                                    "--quiet"])
    assert status == 0, err
    assert bits(trained / "run.npz") == bits(trained / "full.npz")
    (trained / "d.csv").unlink()  # the run now records the copy it was resumed on
    assert run(capsys, ["evaluate", "../data/run.npz"])[0] == 0


@pytest.mark.parametrize("epochs", [["--epochs", "1"], ["--epochs", "2"], []], ids=["fewer", "as-many", "the-runs-own"])
def test_resume_without_epochs_left_is_refused(trained, capsys, monkeypatch, epochs):
    monkeypatch.chdir(trained)  # where it was trained: the data is found by the old relative path too
    path = trained / "full.npz"  # 2 epochs done
    before = path.read_bytes()
    status, out, err = run(capsys, ["train", "--resume", str(path), *epochs, "--quiet"])
    assert status == 1 and "Epoch" not in out
    if epochs == ["--epochs", "1"]:
        assert err == (f"anynet: error: {path} has 2 epochs done; --epochs 1 would shorten the run: "
                       "give --epochs N with N > 2 to train more\n")
    else:
        assert err == (f"anynet: error: {path} already has all 2 of its epochs; nothing to train: "
                       "give --epochs N with N > 2 to train more\n")
    assert path.read_bytes() == before


@pytest.mark.parametrize("epochs", [1, 3, None], ids=["fewer", "as-many", "the-runs-own"])
def test_python_resume_without_epochs_left_is_refused(tmp_path, epochs):
    """anynet.resume refuses what ``anynet train --resume`` refuses, with the
    same error class (ArgumentError, exit 1 at the CLI) and message."""
    rng = np.random.default_rng(0)
    data = (rng.random((20, 4)), rng.integers(0, 3, 20))
    path = tmp_path / "run.npz"
    anynet.Network([4, 5, 3], seed=0).SGD(data, 3, 5, 0.5, verbose=False, checkpoint=path)
    before = path.read_bytes()
    told = []
    with pytest.raises(ArgumentError) as refused:
        anynet.resume(path, data, epochs=epochs, verbose=False, callback=told.append)
    if epochs == 1:
        assert str(refused.value) == (f"{path} has 3 epochs done; epochs=1 would shorten the run: "
                                      "give epochs=N with N > 3 to train more")
    else:
        assert str(refused.value) == (f"{path} already has all 3 of its epochs; nothing to train: "
                                      "give epochs=N with N > 3 to train more")
    assert told == [] and path.read_bytes() == before


def test_python_resume_of_a_stopped_run_is_refused(tmp_path):
    rng = np.random.default_rng(0)
    data = (rng.random((20, 4)), rng.integers(0, 3, 20))
    path = tmp_path / "run.npz"
    net = anynet.Network([4, 5, 3], seed=0)
    net.SGD(data, 5, 5, 1e-12, evaluation_data=data, early_stopping=1, verbose=False, checkpoint=path)
    assert len(net.history) == 2  # eta 1e-12: no better accuracy after the first epoch, stopped after the second
    before = path.read_bytes()
    with pytest.raises(ArgumentError, match=f"^{re.escape(str(path))}: the run stopped itself after 2 epochs"):
        anynet.resume(path, data, epochs=9, verbose=False)
    assert path.read_bytes() == before


_MPI_RUNS = r"""
import sys
from anynet.cli import main
common = ["--data", sys.argv[1], "--sizes", "4,5,3", "--batch-size", "10", "--eta", "0.5", "--seed", "1", "--quiet",
          "--distributed", "--reduce", "fast"]
assert main(["train", *common, "--epochs", "2", "--save", sys.argv[2] + "/full.npz"]) == 0
assert main(["train", *common, "--epochs", "1", "--save", sys.argv[2] + "/part.npz"]) == 0
assert main(["train", "--resume", sys.argv[2] + "/part.npz", "--epochs", "2", "--distributed", "--quiet"]) == 0
"""


def test_a_distributed_run_resumes_with_its_own_reduction(tmp_path):
    sys.path.insert(0, os.path.dirname(__file__))
    from test_distributed import MPIEXEC, mpiexec_command

    if MPIEXEC is None:
        pytest.skip("needs mpi4py and mpiexec")
    write_csv(tmp_path / "d.csv")
    done = mpiexec_command(1, ["-c", _MPI_RUNS, str(tmp_path / "d.csv"), str(tmp_path)])
    assert done.returncode == 0, done.stderr
    assert bits(tmp_path / "part.npz") == bits(tmp_path / "full.npz")
