"""Save and load networks without pickle.

A checkpoint (format version 3) is an :mod:`anynet.io.npzfile` file: a zip of
uncompressed ``.npy`` arrays that ``np.load`` can open, holding

* ``w0 .. w{P-1}`` and ``b0 .. b{P-1}``: the weight and bias of each of the P
  layers that have parameters, in layer order, in the shapes the layers give
  (:func:`anynet.model.layers.chain.param_shapes`: a Dense layer's
  ``(n_out, n_in)`` and ``(n_out, 1)``, a Conv2D's ``(filters, channels, kh,
  kw)`` and ``(filters,)``), in the network's dtype, little-endian;
* ``header``: a UTF-8 JSON object stored as a uint8 array, with exactly the
  fields ``format`` ("anynet-checkpoint"), ``format_version`` (3),
  ``layers`` (each layer's ``config()``: its ``type`` and configuration),
  ``input_shape`` (each sample's shape), ``cost``, ``dtype``,
  ``anynet_version``, ``seed`` (or null), optionally ``classes``,
  ``class_names`` and ``run``, and ``sha256``: one digest over the rest of
  the header and every array (:func:`anynet.io.npzfile.digest`).

Reading checks every header field's type and range, builds the layers from
their configurations (:mod:`anynet.io.layerlist`: known types, exact fields,
shapes that chain), derives from them and ``dtype`` the name, shape and byte
count of every array and compares them with the file before reading any
data; nothing is unpickled.  Version 2 files (anynet 0.2: ``sizes`` and
``activations`` in place of ``layers`` and ``input_shape``, the book's
network) and version 1 files (anynet 0.1; their ``sha256`` is
:func:`arrays_sha256`, over the arrays only) still load.  JSON files written
by Nielsen's network2.py ``Network.save`` load too, up to
:data:`MAX_JSON_BYTES`, under the same strict checks, and so do the
safetensors files of :mod:`anynet.io.safetensorsfile` (weights, no run).
"""

from __future__ import annotations

import hashlib
import pickletools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..xp.backend import get_backend, to_numpy
from ..model.costs import COSTS
from ..model import model as _model
from ..model.layers import chain
from ..model.params import Params, book_lists
from . import fields, layerlist, npzfile, safetensorsfile
from ..train import runstate
from ..errors import ArgumentError, CheckpointError, TrainingDiverged

FORMAT = "anynet-checkpoint"
FORMAT_VERSION = 3
MAX_JSON_BYTES = 64 << 20  # a network2.py file of about 3 million parameters
_REQUIRED = ("format", "format_version", "layers", "input_shape", "cost", "dtype", "sha256")
_REQUIRED_V2 = ("format", "format_version", "sizes", "cost", "activations", "dtype", "sha256")  # versions 1 and 2
_OPTIONAL = ("anynet_version", "seed", "classes", "class_names", "run")  # version 1 files lack them

# network2.py stores its cost as the class name ("QuadraticCost",
# "CrossEntropyCost"); those, LogLikelihoodCost and anynet's own names are
# accepted, anything else refused.
_NETWORK2_COSTS = {cls.__name__: cls for cls in COSTS.values()} | COSTS


def arrays_sha256(arrays) -> str:
    """The digest of format version 1: SHA-256 over ``arrays`` (a mapping name
    -> NumPy array, in its order), for each its name, dtype, shape and bytes."""
    digest = hashlib.sha256()
    for name, array in arrays.items():
        array = np.ascontiguousarray(array)
        digest.update(f"{name}\0{array.dtype.str}\0{list(array.shape)}\0".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def save(net, path, *, seed=None, classes=None, class_names=None, allow_nonfinite: bool = False, run=None) -> None:
    """Write ``net`` (a Model) to ``path`` (any name; nothing is appended) as
    an anynet checkpoint; NaN or inf weights are refused unless
    ``allow_nonfinite``.  ``seed`` (the network's), ``classes`` (the original
    labels) and ``class_names`` (their names), when given, are recorded;
    ``run`` is ``(record, arrays)`` from :func:`anynet.train.runstate.encode`,
    the state of a training run to resume.  The write is atomic: a temporary file in the same directory
    is written, flushed to disk and renamed over ``path``, so ``path`` holds
    either the old checkpoint or the complete new one."""
    from .. import __version__

    path = Path(path)
    layers, input_shape = layerlist.configs(net)
    cost = fields.name_of(COSTS, net.cost, "cost")
    dtype = net.backend.dtype_name
    shapes = layerlist.array_shapes(net.parameter_shapes())
    arrays = {}
    weights, biases = book_lists(net.parameters())  # the file's order: w0.., b0..
    for name, value in zip(shapes, weights + biases):
        arrays[name] = np.ascontiguousarray(to_numpy(value), dtype=dtype)
        if arrays[name].shape != shapes[name]:
            raise ArgumentError(f"cannot save: {name} has shape {arrays[name].shape}, its layer needs {shapes[name]}")
        if not allow_nonfinite and not np.isfinite(arrays[name]).all():
            raise TrainingDiverged(
                f"refusing to save {path}: {name} holds NaN or inf (training diverged?); "
                "pass allow_nonfinite=True to save it anyway"
            )
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "layers": layers,
        "input_shape": input_shape,
        "cost": cost,
        "dtype": dtype,
        "anynet_version": __version__,
        "seed": seed,
    }
    for key, value in (("classes", classes), ("class_names", class_names)):
        if value is not None:
            header[key] = list(value)
    if run is not None:
        header["run"] = run[0]
        arrays.update(run[1])
    npzfile.write(path, header, arrays)  # adds sha256


