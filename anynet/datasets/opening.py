"""Opening data files safely: regular files only (a FIFO or /dev/zero would
block or never end), gzip recognised by its magic number whatever the file is
called, reads bounded by what the file's own header promises, and arrays that
cannot fit in memory refused before they are allocated."""

from __future__ import annotations

import contextlib
import gzip
import os
import stat
import zlib

import numpy as np

from ..errors import DataError, TooLargeError
from ..files import require_regular_file

GZIP_MAGIC = b"\x1f\x8b"
CHUNK = 1 << 20


def open_regular(path, what: str):
    """Open ``path`` for binary reading if it is a regular file; anything else
    raises DataError naming it, without blocking."""
    require_regular_file(path, what)
    # O_NONBLOCK: should a FIFO have replaced the file since the check, opening it returns at once.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise DataError(f"{path}: {what} must be a regular file")
    return os.fdopen(fd, "rb")


@contextlib.contextmanager
def open_data(path, what: str):
    """Yield a binary stream of the bytes of ``path``, decompressed on the fly
    if the file is gzip.  Refuses non-regular files; a damaged gzip stream
    raises DataError naming the file."""
    with open_regular(path, what) as raw:
        gzipped = raw.read(2) == GZIP_MAGIC
        raw.seek(0)
        if not gzipped:
            yield raw
            return
        try:
            with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
                yield stream
        except (EOFError, gzip.BadGzipFile, zlib.error) as error:
            raise DataError(f"{path} is a truncated or corrupt gzip file: {error}") from error


def read_exactly(stream, n: int, path, what: str) -> bytes:
    """The next ``n`` bytes of ``stream``; DataError if it ends sooner."""
    data = stream.read(n)
    if len(data) != n:
        raise DataError(f"{path} is truncated: {what} needs {n} bytes, the file has {len(data)}")
    return data


def fill(stream, array: np.ndarray, path, promised: str) -> np.ndarray:
    """Read ``array.nbytes`` bytes of ``stream`` into ``array`` in chunks, then
    make sure nothing follows: memory never exceeds the array, however much a
    (gzip) stream could inflate to.  ``promised`` says what set the size (for
    the messages), e.g. "its header describes (60000, 28, 28) uint8"."""
    buffer = memoryview(array.reshape(-1).view(np.uint8))
    filled = 0
    while filled < len(buffer):
        count = stream.readinto(buffer[filled : filled + CHUNK])
        if not count:
            raise DataError(
                f"{path} is truncated: {promised} ({len(buffer):,} bytes of data), the file has {filled:,}"
            )
        filled += count
    if stream.read(1):  # at the end of a gzip stream this also checks its CRC
        raise DataError(f"{path} is corrupt: it holds more data than {promised} ({len(buffer):,} bytes)")
    return array


def physical_memory() -> int | None:
    """This machine's RAM in bytes, or None where the OS does not say."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def check_fits(nbytes: int, path, what: str) -> None:
    """TooLargeError naming ``path`` if ``nbytes`` exceed this machine's memory:
    refuse before allocating, so that a header claiming an absurd size cannot
    make anynet try."""
    memory = physical_memory()
    if memory is not None and nbytes > memory:
        raise TooLargeError(
            f"{path}: {what} needs {_gib(nbytes)}, more than this machine's memory ({_gib(memory)})"
        )


def _gib(nbytes: int) -> str:
    return f"{nbytes / 2**30:,.1f} GiB"
