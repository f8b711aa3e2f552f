"""Regression tests for the data reliability findings, one test (or a few)
per finding, named after it.  Each failed on the code before the fix: run
them against an older checkout to see it.  They use only public names."""

from __future__ import annotations

import gzip
import json
import os
import re
import signal
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from test_data_support import (  # noqa: F401  (fixtures are used by name)
    MiB,
    TrickleHandler,
    cache_files,
    closed_port_url,
    hermetic,
    idx_bytes,
    make_idx_dir,
    mirror,
    peak_memory,
    serve,
    write_gzip_bomb,
    write_idx,
)

from anynet.datasets import AnynetDataWarning, DataNotFoundError, fetch, load_dataset, load_mnist_pickle, read_idx
from anynet.errors import ArgumentError, DataError, TooLargeError

REPO = Path(__file__).resolve().parent.parent
STALE_S = 2 * 3600  # older than files.py's one hour: left by a killed run


def run_python(code: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter that imports this checkout's anynet."""
    environment = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=environment, capture_output=True, text=True, timeout=timeout
    )


# ------------------------------------------------ (4) train and test image sizes


def test_finding4_train_and_test_images_of_different_sizes_are_refused_at_load(tmp_path):
    directory = make_idx_dir(tmp_path / "mixed", test_side=32)
    with pytest.raises(DataError, match=r"(?s)28x28.*train-images.*32x32.*t10k-images"):
        load_dataset(str(directory))


# ------------------------------------------------------ (6) files left behind


def test_finding6_sigterm_during_a_download_leaves_no_part_file(tmp_path, serve):
    slow = serve(tmp_path, TrickleHandler)
    cache = tmp_path / "cache"
    stderr = tmp_path / "stderr.txt"
    with open(stderr, "wb") as err, subprocess.Popen(
        [sys.executable, "-c", "from anynet.datasets import fetch; from anynet.io.files import removing_temporaries_on_sigterm\n"
         f"with removing_temporaries_on_sigterm(): fetch('mnist', data_dir={str(cache)!r}, "
         f"mirrors=[{slow!r}], progress=False)"],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=err,
    ) as child:
        try:
            deadline = time.monotonic() + 30
            while not list(cache.rglob("*.part")):
                assert child.poll() is None, stderr.read_text()
                assert time.monotonic() < deadline, "the download never started"
                time.sleep(0.02)
            child.send_signal(signal.SIGTERM)
            assert child.wait(timeout=30) == -signal.SIGTERM
        finally:
            child.kill()
    assert list(cache.rglob("*.part")) == []


def test_finding6_part_file_of_a_killed_download_is_swept_by_the_next(tmp_path, serve, mirror):
    directory = tmp_path / "cache" / "mnist"
    directory.mkdir(parents=True)
    stale = directory / ".train-images-idx3-ubyte.gz.0123456789ab.part"  # files.py's temporary name
    young = directory / ".t10k-images-idx3-ubyte.gz.ba9876543210.part"  # may belong to a live download
    for path in (stale, young):
        path.write_bytes(b"partial")
    os.utime(stale, (time.time() - STALE_S,) * 2)
    fetch("mnist", data_dir=tmp_path / "cache", mirrors=[serve(mirror)], progress=False)
    assert not stale.exists() and young.exists()


# ------------------------------------------------------------- (9) gzip bombs


def test_finding9_gzip_bomb_with_a_small_header_is_refused_in_bounded_memory(tmp_path):
    bomb = write_gzip_bomb(tmp_path / "bomb-idx3-ubyte.gz", idx_bytes(np.zeros((10, 28, 28), np.uint8)), 1024)
    assert bomb.stat().st_size < 2 * MiB  # 1 GiB once inflated

    def read():
        with pytest.raises(DataError, match=r"bomb-idx3-ubyte.gz.*more data than its header"):
            read_idx(bomb)

    assert peak_memory(read) < 32 * MiB


def test_finding9_gzip_bomb_in_a_dataset_directory_is_refused(tmp_path):
    directory = make_idx_dir(tmp_path / "d")
    write_gzip_bomb(directory / "train-labels-idx1-ubyte.gz", idx_bytes(np.zeros(60, np.uint8)), 256)
    with pytest.raises(DataError, match=r"train-labels.*more data than its header"):
        load_dataset(str(directory))


