"""anynet.train.fit with a multi-process reducer: the training loop every front uses
gives bit-identical weights on 1, 2, 3 and 4 ranks in the exact mode.  The
ranks are threads over the fake communicator of tests/mpi/fakes.py, which
test_distributed.py shows gives the bits of real MPI."""

from __future__ import annotations

import numpy as np
import pytest

from anynet import distributed
from anynet.datasets import boundary as inputs
from anynet.model import model as model_module
from anynet.train import fit as fit_module
from conftest import rel_diff
from mpi.fakes import FakeComm, FakeWorld


SIZES = [8, 6, 3]


@pytest.fixture(autouse=True)
def many_cores(monkeypatch):
    """Every fake rank computes unless a test says otherwise: the ranks are
    threads of this process, and the machine's cores must not decide which
    of them rest (see the tests of resting ranks below, which set ``workers``)."""
    monkeypatch.setattr(distributed.mpi, "usable_cores", lambda: 64)


def fit_weights(reducer, mini_batch_size: int, cost=None) -> np.ndarray:
    """Every bias then every weight after 3 epochs of fit under ``reducer``
    (None: fit's own single-process reducer)."""
    rng = np.random.default_rng(3)
    x, labels = rng.random((40, SIZES[0])), rng.integers(0, SIZES[-1], 40)
    model = model_module.build(SIZES, cost, rng=np.random.default_rng(0))
    data = inputs.prepare((x, labels), backend=model.backend, n_in=SIZES[0], n_out=SIZES[-1], what="training_data")
    config = fit_module.TrainConfig(epochs=3, mini_batch_size=mini_batch_size, eta=1.0)
    shuffler = fit_module.Shuffler(40, np.random.default_rng(1))
    fit_module.fit(model, data, config, shuffler=shuffler, reducer=reducer)
    return np.concatenate([np.ravel(model.backend.to_numpy(a)) for a in [p.bias for p in model.params] + [p.weight for p in model.params]])


@pytest.mark.parametrize("cost", [None, "cross-entropy"])
@pytest.mark.parametrize("mini_batch_size", [10, 7])
def test_fit_is_bit_identical_on_1_to_4_ranks(mini_batch_size, cost):
    reference = fit_weights(None, mini_batch_size, cost)
    runs = {}
    for size in (1, 2, 3, 4):
        world = FakeWorld(size)
        runs[size] = world.run(
            lambda rank: fit_weights(distributed.MPIReducer(FakeComm(world, rank)), mini_batch_size, cost)
        )
    for size, ranks in runs.items():
        for weights in ranks:
            assert weights.tobytes() == runs[1][0].tobytes(), f"{size} ranks"
            # float64: the same sums in blocks instead of one product, over ~20 steps
            assert rel_diff(weights, reference) <= 4e-14  # measured worst 4.1e-16


class Reading(distributed.MPIReducer):
    """An MPIReducer that records the rows each step hands it."""

    def batch_gradients(self, grad_fn, x, targets, rows=None):
        self.seen.append((x.shape[0], rows))
        return super().batch_gradients(grad_fn, x, targets, rows=rows)


class Whole(distributed.MPIReducer):
    """An MPIReducer that has the loop hand it whole mini-batches (as before local_rows)."""

    local_rows = None


@pytest.mark.parametrize("reduce", ["exact", "fast"])
def test_each_rank_reads_only_the_rows_it_computes(reduce):
    """fit's loop takes from the data only a rank's own rows of each
    mini-batch (reducer.local_rows), not the whole mini-batch; the weights
    are those of the reducer given whole mini-batches."""
    world = FakeWorld(3)

    def run(rank):
        reducer = Reading(FakeComm(world, rank), reduce=reduce, block_size=2 if reduce == "exact" else None)
        reducer.seen = []
        return fit_weights(reducer, 10), reducer.seen

    results = world.run(run)
    # 40 rows in mini-batches of 10 (exact: 5 blocks of 2 rows, dealt 2, 2, 1; fast: shares of 4, 3, 3 rows)
    expected = {"exact": [4, 4, 2], "fast": [4, 3, 3]}[reduce]
    for rank, (_, seen) in enumerate(results):
        assert set(seen) == {(expected[rank], 10)}, f"rank {rank}"
    block = 2 if reduce == "exact" else None
    whole = world.run(lambda rank: fit_weights(Whole(FakeComm(world, rank), reduce=reduce, block_size=block), 10))
    for (weights, _), reference in zip(results, whole):
        assert weights.tobytes() == reference.tobytes()


