"""A network's weights as a safetensors file, for PyTorch, JAX and anything
else that reads safetensors, with no anynet installed.

Tensor names and shapes (layer ``i`` from the input, ``sizes[i] -> sizes[i+1]``):

* ``layers.{i}.weight``: ``(sizes[i+1], sizes[i])``, the book's ``weights[i]``
  (the layout of ``torch.nn.Linear.weight``);
* ``layers.{i}.bias``: ``(sizes[i+1],)``, the book's ``biases[i]`` column
  ``(sizes[i+1], 1)`` flattened (the layout of ``torch.nn.Linear.bias``);

in the network's dtype (``F32`` or ``F64``, little-endian).  The header's
``__metadata__`` (string -> string, as the format requires) holds ``format``
("anynet-weights"), ``format_version`` ("1"), ``layers`` (JSON list of layer
kinds, ``["dense", ...]``), ``sizes``, ``activations`` (JSON lists), ``cost``,
``dtype``, ``anynet_version``, ``seed`` and ``classes`` (JSON, null when
unset).  Layer ``i`` computes ``activations[i](x @ weight.T + bias)``.

A model of other layers (convolution, pooling, ...: :mod:`anynet.model.layers`)
is written as ``format_version`` "2": ``layers`` is the JSON list of each
layer's ``config()`` (its type and configuration, as a checkpoint records it)
and ``input_shape`` each sample's shape (JSON), in place of ``sizes`` and
``activations``; ``i`` in ``layers.{i}.weight`` and ``layers.{i}.bias`` is
the index of the layer in that list, the weight in the layer's shape (a
Conv2D's ``(filters, channels, kh, kw)``) and the bias flattened.  Its layer
list is read as strictly as a checkpoint's (:mod:`anynet.io.layerlist`).

anynet writes and reads the format itself (:func:`encode`, :func:`read_spec`),
so saving and loading need no extra package; the ``safetensors`` extra
(``pip install 'anynet-nndl[safetensors]'``) installs the safetensors package
that other programs read the file with (the tests check that they can).
:func:`read_spec` reads within bounds (the header at most
:data:`MAX_HEADER_BYTES`, the tensors exactly the ones the metadata implies,
their offsets contiguous and the file's length exact), never unpickles, and
raises :class:`~anynet.errors.CheckpointError` naming the file for anything
else.
"""

from __future__ import annotations

import json
import math
import os
import struct
from pathlib import Path

import numpy as np

from ..errors import CheckpointError, TooLargeError, TrainingDiverged
from ..model.costs import COSTS
from ..model.layers import chain
from ..xp.backend import to_numpy
from . import fields, files, layerlist, npzfile
from .fields import check_network

FORMAT = "anynet-weights"
FORMAT_VERSION = "1"  # the book's network: sizes and activations
LAYERS_VERSION = "2"  # any other chain of layers: the layer list
SUFFIX = ".safetensors"
MAX_HEADER_BYTES = 16 << 20
_DTYPES = {"float32": "F32", "float64": "F64"}
_METADATA = ("format", "format_version", "layers", "sizes", "activations", "cost", "dtype", "anynet_version",
             "seed", "classes")
_METADATA_2 = ("format", "format_version", "layers", "input_shape", "cost", "dtype", "anynet_version", "seed", "classes")


def weight_name(i: int) -> str:
    return f"layers.{i}.weight"


def bias_name(i: int) -> str:
    return f"layers.{i}.bias"


def is_safetensors_name(path) -> bool:
    """True if ``path`` ends in ``.safetensors`` (any case): ``save`` writes this format there."""
    return Path(path).suffix.lower() == SUFFIX


def looks_like(prefix: bytes) -> bool:
    """True if a file starting with ``prefix`` (at least 9 bytes) is a safetensors file:
    a little-endian u64 header length (below 2**40: eight spaces before a
    network2.py file's ``{`` are not one), then the JSON header's ``{``."""
    return len(prefix) >= 9 and prefix[8:9] == b"{" and 2 <= struct.unpack("<Q", prefix[:8])[0] < 1 << 40


def encode(tensors: dict, metadata: dict) -> bytes:
    """The safetensors file of ``tensors`` (name -> C-ordered float32/float64
    NumPy array, stored in this order) and ``metadata`` (str -> str): an
    8-byte little-endian header length, the JSON header padded with spaces to
    a multiple of 8 bytes (as the safetensors package aligns it), the tensors'
    little-endian bytes one after another.  The same input gives the same bytes."""
    header, parts, offset = {"__metadata__": metadata}, [], 0
    for name, array in tensors.items():
        data = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": _DTYPES[array.dtype.name], "shape": list(array.shape), "data_offsets": [offset, offset + len(data)]}
        parts.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-(8 + len(text)) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(parts)


