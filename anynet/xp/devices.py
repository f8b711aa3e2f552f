"""Devices: what each backend calls a device, which ones this machine has,
how much memory they offer, and which backends are usable here and why not.

Every device is resolved through its library's own API (``torch.device``,
``cupy.cuda.Device``, ``jax.devices``, ``array_api_strict.Device``), never
by parsing a repr.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass

from ..errors import ArgumentError, BackendUnavailable, DeviceUnavailable

BACKENDS = ("numpy", "cupy", "torch", "jax", "array_api_strict")

INSTALL_HINTS = {
    "cupy": "pip install cupy-cuda12x (CUDA 12) or cupy-cuda13x (CUDA 13)",
    "torch": "pip install torch",
    "jax": "pip install jax",
    "array_api_strict": "pip install array-api-strict",
}

# array-api-strict's devices are named by strings its constructor accepts;
# these are the names it documents.
_STRICT_NAMES = ("CPU_DEVICE", "device1", "device2")


def load_library(name: str):
    """Import a backend's library, or say what to install."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise BackendUnavailable(f"backend {name!r} is not installed: {INSTALL_HINTS[name]}") from exc


def cuda_device_count() -> int:
    """Number of CUDA devices CuPy sees; 0 when the driver or runtime is absent."""
    import cupy

    try:
        return cupy.cuda.runtime.getDeviceCount()
    except Exception:  # CUDARuntimeError without a driver, and its kin
        return 0


def strict_name(device) -> str:
    """The name of an array_api_strict.Device, found by equality with the
    devices its constructor makes (the class exposes no public name)."""
    import array_api_strict

    for name in _STRICT_NAMES:
        try:
            if array_api_strict.Device(name) == device:
                return name
        except ValueError:
            continue
    return str(device)


def device_name(name: str, device) -> str:
    """A device as a user would write it: "cpu", "cuda:0", "device1", "gpu:0"."""
    if name == "array_api_strict":
        return strict_name(device)
    if name == "cupy":
        return f"cuda:{device.id}"
    if name == "jax":
        return f"{device.platform}:{device.id}"
    return str(device)


def resolve_device(name: str, device):
    """The library's device object for ``device`` (None: the library's default)."""
    if name == "numpy":
        if device not in (None, "cpu"):
            raise ArgumentError(f"numpy has only the 'cpu' device, not {device!r}")
        return "cpu"
    if name == "cupy":
        return _cupy_device(device)
    if name == "torch":
        return _torch_device(device)
    if name == "jax":
        return _jax_device(device)
    import array_api_strict

    if device is None:
        return array_api_strict.Device("CPU_DEVICE")
    if isinstance(device, array_api_strict.Device):
        return device
    try:
        return array_api_strict.Device(device)
    except ValueError as exc:
        raise ArgumentError(f"array_api_strict has no device {device!r}: {exc}") from exc


def _cupy_device(device):
    import cupy

    count = cuda_device_count()
    if count == 0:
        raise DeviceUnavailable(
            "backend 'cupy' needs an NVIDIA GPU, and CuPy found no CUDA device (check the driver with nvidia-smi)"
        )
    if isinstance(device, cupy.cuda.Device):
        return device
    index = _cuda_index(device)
    if not 0 <= index < count:
        raise ArgumentError(f"cupy device {device!r} does not exist: {count} CUDA device(s) here")
    return cupy.cuda.Device(index)


def _cuda_index(device) -> int:
    if device is None:
        return 0
    if isinstance(device, int) and not isinstance(device, bool):
        return device
    text = str(device)
    for prefix in ("cuda", "gpu"):
        if text == prefix:
            return 0
        if text.startswith(prefix + ":"):
            text = text[len(prefix) + 1 :]
    try:
        return int(text)
    except ValueError:
        raise ArgumentError(f"cannot read a CUDA device from {device!r}; use an index or 'cuda:N'") from None


def _torch_device(device):
    import torch

    try:
        resolved = torch.device("cpu" if device is None else device)
    except (RuntimeError, TypeError) as exc:
        raise ArgumentError(f"torch has no device {device!r}: {exc}") from None
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceUnavailable(f"torch device {device!r} needs CUDA, which this PyTorch build cannot use")
        if resolved.index is None:  # "cuda" means the current device: name it, so arrays on cuda:0 match
            resolved = torch.device("cuda", torch.cuda.current_device())
        if resolved.index >= torch.cuda.device_count():
            raise ArgumentError(f"torch device {device!r} does not exist: {torch.cuda.device_count()} CUDA device(s)")
    return resolved


def _jax_device(device):
    import jax

    if device is None:
        return jax.devices()[0]
    if not isinstance(device, str):
        return device
    kind, _, index = device.partition(":")
    try:
        candidates = jax.devices(kind)
    except RuntimeError as exc:
        raise DeviceUnavailable(f"jax has no {kind!r} devices here: {exc}") from exc
    try:
        position = int(index or 0)
    except ValueError:
        raise ArgumentError(f"cannot read a jax device from {device!r}; use 'cpu', 'gpu' or 'gpu:N'") from None
    if not 0 <= position < len(candidates):
        raise ArgumentError(f"jax device {device!r} does not exist: {len(candidates)} {kind} device(s)")
    return candidates[position]


def _host_available() -> int | None:
    """Bytes of memory available to a new allocation on the host (Linux's
    MemAvailable; the physical size elsewhere), or None if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def available_memory(name: str, device) -> tuple[int | None, int | None]:
    """``(host bytes available, device bytes available)``; the device figure
    is None for backends that compute in host memory."""
    host = _host_available()
    try:
        if name == "cupy":
            with device:
                import cupy

                return host, int(cupy.cuda.runtime.memGetInfo()[0])
        if name == "torch" and device.type == "cuda":
            import torch

            return host, int(torch.cuda.mem_get_info(device)[0])
        if name == "jax" and device.platform != "cpu":
            stats = device.memory_stats() or {}
            if "bytes_limit" in stats:
                return host, int(stats["bytes_limit"] - stats.get("bytes_in_use", 0))
    except Exception:  # a driver that cannot answer must not stop a network from being built
        return host, None
    return host, None


@dataclass(frozen=True)
class BackendInfo:
    """What :func:`available_backends` reports about one backend."""

    name: str
    usable: bool
    version: str | None
    devices: tuple
    reason: str | None


def _devices(name: str) -> tuple:
    if name == "numpy":
        return ("cpu",)
    if name == "cupy":
        count = cuda_device_count()
        if count == 0:
            raise DeviceUnavailable("no CUDA device")
        return tuple(f"cuda:{i}" for i in range(count))
    if name == "torch":
        import torch

        gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
        return ("cpu",) + tuple(f"cuda:{i}" for i in range(gpus))
    if name == "jax":
        import jax

        return tuple(device_name("jax", d) for d in jax.devices())
    import array_api_strict

    return tuple(strict_name(d) for d in array_api_strict.__array_namespace_info__().devices())


def available_backends() -> list[BackendInfo]:
    """Probe every known backend: usable or not, its version, its devices and,
    when unusable, why ("cupy: not installed", "cupy: no CUDA device")."""
    infos = []
    for name in BACKENDS:
        try:
            module = load_library(name)
        except BackendUnavailable:
            infos.append(BackendInfo(name, False, None, (), f"not installed ({INSTALL_HINTS[name]})"))
            continue
        version = getattr(module, "__version__", "?")
        try:
            devices = _devices(name)
        except Exception as exc:  # a broken driver must not break the report
            infos.append(BackendInfo(name, False, version, (), str(exc)))
            continue
        infos.append(BackendInfo(name, True, version, devices, None))
    return infos
