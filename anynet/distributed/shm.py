"""Block rows in memory that every rank of a job on one machine maps: the
exact reduction's gather without moving the data through MPI.

Each rank writes its block gradients into its rows of one ``(K, P)`` array
that all ranks map, the ranks meet at a barrier, and each folds the K rows.
Through ``Iallgatherv`` the same K*P numbers cross MPI's shared-memory
transport in 32 KiB fragments: on this project's 2-core machine (loaded by
other work), exchanging the 4 block vectors of a [784, 30, 10] network took
1.2 ms on 2 ranks and 1.9 ms on 4, an ``Ibarrier`` 1 us and 0.45 ms
(300 of each in a row, polled with anynet's naps).

The file backing the array is made by rank 0 in ``/dev/shm`` (Linux's
shared memory; elsewhere MPI's gather is used) under a random name, its space reserved at once (a
full tmpfs fails here, not with SIGBUS later), opened by the other ranks,
and removed as soon as every rank has it mapped: nothing is left behind.
A rank that cannot open it (another machine) makes every rank fall back to
MPI's gather.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import secrets

import numpy as np


SHARED_DIRECTORY = "/dev/shm"  # memory, and never shared between machines (a temporary directory may be)


class SharedRows:
    """Two ``(blocks, width)`` arrays of ``dtype`` in memory shared by every
    rank of ``comm`` (all on this machine), used in turn: the rows of one
    step are written while no rank can still be folding those of the step
    before (a barrier lies between them), so one barrier a step suffices.

    :meth:`open` is collective and returns None, on every rank, where the
    ranks cannot share memory (not all on one machine, no ``/dev/shm``,
    no space there)."""

    def __init__(self, memory: mmap.mmap, blocks: int, width: int, dtype):
        self._memory = memory
        self._halves = np.frombuffer(memory, dtype=dtype).reshape(2, blocks, width)
        self._turn = 0

    def next(self):
        """The ``(blocks, width)`` rows of this step (the two arrays in turn)."""
        rows = self._halves[self._turn]
        self._turn ^= 1
        return rows

    @classmethod
    def open(cls, comm, blocks: int, width: int, dtype) -> "SharedRows | None":
        """Map shared rows on every rank of ``comm`` (collective: every rank
        calls it at the same point); None on every rank where they cannot be."""
        nbytes = 2 * blocks * width * np.dtype(dtype).itemsize
        path = None
        if comm.Get_rank() == 0:
            path = _create(nbytes)
        path = comm.bcast(path, root=0)
        memory = None if path is None else _map(path, nbytes)
        everyone = comm.allgather(memory is not None)  # every rank has it mapped (or failed)
        if comm.Get_rank() == 0 and path is not None:
            with contextlib.suppress(OSError):
                os.unlink(path)
        if not all(everyone):
            if memory is not None:
                memory.close()
            return None
        return cls(memory, blocks, width, dtype)


def _create(nbytes: int) -> str | None:
    """A new file of ``nbytes`` reserved bytes under a random name; None when
    it cannot be made (the caller then uses MPI's gather)."""
    if not hasattr(os, "posix_fallocate") or not os.path.isdir(SHARED_DIRECTORY):  # e.g. macOS
        return None
    path = os.path.join(SHARED_DIRECTORY, f"anynet-{os.getpid()}-{secrets.token_hex(8)}")
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError:
        return None
    try:
        os.posix_fallocate(fd, 0, nbytes)
    except OSError:
        os.unlink(path)
        return None
    finally:
        os.close(fd)
    return path


def _map(path: str, nbytes: int) -> mmap.mmap | None:
    """``path`` mapped for reading and writing; None where this rank cannot open it."""
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return None
    try:
        if os.fstat(fd).st_size != nbytes:
            return None
        return mmap.mmap(fd, nbytes)
    finally:
        os.close(fd)
