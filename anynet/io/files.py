"""Files anynet writes and reads: atomic writes that leave nothing behind,
output paths checked before work starts, and regular files only.

A file is written to a temporary name beside its target (``.<name>.<hex>.tmp``
for saves, ``.part`` for downloads), flushed to disk and renamed over the
target, so the target always holds either its old content or the complete new
one.  The temporary file is removed when the write fails and on Ctrl-C; on
SIGTERM where :func:`removing_temporaries_on_sigterm` is active (the command
line runs every command inside it; the library itself installs no signal
handler); one that a signal left behind is removed by the next write into the
same directory once it is an hour old (a younger one may belong to a run that
is still writing).  A Ctrl-C during a save is held back until the save
has ended (a second one interrupts at once), so that every interrupt
surfaces as KeyboardInterrupt and none leaves a temporary file.  A write the
system refuses (a full disk, a file too large, a read-only directory) raises
:class:`OutputPathError` naming the user's file and what became of it.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import stat
import struct
import threading
import time
import zipfile
import zlib
from pathlib import Path

from ..errors import DataError, OutputPathError
from .writing import failure, interrupts_held

STALE_AFTER_S = 3600.0
TEMP_SUFFIXES = ("tmp", "part")
_TEMP_NAME = re.compile(r"^\..+\.[0-9a-f]{12}\.(?:tmp|part)$")

_live: set[Path] = set()
_lock = threading.Lock()


def temp_path(target: Path, suffix: str = "tmp") -> Path:
    """A fresh temporary name beside ``target``: ``.<name>.<12 hex>.<suffix>``."""
    if suffix not in TEMP_SUFFIXES:
        raise ValueError(f"temporary suffix must be one of {TEMP_SUFFIXES}, not {suffix!r}")
    return target.with_name(f".{target.name}.{secrets.token_hex(6)}.{suffix}")


def remove_stale_temps(directory: Path, *, older_than_s: float = STALE_AFTER_S) -> list[Path]:
    """Remove anynet's temporary files in ``directory`` older than ``older_than_s``
    seconds (left by a killed run); return what was removed."""
    removed = []
    now = time.time()
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        if not _TEMP_NAME.match(entry.name):
            continue
        try:
            info = entry.stat(follow_symlinks=False)
            if stat.S_ISREG(info.st_mode) and now - info.st_mtime > older_than_s:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue  # another process removed or replaced it: fine
    return removed


@contextlib.contextmanager
def removing_temporaries_on_sigterm():
    """While active, a SIGTERM first removes the temporary files being written
    (by any thread) and then does what it did before: the previous handler
    runs, or the default action ends the process.  The previous handler is
    restored on exit.  Outside the main thread it does nothing (Python
    delivers signals to the main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum, frame):
        with _lock:
            paths = list(_live)
        for path in paths:
            with contextlib.suppress(OSError):
                path.unlink()
        if callable(previous):
            previous(signum, frame)
            return
        # The default action (terminate) after the clean-up: restore it and re-send.
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous in (None, signal.SIG_DFL) else previous)
        if previous != signal.SIG_IGN:
            os.kill(os.getpid(), signal.SIGTERM)

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _register(path: Path) -> None:
    with _lock:
        _live.add(path)


def _unregister(path: Path) -> None:
    with _lock:
        _live.discard(path)


@contextlib.contextmanager
def temporary_beside(target: Path, suffix: str = "tmp"):
    """Create a temporary file beside ``target`` and yield ``(file, path)``;
    the file is removed unless the caller renamed it into place.  Stale
    temporary files of earlier, killed runs in that directory are removed first."""
    target = Path(target)
    remove_stale_temps(target.parent)
    tmp = temp_path(target, suffix)
    # Registered before the file exists: a SIGTERM the moment it appears
    # still removes it (under removing_temporaries_on_sigterm).  And it counts
    # as ours from before the open: an interrupt just after the open removes it.
    _register(tmp)
    ours = True
    try:
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        except FileExistsError:
            ours = False  # another writer's name (48 random bits collided): never removed here
            raise
        with os.fdopen(fd, "wb") as f:
            yield f, tmp
    finally:
        _unregister(tmp)
        if ours:
            with contextlib.suppress(OSError):  # renamed into place, never created, or a read-only directory
                tmp.unlink()


def write_atomically(path, write) -> None:
    """Call ``write(f)`` on a temporary file beside ``path`` and rename it over
    ``path`` once complete and on disk.  ``path`` keeps its old content if
    ``write`` fails or the process is interrupted; a Ctrl-C waits for the
    write to end (:func:`interrupts_held`).  A failure of the system (a full
    disk, a file too large, a directory made read-only) raises
    :class:`OutputPathError` naming ``path``."""
    path = Path(path)
    with interrupts_held():
        existed = os.path.lexists(path)
        try:
            with temporary_beside(path, "tmp") as (f, tmp):
                write(f)
                f.flush()
                os.fsync(f.fileno())
                f.close()
                os.replace(tmp, path)
        except OutputPathError:
            raise
        except OSError as exc:
            kept = f"the previous {path.name} is intact" if existed else f"{path.name} was not created"
            raise failure("write", path, exc, kept) from exc
    fsync_directory(path.parent)


