"""Validation of user data at the public boundary, and its one move to the device.

Data comes in two forms, both accepted everywhere:

* the book's: an iterable of ``(x, y)`` pairs, ``x`` a column vector
  ``(sizes[0], 1)``, ``y`` a one-hot column ``(sizes[-1], 1)`` or an int label;
* arrays ``(X, y)``: ``X`` of shape ``(n, sizes[0])``, ``y`` integer labels
  ``(n,)`` or targets ``(n, sizes[-1])``, as host NumPy arrays or arrays of
  the network's backend.

Whatever the form, the result is a :class:`DeviceData` living on the
network's device; bad data raises ValueError/TypeError naming the problem.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

import array_api_compat
import numpy as np

from .backend import Backend, _namespace_name, is_array, to_numpy


@dataclass(frozen=True)
class DeviceData:
    """Inputs, float targets and int labels of a dataset, on the device."""

    x: Any  # (n, sizes[0])
    targets: Any  # (n, sizes[-1])
    labels: Any  # (n,)
    n: int


def _is_array_form(data) -> bool:
    return (
        isinstance(data, (tuple, list))
        and len(data) == 2
        and hasattr(data[0], "shape")
        and len(data[0].shape) == 2
        and hasattr(data[1], "shape")
        and not isinstance(data[0], tuple)
    )


def prepare(data, *, backend: Backend, n_in: int, n_out: int, what: str) -> DeviceData:
    """Validate ``data`` in either form and return it on ``backend``'s device."""
    if data is None:
        raise TypeError(f"{what} is None")
    if isinstance(data, DeviceData):
        return _check_device_data(data, backend=backend, n_in=n_in, n_out=n_out, what=what)
    if _is_array_form(data):
        x, y = data
    else:
        x, y = _stack_pairs(data, what=what)
    return _arrays_to_device(x, y, backend=backend, n_in=n_in, n_out=n_out, what=what)


def _check_device_data(data, *, backend, n_in, n_out, what):
    """A DeviceData from ``Network.to_device``: already validated, but it must
    belong to this backend, device, dtype and layer widths."""
    if not backend.owns(data.x) or array_api_compat.device(data.x) != backend.device or data.x.dtype != backend.dtype:
        raise ValueError(f"{what} was moved to another backend, device or dtype; call to_device on this network")
    _check_shapes(tuple(data.x.shape), tuple(data.targets.shape), n_in=n_in, n_out=n_out, what=what)
    return data


def _stack_pairs(data, *, what: str):
    if isinstance(data, (str, bytes)) or not hasattr(data, "__iter__"):
        raise TypeError(f"{what} must be a list of (x, y) pairs or a tuple (X, y) of arrays, not {type(data).__name__}")
    pairs = list(data)
    if not pairs:
        raise ValueError(f"{what} is empty")
    xs, ys = [], []
    for i, pair in enumerate(pairs):
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
            raise TypeError(f"{what}[{i}] must be an (x, y) pair, not {type(pair).__name__}")
        x, y = pair
        xs.append(_host(x, what=f"{what}[{i}] input").reshape(-1))
        ys.append(y)
    widths = {x.shape[0] for x in xs}
    if len(widths) > 1:
        raise ValueError(f"{what}: inputs have different sizes {sorted(widths)}")
    if all(_is_int_label(y) for y in ys):
        labels = np.asarray([int(y) for y in ys], dtype=np.int64)
        return np.stack(xs), labels
    targets = [_host(y, what=f"{what}[{i}] target").reshape(-1) for i, y in enumerate(ys)]
    if len({t.shape[0] for t in targets}) > 1:
        raise ValueError(f"{what}: targets have different sizes; mix of labels and vectors?")
    return np.stack(xs), np.stack(targets)


def _is_int_label(y) -> bool:
    if isinstance(y, bool):
        return False
    if isinstance(y, numbers.Integral):
        return True
    shape = getattr(y, "shape", None)
    return shape == () and "int" in str(getattr(y, "dtype", ""))


def _host(value, *, what: str) -> np.ndarray:
    if is_array(value):
        return to_numpy(value)
    try:
        return np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} is not an array: {exc}") from None


def _arrays_to_device(x, y, *, backend, n_in, n_out, what):
    kinds = {_namespace_name(a) or "host" for a in (x, y)}
    on_device = backend.name in kinds and backend.name != "numpy"
    if on_device and len(kinds) > 1:
        raise TypeError(f"{what}: X and y come from different backends ({' and '.join(sorted(kinds))})")
    foreign = kinds - {"numpy", "host", backend.name}
    if foreign:
        accepted = "NumPy arrays" if backend.name == "numpy" else f"NumPy arrays or {backend.name} arrays"
        raise TypeError(
            f"{what} holds {' and '.join(sorted(foreign))} arrays, but the network runs on the "
            f"{backend.name} backend; pass {accepted}"
        )
    if on_device:
        return _validate_device(x, y, backend=backend, n_in=n_in, n_out=n_out, what=what)
    return _validate_host(np.asarray(x), np.asarray(y), backend=backend, n_in=n_in, n_out=n_out, what=what)


def _check_shapes(x_shape, y_shape, *, n_in, n_out, what):
    if len(x_shape) != 2:
        raise ValueError(f"{what}: X must have shape (n, {n_in}), got {tuple(x_shape)}")
    if x_shape[0] == 0:
        raise ValueError(f"{what} is empty")
    if x_shape[1] != n_in:
        raise ValueError(f"{what}: each input must have {n_in} values (sizes[0]), got {x_shape[1]}")
    if len(y_shape) not in (1, 2) or y_shape[0] != x_shape[0]:
        raise ValueError(
            f"{what}: X has {x_shape[0]} samples but y has shape {tuple(y_shape)}; "
            f"y must be labels ({x_shape[0]},) or targets ({x_shape[0]}, {n_out})"
        )
    if len(y_shape) == 2 and y_shape[1] != n_out:
        raise ValueError(f"{what}: each target must have {n_out} values (sizes[-1]), got {y_shape[1]}")


