"""Writes that run whole or report what went wrong: Ctrl-C held back during
a write (:func:`interrupts_held`), the message of a write the system refused
(:func:`failure`: the user's file, what happened, what became of the file),
and appending whole lines (:func:`append_text`).  :mod:`anynet.io.files`
builds its atomic writes on these."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from pathlib import Path

from ..errors import OutputPathError


@contextlib.contextmanager
def interrupts_held():
    """Hold back Ctrl-C (SIGINT) while the block runs, so that it runs whole:
    one that arrives is delivered (a KeyboardInterrupt, under Python's
    default handler) when the block ends; a second one interrupts at once.
    Only the main thread receives signals; elsewhere this does nothing."""
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or previous is None:
        yield  # None: a handler installed outside Python, which could not be put back
        return
    arrived = []

    def hold(signum, frame):
        if arrived:
            raise KeyboardInterrupt
        arrived.append(frame)

    signal.signal(signal.SIGINT, hold)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if arrived and callable(previous):
            previous(signal.SIGINT, arrived[0])
        elif arrived and previous == signal.SIG_DFL:
            os.kill(os.getpid(), signal.SIGINT)


def failure(verb: str, path, exc: OSError, kept: str) -> OutputPathError:
    """``could not write run.npz: file too large; the previous run.npz is
    intact``: the user's ``path`` (never a temporary name), what the system
    said, and what became of the file (``kept``)."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    return OutputPathError(f"could not {verb} {path}: {reason[:1].lower()}{reason[1:]}; {kept}")


def append_text(path, text: str) -> None:
    """Append ``text`` to ``path`` (made if missing) whole or not at all: a
    failed write (a full disk, a file too large) is cut back to the file's
    earlier length and raises :class:`OutputPathError`; a Ctrl-C waits for it."""
    path = Path(path)
    data = text.encode("utf-8")
    with interrupts_held():
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o666)
        except OSError as exc:
            raise failure("append to", path, exc, "nothing was written") from exc
        size = 0
        try:
            size = os.fstat(fd).st_size
            written = 0
            while written < len(data):
                written += os.write(fd, data[written:])
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)
            raise failure("append to", path, exc, f"its earlier {size:,} bytes are intact") from exc
        finally:
            os.close(fd)
