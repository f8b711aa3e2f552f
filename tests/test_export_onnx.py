"""ONNX export (``Network.to_onnx``): ONNX Runtime, an oracle anynet did not
write, runs the exported graph and must give ``predict_proba``'s numbers.

Tolerances: float32 1e-5 absolute, float64 1e-9 (the issue's bounds).  The
outputs here are at most a few units in size, and the two sides compute the
same formulas in a different order (ONNX Runtime's Gemm accumulates in its own
order, its sigmoid and tanh are its own kernels): a few units in the last
place of the dtype, ~1e-6 in float32 and ~1e-15 in float64, far inside the
bounds, while a wrong weight, bias, transpose or activation moves outputs by
~1e-1.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import anynet
from anynet.errors import ArgumentError, OutputPathError
from anynet.io import onnxexport, onnxlayers
from anynet.model.layers import chain
from anynet.model.activations import HIDDEN_ACTIVATIONS
from anynet.model.costs import QuadraticCost

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

TOLERANCE = {"float32": 1e-5, "float64": 1e-9}
# every output layer anynet trains: the quadratic cost's outputs and softmax (log-likelihood)
OUTPUTS = [(name, "quadratic") for name in QuadraticCost.output_activations] + [("softmax", "log-likelihood")]


def trained(hidden, output, cost, dtype, sizes=(6, 9, 7, 4), seed=0):
    net = anynet.Network(list(sizes), cost, activation=hidden, output_activation=output, dtype=dtype, seed=seed,
                         initializer="glorot")
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(40, sizes[0]))
    net.SGD((x, rng.integers(0, sizes[-1], 40)), 2, 10, 0.1, verbose=False)
    return net


def run_onnx(path, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["output"], {"input": x})[0]


def max_diff(net, path, n=25, seed=1):
    x = np.random.default_rng(seed).normal(size=(n, net.sizes[0])).astype(net.backend.dtype_name)
    got = run_onnx(path, x)
    want = net.predict_proba(x)
    assert got.dtype == want.dtype and got.shape == want.shape == (n, net.sizes[-1])
    return float(np.max(np.abs(got - want)))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("output,cost", OUTPUTS)
@pytest.mark.parametrize("hidden", HIDDEN_ACTIVATIONS)
def test_onnxruntime_equals_predict_proba(tmp_path, hidden, output, cost, dtype):
    net = trained(hidden, output, cost, dtype)
    path = net.to_onnx(tmp_path / "net.onnx")
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    assert max_diff(net, path) <= TOLERANCE[dtype]
    assert max_diff(net, path, n=1, seed=2) <= TOLERANCE[dtype]  # the batch dimension is dynamic


def test_each_hidden_layer_its_own_activation(tmp_path):
    net = anynet.Network([5, 8, 8, 8, 3], activation=["relu", "tanh", "sigmoid"], output_activation="softmax",
                         cost="log-likelihood", seed=3)
    path = net.to_onnx(tmp_path / "mixed.onnx")
    ops = [node.op_type for node in onnx.load(str(path)).graph.node]
    assert ops == ["Gemm", "Relu", "Gemm", "Tanh", "Gemm", "Sigmoid", "Gemm", "Softmax", "Identity"]
    assert max_diff(net, path) <= TOLERANCE["float64"]


def test_graph_signature_opset_and_metadata(tmp_path):
    net = trained("relu", "softmax", "log-likelihood", "float32", sizes=(6, 5, 3))
    net.classes = ["cat", "dog", "eel"]
    model = onnx.load(str(net.to_onnx(tmp_path / "m.onnx")))
    assert [(o.domain, o.version) for o in model.opset_import] == [("", onnxexport.OPSET)]
    assert model.ir_version == onnxexport.IR_VERSION
    (graph_input,), (graph_output,) = model.graph.input, model.graph.output
    dims = lambda value: [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]  # noqa: E731
    assert (graph_input.name, dims(graph_input)) == ("input", ["N", 6])
    assert (graph_output.name, dims(graph_output)) == ("output", ["N", 3])
    assert graph_input.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    props = {p.key: p.value for p in model.metadata_props}
    assert props["onnx_opset"] == str(onnxexport.OPSET) and f"opset {onnxexport.OPSET}" in model.doc_string
    assert props["sizes"] == "[6, 5, 3]" and props["activations"] == '["relu", "softmax"]'
    assert (props["cost"], props["dtype"], props["classes"]) == ("log-likelihood", "float32", '["cat", "dog", "eel"]')
    assert props["anynet_version"] == anynet.__version__


def test_an_existing_other_file_is_refused_unless_overwrite(tmp_path):
    path = tmp_path / "m.onnx"
    path.write_bytes(b"someone else's model")
    net = anynet.Network([3, 2], seed=0)
    with pytest.raises(OutputPathError, match="overwrite"):
        net.to_onnx(path)
    assert path.read_bytes() == b"someone else's model"
    net.to_onnx(path, overwrite=True)
    assert max_diff(net, path) <= TOLERANCE["float64"]
    net.to_onnx(path)  # the same bytes again: nothing to refuse
    anynet.Network([3, 2], seed=1).to_onnx(path, overwrite=True)
    assert max_diff(net, path) > 1e-3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]  # no temporary file left


def test_a_directory_or_missing_directory_is_refused(tmp_path):
    net = anynet.Network([3, 2], seed=0)
    with pytest.raises(OutputPathError, match="directory"):
        net.to_onnx(tmp_path)
    with pytest.raises(OutputPathError, match="does not exist"):
        net.to_onnx(tmp_path / "no" / "m.onnx")


def test_a_custom_activation_is_refused(tmp_path):
    class Cube(anynet.Sigmoid):  # under the sigmoid's name: exporting a Sigmoid node would be wrong
        def fn(self, z, *, xp):
            return z * z * z

    net = anynet.Network([3, 4, 2], activation=Cube(), seed=0)
    with pytest.raises(ArgumentError, match="custom activation Cube"):
        net.to_onnx(tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_nan_weights_are_not_exported(tmp_path):
    net = anynet.Network([3, 4, 2], seed=0)
    net.biases = [b.copy() for b in net.biases]
    net.biases[1][1, 0] = np.inf  # in place: the setter itself refuses inf
    with pytest.raises(anynet.errors.TrainingDiverged, match="layers.1.bias"):
        net.to_onnx(tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []


def test_every_activation_has_an_onnx_operator():
    from anynet.model.activations import ACTIVATIONS

    assert set(ACTIVATIONS) <= set(onnxlayers.ACTIVATION_OPS)


def test_the_exporter_is_keyed_by_layer_kind():
    """A new kind of layer is exported by one registered function: here a
    test-only scaling layer between two dense ones."""
    from anynet.model.layers import Activate

    class Halve(Activate):
        def forward(self, params, x, *, xp, train=False, mask=None, fuse=None):
            return 0.5 * x, None

    net = anynet.Network([4, 3, 2], seed=0, output_activation="relu")
    layers, params = onnxexport.dense_chain(net)
    layers.insert(1, Halve())
    params.insert(1, None)
    with pytest.raises(ArgumentError, match="cannot export a Halve layer"):
        onnxexport.build_chain(layers, params, (4,), "float64")

    @onnxlayers.emits("Halve")
    def emit_halve(graph, x, layer, p, index, shape):
        return graph.node("Mul", [x, graph.constant(f"layers.{index}.factor", 0.5)], f"layers.{index}.a")

    try:
        model = onnxexport.build_chain(layers, params, (4,), "float64")
    finally:
        del onnxlayers.EMITTERS["Halve"]
    x = np.random.default_rng(0).normal(size=(5, 4))
    want, _ = chain.forward(layers, params, x, xp=np)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"input": x})[0], want, rtol=0, atol=1e-12)


BLOCK_EXTRAS = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("onnx", "onnxruntime", "safetensors"):
            raise ImportError("No module named " + repr(name))
sys.meta_path.insert(0, Block())
import anynet
net = anynet.Network([3, 2], seed=0)
try:
    net.to_onnx(sys.argv[1] + "/m.onnx")
except anynet.AnynetError as exc:
    assert isinstance(exc, ImportError)
    print(exc)
net.save(sys.argv[1] + "/w.safetensors")  # anynet writes and reads safetensors itself
print(anynet.load(sys.argv[1] + "/w.safetensors").sizes)
"""


def test_without_the_extras_onnx_says_what_to_install(tmp_path):
    done = subprocess.run([sys.executable, "-c", BLOCK_EXTRAS, str(tmp_path)], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 2 and lines[1] == "[3, 2]"
    assert "pip install 'anynet-nndl[onnx]'" in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.safetensors"]