def test_a_rank_without_blocks_reads_block_zero():
    reducer = distributed.MPIReducer(FakeComm(FakeWorld(4), 3), block_size=5)  # 2 blocks for 4 ranks
    assert reducer.local_rows(10) == (0, 5)
    assert distributed.MPIReducer(FakeComm(FakeWorld(4), 1), block_size=5).local_rows(10) == (5, 10)


class Counting(distributed.MPIReducer):
    """An MPIReducer that counts the mini-batches it is handed."""

    calls = 0

    def batch_gradients(self, grad_fn, x, targets, rows=None):
        self.calls += 1
        return super().batch_gradients(grad_fn, x, targets, rows=rows)


@pytest.mark.parametrize("reduce", ["exact", "fast"])
@pytest.mark.parametrize("size, workers", [(2, 1), (3, 1), (4, 2), (4, 3)])
def test_ranks_past_the_workers_rest_and_end_with_the_same_bits(size, workers, reduce):
    """With more ranks on a machine than ``workers`` (default: its cores),
    the ranks past them compute nothing (no mini-batch reaches them) and take
    each epoch's result from rank 0; the weights are bit for bit those of
    every rank computing (exact: and of one rank), on every rank."""
    reference = fit_weights(None, 10)
    world = FakeWorld(size)

    def run(rank, workers):
        reducer = Counting(FakeComm(world, rank), reduce=reduce, workers=workers)
        return fit_weights(reducer, 10), reducer.calls

    rested = world.run(lambda rank: run(rank, workers))
    everyone = world.run(lambda rank: run(rank, None))  # 64 cores: every rank computes
    assert [calls for _, calls in rested] == [12] * workers + [0] * (size - workers)  # 3 epochs of 4 mini-batches
    assert [calls for _, calls in everyone] == [12] * size
    for weights, _ in rested:  # a resting rank ends with rank 0's bits
        assert weights.tobytes() == rested[0][0].tobytes()
    if reduce == "exact":  # the blocks do not depend on how many ranks compute them
        assert rested[0][0].tobytes() == everyone[0][0].tobytes()
        assert rested[0][0].tobytes() == fit_weights(distributed.MPIReducer(FakeComm(FakeWorld(1), 0)), 10).tobytes()
    else:  # fast: the shares are the computing ranks', so the sums' rounding changes with their number
        assert rel_diff(rested[0][0], everyone[0][0]) <= 4e-14
    assert rel_diff(rested[0][0], reference) <= 4e-14  # as above: sums in parts instead of one product


def test_rank_0_computes_whatever_the_launcher_numbers_it(monkeypatch):
    """The resting ranks take rank 0's parameters, so rank 0 computes even
    where the launcher gives it a place on its machine past the workers."""
    monkeypatch.setattr(distributed.mpi, "local_rank", lambda rank: 1 - rank)  # rank 0 is the machine's second
    world = FakeWorld(2)
    rested = world.run(lambda rank: (lambda r: (fit_weights(r, 10), r.calls))(Counting(FakeComm(world, rank), workers=1)))
    assert [calls for _, calls in rested] == [12, 12]  # rank 0 computes beside the machine's first rank
    assert rested[0][0].tobytes() == rested[1][0].tobytes()
    assert rested[0][0].tobytes() == fit_weights(distributed.MPIReducer(FakeComm(FakeWorld(1), 0)), 10).tobytes()


def test_workers_must_be_a_positive_whole_number():
    comm = FakeComm(FakeWorld(2), 0)
    with pytest.raises(TypeError, match="workers must be a whole number"):
        distributed.MPIReducer(comm, workers=1.5)
    with pytest.raises(ValueError, match="workers must be at least 1"):
        distributed.MPIReducer(comm, workers=0)
