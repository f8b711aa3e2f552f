"""anynet.distributed in one process: the block plan, the fold, the flat
layout, the reducers' logic over fake communicators (one thread per rank),
argument checks and the failure guard.  The real MPI and torch.distributed
runs are in test_distributed.py.
"""

from __future__ import annotations

import functools
import operator

import numpy as np
import pytest

from anynet import distributed
from anynet.model.activations import Sigmoid
from anynet.xp.backend import get_backend
from anynet.model.layers.chain import mlp_gradients as backprop
from anynet.model.costs import QuadraticCost
from anynet.model.params import Params, book_lists, from_book
from anynet.errors import ArgumentError, ArgumentTypeError, DataError, DistributedError
from conftest import assert_on_backend, rel_diff
from mpi.fakes import FakeComm, FakeWorld, mpi_reducer, nccl_reducer, train_ranks
from mpi.train_tiny import CONFIGS, LocalReducer, make_problem, train


# -- the block plan ----------------------------------------------------------------


@pytest.mark.parametrize("block_size", [1, 2, 3, 7])
@pytest.mark.parametrize("m", [1, 2, 5, 7, 10, 23])
def test_blocks_do_not_depend_on_the_number_of_ranks(m, block_size):
    expected = [(a, min(a + block_size, m)) for a in range(0, m, block_size)]
    for size in range(1, 6):
        plan = distributed.BlockPlan(m, block_size, size)
        dealt = [block for rank in range(size) for block in plan.blocks(rank)]
        assert dealt == expected  # every block once, contiguous runs in rank order
        assert max(plan.counts) - min(plan.counts) <= 1
        assert plan.counts[0] >= 1
        for rank in range(size):
            start, stop = plan.rows(rank)
            rows = [r for a, b in plan.blocks(rank) for r in range(a, b)]
            assert list(range(start, stop)) == rows


@pytest.mark.parametrize(
    "m,rows,blocks",
    [(1, 1, 1), (3, 1, 3), (4, 1, 4), (5, 2, 3), (10, 3, 4), (20, 5, 4), (100, 25, 4), (101, 26, 4), (1000, 250, 4)],
)
def test_default_blocks_are_a_quarter_of_the_mini_batch(m, rows, blocks):
    """The default is a function of the mini-batch alone (never of the
    number of ranks): at most 4 blocks, so each of up to 4 ranks gets one."""
    assert distributed.default_block_size(m) == rows
    assert len(distributed.BlockPlan(m, rows, 1).bounds) == blocks
    reducer = distributed.MPIReducer(FakeComm(FakeWorld(1), 0))
    assert reducer.block_size is None and reducer.block_rows(m) == rows


def test_fast_mode_deals_single_rows_by_default_and_given_blocks_are_kept():
    assert distributed.MPIReducer(FakeComm(FakeWorld(1), 0), reduce="fast").block_rows(100) == 1
    assert distributed.MPIReducer(FakeComm(FakeWorld(1), 0), block_size=7).block_rows(100) == 7


class Request:
    """An mpi4py request that completes at its ``done``-th test."""

    def __init__(self, done):
        self.done, self.tests = done, 0

    def Test(self):
        self.tests += 1
        return self.tests >= self.done


@pytest.mark.parametrize("done", [1, 2, 50])
def test_wait_tests_the_request_until_it_completes(done, monkeypatch):
    from anynet.distributed import mpi

    naps = []
    monkeypatch.setattr(mpi.time, "sleep", naps.append)
    request = Request(done)
    mpi.wait(request, spin_s=0.0, yield_s=0.0, nap_s=1e-5)
    assert request.tests == done
    assert naps == [1e-5] * (done - 1)  # no spinning or yielding asked: a nap between tests


@pytest.mark.parametrize("cores, spin_s, yield_s", [(2, 0.0, 2e-3), (4, 50e-6, 200e-6)])
def test_more_ranks_than_cores_do_not_spin_and_yield_longer(cores, spin_s, yield_s, monkeypatch):
    from anynet.distributed import mpi

    monkeypatch.setattr(mpi, "usable_cores", lambda: cores)
    reducer = mpi.MPIReducer(FakeComm(FakeWorld(4), 0))  # 4 ranks, all on this machine
    assert (reducer.spin_s, reducer.yield_s) == (spin_s, yield_s)
    waits = []
    monkeypatch.setattr(mpi, "wait", lambda request, **policy: waits.append(policy))
    reducer._wait(Request(1))
    assert waits == [{"spin_s": spin_s, "yield_s": yield_s}]


