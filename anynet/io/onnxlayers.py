"""One function per kind of layer that writes the layer's ONNX nodes: the
registry :data:`EMITTERS`, keyed by the layer's type name (the keys of
:data:`anynet.model.layers.LAYERS`), and the :class:`Graph` they append to.

An emitter is ``emit(graph, x, layer, params, index, shape) -> name``: ``x``
names the layer's input (rows are samples, the batch axis first and dynamic)
and ``shape`` is one sample's shape, ``layer`` is an :mod:`anynet.model.layers`
object, ``params`` its :class:`~anynet.model.layers.Params` as host NumPy
arrays (or None), and the result names the layer's output.  Each computes what the layer's
``forward(train=False)`` computes:

========== ===============================================================
Dense      ``Gemm(x, layers.{i}.weight, layers.{i}.bias, transB=1)``, then the activation
Conv2D     ``Conv`` (valid, stride 1; ``flip=True``, a true convolution, flips the stored filters), then the activation; in float64, which ONNX Runtime's ``Conv`` lacks, ``Gather`` of the patches and ``MatMul``
MaxPool2D  ``MaxPool`` with kernel and strides the pool (the border that fills no window dropped)
Activate   the activation's node
Dropout    nothing (``p = 0`` or inverted) or ``Mul`` by ``1 - p`` (the book's network3.py scaling)
Flatten    ``Flatten(axis=1)``
Reshape    ``Reshape`` to ``(N, *shape)``
========== ===============================================================

A new kind of layer is exported by registering its function with :func:`emits`.
"""

from __future__ import annotations

import numpy as np

from ..errors import ArgumentError

INPUT, OUTPUT = "input", "output"

# activation name -> (ONNX operator, its attributes); softmax is over each row.
# "linear"/"identity": the names an identity output (regression) may take.
ACTIVATION_OPS = {
    "sigmoid": ("Sigmoid", {}),
    "tanh": ("Tanh", {}),
    "relu": ("Relu", {}),
    "softmax": ("Softmax", {"axis": -1}),
    "linear": ("Identity", {}),
    "identity": ("Identity", {}),
}


class Graph:
    """The nodes and initializers of an ONNX graph under construction, with
    unique names: what an emitter appends to."""

    def __init__(self, onnx, dtype):
        self.onnx, self.dtype = onnx, np.dtype(dtype)
        self.nodes, self.initializers = [], []
        self._used = {INPUT, OUTPUT}

    def name(self, base: str) -> str:
        candidate, k = base, 0
        while candidate in self._used:
            k += 1
            candidate = f"{base}_{k}"
        self._used.add(candidate)
        return candidate

    def constant(self, base: str, array, dtype=None) -> str:
        """Add ``array`` (in ``dtype``, default the graph's) as an initializer; return its name."""
        name = self.name(base)
        value = np.ascontiguousarray(array, dtype=self.dtype if dtype is None else dtype)
        self.initializers.append(self.onnx.numpy_helper.from_array(value, name))
        return name

    def node(self, op: str, inputs, base: str, **attributes) -> str:
        """Append the node ``op(inputs)`` with ``attributes``; return its output's name."""
        output = self.name(base)
        self.nodes.append(self.onnx.helper.make_node(op, list(inputs), [output], name=self.name(f"{base}_node"), **attributes))
        return output


EMITTERS = {}


def emits(kind: str):
    """Register the decorated ``emit(graph, x, layer, params, index, shape) -> name``
    as the exporter of layers whose type is named ``kind``."""

    def register(function):
        EMITTERS[kind] = function
        return function

    return register


def activation(graph: Graph, x: str, name: str, base: str) -> str:
    if name not in ACTIVATION_OPS:
        raise ArgumentError(f"cannot export the activation {name!r} to ONNX; known: {', '.join(ACTIVATION_OPS)}")
    op, attributes = ACTIVATION_OPS[name]
    return graph.node(op, [x], base, **attributes)


@emits("Dense")
def dense(graph: Graph, x: str, layer, params, index: int, shape) -> str:
    weight = graph.constant(f"layers.{index}.weight", params.weight)
    bias = graph.constant(f"layers.{index}.bias", np.reshape(params.bias, (-1,)))
    z = graph.node("Gemm", [x, weight, bias], f"layers.{index}.z", transB=1)
    return activation(graph, z, layer.activation, f"layers.{index}.a")


