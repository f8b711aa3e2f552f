"""Downloading one file from a list of mirrors: a verified copy lands at its
target, or nothing does.

Each attempt streams into a ``.part`` file beside the target
(:func:`anynet.io.files.temporary_beside`: removed on failure, Ctrl-C and SIGTERM;
one left by a SIGKILL is swept by a later download once it is an hour old),
checks size and SHA-256, and renames it into place.  Each file has an overall
deadline (``timeout``, else ``$ANYNET_DOWNLOAD_TIMEOUT``, else
:data:`DEFAULT_TIMEOUT_S`): a server that trickles bytes cannot hold a
download for ever, because a watchdog shuts the connection down when the
deadline passes, and the next mirror is tried.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import math
import os
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path


from ..errors import ArgumentError
from ..io.files import fsync_directory, temporary_beside

TIMEOUT_S = 30  # per network operation (connect, each read)
DEFAULT_TIMEOUT_S = 300.0  # per file: the largest, 26 MB, at 90 kB/s
TIMEOUT_VARIABLE = "ANYNET_DOWNLOAD_TIMEOUT"
_CHUNK = 1 << 16


class _VerificationError(ValueError):
    """A downloaded file does not have the expected size or SHA-256."""


class _TooSlow(OSError):
    """A file did not arrive within its deadline."""


def download_timeout(timeout=None) -> float:
    """The deadline for one file in seconds: ``timeout`` if given, else
    ``$ANYNET_DOWNLOAD_TIMEOUT``, else :data:`DEFAULT_TIMEOUT_S`.  ArgumentError
    names the setting if it is not a positive number."""
    where = "timeout"
    if timeout is None:
        text = os.environ.get(TIMEOUT_VARIABLE, "").strip()
        if not text:
            return DEFAULT_TIMEOUT_S
        where = f"${TIMEOUT_VARIABLE}"
        try:
            timeout = float(text)
        except ValueError:
            raise ArgumentError(f"{where} must be a number of seconds, got {text!r}") from None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not (0 < timeout < math.inf):
        raise ArgumentError(f"{where} must be a positive number of seconds, got {timeout!r}")
    return float(timeout)


def download_file(filename: str, target: Path, urls, expected: tuple[int, str], *, progress: bool, timeout: float):
    """Try each mirror until one delivers ``filename`` with the ``expected``
    (size, SHA-256) to ``target``; return ``(url, [])`` for the mirror that
    did, or ``(None, failures)``, one line per mirror saying what went wrong."""
    failures = []
    for base in urls:
        url = urllib.parse.urljoin(base if base.endswith("/") else base + "/", filename)
        try:
            _download_verified(url, target, expected, progress, timeout)
            return url, []
        except http.client.HTTPException as error:  # the server did not speak HTTP properly
            failures.append(f"{url}: broken HTTP response ({type(error).__name__}: {error})")
        except (OSError, _VerificationError) as error:
            failures.append(f"{url}: {error}")
    return None, failures


def _download_verified(url: str, target: Path, expected: tuple[int, str], progress: bool, timeout: float) -> None:
    size, sha256 = expected
    with temporary_beside(target, "part") as (out, tmp):
        digest, received = _stream(url, out, size, progress, target.name, timeout)
        if received != size:
            raise _VerificationError(f"got {received:,} bytes, expected {size:,}")
        if digest != sha256:
            raise _VerificationError(f"SHA-256 mismatch: got {digest}, expected {sha256}")
        out.flush()
        os.fsync(out.fileno())
        out.close()
        os.replace(tmp, target)
    fsync_directory(target.parent)


def _stream(url: str, out, size: int, progress: bool, label: str, timeout: float) -> tuple[str, int]:
    """Copy ``url`` into ``out`` within ``timeout`` seconds; return (SHA-256 hex digest, bytes received)."""
    digest, received = hashlib.sha256(), 0
    with _Watchdog(timeout) as watchdog:
        try:
            opener = urllib.request.build_opener(_HTTPHandler(watchdog), _HTTPSHandler(watchdog))
            request = urllib.request.Request(url, headers={"User-Agent": "anynet"})
            try:
                response = opener.open(request, timeout=min(TIMEOUT_S, timeout))
            except urllib.error.HTTPError as error:
                error.close()  # it holds the open connection
                raise
            from tqdm import tqdm  # imported when a download starts: `import anynet` stays light

            with (
                response,
                tqdm(total=size, unit="B", unit_scale=True, unit_divisor=1024, desc=label, disable=not progress) as bar,
            ):
                while chunk := response.read(_CHUNK):
                    received += len(chunk)
                    if received > size:  # stop a server that sends more than the file can be
                        raise _VerificationError(f"more than the expected {size:,} bytes")
                    digest.update(chunk)
                    out.write(chunk)
                    bar.update(len(chunk))
        except (OSError, http.client.HTTPException):
            if not watchdog.expired:
                raise
        if watchdog.expired:
            raise _TooSlow(
                f"too slow: {received:,} of {size:,} bytes after {timeout:g} s, the deadline for one file "
                f"(raise it with ${TIMEOUT_VARIABLE} or timeout=)"
            )
    return digest.hexdigest(), received


class _Watchdog:
    """Shuts the watched connection down when the deadline passes, so that a
    read waiting on a server that trickles bytes returns at once (a socket
    timeout restarts with every byte)."""

    def __init__(self, seconds: float):
        self.expired = False
        self._socket = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self):
        self._timer.start()
        return self

    def __exit__(self, *exc_info):
        self._timer.cancel()

    def watch(self, sock) -> None:
        with self._lock:
            self._socket = sock  # a redirect opens a new connection: watch that one
            if self.expired:
                self._shut()

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            self._shut()

    def _shut(self) -> None:
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.shutdown(socket.SHUT_RDWR)


class _Watched:
    """A connection that hands its socket to a watchdog once connected."""

    def __init__(self, *args, watchdog: _Watchdog, **kwargs):
        super().__init__(*args, **kwargs)
        self._watchdog = watchdog

    def connect(self):
        super().connect()
        self._watchdog.watch(self.sock)


class _WatchedHTTPConnection(_Watched, http.client.HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, http.client.HTTPSConnection):
    pass


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, watchdog: _Watchdog):
        super().__init__()
        self._watchdog = watchdog

    def http_open(self, req):
        return self.do_open(_WatchedHTTPConnection, req, watchdog=self._watchdog)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, watchdog: _Watchdog):
        super().__init__()
        self._watchdog = watchdog

    def https_open(self, req):  # the default context: certificates and host name checked
        return self.do_open(_WatchedHTTPSConnection, req, watchdog=self._watchdog)