@pytest.mark.parametrize("gz", [False, True])
def test_finding9_header_claiming_an_absurd_size_is_refused_before_reading(tmp_path, gz):
    header = bytes([0, 0, 0x08, 3]) + struct.pack(">3I", 2**32 - 1, 2**32 - 1, 28)
    path = tmp_path / "huge-idx3-ubyte"
    path.write_bytes(gzip.compress(header + bytes(100)) if gz else header + bytes(100))

    def read():
        with pytest.raises(TooLargeError, match=r"huge-idx3-ubyte.*more than this machine's memory"):
            read_idx(path)

    assert peak_memory(read) < 32 * MiB


# ------------------------------------------------------ (10) pickle allocations


def _ints(shape) -> bytes:
    return b"(" + b"".join(b"J" + struct.pack("<i", n) for n in shape) + b"t"


def array_pickle(shape, raw: bytes, *, empty_shape=(0,)) -> bytes:
    """The opcodes NumPy writes for an array: ``_reconstruct(ndarray,
    empty_shape, b'b')`` then BUILD with ``(1, shape, dtype('f4'), False, raw)``,
    assembled by hand so that shape and bytes may disagree."""
    dtype = (
        b"cnumpy\ndtype\nX\x02\x00\x00\x00f4\x89\x88\x87R"
        b"(K\x03X\x01\x00\x00\x00<NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
    )
    return (
        b"\x80\x04cnumpy._core.multiarray\n_reconstruct\ncnumpy\nndarray\n" + _ints(empty_shape) + b"C\x01b\x87R"
        + b"(K\x01" + _ints(shape) + dtype + b"\x89B" + struct.pack("<I", len(raw)) + raw + b"tb."
    )


def test_array_pickle_builds_a_real_array():
    """The hand-made opcodes are what NumPy reads as an array (an honest fixture)."""
    import pickle

    array = pickle.loads(array_pickle((2, 3), np.arange(6, dtype="<f4").tobytes()))
    np.testing.assert_array_equal(array, np.arange(6, dtype=np.float32).reshape(2, 3))


@pytest.mark.parametrize(
    "data",
    [
        array_pickle((10**9, 784), bytes(16)),  # a state promising 3 TB in 16 bytes
        array_pickle((10**9, 784), b"", empty_shape=(10**9, 784)),  # _reconstruct asked to allocate it
        b"\x80\x04X" + struct.pack("<I", 3_700_000_000) + bytes(190),  # a string length of 3.7 GB in 201 bytes
    ],
    ids=["state-shape", "reconstruct-shape", "string-length"],
)
def test_finding10_tiny_pickle_declaring_a_huge_array_is_refused_without_allocating(tmp_path, data):
    path = tmp_path / "mnist.pkl"
    path.write_bytes(data)
    assert len(data) < 300

    def load():
        with pytest.raises(DataError, match=r"mnist\.pkl"):
            load_mnist_pickle(path)

    assert peak_memory(load) < 32 * MiB


@pytest.mark.parametrize(
    ("dtype_spec", "problem"),
    [(b"O8", "plain number dtypes"), (b"U1", "plain number dtypes")],
)
def test_finding10_pickle_arrays_of_objects_or_text_are_refused(tmp_path, dtype_spec, problem):
    data = array_pickle((1,), bytes(4)).replace(b"X\x02\x00\x00\x00f4", b"X\x02\x00\x00\x00" + dtype_spec)
    path = tmp_path / "mnist.pkl"
    path.write_bytes(data)
    with pytest.raises(DataError, match=problem):
        load_mnist_pickle(path)


def test_pickle_bound_is_cumulative_and_the_refusal_says_what_was_read(tmp_path, monkeypatch):
    """MAX_PICKLE_BYTES bounds the whole decompressed stream, not one read: the refusal says how many
    bytes came before the read that crossed it (the old message named only that read, 'it asks to
    read 600 bytes, beyond the 1,000', which reads as a lie when 600 < 1,000)."""
    import pickle

    from anynet.datasets import pickled

    monkeypatch.setattr(pickled, "MAX_PICKLE_BYTES", 1000)
    path = tmp_path / "mnist.pkl"
    path.write_bytes(pickle.dumps(("a" * 600, "b" * 600), protocol=2))  # no frames: one read per string
    with pytest.raises(DataError) as caught:
        load_mnist_pickle(path)
    message = str(caught.value)
    done = int(re.search(r"after ([\d,]+) bytes it asks to read 600 more", message)[1].replace(",", ""))
    assert 600 < done < 1000  # the first string and its opcodes were read before
    assert f"{done + 600:,} in all, beyond the 1,000 a MNIST pickle may hold" in message


# --------------------------------------------------- (14) FIFOs and devices

