"""How tests/data/anynet_0_2_*.npz were made: run with anynet 0.2.0 on the
path (the commit before the layout move, 4bf386f), from the repository root:

    git worktree add --detach /tmp/old 4bf386f
    PYTHONPATH=/tmp/old python tests/data/make_anynet_0_2_files.py tests/data

Not a test: the current anynet cannot write these files (it writes format
version 3); tests/test_checkpoint_layers.py reads them.
"""

import sys
from pathlib import Path

import numpy as np

import anynet

assert anynet.__version__ == "0.2.0", anynet.__version__
out = Path(sys.argv[1])
rng = np.random.default_rng(2026)
x = rng.random((40, 6))
y = rng.integers(0, 3, 40)

# a network saved with Network.save: tanh hidden layer, cross-entropy, two epochs
net = anynet.Network([6, 5, 3], "cross-entropy", activation="tanh", seed=7)
net.SGD((x, y), 2, 10, 0.5, verbose=False)
net.save(out / "anynet_0_2_checkpoint.npz")

# a run saved with SGD(checkpoint=...): momentum (its velocities are run
# arrays), L2, two of the four epochs the test resumes to
run = anynet.Network([6, 5, 3], "cross-entropy", seed=3)
run.SGD((x, y), 2, 10, 0.5, lmbda=0.1, optimizer="momentum", verbose=False, checkpoint=out / "anynet_0_2_run.npz")

np.savez(out / "anynet_0_2_data.npz", x=x, y=y, checkpoint_proba=net.predict_proba(x),
         checkpoint_predict=net.predict(x), run_proba=run.predict_proba(x))
