"""One epoch of mini-batch steps: the inner loop of :func:`anynet.train.fit.fit`.

Every engine runs the same step, :func:`make_step`: the batch gradient from
``chain.gradients`` (through the reducer, when several processes train
together), then the optimizer's ``step``.  Engines differ only in how they
run an epoch of it:

* :class:`LoopEngine` runs the steps one by one in Python: NumPy, CuPy (its
  fused kernels), array-api-strict, torch by default, JAX with
  ``compile=False``, and every run whose reducer works on the host per step
  (data-parallel training).
* ``JaxScanEngine`` (:mod:`anynet.train.engine_jax`) compiles the whole epoch into
  one program: the default on JAX.
* ``TorchScanEngine`` (:mod:`anynet.train.engine_torch`) compiles the whole epoch
  with ``torch.compile``: torch with ``compile=True``.

``compile`` is a field of the :class:`~anynet.xp.backend.Backend`
(``get_backend(..., compile=)``, ``Network(..., compile=)``, ``anynet train
--compile``).  Compiled and step-by-step epochs compute the same numbers up
to rounding: compilers order and fuse float operations differently.

Nothing in a step moves data to the host: the permutation is sent to the
device once per epoch, and results are read once the epoch is over.  So
that a step can be compiled, it keeps these rules (and so does everything
it calls): only ``xp`` operations and Python arithmetic on Python numbers
(no ``float()``, ``bool()``, ``if`` on an array); shapes only from
``.shape``; it returns the containers it was given (lists of parameters, the
state dict with the same keys); the optimizer state holds arrays only; the
per-run settings (activations, cost, optimizer, regulariser) are closed
over, and eta is an argument of every call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..model.layers import chain


class LocalReducer:
    """The reducer of a single process: the batch gradient is ``backprop`` on
    the whole mini-batch.  Multi-process reducers (anynet.distributed) have
    the same four members."""

    rank = 0
    size = 1
    is_root = True

    def batch_gradients(self, grad_fn, x, targets):
        """``grad_fn(x, targets) -> (nabla_b, nabla_w)``, summed over the rows."""
        return grad_fn(x, targets)

    def agree(self, value):
        """Every rank gets rank 0's ``value``; here, ``value``."""
        return value

    def abort(self, exc) -> None:
        """End every rank of the job after ``exc``; one process has nothing to end."""


def make_step(*, layers, cost, optimizer, reg, xp, fuse=None, reducer=None):
    """``step(params, state, x, targets, eta) -> (params, state)``: one
    mini-batch update of ``params = (weights list, biases list)`` and the
    optimizer's ``state``, with learning rate ``eta``.  ``fuse`` runs the
    elementwise chains as fused kernels (CuPy); ``reducer`` (None: this
    process alone) combines the batch gradient across processes.  The step
    returns new arrays and never writes into its arguments."""
    fusing = {} if fuse is None else {"fuse": fuse}  # optimizers written before fusion take no fuse

    def step(params, state, x, targets, eta):
        weights, biases = params

        def grad_fn(x, targets):
            return chain.gradients(layers, weights, biases, x, targets, cost=cost, xp=xp, fuse=fuse)

        nabla_b, nabla_w = grad_fn(x, targets) if reducer is None else reducer.batch_gradients(grad_fn, x, targets)
        weights, biases, state = optimizer.step(
            weights, biases, nabla_w, nabla_b, state, eta=eta, m=x.shape[-2], reg=reg, xp=xp, **fusing
        )
        return (weights, biases), state

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
        return tuple((layer, _settings(layer.act)) for layer in self.layers), _settings(self.cost), _settings(self.optimizer), reg


def _settings(obj) -> tuple:
    """A hashable stand-in for a stateless settings object (an Activation, an
    Optimizer, a cost class): its type and its attributes' reprs."""
    if isinstance(obj, type):
        return (obj,)
    return type(obj), tuple(sorted((name, repr(value)) for name, value in vars(obj).items()))


class LoopEngine:
    """The steps one by one, from Python: the engine every backend can run,
    and the only one that lets a reducer or a progress bar act per step."""

    name = "loop"

    def epoch(self, spec, backend, params, state, data, indices, *, m, eta, reducer=None, bar=None):
        """Run ``spec``'s step over the mini-batches of ``data`` (a DeviceData)
        taken ``m`` rows at a time in the order ``indices`` (an index array on
        the device; its length may be less than ``data.n``), at learning rate
        ``eta`` (a Python float).  Returns the new ``(params, state)``; the
        arguments are left as they were."""
        step = spec.step(backend.xp, fuse=backend.fuse, reducer=reducer)
        n = indices.shape[0]
        for k in range(0, n, m):
            idx = indices[k : min(k + m, n)]  # the standard leaves out-of-range stops undefined
            x = backend.take_rows(data.x, idx)
            params, state = step(params, state, x, backend.take_rows(data.targets, idx), eta)
            if bar is not None:
                bar.update(x.shape[0])
        return params, state


LOOP = LoopEngine()


def engine_for(backend, reducer=None):
    """The engine that runs an epoch on ``backend`` (its name and its
    ``compile`` field decide) with ``reducer``: compiled engines run the step
    without Python in between, so any reducer but a plain single-process
    LocalReducer (an MPI reducer, a timing one) gets the loop."""
    if backend.compile is False or not (reducer is None or type(reducer) is LocalReducer):
        return LOOP
    if backend.name == "jax":
        from . import engine_jax

        return engine_jax.ENGINE
    if backend.name == "torch" and backend.compile:
        from . import engine_torch

        return engine_torch.ENGINE
    return LOOP


def run_epoch(model, data, order, *, mini_batch_size, eta, reg, optimizer, opt_state, reducer, bar=None):
    """Train ``model`` for one epoch over ``data`` (a DeviceData) in the host
    permutation ``order``; return the new optimizer state.  The model's
    parameters are replaced once, at the end (a failed epoch leaves them as
    they were)."""
    backend = model.backend
    indices = backend.asarray(order, dtype=backend.index_dtype)  # one transfer per epoch
    spec = StepSpec(model.layers, model.cost, optimizer, reg)
    weights, biases = model.parameters()
    engine = model.engine or engine_for(backend, reducer)  # a stack brings its own (anynet.model.stacked)
    with backend.errstate():
        (weights, biases), opt_state = engine.epoch(
            spec, backend, (list(weights), list(biases)), opt_state, data, indices,
            m=mini_batch_size, eta=eta, reducer=reducer, bar=bar,
        )
    model.set_parameters(weights, biases)
    return opt_state
