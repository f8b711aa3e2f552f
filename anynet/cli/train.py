"""``anynet train``: train a network, writing the run after every epoch with
``--save``; ``anynet train --resume FILE`` continues such a run."""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
from dataclasses import replace

from ..train import runstate
from ..errors import ArgumentError, OutputPathError, TrainingDiverged
from ..io.files import check_output_path
from ..io.paths import check_distinct
from ..train.fit import TrainConfig
from ..api.network_api import Network
from ..api.presets import PRESETS, TEST_ACCURACY
from ..train.runstate import RunCheckpoint
from ..api.saved import check_epochs_left, load_run
from . import common, regression
from .report import EpochLines, JsonLog, plot, summary

# What a run records about its data and how it was set up, so --resume can
# load the same data and go on the same way.
_RECORDED = ("data", "validation_split", "label_column", "augment", "backend", "device", "dtype", "batch_size", "compile",
             "task")
# Flags --resume may change; the rest comes from the file.
_RESUMABLE = {"resume", "epochs", "data", "quiet", "log", "plot", "distributed", "reduce", "block_size", "backend",
              "device", "compile", "preset"}


def add_parser(commands):
    train = commands.add_parser("train", help="train a network (defaults: the book's first run)")
    common.add_data_options(train)
    regression.add_option(train)
    train.add_argument("--preset", choices=PRESETS,
                       help="a named configuration whose values become the defaults of the other flags "
                            "(test accuracy on fashion-mnist in brackets: strong-mlp ({strong-mlp}%%); fashion-mlp "
                            "({fashion-mlp}%%), with mirrored images; fashion-mlp-60k ({fashion-mlp-60k}%%), the same "
                            "refit on all 60,000 training images; fashion-conv ({fashion-conv}%%), a conv net (three "
                            "conv layers, two pools, ReLU, dropout, mirrored and shifted images); book: the book's "
                            "first run)"
                            .format_map(TEST_ACCURACY))
    common.add_where(train, "float64")
    train.add_argument("--compile", action=argparse.BooleanOptionalAction,
                       help="compile each epoch into one program: jax does unless --no-compile; torch only with "
                            "--compile (20-30 s to compile, then faster epochs); a resumed run keeps the run's choice")
    common.add_network_options(train)
    train.add_argument("--eta", type=common.float_in(0.0, low_open=True), default=3.0, help="learning rate (default: 3.0)")
    train.add_argument("--lmbda", type=common.float_in(0.0), default=0.0, help="regularisation strength (default: 0)")
    train.add_argument("--seed", type=common.int_at_least(0),
                       help="seed for weights and shuffling (default: drawn at random and printed)")
    common.add_training_options(train)
    train.add_argument("--save", metavar="FILE",
                       help="write the run to FILE after every epoch (resumable); an existing FILE is refused "
                            "unless --overwrite")
    train.add_argument("--overwrite", action="store_true", help="let --save replace an existing file")
    train.add_argument("--resume", metavar="FILE", help="continue the run saved in FILE (to --epochs in all)")
    train.add_argument("--log", metavar="FILE.jsonl", help="append one JSON object per epoch")
    train.add_argument("--plot", metavar="FILE", help="plot accuracy and cost per epoch (.png, .svg or .pdf)")
    train.add_argument("--distributed", action="store_true", help="data-parallel over the ranks of mpiexec (mpi4py)")
    train.add_argument("--reduce", choices=("exact", "fast"), default="exact",
                       help="exact: bit-identical weights for any number of ranks; fast: one Allreduce (default: exact)")
    train.add_argument("--block-size", type=common.int_at_least(1), metavar="ROWS",
                       help="with --reduce exact: rows per gradient block (default: a quarter of the mini-batch, or "
                            "what the resumed run used); any fixed size is bit-identical for any number of ranks, "
                            "and bigger blocks cost less (docs/distributed.md)")
    train.add_argument("--quiet", action="store_true", help="no progress bars")
    train.set_defaults(run=run)
    return train


def run(args) -> int:
    reducer = _reducer(args)
    guard = contextlib.nullcontext()
    if reducer is not None:
        from ..distributed import run_guarded

        guard = run_guarded(reducer)
    with guard:
        return _resume(args, reducer) if args.resume else _train(args, reducer)


def _reducer(args):
    if args.block_size is not None and not (args.distributed and args.reduce == "exact"):
        raise ArgumentError("--block-size needs --distributed with --reduce exact")
    if not args.distributed:
        return None
    from ..distributed import MPIReducer

    return MPIReducer.world(reduce=args.reduce, block_size=args.block_size)


