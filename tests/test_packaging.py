"""Packaging promises: ``import anynet`` needs only NumPy and array-api-compat
(every other library is an optional extra), and the distribution is named so
that ``pip install`` cannot fetch the unrelated PyPI project called anynet."""

from __future__ import annotations

import pathlib
import subprocess
import sys
import tomllib

import anynet

OPTIONAL = ("tqdm", "torch", "jax", "cupy", "sklearn", "mpi4py", "matplotlib", "PIL", "array_api_strict", "scipy",
            "onnx", "onnxruntime", "safetensors")

BLOCKER = f"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {OPTIONAL!r}:
            raise ImportError("blocked optional library: " + name)
sys.meta_path.insert(0, Block())
import anynet, anynet.network, anynet.network2, anynet.train.fit, anynet.io.checkpoint
import numpy as np
net = anynet.Network([4, 3, 2], seed=0)
net.SGD((np.random.default_rng(0).random((20, 4)), np.arange(20) % 2), 1, 5, 1.0, verbose=False)
net.save(sys.argv[1])
print(anynet.load(sys.argv[1]).sizes)
"""


def test_import_anynet_needs_only_numpy_and_array_api_compat(tmp_path):
    done = subprocess.run([sys.executable, "-c", BLOCKER, str(tmp_path / "net.npz")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[4, 3, 2]"


def test_distribution_name_is_not_the_unrelated_anynet():
    project = tomllib.loads((pathlib.Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]
    assert project["name"] == "anynet-nndl"
    assert set(project["dependencies"]) <= {"numpy>=2", "array-api-compat>=1.9", "tqdm>=4.60"}
    readme = (pathlib.Path(__file__).parents[1] / "README.md").read_text()
    assert "install anynet[" not in readme and "'anynet[" not in readme and "pip install anynet " not in readme
    assert anynet.__version__
