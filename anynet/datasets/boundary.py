"""Validation of user data at the public boundary, and its one move to the device.

Data comes in two forms, both accepted everywhere:

* the book's: an iterable of ``(x, y)`` pairs, ``x`` a column vector
  ``(sizes[0], 1)``, ``y`` a one-hot column ``(sizes[-1], 1)`` or an int label;
* arrays ``(X, y)``: ``X`` of shape ``(n, sizes[0])``, ``y`` integer labels
  ``(n,)`` or targets ``(n, sizes[-1])``, as host NumPy arrays or arrays of
  the network's backend.

Whatever the form, the result is a :class:`DeviceData` on the network's
device.  Host data is checked on the host.  Data already on the device is
checked on the device: the checks are 0-d arrays (:class:`Pending`) that cost
one device-to-host transfer when verified, which the caller does once (``fit``
at its start) or defers to its next read of a result (the book's per-batch
``update_mini_batch``), so a training step never waits for the device.
"""

from __future__ import annotations

import numbers

import array_api_compat
import numpy as np

from ..xp.backend import Backend, _namespace_name, is_array, to_numpy
from .devicedata import Deferred, DeviceData, Pending, check_shapes, finite_check, warn_uint8  # noqa: F401  (Deferred re-exported)
from ..errors import ArgumentTypeError, DataError


def _is_array_form(data) -> bool:
    return (
        isinstance(data, (tuple, list))
        and len(data) == 2
        and hasattr(data[0], "shape")
        and len(data[0].shape) == 2
        and hasattr(data[1], "shape")
        and not isinstance(data[0], tuple)
    )


def prepare(data, *, backend: Backend, n_in: int, n_out: int, what: str, defer: bool = False) -> DeviceData:
    """Validate ``data`` in either form and return it on ``backend``'s device.
    With ``defer``, checks of device-resident data stay on the device in
    ``DeviceData.pending`` for the caller to verify; otherwise they are read
    back now."""
    if data is None:
        raise ArgumentTypeError(f"{what} is None")
    if isinstance(data, DeviceData):
        return _check_device_data(data, backend=backend, n_in=n_in, n_out=n_out, what=what)
    if _is_array_form(data):
        x, y = data
    else:
        x, y = _stack_pairs(data, what=what)
    result = _arrays_to_device(x, y, backend=backend, n_in=n_in, n_out=n_out, what=what)
    if result.pending is not None and not defer:
        result.pending.verify(backend.xp)
        result = DeviceData(result.x, result.targets, result.labels, result.n)
    return result


def _check_device_data(data, *, backend, n_in, n_out, what):
    """A DeviceData from ``Network.to_device``: already validated, but it must
    belong to this backend, device, dtype and layer widths."""
    if not backend.owns(data.x) or array_api_compat.device(data.x) != backend.device or data.x.dtype != backend.dtype:
        raise DataError(f"{what} was moved to another backend, device or dtype; call to_device on this network")
    check_shapes(tuple(data.x.shape), tuple(data.targets.shape), n_in=n_in, n_out=n_out, what=what)
    return data


def _stack_pairs(data, *, what: str):
    if isinstance(data, (str, bytes)) or not hasattr(data, "__iter__"):
        raise ArgumentTypeError(
            f"{what} must be a list of (x, y) pairs or a tuple (X, y) of arrays, not {type(data).__name__}"
        )
    pairs = list(data)
    if not pairs:
        raise DataError(f"{what} is empty")
    xs, ys = [], []
    for i, pair in enumerate(pairs):
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
            raise ArgumentTypeError(f"{what}[{i}] must be an (x, y) pair, not {type(pair).__name__}")
        x, y = pair
        xs.append(_host(x, what=f"{what}[{i}] input").reshape(-1))
        ys.append(y)
    widths = {x.shape[0] for x in xs}
    if len(widths) > 1:
        raise DataError(f"{what}: inputs have different sizes {sorted(widths)}")
    if all(_is_int_label(y) for y in ys):
        labels = np.asarray([int(y) for y in ys], dtype=np.int64)
        return np.stack(xs), labels
    if all(_is_scalar(y) for y in ys):  # (x, 3.0): a label, checked as labels are (whole numbers only)
        return np.stack(xs), np.asarray([float(y) for y in ys], dtype=np.float64)
    targets = [_host(y, what=f"{what}[{i}] target").reshape(-1) for i, y in enumerate(ys)]
    if len({t.shape[0] for t in targets}) > 1:
        raise DataError(f"{what}: targets have different sizes; mix of labels and vectors?")
    return np.stack(xs), np.stack(targets)


def _is_int_label(y) -> bool:
    if isinstance(y, bool):
        return False
    if isinstance(y, numbers.Integral):
        return True
    shape = getattr(y, "shape", None)
    return shape == () and "int" in str(getattr(y, "dtype", ""))