def _settle_blocks(reducer, config, recorded, say):
    """Fix the exact reduction's rows per block for the whole run, record it
    and say how the run is distributed.  Without --block-size: the run's
    recorded size (None: the default, a quarter of each mini-batch), and 1
    row, the default then, for a run file written before runs recorded it."""
    if reducer is None:
        return
    blocks = ""
    if reducer.reduce == "exact":
        if reducer.block_size is None:
            reducer.block_size = recorded.get("block_size", 1)
        recorded["block_size"] = reducer.block_size
        rows = reducer.block_rows(config.mini_batch_size)
        blocks = f", blocks of {rows} row{'' if rows == 1 else 's'}"
    recorded["reduce"] = reducer.reduce  # a resume without --reduce goes on with it
    say(f"distributed: {reducer.size} rank{'' if reducer.size == 1 else 's'}, reduce {reducer.reduce}{blocks}")


def _check_outputs(args, root, data):
    """Every output checked before training: none is an input of this run
    (the data at ``data``, the run file it resumes) or another output, a
    --save onto an existing file needs --overwrite, each can be written."""
    if root:
        flags = ("log", "plot") if args.resume else ("save", "log", "plot")
        check_distinct({f"--{flag} {getattr(args, flag)}": getattr(args, flag) for flag in flags},
                       {f"the training data (--data {data})": common.data_path(data),
                        f"the run it resumes (--resume {args.resume})": args.resume})
    existing = args.save is not None and os.path.lexists(args.save) and not os.path.isdir(args.save)
    if root and existing and not args.resume and not args.overwrite:  # a directory: check_output_path says so
        raise OutputPathError(
            f"--save {args.save}: the file exists (another run's?) and this run would replace it; give another "
            f"name, continue that run with anynet train --resume {args.save} --epochs N, or add --overwrite"
        )
    if root and args.save is not None:  # before training, not after it; a resumed run's file too
        check_output_path(args.save, "--resume" if args.resume else "--save")
    if root and args.log is not None:
        check_output_path(args.log, "--log", append=True)  # an existing log is appended to
    if args.plot is not None:
        common.require_plotting(args.plot)
        if root:
            check_output_path(args.plot, "--plot")


def _train(args, reducer) -> int:
    root = reducer is None or reducer.is_root
    say = print if root else (lambda *a, **k: None)
    optimizer = common.optimizer_from(args)
    _check_outputs(args, root, args.data)
    if args.backend == "jax" and args.dtype == "float64":
        common.enable_jax_x64()
    seed, seed_note = args.seed, None
    if seed is None:
        seed = reducer.agree(secrets.randbelow(2**31)) if reducer else secrets.randbelow(2**31)
        seed_note = f"seed: {seed} (drawn; --seed {seed} repeats this run)"
    args, loaded = regression.prepare(args, {key: getattr(args, key) for key in _RECORDED})
    # The network first: a missing backend or device is reported before any download.
    net = _network(args, seed)
    # --eta-schedule is True, or a preset's DivideOnPlateau
    config = TrainConfig(args.epochs, args.batch_size, args.eta, args.lmbda, args.regularization, optimizer,
                         args.eta_schedule or None, args.early_stopping)
    recorded = {key: getattr(args, key) for key in _RECORDED} | _outputs(args) | {"block_size": None}
    recorded["data"] = common.data_reference(args.data)
    return _fit(args, net, config, None, recorded, reducer, say, loaded=loaded, seed_note=seed_note)


def _network(args, seed):
    """The Network of --sizes (and its activation flags), or of --layers."""
    architecture, options = common.architecture(args)
    return Network(architecture, args.cost, seed=seed, compile=args.compile, **options)


def _outputs(args) -> dict:
    """The --log and --plot files as absolute paths, recorded in the run so
    that --resume (from any directory) continues them."""
    return {flag: None if getattr(args, flag) is None else os.path.abspath(getattr(args, flag)) for flag in ("log", "plot")}


