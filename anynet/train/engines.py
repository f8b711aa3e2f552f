"""Which engine runs an epoch, decided above the engines: the model and the
array backend do not carry one, and compiling is a training option
(``TrainConfig.compile``; :mod:`anynet.train.engine` explains what each
engine does)."""

from __future__ import annotations

from ..errors import ArgumentError, ArgumentTypeError
from ..model.stacked import StackedModel
from .engine import LOOP
from .engine_stacked import STACKED
from .step import LocalReducer

COMPILED = ("jax", "torch")  # the backends with a compiled epoch (engine_jax, engine_torch)


def check_compile(compile, backend_name: str | None = None) -> None:
    """Refuse a ``compile`` setting that is not None/True/False, or True for a
    backend without a compiled epoch (``backend_name`` None: the type alone)."""
    if not isinstance(compile, (bool, type(None))):
        raise ArgumentTypeError(f"compile must be None, True or False, not {compile!r}")
    if compile and backend_name is not None and backend_name not in COMPILED:
        raise ArgumentError(f"compile=True needs backend {' or '.join(COMPILED)}; {backend_name} has no compiled epoch")


def engine_for(backend, reducer=None, compile=None):
    """The engine that runs an epoch on ``backend`` with ``reducer``.
    ``compile`` None compiles each epoch into one program on JAX and runs
    the steps one by one in Python elsewhere; True also compiles torch's
    (tens of seconds to compile, faster epochs); False runs the steps one by
    one everywhere.  Compiled engines run the step without Python in
    between, so any reducer but a plain single-process LocalReducer (an MPI
    reducer, a timing one) gets the loop."""
    check_compile(compile, backend.name)
    if compile is False or not (reducer is None or type(reducer) is LocalReducer):
        return LOOP
    if backend.name == "jax":
        from . import engine_jax  # imported when asked: JAX is an optional extra

        return engine_jax.ENGINE
    if backend.name == "torch" and compile:
        from . import engine_torch

        return engine_torch.ENGINE
    return LOOP


def engine_of(model, reducer=None, *, compile=None, host_draws=False):
    """The engine for training ``model``: a stack's own; the loop when each
    step takes draws from the host (dropout masks: a compiled epoch takes
    none); else :func:`engine_for` its backend."""
    if isinstance(model, StackedModel):
        return STACKED
    if host_draws:
        return LOOP
    return engine_for(model.backend, reducer, compile)