def _is_scalar(y) -> bool:
    if isinstance(y, bool):
        return False
    return isinstance(y, numbers.Real) or getattr(y, "shape", None) == ()


def _host(value, *, what: str) -> np.ndarray:
    if is_array(value):
        return to_numpy(value)
    try:
        return np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise ArgumentTypeError(f"{what} is not an array: {exc}") from None


def _arrays_to_device(x, y, *, backend, n_in, n_out, what):
    kinds = {_namespace_name(a) or "host" for a in (x, y)}
    on_device = backend.name in kinds and backend.name != "numpy"
    if on_device and len(kinds) > 1:
        raise ArgumentTypeError(f"{what}: X and y come from different backends ({' and '.join(sorted(kinds))})")
    foreign = kinds - {"numpy", "host", backend.name}
    if foreign:
        accepted = "NumPy arrays" if backend.name == "numpy" else f"NumPy arrays or {backend.name} arrays"
        raise ArgumentTypeError(
            f"{what} holds {' and '.join(sorted(foreign))} arrays, but the network runs on the "
            f"{backend.name} backend; pass {accepted}"
        )
    if on_device:
        return _validate_device(x, y, backend=backend, n_in=n_in, n_out=n_out, what=what)
    return _validate_host(np.asarray(x), np.asarray(y), backend=backend, n_in=n_in, n_out=n_out, what=what)


def _nonfinite_message(a: np.ndarray, dtype_name: str, original: np.ndarray, what: str) -> str | None:
    """None if ``a`` (already in the network's dtype) is finite, else a
    message with the count and first place; values that were finite before
    the conversion overflowed the dtype, and the message says so."""
    if a.dtype.kind != "f" or np.isfinite(np.sum(a)):  # one pass, no temporary, in the usual case
        return None
    bad = ~np.isfinite(a)
    count = int(np.count_nonzero(bad))
    if not count:
        return None
    row, column = (int(i) for i in np.argwhere(bad)[0])
    place = f"first at sample {row}" + (f", column {column}" if a.shape[1] > 1 else "")
    if original.dtype.kind == "f" and bool(np.isfinite(original[row, column])):
        return (
            f"{what}: {count} value(s) overflow {dtype_name} ({place}: {float(original[row, column]):g}); "
            f"scale the data or use float64"
        )
    return f"{what} contain NaN or inf ({count} value(s), {place})"


def _validate_host(x, y, *, backend, n_in, n_out, what) -> DeviceData:
    check_shapes(x.shape, y.shape, n_in=n_in, n_out=n_out, what=what)
    if x.dtype.kind not in "biuf":
        raise ArgumentTypeError(f"{what}: inputs must be real numbers, not {x.dtype}")
    dtype = np.dtype(backend.dtype_name)
    if x.dtype == np.uint8:
        warn_uint8(what)
        converted = x.astype(dtype) / dtype.type(255)
    else:
        with np.errstate(over="ignore"):  # values beyond the dtype become inf, and are reported below
            converted = x.astype(dtype, copy=False)
    message = _nonfinite_message(converted, backend.dtype_name, x, f"{what}: inputs")
    if message:
        raise DataError(message)
    if y.ndim == 1:
        labels = _host_labels(y, n_out=n_out, what=what)
        targets = np.zeros((y.shape[0], n_out), dtype=dtype)
        targets[np.arange(y.shape[0]), labels] = 1.0
    else:
        if y.dtype.kind not in "biuf":
            raise ArgumentTypeError(f"{what}: targets must be real numbers, not {y.dtype}")
        with np.errstate(over="ignore"):
            targets = y.astype(dtype, copy=False)
        message = _nonfinite_message(targets, backend.dtype_name, y, f"{what}: targets")
        if message:
            raise DataError(message)
        labels = np.argmax(y, axis=1)
    return DeviceData(
        x=backend.asarray(converted),
        targets=backend.asarray(targets),
        labels=backend.asarray(labels, dtype=backend.index_dtype),
        n=int(x.shape[0]),
    )


def _host_labels(y: np.ndarray, *, n_out: int, what: str) -> np.ndarray:
    """Integer labels in [0, n_out); floats are accepted when every value is a
    whole number (labels read from a CSV file arrive as 3.0)."""
    if y.dtype.kind == "f":
        whole = np.isfinite(y) & (y == np.round(y))
        if not whole.all():
            row = int(np.argmin(whole))
            raise ArgumentTypeError(
                f"{what}: labels must be integers; y holds {float(y[row])} at sample {row} "
                f"(for class probabilities give y of shape (n, {n_out}))"
            )
    elif y.dtype.kind not in "iub":
        raise ArgumentTypeError(
            f"{what}: labels must be integers 0..{n_out - 1}, not {y.dtype}; encode other labels first "
            "(anynet.sklearn.NetworkClassifier does it for you)"
        )
    outside = (y < 0) | (y >= n_out)
    if outside.any():
        row = int(np.argmax(outside))
        label = int(y[row]) if y.dtype.kind in "iub" else float(y[row])
        raise DataError(f"{what}: label {label} at sample {row} is outside [0, {n_out})")
    return y.astype(np.int64)