@dataclass
class Checkpoint:
    """What a checkpoint holds: the model, the seed it was trained with (or
    None), its classes (original labels, or None), and for a saved training
    run its record and arrays (see :mod:`anynet.train.runstate`), else None;
    ``class_names`` names the classes where the data did (else None)."""

    model: object
    seed: int | None
    classes: list | None
    run: dict | None
    run_arrays: dict
    class_names: list | None = None


def load_model(path, *, backend="numpy", device=None, dtype=None):
    """``(model, seed)`` of the checkpoint at ``path``; see :func:`read`."""
    found = read(path, backend=backend, device=device, dtype=dtype)
    return found.model, found.seed


def read(path, *, backend="numpy", device=None, dtype=None) -> Checkpoint:
    """Read a checkpoint written by :func:`save` (or by network2.py's ``save``)
    with its model on ``backend``/``device`` in ``dtype`` (None: the
    checkpoint's).  ``anynet.load`` wraps the model in a Network.

    The file's type is told by its content, not its name.  Raises
    :class:`CheckpointError` (a ValueError) naming the file for anything that
    is not a sound checkpoint: truncated, modified (checksum mismatch),
    pickled, wrong shapes, unknown names or format version.  Pickle is never
    used.
    """
    path = Path(path)
    spec = _read_spec(path)
    sizes, cost, activations, file_dtype, seed, arrays, extra = spec
    # The backend first, outside the try: its errors (not installed, no such
    # device) are about the request, not the file.
    resolved = get_backend(backend, device, file_dtype if dtype is None else dtype)
    try:
        if "layers" in extra:  # format version 3: the layer list
            layers, input_shape = extra["layers"]
            model = _model.Model(layers, cost=cost, backend=resolved, input_shape=input_shape)
        else:  # the book's network of sizes and activations
            acts = _model.build_activations(sizes, cost, activations[:-1], activations[-1])
            model = _model.Model.dense(sizes, cost=cost, activations=acts, backend=resolved)
        shapes = model.parameter_shapes()
        model.set_parameters(_model.accept_parameters(
            resolved, shapes, [Params(arrays[f"w{i}"], arrays[f"b{i}"]) for i in range(len(shapes))]))
    except ValueError as exc:  # softmax in a hidden layer, a cost that cannot follow its output, NaN
        raise CheckpointError(f"{path}: {exc}") from exc
    run_arrays = {name: a for name, a in arrays.items() if name.startswith("r_")}
    return Checkpoint(model, seed, extra.get("classes"), extra.get("run"), run_arrays, extra.get("class_names"))


def _describe_unknown(data: bytes) -> str:
    if not data:
        return "the file is empty, not a checkpoint"
    if _is_pickle(data):
        return "this is a Python pickle; anynet never loads pickles, because unpickling can run arbitrary code"
    if data[:6] == b"\x93NUMPY":
        return "this is a single .npy array, not an anynet checkpoint (.npz)"
    if data[:2] == b"\x1f\x8b":
        return "this is a gzip file (perhaps a pickle such as mnist.pkl.gz), not an anynet checkpoint"
    return "neither an anynet checkpoint (.npz), anynet weights (.safetensors) nor a network2.py JSON file"


def _is_pickle(data: bytes) -> bool:
    """True if ``data`` parses as a pickle of any protocol.  pickletools only
    reads the opcodes; it never imports or calls anything."""
    try:
        opcodes = list(pickletools.genops(data))
    except Exception:  # only a sniff for the message: any parse failure means "not a pickle"
        return False
    return bool(opcodes) and opcodes[-1][0].name == "STOP"


