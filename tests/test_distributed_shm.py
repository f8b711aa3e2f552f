"""anynet.distributed.shm: the exact reduction's block rows in memory that
every rank maps (ranks are threads over tests/mpi/fakes.py's communicator,
each mapping the shared file itself, as a process would)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import numpy as np
import pytest

from anynet.distributed import MPIReducer, shm
from anynet.errors import ArgumentTypeError
from anynet.model.params import Params
from mpi.fakes import FakeComm, FakeWorld, mpi_reducer, train_ranks
from mpi.train_tiny import CONFIGS

pytestmark = pytest.mark.skipif(not os.path.isdir(shm.SHARED_DIRECTORY), reason="no /dev/shm on this system")


def _ours():
    """This process's shared files (fake ranks are threads of it)."""
    return {name for name in os.listdir(shm.SHARED_DIRECTORY) if name.startswith(f"anynet-{os.getpid()}-")}


@pytest.fixture(autouse=True)
def nothing_left():
    """Every test here, failing ranks included, leaves no shared file behind."""
    before = _ours()
    yield
    assert _ours() <= before, "a shared-memory file was left in /dev/shm"


def test_every_rank_maps_the_same_rows_and_no_file_is_left():
    before = _ours()
    world = FakeWorld(3)

    def work(rank):
        rows = shm.SharedRows.open(FakeComm(world, rank), 4, 5, "float64")
        first = rows.next()
        first[rank] = rank + 1.0  # each rank writes its own row
        world.exchange(rank, None)  # a barrier
        seen = first.copy()
        second = rows.next()
        world.exchange(rank, None)
        return seen, np.shares_memory(first, second), _ours() - before

    for seen, same_half, left in world.run(work):
        assert seen[:3, 0].tolist() == [1.0, 2.0, 3.0] and not seen[3].any()
        assert not same_half  # two halves, used in turn
        assert not left  # the file was removed once every rank had it mapped


def test_a_rank_that_left_before_posting_is_reported_not_waited_for():
    """A rank whose process exits (``sys.exit(0)``: no error to MPI) marks
    itself as leaving; a rank waiting for rows it never posted is told so,
    by number, while one that left after posting the step is not missing."""
    from anynet.errors import DistributedError

    world = FakeWorld(2)
    rows = world.run(lambda rank: shm.SharedRows.open(FakeComm(world, rank), 2, 3, "float64"))
    for r in rows:
        r.next()
    rows[0].post(0)
    rows[0].check_peers()  # rank 1 has not posted yet, but it is still there
    rows[1]._leave()
    with pytest.raises(DistributedError, match="rank 1 left .* waited for its gradients at step 1"):
        rows[0].check_peers()
    rows[1].post(1)
    rows[0].check_peers()  # it posted this step before it left: nothing is missing
    assert rows[0].Test()


def test_a_rank_that_cannot_map_the_file_sends_every_rank_to_the_gather(monkeypatch):
    before, world = _ours(), FakeWorld(2)
    real_map = shm._map
    monkeypatch.setattr(shm, "_map", lambda path, nbytes: None if path.endswith("-x") else real_map(path, nbytes))
    monkeypatch.setattr(shm.secrets, "token_hex", lambda n: "0" * (2 * n - 2) + "-x")
    assert world.run(lambda rank: shm.SharedRows.open(FakeComm(world, rank), 2, 3, "float64")) == [None, None]
    assert _ours() == before


def test_a_rank_that_cannot_map_falls_back_with_the_others(monkeypatch):
    """mmap itself failing on one rank (no address space or mappings left: ENOMEM) sends every rank
    to the gather; it used to raise on that rank alone, leaving the others in open's collective
    until the job was aborted (and the file behind)."""
    real_mmap = shm.mmap.mmap

    def no_memory(fd, length, *args, **kwargs):
        if threading.current_thread().name.endswith("(rank 1)"):
            raise OSError(12, "Cannot allocate memory")
        return real_mmap(fd, length, *args, **kwargs)

    before, world = _ours(), FakeWorld(2)
    monkeypatch.setattr(shm.mmap, "mmap", no_memory)

    def work(rank):
        threading.current_thread().name += f" (rank {rank})"
        return shm.SharedRows.open(FakeComm(world, rank), 2, 3, "float64")

    assert world.run(work) == [None, None]
    assert _ours() == before


def test_no_room_falls_back_to_the_gather(monkeypatch):
    def full(fd, offset, length):
        raise OSError(28, "No space left on device")

    before, world = _ours(), FakeWorld(2)
    monkeypatch.setattr(shm.os, "posix_fallocate", full)
    assert world.run(lambda rank: shm.SharedRows.open(FakeComm(world, rank), 2, 3, "float64")) == [None, None]
    assert _ours() == before


def test_two_jobs_at_once_get_their_own_files(monkeypatch):
    """Two jobs on one machine (here: two worlds in one process, so even the pid in the name is the
    same) whose files exist at the same moment: each maps its own, and rows written in one are not
    seen by the other.  A barrier in _map holds both jobs' rank 0 until both files exist."""
    both, real_map, paths = threading.Barrier(2, timeout=20), shm._map, []

    def held(path, nbytes, length=None):
        if path not in paths:
            paths.append(path)
            both.wait()
        return real_map(path, nbytes, length)

    monkeypatch.setattr(shm, "_map", held)
    worlds, opened = [FakeWorld(1), FakeWorld(1)], [None, None]
    jobs = [threading.Thread(target=lambda j=j: opened.__setitem__(j, worlds[j].run(
        lambda rank: shm.SharedRows.open(FakeComm(worlds[j], rank), 2, 3, "float64")))) for j in (0, 1)]
    for job in jobs:
        job.start()
    for job in jobs:
        job.join()
    assert len(set(paths)) == 2 and all(rows is not None for (rows,) in opened)
    first, second = (rows.next() for (rows,) in opened)
    first[...] = 7.0
    assert not second.any() and not np.shares_memory(first, second)


