"""Damaged and edited checkpoints: random bit flips and byte runs anywhere in
the file end in a CheckpointError or change nothing; the digest of format
version 2 covers the header as well as the arrays; duplicate JSON keys are
refused; version-1 files of anynet 0.1 still load (issue 10, items 12 and 13)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_checkpoint import (
    V1_FIXTURE,
    host,
    read_npz,
    same_network,
    trained,
    write_npz,
    write_v1,
)

import anynet
from anynet.io.checkpoint import CheckpointError, save


@pytest.fixture
def original(tmp_path):
    net = trained(cost="cross-entropy", activation="tanh")
    path = tmp_path / "net.npz"
    net.save(path)
    return net, path.read_bytes()


def test_random_corruption_is_refused_or_harmless(tmp_path, original):
    """300 single-bit flips and 100 runs of 1-16 random bytes, seeded, over the
    whole file (zip records, .npy headers, JSON header, data)."""
    net, raw = original
    rng = np.random.default_rng(12)
    path = tmp_path / "damaged.npz"
    refused = 0
    for trial in range(400):
        data = bytearray(raw)
        if trial < 300:
            bit = int(rng.integers(len(data) * 8))
            data[bit // 8] ^= 1 << (bit % 8)
        else:
            at, count = int(rng.integers(len(data))), int(rng.integers(1, 17))
            data[at : at + count] = rng.integers(0, 256, count, dtype=np.uint8).tobytes()
        path.write_bytes(bytes(data))
        try:
            loaded = anynet.load(path)
        except CheckpointError as exc:
            assert str(path) in str(exc), (trial, exc)
            refused += 1
        else:  # a byte nothing reads (a timestamp, padding): the same network
            assert same_network(loaded, net), f"trial {trial} loaded a different network"
    assert refused >= 300  # most bytes matter; the rest were shown harmless above


def edit_header(path, edit) -> None:
    """Rewrite the header's JSON text with ``edit``, arrays and digest untouched."""
    header, arrays = read_npz(path)
    text = edit(json.dumps(header))
    with open(path, "wb") as f:
        np.savez(f, header=np.frombuffer(text.encode(), np.uint8), **arrays)


@pytest.mark.parametrize(
    "old, new",
    [('"cost": "cross-entropy"', '"cost": "quadratic"'), ('"seed": 7', '"seed": 8'),
     ('"anynet_version": "', '"anynet_version": "9')],
    ids=["cost", "seed", "version-string"],
)
def test_edited_header_fails_the_checksum(tmp_path, original, old, new):
    path = tmp_path / "net.npz"
    edit_header(path, lambda text: text.replace(old, new))
    with pytest.raises(CheckpointError, match="checksum mismatch") as info:
        anynet.load(path)
    assert str(path) in str(info.value)


def test_duplicate_key_in_the_header_is_refused(tmp_path, original):
    """A second "cost" that a JSON parser would silently prefer."""
    path = tmp_path / "net.npz"
    edit_header(path, lambda text: text[:-1] + ', "cost": "quadratic"}')
    with pytest.raises(CheckpointError, match="'cost' appears twice") as info:
        anynet.load(path)
    assert str(path) in str(info.value)


def test_duplicate_member_is_refused(tmp_path, original):
    import zipfile

    path = tmp_path / "net.npz"
    with zipfile.ZipFile(path, "a") as archive, pytest.warns(UserWarning, match="Duplicate name"):
        archive.writestr("w0.npy", archive.read("w0.npy"))
    with pytest.raises(CheckpointError, match="appears twice"):
        anynet.load(path)


def test_whitespace_in_the_header_is_harmless(tmp_path, original):
    """The digest covers the header's values, not its formatting."""
    net, _ = original
    path = tmp_path / "net.npz"
    edit_header(path, lambda text: json.dumps(json.loads(text), indent=4))
    assert same_network(anynet.load(path), net)


# -- format version 1 (anynet 0.1): read-only compatibility -------------------


def test_version_1_fixture_of_anynet_0_1_loads():
    """tests/data/checkpoint_v1.npz was written by anynet 0.1.0's own save
    (Network([6, 5, 4], cost="cross-entropy", activation="tanh", seed=7) after
    two epochs); NumPy's reader is the oracle for its numbers."""
    net = anynet.load(V1_FIXTURE)
    with np.load(V1_FIXTURE, allow_pickle=False) as archive:
        header = json.loads(archive["header"].tobytes())
        arrays = {name: archive[name] for name in archive.files if name != "header"}
    assert header["format_version"] == 1
    assert net.sizes == header["sizes"] == [6, 5, 4] and net.cost is anynet.CrossEntropyCost and net.seed == 7
    assert [a.name for a in net.activations] == header["activations"] == ["tanh", "sigmoid"]
    for name, value in zip(["w0", "w1", "b0", "b1"], host(net.weights + net.biases)):
        assert value.dtype == arrays[name].dtype and np.array_equal(value, arrays[name])


def test_version_1_file_loads_and_its_arrays_are_still_checked(tmp_path):
    net = trained()
    path = tmp_path / "v1.npz"
    write_v1(path, net)
    assert same_network(anynet.load(path), net)
    header, arrays = read_npz(path)
    arrays["b1"] = arrays["b1"] + 1e-9
    write_npz(path, header, arrays, rehash=False)
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        anynet.load(path)


def test_version_3_file_relabelled_as_version_1_is_refused(tmp_path, original):
    path = tmp_path / "net.npz"
    edit_header(path, lambda text: text.replace('"format_version": 3', '"format_version": 1'))
    # version 1's fields are sizes and activations; a relabelled version 2 file, which has
    # them, fails the digest (test_checkpoint_layers, on a file anynet 0.2.0 wrote)
    with pytest.raises(CheckpointError, match="lacks sizes, activations"):
        anynet.load(path)


def test_saves_are_version_3(tmp_path):
    trained().save(tmp_path / "net.npz")
    assert read_npz(tmp_path / "net.npz")[0]["format_version"] == 3