def _read_spec(path: Path):
    """``(sizes, cost, activations, dtype, seed, arrays)`` from the checkpoint,
    safetensors or network2.py file at ``path``, told apart by their content."""
    with npzfile.open_regular(path, "checkpoint") as f:
        head = f.read(9)
        known = npzfile.looks_like(head) or safetensorsfile.looks_like(head)
        if not known:
            data = head + f.read(MAX_JSON_BYTES + 1 - len(head))
    if npzfile.looks_like(head):
        return _read_npz(path)
    if safetensorsfile.looks_like(head):
        return safetensorsfile.read_spec(path)
    if data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] != b"{":
        raise CheckpointError(f"{path}: {_describe_unknown(data)}")
    if len(data) > MAX_JSON_BYTES:
        raise CheckpointError(f"{path}: larger than the {MAX_JSON_BYTES >> 20} MiB anynet reads as a network2.py JSON file")
    return _read_network2_json(path, data)


def _read_npz(path: Path):
    parsed = {}  # the layers of a version 3 header, read once by _schema
    header, arrays = npzfile.read(path, lambda header: _schema(path, header, parsed), digest_of=_digest)
    extra = {key: header[key] for key in ("classes", "class_names", "run") if key in header} | parsed
    return (header.get("sizes"), COSTS[header["cost"]], header.get("activations"), header["dtype"], header.get("seed"),
            arrays, extra)


def _digest(header: dict, arrays: dict) -> str:
    return arrays_sha256(arrays) if header["format_version"] == 1 else npzfile.digest(header, arrays)


def _schema(path: Path, header: dict, parsed: dict) -> dict:
    """The arrays a checkpoint with ``header`` holds, after every field is
    checked; a version 3 header's ``(layers, input_shape)`` go to ``parsed["layers"]``."""
    if header.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an anynet checkpoint (header format is not {FORMAT!r})")
    version = header.get("format_version")
    if not fields.is_int(version) or version not in (1, 2, FORMAT_VERSION):
        raise CheckpointError(
            f"{path}: unknown checkpoint format version {fields.short(version)}; this anynet reads versions 1 to {FORMAT_VERSION}"
        )
    required = _REQUIRED if version == FORMAT_VERSION else _REQUIRED_V2
    missing = [key for key in required if key not in header]
    if missing:
        raise CheckpointError(f"{path}: the header lacks {', '.join(missing)}")
    unknown = sorted(set(header) - set(required) - set(_OPTIONAL))
    if unknown:
        raise CheckpointError(f"{path}: the header has unknown fields {fields.short(unknown)}")
    if version == FORMAT_VERSION:
        layers, input_shape = layerlist.parse_header(path, header)
        parsed["layers"] = (layers, input_shape)
        shapes = layerlist.array_shapes(chain.param_shapes(layers, input_shape))
    else:
        shapes = layerlist.dense_shapes(fields.check_network(path, header))
    schema = {name: (shape, header["dtype"]) for name, shape in shapes.items()}
    if "run" in header:
        try:
            schema.update(runstate.schema(header["run"]))
        except CheckpointError as exc:
            raise CheckpointError(f"{path}: {exc}") from None
    return schema


def _read_network2_json(path: Path, data: bytes):
    document = npzfile.loads_json(data, path, "the file")
    if not isinstance(document, dict):
        raise CheckpointError(f"{path}: a network2.py file is a JSON object, not {type(document).__name__}")
    missing = [key for key in ("sizes", "weights", "biases", "cost") if key not in document]
    if missing:
        raise CheckpointError(f"{path}: not a network2.py file: it lacks {', '.join(missing)}")
    sizes = fields.check_sizes(path, document["sizes"])
    cost = document["cost"]
    if not isinstance(cost, str) or cost not in _NETWORK2_COSTS:
        raise CheckpointError(f"{path}: unknown cost {fields.short(cost)}; known: {', '.join(_NETWORK2_COSTS)}")
    layers = len(sizes) - 1
    for key in ("weights", "biases"):
        if not isinstance(document[key], list) or len(document[key]) != layers:
            raise CheckpointError(f"{path}: {key} must be a list of {layers} matrices for sizes {fields.short(sizes)}")
    arrays = {}
    for name, shape in layerlist.dense_shapes(sizes).items():
        rows = document["weights" if name[0] == "w" else "biases"][int(name[1:])]
        if not isinstance(rows, list) or len(rows) != shape[0] or not all(
            isinstance(row, list) and len(row) == shape[1] for row in rows
        ):
            raise CheckpointError(f"{path}: {name} does not have the shape {shape} that sizes {fields.short(sizes)} need")
        # int or float only: JSON strings, booleans and null are not numbers
        if not all(type(v) is float or type(v) is int for row in rows for v in row):
            raise CheckpointError(f"{path}: {name} holds values that are not numbers (strings, booleans or null)")
        arrays[name] = np.array(rows, dtype=np.float64)
    cost_class = _NETWORK2_COSTS[cost]
    # network2.py's networks are sigmoid throughout; a softmax output only
    # comes with the log-likelihood cost, which requires it.
    output = "softmax" if cost_class.output_activations == ("softmax",) else "sigmoid"
    return sizes, cost_class, ["sigmoid"] * (layers - 1) + [output], "float64", None, arrays, {}
