"""The containers and checks shared by the data boundary (:mod:`anynet.datasets.boundary`):
:class:`DeviceData`, and the device-side checks that are read back later
(:class:`Pending`, :class:`Deferred`) so that a training step never waits for
the device.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

from ..errors import AnynetDataWarning, DataError


class Pending:
    """Checks of device data that have not been read back yet: each is a 0-d
    boolean array, True when the data is fine."""

    def __init__(self, what: str, checks):
        self.what = what
        self.checks = list(checks)  # (ok flag, message, exact re-check -> 0-d flag, or None)

    def ok_flag(self, xp):
        """All checks as one 0-d boolean array (no transfer)."""
        flag = self.checks[0][0]
        for ok, _, _ in self.checks[1:]:
            flag = xp.logical_and(flag, ok)
        return flag

    def verify(self, xp) -> None:
        """Read the checks back (one transfer) and raise DataError for the first failing one."""
        if bool(self.ok_flag(xp)):
            return
        for ok, message, exact in self.checks:
            if not bool(ok) and (exact is None or not bool(exact())):
                raise DataError(message if self.what is None else f"{self.what}: {message}")


class Deferred:
    """The device-side checks of calls that return without reading them (the
    book's ``update_mini_batch`` and ``feedforward``), folded into one exact
    0-d flag per problem: however many calls, no batch is kept alive and
    ``verify`` costs one transfer."""

    def __init__(self):
        self.flags = {}  # "what: message" -> 0-d boolean array

    def add(self, pending: Pending, xp):
        """Fold ``pending`` in and return its own exact flag (no transfer)."""
        own = []
        for ok, message, exact in pending.checks:
            ok = ok if exact is None else exact()
            key = f"{pending.what}: {message}"
            self.flags[key] = xp.logical_and(self.flags[key], ok) if key in self.flags else ok
            own.append((ok, key, None))
        return Pending(None, own).ok_flag(xp)

    def verify(self, xp) -> None:
        """Read the folded checks back, if any, and forget them; DataError for the first failing one."""
        flags, self.flags = self.flags, {}
        if flags:
            Pending(None, [(ok, key, None) for key, ok in flags.items()]).verify(xp)


@dataclass(frozen=True)
class DeviceData:
    """Inputs, float targets and int labels of a dataset, on the device."""

    x: Any  # (n, sizes[0])
    targets: Any  # (n, sizes[-1])
    labels: Any  # (n,)
    n: int
    pending: Pending | None = None  # device-side checks not yet read back


def check_shapes(x_shape, y_shape, *, n_in, n_out, what):
    if len(x_shape) != 2:
        raise DataError(f"{what}: X must have shape (n, {n_in}), got {tuple(x_shape)}")
    if x_shape[0] == 0:
        raise DataError(f"{what} is empty")
    if x_shape[1] != n_in:
        raise DataError(f"{what}: each input must have {n_in} values (sizes[0]), got {x_shape[1]}")
    if len(y_shape) not in (1, 2) or y_shape[0] != x_shape[0]:
        raise DataError(
            f"{what}: X has {x_shape[0]} samples but y has shape {tuple(y_shape)}; "
            f"y must be labels ({x_shape[0]},) or targets ({x_shape[0]}, {n_out})"
        )
    if len(y_shape) == 2 and y_shape[1] != n_out:
        raise DataError(f"{what}: each target must have {n_out} values (sizes[-1]), got {y_shape[1]}")


def warn_uint8(what):
    warnings.warn(
        f"{what}: uint8 inputs are taken as pixels 0-255 and scaled to [0, 1] (divided by 255)",
        AnynetDataWarning,
        stacklevel=5,
    )


def finite_check(a, xp, message):
    """A finite sum proves ``a`` finite with no boolean copy of it; when the sum
    is not finite (NaN or inf, or an overflowing sum), the exact check (a 0-d
    array) decides."""
    return xp.isfinite(xp.sum(a)), message, lambda: xp.all(xp.isfinite(a))