def _first_nonfinite_row(a):
    """The first row of ``a`` holding NaN or inf, or None.  A sum of finite
    numbers is finite unless it overflows, so one pass with no temporary
    clears the usual case; only a non-finite sum pays for the exact search
    (a full boolean copy of ``a``)."""
    if a.dtype.kind != "f" or np.isfinite(np.sum(a)):
        return None
    bad = ~np.isfinite(a)
    return int(np.argwhere(bad)[0][0]) if bad.any() else None


def _validate_host(x, y, *, backend, n_in, n_out, what) -> DeviceData:
    _check_shapes(x.shape, y.shape, n_in=n_in, n_out=n_out, what=what)
    if x.dtype.kind not in "biuf":
        raise TypeError(f"{what}: inputs must be real numbers, not {x.dtype}")
    row = _first_nonfinite_row(x)
    if row is not None:
        raise ValueError(f"{what}: inputs contain NaN or inf (first at sample {row})")
    if y.ndim == 1:
        if y.dtype.kind not in "iu":
            raise TypeError(f"{what}: labels must be integers, not {y.dtype}")
        outside = (y < 0) | (y >= n_out)
        if outside.any():
            row = int(np.argmax(outside))
            raise ValueError(f"{what}: label {int(y[row])} at sample {row} is outside [0, {n_out})")
        labels = y.astype(np.int64)
        targets = np.zeros((y.shape[0], n_out))
        targets[np.arange(y.shape[0]), labels] = 1.0
    else:
        if y.dtype.kind not in "biuf":
            raise TypeError(f"{what}: targets must be real numbers, not {y.dtype}")
        row = _first_nonfinite_row(y)
        if row is not None:
            raise ValueError(f"{what}: targets contain NaN or inf (first at sample {row})")
        targets = y
        labels = np.argmax(y, axis=1)
    return DeviceData(
        x=backend.asarray(x),
        targets=backend.asarray(targets),
        labels=backend.asarray(labels, dtype=backend.index_dtype),
        n=int(x.shape[0]),
    )


def _all_finite(a, *, xp) -> bool:
    """True when ``a`` has no NaN or inf: a finite sum proves it without a
    boolean copy of ``a`` on the device (see _first_nonfinite_row)."""
    return bool(xp.isfinite(xp.sum(a))) or bool(xp.all(xp.isfinite(a)))


def _validate_device(x, y, *, backend, n_in, n_out, what) -> DeviceData:
    xp = backend.xp
    for name, array in (("X", x), ("y", y)):
        backend.check_device(array, f"{what}: {name}")
    _check_shapes(tuple(x.shape), tuple(y.shape), n_in=n_in, n_out=n_out, what=what)
    if not xp.isdtype(x.dtype, ("real floating", "integral", "bool")):
        raise TypeError(f"{what}: inputs must be real numbers, not {x.dtype}")
    x = xp.astype(x, backend.dtype, copy=False)
    if not _all_finite(x, xp=xp):
        raise ValueError(f"{what}: inputs contain NaN or inf")
    if len(y.shape) == 1:
        if not xp.isdtype(y.dtype, "integral"):
            raise TypeError(f"{what}: labels must be integers, not {y.dtype}")
        low, high = int(xp.min(y)), int(xp.max(y))
        if low < 0 or high >= n_out:
            raise ValueError(f"{what}: label {low if low < 0 else high} is outside [0, {n_out})")
        labels = xp.astype(y, backend.index_dtype)
        classes = xp.arange(n_out, dtype=labels.dtype, device=backend.device)
        targets = xp.astype(labels[:, None] == classes, backend.dtype)
    else:
        if not xp.isdtype(y.dtype, ("real floating", "integral", "bool")):
            raise TypeError(f"{what}: targets must be real numbers, not {y.dtype}")
        targets = xp.astype(y, backend.dtype, copy=False)
        if not _all_finite(targets, xp=xp):
            raise ValueError(f"{what}: targets contain NaN or inf")
        labels = xp.astype(xp.argmax(targets, axis=1), backend.index_dtype)
    return DeviceData(x=x, targets=targets, labels=labels, n=int(x.shape[0]))


def column(a, *, backend: Backend, size: int, what: str):
    """A column vector ``(size, 1)`` or a block of columns ``(size, k)`` (or a
    flat ``(size,)`` vector) as rows ``(k, size)`` on the device."""
    if is_array(a) and backend.owns(a) and backend.name != "numpy":
        xp = backend.xp
        backend.check_device(a, what)
        rows = xp.reshape(a, (1, -1)) if len(a.shape) == 1 else a.T
        rows = xp.astype(rows, backend.dtype)
        finite = bool(xp.all(xp.isfinite(rows)))
    else:
        host = _host(a, what=what)
        if host.dtype.kind not in "biuf":
            raise TypeError(f"{what} must hold real numbers, not {host.dtype}")
        if host.ndim not in (1, 2):
            raise ValueError(f"{what} must be a column vector ({size}, 1), got shape {host.shape}")
        rows = host.reshape(1, -1) if host.ndim == 1 else host.T
        finite = bool(np.isfinite(rows).all())
        rows = backend.asarray(rows)
    if rows.shape[1] != size:
        raise ValueError(f"{what} must have {size} values per column, got {rows.shape[1]}")
    if not finite:
        raise ValueError(f"{what} contains NaN or inf")
    return rows
