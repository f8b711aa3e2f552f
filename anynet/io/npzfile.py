"""A pickle-free file of named arrays with a JSON header, read within bounds.

The file is a zip archive in NumPy's ``.npz`` layout, so ``np.load`` opens it:
a member ``header.npy`` holding a UTF-8 JSON object as a 1-d uint8 array, and
one member ``<name>.npy`` per array, all stored uncompressed.  The header's
``sha256`` field is :func:`digest` of the rest of the header and the arrays, so
no byte that matters can change unnoticed.

:func:`read` trusts nothing in the file.  Before it reads any array data it
has checked the member names and each member's declared size against a schema
that the caller derives from the header, and the schema's total against the
file's size; it then streams each member into an array of exactly that size.
Compressed members are refused (nothing can inflate), so memory never exceeds
the arrays the schema allows.  Every way a file can be damaged ends in a
:class:`CheckpointError` naming the file.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from . import files
from ..errors import CheckpointError, TooLargeError
from .files import damaged, write_atomically

DIGEST_KEY = "sha256"
HEADER = "header"
MAX_HEADER_BYTES = 4 << 20
MAX_INT_DIGITS = 20
MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip's first member, or an empty zip

# name -> (shape, dtype) of every array a file must hold, nothing more
Schema = Mapping[str, tuple[tuple[int, ...], np.dtype | str]]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_NPY_PREFIX_MAX = 12 + 10000  # magic, version, length field and numpy's largest header
_CHUNK = 1 << 20
_HEX64 = re.compile(r"[0-9a-f]{64}")


def looks_like(prefix: bytes) -> bool:
    """True if a file starting with ``prefix`` (4 bytes) is a zip archive."""
    return prefix[:4] in MAGIC


def digest(header: Mapping, arrays: Mapping[str, np.ndarray]) -> str:
    """SHA-256 over the header (every field but ``sha256``, as canonical JSON)
    and then, in name order, each array's name, dtype, shape and C-order bytes."""
    sha = hashlib.sha256(_canonical({k: v for k, v in header.items() if k != DIGEST_KEY}) + b"\0")
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        sha.update(f"{name}\0{array.dtype.str}\0{list(array.shape)}\0".encode())
        sha.update(array)  # the buffer itself: no copy of a large array
    return sha.hexdigest()


def _canonical(value) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode()


def write(path, header: Mapping, arrays: Mapping[str, np.ndarray]) -> None:
    """Write ``header`` (JSON-able, finite numbers only) and ``arrays`` (name ->
    NumPy array of numbers) to ``path`` atomically, adding ``sha256``."""
    body = json.loads(json.dumps({k: v for k, v in header.items() if k != DIGEST_KEY}, allow_nan=False))
    stored = {}
    for name, array in arrays.items():
        array = np.asarray(array)
        if not isinstance(name, str) or not _NAME.fullmatch(name) or name == HEADER:
            raise ValueError(f"array name {name!r} is not allowed (letters, digits, _; not {HEADER!r})")
        if array.dtype.kind not in "biuf":
            raise ValueError(f"array {name!r} has dtype {array.dtype}; only numbers are stored")
        stored[name] = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
    text = json.dumps({**body, DIGEST_KEY: digest(body, stored)}, allow_nan=False).encode()
    members = {HEADER: np.frombuffer(text, dtype=np.uint8), **stored}
    write_atomically(path, lambda f: _write_zip(f, members))


def _write_zip(f, members: Mapping[str, np.ndarray]) -> None:
    archive = zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True)
    try:
        for name, array in members.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)
    except BaseException:
        # An interrupted or failed archive is abandoned with its temporary
        # file: closing it would write a directory after a half member, or
        # raise "Can't close the ZIP file while there is an open writing
        # handle" in place of the KeyboardInterrupt.  No fp: close() is a no-op.
        archive.fp = None
        raise
    archive.close()