def test_a_name_taken_by_another_file_is_left_alone_and_the_gather_used(monkeypatch):
    """A colliding name (another job's file, or anything else there) is never opened, written or
    removed: the file is made with O_EXCL, and where that fails every rank uses MPI's gather."""
    monkeypatch.setattr(shm.secrets, "token_hex", lambda n: "c" * (2 * n))
    taken = os.path.join(shm.SHARED_DIRECTORY, f"anynet-{os.getpid()}-{'c' * 16}")
    nbytes = 64 * 2 + 2 * 2 * 3 * 8  # the size this job would map: the other file even matches it
    with open(taken, "xb") as f:
        f.write(b"\x5a" * nbytes)
    try:
        world = FakeWorld(2)
        assert world.run(lambda rank: shm.SharedRows.open(FakeComm(world, rank), 2, 3, "float64")) == [None, None]
        with open(taken, "rb") as f:
            assert f.read() == b"\x5a" * nbytes
    finally:
        os.unlink(taken)


def test_the_file_of_a_rank_0_killed_inside_open_is_removed_by_the_next_job():
    """A rank 0 killed between making its file and removing it (the one window where a file can
    be left) leaves anynet-<pid>-<hex>; the next job's rank 0 removes the files of processes that
    no longer exist, and leaves a live process's file and any other name alone."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # reaped: its pid names no process
    names = [f"anynet-{gone.pid}-{'d' * 16}", f"anynet-{os.getpid()}-{'e' * 16}", f"anynet-{gone.pid}-mine"]
    paths = [os.path.join(shm.SHARED_DIRECTORY, name) for name in names]
    for path in paths:
        with open(path, "xb") as f:
            f.write(bytes(8))
    try:
        world = FakeWorld(2)
        assert all(world.run(lambda rank: shm.SharedRows.open(FakeComm(world, rank), 2, 3, "float64")))
        assert [os.path.exists(path) for path in paths] == [False, True, True]
    finally:
        for path in paths:
            if os.path.exists(path):
                os.unlink(path)


@pytest.mark.parametrize("reduce,batch,block", [c for c in CONFIGS if c[0] == "exact"])
def test_training_through_shared_rows_equals_the_gather(reduce, batch, block):
    for size in (2, 3):
        shared = train_ranks(size, mpi_reducer(reduce, block), batch)
        gathered = train_ranks(size, mpi_reducer(reduce, block, share_memory=False), batch)
        for a, b in zip(shared, gathered):
            assert a.tobytes() == b.tobytes()


def test_share_memory_must_be_a_bool():
    with pytest.raises(ArgumentTypeError, match="share_memory must be True or False"):
        MPIReducer(FakeComm(FakeWorld(1), 0), share_memory="yes")


def test_a_step_is_complete_once_every_rank_has_posted():
    world = FakeWorld(2)
    opened = world.run(lambda rank: shm.SharedRows.open(FakeComm(world, rank), 2, 3, "float64"))
    for rows in opened:
        rows.next()
    seen = [opened[0].Test()]
    opened[0].post(0)
    seen.append(opened[1].Test())
    opened[1].post(1)
    seen += [opened[0].Test(), opened[1].Test()]
    opened[0].next()
    seen.append(opened[0].Test())  # the next step waits for new posts
    assert seen == [False, False, True, True, False]


class NoGather(FakeComm):
    def Iallgatherv(self, send, spec):
        raise AssertionError("a block vector crossed MPI")

    def Ibarrier(self):
        raise AssertionError("a barrier was called")


@pytest.mark.skipif(not shm.SharedRows.posts_suffice, reason="posts alone are used on x86-64 only")
def test_with_posts_a_step_makes_no_mpi_call():
    make = lambda world, rank: MPIReducer(NoGather(world, rank), block_size=3)  # noqa: E731
    assert train_ranks(3, make, 10)[0].tobytes() == train_ranks(1, mpi_reducer("exact", 3), 10)[0].tobytes()


def test_without_posts_the_ranks_meet_at_a_barrier(monkeypatch):
    monkeypatch.setattr(shm.SharedRows, "posts_suffice", False)
    shared = train_ranks(2, mpi_reducer("exact", 3), 10)
    assert shared[0].tobytes() == train_ranks(2, mpi_reducer("exact", 3, share_memory=False), 10)[0].tobytes()
    world = FakeWorld(2)
    with pytest.raises(AssertionError, match="a barrier was called"):
        world.run(lambda rank: MPIReducer(NoGather(world, rank), block_size=3)
                  .batch_gradients(_grad_fn, np.zeros((10, 2)), np.zeros((10, 1))))


def test_without_shared_rows_block_vectors_cross_mpi():
    world = FakeWorld(2)
    with pytest.raises(AssertionError, match="crossed MPI"):
        world.run(lambda rank: MPIReducer(NoGather(world, rank), block_size=3, share_memory=False)
                  .batch_gradients(_grad_fn, np.zeros((10, 2)), np.zeros((10, 1))))


def _grad_fn(x, targets):
    return [Params(np.ones((1, 2)), np.ones(1))]
