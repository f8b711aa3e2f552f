"""A training run as checkpoint contents: everything :func:`anynet.train.fit.fit`
needs to continue a run exactly where it stopped.

:func:`encode` turns a TrainConfig and a TrainState into a JSON-able dict
(the run's settings, epoch, eta, schedule and early-stopping state, the
random generator's state, the history and a description of the data) and a
dict of host arrays (optimizer moments, the best epoch's parameters, the
sample order); :func:`decode` turns them back.  Values are stored exactly
(floats as JSON's shortest round-trip form, arrays bit for bit), so a resumed
run equals the uninterrupted one bit for bit on the same backend.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random

import numpy as np

from ..errors import CheckpointError
from ..io.files import check_output_path
from .fit import Callback, EpochReport, Shuffler, TrainConfig, TrainState
from ..model.optimizers import OPTIMIZERS, REGULARIZATIONS
from ..model.params import book_lists, from_book
from .schedules import schedule_from_config

RUN_VERSION = 1
_ARRAY_DTYPES = ("float32", "float64", "int64", "uint32")


def data_digest(data) -> str:
    """SHA-256 of a DeviceData's inputs and targets (host copies): resuming
    checks the data is the run's own."""
    from ..xp.backend import to_numpy

    sha = hashlib.sha256()
    for array in (data.x, data.targets):
        host = np.ascontiguousarray(to_numpy(array))
        sha.update(f"{host.dtype.str}{host.shape}".encode())
        sha.update(host)
    return sha.hexdigest()


def encode(config: TrainConfig, state: TrainState, *, data_sha256: str, extra: dict | None = None):
    """``(run, arrays)``: the run as a JSON-able dict and named host arrays."""
    from ..xp.backend import to_numpy

    arrays = {}

    def put(prefix, values):
        for i, value in enumerate(values):
            arrays[f"r_{prefix}_{i}"] = np.ascontiguousarray(to_numpy(value))
        return len(values)

    optimizer_state = {}
    for key, value in state.optimizer_state.items():
        if isinstance(value, list):  # moments, one Params per layer: stored as "{key}_w" and "{key}_b" lists
            weights, biases = book_lists(value)
            optimizer_state[f"{key}_w"] = {"arrays": put(f"opt_{key}_w", weights)}
            optimizer_state[f"{key}_b"] = {"arrays": put(f"opt_{key}_b", biases)}
        else:
            optimizer_state[key] = {"value": int(value)}
    best = None
    if state.best_parameters is not None:
        weights, biases = book_lists(state.best_parameters)
        best = {"weights": put("best_w", weights), "biases": put("best_b", biases)}
    resume = None
    if state.resume_parameters is not None:
        weights, biases = book_lists(state.resume_parameters)
        resume = {"weights": put("last_w", weights), "biases": put("last_b", biases)}
    shuffler = _encode_shuffler(state.shuffler, arrays)
    run = {
        "version": RUN_VERSION,
        "config": _encode_config(config),
        "epoch": state.epoch,
        "eta": state.eta,
        "optimizer_state": optimizer_state,
        "schedule": None if state.schedule is None else state.schedule.as_dict(),
        "best_accuracy": state.best_accuracy,
        "best_epoch": state.best_epoch,
        "best_parameters": best,
        "resume_parameters": resume,
        "since_best": state.since_best,
        "stopped": state.stopped,
        "shuffler": shuffler,
        "mask_rng": None if state.mask_rng is None else _encode_generator(state.mask_rng),
        "history": [_report_dict(r) for r in state.history],
        "data_sha256": data_sha256,
        "extra": extra or {},
        "arrays": {name: [list(a.shape), a.dtype.name] for name, a in arrays.items()},
    }
    return run, arrays


