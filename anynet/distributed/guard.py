"""A failing rank must end the whole job: the other ranks would otherwise wait
forever in their next collective.  ``run_guarded`` wraps training on every
rank; on an uncaught exception it prints which rank failed and why, then
aborts the job through the reducer (or an mpi4py communicator).
"""

from __future__ import annotations

import contextlib
import sys
import traceback

from ..errors import AnynetError, ArgumentTypeError


def report_failure(rank: int, size: int, exc: BaseException) -> None:
    """Print to stderr that ``rank`` of ``size`` failed with ``exc``: the
    message alone for a user's mistake (an AnynetError), the traceback for
    anything else (a bug, which deserves one)."""
    lines = [] if isinstance(exc, AnynetError) else traceback.format_exception(exc)
    lines.append(f"anynet: rank {rank} of {size} failed, ending all ranks: {type(exc).__name__}: {exc}\n")
    sys.stdout.flush()
    sys.stderr.write("".join(lines))
    sys.stderr.flush()


def abort_communicator(comm, exc: BaseException) -> None:
    """Report ``exc`` and end every rank of the mpi4py communicator ``comm``
    (``MPI_Abort`` with exit code 1); a single process only reports nothing
    and lets the exception go on as usual."""
    size = comm.Get_size()
    if size > 1:
        report_failure(comm.Get_rank(), size, exc)
        comm.Abort(1)


@contextlib.contextmanager
def run_guarded(target):
    """A context for the training code of every rank: an exception that
    escapes it (Ctrl-C and ``sys.exit(2)`` included, ``sys.exit(0)`` not)
    ends the whole job instead of leaving the other ranks waiting.

    ``target`` is a reducer (its ``abort(exc)`` is called) or an mpi4py
    communicator.  In one process nothing is aborted: the exception goes on.
    """
    if callable(getattr(target, "abort", None)):
        abort = target.abort
    elif callable(getattr(target, "Abort", None)):
        abort = lambda exc: abort_communicator(target, exc)  # noqa: E731
    else:
        raise ArgumentTypeError(
            f"run_guarded needs a reducer or an mpi4py communicator, not {type(target).__name__}"
        )
    try:
        yield
    except SystemExit as exc:
        if exc.code not in (None, 0):
            abort(exc)
        raise
    except BaseException as exc:
        abort(exc)
        raise
