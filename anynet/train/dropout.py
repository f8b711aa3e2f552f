"""Dropout masks for the training loop: drawn on the host from the run's
seeded NumPy Generator, one array per Dropout layer per step, and sent to
the device (a host-to-device copy; nothing is read back), so that a run's
masks are the same bits on every backend and a run is reproducible from its
seed.  A mask is a boolean array of the layer's input shape for the
mini-batch, True (keep) with probability ``1 - p``.  A stack of K networks
(:class:`anynet.model.stacked.StackedModel`) draws each network's masks from
that network's own generator, in the order its separate run draws them, and
stacks them: ``(K, rows, ...)``."""

from __future__ import annotations

import numpy as np

from ..errors import ArgumentError
from ..model.layers import Dropout, output_shapes


class DropoutMasks:
    """``draw(n)``: one mask (or None) per layer of ``layers`` for a
    mini-batch of ``n`` rows, drawn from ``rng`` in layer order (``rng`` a
    list of K generators: a stack's, one per network)."""

    def __init__(self, layers, input_shape, rng, backend):
        shapes = [tuple(input_shape), *output_shapes(layers, input_shape)]
        self.count = len(layers)
        self.slots = [(i, layer, shapes[i]) for i, layer in enumerate(layers) if needs_mask(layer)]
        self.rng = rng
        self.backend = backend

    @classmethod
    def for_run(cls, model, rng, reducer):
        """The masks of a run of ``model``, or None
        when no layer needs one; a run that could not apply them is refused."""
        if not any(needs_mask(layer) for layer in model.layers):
            return None
        if rng is None or (isinstance(rng, list) and any(r is None for r in rng)):
            raise ArgumentError("the network has Dropout layers: fit needs a mask_rng (a NumPy Generator) "
                                "to draw their masks from")
        if reducer.size > 1:
            raise ArgumentError(f"dropout is not supported in data-parallel training ({reducer.size} ranks): "
                                "each rank would need its rows' masks")
        return cls(model.layers, model.input_shape, rng, model.backend)

    def draw(self, n: int) -> list:
        """The masks of one step over ``n`` rows, on the device."""
        masks = [None] * self.count
        for i, layer, shape in self.slots:
            if isinstance(self.rng, list):  # each network of a stack from its own generator
                host = np.stack([layer.draw_mask(rng, (n, *shape)) for rng in self.rng])
            else:
                host = layer.draw_mask(self.rng, (n, *shape))
            masks[i] = self.backend.asarray(host, dtype=self.backend.xp.bool)
        return masks


def needs_mask(layer) -> bool:
    """A Dropout layer that drops anything (p = 0 is the identity)."""
    return isinstance(layer, Dropout) and layer.p > 0
