"""Learning-rate schedules driven by evaluation accuracy (book chapter 3)."""

from __future__ import annotations

import math


class DivideOnPlateau:
    """Divide eta by ``factor`` each time evaluation accuracy has not improved
    for ``patience`` epochs; stop training once eta has fallen to
    ``eta0 * min_ratio`` (the book's exercise: halve after 10 epochs without
    improvement, stop when eta has dropped to eta0/128)."""

    def __init__(self, patience: int = 10, factor: float = 2.0, min_ratio: float = 1 / 128):
        if not (isinstance(patience, int) and not isinstance(patience, bool) and patience >= 1):
            raise ValueError(f"patience must be an int >= 1, not {patience!r}")
        if not (isinstance(factor, (int, float)) and math.isfinite(factor) and factor > 1):
            raise ValueError(f"factor must be a number > 1, not {factor!r}")
        if not (isinstance(min_ratio, (int, float)) and 0 < min_ratio <= 1):
            raise ValueError(f"min_ratio must be in (0, 1], not {min_ratio!r}")
        self.patience, self.factor, self.min_ratio = patience, float(factor), float(min_ratio)

    def start(self, eta: float) -> "_PlateauState":
        return _PlateauState(self, eta)

    def __repr__(self) -> str:
        return f"DivideOnPlateau(patience={self.patience}, factor={self.factor}, min_ratio={self.min_ratio})"


class _PlateauState:
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
