"""Save and load networks without pickle.

A checkpoint is an ``.npz`` archive (NumPy's zip of ``.npy`` files) holding

* ``w0 .. w{L-1}`` and ``b0 .. b{L-1}``: the weights ``(sizes[l+1], sizes[l])``
  and biases ``(sizes[l+1], 1)`` as host arrays in the network's dtype;
* ``header``: a UTF-8 JSON document stored as a uint8 array, with ``format``
  ("anynet-checkpoint"), ``format_version`` (1), ``sizes``, ``cost``,
  ``activations`` (one name per layer after the input), ``dtype``,
  ``anynet_version``, ``seed`` (or null) and ``sha256``, the digest of the
  arrays computed by :func:`arrays_sha256`.

It is read back with ``allow_pickle=False``: names are checked against
allow-lists, shapes against ``sizes`` and bytes against ``sha256``, so a
checkpoint can hold nothing but numbers.  :func:`load` also reads the JSON
files written by Nielsen's network2.py ``Network.save``.
"""

from __future__ import annotations

import hashlib
import io
import json
import numbers
import os
import pickletools
import secrets
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .activations import ACTIVATIONS
from .backend import DTYPES, get_backend, to_numpy
from .costs import COSTS
from .errors import CheckpointError
from .network import Network

FORMAT = "anynet-checkpoint"
FORMAT_VERSION = 1

# network2.py stores its cost as the class name ("QuadraticCost",
# "CrossEntropyCost"); those, LogLikelihoodCost and anynet's own names are
# accepted, anything else refused.
_NETWORK2_COSTS = {cls.__name__: cls for cls in COSTS.values()} | COSTS

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip's first entry, or an empty zip


def arrays_sha256(arrays) -> str:
    """SHA-256 over ``arrays`` (a mapping name -> NumPy array, in its order):
    for each array its name, dtype, shape and raw C-order bytes."""
    digest = hashlib.sha256()
    for name, array in arrays.items():
        array = np.ascontiguousarray(array)
        digest.update(f"{name}\0{array.dtype.str}\0{list(array.shape)}\0".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def _shapes(sizes) -> dict[str, tuple[int, int]]:
    """The arrays of a checkpoint, in order (w0.., b0..), with their shapes."""
    layers = list(enumerate(zip(sizes[:-1], sizes[1:])))
    return {**{f"w{i}": (y, x) for i, (x, y) in layers}, **{f"b{i}": (y, 1) for i, (x, y) in layers}}


def _name_of(registry: dict, value, what: str) -> str:
    for name, known in registry.items():
        if known is value:
            return name
    raise ValueError(
        f"cannot save a network with a custom {what} {value!r}: a checkpoint records only anynet's ({', '.join(registry)})"
    )


def save(net: Network, path) -> None:
    """Write ``net`` to ``path`` (any name; nothing is appended) as an anynet
    checkpoint.  The write is atomic: a temporary file in the same directory
    is written, flushed to disk and renamed over ``path``, so ``path`` holds
    either the old checkpoint or the complete new one."""
    from . import __version__

    path = Path(path)
    cost = _name_of(COSTS, net.cost, "cost")
    activations = [_name_of(ACTIVATIONS, type(a), "activation") for a in net.activations]
    dtype = net.backend.dtype_name
    shapes = _shapes(net.sizes)
    arrays = {}
    for name, value in zip(shapes, list(net.weights) + list(net.biases)):
        arrays[name] = np.ascontiguousarray(to_numpy(value), dtype=dtype)
        if arrays[name].shape != shapes[name]:
            raise ValueError(f"cannot save: {name} has shape {arrays[name].shape}, sizes {net.sizes} need {shapes[name]}")
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "sizes": net.sizes,
        "cost": cost,
        "activations": activations,
        "dtype": dtype,
        "anynet_version": __version__,
        "seed": net.seed,
        "sha256": arrays_sha256(arrays),
    }
    header_bytes = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    _write_atomically(path, lambda f: np.savez(f, header=header_bytes, **arrays))


