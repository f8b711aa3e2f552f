"""A small sweep under MPI, for tests/test_sweep.py.

Run by ``mpiexec -n N python tests/mpi/sweep_tiny.py OUTDIR``: every rank
runs ``anynet.sweep(**SWEEP)`` with ``comm=MPI.COMM_WORLD`` (the
configurations split across the ranks) and writes every returned network's
parameters, one flat vector per configuration, to OUTDIR/rank-R.npz, with
its evaluation accuracies.  The test runs ``sweep(**SWEEP)`` in one process
for the reference.
"""

from __future__ import annotations

import pathlib
import sys

import numpy as np

SIZES = [6, 5, 3]


def data():
    rng = np.random.default_rng(7)
    x = rng.random((47, 6))
    labels = (x[:, 0] + x[:, 1] > x[:, 2] + 0.5).astype(int) + (x[:, 3] > 0.7)
    return (x[:37], labels[:37]), (x[37:], labels[37:])


def settings():
    train, evaluation = data()
    # 2 x 3 x 2 = 12 configurations: 3 ranks get 4 each, 4 ranks 3, 5 ranks 3 or 2
    return dict(sizes=SIZES, training_data=train, epochs=3, mini_batch_size=5, eta=[0.3, 1.0, 2.0],
                lmbda=[0.0, 1.0], seeds=[0, 3], evaluation_data=evaluation, optimizer="momentum", stack=2)


def flat(net) -> np.ndarray:
    return np.concatenate([np.ravel(p) for p in net.weights + net.biases])


def main(outdir: str) -> None:
    from mpi4py import MPI

    import anynet

    nets = anynet.sweep(comm=MPI.COMM_WORLD, **settings())
    arrays = {f"net{i}": flat(net) for i, net in enumerate(nets)}
    arrays.update({f"acc{i}": np.array([r.evaluation_accuracy for r in net.history]) for i, net in enumerate(nets)})
    np.savez(pathlib.Path(outdir) / f"rank-{MPI.COMM_WORLD.Get_rank()}.npz", **arrays)


if __name__ == "__main__":
    main(sys.argv[1])
