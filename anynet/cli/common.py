"""What the commands share: the parser, flag value types, the flags of training, data loading and small helpers."""

from __future__ import annotations

import argparse
import dataclasses
import functools
import math
import os
import sys
import typing
import warnings
from collections.abc import Mapping
from types import MappingProxyType

from ..model.activations import ACTIVATIONS, HIDDEN_ACTIVATIONS
from ..xp.backend import BACKENDS, DTYPES
from ..model.costs import COSTS
from ..errors import AnynetDataWarning, ArgumentError, BackendUnavailable
from ..model.initializers import INITIALIZERS
from ..model.optimizers import OPTIMIZERS, REGULARIZATIONS, Momentum


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


def add_data_options(parser):
    """--data, --label-column, --validation-split."""
    parser.add_argument("--data", default="mnist",
                        help="mnist, fashion-mnist, kmnist, sample, a directory, a .csv or .npz file (default: mnist)")
    parser.add_argument("--label-column", "--target", dest="label_column", metavar="COLUMN",
                        help="the column a CSV file's rows are to predict (its labels, or its regression targets): "
                             "a header name or a 0-based index")
    parser.add_argument("--validation-split", type=float_in(0.0, 1.0), metavar="F",
                        help="the last fraction F of the training rows become the validation split; 0: no validation "
                             "split, every training row trains")
    parser.add_argument("--augment", choices=("mirror", "shift", "mirror+shift"),  # anynet.datasets.AUGMENTATIONS, not imported: +50 ms a start
                        help="mirror: train on every training image and its left-right mirror image (for classes "
                             "a mirror does not change, e.g. fashion-mnist's clothes; never digits); shift: also on "
                             "each training image moved one pixel down, up, right and left (the book's expanded "
                             "MNIST); mirror+shift: both, ten times the images; validation and test images stay as they are")


def add_network_options(parser):
    """--sizes, --cost, --activation, --output-activation, --init."""
    parser.add_argument("--sizes", type=sizes, default=[784, 30, 10], help="layer widths (default: 784,30,10)")
    parser.add_argument("--cost", choices=COSTS, help="default: quadratic, with network.py's large initialisation")
    parser.add_argument("--activation", choices=HIDDEN_ACTIVATIONS, default="sigmoid", help="hidden layers (default: sigmoid)")
    parser.add_argument("--output-activation", choices=ACTIVATIONS, help="default: softmax for log-likelihood, else sigmoid")
    parser.add_argument("--init", choices=INITIALIZERS, help="weight initialiser (default: large without --cost, default with it)")
    parser.add_argument("--layers", metavar="SPEC", help="any layers instead of --sizes, e.g. conv:20:5,pool:2,relu,"
                        "dense:100:relu,dense:10:softmax (items image:C:H:W conv:F:K pool:P sigmoid tanh relu dropout:P "
                        "dense:N[:ACTIVATION]; the cost defaults to the log-likelihood after softmax)")


def add_training_options(parser):
    """--epochs, --batch-size, --regularization, --optimizer, --momentum,
    --nesterov, --early-stopping, --eta-schedule."""
    parser.add_argument("--epochs", type=int_at_least(1), default=30, help="epochs in all (default: 30)")
    parser.add_argument("--batch-size", "--mini-batch-size", type=int_at_least(1), default=10, metavar="M",
                        help="mini-batch size (default: 10)")
    parser.add_argument("--regularization", choices=REGULARIZATIONS, default="l2", help="default: l2")
    parser.add_argument("--optimizer", choices=OPTIMIZERS, help="default: sgd, or momentum with --momentum")
    parser.add_argument("--momentum", type=float_in(0.0, 1.0), metavar="MU", help="momentum coefficient in [0, 1)")
    parser.add_argument("--nesterov", action="store_true", help="Nesterov's look-ahead momentum (with --momentum)")
    parser.add_argument("--early-stopping", type=int_at_least(1), metavar="N",
                        help="stop after N epochs without a better validation accuracy")
    parser.add_argument("--eta-schedule", action="store_true",
                        help="halve eta after 10 epochs without improvement; stop at eta/128")


def optimizer_from(args):
    """The optimizer that --optimizer, --momentum and --nesterov name together."""
    if args.momentum is not None and args.optimizer not in (None, "momentum"):
        preset = getattr(args, "preset", None)
        raise ArgumentError(f"--momentum needs --optimizer momentum, not {args.optimizer}"
                            + (f" (the preset {preset} chooses {args.optimizer})" if preset else ""))
    if args.nesterov and args.momentum is None:
        raise ArgumentError("--nesterov needs --momentum MU")
    return Momentum(args.momentum, nesterov=args.nesterov) if args.momentum is not None else args.optimizer or "sgd"


def architecture(args):
    """``(what Network takes first, its options)``: --sizes and the flags, or --layers (a preset's yields to --sizes)."""
    if not args.layers or (given(args, "sizes") and not given(args, "layers")):
        return args.sizes, network_options(args)
    flags = [f"--{dest.replace('_', '-')}" for dest in ("sizes", "activation", "output_activation", "init")
             if given(args, dest)]
    if flags:
        raise ArgumentError(f"--layers gives the whole network; drop {', '.join(flags)}")
    from .layerspec import parse

    return parse(args.layers), {"backend": args.backend, "device": args.device, "dtype": args.dtype}


