"""The backend shim: the one place that knows about concrete array libraries.

A :class:`Backend` bundles an array API namespace (``xp``), a device and a
floating dtype.  Everything else in anynet receives ``xp`` from here and uses
only the array API standard.  This module also moves data between the host
(NumPy) and the device, and reports which backends this machine can use.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
from typing import Any

import array_api_compat
import numpy as np

from . import devices, fastnumpy, kernels, precision
from .devices import BACKENDS, available_backends, available_memory as _available_memory  # noqa: F401  (re-exported)
from ..errors import ArgumentError, ArgumentTypeError, DataError, DeviceUnavailable

Array = Any
Namespace = Any

DTYPES = ("float32", "float64")


@dataclass(frozen=True)
class Backend:
    """An array namespace, a device on it and the floating dtype of a network;
    ``allow_tf32`` lets float32 matrix products on an NVIDIA GPU use TF32
    (off by default: see anynet.xp.precision).  How training runs an epoch is
    a training option, not the backend's (``TrainConfig.compile``)."""

    name: str
    xp: Namespace
    device: Any
    dtype: Any
    dtype_name: str
    allow_tf32: bool = False

    def asarray(self, data, dtype=None, *, copy=None) -> Array:
        """Return ``data`` (host NumPy, a Python sequence or an array of this
        backend) as an array of this backend on this device, in ``dtype``
        (default: the backend's floating dtype); ``copy=True`` never shares
        memory with ``data``."""
        dtype = self.dtype if dtype is None else dtype
        if not self.owns(data):
            data = np.asarray(data)
            if data.dtype.byteorder not in "=|":  # big-endian files; torch refuses them
                data = data.astype(data.dtype.newbyteorder("="))
            elif self.name == "torch" and not data.flags.writeable:
                data = data.copy()  # torch warns about sharing a read-only array (a memmap, np.load(mmap_mode="r"))
        elif self.name == "torch":
            data = data.detach()  # parameters never join a user's autograd graph
        return self.xp.asarray(data, dtype=dtype, device=self.device, copy=copy)

    @property
    def index_dtype(self):
        """The integer dtype for labels and indices: int64, except on JAX
        without its 64-bit mode, which has no int64 (int32 counts and indexes
        up to 2**31 rows)."""
        if self.name == "jax":
            import jax

            if not jax.config.jax_enable_x64:
                return self.xp.int32
        return self.xp.int64

    def to_numpy(self, array) -> np.ndarray:
        """Copy an array of this backend to a host NumPy array."""
        return to_numpy(array)

    def take_rows(self, x, indices):
        """The rows ``indices`` (in range) of ``x``, by the library's own gather:
        array-api-compat's torch ``take`` adds three operations for negative indices."""
        if self.name in ("numpy", "cupy"):
            return x.take(indices, 0)  # axis 0, positionally: no keyword parse per mini-batch
        if self.name == "torch":
            import torch

            return torch.index_select(x, 0, indices)
        return self.xp.take(x, indices, axis=0)

    def row_gather(self, x):
        """``gather(indices)``: :meth:`take_rows` of ``x``, with ``x`` and the
        library's gather fixed once (a loop takes a mini-batch's rows every
        step: no attribute lookups or backend checks per call)."""
        if self.name in ("numpy", "cupy"):
            take = x.take
            return lambda indices: take(indices, 0)
        return functools.partial(self.take_rows, x)

    def check_device(self, array, what: str) -> None:
        """Raise DataError unless ``array`` (of this backend) is on this device."""
        where = array_api_compat.device(array)
        if where != self.device:
            raise DataError(
                f"{what} is on device {devices.device_name(self.name, where)}, "
                f"but the network is on {self.device_name}"
            )

    def detached(self, array):
        """``array`` cut from any autograd graph: torch tensors a user made with
        ``requires_grad`` would otherwise keep their graph alive and pull
        anynet's parameters into it (memory growing every epoch)."""
        return array.detach() if self.name == "torch" else array

    def available_memory(self) -> tuple[int | None, int | None]:
        """``(host bytes, device bytes)`` available now; the device figure is
        None for backends that compute in host memory."""
        return _available_memory(self.name, self.device)

    def owns(self, array) -> bool:
        """True when ``array`` is an array of this backend's namespace."""
        return _namespace_name(array) == self.name

    def errstate(self):
        """A context that silences NumPy's floating-point warnings.

        sigmoid(z) = 1/(1+exp(-z)) overflows exp for very negative z and
        correctly returns 0; NumPy would warn about the intermediate inf.  A
        diverging run's NaN and inf are found by the training loop itself,
        once per epoch (TrainingDiverged), so NumPy's warnings add nothing.
        """
        if self.name == "numpy":
            return np.errstate(all="ignore")
        return precision.matmul_precision(self)  # on a GPU, also: float32 products without TF32 unless allowed

    @property
    def fuse(self):
        """The hook that runs elementwise chains as fused kernels (see
        anynet.xp.kernels): CuPy's, or None elsewhere."""
        return kernels.fuser_for(self.name)

    def synchronize(self) -> None:
        """Wait for queued device work (for timing); a no-op on the CPU."""
        if self.name == "cupy":
            import cupy

            cupy.cuda.get_current_stream().synchronize()
        elif self.name == "torch" and self.device.type == "cuda":
            import torch

            torch.cuda.synchronize(self.device)

    @property
    def device_name(self) -> str:
        """The device as the user would write it ("cpu", "cuda:0", "device1")."""
        return devices.device_name(self.name, self.device)

    def __str__(self) -> str:
        return f"{self.name} ({self.device_name}, {self.dtype_name})"