def _encode_config(config: TrainConfig) -> dict:
    return {
        "epochs": config.epochs,
        "mini_batch_size": config.mini_batch_size,
        "eta": config.eta,
        "lmbda": config.lmbda,
        "regularization": config.regularization,
        "optimizer": {"name": config.optimizer.name, **config.optimizer.config()},
        "eta_schedule": None if config.eta_schedule is None else config.eta_schedule.config(),
        "early_stopping": config.early_stopping,
        "monitors": sorted(config.monitors),
        # network3.py's order and penalty; absent (the defaults) in files of earlier versions
        "shuffle": config.shuffle,
        "drop_last": config.drop_last,
        "lmbda_divisor": config.lmbda_divisor,
        "compile": config.compile,
    }


def _report_dict(report: EpochReport) -> dict:
    return {k: v for k, v in dataclasses.asdict(report).items() if v is not None}


def _encode_shuffler(shuffler: Shuffler, arrays: dict) -> dict:
    arrays["r_order"] = np.asarray(shuffler.order, dtype=np.int64)
    if shuffler.rng is None or isinstance(shuffler.rng, random.Random):  # the book's unseeded runs
        version, internal, gauss = (random if shuffler.rng is None else shuffler.rng).getstate()
        arrays["r_random_state"] = np.asarray(internal, dtype=np.uint32)
        return {"kind": "random", "version": version, "gauss_next": gauss}
    return _encode_generator(shuffler.rng)


def _encode_generator(rng) -> dict:
    """A NumPy Generator's state; 128-bit integers as hex strings (checkpoint
    headers refuse integers over 20 digits)."""
    state = rng.bit_generator.state
    return {
        "kind": "numpy",
        "bit_generator": state["bit_generator"],
        "state": {k: hex(v) for k, v in state["state"].items()},
        "has_uint32": state["has_uint32"],
        "uinteger": state["uinteger"],
    }


def schema(run) -> dict:
    """The arrays a run dict declares, checked: ``{name: (shape, dtype)}``."""
    if not isinstance(run, dict) or run.get("version") != RUN_VERSION:
        raise CheckpointError(f"the run record has an unknown version; this anynet reads version {RUN_VERSION}")
    declared = run.get("arrays")
    if not isinstance(declared, dict):
        raise CheckpointError("the run record lists no arrays")
    result = {}
    for name, spec in declared.items():
        ok = (
            isinstance(name, str) and name.startswith("r_")
            and isinstance(spec, list) and len(spec) == 2
            and isinstance(spec[0], list) and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in spec[0])
            and spec[1] in _ARRAY_DTYPES
        )
        if not ok:
            raise CheckpointError(f"the run record declares array {name!r} as {spec!r}")
        result[name] = (tuple(spec[0]), spec[1])
    return result


def decode(run: dict, arrays: dict, backend):
    """``(config, state)`` from :func:`encode`'s output, with arrays on ``backend``."""
    try:
        return _decode(run, arrays, backend)
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, OverflowError) as exc:
        raise CheckpointError(f"the run record is inconsistent ({type(exc).__name__}: {exc})") from None


def _decode(run, arrays, backend):
    c = run["config"]
    optimizer_spec = dict(c["optimizer"])
    name = optimizer_spec.pop("name")
    if name not in OPTIMIZERS or c["regularization"] not in REGULARIZATIONS:
        raise CheckpointError(f"the run record names an unknown optimizer or regularization ({name!r})")
    schedule_rule = None if c["eta_schedule"] is None else schedule_from_config(c["eta_schedule"])
    config = TrainConfig(
        c["epochs"], c["mini_batch_size"], c["eta"], c["lmbda"], c["regularization"],
        OPTIMIZERS[name](**optimizer_spec), schedule_rule, c["early_stopping"], frozenset(c["monitors"]),
        c.get("shuffle", True), c.get("drop_last", False), c.get("lmbda_divisor", "samples"), c.get("compile"),
    )

    def take(prefix, count):
        return [backend.asarray(arrays[f"r_{prefix}_{i}"]) for i in range(count)]

    def pairs(spec, weights, biases):
        return from_book(take(weights, spec["weights"]), take(biases, spec["biases"]))

    best, resume = run["best_parameters"], run["resume_parameters"]
    state = TrainState(
        shuffler=_decode_shuffler(run["shuffler"], arrays),
        eta=float(run["eta"]),
        optimizer_state=_decode_optimizer_state(run["optimizer_state"], take, backend),
        epoch=int(run["epoch"]),
        schedule=None if run["schedule"] is None else schedule_rule.restore(run["schedule"]),
        best_accuracy=run["best_accuracy"],
        best_epoch=run["best_epoch"],
        best_parameters=None if best is None else pairs(best, "best_w", "best_b"),
        since_best=int(run["since_best"]),
        stopped=bool(run["stopped"]),
        history=[EpochReport(**r) for r in run["history"]],
        resume_parameters=None if resume is None else pairs(resume, "last_w", "last_b"),
        mask_rng=None if run.get("mask_rng") is None else _decode_generator(run["mask_rng"]),
    )
    return config, state


