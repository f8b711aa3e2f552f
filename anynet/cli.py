"""The command line: ``anynet train | evaluate | check | backends``.

A thin layer over the library: it parses flags, calls anynet and prints.  A
user's mistake (a bad flag value, missing data, a bad checkpoint, an unusable
backend) ends in one line ``anynet: error: ...`` on stderr and a non-zero exit
status (2 for flags, 1 otherwise); programming errors keep their traceback.
"""

from __future__ import annotations

import argparse
import math
import sys
import warnings
from pathlib import Path

from .activations import ACTIVATIONS, HIDDEN_ACTIVATIONS
from .backend import BACKENDS, DTYPES
from .devices import available_backends
from .checkpoint import CheckpointError, save
from .net import load
from .costs import COSTS
from .datasets import AnynetDataWarning, DataNotFoundError, load_dataset
from .initializers import INITIALIZERS
from .net import Network
from .optimizers import OPTIMIZERS, REGULARIZATIONS, Momentum
from .presets import PRESETS

# User mistakes end as one line; anything else is a bug and keeps its traceback.
_USER_ERRORS = (CheckpointError, DataNotFoundError, ValueError, TypeError, ImportError, RuntimeError, OSError)


class _UsageError(Exception):
    """A bad command line, reported like argparse but on one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise _UsageError(f"{message} (see '{self.prog} --help')")


# -- flag value types: each raises ArgumentTypeError with the reason ----------


def _int_at_least(low):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{value} must be >= {low}")
        return value

    return parse


def _float_in(low, high=math.inf, *, low_open=False, high_open=True):
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


def _sizes(text):
    parts = text.split(",")
    try:
        sizes = [int(part) for part in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers such as 784,30,10") from None
    if len(sizes) < 2 or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} needs at least two positive layer widths, such as 784,30,10")
    return sizes


def _backend_list(text):
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in BACKENDS]
    if not names or unknown:
        raise argparse.ArgumentTypeError(f"{text!r}: choose from {', '.join(BACKENDS)}")
    return names


# -- the parser ----------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="anynet", description="Nielsen's neural network on any array backend.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def where(sub, dtype_default):
        sub.add_argument("--backend", default="numpy", choices=BACKENDS, help="array library (default: numpy)")
        sub.add_argument("--device", help="the backend's device, e.g. cuda:0, cpu, device1 (default: its default)")
        sub.add_argument("--dtype", default=dtype_default, choices=DTYPES, help=f"floating dtype (default: {dtype_default or 'the checkpoint'})")

    train = commands.add_parser("train", help="train a network (defaults: the book's first run)")
    train.add_argument("--data", default="mnist", help="mnist, fashion-mnist, kmnist, sample or a path (default: mnist)")
    train.add_argument(
        "--preset",
        choices=PRESETS,
        help="a named configuration whose values become the defaults of the other flags "
        "(strong-mlp: >= 89%% on fashion-mnist; book: the book's first run)",
    )
    where(train, "float64")
    train.add_argument("--sizes", type=_sizes, default=[784, 30, 10], help="layer widths (default: 784,30,10)")
    train.add_argument("--epochs", type=_int_at_least(1), default=30, help="default: 30")
    train.add_argument("--batch-size", type=_int_at_least(1), default=10, help="mini-batch size (default: 10)")
    train.add_argument("--eta", type=_float_in(0.0, low_open=True), default=3.0, help="learning rate (default: 3.0)")
    train.add_argument("--seed", type=_int_at_least(0), help="seed for weights and shuffling (default: unseeded)")
    train.add_argument("--cost", choices=COSTS, help="default: quadratic, with network.py's large initialisation")
    train.add_argument("--activation", choices=HIDDEN_ACTIVATIONS, default="sigmoid", help="hidden layers (default: sigmoid)")
    train.add_argument("--output-activation", choices=ACTIVATIONS, help="default: softmax for log-likelihood, else sigmoid")
    train.add_argument("--init", choices=INITIALIZERS, help="weight initialiser (default: large without --cost, default with it)")
    train.add_argument("--lmbda", type=_float_in(0.0), default=0.0, help="regularisation strength (default: 0)")
    train.add_argument("--regularization", choices=REGULARIZATIONS, default="l2", help="default: l2")
    train.add_argument("--optimizer", choices=OPTIMIZERS, help="default: sgd, or momentum with --momentum")
    train.add_argument("--momentum", type=_float_in(0.0, 1.0), metavar="MU", help="momentum coefficient in [0, 1)")
    train.add_argument("--early-stopping", type=_int_at_least(1), metavar="N", help="stop after N epochs without a better validation accuracy")
    train.add_argument("--eta-schedule", action="store_true", help="halve eta after 10 epochs without improvement; stop at eta/128")
    train.add_argument("--save", metavar="FILE", help="write a checkpoint when training ends")
    train.add_argument("--plot", metavar="FILE.png", help="write a PNG of test accuracy and cost per epoch")
    train.add_argument("--quiet", action="store_true", help="no progress bars")
    train.set_defaults(run=_train)
    parser.train_parser = train

    evaluate = commands.add_parser("evaluate", help="test accuracy of a saved network")
    evaluate.add_argument("checkpoint", metavar="FILE", help="a checkpoint written by anynet train --save (or network2.py)")
    evaluate.add_argument("--data", default="mnist", help="mnist, fashion-mnist, kmnist, sample or a path (default: mnist)")
    where(evaluate, None)
    evaluate.add_argument("--quiet", action="store_true", help="no progress bars")
    evaluate.set_defaults(run=_evaluate)

    check = commands.add_parser("check", help="compare every backend's gradients and training with NumPy's")
    check.add_argument("--backends", type=_backend_list, help="comma-separated (default: every usable backend)")
    check.add_argument("--dtype", choices=(*DTYPES, "both"), default="float64", help="default: float64")
    check.set_defaults(run=_check)

    backends = commands.add_parser("backends", help="list the backends, their versions and devices")
    backends.set_defaults(run=_backends)
    return parser


def main(argv=None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if getattr(args, "preset", None):
            parser.train_parser.set_defaults(**_preset_defaults(args.preset))
            args = parser.parse_args(argv)  # flags given on the command line still win
    except _UsageError as exc:
        return _fail(exc, status=2)
    except SystemExit as exc:  # --help
        return exc.code or 0
    try:
        return args.run(args)
    except _USER_ERRORS as exc:
        return _fail(exc)
    except KeyboardInterrupt:
        return _fail("interrupted", status=130)


# preset key (a Network or SGD keyword) -> train flag's dest
_PRESET_FLAGS = {
    "sizes": "sizes",
    "cost": "cost",
    "activation": "activation",
    "output_activation": "output_activation",
    "initializer": "init",
    "dtype": "dtype",
    "seed": "seed",
    "epochs": "epochs",
    "mini_batch_size": "batch_size",
    "eta": "eta",
    "lmbda": "lmbda",
    "regularization": "regularization",
    "optimizer": "optimizer",
    "eta_schedule": "eta_schedule",
    "early_stopping": "early_stopping",
}


def _preset_defaults(name):
    return {_PRESET_FLAGS[key]: value for key, value in PRESETS[name].items()}


def _fail(message, status=1) -> int:
    if isinstance(message, OSError) and message.filename and message.strerror:
        message = f"{message.filename}: {message.strerror}"  # not "[Errno 2] ..."
    print(f"anynet: error: {message}", file=sys.stderr)
    return status


# -- commands ------------------------------------------------------------------


def _train(args) -> int:
    if args.momentum is not None and args.optimizer not in (None, "momentum"):
        raise ValueError(f"--momentum needs --optimizer momentum, not {args.optimizer}")
    optimizer = Momentum(args.momentum) if args.momentum is not None else args.optimizer or "sgd"
    for flag, target in (("--save", args.save), ("--plot", args.plot)):
        if target is not None:
            _check_output_path(flag, Path(target))  # before training, not after it
    if args.plot:
        _require_matplotlib()  # before training, not after it
    if args.backend == "jax" and args.dtype == "float64":
        _enable_jax_x64()

    # The network first: a missing backend or device is reported before any download.
    net = Network(
        args.sizes,
        args.cost,
        backend=args.backend,
        device=args.device,
        dtype=args.dtype,
        seed=args.seed,
        activation=args.activation,
        output_activation=args.output_activation,
        initializer=args.init,
    )
    progress = _progress(args)
    dataset = _load_data(args.data, args.dtype, progress, fallback_to_sample=True)
    _check_fit(net.sizes, dataset, "--sizes")
    print(f"data: {dataset.source}")
    print(f"      {len(dataset.train[1]):,} training, {len(dataset.test[1]):,} test images")
    print(f"backend: {net.backend}")
    # Early stopping and the eta schedule select epochs: they watch the
    # validation split, so that the test accuracy stays an honest estimate.
    selects = bool(args.early_stopping or args.eta_schedule)
    watched = dataset.validation if selects and dataset.validation is not None else dataset.test
    watched_name = "validation" if watched is not dataset.test else "test"
    if selects and watched is dataset.test:
        print(f"note: {dataset.name} has no validation split; early stopping and the eta schedule watch the test set")
    test_on_device = net.to_device(dataset.test)
    print(
        f"network: {net.sizes}, {net.cost.name} cost, {'/'.join(a.name for a in net.activations)}; "
        f"{args.epochs} epoch{'' if args.epochs == 1 else 's'}, mini-batch {args.batch_size}, eta {args.eta}"
    )

    reports = []

    def on_epoch(report):
        if watched_name == "validation":
            report.extra["test_accuracy"] = net.accuracy(test_on_device)
        else:
            report.extra["test_accuracy"] = report.evaluation_accuracy
        report.extra["n_test"] = test_on_device.n
        reports.append(report)
        eta = f", eta {report.eta:g}" if args.eta_schedule else ""
        shown = f"test accuracy {_accuracy(report.extra['test_accuracy'], test_on_device.n)}"
        if watched_name == "validation":
            shown = f"validation accuracy {_accuracy(report.evaluation_accuracy, report.n_evaluation)}, {shown}"
        print(
            f"Epoch {report.epoch}: {shown}, cost {report.evaluation_cost:.4f}, {report.seconds:.2f} s{eta}",
            flush=True,
        )

    net.SGD(
        dataset.train,
        args.epochs,
        args.batch_size,
        args.eta,
        args.lmbda,
        evaluation_data=test_on_device if watched is dataset.test else watched,
        monitor_evaluation_accuracy=True,
        monitor_evaluation_cost=True,
        regularization=args.regularization,
        optimizer=optimizer,
        eta_schedule=args.eta_schedule or None,
        early_stopping=args.early_stopping,
        verbose=False,
        progress=progress,
        callback=on_epoch,
    )
    best = max(reports, key=lambda r: r.evaluation_accuracy)  # the first of equals
    kept = " (weights restored from it)" if args.early_stopping else ""
    chosen = f"{watched_name} accuracy {_accuracy(best.evaluation_accuracy, best.n_evaluation)}"
    if watched_name == "validation":
        chosen += f", test accuracy {_accuracy(best.extra['test_accuracy'], test_on_device.n)}"
    print(f"Best: epoch {best.epoch}, {chosen}{kept}")
    if args.save:
        save(net, args.save)
        print(f"saved checkpoint {args.save}")
    if args.plot:
        _plot(reports, args.plot, title=f"{net.sizes} on {dataset.name}, {net.backend}", watched=watched_name)
        print(f"saved plot {args.plot}")
    return 0


def _evaluate(args) -> int:
    if args.backend == "jax" and args.dtype != "float32":
        _enable_jax_x64()  # the checkpoint's dtype is float64 unless it says otherwise
    net = load(args.checkpoint, backend=args.backend, device=args.device, dtype=args.dtype)
    dataset = _load_data(args.data, net.backend.dtype_name, _progress(args), fallback_to_sample=False)
    _check_fit(net.sizes, dataset, f"the checkpoint {args.checkpoint}")
    correct = net.evaluate(dataset.test)
    print(f"test accuracy {_accuracy(correct, len(dataset.test[1]))} on {dataset.name}, {net.backend}")
    return 0


def _check(args) -> int:
    from . import consistency

    dtypes = DTYPES[::-1] if args.dtype == "both" else (args.dtype,)
    if "float64" in dtypes and (args.backends is None or "jax" in args.backends):
        _enable_jax_x64()
    results = consistency.check(args.backends, dtypes)
    print(consistency.format_table(results))
    return 1 if any(result.ok is False for result in results) else 0


def _backends(args) -> int:
    rows = [("backend", "version", "devices")]
    for info in available_backends():
        devices = ", ".join(info.devices) if info.usable else f"not usable: {info.reason}"
        rows.append((info.name, info.version or "-", devices))
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    for row in rows:
        print(f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]}".rstrip())
    return 0


# -- helpers -------------------------------------------------------------------


def _progress(args) -> bool:
    return sys.stderr.isatty() and not args.quiet


def _load_data(name, dtype, progress, *, fallback_to_sample):
    """The dataset; a fallback to the bundled sample is reported through
    ``Dataset.source``, which the caller prints, not as a warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AnynetDataWarning)
        return load_dataset(name, dtype=dtype, progress=progress, fallback_to_sample=fallback_to_sample)


