"""Opening data files safely: regular files only (a FIFO or /dev/zero would
block or never end), gzip recognised by its magic number whatever the file is
called, reads bounded by what the file's own header promises, and arrays that
cannot fit in memory refused before they are allocated."""

from __future__ import annotations

import contextlib
import gzip
import zlib

import numpy as np

from ..errors import DataError, TooLargeError
from ..io.files import open_regular, physical_memory  # noqa: F401  (re-exported for the readers)

GZIP_MAGIC = b"\x1f\x8b"
CHUNK = 1 << 20


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
