"""ONNX export of layer chains (:mod:`anynet.model.layers`: convolution,
pooling, dropout, flatten, reshape): ONNX Runtime's output equals the chain's
own ``forward(train=False)`` (tolerances as in test_export_onnx.py: 1e-5
float32, 1e-9 float64; a convolution sums more products than a dense layer
of these sizes, still a few ulps)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from anynet.errors import ArgumentError
from anynet.io import onnxexport
from anynet.model.layers import Activate, Conv2D, Dense, Dropout, Flatten, MaxPool2D, Reshape, chain

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

TOLERANCE = {"float32": 1e-5, "float64": 1e-9}


def network3_like(flip, dropout, activation=None):
    """network3.py's shape of network, small: a vector reshaped to an image,
    convolution, max-pooling (7x7 -> 5x5 -> 2x2: the border dropped), the
    activation after the pooling, dropout, a dense softmax output."""
    return [
        Reshape((2, 7, 7)),
        Conv2D(2, 3, (3, 3), activation=activation, flip=flip),
        MaxPool2D((2, 2)),
        Activate("relu"),
        Flatten(),
        dropout,
        Dense(12, 8, "tanh"),
        Dense(8, 4, "softmax"),
    ]


def run_both(layers, input_shape, dtype, seed=0, n=9):
    rng = np.random.default_rng(seed)
    params = [None if p is None else type(p)(*(np.asarray(a, dtype) for a in p))
              for p in chain.init_params(layers, rng, input_shape)]
    model = onnxexport.build_chain(layers, params, input_shape, dtype)
    onnx.checker.check_model(model, full_check=True)
    x = rng.normal(size=(n, *input_shape)).astype(dtype)
    want, _ = chain.forward(layers, params, x, xp=np)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    got = session.run(["output"], {"input": x})[0]
    assert got.dtype == want.dtype and got.shape == want.shape
    return float(np.max(np.abs(got - want)))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("flip", [False, True])
@pytest.mark.parametrize("dropout", [Dropout(0.5, inverted=False), Dropout(0.25), Dropout(0.0, inverted=False)],
                         ids=["book-scaling", "inverted", "p0"])
def test_a_conv_net_equals_its_forward(dtype, flip, dropout):
    assert run_both(network3_like(flip, dropout), (98,), dtype) <= TOLERANCE[dtype]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_activation_inside_the_convolution_and_image_input(dtype):
    layers = [Conv2D(1, 2, (2, 3), activation="sigmoid"), MaxPool2D((3, 2)), Flatten(), Dense(8, 3, "sigmoid")]
    assert run_both(layers, (1, 7, 6), dtype) <= TOLERANCE[dtype]


def test_the_book_scaling_matters():
    """The dropout's 1 - p at inference is in the graph: without it the outputs differ."""
    book = network3_like(False, Dropout(0.5, inverted=False))
    params = chain.init_params(book, np.random.default_rng(0), (98,))
    x = np.random.default_rng(1).normal(size=(4, 98))
    outputs = []
    for layers in (book, network3_like(False, Dropout(0.5))):
        model = onnxexport.build_chain(layers, params, (98,), "float64")
        ops = [node.op_type for node in model.graph.node]
        outputs.append(ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
                       .run(None, {"input": x})[0])
    assert ops.count("Mul") == 0 and np.max(np.abs(outputs[0] - outputs[1])) > 1e-3


def test_signature_and_layer_metadata():
    layers = [Conv2D(1, 2, (3, 3)), Flatten(), Dense(8, 3, "softmax")]
    params = chain.init_params(layers, np.random.default_rng(0), (1, 4, 4))
    model = onnxexport.build_chain(layers, params, (1, 4, 4), "float32")
    dims = lambda value: [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]  # noqa: E731
    assert dims(model.graph.input[0]) == ["N", 1, 4, 4] and dims(model.graph.output[0]) == ["N", 3]
    props = {p.key: p.value for p in model.metadata_props}
    assert '"type": "Conv2D"' in props["layers"] and props["onnx_opset"] == str(onnxexport.OPSET)


def test_a_softmax_convolution_is_refused():
    layers = [Conv2D(1, 2, (3, 3), activation="softmax"), Flatten(), Dense(8, 3)]
    params = chain.init_params(layers, np.random.default_rng(0), (1, 4, 4))
    with pytest.raises(ArgumentError, match="softmax"):
        onnxexport.build_chain(layers, params, (1, 4, 4), "float64")


def test_bad_arguments_are_refused():
    layers = [Flatten(), Dense(4, 2)]
    params = chain.init_params(layers, np.random.default_rng(0), (1, 2, 2))
    with pytest.raises(ArgumentError, match="one params entry per layer"):
        onnxexport.build_chain(layers, params[:1], (1, 2, 2), "float64")
    with pytest.raises(ArgumentError, match="float16"):
        onnxexport.build_chain(layers, params, (1, 2, 2), "float16")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_conv_network_exports_what_its_predict_proba_gives(tmp_path, dtype):
    """A Network of a conv Model (as a checkpoint loads one): Network.to_onnx
    exports the model's own layers, and ONNX Runtime gives its predict_proba."""
    import anynet
    from anynet.model.costs import LogLikelihoodCost
    from anynet.model.model import Model
    from anynet.xp.backend import get_backend

    layers = network3_like(True, Dropout(0.5, inverted=False))
    rng = np.random.default_rng(3)
    params = [p for p in chain.init_params(layers, rng, (98,)) if p is not None]
    backend = get_backend("numpy", None, dtype)
    model = Model(layers, cost=LogLikelihoodCost, backend=backend,
                  params=[p._replace(weight=backend.asarray(p.weight), bias=backend.asarray(p.bias)) for p in params])
    net = anynet.Network.from_model(model, seed=1)
    assert repr(net).startswith("Network(layers=[Reshape, Conv2D, MaxPool2D, Activate, Flatten, Dropout, Dense, Dense]")
    proto = onnx.load(str(net.to_onnx(tmp_path / "conv.onnx")))
    names = [i.name for i in proto.graph.initializer]
    assert [n for n in names if n.endswith(("weight", "bias"))] == [
        "layers.1.weight", "layers.1.bias", "layers.6.weight", "layers.6.bias", "layers.7.weight", "layers.7.bias"]
    props = {p.key: p.value for p in proto.metadata_props}
    assert "sizes" not in props and props["cost"] == "log-likelihood" and props["dtype"] == dtype
    assert json.loads(props["layers"]) == [json.loads(json.dumps(layer.config())) for layer in layers]
    x = rng.random((11, 98)).astype(dtype)
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    got, want = session.run(["output"], {"input": x})[0], net.predict_proba(x)
    assert got.dtype == want.dtype and got.shape == want.shape == (11, 4)
    assert float(np.max(np.abs(got - want))) <= TOLERANCE[dtype]
    assert np.array_equal(net.predict(x), np.argmax(want, axis=1))
