"""Inference on arrays for :class:`anynet.Network`: ``predict``,
``predict_proba`` and ``score``, in chunks of rows so that memory stays
bounded however many rows there are."""

from __future__ import annotations

import numpy as np

from ..model import model as _model
from ..datasets.boundary import features


class Predicting:
    """The inference methods of Network (a mixin: it uses the network's
    ``_params``, ``_prepare``, ``_model``, ``backend`` and ``sizes``)."""

    def predict_proba(self, X):
        """Output activations ``(n, sizes[-1])`` for the rows of ``X`` (``(n,
        sizes[0])``, host or this backend's arrays); rows sum to 1 for a
        softmax output.  Host input gives a NumPy array, device input an array
        on the device.  Rows are processed in chunks, so memory stays bounded
        for any n."""
        return self._infer(X, self._model.feedforward, "predict_proba X")

    def predict(self, X):
        """The predicted class of each row of ``X``: an ``(n,)`` integer array,
        the index of the most active output unit."""
        xp = self.backend.xp
        return self._infer(X, lambda rows: xp.argmax(self._model.feedforward(rows), axis=1), "predict X")

    def score(self, X, y) -> float:
        """The fraction of rows of ``X`` whose predicted class is ``y`` (integer
        labels ``(n,)`` or one-hot targets ``(n, sizes[-1])``), a float in [0, 1]."""
        model = self._params()
        correct, n = 0, 0
        for chunk in _row_chunks((X, y)):
            data = self._prepare(chunk, "score data")
            correct, n = correct + int(model.correct(data)), n + data.n
        return correct / n

    def _infer(self, X, compute, what):
        self._params()
        backend = self.backend
        on_device = backend.name != "numpy" and backend.owns(X)
        if on_device:
            rows = features(X, backend=backend, n_in=self._model.n_in, what=what)
            return self._chunked(rows, compute)
        parts = []
        for (chunk,) in _row_chunks((X,)):
            rows = features(chunk, backend=backend, n_in=self._model.n_in, what=what)
            with backend.errstate():
                parts.append(backend.to_numpy(compute(rows)))
        return np.concatenate(parts, axis=0)

    def _chunked(self, rows, compute):
        xp = self.backend.xp
        n = rows.shape[0]  # stops past the end are undefined in the standard (array-api-strict refuses them)
        parts = [compute(rows[k : min(k + _model.EVAL_CHUNK, n), ...]) for k in range(0, n, _model.EVAL_CHUNK)]
        return parts[0] if len(parts) == 1 else xp.concat(parts, axis=0)


def _row_chunks(arrays):
    """Host arrays cut into EVAL_CHUNK rows at a time (moved to the device one
    chunk at a time); anything else (device arrays, the book's lists) whole."""
    first = arrays[0]
    if not isinstance(first, np.ndarray) or first.ndim != 2:
        yield arrays
        return
    for k in range(0, max(first.shape[0], 1), _model.EVAL_CHUNK):
        yield tuple(a[k : k + _model.EVAL_CHUNK] for a in arrays)
