"""Which engine runs an epoch, decided above the engines: the model and the
array backend do not carry one (:mod:`anynet.train.engine` explains what
each engine does)."""

from __future__ import annotations

from ..model.stacked import StackedModel
from .engine import LOOP
from .engine_stacked import STACKED
from .step import LocalReducer


def engine_for(backend, reducer=None):
    """The engine that runs an epoch on ``backend`` (its name and its
    ``compile`` field decide) with ``reducer``: compiled engines run the step
    without Python in between, so any reducer but a plain single-process
    LocalReducer (an MPI reducer, a timing one) gets the loop."""
    if backend.compile is False or not (reducer is None or type(reducer) is LocalReducer):
        return LOOP
    if backend.name == "jax":
        from . import engine_jax  # imported when asked: JAX is an optional extra

        return engine_jax.ENGINE
    if backend.name == "torch" and backend.compile:
        from . import engine_torch

        return engine_torch.ENGINE
    return LOOP


def engine_of(model, reducer=None):
    """The engine for training ``model``: a stack's own, else :func:`engine_for` its backend."""
    return STACKED if isinstance(model, StackedModel) else engine_for(model.backend, reducer)
