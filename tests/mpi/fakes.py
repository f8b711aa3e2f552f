"""Fake communicators for in-process tests of anynet.distributed: every rank
is a thread of the test process, meeting the others at a barrier for each
collective, with MPI's and NCCL's buffer rules checked."""

from __future__ import annotations

import functools
import operator
import threading

import numpy as np

from anynet import distributed

from .train_tiny import train


class FakeWorld:
    """``size`` ranks, one thread each, meeting at a barrier for every collective."""

    def __init__(self, size: int):
        self.size = size
        self.barrier = threading.Barrier(size, timeout=20)
        self.slots = [None] * size
        self.parts = {}  # the worlds of Split's groups, by their ranks here
        self.parts_lock = threading.Lock()

    def part(self, ranks: tuple) -> "FakeWorld":
        """The world of the group ``ranks`` (the same object for each of them)."""
        with self.parts_lock:
            if ranks not in self.parts:
                self.parts[ranks] = FakeWorld(len(ranks))
            return self.parts[ranks]

    def exchange(self, rank: int, value) -> list:
        """Every rank's ``value``, in rank order, on every rank."""
        self.slots[rank] = value
        self.barrier.wait()
        everyone = list(self.slots)
        self.barrier.wait()
        return everyone

    def run(self, work) -> list:
        """``work(rank)`` on every rank; the results in rank order, or the first error."""
        results, errors = [None] * self.size, []

        def target(rank):
            try:
                results[rank] = work(rank)
            except BaseException as exc:  # handed to the test thread below
                errors.append(exc)
                self.barrier.abort()

        threads = [threading.Thread(target=target, args=(rank,)) for rank in range(self.size)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        return results


class FakeComm:
    """The mpi4py calls the reducers make, with MPI's buffer rules checked."""

    def __init__(self, world: FakeWorld, rank: int):
        self.world, self.rank, self.aborted = world, rank, None

    def Get_rank(self):
        return self.rank

    def Get_size(self):
        return self.world.size

    def Allgatherv(self, send, spec):
        received, counts = spec
        everyone = self.world.exchange(self.rank, send.copy())
        assert [part.size for part in everyone] == counts and received.size == sum(counts)
        received[...] = np.concatenate([part.ravel() for part in everyone]).reshape(received.shape)

    def Allreduce(self, send, total):
        total[...] = functools.reduce(operator.add, self.world.exchange(self.rank, send.copy()))

    def Iallgatherv(self, send, spec):
        self.Allgatherv(send, spec)
        return FakeRequest()

    def Iallreduce(self, send, total):
        self.Allreduce(send, total)
        return FakeRequest()

    def Ibarrier(self):
        self.world.exchange(self.rank, None)
        return FakeRequest()

    def allgather(self, value):
        return self.world.exchange(self.rank, value)

    def Split(self, color, key=0):
        """MPI_Comm_split: a communicator of the ranks with this ``color``, ordered by ``key``."""
        everyone = self.world.exchange(self.rank, (color, key))
        ranks = tuple(rank for _, rank in sorted((k, r) for r, (c, k) in enumerate(everyone) if c == color))
        return FakeComm(self.world.part(ranks), ranks.index(self.rank))

    def bcast(self, value, root=0):
        return self.world.exchange(self.rank, value)[root]

    def Abort(self, code):
        self.aborted = code


class FakeRequest:
    """A non-blocking collective's request that reports itself pending the
    first ``pending`` times it is tested (the data is there from the start)."""

    def __init__(self, pending: int = 2):
        self.pending, self.tests = pending, 0

    def Test(self):
        self.tests += 1
        return self.tests > self.pending


class FakeNccl:
    """NCCL's equal-size all-gather and its all-reduce, on host arrays."""

    def __init__(self, world: FakeWorld, rank: int):
        self.world, self.rank = world, rank

    def all_gather(self, send, out):
        everyone = self.world.exchange(self.rank, send.copy())
        assert len({part.shape for part in everyone}) == 1, "NCCL gathers equal sizes only"
        out[...] = np.concatenate(everyone)

    def all_reduce(self, send, out):
        out[...] = functools.reduce(operator.add, self.world.exchange(self.rank, send.copy()))


def train_ranks(size, make_reducer, batch, **options):
    """Train the tiny problem on ``size`` fake ranks; every rank's final parameters."""
    world = FakeWorld(size)
    return world.run(lambda rank: train(make_reducer(world, rank), batch, **options))


def mpi_reducer(reduce, block, **options):
    return lambda world, rank: distributed.MPIReducer(FakeComm(world, rank), reduce=reduce, block_size=block, **options)


def nccl_reducer(reduce, block):
    def make(world, rank):
        comm = FakeComm(world, rank)
        return distributed.CupyNCCLReducer(comm, reduce=reduce, block_size=block, nccl=FakeNccl(world, rank))

    return make