def open_regular(path, what: str = "checkpoint"):
    """Open ``path`` for binary reading if it is a regular file; a FIFO, a
    device or a directory raises :class:`CheckpointError` without blocking."""
    return files.open_regular(path, what, error=CheckpointError)


def read(path, schema: Schema | Callable[[dict], Schema], *, what: str = "checkpoint",
         digest_of: Callable[[dict, dict], str] = digest, max_header_bytes: int = MAX_HEADER_BYTES):
    """Read a file written by :func:`write`; return ``(header, arrays)``.

    ``schema`` is the arrays the file must hold, or a function from the parsed
    header to them (it may raise :class:`CheckpointError` to refuse the
    header).  ``digest_of(header, arrays)`` must equal the header's ``sha256``
    (another function reads files of an older format).  Raises
    :class:`CheckpointError` naming ``path`` for anything else, and
    :class:`TooLargeError` if the arrays would not fit in this machine's memory.
    """
    path = Path(path)
    with open_regular(path, what) as f:
        size = os.fstat(f.fileno()).st_size
        with damaged(path, "its zip directory", error=CheckpointError):
            archive = zipfile.ZipFile(f)
        with archive:
            infos = _members(path, archive, what)
            if HEADER not in infos:
                raise CheckpointError(f"{path}: no {HEADER!r} entry; this .npz was not written by anynet")
            raw = _read_member(path, archive, infos.pop(HEADER), HEADER, None, np.dtype(np.uint8), max_header_bytes)
            header = loads_json(raw.tobytes(), path, f"the {what}'s header", encoding="utf-8")
            if not isinstance(header, dict):
                raise CheckpointError(f"{path}: the {what}'s header is a JSON {type(header).__name__}, not an object")
            expected = {name: (tuple(shape), np.dtype(dtype).newbyteorder("<"))
                        for name, (shape, dtype) in (schema(header) if callable(schema) else schema).items()}
            _check_layout(path, infos, expected, size)
            arrays = {name: _read_member(path, archive, infos[name], name, shape, dtype)
                      for name, (shape, dtype) in expected.items()}
    stored = header.get(DIGEST_KEY)
    if not isinstance(stored, str) or not _HEX64.fullmatch(stored):
        raise CheckpointError(f"{path}: the {what}'s header has no valid {DIGEST_KEY} digest")
    if digest_of(header, arrays) != stored:
        raise CheckpointError(f"{path}: checksum mismatch: the {what}'s header or arrays were modified or corrupted after saving")
    return header, {name: array.astype(array.dtype.newbyteorder("="), copy=False) for name, array in arrays.items()}


def _members(path: Path, archive: zipfile.ZipFile, what: str) -> dict[str, zipfile.ZipInfo]:
    infos = {}
    for info in archive.infolist():
        name = info.filename[:-4] if info.filename.endswith(".npy") else None
        if name is None or not _NAME.fullmatch(name):
            raise CheckpointError(f"{path}: unexpected entry {info.filename[:80]!r}; a {what} holds only .npy arrays")
        if name in infos:
            raise CheckpointError(f"{path}: the entry {info.filename!r} appears twice")
        if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1 or info.compress_size != info.file_size:
            raise CheckpointError(f"{path}: the entry {info.filename!r} is compressed or encrypted; a {what} stores its arrays as they are")
        infos[name] = info
    return infos


def _check_layout(path: Path, infos: dict, expected: dict, size: int) -> None:
    """Names, declared sizes and the total, before any array is read."""
    missing = [name for name in expected if name not in infos]
    if missing:
        raise CheckpointError(f"{path}: missing arrays {', '.join(missing)}")
    unexpected = sorted(set(infos) - set(expected))
    if unexpected:
        raise CheckpointError(f"{path}: unexpected arrays {', '.join(unexpected)}")
    total = 0
    for name, (shape, dtype) in expected.items():
        nbytes = math.prod(shape) * dtype.itemsize
        total += nbytes
        if not 0 < infos[name].file_size - nbytes <= _NPY_PREFIX_MAX:
            raise CheckpointError(
                f"{path}: {name} should hold {nbytes} bytes for shape {shape}, but its entry is {infos[name].file_size} bytes long"
            )
    if total > size:
        raise CheckpointError(f"{path}: the header implies {total} bytes of arrays, but the file is only {size} bytes long")
    memory = files.physical_memory()
    if memory is not None and total > memory:
        raise TooLargeError(f"{path}: its arrays need {total / 2**30:.1f} GiB, more than this machine's {memory / 2**30:.1f} GiB")


