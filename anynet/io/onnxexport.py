"""A trained network as an ONNX model, for ONNX Runtime and every other
runtime that reads ONNX (optional extra: ``pip install 'anynet-nndl[onnx]'``).

The graph takes one input ``input`` of shape ``(N, *input_shape)`` (``(N,
sizes[0])`` for the book's network; N, the batch, is dynamic) in the
network's dtype (float32 or float64) and gives one output ``output`` of
shape ``(N, n_out)``: what ``predict_proba`` gives.
It is written with opset :data:`OPSET` of the default ONNX domain (ONNX 1.12
onwards) and IR version :data:`IR_VERSION`; the tests run it on ONNX Runtime.
The model's ``metadata_props`` record the opset (``onnx_opset``), the
layers (``layers``, JSON: each layer's ``config()``) and, for a Network,
its ``cost``, ``dtype``, ``classes`` (JSON), ``anynet_version`` and, for a
chain of Dense layers, ``sizes`` and ``activations``; its initializers are
named as the safetensors tensors are (``layers.{i}.weight``,
``layers.{i}.bias``, ``i`` the layer's index).

A network is exported as its chain of :mod:`anynet.model.layers` layers
(:func:`build_chain`; the book's network is a chain of
:class:`~anynet.model.layers.Dense`), each written by the function
:mod:`anynet.io.onnxlayers` registers for its kind: Dense, Conv2D,
MaxPool2D, Activate, Dropout (at inference: nothing, or the book's ``1 - p``
scaling), Flatten and Reshape.  Models must stay under protobuf's 2 GiB
(about 500 million float32 parameters).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import ArgumentError, ExtraUnavailable, TrainingDiverged
from ..model.activations import ACTIVATIONS
from ..model.layers import output_shapes
from ..model.layers.chain import per_layer
from ..model.params import Params
from ..xp.backend import to_numpy
from .files import write_new
from .onnxlayers import EMITTERS, INPUT, OUTPUT, Graph

OPSET = 17
IR_VERSION = 8


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


def activation_name(act) -> str:
    """The registered name of ``act``; a custom activation class cannot be exported."""
    for name, cls in ACTIVATIONS.items():
        if type(act) is cls:
            return name
    raise ArgumentError(f"cannot export the custom activation {act!r} ({getattr(act, 'name', '')!r}) to ONNX; "
                        f"anynet exports its own: {', '.join(ACTIVATIONS)}")


def model_chain(net):
    """``(layers, params)``: the layers of a Network (or Model) and each
    one's parameters as host arrays (None for a layer without any); every
    activation must be anynet's own."""
    model = getattr(net, "model", net)
    for layer in model.layers:
        if getattr(layer, "act", None) is not None:
            activation_name(layer.act)
    params = per_layer(model.layers, [Params(to_numpy(p.weight), to_numpy(p.bias)) for p in model.parameters()])
    return list(model.layers), params


dense_chain = model_chain  # the name of anynet 0.2, when a Network was a chain of Dense layers


def _version() -> str:
    from .. import __version__

    return __version__


def metadata(net) -> dict[str, str]:
    """A Network's ``metadata_props``: strings, JSON where a value is not
    one; ``sizes`` and ``activations`` for a chain of Dense layers only."""
    model = getattr(net, "model", net)
    classes = getattr(net, "classes", None)
    dense = {"sizes": json.dumps(list(model.sizes)),
             "activations": json.dumps([activation_name(a) for a in model.activations])} if model.is_dense else {}
    return {
        "anynet_version": _version(),
        **dense,
        "cost": model.cost.name,
        "dtype": model.backend.dtype_name,
        "classes": json.dumps(None if classes is None else list(classes)),
    }


def build(net):
    """The ``onnx.ModelProto`` of a Network or Model of any of anynet's
    layers, for samples of its ``input_shape`` (see the module's docstring)."""
    layers, params = model_chain(net)
    model = getattr(net, "model", net)
    return build_chain(layers, params, model.input_shape, model.backend.dtype_name, metadata(net))


def build_chain(layers, params, input_shape, dtype, props=None):
    """The ``onnx.ModelProto`` (checked by ``onnx.checker``) of the chain of
    ``layers`` with ``params`` (one :class:`Params` of host arrays, or None,
    per layer) for samples of shape ``input_shape``: input ``(N,
    *input_shape)``, output ``(N, *the last layer's output shape)``, in
    ``dtype``; ``props`` are added to the metadata."""
    onnx = require_onnx()
    helper = onnx.helper
    dtype = np.dtype(dtype)
    if dtype.name not in ("float32", "float64") or len(params) != len(layers):
        raise ArgumentError(f"build_chain takes float32 or float64 (not {dtype.name}) and one params entry per layer "
                            f"({len(layers)} layers, {len(params)} entries)")
    shapes = output_shapes(layers, input_shape)
    graph = Graph(onnx, dtype)
    x = INPUT
    for index, (layer, p, shape) in enumerate(zip(layers, params, [tuple(input_shape), *shapes])):
        kind = type(layer).__name__
        if kind not in EMITTERS:
            raise ArgumentError(f"cannot export a {kind} layer to ONNX; known: {', '.join(EMITTERS)}")
        for name, array in ({} if p is None else p._asdict()).items():
            if not np.isfinite(array).all():
                raise TrainingDiverged(f"refusing to export: layers.{index}.{name} holds NaN or inf (training diverged?)")
        x = EMITTERS[kind](graph, x, layer, p, index, shape)
    graph.nodes.append(helper.make_node("Identity", [x], [OUTPUT], name="output_node"))
    element = helper.np_dtype_to_tensor_dtype(dtype)
    proto = helper.make_graph(
        graph.nodes, "anynet",
        [helper.make_tensor_value_info(INPUT, element, ["N", *input_shape])],
        [helper.make_tensor_value_info(OUTPUT, element, ["N", *shapes[-1]])],
        graph.initializers,
    )
    model = helper.make_model(
        proto, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION, producer_name="anynet",
        producer_version=_version(),
        doc_string=f"anynet network: input (N, {', '.join(map(str, input_shape))}), output "
                   f"(N, {', '.join(map(str, shapes[-1]))}) = predict_proba; ONNX opset {OPSET}",
    )
    layers_json = json.dumps([layer.config() for layer in layers])
    helper.set_model_props(model, {"onnx_opset": str(OPSET), "layers": layers_json, **(props or {})})
    onnx.checker.check_model(model)
    return model


def export(net, path, *, overwrite: bool = False) -> Path:
    """Write ``net`` to ``path`` as an ONNX model (see the module's docstring),
    atomically.  An existing file with other content is refused unless
    ``overwrite``; one with the same bytes is left as it is."""
    return write_new(path, build(net).SerializeToString(), overwrite=overwrite, what="ONNX file")
