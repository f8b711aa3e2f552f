"""The training loop of a stack: K networks of one shape trained as one
(:class:`anynet.model.stacked.StackedModel`), each as :func:`anynet.train.fit.fit`
would train it alone.

Each network keeps fit's own pieces: its Shuffler and TrainState, the eta
schedule and early stopping of :func:`~anynet.train.fit.select_epoch`, and
the divergence check; per-network eta and lambda ride in the step as
:class:`~anynet.model.stacked.PerModel` values.  What a stack adds is that a
network whose run has ended (stopped, or diverged: its last finite
parameters are kept and the epoch is recorded) rides along without effect
on the others until all have ended.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..errors import ArgumentError
from ..model.optimizers import Regularizer
from ..model.stacked import PerModel, StackedModel
from .engine import run_epoch
from .engines import engine_of
from .fit import EpochReport, TrainState, select_epoch
from .step import LocalReducer


@dataclass
class StackRun:
    """One network's run in a stack: its TrainState (history, schedule,
    early stopping), its final parameters (views of the stack) and
    the epoch it diverged in (None if it did not)."""

    state: TrainState
    parameters: tuple | None = None
    diverged_in: int | None = None
    ended: bool = False


def fit_stack(models, train, configs, shufflers, *, evaluation=None, on_epoch=None) -> list[StackRun]:
    """Train ``models`` (Models of one shape and backend), model k as
    ``configs[k]`` says from ``shufflers[k]``'s order, on ``train`` (a
    DeviceData), measuring the accuracy on ``evaluation`` after each epoch.
    The configurations differ only in eta, lmbda and their schedules.
    ``on_epoch(epoch, runs, seconds)`` is called after every epoch.  Returns
    one :class:`StackRun` per model, its parameters those it ends with as a
    separate ``fit`` would (the best epoch's under early stopping)."""
    config = configs[0]
    model = StackedModel(list(models))
    if config.optimizer.counts_steps and not model.is_dense:
        raise ArgumentError(f"{config.optimizer.name} cannot train a stack of networks of "
                            f"{', '.join(type(layer).__name__ for layer in model.layers)} layers yet (its step count "
                            "meets each network's eta as a dense network's parameters); use sgd or momentum, "
                            "or train the networks one by one")
    runs = [StackRun(TrainState(shuffler=s, eta=c.eta, optimizer_state={},
                                schedule=c.eta_schedule.start(c.eta) if c.eta_schedule else None))
            for s, c in zip(shufflers, configs)]
    lmbdas = [c.lmbda for c in configs]
    reg = Regularizer(config.regularization, PerModel(lmbdas), train.n) if any(lmbdas) else None
    opt_state = config.optimizer.init(model.parameters(), xp=model.xp)
    engine, backend = engine_of(model), model.backend
    for epoch in range(config.epochs):
        if all(run.ended for run in runs):
            break
        start = time.perf_counter()
        order = np.stack([run.state.shuffler.next_epoch() for run in runs])  # ended runs' own streams only
        last_good = model.parameters()
        opt_state = run_epoch(model, train, order, engine=engine, mini_batch_size=config.mini_batch_size,
                              eta=PerModel([run.state.eta for run in runs]), reg=reg, optimizer=config.optimizer,
                              opt_state=opt_state, reducer=LocalReducer())
        correct = None if evaluation is None else backend.to_numpy(model.correct(evaluation))
        finite = backend.to_numpy(model.all_finite())  # once per epoch, never per step
        seconds = time.perf_counter() - start
        for k, (run, c) in enumerate(zip(runs, configs)):
            if not run.ended:
                _end_epoch(model, k, run, c, epoch, seconds, train, evaluation, correct, finite, last_good)
        if on_epoch is not None:
            on_epoch(epoch, runs, seconds)
    for k, (run, c) in enumerate(zip(runs, configs)):
        if run.parameters is None:
            run.parameters = model.member_parameters(k)
        if c.early_stopping is not None and run.state.best_parameters is not None and run.diverged_in is None:
            run.parameters = run.state.best_parameters  # a diverged run keeps its last finite epoch, as fit does
    return runs


def _end_epoch(model, k, run, config, epoch, seconds, train, evaluation, correct, finite, last_good) -> None:
    """Network k's bookkeeping after an epoch, as fit's: divergence, report,
    schedule and early stopping, history; a run that ends keeps its parameters."""
    if not finite[k]:
        run.diverged_in, run.ended = epoch, True
        run.parameters = model.member_parameters(k, last_good)
        return
    report = EpochReport(epoch=epoch, eta=run.state.eta, seconds=seconds, n_training=train.n)
    if evaluation is not None:
        report.evaluation_accuracy, report.n_evaluation = int(correct[k]), evaluation.n
    select_epoch(model.member(k), config, run.state, report)
    run.state.epoch += 1
    run.state.history.append(report)
    if run.state.stopped:
        run.ended = True
        run.parameters = model.member_parameters(k)
