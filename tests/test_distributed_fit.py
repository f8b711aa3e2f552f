"""anynet.train.fit with a multi-process reducer: the training loop every front uses
gives bit-identical weights on 1, 2, 3 and 4 ranks in the exact mode.  The
ranks are threads over the fake communicator of tests/mpi/fakes.py, which
test_distributed.py shows gives the bits of real MPI."""

from __future__ import annotations

import numpy as np
import pytest

from anynet import distributed
from anynet.datasets import boundary as inputs
from anynet.model import model as model_module
from anynet.train import fit as fit_module
from conftest import rel_diff
from mpi.fakes import FakeComm, FakeWorld


SIZES = [8, 6, 3]


def fit_weights(reducer, mini_batch_size: int, cost=None) -> np.ndarray:
    """Every bias then every weight after 3 epochs of fit under ``reducer``
    (None: fit's own single-process reducer)."""
    rng = np.random.default_rng(3)
    x, labels = rng.random((40, SIZES[0])), rng.integers(0, SIZES[-1], 40)
    model = model_module.build(SIZES, cost, rng=np.random.default_rng(0))
    data = inputs.prepare((x, labels), backend=model.backend, n_in=SIZES[0], n_out=SIZES[-1], what="training_data")
    config = fit_module.TrainConfig(epochs=3, mini_batch_size=mini_batch_size, eta=1.0)
    shuffler = fit_module.Shuffler(40, np.random.default_rng(1))
    fit_module.fit(model, data, config, shuffler=shuffler, reducer=reducer)
    return np.concatenate([np.ravel(model.backend.to_numpy(a)) for a in model.biases + model.weights])


@pytest.mark.parametrize("cost", [None, "cross-entropy"])
@pytest.mark.parametrize("mini_batch_size", [10, 7])
def test_fit_is_bit_identical_on_1_to_4_ranks(mini_batch_size, cost):
    reference = fit_weights(None, mini_batch_size, cost)
    runs = {}
    for size in (1, 2, 3, 4):
        world = FakeWorld(size)
        runs[size] = world.run(
            lambda rank: fit_weights(distributed.MPIReducer(FakeComm(world, rank)), mini_batch_size, cost)
        )
    for size, ranks in runs.items():
        for weights in ranks:
            assert weights.tobytes() == runs[1][0].tobytes(), f"{size} ranks"
            # float64: the same sums in blocks instead of one product, over ~20 steps
            assert rel_diff(weights, reference) <= 4e-14  # measured worst 4.1e-16