def network_options(args) -> dict:
    """Network's keyword arguments from --backend, --device, --dtype,
    --activation, --output-activation and --init."""
    return {"backend": args.backend, "device": args.device, "dtype": args.dtype, "activation": args.activation,
            "output_activation": args.output_activation, "initializer": args.init}


def describe(dataset, say):
    """The data's source and its splits' sizes, in two lines."""
    say(f"data: {dataset.source}")
    counts = [f"{len(s[1]):,} {name}" for name, s in (("training", dataset.train), ("validation", dataset.validation),
                                                       ("test", dataset.test)) if s is not None]
    say(f"      {', '.join(counts)} samples")


def network_text(net) -> str:
    """``[784, 30, 10], cross-entropy cost, sigmoid/sigmoid``."""
    if not net.model.is_dense:
        return f"{network_of(net)}, {net.cost.name} cost"
    return f"{net.sizes}, {net.cost.name} cost, {'/'.join(a.name for a in net.activations)}"


def progress_wanted(args) -> bool:
    return sys.stderr.isatty() and not getattr(args, "quiet", False)


def run_data(args, recorded, typed, progress, dtype=None):
    """The data of an ``anynet train`` run: ``typed`` (--data as typed, which
    the lines show; the run records it absolute), else the path or name the
    run recorded; as a classification run unless it records another task."""
    return load_data(
        typed or recorded["data"], dtype=dtype or args.dtype, progress=progress,
        fallback_to_sample=list(args.argv) == ["train"], validation_split=recorded["validation_split"],
        label_column=recorded["label_column"], augment=recorded.get("augment"),  # runs saved before --augment: none
        task=recorded.get("task") or "classification",
    )


def load_data(name, *, dtype, progress, fallback_to_sample=False, augment=None, **options):
    """The dataset by name or path (see anynet.datasets.load_dataset), its
    training split ``augment``-ed (anynet.datasets.augmented); a stand-in
    sample is announced through ``Dataset.source``, which the caller prints,
    not through a warning."""
    from .. import datasets

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AnynetDataWarning)
        dataset = datasets.load_dataset(name, dtype=dtype, progress=progress, fallback_to_sample=fallback_to_sample,
                                        **options)
    return datasets.augmented(dataset, augment)


def data_path(name):
    """The path ``--data`` names, or None for a dataset's name (mnist,
    sample, ...) or a path that does not exist (its error says so)."""
    from ..datasets import MIRRORS

    named = name is None or name == "sample" or name in MIRRORS or not os.path.exists(name)
    return None if named else name


def data_reference(name) -> str:
    """What a run records of ``--data``: a dataset's name as it is (mnist,
    sample, ...), an existing path made absolute, so that ``--resume`` and
    ``evaluate`` find the data from any directory."""
    return name if data_path(name) is None else os.path.abspath(name)


def make_request(parser, args, argv):
    """The command's one typed request, built once from its parsed flags and
    never changed after (a stage that settles a value makes a new one with
    ``dataclasses.replace``): a frozen dataclass with a field per flag of the
    command, ``argv`` as given, ``given`` (the dests of the flags on the
    command line, under any of their names) and ``defaults`` (each flag's
    default, presets applied)."""
    actions = [action for action in parser._actions if action.dest != "help"]
    given = frozenset(action.dest for action in actions
                      if any(a == o or a.startswith(f"{o}=") for o in action.option_strings for a in argv))
    values = vars(args)
    request_type = _request_type(type(parser).__name__ + "_" + str(values.get("command")), tuple(sorted(values)))
    return request_type(**values, argv=tuple(argv), given=given,
                        defaults=MappingProxyType({action.dest: action.default for action in actions}))


@functools.cache
def _request_type(name, fields):
    return dataclasses.make_dataclass(
        f"{name.split('_')[-1].title()}Request",
        [(field, typing.Any) for field in fields] + [("argv", tuple), ("given", frozenset), ("defaults", Mapping)],
        frozen=True,
    )


def given(request, dest) -> bool:
    """Whether the flag of ``dest`` (``"data"``) is on the command line, not a default."""
    return dest in request.given


def network_of(net) -> str:
    """What the lines call a network: its widths, or its layers in a few words."""
    if net.model.is_dense:
        return str(net.sizes)
    from .layerspec import describe

    return describe(net)


def check_fit(model, dataset, what):
    """The ``model``'s inputs and outputs (``n_in``, ``n_out``) must match the data's."""
    if model.n_in != dataset.n_inputs:
        raise ArgumentError(f"{what} starts with {model.n_in} inputs, but {dataset.name} has {dataset.n_inputs} features")
    if model.n_out != dataset.n_classes:
        raise ArgumentError(f"{what} ends with {model.n_out} outputs, but {dataset.name} has {dataset.n_classes} classes")


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