@emits("Conv2D")
def conv2d(graph: Graph, x: str, layer, params, index: int, shape) -> str:
    if layer.activation == "softmax":
        raise ArgumentError(f"cannot export {layer!r}: a softmax over a convolution's positions has no ONNX node here")
    filters = params.weight[:, :, ::-1, ::-1] if layer.flip else params.weight  # ONNX's Conv correlates, as torch's
    bias = np.reshape(params.bias, (-1,))
    if graph.dtype == np.float64:  # ONNX Runtime has no float64 Conv on the CPU
        return _conv_as_gather(graph, x, layer, filters, bias, index, shape)
    weight, bias = graph.constant(f"layers.{index}.weight", filters), graph.constant(f"layers.{index}.bias", bias)
    z = graph.node("Conv", [x, weight, bias], f"layers.{index}.z", kernel_shape=list(layer.kernel),
                   strides=[1, 1], pads=[0, 0, 0, 0])
    return z if layer.activation is None else activation(graph, z, layer.activation, f"layers.{index}.a")


def _conv_as_gather(graph: Graph, x: str, layer, filters, bias, index: int, shape) -> str:
    """The convolution as anynet computes it: every patch gathered into a
    column (one ``Gather`` with constant indices), a ``MatMul`` by the
    ``(filters, channels*kh*kw)`` matrix, the bias, the activation, and the
    ``(filters, height, width)`` image again."""
    c, h, w = shape
    (kh, kw), f = layer.kernel, layer.out_channels
    oh, ow = h - kh + 1, w - kw + 1
    ch, i, j = np.meshgrid(np.arange(c), np.arange(kh), np.arange(kw), indexing="ij")
    p, q = np.meshgrid(np.arange(oh), np.arange(ow), indexing="ij")
    columns = (ch * h * w + i * w + j).reshape(-1, 1) + (p * w + q).reshape(1, -1)  # (c*kh*kw, oh*ow)
    flat = graph.node("Reshape", [x, graph.constant(f"layers.{index}.flat", [0, c * h * w], np.int64)], f"layers.{index}.x")
    cols = graph.node("Gather", [flat, graph.constant(f"layers.{index}.columns", columns, np.int64)],
                      f"layers.{index}.cols", axis=1)
    weight = graph.constant(f"layers.{index}.weight", np.reshape(filters, (f, -1)))
    zw = graph.node("MatMul", [weight, cols], f"layers.{index}.zw")
    z = graph.node("Add", [zw, graph.constant(f"layers.{index}.bias", bias.reshape(-1, 1))], f"layers.{index}.z")
    a = z if layer.activation is None else activation(graph, z, layer.activation, f"layers.{index}.a")
    return graph.node("Reshape", [a, graph.constant(f"layers.{index}.image", [0, f, oh, ow], np.int64)],
                      f"layers.{index}.y")


@emits("MaxPool2D")
def max_pool(graph: Graph, x: str, layer, params, index: int, shape) -> str:
    return graph.node("MaxPool", [x], f"layers.{index}.a", kernel_shape=list(layer.pool), strides=list(layer.pool))


@emits("Activate")
def activate(graph: Graph, x: str, layer, params, index: int, shape) -> str:
    return activation(graph, x, layer.activation, f"layers.{index}.a")


@emits("Dropout")
def dropout(graph: Graph, x: str, layer, params, index: int, shape) -> str:
    if layer.p == 0.0 or layer.inverted:
        return x
    return graph.node("Mul", [x, graph.constant(f"layers.{index}.scale", 1.0 - layer.p)], f"layers.{index}.a")


@emits("Flatten")
def flatten(graph: Graph, x: str, layer, params, index: int, shape) -> str:
    return graph.node("Flatten", [x], f"layers.{index}.a", axis=1)


@emits("Reshape")
def reshape(graph: Graph, x: str, layer, params, index: int, shape) -> str:
    shape = graph.constant(f"layers.{index}.shape", [0, *layer.shape], dtype=np.int64)  # 0: the batch axis as it is
    return graph.node("Reshape", [x, shape], f"layers.{index}.a")
