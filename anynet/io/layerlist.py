"""A model's layer list in a saved file: each layer's type and configuration
(``layer.config()``, plain JSON values) and each sample's input shape, and
the strict reading of them back into layers of :mod:`anynet.model.layers`.

A file's layer list is trusted no more than its arrays: every entry must
name a layer of :data:`anynet.model.layers.LAYERS`, give exactly that
layer's configuration fields, build without error and write back the same
configuration; the layers must chain from the input shape to a Dense output
layer whose activation the cost accepts (hidden layers take elementwise
activations only).  Anything else is a :class:`CheckpointError` naming the
file and the layer.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from ..errors import ArgumentError, CheckpointError
from ..model.activations import ACTIVATIONS, HIDDEN_ACTIVATIONS
from ..model.layers import LAYERS, Dense, chain
from .fields import MAX_LAYERS, check_common, check_cost, is_int, name_of, short

MAX_INPUT_RANK = 4


def configs(model) -> tuple[list[dict], list[int]]:
    """``(layers, input_shape)`` of ``model`` as a file records them; a
    layer or activation that is not anynet's cannot be recorded."""
    records = []
    for layer in model.layers:
        kind = type(layer).__name__
        if LAYERS.get(kind) is not type(layer):
            raise ArgumentError(f"cannot save a model with the custom layer {layer!r}: a file records only "
                                f"anynet's layers ({', '.join(LAYERS)})")
        if getattr(layer, "act", None) is not None:
            name_of(ACTIVATIONS, type(layer.act), "activation")
        records.append(json.loads(json.dumps(layer.config(), allow_nan=False)))
    return records, list(model.input_shape)


def parse(path: Path, records, input_shape, cost) -> tuple[list, tuple]:
    """``(layers, input_shape)`` from a file's layer list and input shape,
    checked as the module's docstring says."""
    if not isinstance(records, list) or not 1 <= len(records) <= MAX_LAYERS:
        raise CheckpointError(f"{path}: layers must be a list of 1 to {MAX_LAYERS} layer configurations, "
                              f"not {short(records)}")
    if not (isinstance(input_shape, list) and 1 <= len(input_shape) <= MAX_INPUT_RANK
            and all(is_int(n) and n >= 1 for n in input_shape)):
        raise CheckpointError(f"{path}: input_shape must be a list of 1 to {MAX_INPUT_RANK} positive integers, "
                              f"not {short(input_shape)}")
    layers = [_layer(path, i, record) for i, record in enumerate(records)]
    try:
        chain.output_shapes(layers, input_shape)
    except ArgumentError as exc:
        raise CheckpointError(f"{path}: the layers do not chain from input_shape {input_shape}: {exc}") from None
    _check_activations(path, layers, cost)
    return layers, tuple(input_shape)


def parse_header(path: Path, header: dict) -> tuple[list, tuple]:
    """``(layers, input_shape)`` of a file whose header (a checkpoint's, a
    safetensors file's metadata) records a layer list, after its cost, its
    layers (:func:`parse`) and the fields every saved network shares
    (:func:`anynet.io.fields.check_common`) are checked."""
    layers, input_shape = parse(path, header.get("layers"), header.get("input_shape"), check_cost(path, header))
    check_common(path, header, layers[-1].n_out)
    return layers, input_shape


def _layer(path: Path, index: int, record):
    """One layer from its record, refused unless it writes back the same record."""
    kind = record.get("type") if isinstance(record, dict) else None
    if not isinstance(kind, str) or kind not in LAYERS:
        raise CheckpointError(f"{path}: layer {index} has unknown type {short(kind)}; known: {', '.join(LAYERS)}")
    cls = LAYERS[kind]
    config = {key: value for key, value in record.items() if key != "type"}
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(config) - names)
    missing = sorted(f.name for f in dataclasses.fields(cls) if f.name not in config)
    if unknown or missing:
        raise CheckpointError(f"{path}: layer {index} ({kind}) has " + (
            f"unknown fields {short(unknown)}" if unknown else f"no {', '.join(missing)}"))
    try:
        layer = cls(**config)
    except (ArgumentError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: layer {index} ({kind}) has a bad configuration: {exc}") from None
    if _canonical(layer.config()) != _canonical(record):  # typed: 1 is not true, 0 is not 0.0
        raise CheckpointError(f"{path}: layer {index} ({kind}): the configuration {short(record)} is not one "
                              f"anynet writes (it reads as {short(layer.config())})")
    return layer


def _canonical(value) -> str:
    return json.dumps(value, sort_keys=True, allow_nan=False)


def _check_activations(path: Path, layers, cost) -> None:
    output = layers[-1]
    if not isinstance(output, Dense):
        raise CheckpointError(f"{path}: the output layer must be a Dense layer, not {type(output).__name__}")
    for index, layer in enumerate(layers[:-1]):
        name = getattr(layer, "activation", None)
        if isinstance(name, str) and name not in HIDDEN_ACTIVATIONS:
            raise CheckpointError(f"{path}: layer {index} ({type(layer).__name__}): hidden layers cannot use "
                                  f"{name}; choose one of {', '.join(HIDDEN_ACTIVATIONS)}")
    try:
        cost.check_output(output.act)
    except ValueError as exc:
        raise CheckpointError(f"{path}: {exc}") from None


def dense_shapes(sizes) -> dict[str, tuple]:
    """:func:`array_shapes` of the book's network of layer widths ``sizes``
    (the form of anynet 0.2's files and network2.py's)."""
    layers = chain.dense_layers(sizes, ["sigmoid"] * (len(sizes) - 1))  # the shapes do not depend on activations
    return array_shapes(chain.param_shapes(layers, sizes[:1]))


def array_shapes(shapes) -> dict[str, tuple]:
    """The arrays of a file, in order (``w0..``, ``b0..``), with their shapes,
    from :func:`anynet.model.layers.chain.param_shapes`."""
    return {**{f"w{i}": p.weight for i, p in enumerate(shapes)}, **{f"b{i}": p.bias for i, p in enumerate(shapes)}}
