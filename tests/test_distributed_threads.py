"""Each rank's BLAS threads: anynet.distributed.threads gives a rank its share
of the machine's cores, fit limits them only while a multi-rank run trains,
and what the libraries used before comes back afterwards."""

from __future__ import annotations

import os
import sys

import pytest

from anynet.distributed import threads
from anynet.train.step import LocalReducer
from test_distributed_fit import fit_weights

threadpoolctl = pytest.importorskip("threadpoolctl")


def blas_threads() -> list[int]:
    """The thread counts of the BLAS libraries loaded here (NumPy's)."""
    return [pool["num_threads"] for pool in threadpoolctl.threadpool_info() if pool["user_api"] == "blas"]


@pytest.fixture
def four_cores(monkeypatch):
    """A machine of 4 cores, this process allowed on all of them."""
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    monkeypatch.setattr(threads, "usable_cores", lambda: 4)
    for name in threads.LOCAL_SIZE_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    "size,environ,cores,expected",
    [
        (1, {}, 4, 4),
        (2, {}, 4, 2),
        (3, {}, 4, 1),  # 4 // 3
        (8, {}, 4, 1),  # more ranks than cores: never 0
        (8, {"OMPI_COMM_WORLD_LOCAL_SIZE": "2"}, 4, 2),  # 8 ranks, 2 of them on this machine
        (8, {"LOCAL_WORLD_SIZE": "4"}, 4, 1),  # torchrun's count
        (8, {"MPI_LOCALNRANKS": "junk"}, 4, 1),  # not a count: every rank taken to be here
        (2, {}, 1, 1),  # the launcher bound this rank to one core
    ],
)
def test_threads_per_rank(four_cores, size, environ, cores, expected):
    assert threads.threads_per_rank(size, cores=cores, environ=environ) == expected


def test_share_cores_limits_blas_and_restores_it(four_cores):
    if not blas_threads():
        pytest.skip("threadpoolctl finds no BLAS library in this NumPy")
    with threadpoolctl.threadpool_limits(limits=3):
        with threads.share_cores(4) as limit:
            assert limit == 1 and set(blas_threads()) == {1}
        assert set(blas_threads()) == {3}


def test_share_cores_never_raises_a_limit_the_user_set(four_cores):
    if not blas_threads():
        pytest.skip("threadpoolctl finds no BLAS library in this NumPy")
    with threadpoolctl.threadpool_limits(limits=1):  # as OPENBLAS_NUM_THREADS=1 would
        with threads.share_cores(2):  # a share of 2 cores
            assert set(blas_threads()) == {1}
        assert set(blas_threads()) == {1}


def test_without_threadpoolctl_the_threads_are_left_alone_with_a_warning(monkeypatch):
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)  # import threadpoolctl raises ImportError
    with pytest.warns(RuntimeWarning, match="pip install threadpoolctl"):
        with threads.share_cores(2) as limit:
            assert limit is None


class ThreadsSeen(LocalReducer):
    """A single-process reducer that says it is rank 0 of ``size`` and
    records the BLAS threads while fit computes each mini-batch."""

    def __init__(self, size):
        self.size, self.seen = size, set()

    def batch_gradients(self, grad_fn, x, targets, rows=None):
        self.seen.update(blas_threads())
        return grad_fn(x, targets)  # local_rows (LocalReducer's): every row of the mini-batch is here


def test_fit_limits_the_threads_of_a_multi_rank_run_only_while_it_trains(four_cores):
    if not blas_threads():
        pytest.skip("threadpoolctl finds no BLAS library in this NumPy")
    with threadpoolctl.threadpool_limits(limits=4):
        two_ranks, alone = ThreadsSeen(2), ThreadsSeen(1)
        fit_weights(two_ranks, 10)
        assert two_ranks.seen == {2} and set(blas_threads()) == {4}
        fit_weights(alone, 10)
        assert alone.seen == {4}  # one process keeps every core
