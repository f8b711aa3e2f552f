"""``mpiexec -n N python tests/mpi/rest_tiny.py OUTDIR [--workers W] [--leave-step S]``:
anynet's training loop (``Network.train``) under an MPIReducer whose
machine has ``W`` computing ranks (the others rest through each epoch).
Every rank saves its trained weights and how many mini-batches reached its
reducer as ``OUTDIR/rank-R.npz``.  ``--leave-step S``: rank 0 leaves by
``sys.exit(0)`` (no error to MPI) at its S-th mini-batch, while the resting
ranks wait for the epoch's end."""

from __future__ import annotations

import argparse
import pathlib
import sys

import numpy as np


def main(argv=None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("outdir", type=pathlib.Path)
    parser.add_argument("--workers", type=int)
    parser.add_argument("--leave-step", type=int)
    args = parser.parse_args(argv)
    from mpi4py import MPI

    import anynet
    from anynet.distributed import MPIReducer, run_guarded

    class Counting(MPIReducer):
        calls = 0

        def batch_gradients(self, grad_fn, x, targets, rows=None):
            self.calls += 1
            if self.rank == 0 and self.calls == args.leave_step:
                sys.exit(0)
            return super().batch_gradients(grad_fn, x, targets, rows=rows)

    rng = np.random.default_rng(5)
    x, y = rng.random((300, 8)), rng.integers(0, 3, 300)
    reducer = Counting(MPI.COMM_WORLD, workers=args.workers)
    net = anynet.Network([8, 6, 3], cost="cross-entropy", seed=2)
    with run_guarded(reducer):
        net.train((x, y), anynet.TrainConfig(epochs=3, mini_batch_size=20, eta=0.5), reducer=reducer)
    flat = np.concatenate([np.ravel(a) for a in [*net.biases, *net.weights]])
    np.savez(args.outdir / f"rank-{reducer.rank}.npz", weights=flat, calls=reducer.calls)


if __name__ == "__main__":
    main()