def _check_fit(sizes, dataset, what):
    n_inputs = dataset.test[0].shape[1]
    if sizes[0] != n_inputs:
        raise ValueError(f"{what} starts with {sizes[0]} inputs, but {dataset.name} images have {n_inputs} pixels")
    if sizes[-1] != dataset.n_classes:
        raise ValueError(f"{what} ends with {sizes[-1]} outputs, but {dataset.name} has {dataset.n_classes} classes")


def _check_output_path(flag, path: Path):
    if path.is_dir():
        raise IsADirectoryError(f"{flag} {path}: is a directory; give a file name")
    if not path.resolve().parent.is_dir():
        raise FileNotFoundError(f"{flag} {path}: the directory {path.parent} does not exist")


def _accuracy(correct, n) -> str:
    return f"{100 * correct / n:.2f}% ({correct}/{n})"


def _enable_jax_x64():
    """JAX computes in float32 unless told otherwise; the CLI owns the process,
    so it may switch on 64-bit mode when float64 is asked for."""
    try:
        import jax
    except ImportError:
        return  # get_backend will say what to install
    jax.config.update("jax_enable_x64", True)


def _require_matplotlib():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ImportError("--plot needs matplotlib: pip install 'anynet[plot]'") from None


def _plot(reports, path, *, title, watched):
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend
    from matplotlib.ticker import MaxNLocator

    epochs = [r.epoch for r in reports]
    fig = Figure(figsize=(9, 3.5), layout="constrained")
    accuracy_ax, cost_ax = fig.subplots(1, 2)
    accuracy_ax.plot(epochs, [100 * r.evaluation_accuracy / r.n_evaluation for r in reports], marker="o", label=watched)
    if watched != "test":
        test = [100 * r.extra["test_accuracy"] / r.extra["n_test"] for r in reports]
        accuracy_ax.plot(epochs, test, marker="s", label="test")
    accuracy_ax.legend()
    accuracy_ax.set(xlabel="epoch", ylabel="accuracy (%)")
    cost_ax.plot(epochs, [r.evaluation_cost for r in reports], marker="o", color="tab:red")
    cost_ax.set(xlabel="epoch", ylabel=f"{watched} cost")
    for ax in (accuracy_ax, cost_ax):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle(title)
    fig.savefig(path, format="png", dpi=100)