def test_wait_spins_then_yields_then_naps(monkeypatch):
    from anynet.distributed import mpi

    done, clock = [], iter(range(1000))
    monkeypatch.setattr(mpi.time, "perf_counter", lambda: next(clock) * 60e-6)  # 60 us a reading
    monkeypatch.setattr(mpi.time, "sleep", lambda seconds: done.append("nap"))
    monkeypatch.setattr(mpi, "_yield", lambda: done.append("yield"))
    mpi.wait(Request(7), spin_s=50e-6, yield_s=200e-6, nap_s=20e-6)
    # waited 60, 120, 180 us: yield (past the 50 us spin); 240, 300, 360 us: nap (past 200 us)
    assert done == ["yield", "yield", "yield", "nap", "nap", "nap"]


# -- the fold ------------------------------------------------------------------------


def test_fold_adds_left_to_right():
    # (1e16 + 1) - 1e16 = 0 in float64, while 1e16 + (1 - 1e16) = 2: the order shows
    rows = np.array([[1e16, 1.0], [1.0, 1e16], [-1e16, -1e16], [1.0, 1.0]])
    expected = functools.reduce(operator.add, list(rows))
    assert expected.tolist() == [1.0, 1.0]
    assert np.array_equal(distributed.fold(rows), expected)


def test_fold_gives_the_same_bits_on_another_library():
    torch = pytest.importorskip("torch")
    rows = np.random.default_rng(3).standard_normal((9, 50)) * 10.0 ** np.arange(-4, 5)[:, None]
    on_host = distributed.fold(rows)
    on_torch = distributed.fold(torch.asarray(rows)).numpy()
    assert on_host.tobytes() == on_torch.tobytes()


# -- the flat layout -------------------------------------------------------------------


def test_layout_round_trip(backend):
    rng = np.random.default_rng(5)
    shapes_b, shapes_w = [(4, 1), (2, 1)], [(4, 3), (2, 4)]
    nabla_b = [backend.asarray(rng.standard_normal(s)) for s in shapes_b]
    nabla_w = [backend.asarray(rng.standard_normal(s)) for s in shapes_w]
    grads = from_book(nabla_w, nabla_b)
    layout = distributed.Layout(grads)
    flat = layout.flatten(grads)
    assert_on_backend(flat, backend, (4 + 2 + 12 + 8,))
    # every bias gradient, then every weight gradient (anynet 0.2's order on the wire)
    assert np.array_equal(backend.to_numpy(flat), np.concatenate([backend.to_numpy(a).ravel() for a in nabla_b + nabla_w]))
    # from the backend and from a host copy: the arrays come back where they were
    for vector in (flat, backend.to_numpy(flat)):
        back = layout.unflatten(vector)
        assert all(type(p) is Params for p in back)
        for got, want in zip([a for p in back for a in p], [a for p in grads for a in p], strict=True):
            assert_on_backend(got, backend, want.shape)
            assert np.array_equal(backend.to_numpy(got), backend.to_numpy(want))
            assert np.array_equal(backend.to_numpy(got), backend.to_numpy(want))


# -- the reducers over fake communicators ----------------------------------------------


@pytest.mark.parametrize("reduce,batch,block", CONFIGS)
def test_mpi_reducer_trains_as_one_process(reduce, batch, block):
    reference = train(LocalReducer(), batch)
    runs = {size: train_ranks(size, mpi_reducer(reduce, block), batch) for size in (1, 2, 3, 4)}
    for size, ranks in runs.items():
        for weights in ranks:
            # ~20 SGD steps whose sums of <= 10 rows are added in another
            # order: measured worst 1.5e-16
            assert rel_diff(weights, reference) <= 1.5e-14
            if reduce == "exact":
                assert weights.tobytes() == runs[1][0].tobytes(), f"{size} ranks"


