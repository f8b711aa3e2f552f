"""What a training run carries from epoch to epoch, for each network it
trains: the order of the samples (:class:`Shuffler`) and everything else
that decides the rest of the run (:class:`TrainState`); and the hooks
:func:`anynet.train.fit.fit` calls (:class:`Callback`)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import numpy as np

from .config import EpochReport, TrainConfig


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
        else:  # a random.Random or a NumPy Generator: both shuffle in place
            self.rng.shuffle(self.order)
        return np.asarray(self.order)


@dataclass
class TrainState:
    """Everything that decides the rest of one network's run: restored from
    a checkpoint, it continues exactly as the uninterrupted run would.
    Parameters (the best epoch's, the last epoch's) are lists of
    :class:`~anynet.model.params.Params`."""

    shuffler: Shuffler
    eta: float
    optimizer_state: dict
    epoch: int = 0  # epochs completed
    schedule: object = None  # a schedules.PlateauState or StepState
    best_accuracy: int = -1
    best_epoch: int | None = None
    best_parameters: list | None = None  # the best epoch's parameters, for early stopping
    since_best: int = 0
    stopped: bool = False  # the schedule or early stopping ended the run
    history: list = field(default_factory=list)
    # the last epoch's parameters when early stopping restored the best ones at
    # the end: a longer resumed run goes on from these, as an uninterrupted one would
    resume_parameters: list | None = None
    # the host NumPy Generator the dropout masks are drawn from, one draw per
    # Dropout layer per step (None: the network has no dropout)
    mask_rng: object = None
    # the epoch in which a network of a stack diverged (its run ended there,
    # its last finite parameters kept); a single network's run raises instead
    diverged_in: int | None = None

    @classmethod
    def start(cls, model, config: TrainConfig, shuffler: Shuffler, mask_rng=None) -> "TrainState":
        """The state before the first epoch of ``model`` (its optimizer's initial state)."""
        return cls.begin(config, shuffler, config.optimizer.init(model.parameters(), xp=model.xp), mask_rng)

    @classmethod
    def begin(cls, config: TrainConfig, shuffler: Shuffler, optimizer_state: dict, mask_rng=None) -> "TrainState":
        """The state before the first epoch, with ``optimizer_state``."""
        return cls(
            shuffler=shuffler,
            mask_rng=mask_rng,
            eta=config.eta,
            optimizer_state=optimizer_state,
            schedule=config.eta_schedule.start(config.eta) if config.eta_schedule is not None else None,
        )

    @property
    def ended(self) -> bool:
        """The run ended before its epochs: stopped, or diverged (in a stack)."""
        return self.stopped or self.diverged_in is not None


class Callback:
    """Called by :func:`anynet.train.fit.fit`: once before the first step,
    after every epoch with its report, and once at the end.  Every callback
    is called even when an earlier one raised; the first error ends the run
    once all have seen the epoch.  In the run of a stack of K networks,
    ``report`` and ``state`` are lists with one entry per network (the
    report None for a network whose run had ended before that epoch; a
    network that diverged in it has its report, not in its history, and
    its state's ``diverged_in``)."""

    def on_train_begin(self, train) -> None:
        """Before the first step, with the training data (a DeviceData)."""

    def on_epoch_end(self, report: EpochReport, state: TrainState) -> None:
        pass

    def on_train_end(self, state: TrainState) -> None:
        pass
