"""Every output is checked before the first step, from the command line and
from Python, and a failing output mid-run never costs the checkpoint an epoch
(issue 20, item 2).

Read-only files and directories are real: ``chmod`` for a user, and for root
(whom permission bits do not stop) the immutable attribute (``chattr +i``),
removed again afterwards; a test skips where neither makes a path read-only.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess

import numpy as np
import pytest

import anynet
from anynet.api.saved import load_run
from anynet.cli import main
from anynet.errors import OutputPathError

SMALL = ["--data", "sample", "--sizes", "784,5,10", "--batch-size", "50", "--eta", "1.0", "--seed", "3", "--quiet"]


@contextlib.contextmanager
def read_only(path):
    """``path`` (a file or a directory) made read-only for this process, then restored."""
    mode = os.stat(path).st_mode
    immutable = os.geteuid() == 0
    if immutable:
        if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode:
            pytest.skip("running as root without chattr +i: nothing is read-only")
    else:
        os.chmod(path, 0o555 if os.path.isdir(path) else 0o444)
    try:
        probe = os.path.join(path, ".probe") if os.path.isdir(path) else path
        try:
            os.close(os.open(probe, os.O_WRONLY | os.O_APPEND | os.O_CREAT))
        except OSError:
            pass
        else:
            pytest.skip(f"{path} is still writable here")
        yield path
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        else:
            os.chmod(path, mode)


def run(capsys, argv):
    status = main(argv)
    out, err = capsys.readouterr()
    return status, out, err


def test_resume_in_a_read_only_directory_is_refused_before_training(tmp_path, capsys):
    path = tmp_path / "run.npz"
    assert run(capsys, ["train", *SMALL, "--epochs", "1", "--save", str(path)])[0] == 0
    before = path.read_bytes()
    with read_only(tmp_path):
        status, out, err = run(capsys, ["train", "--resume", str(path), "--epochs", "2", "--quiet"])
    assert status == 1 and f"--resume {path}: cannot write in {tmp_path}" in err, err
    assert "Epoch" not in out  # refused before the first step
    assert path.read_bytes() == before


def test_a_read_only_log_is_refused_before_training(tmp_path, capsys):
    log, save = tmp_path / "run.jsonl", tmp_path / "run.npz"
    log.write_text('{"epoch": 0}\n')
    with read_only(log):
        status, out, err = run(capsys, ["train", *SMALL, "--epochs", "1", "--save", str(save), "--log", str(log)])
    assert status == 1 and f"--log {log}: cannot write {log}" in err, err
    assert "Epoch" not in out and not save.exists()
    assert log.read_text() == '{"epoch": 0}\n'


@pytest.mark.parametrize("where", ["missing directory", "a directory"])
def test_sgd_checks_its_checkpoint_before_the_first_step(tmp_path, where):
    path = tmp_path / "nowhere" / "run.npz" if where == "missing directory" else tmp_path
    rng = np.random.default_rng(0)
    data = (rng.random((20, 4)), rng.integers(0, 2, 20))
    epochs = []
    net = anynet.Network([4, 3, 2], seed=0)
    weights = [np.asarray(w).copy() for w in net.weights]
    with pytest.raises(OutputPathError, match="checkpoint") as info:
        net.SGD(data, 2, 5, 0.5, verbose=False, callback=epochs.append, checkpoint=path)
    assert str(path) in str(info.value)
    assert epochs == [] and all((np.asarray(w) == v).all() for w, v in zip(net.weights, weights))


def test_resume_from_python_checks_its_file_first(tmp_path):
    rng = np.random.default_rng(0)
    data = (rng.random((20, 4)), rng.integers(0, 2, 20))
    path = tmp_path / "run.npz"
    anynet.Network([4, 3, 2], seed=0).SGD(data, 1, 5, 0.5, verbose=False, checkpoint=path)
    before = path.read_bytes()
    epochs = []
    with read_only(tmp_path), pytest.raises(OutputPathError, match="checkpoint"):
        anynet.resume(path, data, epochs=3, verbose=False, callback=epochs.append)
    assert epochs == [] and path.read_bytes() == before


def test_an_output_failing_mid_run_leaves_the_epoch_in_the_checkpoint(tmp_path):
    rng = np.random.default_rng(0)
    data = (rng.random((20, 4)), rng.integers(0, 2, 20))
    path = tmp_path / "run.npz"

    def log_fails_in_epoch_1(report):
        if report.epoch == 1:
            raise OutputPathError("could not append to run.jsonl: no space left on device")

    with pytest.raises(OutputPathError, match="run.jsonl"):
        anynet.Network([4, 3, 2], seed=0).SGD(data, 4, 5, 0.5, verbose=False, callback=log_fails_in_epoch_1,
                                              checkpoint=path)
    assert load_run(path).state.epoch == 2  # epochs 0 and 1, both trained, both kept
