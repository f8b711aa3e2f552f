"""Layers: each a frozen dataclass of its configuration with pure
``output_shape``, ``init``, ``forward`` and ``backward`` methods written once
against the array API (see :mod:`anynet.model.layers.base` for the
protocol), and :mod:`~anynet.model.layers.chain`, a network as a list of them."""

from .base import Layer, Params
from .chain import backprop, forward, init_params, output_layer, output_shapes
from .conv import Conv2D
from .dense import Dense
from .elementwise import Activate, Dropout
from .pool import MaxPool2D
from .shape import Flatten, Reshape

LAYERS = {cls.__name__: cls for cls in (Dense, Conv2D, MaxPool2D, Activate, Dropout, Flatten, Reshape)}

__all__ = [
    "LAYERS", "Activate", "Conv2D", "Dense", "Dropout", "Flatten", "Layer", "MaxPool2D", "Params", "Reshape",
    "backprop", "forward", "init_params", "output_layer", "output_shapes",
]
