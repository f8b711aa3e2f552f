"""No command replaces its own inputs (issue 20, item 1): an output aimed at
the training data, at the run being resumed, at the network or an input of
``predict`` (by its name, a symlink or a hard link), or two outputs aimed at
one file, are refused before any work, even with ``--overwrite``, and the
file is left as it was."""

from __future__ import annotations

import os

import numpy as np
import pytest

import anynet
from anynet.cli import main

ARGS = ["--sizes", "4,5,3", "--batch-size", "10", "--eta", "0.5", "--seed", "1", "--epochs", "1", "--quiet"]


def run(capsys, argv):
    status = main(argv)
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture
def data(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    rows = ["label,a,b,c,d"] + [f"{rng.integers(0, 3)},{','.join(f'{v:.3f}' for v in rng.random(4))}" for _ in range(40)]
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n")
    np.savez(tmp_path / "d.npz", X=rng.random((40, 4)), y=rng.integers(0, 3, 40))
    return tmp_path


@pytest.mark.parametrize("output", [["--save", "d.csv"], ["--save", "link.csv"], ["--save", "hard.csv"],
                                    ["--log", "d.csv"]],
                         ids=["save", "symlink", "hard-link", "log"])
def test_train_refuses_to_write_over_its_data(data, capsys, output):
    os.symlink("d.csv", "link.csv")
    os.link("d.csv", "hard.csv")
    before = (data / "d.csv").read_bytes()
    status, out, err = run(capsys, ["train", "--data", "d.csv", *ARGS, *output, "--overwrite"])
    assert status == 1 and "Epoch" not in out
    assert f"anynet: error: --{output[0][2:]} {output[1]} is the training data (--data d.csv)" in err, err
    assert (data / "d.csv").read_bytes() == before


def test_resume_refuses_a_log_aimed_at_the_run_file(data, capsys):
    assert run(capsys, ["train", "--data", "d.npz", *ARGS, "--save", "run.npz"])[0] == 0
    before = (data / "run.npz").read_bytes()
    status, out, err = run(capsys, ["train", "--resume", "run.npz", "--epochs", "2", "--log", "run.npz", "--quiet"])
    assert status == 1 and "--log run.npz is the run it resumes (--resume run.npz)" in err, err
    assert (data / "run.npz").read_bytes() == before


def test_two_outputs_aimed_at_one_file_are_refused(data, capsys):
    status, out, err = run(capsys, ["train", "--data", "d.csv", *ARGS, "--save", "run.npz", "--log", "run.npz"])
    assert status == 1 and "--save run.npz and --log run.npz are the same file" in err, err
    assert not (data / "run.npz").exists()


@pytest.mark.parametrize("target", ["x.npy", "run.npz"], ids=["input", "network"])
def test_predict_refuses_to_write_over_its_input_or_network(data, capsys, target):
    assert run(capsys, ["train", "--data", "d.npz", *ARGS, "--save", "run.npz"])[0] == 0
    np.save("x.npy", np.zeros((3, 4)))
    before = (data / target).read_bytes()
    status, out, err = run(capsys, ["predict", "run.npz", "x.npy", "--output", target])
    assert status == 1 and f"--output {target} is " in err and "which this command reads" in err, err
    assert (data / target).read_bytes() == before


def test_predict_refuses_to_write_over_an_image_of_its_input_directory(data, capsys):
    image = pytest.importorskip("PIL.Image")
    assert run(capsys, ["train", "--data", "sample", "--sizes", "784,5,10", "--epochs", "1", "--seed", "0", "--quiet",
                        "--save", "run.npz"])[0] == 0
    os.mkdir("images")
    image.fromarray(np.zeros((28, 28), dtype=np.uint8)).save("images/a.png")
    before = (data / "images" / "a.png").read_bytes()
    status, out, err = run(capsys, ["predict", "run.npz", "images", "--output", "images/a.png"])
    assert status == 1 and "--output images/a.png is a.png in an input (images)" in err, err
    assert (data / "images" / "a.png").read_bytes() == before


def test_sweep_refuses_to_save_over_its_data(data, capsys):
    os.mkdir("out")
    os.replace("d.npz", "out/seed1-eta0.5-lmbda0.npz")
    before = (data / "out" / "seed1-eta0.5-lmbda0.npz").read_bytes()
    status, out, err = run(capsys, ["sweep", "--data", "out/seed1-eta0.5-lmbda0.npz", *ARGS, "--validation-split",
                                    "0.25", "--save-dir", "out"])
    assert status == 1 and "is the training data" in err, err
    assert (data / "out" / "seed1-eta0.5-lmbda0.npz").read_bytes() == before
    assert anynet.datasets.load_dataset(data / "out" / "seed1-eta0.5-lmbda0.npz").train[0].shape == (40, 4)