def _namespace_name(array) -> str | None:
    checks = (
        ("numpy", array_api_compat.is_numpy_array),
        ("cupy", array_api_compat.is_cupy_array),
        ("torch", array_api_compat.is_torch_array),
        ("jax", array_api_compat.is_jax_array),
        ("array_api_strict", _is_strict_array),
    )
    for name, check in checks:
        if check(array):
            return name
    return None


def _is_strict_array(array) -> bool:
    return type(array).__module__.startswith("array_api_strict")


def is_array(obj) -> bool:
    """True for an array of any backend anynet knows."""
    return _namespace_name(obj) is not None


def to_numpy(array) -> np.ndarray:
    """Copy an array of any supported backend to a host NumPy array."""
    name = _namespace_name(array)
    if name == "cupy":
        return array.get()
    if name == "torch":
        return array.detach().cpu().numpy()
    if name == "array_api_strict":
        import array_api_strict

        array = array.to_device(array_api_strict.Device("CPU_DEVICE"))
    return np.asarray(array)


def _namespace(name: str) -> Namespace:
    devices.load_library(name)
    if name == "jax":
        import jax.numpy

        return jax.numpy
    if name == "array_api_strict":
        import array_api_strict

        return array_api_strict
    if name == "numpy":
        return fastnumpy.namespace()
    return importlib.import_module(f"array_api_compat.{name}")


def _name_of(backend) -> tuple[str, Any]:
    """Map a backend given as a name, a namespace module or an array to
    (name, device implied by it or None)."""
    if isinstance(backend, str):
        name = backend.lower().replace("-", "_")
        aliases = {"np": "numpy", "pytorch": "torch", "strict": "array_api_strict", "jax.numpy": "jax"}
        name = aliases.get(name, name)
        if name not in BACKENDS:
            raise ArgumentError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
        return name, None
    if is_array(backend):
        return _namespace_name(backend), array_api_compat.device(backend)
    module_name = getattr(backend, "__name__", None)
    if isinstance(module_name, str):
        if "array_api_strict" in module_name:
            return "array_api_strict", None
        for name in ("numpy", "cupy", "torch", "jax"):
            if module_name.split(".")[0] == name or module_name == f"array_api_compat.{name}":
                return name, None
    raise ArgumentTypeError(
        f"backend must be a name ({', '.join(BACKENDS)}), an array namespace module or an array, "
        f"not {type(backend).__name__}"
    )


def get_backend(backend="numpy", device=None, dtype=None, *, allow_tf32=None) -> Backend:
    """Resolve ``backend`` (a name, a namespace module, an array or a Backend),
    ``device`` (what that library calls a device; None for its default) and
    ``dtype`` ("float64" or "float32"; None keeps a given Backend's, else
    "float64") into a :class:`Backend`.  ``allow_tf32=True`` lets float32
    matrix products on an NVIDIA GPU use TF32 (None keeps a given Backend's,
    else False).  A CUDA backend also sets CUBLAS_WORKSPACE_CONFIG for
    reproducible cuBLAS results, unless it is set (anynet.xp.precision).

    Raises ImportError saying what to install when the library is missing,
    RuntimeError when the device is missing, ValueError for unknown names.
    """
    if isinstance(backend, Backend):
        same = device is None and dtype in (None, backend.dtype_name) and allow_tf32 in (None, backend.allow_tf32)
        if same:
            return backend
        dtype = backend.dtype_name if dtype is None else dtype
        allow_tf32 = backend.allow_tf32 if allow_tf32 is None else allow_tf32
        backend, device = backend.name, backend.device if device is None else device
    dtype_name = _dtype_name("float64" if dtype is None else dtype)
    name, implied_device = _name_of(backend)
    if device is None:
        device = implied_device
    xp = _namespace(name)
    if name == "jax" and dtype_name == "float64":
        import jax

        if not jax.config.jax_enable_x64:
            raise DeviceUnavailable(
                "jax float64 needs 64-bit mode: set JAX_ENABLE_X64=1 or call "
                "jax.config.update('jax_enable_x64', True) before creating the network, "
                "or use dtype='float32'"
            )
    resolved = devices.resolve_device(name, device)
    if not isinstance(allow_tf32, (bool, type(None))):
        raise ArgumentTypeError(f"allow_tf32 must be True or False, not {allow_tf32!r}")
    result = Backend(name, xp, resolved, getattr(xp, dtype_name), dtype_name, bool(allow_tf32))
    if precision.uses_cuda(result):
        precision.cublas_workspace()
    return result


def _dtype_name(dtype) -> str:
    try:
        name = np.dtype(dtype).name  # "float32", np.float32, jnp.float32
    except TypeError:
        name = getattr(dtype, "name", None) or str(dtype)  # torch and strict dtypes
    name = name.replace("torch.", "").replace("array_api_strict.", "")
    if name not in DTYPES:
        raise ArgumentError(f"dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
    return name


def namespace_of(*arrays) -> Namespace:
    """The array API namespace of ``arrays`` (NumPy's for Python scalars)."""
    arrays = [a for a in arrays if is_array(a)]
    if not arrays:
        return _namespace("numpy")
    return array_api_compat.array_namespace(*arrays)
