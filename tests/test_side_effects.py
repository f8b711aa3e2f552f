"""Library calls leave the process as they found it (issue 17 item 4): no
JAX configuration flipped by loading a run (signal handlers: see
test_checkpoint_files.py; the global ``random``: test_resume_promises.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import anynet

pytest.importorskip("jax")

_LOAD_A_FLOAT64_RUN_ON_JAX = r"""
import sys
import jax
import anynet
from anynet.errors import DeviceUnavailable
try:
    anynet.api.saved.load_run(sys.argv[1], backend="jax")
except DeviceUnavailable as error:
    print("refused:", error)
print("x64:", jax.config.jax_enable_x64)
"""


def test_loading_a_float64_run_on_jax_leaves_64_bit_mode_off_and_says_what_is_needed(tmp_path):
    rng = np.random.default_rng(0)
    net = anynet.Network([4, 3, 2], seed=0)
    net.SGD((rng.random((20, 4)), rng.integers(0, 2, 20)), 1, 5, 0.5, verbose=False, checkpoint=tmp_path / "run.npz")
    done = subprocess.run([sys.executable, "-c", _LOAD_A_FLOAT64_RUN_ON_JAX, str(tmp_path / "run.npz")],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "JAX_PLATFORMS": "cpu", "JAX_ENABLE_X64": "0"})
    assert done.returncode == 0, done.stderr
    assert "refused: jax float64 needs 64-bit mode: set JAX_ENABLE_X64=1" in done.stdout
    assert done.stdout.rstrip().endswith("x64: False")