def write_new(path, data: bytes, *, overwrite: bool, what: str = "output") -> Path:
    """Write ``data`` to ``path`` atomically, but refuse (:class:`OutputPathError`)
    to replace a file that holds other bytes unless ``overwrite``; a file that
    already holds exactly ``data`` is left as it is."""
    path = check_output_path(path, what)
    if path.exists() and not overwrite:
        info = require_regular_file(path, what)
        with open(path, "rb") as f:
            same = info.st_size == len(data) and f.read(len(data) + 1) == data
        if same:
            return path
        raise OutputPathError(f"{what} {path}: exists and holds something else; pass overwrite=True "
                              "(on the command line --overwrite) to replace it")
    write_atomically(path, lambda f: f.write(data))
    return path


def fsync_directory(directory: Path) -> None:
    """Make a rename durable (POSIX); Windows cannot open directories."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def check_output_path(path, what: str = "output", *, append: bool = False) -> Path:
    """Raise :class:`OutputPathError` naming ``path`` unless a file can be
    written there: the path is not a directory, its directory exists and is
    writable (``append``: or the file exists and can be appended to; nothing
    is written to it).  Called before training, not after it."""
    path = Path(path)
    if path.is_dir():
        raise OutputPathError(f"{what} {path}: is a directory; give a file name")
    parent = path.resolve().parent
    if not parent.is_dir():
        raise OutputPathError(f"{what} {path}: the directory {path.parent} does not exist")
    try:  # a real probe: permission bits say nothing for root or read-only mounts
        if append and path.exists():
            require_regular_file(path, what)
            os.close(os.open(path, os.O_WRONLY | os.O_APPEND | getattr(os, "O_NONBLOCK", 0)))
            return path
        with interrupts_held(), temporary_beside(path):  # held: a Ctrl-C in its clean-up would leave it
            pass
    except DataError as exc:
        raise OutputPathError(str(exc)) from None
    except OSError as exc:
        where = path if append and path.exists() else f"in {parent}"
        raise OutputPathError(f"{what} {path}: cannot write {where} ({exc.strerror or exc})") from None
    return path


def require_regular_file(path, what: str = "file") -> os.stat_result:
    """``os.stat`` of ``path`` if it is a regular file; a FIFO, a device such as
    /dev/zero, a socket or a directory raises :class:`DataError` before anything
    is opened (reading one could block or never end)."""
    path = Path(path)
    info = os.stat(path)  # FileNotFoundError/PermissionError name the path themselves
    if not stat.S_ISREG(info.st_mode):
        kind = (
            "a directory" if stat.S_ISDIR(info.st_mode)
            else "a FIFO" if stat.S_ISFIFO(info.st_mode)
            else "a device" if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode)
            else "a socket" if stat.S_ISSOCK(info.st_mode)
            else "not a regular file"
        )
        raise DataError(f"{path}: {what} must be a regular file, but this is {kind}")
    return info


def open_regular(path, what: str = "file", *, error=DataError):
    """Open ``path`` for binary reading if it is a regular file; anything else
    raises ``error`` (a DataError, or e.g. CheckpointError) naming it, without
    blocking: should a FIFO have replaced the file since the check, O_NONBLOCK
    makes opening it return at once, and fstat sees it."""
    try:
        require_regular_file(path, what)
    except DataError as exc:
        if error is DataError:
            raise
        raise error(str(exc)) from None
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise error(f"{path}: {what} must be a regular file")
    return os.fdopen(fd, "rb")


# What zipfile, zlib and NumPy's .npy header parser raise on damaged bytes (a
# fuzz of 60,000 bit flips and byte runs of checkpoints met all but struct.error).
DAMAGED_BYTES = (zipfile.BadZipFile, struct.error, zlib.error, EOFError, OSError, ValueError, NotImplementedError)


@contextlib.contextmanager
def damaged(path, part: str, *, error=DataError):
    """Turn what parsing damaged bytes of ``path`` raises inside the block
    into one ``error`` (a DataError, or e.g. CheckpointError) naming the file
    and the ``part`` that could not be read; an ``error`` raised inside
    passes unchanged."""
    try:
        yield
    except error:
        raise
    except DAMAGED_BYTES as exc:
        raise error(f"{path}: {part} is truncated or corrupt ({type(exc).__name__}: {exc})") from exc


def physical_memory() -> int | None:
    """This machine's RAM in bytes, or None where the OS does not say."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None

