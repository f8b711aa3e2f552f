"""THE training loop.  Every front (anynet.Network, the book's network and
network2 modules, the command line, the scikit-learn estimator) calls
:func:`fit`; sweeps (:mod:`anynet.sweep`) run its pieces per network of a
stack (Shuffler, TrainState, select_epoch, the same step).

``fit`` owns the order of the samples, the mini-batches (through
:mod:`anynet.train.engine`), the optimizer state, L1/L2, the eta schedule, early
stopping, the monitors, callbacks, the progress bar and the divergence check.
Everything that decides the next step lives in :class:`TrainState`, so a run
saved after any epoch resumes bit for bit (:mod:`anynet.train.runstate`).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

import numpy as np

from .config import MONITORS, EpochReport, TrainConfig  # noqa: F401  (re-exported: the loop's public types)
from .dropout import DropoutMasks
from .engine import run_epoch
from .engines import engine_of
from .step import LocalReducer, rank_threads
from ..errors import ArgumentError, TrainingDiverged

class Shuffler:
    """The order of the training samples, shuffled at the start of each epoch
    as the book's SGD shuffles its list: each epoch continues from the last
    one's order.  ``rng`` is a NumPy Generator, or None for the global
    ``random`` module the book uses (the same calls, so the same orders), or
    a ``random.Random`` (a resumed unseeded run continues the global
    module's draws with one of its own)."""

    def __init__(self, n: int, rng=None):
        self.rng = rng
        self.order = list(range(n)) if rng is None else np.arange(n)

    def next_epoch(self) -> np.ndarray:
        if self.rng is None:
            random.shuffle(self.order)
        elif isinstance(self.rng, random.Random):
            self.rng.shuffle(self.order)
        else:
            self.rng.shuffle(self.order)
        return np.asarray(self.order)


@dataclass
class TrainState:
    """Everything that decides the rest of a run: restored from a checkpoint,
    it continues exactly as the uninterrupted run would."""

    shuffler: Shuffler
    eta: float
    optimizer_state: dict
    epoch: int = 0  # epochs completed
    schedule: object = None  # a schedules.PlateauState or StepState
    best_accuracy: int = -1
    best_epoch: int | None = None
    best_parameters: list | None = None  # the best epoch's parameters (Params), for early stopping
    since_best: int = 0
    stopped: bool = False  # the schedule or early stopping ended the run
    history: list = field(default_factory=list)
    # the last epoch's parameters when early stopping restored the best ones at
    # the end: a longer resumed run goes on from these, as an uninterrupted one would
    resume_parameters: list | None = None
    # the host NumPy Generator the dropout masks are drawn from, one draw per
    # Dropout layer per step (None: the network has no dropout)
    mask_rng: object = None

    @classmethod
    def start(cls, model, config: TrainConfig, shuffler: Shuffler, mask_rng=None) -> "TrainState":
        return cls(
            shuffler=shuffler,
            mask_rng=mask_rng,
            eta=config.eta,
            optimizer_state=config.optimizer.init(model.parameters(), xp=model.xp),
            schedule=config.eta_schedule.start(config.eta) if config.eta_schedule is not None else None,
        )


class Callback:
    """Called by :func:`fit`: once before the first step, after every epoch
    with its report, and once at the end.  Every callback is called even when
    an earlier one raised; the first error ends the run once all have seen
    the epoch."""

    def on_train_begin(self, train) -> None:
        """Before the first step, with the training data (a DeviceData)."""

    def on_epoch_end(self, report: EpochReport, state: TrainState) -> None:
        pass

    def on_train_end(self, state: TrainState) -> None:
        pass


def fit(model, train, config: TrainConfig, *, state=None, shuffler=None, evaluation=None,
        callbacks=(), progress=False, reducer=None, mask_rng=None) -> TrainState:
    """Train ``model`` on ``train`` (a DeviceData) as ``config`` says, from
    ``state`` (a resumed run) or from the start with ``shuffler``'s order;
    measure ``evaluation`` (a DeviceData) after each epoch.  A model with
    Dropout layers draws its masks from ``mask_rng`` (a NumPy Generator,
    continued across calls) on the host, one array per layer and step, sent
    to the device (:class:`anynet.train.dropout.DropoutMasks`); such a run
    goes to the loop engine (a compiled epoch takes no host draws).  Returns the final
    TrainState, whose ``history`` holds one EpochReport per epoch.  With a
    reducer of several ranks, each rank's BLAS and OpenMP threads are limited
    to its share of the machine's cores while it trains, then restored.

    Raises TrainingDiverged, with the parameters of the last finite epoch
    restored, when the weights or a monitored cost become NaN or inf.
    """
    reducer = LocalReducer() if reducer is None else reducer
    if state is None:
        state = TrainState.start(model, config, shuffler or Shuffler(train.n), mask_rng)
    masks = DropoutMasks.for_run(model, state.mask_rng, reducer)
    if config.selects_epochs and evaluation is None:
        raise ArgumentError("eta_schedule and early_stopping need evaluation_data to measure accuracy on")
    for data in (train, evaluation):
        if data is not None and data.pending is not None:
            data.pending.verify(model.xp)  # device-side checks: one transfer per run
    for callback in callbacks:
        callback.on_train_begin(train)
    reg = config.regularizer(train.n)
    if state.resume_parameters is not None and state.epoch < config.epochs and not state.stopped:
        model.set_parameters(state.resume_parameters)  # a finished run, resumed for more epochs
        state.resume_parameters = None
    with rank_threads(reducer):
        while state.epoch < config.epochs and not state.stopped:
            report = _epoch(model, train, config, state, reg, evaluation, progress and reducer.is_root, reducer, masks)
            select_epoch(model, config, state, report)
            # Ranks of a multi-process run take rank 0's decisions, so none can
            # leave the loop while the others wait in a collective.
            state.eta, state.stopped = reducer.agree((state.eta, state.stopped))
            state.epoch += 1
            state.history.append(report)
            _notify(callbacks, "on_epoch_end", report, state)
    if config.early_stopping is not None and state.best_parameters is not None:
        state.resume_parameters = model.parameters()
        model.set_parameters(state.best_parameters)
    _notify(callbacks, "on_train_end", state)
    return state


def _notify(callbacks, method, *args) -> None:
    """Call ``method`` of every callback, in order, even after one of them
    has raised: a log line that cannot be written must not keep the
    checkpoint from holding the epoch.  The first error is raised once all
    have run (an interrupt at once)."""
    error = None
    for callback in callbacks:
        try:
            getattr(callback, method)(*args)
        except Exception as exc:
            error = exc if error is None else error
    if error is not None:
        raise error


def _epoch(model, train, config, state, reg, evaluation, progress, reducer, masks=None) -> EpochReport:
    start = time.perf_counter()
    order = state.shuffler.next_epoch() if config.shuffle else np.arange(train.n)
    if reducer.size > 1:
        order = reducer.agree(order)  # the global `random` of an unseeded run differs between processes
    if config.drop_last:
        order = order[: config.steps_per_epoch(train.n) * config.mini_batch_size]
    last_good = model.parameters()
    bar = _progress_bar(train.n, state.epoch) if progress else None
    try:
        state.optimizer_state = run_epoch(
            model, train, order, engine=engine_of(model, reducer, compile=config.compile, host_draws=masks is not None),
            mini_batch_size=config.mini_batch_size, eta=state.eta, reg=reg,
            optimizer=config.optimizer, opt_state=state.optimizer_state, reducer=reducer, bar=bar, masks=masks,
        )
    finally:
        if bar is not None:
            bar.close()
    report = EpochReport(epoch=state.epoch, eta=state.eta, seconds=0.0, n_training=train.n)
    _measure(model, config, report, train, evaluation)
    finite = bool(model.all_finite())  # once per epoch, never per step
    costs = [c for c in (report.training_cost, report.evaluation_cost) if c is not None]
    finite = reducer.agree(finite and all(np.isfinite(costs)))
    if not finite:
        model.set_parameters(last_good)
        raise TrainingDiverged(
            f"training diverged in epoch {state.epoch}: the weights or the cost became NaN or inf at eta {state.eta:g}; "
            f"try a smaller eta (the parameters of the last finite epoch are kept)"
        )
    report.seconds = time.perf_counter() - start
    return report


def _measure(model, config, report, train, evaluation) -> None:
    monitors = config.monitors
    penalty = _penalty(model, config)
    if "training_cost" in monitors:
        report.training_cost = total_cost(model, train, penalty)
    if "training_accuracy" in monitors:
        report.training_accuracy = int(model.correct(train))
    if evaluation is not None:
        report.n_evaluation = evaluation.n
        if "evaluation_cost" in monitors:
            report.evaluation_cost = total_cost(model, evaluation, penalty)
        if "evaluation_accuracy" in monitors:
            report.evaluation_accuracy = int(model.correct(evaluation))


def _penalty(model, config):
    """``penalty(n)``: the run's regulariser for a dataset of n samples (network2.py's
    total_cost divides lmbda by the size of the data it measures)."""
    if not config.lmbda:
        return None
    return lambda n: config.regularizer(n).penalty(model.parameters(), xp=model.xp)


def total_cost(model, data, penalty=None) -> float:
    """network2.py's total cost: the mean cost over ``data`` plus, with a
    ``penalty(n)`` function, the regularisation term once."""
    cost = model.cost_sum(data) / data.n
    if penalty is not None:
        cost = cost + penalty(data.n)
    return float(cost)


def select_epoch(model, config, state, report) -> None:
    """Early stopping and the eta schedule, from this epoch's evaluation accuracy."""
    accuracy = report.evaluation_accuracy
    if config.early_stopping is not None:
        if accuracy > state.best_accuracy:
            state.best_accuracy, state.best_epoch = accuracy, report.epoch
            state.best_parameters = model.parameters()  # references: updates never write into them
            state.since_best = 0
        else:
            state.since_best += 1
            state.stopped = state.since_best >= config.early_stopping
    if state.schedule is not None:
        state.eta, schedule_stop = state.schedule.update(accuracy)
        state.stopped = state.stopped or schedule_stop


def _progress_bar(n: int, epoch: int):
    from tqdm.auto import tqdm

    return tqdm(total=n, desc=f"epoch {epoch}", unit="sample", unit_scale=True, leave=False, dynamic_ncols=True)


