"""A write the system refuses names the user's file and what happened
(issue 20, item 3): "could not write run.npz: file too large; the previous
run.npz is intact", never "[Errno 27] File too large" or a temporary file's
name, in ``train``, ``sweep``, ``predict`` and the Python API.

The refusals are real: a child process runs under a small RLIMIT_FSIZE, so
the kernel answers its writes with EFBIG (Python ignores SIGXFSZ); a full disk
(ENOSPC) is simulated by a failing write.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import anynet
import anynet.io.writing
from anynet.cli import main
from anynet.errors import OutputPathError

resource = pytest.importorskip("resource")

SMALL = ["--data", "sample", "--sizes", "784,5,10", "--batch-size", "50", "--eta", "1.0", "--seed", "3", "--quiet"]

# Runs each case (a soft RLIMIT_FSIZE in bytes and what to run) and prints
# one JSON line per case: the exit status or error, and what stderr said.
_CHILD = r"""
import contextlib, io, json, resource, sys
from anynet.cli import main
import anynet
for limit, kind, argv in json.loads(sys.argv[1]):
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        if kind == "cli":
            status = main(argv)
        else:
            try:
                anynet.Network([784, 5, 10], seed=0).save(argv[0])
                status = 0
            except Exception as exc:
                status, err = type(exc).__name__, io.StringIO(str(exc))
    resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    print(json.dumps([status, err.getvalue()]), file=sys.__stdout__, flush=True)
"""


def limited(cases, cwd):
    env = {**os.environ, "PYTHONPATH": str(Path(anynet.__file__).parent.parent)}
    done = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(cases)], capture_output=True, text=True,
                          timeout=120, cwd=cwd, env=env)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def temporaries(directory: Path) -> list[str]:
    return sorted(name for name in os.listdir(directory) if name.endswith(".tmp"))


def test_file_too_large_names_the_users_file_in_train_sweep_predict_and_save(tmp_path, capsys):
    run, log, out = tmp_path / "run.npz", tmp_path / "run.jsonl", tmp_path / "out.csv"
    assert main(["train", *SMALL, "--epochs", "1", "--save", str(run), "--log", str(log)]) == 0
    images = tmp_path / "x.npy"
    np.save(images, np.zeros((200, 784)))
    assert main(["predict", str(run), str(images), "--proba", "--output", str(out)]) == 0
    capsys.readouterr()
    before = {path: path.read_bytes() for path in (run, log, out)}
    limit = 4096  # smaller than each file above but the log, whose next line is let through in part
    assert min(len(before[run]), len(before[out])) > limit and len(before[log]) < limit
    cases = [
        [limit, "cli", ["train", "--resume", "run.npz", "--epochs", "2", "--quiet"]],
        [len(before[log]) + 20, "cli", ["train", "--resume", "run.npz", "--epochs", "2", "--quiet", "--log", "run.jsonl"]],
        [limit, "cli", ["predict", "run.npz", "x.npy", "--proba", "--output", "out.csv"]],
        [limit, "cli", ["sweep", *SMALL[:4], "--seeds", "0", "--epochs", "1", "--validation-split", "0.2", "--quiet",
                        "--save-dir", "sweep"]],
        [limit, "api", ["net.npz"]],
    ]
    resumed, logged, predicted, swept, saved = limited(cases, tmp_path)
    assert resumed == [1, "anynet: error: could not write run.npz: file too large; the previous run.npz is intact\n"]
    assert logged == [1, f"anynet: error: could not append to run.jsonl: file too large; "
                         f"its earlier {len(before[log]):,} bytes are intact\n"]
    assert predicted[0] == 1  # after a note on what --proba prints
    assert predicted[1].endswith("\nanynet: error: could not write out.csv: file too large; the previous out.csv is intact\n")
    name = "seed0-eta3-lmbda0.npz"
    assert swept == [1, f"anynet: error: could not write {Path('sweep', name)}: file too large; {name} was not created\n"]
    assert saved == ["OutputPathError", "could not write net.npz: file too large; net.npz was not created"]
    assert {path: path.read_bytes() for path in (run, log, out)} == before  # nothing the user had was touched
    assert temporaries(tmp_path) == temporaries(tmp_path / "sweep") == []
    assert not (tmp_path / "net.npz").exists()


def test_full_disk_names_the_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    path = tmp_path / "net.npz"
    anynet.Network([4, 3, 2], seed=0).save(path)
    before = path.read_bytes()

    def disk_full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OutputPathError) as info:
        anynet.Network([4, 3, 2], seed=1).save(path)
    assert str(info.value) == f"could not write {path}: no space left on device; the previous net.npz is intact"
    assert path.read_bytes() == before and temporaries(tmp_path) == []


def test_a_failed_append_is_cut_back_to_whole_lines(tmp_path, monkeypatch):
    path = tmp_path / "run.jsonl"
    path.write_text('{"epoch": 0}\n')
    real_write = os.write

    def half_then_full(fd, data):
        if len(data) > 4:
            return real_write(fd, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", half_then_full)
    with pytest.raises(OutputPathError, match="could not append to .*run.jsonl: no space left on device; its earlier 13 bytes"):
        anynet.io.writing.append_text(path, '{"epoch": 1}\n')
    assert path.read_text() == '{"epoch": 0}\n'