def _resume(args, reducer) -> int:
    root = reducer is None or reducer.is_root
    say = print if root else (lambda *a, **k: None)
    given = [f"--{key.replace('_', '-')}" for key in sorted(args.given - _RESUMABLE)
             if getattr(args, key) != args.defaults.get(key)]
    if given:
        raise ArgumentError(f"--resume takes the run's configuration from {args.resume}; drop {', '.join(given)}")
    run = load_run(args.resume, backend=args.backend if common.given(args, "backend") else None, device=args.device)
    recorded = run.extra.get("cli")
    if recorded is None:
        raise ArgumentError(f"{args.resume} was not saved by anynet train; resume it from Python with anynet.resume")
    # the run's own --log and --plot, unless given again (runs saved before they were recorded: none); the
    # run file is written after every epoch: checked with the other outputs
    args = replace(args, log=args.log or recorded.get("log"), plot=args.plot or recorded.get("plot"), save=args.resume)
    _check_outputs(args, root, args.data if common.given(args, "data") else recorded.get("data"))
    recorded = {**recorded, **_outputs(args)}
    compile = args.compile
    if compile is None and run.net.backend.name == recorded.get("backend"):
        compile = recorded.get("compile")  # the run's own kind of epoch: compiled ones differ by rounding
    if compile is not None:
        recorded = {**recorded, "compile": compile}
    if common.given(args, "data"):  # the same data elsewhere: _fit compares its digest with the run's
        recorded = {**recorded, "data": common.data_reference(args.data), "data_given": True}
    if reducer is not None and not common.given(args, "reduce") and recorded.get("reduce"):
        reducer.reduce = recorded["reduce"]  # the run's own reduction: another one differs by rounding
    config = replace(run.config, epochs=args.epochs) if common.given(args, "epochs") else run.config
    config = config if compile is None else replace(config, compile=compile)
    check_epochs_left(args.resume, run.state, config.epochs, lambda n: f"--epochs {n}")
    say(f"resuming {args.resume}: {run.state.epoch} of {config.epochs} epochs done")
    continued = [f"--{flag} {getattr(args, flag)}" for flag in ("log", "plot") if getattr(args, flag)]
    if continued:
        say(f"continuing {' and '.join(continued)}")
    return _fit(args, run.net, config, run, recorded, reducer, say)


def _fit(args, net, config, run, recorded, reducer, say, *, loaded=None, seed_note=None) -> int:
    root = reducer is None or reducer.is_root
    _settle_blocks(reducer, config, recorded, say)
    data_given = recorded.pop("data_given", False)  # --resume with --data: not recorded
    progress = common.progress_wanted(args) and root
    typed = args.data if run is None or data_given else None
    dataset = loaded or common.run_data(args, recorded, typed, progress, net.backend.dtype_name)
    common.check_fit(net.model, dataset, "--layers" if args.layers else "--sizes")
    net.classes, net.class_names = dataset.classes, dataset.class_names
    common.describe(dataset, say)
    say(f"backend: {net.backend}")
    if seed_note is not None:
        say(seed_note)
    # The schedule and early stopping select epochs: they watch the validation
    # split, so that the test accuracy stays an honest estimate.
    watched_name = "validation" if dataset.validation is not None else "test" if dataset.test is not None else None
    if config.selects_epochs and watched_name != "validation":
        raise ArgumentError(
            f"early stopping and the eta schedule watch a validation split, and {dataset.name} has none: "
            "add --validation-split 0.1"
        )
    train = net.to_device(dataset.train)
    digest = runstate.data_digest(train)
    if run is not None and digest != run.data_sha256:
        held = "is not" if data_given else "no longer holds"
        raise ArgumentError(f"{args.resume}: {recorded['data']} {held} the data this run was trained on "
                            "(its SHA-256 differs)")
    watched = net.to_device(dataset.validation if watched_name == "validation" else dataset.test) if watched_name else None
    test = net.to_device(dataset.test) if dataset.test is not None and watched_name == "validation" else None
    monitors = {"evaluation_accuracy", "evaluation_cost"} if watched is not None else {"training_accuracy", "training_cost"}
    if args.plot or args.log:
        monitors |= {"training_accuracy", "training_cost"}
    config = replace(config, monitors=frozenset(regression.adapt(dataset, config, monitors)) | config.monitors)
    say(f"network: {common.network_text(net)}; "
        f"{config.epochs} epoch{'' if config.epochs == 1 else 's'}, mini-batch {config.mini_batch_size}, eta {config.eta}")
    callbacks = []
    if root:
        lines = regression.lines(dataset, net, watched_name, watched, train, test)
        callbacks.append(lines or EpochLines(net, watched_name, test, show_eta=config.eta_schedule is not None))
        if args.log:
            callbacks.append(JsonLog(args.log, continues=None if run is None else run.state.history))
        if args.save:
            callbacks.append(RunCheckpoint(args.save, config, net, data_sha256=digest, extra={"cli": recorded}))
    try:
        state = net.train(train, config, evaluation_data=watched, callbacks=callbacks, progress=progress,
                          reducer=reducer, state=None if run is None else run.state)
    except TrainingDiverged as exc:
        if args.save:
            kept = "keeps the last finite epoch" if os.path.exists(args.save) else "was not written"
            exc.args = (f"{exc.args[0]}; {args.save} {kept}",)
        raise
    regression.summary(dataset, state, say) or summary(state, watched_name, say, bool(config.early_stopping))
    if root and args.save:
        say(f"saved run {args.save} (resume with: anynet train --resume {args.save} --epochs N)")
    if root and args.plot:
        title = f"{common.network_of(net)} on {dataset.name}, {net.backend}"
        plot(state.history, args.plot, fmt=common.require_plotting(args.plot), title=title, watched=watched_name or "training")
        say(f"saved plot {args.plot}")
    return 0
