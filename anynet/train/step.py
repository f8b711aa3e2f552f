"""The step every engine runs (:func:`make_step`): the batch gradient from
``chain.gradients`` (through the reducer, when several processes train
together), then the optimizer's ``step``; :class:`StepSpec`, what a step is
made of; and :class:`LocalReducer`, the reducer of one process.

So that a step can be compiled, it keeps these rules (and so does everything
it calls): only ``xp`` operations and Python arithmetic on Python numbers
(no ``float()``, ``bool()``, ``if`` on an array); shapes only from
``.shape``; it returns the containers it was given (a list of Params, the
state dict with the same keys); the optimizer state holds arrays only; the
per-run settings (layers, cost, optimizer, regulariser) are closed over, and
eta is an argument of every call.
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass
from typing import Any

from ..model.layers import chain


class LocalReducer:
    """The reducer of a single process: the batch gradient is ``backprop`` on
    the whole mini-batch.  Multi-process reducers (anynet.distributed) have
    the same members."""

    rank = 0
    size = 1
    is_root = True

    def batch_gradients(self, grad_fn, x, targets, rows=None):
        """``grad_fn(x, targets)``: the gradient summed over the rows, one
        Params per entry of the parameter list."""
        return grad_fn(x, targets)

    def local_rows(self, rows: int) -> tuple[int, int]:
        """The rows of a mini-batch of ``rows`` rows that this process reads: all."""
        return 0, rows

    def agree(self, value):
        """Every rank gets rank 0's ``value``; here, ``value``."""
        return value

    def abort(self, exc) -> None:
        """End every rank of the job after ``exc``; one process has nothing to end."""

    def begin_epoch(self) -> bool:
        """Whether this process computes the epoch's steps: always."""
        return True

    def end_epoch(self, params, state):
        """The epoch's parameters and optimizer state, as every rank goes on with them: these."""
        return params, state


def rank_threads(reducer):
    """A context for a run under ``reducer``: with several ranks, each rank's
    BLAS and OpenMP threads limited to its share of the machine's cores and
    restored at its end (:func:`anynet.distributed.threads.share_cores`)."""
    if reducer.size == 1:
        return contextlib.nullcontext()
    from ..distributed.threads import share_cores

    return share_cores(reducer.size)


def make_step(*, layers, cost, optimizer, reg, xp, fuse=None, reducer=None):
    """``step(params, state, x, targets, eta, masks=None, rows=None) -> (params, state)``: one
    mini-batch update of ``params`` (a list of :class:`~anynet.model.params.Params`)
    and the optimizer's ``state``, with learning rate ``eta`` (and ``masks``, one per
    layer, None where none, for the Dropout layers).  ``fuse`` runs the
    elementwise chains as fused kernels (CuPy); ``reducer`` (None: this
    process alone) combines the batch gradient across processes; with
    ``rows``, the mini-batch has ``rows`` rows of which ``x`` and ``targets``
    hold only the reducer's ``local_rows(rows)``.  The step returns new
    arrays and never writes into its arguments."""
    grads = chain.gradient_fn(layers, cost=cost, xp=xp, fuse=fuse)  # bound once, called per step
    update = optimizer.bind(reg=reg, xp=xp, fuse=fuse)
    if type(reducer) is LocalReducer:  # (not a subclass) its batch gradient is grads itself:
        reducer = None                 # no partial built and merged per step

    def step(params, state, x, targets, eta, masks=None, rows=None):
        if reducer is None:
            gradients = grads(params, x, targets, masks)
        elif rows is None:
            gradients = reducer.batch_gradients(functools.partial(grads, params, masks=masks), x, targets)
        else:  # x holds this rank's rows of a mini-batch of `rows` rows (reducer.local_rows)
            gradients = reducer.batch_gradients(functools.partial(grads, params, masks=masks), x, targets, rows=rows)
        return update(params, gradients, state, eta, x.shape[-2] if rows is None else rows)

    return step


@dataclass(frozen=True)
class StepSpec:
    """What a step is made of: the model's layers and cost, the optimizer and
    the regulariser (None without one)."""

    layers: tuple
    cost: Any
    optimizer: Any
    reg: Any = None

    def step(self, xp, *, fuse=None, reducer=None):
        """This step on namespace ``xp`` (see :func:`make_step`)."""
        return make_step(layers=self.layers, cost=self.cost, optimizer=self.optimizer, reg=self.reg,
                         xp=xp, fuse=fuse, reducer=reducer)

    def key(self) -> tuple:
        """The settings a compiled step bakes in, hashable: specs with equal
        keys make steps that compute the same, so a compiled epoch is reused
        by later runs (a new one costs a compilation)."""
        reg = None if self.reg is None else (self.reg.kind, self.reg.coef)
        return tuple((layer, None if layer.act is None else _settings(layer.act)) for layer in self.layers), _settings(self.cost), _settings(self.optimizer), reg


def _settings(obj) -> tuple:
    """A hashable stand-in for a stateless settings object (an Activation, an
    Optimizer, a cost class): its type and its attributes' reprs."""
    if isinstance(obj, type):
        return (obj,)
    return type(obj), tuple(sorted((name, repr(value)) for name, value in vars(obj).items()))
