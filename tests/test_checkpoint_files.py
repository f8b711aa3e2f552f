"""Checkpoint files on disk: a save killed by SIGTERM leaves no temporary file,
one killed by SIGKILL leaves one that the next save sweeps once it is stale,
and a FIFO or a device given as a checkpoint is refused at once instead of
hanging or reading without end (issue 10, items 6 and 14)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_checkpoint import load_in_subprocess, same_network, trained

import anynet
from anynet.io.checkpoint import CheckpointError, save

posix_only = pytest.mark.skipif(os.name != "posix", reason="signals, FIFOs and /dev/zero are POSIX")

# Saves a 24 MB checkpoint over and over, so a signal lands in the middle of a write.
_SAVING_CHILD = r"""
import sys
import anynet
from anynet.io.files import removing_temporaries_on_sigterm
net = anynet.Network([1000, 2000, 1000], seed=0)
print("ready", flush=True)
with removing_temporaries_on_sigterm():  # what the command line runs every command in
    while True:
        net.save(sys.argv[1])
"""


def temporaries(directory: Path) -> list[str]:
    return sorted(name for name in os.listdir(directory) if name.endswith((".tmp", ".part")))


def kill_while_saving(path: Path, sig: int) -> int:
    """Start a child that saves to ``path`` in a loop, send ``sig`` while a
    temporary file exists, and return the child's exit status."""
    with subprocess.Popen([sys.executable, "-c", _SAVING_CHILD, str(path)], stdout=subprocess.PIPE, text=True) as child:
        try:
            assert child.stdout.readline().strip() == "ready"
            deadline = time.monotonic() + 60
            while not temporaries(path.parent):
                assert child.poll() is None, "the saving child died on its own"
                assert time.monotonic() < deadline, "no save started within 60 s"
                time.sleep(0.001)
            child.send_signal(sig)
            return child.wait(timeout=60)
        finally:
            if child.poll() is None:
                child.kill()


@posix_only
def test_sigterm_during_save_leaves_no_temporary(tmp_path):
    path = tmp_path / "big.npz"
    status = kill_while_saving(path, signal.SIGTERM)
    assert status == -signal.SIGTERM  # still terminated by the signal, after the clean-up
    assert temporaries(tmp_path) == []
    if path.exists():  # the last complete save, never a partial one
        assert anynet.load(path).sizes == [1000, 2000, 1000]


@posix_only
def test_the_library_installs_no_signal_handler_and_the_cli_restores_its_own(tmp_path):
    """Issue 17 item 4: saving (which registers its temporary file) leaves
    SIGTERM's handler as it was; the command line's handler is gone when
    main() returns."""
    from anynet.cli import main

    def mine(signum, frame):
        pass

    before = signal.signal(signal.SIGTERM, mine)
    try:
        trained().save(tmp_path / "net.npz")
        assert signal.getsignal(signal.SIGTERM) is mine
        assert main(["train", "--data", "sample", "--sizes", "784,10", "--epochs", "1", "--quiet",
                     "--save", str(tmp_path / "run.npz")]) == 0
        assert signal.getsignal(signal.SIGTERM) is mine
    finally:
        signal.signal(signal.SIGTERM, before)


@posix_only
def test_sigkill_leftover_is_swept_by_the_next_save_once_stale(tmp_path):
    path = tmp_path / "big.npz"
    assert kill_while_saving(path, signal.SIGKILL) == -signal.SIGKILL
    left = temporaries(tmp_path)  # SIGKILL cannot be caught: the write's temporary stays ...
    young = tmp_path / ".other.npz.0123456789ab.tmp"  # ... and so does another run's, still being written
    young.write_bytes(b"partial")
    hour_ago = time.time() - 3700
    for name in left:
        os.utime(tmp_path / name, (hour_ago, hour_ago))
    net = trained()
    net.save(tmp_path / "small.npz")
    assert temporaries(tmp_path) == [young.name]  # stale ones (> 1 h) swept, the young one kept
    assert same_network(anynet.load(tmp_path / "small.npz"), net)


def test_stale_temporary_of_a_killed_save_is_swept(tmp_path):
    stale = tmp_path / ".net.npz.a1b2c3d4e5f6.tmp"
    stale.write_bytes(b"PK\x03\x04 half a checkpoint")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    unrelated = tmp_path / "notes.tmp"  # not an anynet temporary name: never touched
    unrelated.write_text("mine")
    trained().save(tmp_path / "net.npz")
    assert sorted(os.listdir(tmp_path)) == ["net.npz", "notes.tmp"]


@posix_only
def test_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "net.npz"
    os.mkfifo(fifo)  # no writer: opening it for reading would block forever
    report = load_in_subprocess(fifo, timeout=60)
    assert report["outcome"] == "refused" and "FIFO" in report["message"] and str(fifo) in report["message"]


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_dev_zero_is_refused_without_reading(tmp_path):
    report = load_in_subprocess("/dev/zero", timeout=60, memory_limit=1 << 30)
    assert report["outcome"] == "refused" and "device" in report["message"] and "/dev/zero" in report["message"]


def test_directory_is_refused(tmp_path):
    with pytest.raises(CheckpointError, match="directory") as info:
        anynet.load(tmp_path)
    assert str(tmp_path) in str(info.value)