def save(net, path, *, seed=None, classes=None, allow_nonfinite: bool = False, overwrite: bool = True) -> None:
    """Write the weights of ``net`` (a Model) to ``path`` as safetensors, with
    ``seed`` and ``classes`` in the metadata, atomically; a
    file with other content is refused unless ``overwrite`` (True, as
    ``Network.save`` replaces its files; the command line passes False)."""
    from .. import __version__

    path = Path(path)
    dtype = net.backend.dtype_name
    tensors = {}
    # the index of the layer: for the book's network, of the weight list too
    for i, (w, b) in zip(tensor_indices(net.layers), net.parameters()):
        tensors[weight_name(i)] = np.ascontiguousarray(to_numpy(w), dtype=dtype)
        tensors[bias_name(i)] = np.ascontiguousarray(to_numpy(b), dtype=dtype).reshape(-1)
    if not allow_nonfinite:
        for name, array in tensors.items():
            if not np.isfinite(array).all():
                raise TrainingDiverged(f"refusing to save {path}: {name} holds NaN or inf (training diverged?); "
                                       "pass allow_nonfinite=True to save it anyway")
    if net.is_dense:
        cost, activations = fields.names_of(net)
        network = {"format_version": FORMAT_VERSION, "layers": json.dumps(["dense"] * len(net.parameters())),
                   "sizes": json.dumps(list(net.sizes)), "activations": json.dumps(activations)}
    else:
        cost = fields.name_of(COSTS, net.cost, "cost")
        layers, input_shape = layerlist.configs(net)
        network = {"format_version": LAYERS_VERSION, "layers": json.dumps(layers), "input_shape": json.dumps(input_shape)}
    metadata = {
        "format": FORMAT, **network, "cost": cost, "dtype": dtype, "anynet_version": __version__,
        "seed": json.dumps(seed), "classes": json.dumps(None if classes is None else list(classes)),
    }
    files.write_new(path, encode(tensors, metadata), overwrite=overwrite, what="weights file")


def tensor_indices(layers) -> list[int]:
    """The ``i`` of the ``layers.{i}.*`` tensors: the indices of the layers with parameters."""
    return [i for i, layer in enumerate(layers) if layer.has_params]


def read_spec(path):
    """``(sizes, cost, activations, dtype, seed, arrays, extra)`` of the
    safetensors file at ``path`` written by :func:`save`, as
    :func:`anynet.io.checkpoint.read` takes them (arrays ``w{i}``, ``b{i}`` in
    the book's shapes; ``extra`` holds ``classes``)."""
    path = Path(path)
    with files.open_regular(path, "weights file", error=CheckpointError) as f:
        size = os.fstat(f.fileno()).st_size
        length = _header_length(path, f.read(8), size)
        header = npzfile.loads_json(f.read(length), path, "the safetensors header", encoding="utf-8")
        if not isinstance(header, dict):
            raise CheckpointError(f"{path}: the safetensors header is a JSON {type(header).__name__}, not an object")
        info = _metadata(path, header.pop("__metadata__", None))
        sizes, layers, indices, shapes = _network(path, info)
        dtype = np.dtype(info["dtype"]).newbyteorder("<")
        expected = {}
        for i, p in zip(indices, shapes):
            expected[weight_name(i)], expected[bias_name(i)] = p.weight, (math.prod(p.bias),)
        offsets = _check_entries(path, header, expected, _DTYPES[info["dtype"]], dtype.itemsize, size - 8 - length)
        arrays = {}
        for k, (i, p) in enumerate(zip(indices, shapes)):
            arrays[f"w{k}"] = _read_tensor(path, f, weight_name(i), expected, offsets, dtype, 8 + length)
            arrays[f"b{k}"] = _read_tensor(path, f, bias_name(i), expected, offsets, dtype, 8 + length).reshape(p.bias)
    extra = ({} if info.get("classes") is None else {"classes": info["classes"]}) | ({} if layers is None else {"layers": layers})
    return sizes, COSTS[info["cost"]], info.get("activations"), info["dtype"], info.get("seed"), arrays, extra


def _network(path: Path, info: dict):
    """``(sizes, layers, indices, shapes)``: the book's sizes (version 1) or
    ``(layers, input_shape)`` (version 2, else None), the indices of the
    layers with parameters and their :class:`Params` of shapes."""
    if info["format_version"] == FORMAT_VERSION:
        sizes = check_network(path, info)
        if len(info.get("layers", sizes[1:])) != len(sizes) - 1:
            raise CheckpointError(f"{path}: {len(info['layers'])} layers for sizes {sizes}")
        layers = chain.dense_layers(sizes, info["activations"])
        return sizes, None, list(range(len(layers))), chain.param_shapes(layers, sizes[:1])
    layers, input_shape = layerlist.parse_header(path, info)
    return None, (layers, input_shape), tensor_indices(layers), chain.param_shapes(layers, input_shape)


