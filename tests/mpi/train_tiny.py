"""A tiny training run under a reducer, for tests/test_distributed.py.

Run by ``mpiexec -n N python tests/mpi/train_tiny.py OUTDIR [options]``: each
rank trains a [8, 6, 3] sigmoid network on 40 made-up samples (float64,
quadratic cost, plain SGD, eta 1.0) under every configuration in CONFIGS and
writes its final parameters to OUTDIR/rank-R.npz, one flat vector per
configuration.  The test imports ``train`` and ``LocalReducer`` from here
for the single-process reference.  The training loop is a minimal stand-in
for anynet.train.fit: shuffle with a seeded generator (the same order on every
rank), slice mini-batches, ``reducer.batch_gradients``, an SGD step.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import signal
import sys

import numpy as np

from anynet.model.activations import Sigmoid
from anynet.xp.backend import get_backend, to_numpy
from anynet.model.layers.chain import mlp_gradients as backprop
from anynet.model.costs import QuadraticCost
from anynet.model.optimizers import SGD
from anynet.model.params import book_lists, from_book

SIZES = [8, 6, 3]
N_SAMPLES = 40
EPOCHS = 3
ETA = 1.0
# (reduce, mini-batch size, block size): 40 % 7 = 5 leaves a short last
# batch; with 4 ranks, 7 rows in blocks of 3 leave a rank with no block;
# None is the default (7 rows in blocks of 2, the last batch's 5 as 2, 2, 1)
CONFIGS = [
    ("exact", 10, 1),
    ("exact", 7, 1),
    ("exact", 7, 3),
    ("exact", 7, None),
    ("fast", 10, 1),
    ("fast", 7, 1),
]


def config_key(reduce: str, batch: int, block: int) -> str:
    return f"{reduce}-m{batch}-b{block}"


class LocalReducer:
    """One process: the whole mini-batch in one gradient call."""

    rank, size, is_root = 0, 1, True

    def batch_gradients(self, grad_fn, x, targets):
        return grad_fn(x, targets)

    def agree(self, value):
        return value

    def abort(self, exc):
        pass


def make_problem():
    """The data (X, one-hot targets) and the initial (weights, biases), on the host."""
    rng = np.random.default_rng(12)
    x = rng.random((N_SAMPLES, SIZES[0]))
    targets = np.eye(SIZES[-1])[rng.integers(0, SIZES[-1], N_SAMPLES)]
    weights = [rng.standard_normal((y, n)) for n, y in zip(SIZES[:-1], SIZES[1:])]
    biases = [rng.standard_normal((y, 1)) for y in SIZES[1:]]
    return x, targets, weights, biases


def train(reducer, batch: int, *, backend="numpy", fail_rank=None, kill_rank=None, exit_rank=None) -> np.ndarray:
    """Train under ``reducer`` and return every bias then every weight,
    flattened, on the host.  ``fail_rank`` raises on that rank in epoch 2;
    ``kill_rank`` dies there by SIGKILL (no clean-up, no MPI_Abort);
    ``exit_rank`` leaves there by ``sys.exit(0)`` (no error to MPI)."""
    be = get_backend(backend, dtype="float64")
    xp = be.xp
    x, targets, weights, biases = make_problem()
    x, targets = be.asarray(x), be.asarray(targets)
    params = from_book([be.asarray(w) for w in weights], [be.asarray(b) for b in biases])
    activations = [Sigmoid()] * (len(SIZES) - 1)
    order_rng = np.random.default_rng(7)
    optimizer = SGD()
    for epoch in range(EPOCHS):
        order = be.asarray(order_rng.permutation(N_SAMPLES), dtype=be.index_dtype)
        for start in range(0, N_SAMPLES, batch):
            if epoch == 1 and reducer.rank == fail_rank:
                raise RuntimeError(f"injected failure on rank {reducer.rank}")
            if epoch == 1 and reducer.rank == kill_rank:
                os.kill(os.getpid(), signal.SIGKILL)
            if epoch == 1 and reducer.rank == exit_rank:
                sys.exit(0)
            rows = order[start : start + batch]
            xb, tb = xp.take(x, rows, axis=0), xp.take(targets, rows, axis=0)

            def grad_fn(x_rows, target_rows):
                return backprop(params, x_rows, target_rows, activations=activations, cost=QuadraticCost, xp=xp)

            with be.errstate():
                grads = reducer.batch_gradients(grad_fn, xb, tb)
            params, _ = optimizer.step(params, grads, None, eta=ETA, m=xb.shape[0], reg=None, xp=xp)
        if reducer.agree(epoch + 1 == EPOCHS):  # rank 0 decides when to stop
            break
    weights, biases = book_lists(params)
    return np.concatenate([to_numpy(a).ravel() for a in biases + weights])


def _reducer(transport: str, reduce: str, block: int):
    from anynet import distributed

    if transport == "mpi":
        return distributed.MPIReducer.world(reduce=reduce, block_size=block)
    if transport == "nccl":
        from mpi4py import MPI

        return distributed.CupyNCCLReducer(MPI.COMM_WORLD, reduce=reduce, block_size=block)
    return distributed.TorchDistributedReducer(reduce=reduce, block_size=block)


def _backend(name: str, rank: int):
    """The float64 backend; CuPy ranks take one GPU each (NCCL needs distinct
    GPUs), made current before NCCL or any CuPy work starts."""
    if name != "cupy":
        return get_backend(name, dtype="float64")
    import cupy

    device = cupy.cuda.Device(rank % cupy.cuda.runtime.getDeviceCount())
    device.use()
    return get_backend("cupy", device, "float64")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("outdir", type=pathlib.Path)
    parser.add_argument("--transport", choices=("mpi", "torch", "nccl"), default="mpi")
    parser.add_argument("--backend", default="numpy")
    parser.add_argument("--port", type=int, help="torch.distributed's rendezvous port on 127.0.0.1")
    parser.add_argument("--fail-rank", type=int, help="this rank raises in the second epoch")
    parser.add_argument("--kill-rank", type=int, help="this rank is killed (SIGKILL) in the second epoch of "
                        "the first exact run, after the shared rows are mapped; every rank prints its pid")
    parser.add_argument("--exit-rank", type=int, help="this rank leaves by sys.exit(0) in the second epoch of "
                        "the first exact run")
    args = parser.parse_args(argv)
    # Open MPI's launcher tells each process its place before MPI starts
    rank, size = int(os.environ.get("OMPI_COMM_WORLD_RANK", 0)), int(os.environ.get("OMPI_COMM_WORLD_SIZE", 1))
    backend = _backend(args.backend, rank)
    if args.transport == "torch":
        import torch.distributed as dist

        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{args.port}", rank=rank, world_size=size)
    from anynet.distributed import run_guarded

    results = {}
    if args.kill_rank is not None:
        print(f"rank {rank} pid {os.getpid()}", file=sys.stderr, flush=True)
    for reduce, batch, block in CONFIGS:
        reducer = _reducer(args.transport, reduce, block)
        kill = args.kill_rank if reduce == "exact" else None
        leave = args.exit_rank if reduce == "exact" else None
        with run_guarded(reducer):
            results[config_key(reduce, batch, block)] = train(
                reducer, batch, backend=backend, fail_rank=args.fail_rank, kill_rank=kill, exit_rank=leave
            )
    np.savez(args.outdir / f"rank-{reducer.rank}.npz", **results)
    if args.transport == "torch":
        dist.destroy_process_group()
    sys.stdout.flush()


if __name__ == "__main__":
    main()