def _write_atomically(path: Path, write) -> None:
    # O_EXCL on a random name: no clash with a concurrent writer; mode 0o666
    # lets the umask decide permissions, as open() would.
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (POSIX); Windows cannot open directories."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load(path, *, backend="numpy", device=None, dtype=None) -> Network:
    """Load a network saved by :func:`save` (or by network2.py's ``save``)
    onto ``backend``/``device`` in ``dtype`` (None: the checkpoint's).

    The file's type is told by its content, not its name.  Raises
    :class:`CheckpointError` (a ValueError) naming the file for anything that
    is not a sound checkpoint: truncated, modified (checksum mismatch),
    pickled, wrong shapes, unknown names or format version.  Pickle is never
    used.
    """
    path = Path(path)
    data = path.read_bytes()
    if data[:4] in _ZIP_MAGIC:
        spec = _read_npz(path, data)
    elif data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{":
        spec = _read_network2_json(path, data)
    else:
        raise CheckpointError(f"{path}: {_describe_unknown(data)}")
    sizes, cost, activations, file_dtype, seed, arrays = spec
    # The backend first, outside the try: its errors (not installed, no such
    # device) are about the request, not the file.
    resolved = get_backend(backend, device, file_dtype if dtype is None else dtype)
    try:
        net = Network(
            sizes,
            cost,
            backend=resolved,
            dtype=resolved.dtype_name,
            seed=seed,
            activation=activations[:-1],
            output_activation=activations[-1],
            initializer=_placeholder,
        )
        layers = len(sizes) - 1
        net.weights = [arrays[f"w{i}"] for i in range(layers)]
        net.biases = [arrays[f"b{i}"] for i in range(layers)]
    except ValueError as exc:  # softmax in a hidden layer, a cost that cannot follow its output, NaN
        raise CheckpointError(f"{path}: {exc}") from exc
    return net


def _placeholder(sizes, rng):
    """Zeros, replaced at once by the loaded parameters: no random draws, no
    change to anyone's random state."""
    return [np.zeros((y, 1)) for y in sizes[1:]], [np.zeros((y, x)) for x, y in zip(sizes[:-1], sizes[1:])]


def _describe_unknown(data: bytes) -> str:
    if not data:
        return "the file is empty, not a checkpoint"
    if _is_pickle(data):
        return "this is a Python pickle; anynet never loads pickles, because unpickling can run arbitrary code"
    if data[:6] == b"\x93NUMPY":
        return "this is a single .npy array, not an anynet checkpoint (.npz)"
    if data[:2] == b"\x1f\x8b":
        return "this is a gzip file (perhaps a pickle such as mnist.pkl.gz), not an anynet checkpoint"
    return "neither an anynet checkpoint (.npz) nor a network2.py JSON file"


def _is_pickle(data: bytes) -> bool:
    """True if ``data`` parses as a pickle of any protocol.  pickletools only
    reads the opcodes; it never imports or calls anything."""
    try:
        opcodes = list(pickletools.genops(data))
    except Exception:  # only a sniff for the message: any parse failure means "not a pickle"
        return False
    return bool(opcodes) and opcodes[-1][0].name == "STOP"


def _read_npz(path: Path, data: bytes):
    try:
        archive = np.load(io.BytesIO(data), allow_pickle=False)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise CheckpointError(f"{path}: truncated or corrupt: it starts like an .npz (zip) archive but cannot be read ({exc})") from exc
    with archive:
        members = {name: _read_member(path, archive, name) for name in archive.files}
    if "header" not in members:
        raise CheckpointError(f"{path}: no 'header' entry; this .npz was not written by anynet")
    header = _parse_header(path, members.pop("header"))
    sizes = _check_sizes(path, header["sizes"])
    layers = len(sizes) - 1
    expected = _shapes(sizes)
    missing = [name for name in expected if name not in members]
    if missing:
        raise CheckpointError(f"{path}: missing arrays {', '.join(missing)} for sizes {sizes}")
    unexpected = sorted(set(members) - set(expected))
    if unexpected:
        raise CheckpointError(f"{path}: unexpected arrays {', '.join(unexpected)} for sizes {sizes}")
    dtype = header["dtype"]
    for name, shape in expected.items():
        array = members[name]
        if array.shape != shape:
            raise CheckpointError(f"{path}: {name} has shape {array.shape}, but sizes {sizes} need {shape}")
        if array.dtype != np.dtype(dtype):
            raise CheckpointError(f"{path}: {name} is {array.dtype}, but the header says {dtype}")
    arrays = {name: members[name] for name in expected}
    if arrays_sha256(arrays) != header["sha256"]:
        raise CheckpointError(f"{path}: checksum mismatch: the arrays were modified or corrupted after saving")
    activations = header["activations"]
    if len(activations) != layers:
        raise CheckpointError(f"{path}: {len(activations)} activations for {layers} layers")
    return sizes, COSTS[header["cost"]], activations, dtype, header["seed"], arrays


def _read_member(path: Path, archive, name: str) -> np.ndarray:
    try:
        member = archive[name]
    except ValueError as exc:
        # NumPy's refusal to unpickle an object array mentions allow_pickle;
        # any other ValueError here is a short read of the array data.
        if "allow_pickle" in str(exc):
            raise CheckpointError(
                f"{path}: array {name!r} holds pickled Python objects; anynet never loads pickles, "
                "because unpickling can run arbitrary code"
            ) from exc
        raise CheckpointError(f"{path}: array {name!r} is truncated or corrupt ({exc})") from exc
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as exc:
        raise CheckpointError(f"{path}: array {name!r} is truncated or corrupt ({exc})") from exc
    if not isinstance(member, np.ndarray):  # NumPy hands back non-.npy entries as bytes
        raise CheckpointError(f"{path}: entry {name!r} is not a .npy array")
    return member


def _parse_header(path: Path, raw: np.ndarray) -> dict:
    if not isinstance(raw, np.ndarray) or raw.dtype != np.uint8 or raw.ndim != 1:
        raise CheckpointError(f"{path}: the header must be a 1-d uint8 array of JSON, not {getattr(raw, 'dtype', type(raw).__name__)}")
    try:
        header = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise CheckpointError(f"{path}: the header is not valid JSON ({exc})") from exc
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an anynet checkpoint (header format is not {FORMAT!r})")
    version = header.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: unknown checkpoint format version {version!r}; this anynet reads version {FORMAT_VERSION}"
        )
    missing = [key for key in ("sizes", "cost", "activations", "dtype", "sha256") if key not in header]
    if missing:
        raise CheckpointError(f"{path}: the header lacks {', '.join(missing)}")
    if not isinstance(header["cost"], str) or header["cost"] not in COSTS:
        raise CheckpointError(f"{path}: unknown cost {header['cost']!r}; known: {', '.join(COSTS)}")
    activations = header["activations"]
    if not isinstance(activations, list) or not all(isinstance(a, str) and a in ACTIVATIONS for a in activations):
        raise CheckpointError(f"{path}: unknown activations {activations!r}; known: {', '.join(ACTIVATIONS)}")
    if not isinstance(header["dtype"], str) or header["dtype"] not in DTYPES:
        raise CheckpointError(f"{path}: unsupported dtype {header['dtype']!r}; known: {', '.join(DTYPES)}")
    seed = header.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise CheckpointError(f"{path}: seed must be a non-negative integer or null, not {seed!r}")
    header.setdefault("seed", None)
    return header


