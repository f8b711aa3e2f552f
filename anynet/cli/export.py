"""``anynet export``: a saved network as a file other programs read, ONNX
(``model.onnx``) or safetensors (``weights.safetensors``), told by the name's suffix."""

from __future__ import annotations

from pathlib import Path

from ..api.network_api import Network
from ..errors import ArgumentError
from ..io import checkpoint, onnxexport, safetensorsfile
from ..xp.backend import DTYPES

FORMATS = {".onnx": "ONNX", ".safetensors": "safetensors"}


def add_parsers(commands):
    export = commands.add_parser(
        "export", help="a saved network as ONNX (.onnx) or safetensors weights (.safetensors)",
        description="Write the network of RUN (a checkpoint of anynet train --save or Network.save, a network2.py "
                    "JSON file or safetensors weights: whatever anynet.load reads) to OUTPUT, as ONNX "
                    f"(opset {onnxexport.OPSET}; needs anynet-nndl[onnx]) or as safetensors weights "
                    "(needs anynet-nndl[safetensors]), by OUTPUT's suffix.",
    )
    export.add_argument("checkpoint", metavar="RUN", help="a checkpoint or saved network (what anynet.load reads)")
    export.add_argument("output", metavar="OUTPUT", help="model.onnx or weights.safetensors")
    export.add_argument("--dtype", choices=DTYPES, help="the exported dtype (default: the network's)")
    export.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists and holds something else")
    export.set_defaults(run=run_export)


def run_export(args) -> int:
    output = Path(args.output)
    kind = FORMATS.get(output.suffix.lower())
    if kind is None:
        raise ArgumentError(f"{output}: the output's name must end in .onnx or .safetensors, to say which format to write")
    found = checkpoint.read(args.checkpoint, dtype=args.dtype)
    model = found.model
    net = Network.from_model(model, seed=found.seed)
    net.classes = found.classes
    if kind == "ONNX":
        net.to_onnx(output, overwrite=args.overwrite)
        shape = ", ".join(map(str, model.input_shape))
        detail = f"opset {onnxexport.OPSET}, input (N, {shape}) -> output (N, {model.n_out})"
    else:
        safetensorsfile.save(model, output, seed=found.seed, classes=found.classes, overwrite=args.overwrite)
        index = safetensorsfile.tensor_indices(model.layers)
        detail = f"{2 * len(index)} tensors layers.{index[0]}.weight ... layers.{index[-1]}.bias"
    what = f"sizes {model.sizes}" if model.is_dense else f"{len(model.layers)} layers"
    print(f"wrote {output}: {kind}, {model.backend.dtype_name}, {what}, {detail}")
    return 0