_NON_REGULAR = """
import json, os, signal, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))  # reading /dev/zero for ever must fail, not swap
import anynet.datasets as d

def hang(signum, frame):
    raise TimeoutError("hung")

signal.signal(signal.SIGALRM, hang)
results = {}
for label, call in CASES:
    signal.alarm(5)
    try:
        call()
        results[label] = "accepted"
    except BaseException as error:
        results[label] = f"{type(error).__name__}: {error}"
    signal.alarm(0)
print(json.dumps(results))
"""


def test_finding14_fifo_and_dev_zero_are_refused_not_read(tmp_path):
    fifo_dir = tmp_path / "fifos"
    fifo_dir.mkdir()
    for name in ("data.idx", "mnist.pkl.gz", "data.csv", "data.npz", "digit.png"):
        os.mkfifo(fifo_dir / name)
    idx_dir = make_idx_dir(tmp_path / "idx", gz=False)
    (idx_dir / "train-images-idx3-ubyte").unlink()
    os.mkfifo(idx_dir / "train-images-idx3-ubyte")
    cases = f"""
F = {str(fifo_dir)!r}
CASES = [
    ("idx-fifo", lambda: d.read_idx(F + "/data.idx")),
    ("idx-dev-zero", lambda: d.read_idx("/dev/zero")),
    ("idx-directory-fifo", lambda: d.load_dataset({str(idx_dir)!r})),
    ("pickle-fifo", lambda: d.load_mnist_pickle(F + "/mnist.pkl.gz")),
    ("pickle-dev-zero", lambda: d.load_mnist_pickle("/dev/zero")),
    ("path-dev-zero", lambda: d.load_dataset("/dev/zero")),
    ("csv-fifo", lambda: d.load_dataset(F + "/data.csv")),
    ("npz-fifo", lambda: d.load_dataset(F + "/data.npz")),
    ("inputs-csv-fifo", lambda: d.load_inputs(F + "/data.csv")),
    ("inputs-png-fifo", lambda: d.load_inputs(F + "/digit.png")),
]
"""
    result = run_python(cases + _NON_REGULAR, timeout=120)
    assert result.returncode == 0, result.stderr
    outcomes = json.loads(result.stdout)
    for label, outcome in outcomes.items():
        kind = "a device" if "dev-zero" in label else "a FIFO"
        assert outcome.startswith("DataError") and f"must be a regular file, but this is {kind}" in outcome, label


# ----------------------------------------------------- (15) download deadline


def test_finding15_trickling_mirror_is_abandoned_at_the_deadline_and_the_next_used(tmp_path, serve, mirror):
    slow = serve(tmp_path, TrickleHandler)
    directory = fetch("mnist", data_dir=tmp_path / "cache", mirrors=[slow, serve(mirror)], progress=False, timeout=0.2)
    assert cache_files(directory) == sorted(p.name for p in mirror.iterdir())
    for path in mirror.iterdir():
        assert (directory / path.name).read_bytes() == path.read_bytes()


def test_finding15_deadline_from_the_environment_names_the_slow_mirror(tmp_path, serve, mirror, monkeypatch):
    cache = tmp_path / "cache" / "mnist"
    cache.mkdir(parents=True)
    for path in mirror.iterdir():
        if not path.name.startswith("t10k-labels"):
            (cache / path.name).write_bytes(path.read_bytes())  # one file left to download
    slow = serve(tmp_path, TrickleHandler)
    monkeypatch.setenv("ANYNET_DOWNLOAD_TIMEOUT", "0.5")
    with pytest.raises(DataNotFoundError, match=rf"{slow}t10k-labels-idx1-ubyte.gz: too slow: .* after 0.5 s"):
        fetch("mnist", data_dir=tmp_path / "cache", mirrors=[slow], progress=False)
    assert list(cache.glob(".*.part")) == []


class TrickleHeadersHandler(TrickleHandler):
    """Sends the status line, then one header byte every 0.1 s."""

    def do_GET(self):
        self.wfile.write(b"HTTP/1.0 200 OK\r\n")
        super().do_GET()

    def send_response(self, *args):
        pass

    def send_header(self, *args):
        pass

    def end_headers(self):
        pass


def test_finding15_deadline_also_covers_trickled_headers(tmp_path, serve):
    slow = serve(tmp_path, TrickleHeadersHandler)
    with pytest.raises(DataNotFoundError, match=r"too slow"):
        fetch("mnist", data_dir=tmp_path / "cache", mirrors=[slow], progress=False, timeout=0.2)


