"""Every error anynet raises on purpose, in one place.

All of them derive from :class:`AnynetError`, so ``except anynet.AnynetError``
catches every mistake a user can make (a bad argument, bad data, a damaged
file, a missing backend) and nothing else: any other exception is a bug in
anynet and keeps its traceback (the command line relies on this).  Each class
is also a subclass of the built-in exception anynet raised for the same
mistake before this catalogue existed (ValueError, TypeError, OSError,
ImportError, ...), so ``except ValueError`` code keeps working.
"""

from __future__ import annotations


class AnynetError(Exception):
    """The root of every error anynet raises for a user's mistake or a bad input."""


class ArgumentError(AnynetError, ValueError):
    """An argument has a value anynet cannot use (a negative eta, an unknown
    cost name, layer sizes that do not fit the data)."""


class ArgumentTypeError(AnynetError, TypeError):
    """An argument has a type anynet cannot use (a string where a list of layer
    widths belongs, float labels where integers belong)."""


class DataError(AnynetError, ValueError):
    """Data was refused: NaN or inf, a label out of range, shapes that do not
    match the network or each other, a data file that is not what it claims."""


class DataNotFoundError(AnynetError, FileNotFoundError):
    """The requested data is on no disk anynet looked at and could not be downloaded."""


class CheckpointError(AnynetError, ValueError):
    """A file is not a checkpoint anynet can load safely; the message names the file and the problem."""


class BackendUnavailable(AnynetError, ImportError):
    """A backend's library is not installed; the message says what to install."""


class ExtraUnavailable(AnynetError, ImportError):
    """A feature needs an optional extra that is not installed (ONNX export,
    safetensors); the message says what to install."""


class DeviceUnavailable(AnynetError, RuntimeError):
    """A backend is installed but the device asked for is not there (no GPU, no
    CUDA build, JAX without 64-bit mode for float64)."""


class TrainingDiverged(AnynetError, FloatingPointError):
    """Training produced NaN or inf weights or cost; the message names the epoch
    and suggests a smaller learning rate."""


class TooLargeError(AnynetError, MemoryError):
    """A network or a file would need more memory than this machine has; the
    message gives the figure."""


class OutputPathError(AnynetError, OSError):
    """A file anynet is asked to write cannot be written there (the directory is
    missing or read-only, or the path is a directory)."""


class DistributedError(AnynetError, RuntimeError):
    """A multi-process run cannot go on: a rank failed, or the ranks disagree."""


class AnynetDataWarning(UserWarning):
    """Something about the data deserves the user's attention: uint8 images
    scaled to [0, 1], the bundled sample standing in for a dataset."""


__all__ = [
    "AnynetDataWarning",
    "AnynetError",
    "ArgumentError",
    "ArgumentTypeError",
    "BackendUnavailable",
    "CheckpointError",
    "DataError",
    "DataNotFoundError",
    "DeviceUnavailable",
    "DistributedError",
    "ExtraUnavailable",
    "OutputPathError",
    "TooLargeError",
    "TrainingDiverged",
]