def test_exact_mode_is_not_one_gradient_call():
    """The oracle above is not vacuous: adding the rows in blocks really does
    change the bits against one whole-batch gradient call."""
    reference = train(LocalReducer(), 10)
    (exact,) = train_ranks(1, mpi_reducer("exact", 1), 10)
    assert exact.tobytes() != reference.tobytes()


@pytest.mark.parametrize("reduce,batch,block", CONFIGS)
def test_nccl_reducer_matches_the_mpi_reducer(reduce, batch, block):
    for size in (2, 3):
        via_host = train_ranks(size, mpi_reducer(reduce, block), batch)
        via_nccl = train_ranks(size, nccl_reducer(reduce, block), batch)
        for host, device in zip(via_host, via_nccl):
            # exact: padded gather, same fold; fast: the fakes' all-reduces add
            # the ranks' vectors in the same order (measured 0): the same bits
            assert host.tobytes() == device.tobytes()


def test_exact_mode_on_torch_arrays():
    pytest.importorskip("torch")
    torch_backend = get_backend("torch", "cpu", "float64")
    one, three = (train_ranks(n, mpi_reducer("exact", 1), 7, backend=torch_backend) for n in (1, 3))
    for weights in three:
        assert weights.tobytes() == one[0].tobytes()


def test_ranks_with_different_batches_are_refused_on_every_rank():
    world = FakeWorld(2)
    x, targets, weights, biases = make_problem()
    activations = [Sigmoid()] * 2

    def grad_fn(xr, tr):
        return backprop(from_book(weights, biases), xr, tr, activations=activations, cost=QuadraticCost, xp=np)

    def work(rank):
        reducer = distributed.MPIReducer(FakeComm(world, rank))
        rows = 10 if rank == 0 else 9
        with pytest.raises(DistributedError, match=r"rank 0: batch \(10, 8\).*rank 1: batch \(9, 8\)"):
            reducer.batch_gradients(grad_fn, x[:rows], targets[:rows])
        return True

    assert world.run(work) == [True, True]


# -- arguments ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options,error",
    [
        ({"reduce": "approximate"}, ArgumentError),
        ({"block_size": 0}, ArgumentError),
        ({"block_size": 2.0}, ArgumentTypeError),
        ({"block_size": True}, ArgumentTypeError),
    ],
)
def test_bad_options_are_refused(options, error):
    with pytest.raises(error, match="reduce|block_size"):
        distributed.MPIReducer(FakeComm(FakeWorld(1), 0), **options)


def test_torch_reducer_needs_an_initialised_process_group():
    torch_dist = pytest.importorskip("torch.distributed")
    if torch_dist.is_available() and torch_dist.is_initialized():
        pytest.skip("a process group is already initialised in this process")
    with pytest.raises(ArgumentError, match="init_process_group"):
        distributed.TorchDistributedReducer()


# -- the failure guard ---------------------------------------------------------------------


class RecordingReducer:
    def __init__(self):
        self.aborted = []

    def abort(self, exc):
        self.aborted.append(exc)


@pytest.mark.parametrize("exc", [RuntimeError("boom"), KeyboardInterrupt(), SystemExit(2)])
def test_guard_aborts_then_lets_the_exception_go_on(exc):
    reducer = RecordingReducer()
    with pytest.raises(type(exc)):
        with distributed.run_guarded(reducer):
            raise exc
    assert reducer.aborted == [exc]


def test_guard_leaves_a_clean_exit_alone():
    reducer = RecordingReducer()
    with pytest.raises(SystemExit):
        with distributed.run_guarded(reducer):
            raise SystemExit(0)
    with distributed.run_guarded(reducer):
        pass
    assert reducer.aborted == []


def test_guard_refuses_what_cannot_abort():
    with pytest.raises(ArgumentTypeError, match="reducer or an mpi4py communicator"):
        with distributed.run_guarded(object()):
            pass


def test_guard_on_a_communicator_names_the_rank(capsys):
    world = FakeWorld(2)
    comm = FakeComm(world, 1)
    with pytest.raises(RuntimeError):
        with distributed.run_guarded(comm):
            raise RuntimeError("lost the data")
    assert comm.aborted == 1
    err = capsys.readouterr().err
    assert "Traceback" in err  # an unexpected error is a bug: its traceback helps
    assert "anynet: rank 1 of 2 failed, ending all ranks: RuntimeError: lost the data" in err


