"""Each rank of a multi-process run on one machine takes its share of the
cores for its BLAS and OpenMP threads.

NumPy's BLAS starts one thread per core in every process, so N ranks on C
cores would run N*C threads that take the cores from each other: on 2 cores
an epoch of ``mpiexec -n 2`` took 40-170x the single process's time.
:func:`share_cores` limits the threads of the libraries loaded in this
process to ``cores // ranks on this machine`` (at least 1; never more than
they had) for the length of
a run and restores them afterwards; ``anynet.train.fit.fit`` enters it
whenever its reducer has more than one rank (through
:func:`anynet.train.step.rank_threads`).
"""

from __future__ import annotations

import contextlib
import os
import warnings

# Launchers that say how many ranks share this machine: Open MPI, MPICH and
# Intel MPI, torchrun.  Without one, every rank is taken to be on this machine.
LOCAL_SIZE_VARIABLES = ("OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", "LOCAL_WORLD_SIZE")
LOCAL_RANK_VARIABLES = ("OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "LOCAL_RANK")


def local_ranks(size: int, environ=os.environ) -> int:
    """How many of the job's ``size`` ranks run on this machine: the
    launcher's count where it gives one, else ``size``."""
    return _launcher_number(LOCAL_SIZE_VARIABLES, environ, size, least=1)


def local_rank(rank: int, environ=os.environ) -> int:
    """This rank's place (from 0) among the job's ranks on this machine: the
    launcher's where it gives one, else ``rank`` (every rank on this machine)."""
    return _launcher_number(LOCAL_RANK_VARIABLES, environ, rank, least=0)


def _launcher_number(names, environ, default: int, *, least: int) -> int:
    """The first of the launcher variables ``names`` that holds a whole number
    of at least ``least``, else ``default``."""
    for name in names:
        value = environ.get(name, "")
        if value.isdigit() and int(value) >= least:
            return int(value)
    return default


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the system
    says, else every core)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def threads_per_rank(size: int, *, cores: int | None = None, environ=os.environ) -> int:
    """This rank's share of the cores when ``size`` ranks run the job: the
    machine's cores divided among the ranks on it, at least 1, and never more
    than this process may use (a launcher that binds a rank to its cores
    has shared them already)."""
    cores = usable_cores() if cores is None else cores
    machine = max(cores, os.cpu_count() or 1)
    return max(1, min(cores, machine // local_ranks(size, environ)))


@contextlib.contextmanager
def share_cores(size: int):
    """Within the block, the BLAS and OpenMP libraries loaded in this process
    use at most :func:`threads_per_rank` threads (never more than they had:
    a limit set by the user stays); at its end, what they used before.

    Needs threadpoolctl (in the ``mpi`` extra, and a dependency of
    scikit-learn); without it the threads are left alone, with a warning.
    Yields the number of threads (None when nothing was limited).
    """
    try:
        from threadpoolctl import threadpool_info, threadpool_limits
    except ImportError:
        warnings.warn(
            "threadpoolctl is not installed, so every rank's BLAS may start one thread per core and the ranks "
            "compete for the cores: pip install threadpoolctl (or 'anynet-nndl[mpi]')",
            RuntimeWarning,
            stacklevel=3,
        )
        yield None
        return
    threads = threads_per_rank(size)
    # never more threads than a library had (OPENBLAS_NUM_THREADS=1 stays 1)
    limits = {}
    for pool in threadpool_info():
        limits[pool["prefix"]] = min(limits.get(pool["prefix"], threads), pool["num_threads"])
    with threadpool_limits(limits=limits):
        yield threads
