"""Checkpoints that ask for too much: a zip bomb, enormous shapes and sizes,
integers of thousands of digits, values of the wrong JSON type.  Each is
refused with a CheckpointError naming the file, before anything large is
allocated (issue 10, items 8 and 11)."""

from __future__ import annotations

import io
import json
import struct
import zlib

import numpy as np
import pytest
from test_checkpoint import (
    SIZES,
    load_in_subprocess,
    network2_save,
    read_npz,
    trained,
    write_npz,
)

import anynet
from anynet.io import checkpoint, layerlist, npzfile
from anynet.io.checkpoint import CheckpointError, save

GIB = 1 << 30


def npy(array) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.asarray(array), allow_pickle=False)
    return buffer.getvalue()


def npy_header(shape, dtype) -> bytes:
    """The .npy bytes that come before the data of an array of ``shape``."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": np.dtype(dtype).str, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def raw_zip(members) -> bytes:
    """A zip archive, byte by byte, so that its members can lie.  ``members``
    is a list of (name, bytes, method, crc32, declared uncompressed size[,
    declared compressed size, by default the true one])."""
    out, directory = io.BytesIO(), io.BytesIO()
    for name, data, method, crc, size, *csize in members:
        offset, name, csize = out.tell(), name.encode(), (csize or [len(data)])[0]
        out.write(struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, method, 0, 0x21, crc, csize, size, len(name), 0))
        out.write(name + data)
        directory.write(struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, method, 0, 0x21, crc, csize, size,
                                    len(name), 0, 0, 0, 0, 0, offset) + name)
    start = out.tell()
    out.write(directory.getvalue())
    out.write(struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(members), len(members), len(directory.getvalue()), start, 0))
    return out.getvalue()


def stored(name, data: bytes):
    return (name, data, zipfile_stored, zlib.crc32(data), len(data))


zipfile_stored, zipfile_deflated = 0, 8


@pytest.fixture(scope="module")
def bomb():
    """A deflate stream of 1 GiB + a .npy header of float32 zeros in about 1 MB,
    its CRC-32 and its inflated length.  Built without deflating a gigabyte:
    after a sync flush every further MiB of zeros compresses to the same bytes."""
    prefix = npy_header((16384, 16384), np.float32)
    zeros = bytes(1 << 20)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = deflate.compress(prefix) + deflate.flush(zlib.Z_SYNC_FLUSH)
    head += deflate.compress(zeros) + deflate.flush(zlib.Z_SYNC_FLUSH)
    again = deflate.compress(zeros) + deflate.flush(zlib.Z_SYNC_FLUSH)
    assert again == deflate.compress(zeros) + deflate.flush(zlib.Z_SYNC_FLUSH)
    stream = head + again * 1023 + deflate.flush()
    crc = zlib.crc32(prefix)
    for _ in range(1024):
        crc = zlib.crc32(zeros, crc)
    inflate = zlib.decompressobj(-15)  # the oracle: zlib itself reads it as the .npy header, then zeros
    start = inflate.decompress(stream, len(prefix) + 4096)
    assert start[: len(prefix)] == prefix and not any(start[len(prefix):])
    return stream, crc, len(prefix) + GIB


def bomb_checkpoint(path, bomb, *, sizes, dtype, declared=None, method=zipfile_deflated):
    """A checkpoint whose w0 is the bomb (declared as ``declared`` bytes, or
    its true inflated size), the other arrays genuine zeros.  ``method``
    stored: the stream is stored as is and declared (both sizes) as 1 GiB."""
    stream, crc, size = bomb
    shapes = layerlist.dense_shapes(sizes)
    arrays = {name: np.zeros(shape, dtype) for name, shape in shapes.items() if name != "w0"}
    header = {"format": "anynet-checkpoint", "format_version": 2, "sizes": sizes, "cost": "quadratic",
              "activations": ["sigmoid"] * (len(sizes) - 1), "dtype": dtype, "anynet_version": "0.2.0", "seed": None}
    header["sha256"] = "0" * 64
    members = [stored("header.npy", npy(np.frombuffer(json.dumps(header).encode(), np.uint8)))]
    size = size if declared is None else declared
    members.append(("w0.npy", stream, method, crc, size) + ((size,) if method == zipfile_stored else ()))
    members += [stored(f"{name}.npy", npy(array)) for name, array in arrays.items()]
    path.write_bytes(raw_zip(members))
    return path


@pytest.mark.parametrize(
    "sizes, dtype, declared, method",
    [
        ([16384, 16384], "float32", None, zipfile_deflated),  # a header that agrees with the bomb
        (SIZES, "float64", None, zipfile_deflated),  # a small network, w0 declared as 1 GiB
        (SIZES, "float64", 128 + 5 * 6 * 8, zipfile_deflated),  # w0 declared as its true size, inflating to 1 GiB
        ([16384, 16384], "float32", None, zipfile_stored),  # "stored", 1 GiB declared, 1 MB there
        (SIZES, "float64", None, zipfile_stored),
    ],
    ids=["consistent-header", "declared-1GiB", "declared-small", "stored-consistent-header", "stored-declared-1GiB"],
)
def test_zip_bomb_is_refused_within_bounded_memory(tmp_path, bomb, sizes, dtype, declared, method):
    path = bomb_checkpoint(tmp_path / "bomb.npz", bomb, sizes=sizes, dtype=dtype, declared=declared, method=method)
    assert path.stat().st_size < 2 << 20
    report = load_in_subprocess(path, memory_limit=2 * GIB)
    assert report["outcome"] == "refused" and str(path) in report["message"], report
    # The file is ~1 MB and the legitimate arrays are bytes: 16 MiB of peak is
    # chunk buffers and the zip directory, nowhere near the gigabyte inside.
    assert report["peak"] < 16 << 20, report


def test_enormous_shape_in_an_array_header_is_refused(checkpoint_file):
    """A .npy member that claims shape (10**6, 10**6): 8 TB if allocated."""
    header, arrays = read_npz(checkpoint_file)
    w0 = npy(arrays["w0"])
    fake = npy_header((10**6, 10**6), np.float64)
    members = [stored("header.npy", npy(np.frombuffer(json.dumps(header).encode(), np.uint8)))]
    members.append(stored("w0.npy", fake + w0[len(npy_header(arrays["w0"].shape, np.float64)):]))
    members += [stored(f"{name}.npy", npy(a)) for name, a in arrays.items() if name != "w0"]
    checkpoint_file.write_bytes(raw_zip(members))
    with pytest.raises(CheckpointError) as info:
        anynet.load(checkpoint_file)
    assert str(checkpoint_file) in str(info.value)


@pytest.mark.parametrize("sizes", [[6, 10**12, 4], [6, 10**19, 4], [10**6, 10**6, 4]])
def test_sizes_beyond_the_file_are_refused_before_allocating(checkpoint_file, sizes):
    header, arrays = read_npz(checkpoint_file)
    header["layers"] = [{"type": "Dense", "n_in": x, "n_out": y, "activation": "sigmoid", "initializer": "default"}
                        for x, y in zip(sizes[:-1], sizes[1:])]
    header["input_shape"] = sizes[:1]
    write_npz(checkpoint_file, header, arrays)
    with pytest.raises(CheckpointError, match="implies|should hold") as info:
        anynet.load(checkpoint_file)
    assert str(checkpoint_file) in str(info.value)


@pytest.fixture
def checkpoint_file(tmp_path):
    path = tmp_path / "net.npz"
    trained().save(path)
    return path


def header_text(path) -> str:
    return json.dumps(read_npz(path)[0])


def with_header_text(path, text: str) -> None:
    _, arrays = read_npz(path)
    with open(path, "wb") as f:
        np.savez(f, header=np.frombuffer(text.encode(), np.uint8), **arrays)


def test_5000_digit_integer_in_the_header_is_refused(checkpoint_file):
    text = header_text(checkpoint_file).replace('"seed": 7', '"seed": ' + "9" * 5000)
    with_header_text(checkpoint_file, text)
    with pytest.raises(CheckpointError, match="5000 digits") as info:
        anynet.load(checkpoint_file)
    assert str(checkpoint_file) in str(info.value)


def test_deeply_nested_header_is_refused(checkpoint_file):
    text = header_text(checkpoint_file).replace('"seed": 7', '"seed": ' + "[" * 100_000 + "]" * 100_000)
    with_header_text(checkpoint_file, text)
    with pytest.raises(CheckpointError, match="JSON") as info:
        anynet.load(checkpoint_file)
    assert str(checkpoint_file) in str(info.value)


def test_header_larger_than_the_limit_is_refused_unread(checkpoint_file):
    header, arrays = read_npz(checkpoint_file)
    header["anynet_version"] = "x" * (npzfile.MAX_HEADER_BYTES + 1)
    write_npz(checkpoint_file, header, arrays)
    with pytest.raises(CheckpointError, match="header entry") as info:
        anynet.load(checkpoint_file)
    assert str(checkpoint_file) in str(info.value)


@pytest.mark.parametrize(
    "field, value",
    [
        ("format_version", True),  # True == 1 in Python
        ("format_version", 2.0),
        ("format_version", "2"),
        ("sizes", [6, 5.0, 4]),
        ("sizes", [6, True, 4]),
        ("sizes", [6, "5", 4]),
        ("sizes", [6, 0, 4]),
        ("sizes", [6]),
        ("seed", 7.0),
        ("seed", True),
        ("seed", "7"),
        ("seed", -1),
        ("cost", 1),
        ("cost", ["quadratic"]),
        ("activations", "sigmoid"),
        ("activations", [["sigmoid"], {"a": 1}]),
        ("dtype", ["float64"]),
        ("anynet_version", 2),
        ("format", ["anynet-checkpoint"]),
        ("unexpected", 1),
    ],
)
def test_header_field_of_the_wrong_type_is_refused(checkpoint_file, field, value):
    header, arrays = read_npz(checkpoint_file)
    header[field] = value
    write_npz(checkpoint_file, header, arrays)  # a matching digest: only the type is wrong
    with pytest.raises(CheckpointError) as info:
        anynet.load(checkpoint_file)
    assert str(checkpoint_file) in str(info.value)


def test_nan_in_the_header_is_refused(checkpoint_file):
    text = header_text(checkpoint_file).replace('"seed": 7', '"seed": NaN')
    with_header_text(checkpoint_file, text)
    with pytest.raises(CheckpointError, match="NaN"):
        anynet.load(checkpoint_file)


# -- network2.py's JSON files ------------------------------------------------


def network2_document(net):
    return {"sizes": net.sizes, "weights": [w.tolist() for w in net.weights],
            "biases": [b.tolist() for b in net.biases], "cost": "QuadraticCost"}


def test_network2_json_with_a_400_digit_integer_is_refused(tmp_path):
    document = network2_document(trained())
    document["weights"][0][0][0] = "PLACEHOLDER"
    path = tmp_path / "net.json"
    path.write_text(json.dumps(document).replace('"PLACEHOLDER"', "1" * 400))
    with pytest.raises(CheckpointError, match="400 digits") as info:
        anynet.load(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("value", ['"1.5"', "true", "null", "1e999", "Infinity", "-Infinity"])
def test_network2_weight_that_is_not_a_number_is_refused(tmp_path, value):
    document = network2_document(trained())
    document["weights"][0][0][0] = "PLACEHOLDER"
    path = tmp_path / "net.json"
    path.write_text(json.dumps(document).replace('"PLACEHOLDER"', value))
    with pytest.raises(CheckpointError) as info:
        anynet.load(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("sizes", [[6, 5.0, 4], [6, True, 4], [6, "5", 4], [6, 5, 4] * 4000])
def test_network2_sizes_of_the_wrong_type_are_refused(tmp_path, sizes):
    document = network2_document(trained())
    document["sizes"] = sizes
    path = tmp_path / "net.json"
    path.write_text(json.dumps(document))
    with pytest.raises(CheckpointError) as info:
        anynet.load(path)
    assert str(path) in str(info.value)


def test_network2_duplicate_key_is_refused(tmp_path):
    path = tmp_path / "net.json"
    path.write_text(json.dumps(network2_document(trained()))[:-1] + ', "cost": "CrossEntropyCost"}')
    with pytest.raises(CheckpointError, match="'cost' appears twice"):
        anynet.load(path)


def test_network2_json_beyond_the_size_limit_is_refused_unparsed(tmp_path, monkeypatch):
    net = trained()
    path = tmp_path / "net.json"
    network2_save(net.sizes, net.weights, net.biases, "QuadraticCost", path)
    monkeypatch.setattr(checkpoint, "MAX_JSON_BYTES", path.stat().st_size - 1)
    monkeypatch.setattr(npzfile, "loads_json", lambda *a, **k: pytest.fail("parsed a file over the limit"))
    with pytest.raises(CheckpointError, match="larger than") as info:
        anynet.load(path)
    assert str(path) in str(info.value)