def _header_length(path: Path, prefix: bytes, size: int) -> int:
    if len(prefix) < 8:
        raise CheckpointError(f"{path}: truncated: {size} bytes, too short for a safetensors file")
    (length,) = struct.unpack("<Q", prefix)
    if length > MAX_HEADER_BYTES:
        raise CheckpointError(f"{path}: the safetensors header claims {length} bytes, more than the {MAX_HEADER_BYTES} anynet reads")
    if 8 + length > size:
        raise CheckpointError(f"{path}: truncated: the safetensors header claims {length} bytes, but only {size - 8} follow")
    return length


def _metadata(path: Path, metadata) -> dict:
    """The network's fields from the header's ``__metadata__`` (JSON strings decoded)."""
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise CheckpointError(f"{path}: a safetensors file without anynet's metadata (__metadata__ of strings); "
                              "anynet loads the safetensors files that Network.save writes")
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not anynet weights (its metadata's format is not {FORMAT!r})")
    version = metadata.get("format_version")
    if version not in (FORMAT_VERSION, LAYERS_VERSION):
        raise CheckpointError(f"{path}: unknown anynet-weights format version {version!r}; "
                              f"this anynet reads versions {FORMAT_VERSION} and {LAYERS_VERSION}")
    known, needed = (_METADATA, ("sizes", "activations")) if version == FORMAT_VERSION else (_METADATA_2, ("layers", "input_shape"))
    unknown = sorted(set(metadata) - set(known))
    missing = [key for key in (*needed, "cost", "dtype") if key not in metadata]
    if unknown or missing:
        raise CheckpointError(f"{path}: the metadata has unknown fields {unknown}" if unknown else
                              f"{path}: the metadata lacks {', '.join(missing)}")
    info = {key: metadata[key] for key in ("format_version", "cost", "dtype", "anynet_version") if key in metadata}
    for key in ("layers", "input_shape", "sizes", "activations", "seed", "classes"):
        if key in metadata:
            info[key] = npzfile.loads_json(metadata[key].encode(), path, f"the metadata's {key}", encoding="utf-8")
    layers = info.get("layers")
    if version == FORMAT_VERSION and layers is not None and (not isinstance(layers, list) or any(kind != "dense" for kind in layers)):
        raise CheckpointError(f"{path}: layers {fields.short(layers)}: this anynet reads dense layers only")
    return info


def _check_entries(path: Path, header: dict, expected: dict, code: str, itemsize: int, data_size: int) -> dict:
    """Every tensor's ``(begin, end)``, after names, dtypes, shapes and offsets are checked."""
    missing = [name for name in expected if name not in header]
    unexpected = sorted(set(header) - set(expected))
    if missing or unexpected:
        raise CheckpointError(f"{path}: missing tensors {', '.join(missing)}" if missing else
                              f"{path}: unexpected tensors {', '.join(unexpected)[:200]}")
    offsets = {}
    for name, shape in expected.items():
        entry = header[name]
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise CheckpointError(f"{path}: the entry of {name} is not a safetensors tensor entry")
        if entry["dtype"] != code:
            raise CheckpointError(f"{path}: {name} is {str(entry['dtype'])[:20]}, but the metadata's dtype implies {code}")
        if entry["shape"] != list(shape):
            raise CheckpointError(f"{path}: {name} has shape {str(entry['shape'])[:80]}, but the sizes imply {list(shape)}")
        span = entry["data_offsets"]
        if not (isinstance(span, list) and len(span) == 2 and all(type(v) is int for v in span)
                and span[1] - span[0] == int(np.prod(shape)) * itemsize):
            raise CheckpointError(f"{path}: {name} has data_offsets {str(span)[:80]}, not {int(np.prod(shape)) * itemsize} bytes")
        offsets[name] = tuple(span)
    position = 0
    for begin, end in sorted(offsets.values()):
        if begin != position:
            raise CheckpointError(f"{path}: the tensors' data_offsets overlap or leave a gap at byte {position}")
        position = end
    if position != data_size:
        raise CheckpointError(f"{path}: truncated or padded: the tensors take {position} bytes, but {data_size} follow the header")
    memory = files.physical_memory()
    if memory is not None and position > memory:
        raise TooLargeError(f"{path}: its tensors need {position / 2**30:.1f} GiB, more than this machine's {memory / 2**30:.1f} GiB")
    return offsets


def _read_tensor(path: Path, f, name: str, expected: dict, offsets: dict, dtype, start: int) -> np.ndarray:
    array = np.empty(expected[name], dtype)
    f.seek(start + offsets[name][0])
    buffer = memoryview(array.reshape(-1).view(np.uint8))
    filled = 0
    while filled < array.nbytes:
        count = f.readinto(buffer[filled:])
        if not count:
            raise CheckpointError(f"{path}: truncated: {name} ends before its data_offsets")
        filled += count
    return array.astype(dtype.newbyteorder("="), copy=False)
