"""One epoch of mini-batch steps, the inner loop of :func:`anynet.train.fit.fit`:
:func:`run_epoch` with the engine it is given, and :class:`LoopEngine`, the
steps one by one from Python.

Every engine runs the same step (:func:`anynet.train.step.make_step`) and
differs only in how it runs an epoch of it:

* :class:`LoopEngine` runs the steps one by one in Python: NumPy, CuPy (its
  fused kernels), array-api-strict, torch by default, JAX with
  ``compile=False``, and every run whose reducer works on the host per step
  (data-parallel training).
* ``JaxScanEngine`` (:mod:`anynet.train.engine_jax`) compiles the whole epoch into
  one program: the default on JAX.
* ``TorchScanEngine`` (:mod:`anynet.train.engine_torch`) compiles the whole epoch
  with ``torch.compile``: torch with ``compile=True``.
* ``StackedEngine`` (:mod:`anynet.train.engine_stacked`): K networks of a
  sweep, each on its own rows.

Which one runs is decided above them all, in :mod:`anynet.train.engines`.
Compiled and step-by-step epochs compute the same numbers up to rounding:
compilers order and fuse float operations differently.

Nothing in a step moves data to the host: the permutation is sent to the
device once per epoch, and results are read once the epoch is over.
"""

from __future__ import annotations

from .step import StepSpec

class LoopEngine:
    """The steps one by one, from Python: the engine every backend can run,
    and the only one that lets a reducer or a progress bar act per step."""

    name = "loop"

    def epoch(self, spec, backend, params, state, data, indices, *, m, eta, reducer=None, bar=None, masks=None):
        """Run ``spec``'s step over the mini-batches of ``data`` (a DeviceData)
        taken ``m`` rows at a time in the order ``indices`` (an index array on
        the device; its length may be less than ``data.n``), at learning rate
        ``eta`` (a Python float); ``masks`` (a DropoutMasks) draws each step's
        dropout masks.  Returns the new ``(params, state)``; the arguments are
        left as they were.  A reducer's ``begin_epoch`` says whether this rank
        computes the epoch's steps, and its ``end_epoch`` gives the epoch's
        result to every rank (a rank that rested takes rank 0's)."""
        begin, end = getattr(reducer, "begin_epoch", None), getattr(reducer, "end_epoch", None)
        if begin is not None and not begin():  # a rank past its machine's cores: it rests
            return end(params, state)
        params, state = self._steps(spec, backend, params, state, data, indices, m=m, eta=eta, reducer=reducer,
                                    bar=bar, masks=masks)
        return (params, state) if end is None else end(params, state)

    def _steps(self, spec, backend, params, state, data, indices, *, m, eta, reducer, bar, masks):
        step = spec.step(backend.xp, fuse=backend.fuse, reducer=reducer)
        n = indices.shape[0]
        # a rank of several reads only the rows it computes (not with dropout masks, drawn per mini-batch)
        local_rows = getattr(reducer, "local_rows", None) if masks is None and getattr(reducer, "size", 1) > 1 else None
        inputs, targets = backend.row_gather(data.x), backend.row_gather(data.targets)
        stops = [*range(m, n, m), n]  # the standard leaves out-of-range stops undefined
        if local_rows is None and masks is None and bar is None:  # the usual run: nothing else per step
            for k, stop in zip(range(0, n, m), stops):
                idx = indices[k:stop]
                params, state = step(params, state, inputs(idx), targets(idx), eta)
            return params, state
        for k, stop in zip(range(0, n, m), stops):
            idx = indices[k:stop]
            if local_rows is None:
                step_masks = None if masks is None else masks.draw(stop - k)
                rows = None
            else:  # a reducer that reads every row (a LocalReducer's kind) keeps the call without rows=
                step_masks, rows = None, stop - k
                start, end = local_rows(rows)
                idx, rows = (idx, None) if (start, end) == (0, rows) else (idx[start:end], rows)
            params, state = step(params, state, inputs(idx), targets(idx), eta, step_masks, rows)
            if bar is not None:
                bar.update(stop - k)
        return params, state


LOOP = LoopEngine()


def run_epoch(model, data, order, *, engine, mini_batch_size, eta, reg, optimizer, opt_state, reducer, bar=None,
              masks=None):
    """Train ``model`` for one epoch over ``data`` (a DeviceData) in the host
    permutation ``order`` (``(K, n)``: one per network of a stack) with
    ``engine`` (see :func:`anynet.train.engines.engine_for`); return the new
    optimizer state.  The model's
    parameters are replaced once, at the end (a failed epoch leaves them as
    they were).  ``masks`` (a DropoutMasks, for the loop engine only) draws
    each step's dropout masks."""
    backend = model.backend
    indices = backend.asarray(order, dtype=backend.index_dtype)  # one transfer per epoch
    spec = StepSpec(model.layers, model.cost, optimizer, reg)
    with backend.errstate():
        params, opt_state = engine.epoch(
            spec, backend, list(model.parameters()), opt_state, data, indices,
            m=mini_batch_size, eta=eta, reducer=reducer, bar=bar, **({} if masks is None else {"masks": masks}),
        )
    model.set_parameters(params)
    return opt_state