def _check_sizes(path: Path, sizes) -> list[int]:
    if (
        not isinstance(sizes, list)
        or len(sizes) < 2
        or not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) and s >= 1 for s in sizes)
    ):
        raise CheckpointError(f"{path}: sizes must be a list of at least two positive integers, not {sizes!r}")
    return [int(s) for s in sizes]


def _read_network2_json(path: Path, data: bytes):
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise CheckpointError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(document, dict):
        raise CheckpointError(f"{path}: a network2.py file is a JSON object, not {type(document).__name__}")
    missing = [key for key in ("sizes", "weights", "biases", "cost") if key not in document]
    if missing:
        raise CheckpointError(f"{path}: not a network2.py file: it lacks {', '.join(missing)}")
    sizes = _check_sizes(path, document["sizes"])
    cost = document["cost"]
    if not isinstance(cost, str) or cost not in _NETWORK2_COSTS:
        raise CheckpointError(f"{path}: unknown cost {cost!r}; known: {', '.join(_NETWORK2_COSTS)}")
    layers = len(sizes) - 1
    for key in ("weights", "biases"):
        if not isinstance(document[key], list) or len(document[key]) != layers:
            raise CheckpointError(f"{path}: {key} must be a list of {layers} matrices for sizes {sizes}")
    expected = _shapes(sizes)
    arrays = {}
    for name in expected:
        nested = document["weights" if name[0] == "w" else "biases"][int(name[1:])]
        try:
            arrays[name] = np.asarray(nested, dtype=np.float64)
        except (ValueError, TypeError) as exc:
            raise CheckpointError(f"{path}: {name} is not a matrix of numbers ({exc})") from exc
        if arrays[name].shape != expected[name]:
            raise CheckpointError(f"{path}: {name} has shape {arrays[name].shape}, but sizes {sizes} need {expected[name]}")
    cost_class = _NETWORK2_COSTS[cost]
    # network2.py's networks are sigmoid throughout; a softmax output only
    # comes with the log-likelihood cost, which requires it.
    output = "softmax" if cost_class.output_activations == ("softmax",) else "sigmoid"
    return sizes, cost_class, ["sigmoid"] * (layers - 1) + [output], "float64", None, arrays
