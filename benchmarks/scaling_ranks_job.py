"""What runs in each process of one launch of ``bench_scaling.py ranks``
(scaling_ranks.py starts it): ``mpiexec -n N python scaling_ranks_job.py
--m M --reduce exact|fast --block B --images N [--save FILE]`` (``--block 0``:
the default blocks), or with
``--reduce none`` as one plain process (the baseline, no reducer).

Loads the data, trains an untimed warm-up of WARMUP_BATCHES mini-batches,
then times one epoch of ``anynet.train.fit.fit`` on device data from a barrier,
under an MPIReducer whose MPI calls, ``grad_fn`` calls and own work are
clocked.  Rank 0 prints every rank's times as one JSON line and, given
``--save``, writes its trained parameters (every bias, then every weight,
flattened) to FILE with ``numpy.save``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import sys
import time

import harness
import numpy as np

SIZES = [784, 30, 10]
ETA = 3.0
DTYPE = "float64"
SEED = 20240601  # the weights of contestants.SEED
SHUFFLE_SEED = 7
WARMUP_BATCHES = 3


class TimedComm:
    """An mpi4py communicator whose calls the reducer and fit make are clocked
    (nanoseconds summed in ``ns``), the non-blocking collectives' waits
    included; everything else passes through."""

    CLOCKED = ("Allgatherv", "Allreduce", "Iallgatherv", "Iallreduce", "Ibarrier", "allgather", "bcast")

    def __init__(self, comm):
        self._comm, self.ns, self.calls = comm, 0, 0

    def Split(self, *args):  # the computing ranks' communicator (MPIReducer.begin_epoch), clocked too
        return TimedComm(self._comm.Split(*args))

    def __getattr__(self, name):
        attribute = getattr(self._comm, name)
        if name not in self.CLOCKED:
            return attribute

        def clocked(*args, **kwargs):
            start = time.perf_counter_ns()
            try:
                result = attribute(*args, **kwargs)
            finally:
                self.ns += time.perf_counter_ns() - start
                self.calls += 1
            return TimedRequest(result, self) if name.startswith("I") else result

        return clocked


class TimedRequest:
    """An mpi4py request that adds to ``timed.ns`` the time from its start to
    the ``Test`` that finds it complete: the whole wait, naps included."""

    def __init__(self, request, timed):
        self._request, self._timed, self._start = request, timed, time.perf_counter_ns()

    def Wait(self):
        self._request.Wait()
        self._timed.ns += time.perf_counter_ns() - self._start

    def Test(self):
        done = self._request.Test()
        if done:
            self._timed.ns += time.perf_counter_ns() - self._start
        return done


def timed_reducer(comm, reduce, block, blocking=False):
    """An MPIReducer over ``TimedComm(comm)`` that also clocks every ``grad_fn``
    call and its own work in ``batch_gradients`` (all but grad_fn and MPI).
    ``blocking``: MPI's own blocking wait (``request.Wait()``), which spins
    (anynet before its own waits; the A/B of ``--spin``)."""
    from anynet.distributed import MPIReducer

    class Blocking(MPIReducer):
        @staticmethod
        def _wait(request):  # a spin, as MPI's own blocking wait is (request.Wait() of an MPI request)
            while not request.Test():
                pass

    class TimedReducer(Blocking if blocking else MPIReducer):
        grad_ns = grad_calls = own_ns = 0
        threads_in_run = None  # BLAS threads while fit trains (fit limits them to the rank's share)

        def _wait(self, request):
            """The reducer's wait; a wait for the ranks' posts in shared memory,
            which is no MPI call, is clocked as one (MPI requests clock themselves)."""
            if isinstance(request, TimedRequest):
                return super()._wait(request)
            start = time.perf_counter_ns()
            super()._wait(request)
            self.comm.ns += time.perf_counter_ns() - start
            self.comm.calls += 1

        def batch_gradients(self, grad_fn, x, targets, rows=None):
            if self.threads_in_run is None:
                self.threads_in_run = harness.blas_threads()[0]
            def clocked(x_rows, target_rows):
                start = time.perf_counter_ns()
                gradients = grad_fn(x_rows, target_rows)
                self.grad_ns += time.perf_counter_ns() - start
                self.grad_calls += 1
                return gradients

            start, grad, comm = time.perf_counter_ns(), self.grad_ns, self.comm.ns
            gradients = super().batch_gradients(clocked, x, targets, rows=rows)
            # the reducer's own work: flatten, stack, host copies, fold, unflatten
            self.own_ns += time.perf_counter_ns() - start - (self.grad_ns - grad) - (self.comm.ns - comm)
            return gradients

    return TimedReducer(TimedComm(comm), reduce=reduce, block_size=block or None)  # 0: the default


def rank_job(argv):
    """One configuration's launch; rank 0 prints its result as a JSON line."""
    parser = argparse.ArgumentParser()
    for option, kind in (("--m", int), ("--reduce", str), ("--block", int), ("--images", int), ("--save", str)):
        parser.add_argument(option, type=kind)
    a = parser.parse_args(argv)
    from anynet import Network, TrainConfig
    from anynet.distributed import run_guarded
    from anynet.train.fit import Shuffler, fit

    X, y, source = harness.load_training_data(a.images)
    comm = reducer = None
    guard = contextlib.nullcontext()
    if not a.reduce.startswith("none"):  # none, none-1thread: one plain process
        from mpi4py import MPI

        comm = MPI.COMM_WORLD
        reduce, _, wait = a.reduce.partition("-")
        reducer = timed_reducer(comm, reduce, a.block, blocking=wait == "spin")
        guard = run_guarded(reducer)

    def epoch(n):
        net = Network(SIZES, seed=SEED, dtype=DTYPE)
        data = net.to_device((X[:n], y[:n]))
        config = TrainConfig(epochs=1, mini_batch_size=a.m, eta=ETA)
        shuffler = Shuffler(n, np.random.default_rng(SHUFFLE_SEED))
        if reducer is not None:
            comm.Barrier()
            reducer.comm.ns = reducer.comm.calls = reducer.grad_ns = reducer.grad_calls = reducer.own_ns = 0
            reducer.world.ns = reducer.world.calls = 0
        usage, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        fit(net.model, data, config, shuffler=shuffler, reducer=reducer)
        seconds, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF)
        return seconds, net, {"user_s": after.ru_utime - usage.ru_utime, "system_s": after.ru_stime - usage.ru_stime,
                              "page_faults": after.ru_minflt - usage.ru_minflt,
                              "involuntary_switches": after.ru_nivcsw - usage.ru_nivcsw}

    with guard, np.errstate(over="ignore"):  # sigmoid's exp overflows harmlessly at eta 3
        epoch(min(len(y), WARMUP_BATCHES * a.m))
        seconds, net, usage = epoch(len(y))
    mine = {"epoch_s": seconds, **usage, "comm_s": 0.0, "grad_s": None, "reducer_s": None, "comm_calls": 0, "grad_calls": None,
            "blas_threads_in_run": harness.blas_threads()[0]}
    if reducer is not None:
        # the step's communicator and, where some ranks rest, every rank's (the epoch's end, a rest's wait)
        comms = {id(c): c for c in (reducer.comm, reducer.world)}.values()
        mine |= {"comm_s": sum(c.ns for c in comms) / 1e9, "grad_s": reducer.grad_ns / 1e9,
                 "reducer_s": reducer.own_ns / 1e9, "comm_calls": sum(c.calls for c in comms),
                 "grad_calls": reducer.grad_calls,
                 "blas_threads_in_run": reducer.threads_in_run}
    everyone = [mine] if comm is None else comm.gather(mine, root=0)
    if comm is None or comm.Get_rank() == 0:
        if a.save:
            to_host = net.backend.to_numpy
            np.save(a.save, np.concatenate([to_host(p).ravel() for p in [*net.biases, *net.weights]]))
        print(json.dumps({"ranks": everyone, "data": source, "blas_threads": harness.blas_threads()[0]}))


if __name__ == "__main__":
    rank_job(sys.argv[1:])