@pytest.mark.parametrize("value", ["soon", "0", "-5", "inf", "nan"])
def test_finding15_bad_timeout_setting_is_an_argument_error(tmp_path, mirror, serve, monkeypatch, value):
    monkeypatch.setenv("ANYNET_DOWNLOAD_TIMEOUT", value)
    with pytest.raises(ArgumentError, match=r"ANYNET_DOWNLOAD_TIMEOUT must be a"):
        fetch("mnist", data_dir=tmp_path / "cache", mirrors=[serve(mirror)], progress=False)
    with pytest.raises(ArgumentError, match=r"timeout must be a positive number"):
        load_dataset("sample", timeout=-1)


# ------------------------------------------------- (16) cache re-verification


def flip_a_byte_keeping_mtime(path: Path) -> None:
    info = path.stat()
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))


def test_finding16_corrupted_cache_file_is_detected_and_downloaded_again(serve, mirror, monkeypatch, tmp_path):
    monkeypatch.setenv("ANYNET_MIRRORS", serve(mirror))
    load_dataset("mnist", progress=False)
    cached = tmp_path / "xdg-cache" / "anynet" / "mnist" / "train-images-idx3-ubyte.gz"
    flip_a_byte_keeping_mtime(cached)
    with pytest.warns(AnynetDataWarning, match=r"train-images-idx3-ubyte.gz has changed since it was downloaded"):
        dataset = load_dataset("mnist", progress=False)
    assert "downloaded again: the cached copy was corrupt" in dataset.source
    assert cached.read_bytes() == (mirror / cached.name).read_bytes()
    np.testing.assert_array_equal(dataset.train[0], 42 / 255)


def test_finding16_corrupted_cache_file_without_a_download_is_explained(
    serve, mirror, monkeypatch, tmp_path, closed_port_url
):
    monkeypatch.setenv("ANYNET_MIRRORS", serve(mirror))
    load_dataset("mnist", progress=False)
    cached = tmp_path / "xdg-cache" / "anynet" / "mnist" / "t10k-labels-idx1-ubyte.gz"
    flip_a_byte_keeping_mtime(cached)
    with pytest.raises(DataNotFoundError, match=r"(?s)t10k-labels-idx1-ubyte.gz has changed.*download disabled"):
        load_dataset("mnist", download=False)
    monkeypatch.setenv("ANYNET_MIRRORS", closed_port_url)
    with pytest.warns(AnynetDataWarning), pytest.raises(
        DataNotFoundError, match=r"(?s)t10k-labels-idx1-ubyte.gz has changed since it was downloaded.*refused"
    ):
        load_dataset("mnist", progress=False)


# -------------------------------------------- (17) missing data, no sample, no mkdir


def test_finding17_missing_kmnist_is_named_with_how_to_get_it_and_creates_no_directory(
    tmp_path, closed_port_url, monkeypatch
):
    monkeypatch.setenv("ANYNET_MIRRORS", closed_port_url)
    with pytest.raises(DataNotFoundError) as caught:
        load_dataset("kmnist", progress=False)
    message = str(caught.value)
    assert message.startswith("kmnist not found.")
    assert "fetch('kmnist')" in message and "Ways to provide it" in message and "sample" not in message.split("\n")[0]
    assert not (tmp_path / "xdg-cache").exists()
    with pytest.raises(DataNotFoundError, match=r"^kmnist not found"):
        fetch("kmnist", progress=False, data_dir=tmp_path / "a" / "b")
    assert not (tmp_path / "a").exists()


# ------------------------------------------------------------ labels (issue)


def test_issue_integral_float_labels_are_accepted(tmp_path):
    directory = make_idx_dir(tmp_path / "d")
    write_idx(directory / "t10k-labels-idx1-ubyte.gz", (np.arange(12) % 10).astype(np.float32))
    dataset = load_dataset(str(directory))
    np.testing.assert_array_equal(dataset.test[1], np.arange(12) % 10)
    assert dataset.test[1].dtype == np.int64


def test_issue_non_integral_labels_get_a_hint(tmp_path):
    directory = make_idx_dir(tmp_path / "d")
    write_idx(directory / "t10k-labels-idx1-ubyte.gz", np.full(12, 2.5, np.float32))
    with pytest.raises(DataError, match=r"t10k-labels.*must be integers \(3 or 3.0\) or class names: 2.5"):
        load_dataset(str(directory))


def test_issue_csv_given_as_a_label_file_gets_a_hint(tmp_path):
    directory = make_idx_dir(tmp_path / "d", gz=False)
    (directory / "train-labels-idx1-ubyte").write_text("label\n3\n1\n4\n")
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte is not an IDX file.*CSV file is read by"):
        load_dataset(str(directory))
