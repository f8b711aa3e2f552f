"""``anynet sweep``: one network per configuration of seeds, eta and lmbda,
trained together (:func:`anynet.sweep`) and compared by their accuracy on the
validation split; ``--save-dir`` keeps every network and the table."""

from __future__ import annotations

import argparse
import itertools
import json
from collections.abc import Sequence
from pathlib import Path

from ..errors import ArgumentError, OutputPathError, TrainingDiverged
from ..io.files import check_output_path, write_atomically
from ..io.paths import check_distinct
from ..api.network_api import Network
from ..api.presets import PRESETS
from ..api.sweep import check_grid, sweep
from . import common

SUMMARY = "sweep.json"


def add_parser(commands):
    parser = commands.add_parser("sweep", help="train one network per seed, eta and lmbda; compare them on the validation split")
    common.add_data_options(parser)
    parser.add_argument("--preset", choices=PRESETS,
                        help="a named configuration whose values become the defaults of the other flags: "
                             "sweep its neighbourhood with --eta, --lmbda, --seeds")
    common.add_where(parser, "float64")
    common.add_network_options(parser)
    parser.add_argument("--eta", type=value_list(common.float_in(0.0, low_open=True)), default=[3.0], metavar="LIST",
                        help="learning rates, e.g. 0.1,0.5,3 (default: 3.0)")
    parser.add_argument("--lmbda", type=value_list(common.float_in(0.0)), default=[0.0], metavar="LIST",
                        help="regularisation strengths, e.g. 0,5 (default: 0)")
    parser.add_argument("--seeds", type=value_list(common.int_at_least(0), ranges=True), default=[0], metavar="LIST",
                        help="seeds for weights and shuffling, e.g. 0-3 or 0,2,5-7 (default: 0)")
    common.add_training_options(parser)
    parser.add_argument("--stack", type=common.int_at_least(1), metavar="N",
                        help="train at most N networks at once (default: all; each holds its own parameters, "
                             "gradients and optimizer state)")
    parser.add_argument("--save-dir", metavar="DIR",
                        help=f"save every network as DIR/seedS-etaE-lmbdaL.npz and the table as DIR/{SUMMARY}")
    parser.add_argument("--distributed", action="store_true",
                        help="split the configurations over the ranks of mpiexec (mpi4py)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(run=run)
    return parser


class Values(Sequence):
    """A flag's values in order, a range ``A-B`` kept as a range: ``--seeds
    0-10000000000`` is counted (and refused by the sweep's memory check),
    never listed."""

    def __init__(self, parts):
        self.parts = parts  # ranges, and one-item lists

    def __len__(self):
        return sum(len(part) for part in self.parts)

    def __iter__(self):
        return itertools.chain.from_iterable(self.parts)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return list(itertools.islice(self, *index.indices(len(self))))
        index = index + len(self) if index < 0 else index
        for part in self.parts:
            if 0 <= index < len(part):
                return part[index]
            index -= len(part)
        raise IndexError("value index out of range")

    def __eq__(self, other):
        return isinstance(other, Sequence) and len(self) == len(other) and all(a == b for a, b in zip(self, other))

    def __repr__(self):
        return f"Values({self.parts!r})"


def value_list(parse_one, *, ranges=False):
    """A flag type: comma-separated values, each read by ``parse_one`` (a
    flag type); with ``ranges``, ``A-B`` stands for A, A+1, ..., B (kept as a
    range: see :class:`Values`).  An empty list, an empty item and a
    repeated value are refused."""

    def parse(text):
        if not text.strip():
            raise argparse.ArgumentTypeError("is empty; give at least one value")
        parts = []
        for item in (part.strip() for part in text.split(",")):
            if not item:
                raise argparse.ArgumentTypeError(f"{text!r} has an empty item")
            low, dash, high = item[1:].partition("-")  # item[0] may be a minus sign, refused by parse_one
            if ranges and dash:
                first, last = parse_one(item[0] + low), parse_one(high)
                if last < first:
                    raise argparse.ArgumentTypeError(f"{item!r} is an empty range")
                parts.append(range(first, last + 1))
            else:
                parts.append([parse_one(item)])
        repeated = _repeated(parts)
        if repeated:
            raise argparse.ArgumentTypeError(f"{text!r} repeats {', '.join(map(str, repeated))}")
        return Values(parts)

    return parse


def _repeated(parts, shown=10) -> list:
    """The values that occur in more than one part (at most ``shown`` of
    them, then "..."), found from the parts' bounds, not by listing them."""
    repeated, reach = set(), None
    for low, high in sorted((part[0], part[-1]) for part in parts):
        if reach is not None and low <= reach:
            top = min(high, reach)
            repeated.update([low] if low == top else itertools.islice(range(low, top + 1), shown + 1))
        reach = high if reach is None else max(reach, high)
    found = sorted(repeated)
    return found[:shown] + (["..."] if len(found) > shown else [])


def file_name(seed, eta, lmbda) -> str:
    """``seed0-eta0.5-lmbda5.npz``: the shortest text of each number that
    reads back as it, so that different configurations never share a name."""
    return f"seed{seed}-eta{_number(eta)}-lmbda{_number(lmbda)}.npz"


def _number(value) -> str:
    text = repr(float(value))
    return text.removesuffix(".0")


def run(args) -> int:
    if not args.distributed:
        return _sweep(args, None)
    from ..distributed import MPIReducer, run_guarded

    comm = MPIReducer.world().comm  # says what to install when mpi4py is missing
    with run_guarded(comm):
        return _sweep(args, comm)


def _sweep(args, comm) -> int:
    root = comm is None or comm.Get_rank() == 0
    say = print if root else (lambda *a, **k: None)
    optimizer = common.optimizer_from(args)
    if args.backend == "jax" and args.dtype == "float64":
        common.enable_jax_x64()
    architecture, options = common.architecture(args)
    check_grid(architecture, (args.seeds, args.eta, args.lmbda), args.stack, options)  # before anything is listed
    settings = list(itertools.product(args.seeds, args.eta, args.lmbda))  # anynet.sweep's order
    names = [file_name(*setting) for setting in settings]
    if args.save_dir is not None and root:
        _check_save_dir(Path(args.save_dir), names, args.data)  # before training, not after it
    # One network first: a missing backend or device, or a cost that cannot
    # follow the output activation, is reported before any download.
    probe = Network(architecture, args.cost, seed=args.seeds[0], **options)
    dataset = common.load_data(args.data, dtype=probe.backend.dtype_name, progress=common.progress_wanted(args) and root,
                               validation_split=args.validation_split, label_column=args.label_column,
                               augment=args.augment)
    common.check_fit(probe.model, dataset, "--layers" if args.layers else "--sizes")
    # The sweep chooses a configuration: it must look at a validation split,
    # so that the test accuracy stays an honest estimate.
    if dataset.validation is None:
        raise ArgumentError(f"anynet sweep compares the networks on a validation split, and {dataset.name} has none: "
                            "add --validation-split 0.1")
    common.describe(dataset, say)
    say(f"backend: {probe.backend}")
    say(f"networks: {len(settings)} ({len(args.seeds)} seeds x {len(args.eta)} eta x {len(args.lmbda)} lmbda), "
        f"{common.network_text(probe)}; {args.epochs} epoch{'' if args.epochs == 1 else 's'}, mini-batch {args.batch_size}")
    nets = sweep(architecture, dataset.train, args.epochs, args.batch_size, args.eta, args.lmbda, args.seeds, cost=args.cost,
                 evaluation_data=dataset.validation, regularization=args.regularization, optimizer=optimizer,
                 eta_schedule=args.eta_schedule or None, early_stopping=args.early_stopping, stack=args.stack,
                 comm=comm, verbose=True, evaluation_name="validation", **options)
    if not root:
        return 0
    test = probe.to_device(dataset.test) if dataset.test is not None else None
    rows = [_row(net, name, len(dataset.validation[1]), test) for net, name in zip(nets, names)]
    best = _best(rows)
    for line in table(rows, best):
        say(line)
    if args.early_stopping is not None:
        say("(--early-stopping: each network holds the weights of its best validation epoch; the test column measures those)")
    if best is not None:
        row = rows[best]
        say(f"Best: seed {row['seed']}, eta {_number(row['eta'])}, lmbda {_number(row['lmbda'])}: validation accuracy "
            f"{common.accuracy_text(row['best_validation_accuracy'], row['n_validation'])} in epoch {row['best_epoch']}")
    if args.save_dir is not None:
        _save(Path(args.save_dir), nets, rows, best, dataset, args.argv)
        say(f"saved {len(nets)} network{'' if len(nets) == 1 else 's'} and {SUMMARY} in {args.save_dir}")
    if best is None:
        raise TrainingDiverged("every configuration diverged; try a smaller --eta")
    return 0


def _check_save_dir(directory: Path, names, data) -> None:
    """Make ``directory`` (its parent must exist) and check that every file
    of the sweep can be written there, and that none is the data (``data``)."""
    inputs = {f"the training data (--data {data})": common.data_path(data)}
    for name in [*names, SUMMARY]:  # one at a time: the sweep's own names differ by construction
        check_distinct({f"--save-dir {directory} (its {name})": directory / name}, inputs)
    if directory.exists() and not directory.is_dir():
        raise OutputPathError(f"--save-dir {directory}: is not a directory")
    if not directory.exists():
        if not directory.resolve().parent.is_dir():
            raise OutputPathError(f"--save-dir {directory}: the directory {directory.parent} does not exist")
        directory.mkdir()
    for name in [*names, SUMMARY]:
        check_output_path(directory / name, "--save-dir")


def _row(net, name, n_validation, test) -> dict:
    """One configuration's results: its settings, per-epoch validation
    accuracies (correct counts), the best of them (the first of equals), the
    returned network's test accuracy and its file name under --save-dir."""
    accuracies = [report.evaluation_accuracy for report in net.history]
    best = max(range(len(accuracies)), key=accuracies.__getitem__) if accuracies else None
    return {
        "seed": net.sweep["seed"], "eta": net.sweep["eta"], "lmbda": net.sweep["lmbda"],
        "diverged_in": net.sweep["diverged_in"],
        "validation_accuracy": accuracies, "n_validation": n_validation,
        "final_validation_accuracy": accuracies[-1] if accuracies else None,
        "best_validation_accuracy": None if best is None else accuracies[best],
        "best_epoch": None if best is None else net.history[best].epoch,
        "test_accuracy": None if test is None else net.accuracy(test), "n_test": None if test is None else test.n,
        "file": name,
    }


def _best(rows):
    """The index of the configuration with the best validation accuracy among
    those that did not diverge (the first of equals), or None."""
    candidates = [i for i, row in enumerate(rows) if row["diverged_in"] is None and row["best_validation_accuracy"] is not None]
    return max(candidates, key=lambda i: rows[i]["best_validation_accuracy"], default=None)


def table(rows, best) -> list:
    """The rows as text lines under a header, columns aligned; the best row
    is marked ``<- best``, a diverged one says in which epoch."""

    def accuracy(correct, n):
        return "-" if correct is None else common.accuracy_text(correct, n)

    with_test = rows[0]["n_test"] is not None
    header = ["seed", "eta", "lmbda", "final validation", "best validation", "at epoch", *(["test"] * with_test), ""]
    lines = [header]
    for i, row in enumerate(rows):
        note = "<- best" if i == best else "" if row["diverged_in"] is None else f"diverged in epoch {row['diverged_in']}"
        test = [accuracy(row["test_accuracy"], row["n_test"])] if with_test else []
        lines.append([str(row["seed"]), _number(row["eta"]), _number(row["lmbda"]),
                      accuracy(row["final_validation_accuracy"], row["n_validation"]),
                      accuracy(row["best_validation_accuracy"], row["n_validation"]),
                      "-" if row["best_epoch"] is None else str(row["best_epoch"]), *test, note])
    widths = [max(len(line[c]) for line in lines) for c in range(len(header))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in lines]


def _save(directory: Path, nets, rows, best, dataset, argv) -> None:
    """Every network (a diverged one holds its last finite epoch's weights),
    then the summary: a complete sweep.json means every file is written."""
    for net, row in zip(nets, rows):
        net.classes, net.class_names = dataset.classes, dataset.class_names
        net.save(directory / row["file"])
    summary = {"command": ["anynet", *argv], "data": dataset.source, "best": best, "configurations": rows}
    write_atomically(directory / SUMMARY, lambda f: f.write((json.dumps(summary, indent=1) + "\n").encode()))
