"""The fields that describe a network in a saved file (sizes, cost,
activations, dtype, seed, classes), checked the same way whichever file
holds them: an anynet checkpoint's header (:mod:`anynet.io.checkpoint`) or a
safetensors file's metadata (:mod:`anynet.io.safetensorsfile`)."""

from __future__ import annotations

from pathlib import Path

from ..errors import ArgumentError, CheckpointError
from ..model.activations import ACTIVATIONS
from ..model.costs import COSTS
from ..xp.backend import DTYPES

MAX_LAYERS = 10_000


def is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def short(value) -> str:
    """A file's value in a message, cut short: a header can be megabytes."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def name_of(registry: dict, value, what: str) -> str:
    """The name under which ``value`` (a class) is registered; a custom one cannot be saved."""
    for name, known in registry.items():
        if known is value:
            return name
    raise ArgumentError(
        f"cannot save a network with a custom {what} {value!r}: a checkpoint records only anynet's ({', '.join(registry)})"
    )


def names_of(net) -> tuple[str, list[str]]:
    """``(cost, activations)``: the registered names of ``net``'s cost and activations."""
    return name_of(COSTS, net.cost, "cost"), [name_of(ACTIVATIONS, type(a), "activation") for a in net.activations]


def check_sizes(path: Path, sizes) -> list[int]:
    if (
        not isinstance(sizes, list)
        or not 2 <= len(sizes) <= MAX_LAYERS + 1
        or not all(is_int(s) and s >= 1 for s in sizes)
    ):
        raise CheckpointError(
            f"{path}: sizes must be a list of 2 to {MAX_LAYERS + 1} positive integers, not {short(sizes)}"
        )
    return sizes


def check_network(path: Path, header: dict) -> list[int]:
    """Check the network's fields of ``header`` (``sizes``, ``cost``,
    ``activations`` and ``dtype`` present; ``anynet_version``, ``seed``,
    ``classes`` and ``class_names`` where given) and return its sizes; :class:`CheckpointError`
    names ``path`` and the field otherwise."""
    sizes = check_sizes(path, header["sizes"])
    check_cost(path, header)
    activations = header["activations"]
    if not isinstance(activations, list) or not all(isinstance(a, str) and a in ACTIVATIONS for a in activations):
        raise CheckpointError(f"{path}: unknown activations {short(activations)}; known: {', '.join(ACTIVATIONS)}")
    if len(activations) != len(sizes) - 1:
        raise CheckpointError(f"{path}: {len(activations)} activations for {len(sizes) - 1} layers")
    check_common(path, header, sizes[-1])
    return sizes


def check_cost(path: Path, header: dict):
    """The cost class the header names; :class:`CheckpointError` for any other name."""
    cost = header["cost"]
    if not isinstance(cost, str) or cost not in COSTS:
        raise CheckpointError(f"{path}: unknown cost {short(cost)}; known: {', '.join(COSTS)}")
    return COSTS[cost]


def check_common(path: Path, header: dict, n_out: int) -> None:
    """Check the fields every saved network shares: ``dtype`` and, where
    given, ``anynet_version``, ``seed``, ``classes`` and ``class_names`` (one
    per each of the ``n_out`` outputs)."""
    dtype = header["dtype"]
    if not isinstance(dtype, str) or dtype not in DTYPES:
        raise CheckpointError(f"{path}: unsupported dtype {short(dtype)}; known: {', '.join(DTYPES)}")
    if not isinstance(header.get("anynet_version", ""), str):
        raise CheckpointError(f"{path}: anynet_version must be a string, not {short(header['anynet_version'])}")
    seed = header.get("seed")
    if seed is not None and not (is_int(seed) and seed >= 0):
        raise CheckpointError(f"{path}: seed must be a non-negative integer or null, not {short(seed)}")
    for key, kinds, what in (("classes", (str, int), "labels (strings or integers)"), ("class_names", str, "strings")):
        value = header.get(key)
        if value is not None and not (
            isinstance(value, list) and len(value) == n_out
            and all(isinstance(c, kinds) and not isinstance(c, bool) for c in value)
        ):
            raise CheckpointError(f"{path}: {key} must be a list of {n_out} {what}, not {short(value)}")
