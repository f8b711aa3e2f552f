"""Learning-rate schedules driven by evaluation accuracy (book chapter 3)."""

from __future__ import annotations

import math

from . import checks


class DivideOnPlateau:
    """Divide eta by ``factor`` each time evaluation accuracy has not improved
    for ``patience`` epochs; stop training once eta has fallen to
    ``eta0 * min_ratio`` (the book's exercise: halve after 10 epochs without
    improvement, stop when eta has dropped to eta0/128)."""

    def __init__(self, patience=10, factor=2.0, min_ratio=1 / 128):
        self.patience = checks.integer("patience", patience, low=1)
        self.factor = checks.real("factor", factor, low=1.0, low_open=True)
        self.min_ratio = checks.real("min_ratio", min_ratio, low=0.0, high=1.0, low_open=True)

    def start(self, eta: float) -> "PlateauState":
        return PlateauState(self, eta)

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