def _read_member(path: Path, archive, info, name: str, shape, dtype: np.dtype, max_length: int = 0) -> np.ndarray:
    """The array in ``info``, of ``shape`` and ``dtype`` (``shape`` None: any
    1-d array up to ``max_length`` items), read in chunks into its final buffer."""
    if shape is None and info.file_size > max_length + _NPY_PREFIX_MAX:
        raise CheckpointError(f"{path}: the {name} entry is {info.file_size} bytes, more than the {max_length} allowed")
    with damaged(path, f"the {name} entry", error=CheckpointError), archive.open(info) as stream:
        version = np.lib.format.read_magic(stream)
        if version not in ((1, 0), (2, 0)):
            raise CheckpointError(f"{path}: the {name} entry has .npy version {version}; anynet reads 1.0 and 2.0")
        reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        file_shape, fortran_order, file_dtype = reader(stream)
        if file_dtype.hasobject:
            raise CheckpointError(
                f"{path}: array {name!r} holds pickled Python objects; anynet never loads pickles, because unpickling can run arbitrary code"
            )
        if shape is None:  # the header: any 1-d array up to max_length
            if len(file_shape) != 1 or file_shape[0] > max_length:
                raise CheckpointError(f"{path}: the {name} entry must be 1-d and at most {max_length} long, not shape {file_shape}")
            shape = file_shape
        if file_shape != shape:
            raise CheckpointError(f"{path}: {name} has shape {file_shape}, but the header implies {shape}")
        if file_dtype != dtype:
            raise CheckpointError(f"{path}: {name} is {file_dtype} ({file_dtype.str}), not {dtype} ({dtype.str})")
        if fortran_order and len(shape) > 1:
            raise CheckpointError(f"{path}: {name} is stored in Fortran order; anynet writes C order")
        array = np.empty(shape, dtype)
        if stream.tell() + array.nbytes != info.file_size:
            raise CheckpointError(f"{path}: the {name} entry's length does not match its shape {shape}")
        buffer = memoryview(array.reshape(-1).view(np.uint8))
        filled = 0
        while filled < array.nbytes:
            count = stream.readinto(buffer[filled : filled + _CHUNK])
            if not count:
                raise CheckpointError(f"{path}: {name} is truncated")
            filled += count
        if stream.read(1):  # also makes zipfile check the CRC
            raise CheckpointError(f"{path}: {name} holds more data than its shape {shape}")
    return array


class _Refused(ValueError):
    """A JSON value anynet does not accept."""


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise _Refused(f"an integer of {len(text.lstrip('-'))} digits (at most {MAX_INT_DIGITS})")
    return int(text)


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"the number {text[:40]} is out of range")
    return value


def _parse_constant(name: str):
    raise _Refused(f"{name} is not a number anynet accepts")


def _object(pairs: list) -> dict:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen = set()
        duplicate = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise _Refused(f"the key {duplicate[:80]!r} appears twice")
    return result


def loads_json(data: bytes, path, part: str, *, encoding: str = "utf-8-sig"):
    """Parse ``data`` as JSON strictly: a duplicate key, an integer of more than
    20 digits, NaN, Infinity or a number that overflows raise
    :class:`CheckpointError` naming ``path`` and ``part``."""
    try:
        return json.loads(
            data.decode(encoding), parse_int=_parse_int, parse_float=_parse_float,
            parse_constant=_parse_constant, object_pairs_hook=_object,
        )
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError, _Refused) as exc:
        raise CheckpointError(f"{path}: {part} is not valid JSON ({exc})") from exc
