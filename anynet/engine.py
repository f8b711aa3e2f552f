"""One epoch of mini-batch steps: the inner loop of :func:`anynet.fit.fit`.

A step gathers the mini-batch's rows on the device, asks the reducer for the
batch gradient (one process: ``backprop`` on the batch; several: see
:mod:`anynet.distributed`) and applies the optimizer.  Nothing in a step moves
data to the host: the permutation is sent to the device once per epoch, and
results are read once the epoch is over.
"""

from __future__ import annotations

from . import backprop


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


def run_epoch(model, data, order, *, mini_batch_size, eta, reg, optimizer, opt_state, reducer, bar=None):
    """Train ``model`` for one epoch over ``data`` (a DeviceData) in the host
    permutation ``order``; return the new optimizer state.  The model's
    parameters are replaced once, at the end (a failed epoch leaves them as
    they were)."""
    backend = model.backend
    xp = backend.xp
    indices = backend.asarray(order, dtype=backend.index_dtype)  # one transfer per epoch
    activations, cost = model.activations, model.cost
    weights, biases = model.parameters()
    n, m = data.n, mini_batch_size
    fuse = backend.fuse  # None, or CuPy's fused kernels (anynet.kernels)
    fusing = {} if fuse is None else {"fuse": fuse}  # optimizers written before fusion take no fuse

    def grad_fn(x, targets):
        return backprop.backprop(weights, biases, x, targets, activations=activations, cost=cost, xp=xp, fuse=fuse)

    with backend.errstate():
        for k in range(0, n, m):
            idx = indices[k : min(k + m, n)]  # the standard leaves out-of-range stops undefined
            x = xp.take(data.x, idx, axis=0)
            targets = xp.take(data.targets, idx, axis=0)
            nabla_b, nabla_w = reducer.batch_gradients(grad_fn, x, targets)
            weights, biases, opt_state = optimizer.step(
                weights, biases, nabla_w, nabla_b, opt_state, eta=eta, m=x.shape[0], reg=reg, xp=xp, **fusing
            )
            if bar is not None:
                bar.update(x.shape[0])
    model.set_parameters(weights, biases)
    return opt_state