def _validate_device(x, y, *, backend, n_in, n_out, what) -> DeviceData:
    xp = backend.xp
    x, y = backend.detached(x), backend.detached(y)
    for name, array in (("X", x), ("y", y)):
        backend.check_device(array, f"{what}: {name}")
    check_shapes(tuple(x.shape), tuple(y.shape), n_in=n_in, n_out=n_out, what=what)
    if not xp.isdtype(x.dtype, ("real floating", "integral", "bool")):
        raise ArgumentTypeError(f"{what}: inputs must be real numbers, not {x.dtype}")
    if x.dtype == xp.uint8:
        warn_uint8(what)
        x = xp.astype(x, backend.dtype) / 255
    x = xp.astype(x, backend.dtype, copy=False)
    checks = [finite_check(x, xp, "inputs contain NaN or inf")]
    if len(y.shape) == 1:
        if xp.isdtype(y.dtype, "real floating"):
            checks.append((xp.all(y == xp.round(y)), "labels must be integers; y holds a fraction", None))
        elif not xp.isdtype(y.dtype, "integral"):
            raise ArgumentTypeError(f"{what}: labels must be integers, not {y.dtype}")
        inside = xp.logical_and(xp.min(y) >= 0, xp.max(y) < n_out)
        checks.append((inside, f"a label is outside [0, {n_out})", None))
        labels = xp.astype(y, backend.index_dtype)
        classes = xp.arange(n_out, dtype=labels.dtype, device=backend.device)
        targets = xp.astype(labels[:, None] == classes, backend.dtype)
    else:
        if not xp.isdtype(y.dtype, ("real floating", "integral", "bool")):
            raise ArgumentTypeError(f"{what}: targets must be real numbers, not {y.dtype}")
        targets = xp.astype(y, backend.dtype, copy=False)
        checks.append(finite_check(targets, xp, "targets contain NaN or inf"))
        labels = xp.astype(xp.argmax(targets, axis=1), backend.index_dtype)
    return DeviceData(x=x, targets=targets, labels=labels, n=int(x.shape[0]), pending=Pending(what, checks))


def column(a, *, backend: Backend, size: int, what: str, defer: bool = False):
    """A column vector ``(size, 1)`` or a block of columns ``(size, k)`` (or a
    flat ``(size,)`` vector) as rows ``(k, size)`` on the device, and the
    Pending check of device data (None for host data, checked here)."""
    if is_array(a) and backend.owns(a) and backend.name != "numpy":
        xp = backend.xp
        backend.check_device(a, what)
        a = backend.detached(a)
        rows = xp.reshape(a, (1, -1)) if len(a.shape) == 1 else a.T
        rows = xp.astype(rows, backend.dtype)
        pending = Pending(what, [finite_check(rows, xp, "contains NaN or inf")])
        if not defer:
            pending.verify(xp)
            pending = None
    else:
        host = _host(a, what=what)
        if host.dtype.kind not in "biuf":
            raise ArgumentTypeError(f"{what} must hold real numbers, not {host.dtype}")
        if host.ndim not in (1, 2):
            raise DataError(f"{what} must be a column vector ({size}, 1), got shape {host.shape}")
        rows = host.reshape(1, -1) if host.ndim == 1 else host.T
        if not np.isfinite(rows).all():
            raise DataError(f"{what} contains NaN or inf")
        with np.errstate(over="ignore"):
            converted = rows.astype(backend.dtype_name)  # as a batch is: a value beyond the dtype is refused
        overflow = _nonfinite_message(converted, backend.dtype_name, rows, what)
        if overflow is not None:
            raise DataError(overflow)
        rows, pending = backend.asarray(converted), None
    if rows.shape[1] != size:
        raise DataError(f"{what} must have {size} values per column, got {rows.shape[1]}")
    return rows, pending


def features(x, *, backend: Backend, n_in: int, what: str):
    """Inputs alone, ``X`` of shape ``(n, n_in)`` (host or this backend's), as
    a checked array on the device; for prediction, where there are no labels."""
    kind = _namespace_name(x)
    if kind not in (None, "numpy", backend.name):
        raise ArgumentTypeError(f"{what} is a {kind} array, but the network runs on the {backend.name} backend")
    shape = tuple(getattr(x, "shape", np.shape(x)))
    if len(shape) != 2 or shape[1] != n_in or shape[0] == 0:
        raise DataError(f"{what}: X must have shape (n, {n_in}) with n >= 1, got {shape}")
    labels = np.zeros(shape[0], dtype=np.int64)
    if kind == backend.name and kind != "numpy":
        labels = backend.asarray(labels, dtype=backend.index_dtype)
    return prepare((x, labels), backend=backend, n_in=n_in, n_out=1, what=what).x
