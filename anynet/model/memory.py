"""The memory a chain of layers needs to train, checked before anything is drawn."""

from __future__ import annotations

from ..errors import TooLargeError
from ..xp.backend import Backend
from .layers import Dense, chain


def check_memory(layers, input_shape, backend: Backend, *, copies: int = 6) -> None:
    """Refuse, with the figure, a chain of ``layers`` (for samples of
    ``input_shape``) whose parameters cannot fit: the float64 draw on the host
    plus ``copies`` device-sized arrays (parameters, gradients, the updated
    parameters, optimizer moments)."""
    count = chain.parameter_count(layers, input_shape)
    itemsize = 8 if backend.dtype_name == "float64" else 4
    short = shortfall(count * 8, count * itemsize * copies, backend)
    if short is not None:
        need, free, where = short
        raise TooLargeError(
            f"{_describe(layers)} has {count:,} parameters and needs about {_gib(need)} to train "
            f"({backend.dtype_name}); this machine has {_gib(free)} of {where} available"
        )


def shortfall(host_need: int, device_need: int, backend: Backend):
    """``(need, free, where)`` when ``host_need`` bytes on the host and
    ``device_need`` on ``backend``'s device (the host, for a CPU backend) do
    not fit in what is available; None when they do (or nobody can say)."""
    host_free, device_free = backend.available_memory()
    need, free, where = host_need + (device_need if device_free is None else 0), host_free, "memory"
    if device_free is not None and device_need > device_free:
        need, free, where = device_need, device_free, f"memory on {backend.device_name}"
    return (need, free, where) if free is not None and need > free else None


def _describe(layers) -> str:
    if all(isinstance(layer, Dense) for layer in layers):
        return f"a network of sizes {[layers[0].n_in, *(layer.n_out for layer in layers)]}"
    return f"a network of {len(layers)} layers ({', '.join(type(layer).__name__ for layer in layers)})"


def _gib(n: int) -> str:
    return f"{n / 2**30:,.1f} GiB" if n >= 2**30 else f"{n / 2**20:,.1f} MiB"