def test_a_user_error_is_reported_without_traceback(capsys):
    comm = FakeComm(FakeWorld(2), 0)
    with pytest.raises(DataError):
        with distributed.run_guarded(distributed.MPIReducer(comm)):
            raise DataError("labels.npy: label 7 out of range")
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err == "anynet: rank 0 of 2 failed, ending all ranks: DataError: labels.npy: label 7 out of range\n"
    assert comm.aborted == 1


def test_one_process_is_not_aborted(capsys):
    comm = FakeComm(FakeWorld(1), 0)
    with pytest.raises(RuntimeError):
        with distributed.run_guarded(comm):
            raise RuntimeError("boom")
    assert comm.aborted is None and capsys.readouterr().err == ""


# -- the exact reducer against an oracle written here ------------------------------------


def _grad_fn():
    x, targets, weights, biases = make_problem()
    activations = [Sigmoid()] * 2

    def grad_fn(xr, tr):
        return backprop(from_book(weights, biases), xr, tr, activations=activations, cost=QuadraticCost, xp=np)

    return x, targets, grad_fn


def _flat(gradients):
    nabla_w, nabla_b = book_lists(gradients)
    return np.concatenate([np.asarray(g).ravel() for g in [*nabla_b, *nabla_w]])


def _reduce_on(size, reduce, block, grad_fn, x, targets, **options):
    world = FakeWorld(size)
    make = mpi_reducer(reduce, block, **options)
    return world.run(lambda rank: _flat(make(world, rank).batch_gradients(grad_fn, x, targets)))


@pytest.mark.parametrize("share_memory", [True, False])
@pytest.mark.parametrize("batch,block", [(10, 1), (10, 3), (7, 3), (23, 2)])
@pytest.mark.parametrize("size", [1, 2, 3, 4])
def test_exact_reducer_adds_the_block_gradients_left_to_right(size, batch, block, share_memory):
    """The promise itself: every rank's bytes are those of block 0 + block 1 +
    ... + block K-1, each block's gradient computed alone, added left to right
    here (not by distributed.fold).  Folding in any other fixed order (e.g.
    reversed) keeps the ranks equal to each other, which the tests above
    check, but fails this one: planted (fold reversed) and seen failing.
    Both host paths: block rows in shared memory, and MPI's gather."""
    x, targets, grad_fn = _grad_fn()
    x, targets = x[:batch], targets[:batch]
    blocks = [_flat(grad_fn(x[a : a + block], targets[a : a + block])) for a in range(0, batch, block)]
    expected = blocks[0]
    for vector in blocks[1:]:
        expected = expected + vector
    backwards = blocks[-1]
    for vector in blocks[-2::-1]:
        backwards = backwards + vector
    assert backwards.tobytes() != expected.tobytes()  # the order shows in the bits of this problem
    for rank, got in enumerate(_reduce_on(size, "exact", block, grad_fn, x, targets, share_memory=share_memory)):
        assert got.tobytes() == expected.tobytes(), f"{size} ranks, rank {rank}"


@pytest.mark.parametrize("batch,block", [(10, 1), (7, 3), (23, 2)])
@pytest.mark.parametrize("size", [1, 2, 3, 4])
def test_fast_reducer_is_one_gradient_call_to_rounding(size, batch, block):
    """reduce="fast": each rank's share in one call, the shares summed by one
    all-reduce.  One rank is the whole batch's call, bit for bit; more ranks
    agree with it to 3e-14 relative (measured here: at most 2.6e-16 for
    2-4 ranks, float64; the order of a sum of <= 4 shares)."""
    x, targets, grad_fn = _grad_fn()
    x, targets = x[:batch], targets[:batch]
    whole = _flat(grad_fn(x, targets))
    for got in _reduce_on(size, "fast", block, grad_fn, x, targets):
        if size == 1:
            assert got.tobytes() == whole.tobytes()
        else:
            assert rel_diff(got, whole) <= 3e-14
