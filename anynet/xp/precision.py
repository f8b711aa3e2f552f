"""Matrix-product precision and reproducibility on GPUs.

NVIDIA GPUs since Ampere can run float32 matrix products on TF32 tensor
cores: inputs rounded to a 10-bit mantissa, about 1e-3 relative error where
float32 gives 1e-7.  anynet keeps its float32 products in true float32 unless
its Backend is made with ``allow_tf32=True``
(``get_backend("cupy", dtype="float32", allow_tf32=True)``), and only for the
duration of its own computations (:func:`matmul_precision`, entered by
``Backend.errstate``); the caller's own settings are restored after, so code
beside anynet keeps what it chose:

* CuPy: cuBLAS's compute type for float32 (``CUBLAS_COMPUTE_32F``, or the
  TF32 one when the environment has ``CUPY_TF32=1``), set through the switch
  behind ``CUPY_TF32``;
* PyTorch on CUDA: ``torch.backends.cuda.matmul.allow_tf32``;
* JAX on a GPU: ``jax.default_matmul_precision`` ("float32" or "tensorfloat32").

Reproducibility: on one GPU, cuBLAS gives the same bits run after run when
one stream is in use, as in anynet.  With several streams it needs
``CUBLAS_WORKSPACE_CONFIG=:4096:8`` (about 24 MiB more GPU memory) set before
it creates its first handle; PyTorch's ``use_deterministic_algorithms``
demands it too.  :func:`cublas_workspace` sets it when it is unset, and
``get_backend`` calls it for CUDA backends, before anynet's first product.
"""

from __future__ import annotations

import contextlib
import os

CUBLAS_WORKSPACE = ":4096:8"


def cublas_workspace() -> str:
    """Set ``CUBLAS_WORKSPACE_CONFIG`` to :4096:8 unless it is set; return its
    value.  cuBLAS reads it when its first handle is created (the first GPU
    matrix product of the process): later changes have no effect."""
    return os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)


def uses_cuda(backend) -> bool:
    """Whether ``backend`` computes on an NVIDIA GPU (where TF32 exists)."""
    if backend.name == "cupy":
        return True
    if backend.name == "torch":
        return backend.device.type == "cuda"
    if backend.name == "jax":
        return backend.device.platform in ("gpu", "cuda")
    return False


def matmul_precision(backend):
    """A context in which ``backend``'s float32 matrix products use TF32 only
    if ``backend.allow_tf32``; a no-op off the GPU and in float64."""
    if backend.dtype_name != "float32" or not uses_cuda(backend):
        return contextlib.nullcontext()
    allow = bool(getattr(backend, "allow_tf32", False))
    if backend.name == "cupy":
        return _cupy_tf32(allow)
    if backend.name == "torch":
        return _torch_tf32(allow)
    import jax

    return jax.default_matmul_precision("tensorfloat32" if allow else "float32")


@contextlib.contextmanager
def _torch_tf32(allow: bool):
    import torch

    matmul = torch.backends.cuda.matmul
    before = matmul.allow_tf32
    matmul.allow_tf32 = allow
    try:
        yield
    finally:
        matmul.allow_tf32 = before


@contextlib.contextmanager
def _cupy_tf32(allow: bool):
    import numpy as np

    try:
        from cupy._core import (
            _routines_linalg as linalg,  # the switch CUPY_TF32 sets; CuPy has no public one
        )
    except ImportError:  # another CuPy layout: its products follow CUPY_TF32 (off unless set)
        yield
        return
    before = linalg.get_compute_type(np.float32)
    linalg.set_compute_type(np.float32, linalg.COMPUTE_TYPE_TF32 if allow else linalg.COMPUTE_TYPE_DEFAULT)
    try:
        yield
    finally:
        linalg.set_compute_type(np.float32, before)
