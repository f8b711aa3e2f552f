"""A trained network as an ONNX model, for ONNX Runtime and every other
runtime that reads ONNX (optional extra: ``pip install 'anynet-nndl[onnx]'``).

The graph takes one input ``input`` of shape ``(N, sizes[0])`` (N, the
batch, is dynamic) in the network's dtype (float32 or float64) and gives one
output ``output`` of shape ``(N, sizes[-1])``: what ``predict_proba`` gives.
It is written with opset :data:`OPSET` of the default ONNX domain (ONNX 1.12
onwards) and IR version :data:`IR_VERSION`; the tests run it on ONNX Runtime.
The model's ``metadata_props`` record the opset (``onnx_opset``) and the
network's ``sizes``, ``activations``, ``cost``, ``dtype``, ``classes`` (JSON)
and ``anynet_version``; its initializers are named as the safetensors
tensors are (``layers.{i}.weight``, ``layers.{i}.bias``).

A network is exported as a list of layers, each a :class:`Layer`: its kind
(``"dense"``), its arrays and its settings.  :data:`EMITTERS` maps each kind
to one function that appends the layer's ONNX nodes to a :class:`Graph` and
returns the name of its output, so a new kind of layer (convolution, pooling,
flatten, dropout: at inference no dropping, the book's ``(1 - p)`` scaling
of the weighted input instead) is exported by registering one more function
with :func:`emits`.  A dense layer is ``Gemm(x, W, b, transB=1)`` (``x @ W.T
+ b``) followed by its activation's node (:data:`ACTIVATION_OPS`).  Models
must stay under protobuf's 2 GiB (about 500 million float32 parameters).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ArgumentError, ExtraUnavailable, TrainingDiverged
from ..model.activations import ACTIVATIONS
from ..xp.backend import to_numpy
from .files import write_new

OPSET = 17
IR_VERSION = 8
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


def require_onnx():
    """The ``onnx`` module, or :class:`ExtraUnavailable` saying what to install."""
    try:
        import onnx
        import onnx.helper  # noqa: F401
        import onnx.numpy_helper  # noqa: F401
    except ImportError as exc:
        raise ExtraUnavailable(
            f"ONNX export needs the onnx package ({exc}): pip install 'anynet-nndl[onnx]' (or pip install onnx onnxruntime)"
        ) from None
    return onnx


@dataclass
class Layer:
    """One layer as the exporter sees it: its ``kind`` (a key of
    :data:`EMITTERS`), its ``arrays`` (host NumPy arrays by name) and its
    ``settings`` (activation name, kernel size, ...)."""

    kind: str
    arrays: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)


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

    def constant(self, base: str, array) -> str:
        """Add ``array`` (in the graph's dtype) as an initializer; return its name."""
        name = self.name(base)
        value = np.ascontiguousarray(array, dtype=self.dtype)
        self.initializers.append(self.onnx.numpy_helper.from_array(value, name))
        return name

    def node(self, op: str, inputs, base: str, **attributes) -> str:
        """Append the node ``op(inputs)`` with ``attributes``; return its output's name."""
        output = self.name(base)
        self.nodes.append(self.onnx.helper.make_node(op, list(inputs), [output], name=self.name(f"{base}_node"), **attributes))
        return output


EMITTERS = {}


def emits(kind: str):
    """Register the decorated ``emit(graph, x, layer, index) -> name`` as the
    exporter of layers of ``kind``."""

    def register(function):
        EMITTERS[kind] = function
        return function

    return register


def activation(graph: Graph, x: str, name: str, base: str) -> str:
    if name not in ACTIVATION_OPS:
        raise ArgumentError(f"cannot export the activation {name!r} to ONNX; known: {', '.join(ACTIVATION_OPS)}")
    op, attributes = ACTIVATION_OPS[name]
    return graph.node(op, [x], base, **attributes)


@emits("dense")
def emit_dense(graph: Graph, x: str, layer: Layer, index: int) -> str:
    """``activation(x @ W.T + b)``: one Gemm and the activation's node."""
    weight = graph.constant(f"layers.{index}.weight", layer.arrays["weight"])
    bias = graph.constant(f"layers.{index}.bias", np.reshape(layer.arrays["bias"], (-1,)))
    z = graph.node("Gemm", [x, weight, bias], f"layers.{index}.z", transB=1)
    return activation(graph, z, layer.settings["activation"], f"layers.{index}.a")


def activation_name(act) -> str:
    """The registered name of ``act``; a custom activation class cannot be exported."""
    for name, cls in ACTIVATIONS.items():
        if type(act) is cls:
            return name
    raise ArgumentError(f"cannot export the custom activation {act!r} ({getattr(act, 'name', '')!r}) to ONNX; "
                        f"anynet exports its own: {', '.join(ACTIVATIONS)}")


def dense_layers(net) -> list[Layer]:
    """The layers of a Network (or Model) of fully connected layers."""
    return [
        Layer("dense", {"weight": to_numpy(w), "bias": to_numpy(b)}, {"activation": activation_name(act)})
        for w, b, act in zip(net.weights, net.biases, net.activations)
    ]


def metadata(net) -> dict[str, str]:
    """The model's ``metadata_props``: strings, JSON where a value is not one."""
    from .. import __version__

    classes = getattr(net, "classes", None)
    return {
        "anynet_version": __version__,
        "onnx_opset": str(OPSET),
        "sizes": json.dumps(list(net.sizes)),
        "activations": json.dumps([activation_name(a) for a in net.activations]),
        "cost": net.cost.name,
        "dtype": net.backend.dtype_name,
        "classes": json.dumps(None if classes is None else list(classes)),
    }


def build(net, layers=None):
    """The ``onnx.ModelProto`` of ``net`` (checked by ``onnx.checker``) from
    ``layers`` (default: :func:`dense_layers` of ``net``)."""
    onnx = require_onnx()
    helper = onnx.helper
    dtype = np.dtype(net.backend.dtype_name)
    element = helper.np_dtype_to_tensor_dtype(dtype)
    graph = Graph(onnx, dtype)
    x = INPUT
    for index, layer in enumerate(dense_layers(net) if layers is None else layers):
        if layer.kind not in EMITTERS:
            raise ArgumentError(f"cannot export a {layer.kind} layer to ONNX; known: {', '.join(EMITTERS)}")
        for name, array in layer.arrays.items():
            if not np.isfinite(array).all():
                raise TrainingDiverged(f"refusing to export: layers.{index}.{name} holds NaN or inf (training diverged?)")
        x = EMITTERS[layer.kind](graph, x, layer, index)
    graph.nodes.append(helper.make_node("Identity", [x], [OUTPUT], name="output_node"))
    proto = helper.make_graph(
        graph.nodes, "anynet",
        [helper.make_tensor_value_info(INPUT, element, ["N", net.sizes[0]])],
        [helper.make_tensor_value_info(OUTPUT, element, ["N", net.sizes[-1]])],
        graph.initializers,
    )
    model = helper.make_model(
        proto, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION,
        producer_name="anynet", producer_version=metadata(net)["anynet_version"],
        doc_string=f"anynet network {list(net.sizes)}: input (N, {net.sizes[0]}) rows, output (N, {net.sizes[-1]}) "
                   f"= predict_proba; ONNX opset {OPSET}",
    )
    helper.set_model_props(model, metadata(net))
    onnx.checker.check_model(model)
    return model


def export(net, path, *, overwrite: bool = False) -> Path:
    """Write ``net`` to ``path`` as an ONNX model (see the module's docstring),
    atomically.  An existing file with other content is refused unless
    ``overwrite``; one with the same bytes is left as it is."""
    return write_new(path, build(net).SerializeToString(), overwrite=overwrite, what="ONNX file")
