"""Damaged bytes are refused the same way by every reader: one helper
(anynet.io.files.damaged) turns what zipfile, zlib and NumPy's .npy header
parser raise into the reader's own error (CheckpointError for a network or a
run, DataError for data), naming the file and the part that cannot be read."""

from __future__ import annotations

import struct
import zipfile
import zlib

import numpy as np
import pytest

import anynet
from anynet.datasets import load_dataset
from anynet.errors import CheckpointError, DataError
from anynet.io.files import damaged


def halved(path):
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])  # the zip directory is at the end: cut off
    return path


def test_a_cut_checkpoint_and_a_cut_data_file_are_refused_in_the_same_words(tmp_path):
    rng = np.random.default_rng(0)
    anynet.Network([4, 5, 3], seed=0).save(tmp_path / "net.npz")
    np.savez(tmp_path / "data.npz", X=rng.random((500, 4)), y=rng.integers(0, 3, 500))
    with pytest.raises(CheckpointError) as checkpoint:
        anynet.load(halved(tmp_path / "net.npz"))
    with pytest.raises(DataError) as data:
        load_dataset(halved(tmp_path / "data.npz"))
    assert not isinstance(data.value, CheckpointError) and not isinstance(checkpoint.value, DataError)
    for error, name in ((checkpoint.value, "net.npz"), (data.value, "data.npz")):
        assert str(error).startswith(f"{tmp_path / name}: its zip directory is truncated or corrupt (BadZipFile: ")


@pytest.mark.parametrize("raised", [zipfile.BadZipFile("bad"), struct.error("short"), zlib.error("bad stream"),
                                    EOFError("eof"), OSError("io"), ValueError("header"), NotImplementedError("v9")],
                         ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("error", [DataError, CheckpointError])
def test_what_damaged_bytes_raise_becomes_the_readers_error(raised, error):
    with pytest.raises(error) as refused:
        with damaged("f.npz", "the array 'X'", error=error):
            raise raised
    assert str(refused.value) == f"f.npz: the array 'X' is truncated or corrupt ({type(raised).__name__}: {raised})"
    assert refused.value.__cause__ is raised


def test_the_readers_own_errors_and_other_errors_pass_unchanged():
    own = CheckpointError("net.npz: no 'header' entry")
    with pytest.raises(CheckpointError) as passed:
        with damaged("net.npz", "its zip directory", error=CheckpointError):
            raise own
    assert passed.value is own
    with pytest.raises(KeyError):  # a bug, not damage: its traceback is kept
        with damaged("d.npz", "its zip directory"):
            raise KeyError("x")