def _decode_optimizer_state(specs, take, backend) -> dict:
    """The optimizer's state from the file's entries: moments stored as
    ``{key}_w`` and ``{key}_b`` lists become one list of Params under
    ``key``; a count (Adam's t) the 0-d integer array the optimizer keeps,
    which a compiled epoch can carry."""
    state = {}
    for key, spec in specs.items():
        if "arrays" not in spec:
            state[key] = backend.asarray(int(spec["value"]), dtype=backend.index_dtype)
        elif key.endswith("_w"):
            state[key[:-2]] = from_book(take(f"opt_{key}", spec["arrays"]),
                                        take(f"opt_{key[:-2]}_b", specs[f"{key[:-2]}_b"]["arrays"]))
        elif not key.endswith("_b") or f"{key[:-2]}_w" not in specs:
            raise CheckpointError(f"the run record's optimizer state has an unpaired entry {key!r}")
    return state


def _decode_shuffler(spec, arrays) -> Shuffler:
    order = arrays["r_order"]
    if spec["kind"] == "random":
        # A generator of its own in the state the global `random` had: the
        # resumed run draws what the uninterrupted one drew, and the process's
        # `random` is left alone.
        own = random.Random()
        own.setstate((spec["version"], tuple(int(v) for v in arrays["r_random_state"]), spec["gauss_next"]))
        shuffler = Shuffler(len(order), own)
        shuffler.order = [int(i) for i in order]
        return shuffler
    shuffler = Shuffler(len(order), _decode_generator(spec))
    shuffler.order = order.astype(np.int64)
    return shuffler


def _decode_generator(spec):
    rng = np.random.default_rng()
    rng.bit_generator.state = {
        "bit_generator": spec["bit_generator"],
        "state": {k: int(v, 16) for k, v in spec["state"].items()},
        "has_uint32": spec["has_uint32"],
        "uinteger": spec["uinteger"],
    }
    return rng


class RunCheckpoint(Callback):
    """Writes the whole run to ``path`` (atomically) after every epoch and at
    the end, so it can be resumed; ``extra`` (JSON-able) is recorded with it.
    ``net`` is the Network whose run it is (it writes the file); the digest of
    the training data is taken when training begins unless given.  ``path``
    is checked then too, before the first step: a missing directory, a
    directory given as the file or one that cannot be written is an
    OutputPathError before any training, not after an epoch."""

    def __init__(self, path, config: TrainConfig, net, *, extra: dict | None = None, data_sha256: str | None = None):
        self.path, self.config, self.net, self.extra, self.data_sha256 = path, config, net, extra, data_sha256

    def on_train_begin(self, train):
        check_output_path(self.path, "checkpoint")
        if self.data_sha256 is None:
            self.data_sha256 = data_digest(train)

    def on_epoch_end(self, report, state):
        self.write(state)

    def on_train_end(self, state):
        self.write(state)

    def write(self, state):
        record, arrays = encode(self.config, state, data_sha256=self.data_sha256, extra=self.extra)
        self.net.save_run(self.path, record, arrays)
