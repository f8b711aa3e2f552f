"""anynet.io.npzfile, the container under checkpoints, on its own: any header and
any named arrays of numbers round-trip bit for bit, the caller's schema is
enforced before data is read, and what the container refuses to write."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from anynet.io import npzfile
from anynet.errors import CheckpointError, TooLargeError


def state():
    """What a resumable run might store: parameters, optimizer moments of
    several dtypes, and nested JSON (an RNG state, a history)."""
    rng = np.random.default_rng(0)
    arrays = {
        "w0": rng.standard_normal((5, 6)),
        "m_w0": rng.standard_normal((5, 6)).astype(np.float32),
        "step": np.array([12], dtype=np.int64),
        "flags": np.array([1, 0, 1], dtype=np.uint8),
        "empty": np.zeros((0, 3)),
    }
    header = {"kind": "training-state", "rng": {"state": 2**63 + 5, "inc": [1, 2, 3]}, "history": [0.5, 0.25], "ok": True}
    return header, arrays


def schema_of(arrays):
    return {name: (a.shape, a.dtype) for name, a in arrays.items()}


def test_round_trip_is_bit_identical_and_numpy_can_read_it(tmp_path):
    header, arrays = state()
    path = tmp_path / "state.npz"
    npzfile.write(path, header, arrays)
    got_header, got = npzfile.read(path, schema_of(arrays), what="training state")
    assert {k: v for k, v in got_header.items() if k != "sha256"} == header
    assert list(got) == list(arrays)
    for name, array in arrays.items():
        assert got[name].dtype == array.dtype and np.array_equal(got[name], array)
    with np.load(path, allow_pickle=False) as archive:  # the .npz layout NumPy knows
        assert np.array_equal(archive["m_w0"], arrays["m_w0"])
        assert json.loads(archive["header"].tobytes())["sha256"] == got_header["sha256"]


def test_schema_may_be_a_function_of_the_header(tmp_path):
    header, arrays = state()
    npzfile.write(tmp_path / "s.npz", header, arrays)
    seen = []

    def schema(parsed):
        seen.append(parsed["kind"])
        return schema_of(arrays)

    npzfile.read(tmp_path / "s.npz", schema)
    assert seen == ["training-state"]


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda s: s.pop("flags"), "unexpected arrays flags"),
        (lambda s: s.update(extra=((1,), np.float64)), "missing arrays extra"),
        (lambda s: s.update(w0=((6, 5), np.float64)), "should hold|shape"),
        (lambda s: s.update(step=((1,), np.int32)), "should hold|int32"),
        (lambda s: s.update(m_w0=((5, 6), np.float64)), "should hold|float64"),
    ],
    ids=["extra-array", "missing-array", "shape", "dtype-size", "dtype"],
)
def test_schema_is_enforced(tmp_path, change, message):
    header, arrays = state()
    npzfile.write(tmp_path / "s.npz", header, arrays)
    schema = schema_of(arrays)
    change(schema)
    with pytest.raises(CheckpointError, match=message):
        npzfile.read(tmp_path / "s.npz", schema)


def test_same_size_different_dtype_is_refused(tmp_path):
    npzfile.write(tmp_path / "s.npz", {}, {"a": np.zeros(4, np.int64)})
    with pytest.raises(CheckpointError, match="float64"):
        npzfile.read(tmp_path / "s.npz", {"a": ((4,), np.float64)})


def test_big_endian_arrays_are_stored_little_endian(tmp_path):
    big = np.arange(6, dtype=">f8").reshape(2, 3)
    npzfile.write(tmp_path / "s.npz", {}, {"a": big})
    _, arrays = npzfile.read(tmp_path / "s.npz", {"a": ((2, 3), np.float64)})
    assert arrays["a"].dtype == np.dtype("=f8") and np.array_equal(arrays["a"], big)


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"header": np.zeros(1)}, "not allowed"),
        ({"a/b": np.zeros(1)}, "not allowed"),
        ({"../x": np.zeros(1)}, "not allowed"),
        ({"a": np.array(["text"])}, "only numbers"),
        ({"a": np.array([{}], dtype=object)}, "only numbers"),
    ],
)
def test_write_refuses_names_and_dtypes_it_cannot_read_back(tmp_path, arrays, message):
    with pytest.raises(ValueError, match=message):
        npzfile.write(tmp_path / "s.npz", {}, arrays)
    assert os.listdir(tmp_path) == []


def test_write_refuses_nan_in_the_header(tmp_path):
    with pytest.raises(ValueError):
        npzfile.write(tmp_path / "s.npz", {"loss": float("nan")}, {})
    assert os.listdir(tmp_path) == []


def test_arrays_larger_than_memory_raise_too_large(tmp_path, monkeypatch):
    header, arrays = state()
    npzfile.write(tmp_path / "s.npz", header, arrays)
    monkeypatch.setattr(npzfile.files, "physical_memory", lambda: 100)
    with pytest.raises(TooLargeError, match="GiB") as info:
        npzfile.read(tmp_path / "s.npz", schema_of(arrays))
    assert str(tmp_path / "s.npz") in str(info.value)


def test_compressed_members_are_refused(tmp_path):
    np.savez_compressed(tmp_path / "c.npz", header=np.frombuffer(b"{}", np.uint8), a=np.zeros(3))
    with pytest.raises(CheckpointError, match="compressed"):
        npzfile.read(tmp_path / "c.npz", {"a": ((3,), np.float64)})


def test_strict_json():
    assert npzfile.loads_json(b'{"a": [1, 2.5, "x", null, true]}', "f", "part") == {"a": [1, 2.5, "x", None, True]}
    assert npzfile.loads_json(b"12345678901234567890", "f", "part") == 12345678901234567890
    for text, message in [
        (b"123456789012345678901", "21 digits"),
        (b'{"a": 1, "a": 2}', "appears twice"),
        (b"[NaN]", "NaN"),
        (b"[1e400]", "out of range"),
        (b"[" * 100_000, "JSON"),
        (b"\xff", "JSON"),
    ]:
        with pytest.raises(CheckpointError, match=message) as info:
            npzfile.loads_json(text, "/some/file", "the header")
        assert "/some/file" in str(info.value)
