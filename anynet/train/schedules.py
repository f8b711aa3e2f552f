"""Learning-rate schedules driven by evaluation accuracy (book chapter 3)."""

from __future__ import annotations

import math

from .. import arguments
from ..errors import ArgumentError, ArgumentTypeError


class DivideOnPlateau:
    """Divide eta by ``factor`` each time evaluation accuracy has not improved
    for ``patience`` epochs; stop training once eta has fallen to
    ``eta0 * min_ratio`` (the book's exercise: halve after 10 epochs without
    improvement, stop when eta has dropped to eta0/128)."""

    def __init__(self, patience=10, factor=2.0, min_ratio=1 / 128):
        self.patience = arguments.integer("patience", patience, low=1)
        self.factor = arguments.real("factor", factor, low=1.0, low_open=True)
        self.min_ratio = arguments.real("min_ratio", min_ratio, low=0.0, high=1.0, low_open=True)

    needs_evaluation = True  # it watches the evaluation accuracy

    def start(self, eta: float) -> "PlateauState":
        return PlateauState(self, eta)

    def restore(self, values: dict) -> "PlateauState":
        """The state saved by ``as_dict`` (a resumed run)."""
        return PlateauState.from_dict(self, values)

    def config(self) -> dict:
        return {"patience": self.patience, "factor": self.factor, "min_ratio": self.min_ratio}

    def __repr__(self) -> str:
        return f"DivideOnPlateau(patience={self.patience}, factor={self.factor}, min_ratio={self.min_ratio})"


class PlateauState:
    """Where a DivideOnPlateau schedule stands in a run; ``as_dict``/``from_dict``
    carry it through a checkpoint."""

    def __init__(self, rule: DivideOnPlateau, eta: float):
        self.rule, self.eta0, self.eta = rule, eta, eta
        self.best, self.waited = -math.inf, 0

    def update(self, accuracy: float) -> tuple[float, bool]:
        """Feed one epoch's evaluation accuracy; return (next eta, stop?)."""
        if accuracy > self.best:
            self.best, self.waited = accuracy, 0
            return self.eta, False
        self.waited += 1
        if self.waited >= self.rule.patience:
            self.eta /= self.rule.factor
            self.waited = 0
        return self.eta, self.eta <= self.eta0 * self.rule.min_ratio

    def as_dict(self) -> dict:
        best = None if self.best == -math.inf else self.best
        return {"eta0": self.eta0, "eta": self.eta, "best": best, "waited": self.waited}

    @classmethod
    def from_dict(cls, rule: DivideOnPlateau, values: dict) -> "PlateauState":
        state = cls(rule, float(values["eta0"]))
        state.eta = float(values["eta"])
        state.best = -math.inf if values["best"] is None else values["best"]
        state.waited = int(values["waited"])
        return state


class DivideAt:
    """Divide eta by ``factor`` at the start of each epoch in ``milestones``
    (0-based): a fixed schedule, e.g. one that DivideOnPlateau found on a
    validation split, replayed when training on all the data.  It watches
    nothing, so it needs no evaluation data."""

    needs_evaluation = False

    def __init__(self, milestones, factor=2.0):
        if isinstance(milestones, (str, bytes)) or not hasattr(milestones, "__iter__"):
            raise ArgumentTypeError(f"milestones must be a list of epochs, not {milestones!r}")
        self.milestones = tuple(arguments.integer("milestone", m, low=1) for m in milestones)
        if list(self.milestones) != sorted(set(self.milestones)):
            raise ArgumentError(f"milestones must be increasing epochs, not {list(self.milestones)}")
        self.factor = arguments.real("factor", factor, low=1.0, low_open=True)

    def start(self, eta: float) -> "StepState":
        return StepState(self, eta)

    def restore(self, values: dict) -> "StepState":
        state = StepState(self, float(values["eta0"]))
        state.epoch = arguments.integer("schedule epoch", values["epoch"], low=0)
        state.eta = state.eta_at(state.epoch)
        return state

    def config(self) -> dict:
        return {"milestones": list(self.milestones), "factor": self.factor}

    def __repr__(self) -> str:
        return f"DivideAt(milestones={list(self.milestones)}, factor={self.factor})"


class StepState:
    """Where a DivideAt schedule stands: epochs completed and the eta of the next."""

    def __init__(self, rule: DivideAt, eta: float):
        self.rule, self.eta0, self.eta, self.epoch = rule, eta, eta, 0

    def eta_at(self, epoch: int) -> float:
        divisions = sum(1 for m in self.rule.milestones if m <= epoch)
        return self.eta0 / self.rule.factor**divisions

    def update(self, accuracy) -> tuple[float, bool]:
        """One epoch done (its accuracy is not used); return (next eta, False)."""
        self.epoch += 1
        self.eta = self.eta_at(self.epoch)
        return self.eta, False

    def as_dict(self) -> dict:
        return {"eta0": self.eta0, "eta": self.eta, "epoch": self.epoch}


def schedule_from_config(values: dict):
    """The schedule a checkpoint's ``config()`` record describes."""
    return DivideAt(**values) if "milestones" in values else DivideOnPlateau(**values)


SCHEDULES = (DivideOnPlateau, DivideAt)
