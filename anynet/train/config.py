"""A run's settings (:class:`TrainConfig`) and what one epoch measured
(:class:`EpochReport`): the plain values :func:`anynet.train.fit.fit` is
given and gives back (re-exported there)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from .. import arguments
from ..errors import ArgumentError, ArgumentTypeError
from ..model.optimizers import REGULARIZATIONS, Regularizer, get_optimizer
from .engines import check_compile
from .schedules import SCHEDULES, DivideAt, DivideOnPlateau

MONITORS = ("evaluation_cost", "evaluation_accuracy", "training_cost", "training_accuracy")

# what lmbda is divided by: network2.py's training-set size, network3.py's number of mini-batches
LMBDA_DIVISORS = ("samples", "mini_batches")


@dataclass
class EpochReport:
    """What one epoch measured; given to every callback.  Numbers are plain
    Python ints and floats."""

    epoch: int
    eta: float
    seconds: float
    evaluation_cost: float | None = None
    evaluation_accuracy: int | None = None
    n_evaluation: int | None = None
    training_cost: float | None = None
    training_accuracy: int | None = None
    n_training: int = 0
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class TrainConfig:
    """A run's settings, checked.  ``monitors`` names what is measured after
    each epoch (see MONITORS); the eta schedule and early stopping need the
    evaluation accuracy, which they add themselves.

    The order of the mini-batches (the book's network.py and network2.py by
    default; network3.py's with ``shuffle=False, drop_last=True,
    lmbda_divisor="mini_batches"``):

    * ``shuffle``: shuffle the samples at the start of each epoch (False:
      every epoch walks them in their stored order);
    * ``drop_last``: leave out a last mini-batch smaller than
      ``mini_batch_size`` (False: train on it too, as the book's first two
      programs do);
    * ``lmbda_divisor``: the regularisation is ``lmbda / d`` with ``d`` the
      number of training "samples" (network2.py) or of whole training
      "mini_batches", ``n // mini_batch_size`` (network3.py's
      ``0.5 * lmbda * sum(w**2) / num_training_batches``).

    ``compile``: how an epoch runs (:func:`anynet.train.engines.engine_for`):
    None compiles it into one program on JAX and runs the steps one by one
    elsewhere; True compiles torch's too; False runs step by step everywhere.
    Compiled and step-by-step epochs agree to rounding, not bit for bit."""

    epochs: int
    mini_batch_size: int
    eta: float
    lmbda: float = 0.0
    regularization: str = "l2"
    optimizer: object = "sgd"
    eta_schedule: DivideOnPlateau | DivideAt | None = None
    early_stopping: int | None = None
    monitors: frozenset = frozenset()
    shuffle: bool = True
    drop_last: bool = False
    lmbda_divisor: str = "samples"
    compile: bool | None = None

    def __post_init__(self):
        set_ = object.__setattr__  # frozen: normalise once, here
        set_(self, "epochs", arguments.integer("epochs", self.epochs, low=0))
        set_(self, "mini_batch_size", arguments.integer("mini_batch_size", self.mini_batch_size, low=1))
        set_(self, "eta", arguments.real("eta", self.eta, low=0.0, low_open=True))
        set_(self, "lmbda", arguments.real("lmbda", 0.0 if self.lmbda is None else self.lmbda, low=0.0))
        arguments.choice("regularization", self.regularization, REGULARIZATIONS)
        set_(self, "optimizer", get_optimizer(self.optimizer))
        schedule = DivideOnPlateau() if self.eta_schedule is True else self.eta_schedule
        if schedule is not None and not isinstance(schedule, SCHEDULES):
            raise ArgumentTypeError(f"eta_schedule must be a DivideOnPlateau, a DivideAt or True, not {self.eta_schedule!r}")
        set_(self, "eta_schedule", schedule)
        if self.early_stopping is not None:
            set_(self, "early_stopping", arguments.integer("early_stopping", self.early_stopping, low=1))
        unknown = set(self.monitors) - set(MONITORS)
        if unknown:
            raise ArgumentError(f"unknown monitors {sorted(unknown)}; choose from {', '.join(MONITORS)}")
        monitors = set(self.monitors)
        if self.selects_epochs:
            monitors.add("evaluation_accuracy")
        set_(self, "monitors", frozenset(monitors))
        for name in ("shuffle", "drop_last"):
            if not isinstance(getattr(self, name), bool):
                raise ArgumentTypeError(f"{name} must be True or False, not {getattr(self, name)!r}")
        arguments.choice("lmbda_divisor", self.lmbda_divisor, LMBDA_DIVISORS)
        check_compile(self.compile)

    @property
    def selects_epochs(self) -> bool:
        """The schedule or early stopping watch the evaluation accuracy."""
        watching = self.eta_schedule is not None and self.eta_schedule.needs_evaluation
        return watching or self.early_stopping is not None

    def steps_per_epoch(self, n: int) -> int:
        """Mini-batches in an epoch over ``n`` samples."""
        m = self.mini_batch_size
        return n // m if self.drop_last else -(-n // m)

    def regularizer(self, n: int, lmbda=None):
        """The weight penalty for a dataset of ``n`` samples (None without lmbda):
        lmbda divided by ``n`` or by its number of whole mini-batches.  A
        stack of networks gives each its own ``lmbda`` (a PerModel)."""
        lmbda = self.lmbda if lmbda is None else lmbda
        if not lmbda:
            return None
        divisor = n if self.lmbda_divisor == "samples" else n // self.mini_batch_size
        if divisor == 0:
            raise ArgumentError(f"lmbda is divided by the number of whole mini-batches, and {n} samples "
                                f"make none of {self.mini_batch_size}")
        return Regularizer(self.regularization, lmbda, divisor)


# what each network of a stack may set for itself; the rest is the stack's (one engine call an epoch)
PER_NETWORK = ("eta", "lmbda", "eta_schedule", "early_stopping", "monitors")


def check_stack_configs(configs) -> None:
    """Refuse a stack's configs that differ in anything but :data:`PER_NETWORK`:
    the stack trains with the first one's epochs, mini-batches, optimizer and
    regularisation, so another value would not be that network's own run."""
    first = configs[0]
    for k, config in enumerate(configs[1:], 1):
        for name in (f.name for f in fields(TrainConfig) if f.name not in PER_NETWORK):
            mine, theirs = getattr(config, name), getattr(first, name)
            if name == "optimizer":
                same = type(mine) is type(theirs) and mine.config() == theirs.config()
            else:
                same = mine == theirs
            if not same:
                raise ArgumentError(f"the networks of a stack share every setting but {', '.join(PER_NETWORK)}; "
                                    f"network {k} has {name}={mine!r}, network 0 {name}={theirs!r}")
