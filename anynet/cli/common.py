"""What the commands share: the parser, flag value types, data loading and small helpers."""

from __future__ import annotations

import argparse
import math
import sys
import warnings

from ..backend import BACKENDS, DTYPES
from ..errors import AnynetDataWarning, ArgumentError, BackendUnavailable


class UsageError(Exception):
    """A bad command line, reported like argparse but on one line."""


class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(f"{message} (see '{self.prog} --help')")


def int_at_least(low):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{value} must be >= {low}")
        return value

    return parse


def float_in(low, high=math.inf, *, low_open=False, high_open=True):
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        if value < low or (low_open and value == low) or value > high or (high_open and value == high):
            left, right = "(" if low_open else "[", ")" if high_open else "]"
            raise argparse.ArgumentTypeError(f"{value} is outside {left}{low}, {high}{right}")
        return value

    return parse


def sizes(text):
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers such as 784,30,10") from None
    if len(values) < 2 or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} needs at least two positive layer widths, such as 784,30,10")
    return values


def backend_list(text):
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in BACKENDS]
    if not names or unknown:
        raise argparse.ArgumentTypeError(f"{text!r}: choose from {', '.join(BACKENDS)}")
    return names


def add_where(parser, dtype_default):
    """--backend, --device, --dtype."""
    parser.add_argument("--backend", default="numpy", choices=BACKENDS, help="array library (default: numpy)")
    parser.add_argument("--device", help="the backend's device, e.g. cuda:0, cpu, device1 (default: its default)")
    parser.add_argument(
        "--dtype", default=dtype_default, choices=DTYPES,
        help=f"floating dtype (default: {dtype_default or 'the checkpoint'})",
    )


def progress_wanted(args) -> bool:
    return sys.stderr.isatty() and not getattr(args, "quiet", False)


def load_data(name, *, dtype, progress, fallback_to_sample=False, **options):
    """The dataset by name or path (see anynet.datasets.load_dataset); a
    stand-in sample is announced through ``Dataset.source``, which the caller
    prints, not through a warning."""
    from .. import datasets

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AnynetDataWarning)
        return datasets.load_dataset(name, dtype=dtype, progress=progress, fallback_to_sample=fallback_to_sample, **options)


def check_fit(sizes_, dataset, what):
    """The network's first and last widths must match the data's."""
    if sizes_[0] != dataset.n_inputs:
        raise ArgumentError(f"{what} starts with {sizes_[0]} inputs, but {dataset.name} has {dataset.n_inputs} features")
    if sizes_[-1] != dataset.n_classes:
        raise ArgumentError(f"{what} ends with {sizes_[-1]} outputs, but {dataset.name} has {dataset.n_classes} classes")


def accuracy_text(correct, n) -> str:
    return f"{100 * correct / n:.2f}% ({correct}/{n})"


def enable_jax_x64():
    """JAX computes in float32 unless told otherwise; the command line owns
    the process, so it may switch on 64-bit mode when float64 is asked for."""
    try:
        import jax
    except ImportError:
        return  # get_backend will say what to install
    jax.config.update("jax_enable_x64", True)


PLOT_FORMATS = ("png", "svg", "pdf")


def require_plotting(path) -> str:
    """The format of a --plot file (its suffix), checked before training."""
    suffix = str(path).rsplit(".", 1)[-1].lower() if "." in str(path) else ""
    if suffix not in PLOT_FORMATS:
        raise ArgumentError(f"--plot {path}: the suffix must name a format: .{', .'.join(PLOT_FORMATS)}")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise BackendUnavailable("--plot needs matplotlib: pip install matplotlib") from None
    return suffix
