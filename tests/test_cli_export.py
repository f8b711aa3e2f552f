"""``anynet export RUN OUTPUT``: a run of ``anynet train --save`` (or any file
``anynet.load`` reads) as ONNX or safetensors, by OUTPUT's suffix; ONNX
Runtime's outputs equal ``predict_proba`` of the loaded run (tolerances as in
test_export_onnx.py: 1e-9 float64, 1e-5 float32)."""

from __future__ import annotations

import numpy as np
import pytest

import anynet
from anynet.cli import main
from anynet.io import onnxexport
from test_cli import TINY_ARGS, assert_user_error, run, tiny, tiny_checkpoint  # noqa: F401 (fixtures)

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")
pytest.importorskip("safetensors")


def onnx_outputs(path, x):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(["output"], {"input": x})[0]


@pytest.mark.parametrize("dtype,tolerance", [(None, 1e-9), ("float32", 1e-5)])
def test_export_a_training_run_to_onnx(tiny_checkpoint, capsys, tmp_path, dtype, tolerance):
    out_path = tmp_path / "model.onnx"
    status, out, err = run(capsys, ["export", str(tiny_checkpoint), str(out_path), *(["--dtype", dtype] if dtype else [])])
    assert status == 0 and err == ""
    dtype = dtype or "float64"
    assert out == (f"wrote {out_path}: ONNX, {dtype}, sizes [8, 6, 3], "
                   f"opset {onnxexport.OPSET}, input (N, 8) -> output (N, 3)\n")
    net = anynet.load(tiny_checkpoint, dtype=dtype)
    x = np.random.default_rng(0).random((17, 8)).astype(dtype)
    got, want = onnx_outputs(out_path, x), net.predict_proba(x)
    assert got.dtype == want.dtype and np.max(np.abs(got - want)) <= tolerance


def test_export_a_training_run_to_safetensors(tiny_checkpoint, capsys, tmp_path):
    out_path = tmp_path / "w.safetensors"
    status, out, err = run(capsys, ["export", str(tiny_checkpoint), str(out_path)])
    assert status == 0 and out.startswith(f"wrote {out_path}: safetensors, float64, sizes [8, 6, 3], 4 tensors")
    mine, theirs = anynet.load(tiny_checkpoint), anynet.load(out_path)
    assert all(np.array_equal(a, b) for a, b in zip(mine.weights + mine.biases, theirs.weights + theirs.biases))
    # and back again: a safetensors file is a RUN that export reads
    status, out, err = run(capsys, ["export", str(out_path), str(tmp_path / "again.onnx")])
    assert status == 0, err


@pytest.mark.parametrize("name", ["model.onnx", "w.safetensors"])
def test_another_file_is_not_replaced_without_overwrite(tiny_checkpoint, capsys, tmp_path, name):
    target = tmp_path / name
    target.write_bytes(b"precious")
    status, out, err = run(capsys, ["export", str(tiny_checkpoint), str(target)])
    assert_user_error(status, out, err, 1, str(target), "--overwrite")
    assert target.read_bytes() == b"precious"
    assert run(capsys, ["export", str(tiny_checkpoint), str(target), "--overwrite"])[0] == 0
    written = target.read_bytes()
    assert written != b"precious"
    assert run(capsys, ["export", str(tiny_checkpoint), str(target)])[0] == 0  # the same bytes: nothing to refuse
    assert target.read_bytes() == written


def test_user_errors_are_one_line(tiny_checkpoint, capsys, tmp_path):
    status, out, err = run(capsys, ["export", str(tiny_checkpoint), str(tmp_path / "model.pt")])
    assert_user_error(status, out, err, 1, "model.pt", ".onnx or .safetensors")
    damaged = tmp_path / "damaged.npz"
    damaged.write_bytes(tiny_checkpoint.read_bytes()[:-100])
    status, out, err = run(capsys, ["export", str(damaged), str(tmp_path / "model.onnx")])
    assert_user_error(status, out, err, 1, str(damaged))
    assert not (tmp_path / "model.onnx").exists()


def test_predict_and_export_a_conv_checkpoint(capsys, tmp_path):
    """A checkpoint of a conv net (its layer list recorded) works from the
    command line: predict gives predict_proba's classes, export writes both formats."""
    import csv

    from anynet.io import checkpoint
    from test_checkpoint_layers import conv_model

    model = conv_model()
    path = tmp_path / "conv.npz"
    checkpoint.save(model, path, seed=1)
    x = np.random.default_rng(0).random((5, 64))
    np.savetxt(tmp_path / "rows.csv", x, delimiter=",")
    status, out, err = run(capsys, ["predict", str(path), str(tmp_path / "rows.csv")])
    assert status == 0, err
    rows = list(csv.reader(out.splitlines()))
    assert [int(r[1]) for r in rows[1:]] == list(np.argmax(np.asarray(model.feedforward(x)), axis=1))
    status, out, err = run(capsys, ["export", str(path), str(tmp_path / "conv.onnx")])
    assert status == 0 and out == (f"wrote {tmp_path / 'conv.onnx'}: ONNX, float64, 8 layers, "
                                   f"opset {onnxexport.OPSET}, input (N, 64) -> output (N, 4)\n")
    assert np.max(np.abs(onnx_outputs(tmp_path / "conv.onnx", x) - np.asarray(model.feedforward(x)))) <= 1e-9
    status, out, err = run(capsys, ["export", str(path), str(tmp_path / "conv.safetensors")])
    assert status == 0 and out.endswith("8 layers, 6 tensors layers.1.weight ... layers.7.bias\n")
    assert np.array_equal(anynet.load(tmp_path / "conv.safetensors").predict_proba(x), anynet.load(path).predict_proba(x))
