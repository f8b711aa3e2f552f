"""The engine of a stack (:class:`anynet.model.stacked.StackedModel`): K
networks of one shape, each on its own shuffled rows of the shared data."""

from __future__ import annotations


class StackedEngine:
    """An epoch of a stack, step by step: batch j of network k is rows
    ``indices[k, j*m:(j+1)*m]`` of the shared data.  CuPy's fused kernels
    take numbers, not per-network values, so a stack runs unfused."""

    name = "stacked"

    def epoch(self, spec, backend, params, state, data, indices, *, m, eta, reducer=None, bar=None, masks=None):
        """Like :meth:`anynet.train.engine.LoopEngine.epoch` with ``indices`` of
        shape ``(K, n)``, one permutation per network, ``eta`` a PerModel and
        ``masks`` (a DropoutMasks of K generators) each step's stacked masks."""
        xp = backend.xp
        step = spec.step(xp)
        k, n = indices.shape
        n_in, n_out = data.x.shape[1], data.targets.shape[1]
        for start in range(0, n, m):
            rows = min(start + m, n) - start
            flat = xp.reshape(indices[:, start : start + rows], (k * rows,))
            x = xp.reshape(backend.take_rows(data.x, flat), (k, rows, n_in))
            targets = xp.reshape(backend.take_rows(data.targets, flat), (k, rows, n_out))
            params, state = step(params, state, x, targets, eta, None if masks is None else masks.draw(rows))
            if bar is not None:
                bar.update(rows)
        return params, state


STACKED = StackedEngine()
