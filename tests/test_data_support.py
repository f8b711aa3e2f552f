"""Helpers and fixtures shared by the data tests (test_datasets.py,
test_data_*.py): hermetic environment, IDX writers independent of the reader,
real HTTP servers on 127.0.0.1.  No tests here.  Only anynet's public names
are used, so that the regression tests also run against older code."""

from __future__ import annotations

import functools
import gzip
import hashlib
import socket
import struct
import threading
import time
import tracemalloc
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from anynet import datasets

IDX_CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D, np.float64: 0x0E}
RECORD_NAME = ".anynet-downloads.json"  # the download record beside cached files
MiB = 1 << 20


@pytest.fixture(autouse=True)
def hermetic(monkeypatch, tmp_path):
    """No test sees the user's data, cache, system datasets, timeout or the network."""
    monkeypatch.delenv("ANYNET_DATA", raising=False)
    monkeypatch.delenv("ANYNET_MIRRORS", raising=False)
    monkeypatch.delenv("ANYNET_DOWNLOAD_TIMEOUT", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setattr(datasets, "SYSTEM_DIRS", {})


def idx_bytes(array: np.ndarray) -> bytes:
    """``array`` in the IDX format (independent of the reader)."""
    array = np.asarray(array)
    header = bytes([0, 0, IDX_CODES[array.dtype.type], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_idx(path: Path, array: np.ndarray) -> Path:
    """Write ``array`` as an IDX file, gzipped if the name ends in .gz."""
    data = idx_bytes(array)
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def make_idx_dir(
    directory: Path, *, marker: int = 7, n_train: int = 60, n_test: int = 12, gz: bool = True, test_side: int = 28
) -> Path:
    """Four small MNIST-format files whose pixels all equal ``marker``, to tell directories apart."""
    directory.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    for prefix, n, side in (("train", n_train, 28), ("t10k", n_test, test_side)):
        write_idx(directory / f"{prefix}-images-idx3-ubyte{suffix}", np.full((n, side, side), marker, np.uint8))
        write_idx(directory / f"{prefix}-labels-idx1-ubyte{suffix}", (np.arange(n) % 10).astype(np.uint8))
    return directory


def marker_of(dataset) -> int:
    return round(float(dataset.train[0][0, 0]) * 255)


def write_gzip_bomb(path: Path, header: bytes, inflated_mib: int) -> Path:
    """A gzip file of ``header`` followed by ``inflated_mib`` MiB of zeros,
    built from repeated gzip members (a valid gzip stream) in milliseconds:
    about 1 kB per MiB on disk, nothing large in memory."""
    member = gzip.compress(bytes(MiB), compresslevel=9)
    with open(path, "wb") as f:
        f.write(gzip.compress(header))
        for _ in range(inflated_mib):
            f.write(member)
    return path


def peak_memory(call) -> int:
    """Peak bytes Python and NumPy allocate while ``call()`` runs (tracemalloc sees both)."""
    tracemalloc.start()
    try:
        call()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


def digest(path: Path) -> tuple[int, str]:
    data = path.read_bytes()
    return len(data), hashlib.sha256(data).hexdigest()


def cache_files(cache: Path) -> list[str]:
    """Every file under the cache, hidden temporary files included, but not the download record."""
    return sorted(p.name for p in cache.rglob("*") if p.is_file() and p.name != RECORD_NAME)


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass


class TrickleHandler(QuietHandler):
    """Promises a whole file, then sends one byte every 0.1 s (for at most
    20 s, so that a client without a deadline gets a short file, not a hang)."""

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(50 * MiB))
        self.end_headers()
        stop = time.monotonic() + 20
        try:
            while time.monotonic() < stop:
                self.wfile.write(b"\0")
                self.wfile.flush()
                time.sleep(0.1)
        except OSError:  # the client hung up: what a deadline should do
            pass
        self.close_connection = True


@pytest.fixture
def serve():
    """Start real HTTP servers on 127.0.0.1 serving a directory; return their base URL."""
    servers = []

    def start(directory: Path, handler=QuietHandler) -> str:
        server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(directory)))
        server.daemon_threads = True  # a trickling handler must not hold up the teardown
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        servers.append((server, thread))
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def closed_port_url() -> str:
    """A URL on which nothing listens: connecting is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """A directory of four generated .gz files, registered as the known-good mnist files."""
    directory = make_idx_dir(tmp_path / "mirror", marker=42)
    checksums = {path.name: digest(path) for path in directory.iterdir()}
    monkeypatch.setitem(datasets.CHECKSUMS, "mnist", checksums)
    return directory
