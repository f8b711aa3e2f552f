"""Using a trained network: ``anynet evaluate`` and ``anynet predict``."""

from __future__ import annotations

import csv
import io
import sys

from ..io import checkpoint
from ..errors import ArgumentError
from ..io.files import check_output_path, write_atomically
from ..io.paths import check_distinct
from ..api.network_api import Network
from . import common, regression


def add_parsers(commands):
    evaluate = commands.add_parser("evaluate", help="accuracy of a saved network on a dataset's test split")
    evaluate.add_argument("checkpoint", metavar="FILE", help="a checkpoint written by anynet train --save (or network2.py)")
    evaluate.add_argument("--data", help="a dataset name or path (default: the data the run was trained on)")
    evaluate.add_argument("--label-column", "--target", dest="label_column", metavar="COLUMN",
                          help="the label (or regression target) column of a CSV file")
    common.add_where(evaluate, None)
    evaluate.add_argument("--quiet", action="store_true", help="no progress bars")
    evaluate.set_defaults(run=run_evaluate)

    predict = commands.add_parser(
        "predict", help="the predicted class of every input row or image, as CSV under a header: input (the image "
                        "file, or the row number), label, class (its name, where the data names its classes)")
    predict.add_argument("checkpoint", metavar="FILE", help="a checkpoint written by anynet train --save")
    predict.add_argument("inputs", metavar="INPUT", nargs="+",
                         help=".npy, .npz, .csv (features only) or image files (PNG, 28x28 greyscale), or a directory of images")
    predict.add_argument("--proba", action="store_true",
                         help="then one column per class: its probability with a softmax output layer, else the "
                              "output unit's activation (a sigmoid's outputs do not sum to 1: not probabilities)")
    predict.add_argument("--output", metavar="FILE", help="write the CSV lines to FILE instead of standard output")
    common.add_where(predict, None)
    predict.set_defaults(run=run_predict)


def _load(args):
    if args.backend == "jax" and args.dtype != "float32":
        common.enable_jax_x64()  # the checkpoint's dtype is float64 unless it says otherwise
    found = checkpoint.read(args.checkpoint, backend=args.backend, device=args.device, dtype=args.dtype)
    net = Network.from_model(found.model, seed=found.seed)
    net.classes, net.class_names = found.classes, found.class_names
    recorded = ((found.run or {}).get("extra") or {}).get("cli", {})
    return net, recorded


def run_evaluate(args) -> int:
    net, recorded = _load(args)
    name = args.data or recorded.get("data")
    if name is None:
        raise ArgumentError(f"{args.checkpoint} does not record its data: give --data")
    options = {"label_column": args.label_column or (recorded.get("label_column") if args.data is None else None)}
    if args.data is None:
        options["validation_split"] = recorded.get("validation_split")
    fits = _regressor(net)  # a network with a linear output was trained on a CSV file's real-valued column
    options["task"] = "regression" if fits else "classification"
    dataset = common.load_data(name, dtype=net.backend.dtype_name, progress=common.progress_wanted(args), **options)
    if not fits and dataset.n_inputs == net.model.n_in:  # labels through the network's classes, not the file's own
        from ..datasets.core import relabel  # here: importing datasets costs every command's start

        classes = net.classes if net.classes is not None else list(range(net.model.n_out))
        dataset = relabel(dataset, classes, str(name))
    common.check_fit(net.model, dataset, f"the checkpoint {args.checkpoint}")
    split, data = next((s, d) for s, d in (("test", dataset.test), ("validation", dataset.validation),
                                           ("training", dataset.train)) if d is not None)
    if fits:
        scores = regression.scores(net, net.to_device(data))
        print(f"{split} {regression.text(*scores)} on {dataset.name}, {net.backend}")
        return 0
    correct = net.evaluate(data)
    print(f"{split} accuracy {common.accuracy_text(correct, len(data[1]))} on {dataset.name}, {net.backend}")
    return 0


def _regressor(net) -> bool:
    """A regression network: a linear output layer (anynet train gives one to regression runs)."""
    return net.activations[-1].name == "linear"


def run_predict(args) -> int:
    from ..datasets import input_names, load_inputs

    if args.output is not None:
        check_distinct({f"--output {args.output}": args.output},  # neither the network nor an input is replaced
                       {f"the network ({args.checkpoint})": args.checkpoint,
                        **{f"an input ({name})": name for name in args.inputs}})
        check_output_path(args.output, "--output")
    net, _ = _load(args)
    inputs = args.inputs if len(args.inputs) > 1 else args.inputs[0]
    rows = load_inputs(inputs, dtype=net.backend.dtype_name)
    if rows.shape[1] != net.model.n_in:
        raise ArgumentError(f"{', '.join(args.inputs)}: rows of {rows.shape[1]} features, but the network takes {net.model.n_in}")
    outputs = net.predict_proba(rows)
    header, lines = predict_lines(net, input_names(inputs, len(rows)), outputs, proba=args.proba)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(lines)
    if args.proba and not _probabilities(net):
        print(f"anynet: note: the {net.activations[-1].name} output layer's activations are not probabilities "
              "(they need not sum to 1); a softmax output layer gives probabilities", file=sys.stderr)
    if args.output is None:
        sys.stdout.write(text.getvalue())
    else:
        write_atomically(args.output, lambda f: f.write(text.getvalue().encode("utf-8")))
    return 0


def predict_lines(net, names, outputs, *, proba):
    """The header and the rows of ``anynet predict``: input, label, class (with
    the network's class names), then with ``proba`` one column per class,
    ``probability NAME`` for a softmax output layer, else ``output NAME``."""
    if _regressor(net):  # the predicted value of each target, under the target's column name
        targets = net.classes if net.classes is not None else [f"output {k}" for k in range(net.model.n_out)]
        return ["input", *map(str, targets)], [[name, *(f"{v:.6g}" for v in row)] for name, row in zip(names, outputs)]
    labels = net.classes if net.classes is not None else list(range(net.model.n_out))
    names_of = net.class_names
    header = ["input", "label", *(["class"] if names_of is not None else [])]
    if proba:
        kind = "probability" if _probabilities(net) else "output"
        header += [f"{kind} {name}" for name in (names_of if names_of is not None else labels)]
    lines = []
    for name, row in zip(names, outputs):
        k = int(row.argmax())
        line = [name, labels[k], *([names_of[k]] if names_of is not None else [])]
        lines.append(line + [f"{p:.6g}" for p in row] if proba else line)
    return header, lines


def _probabilities(net) -> bool:
    """Only a softmax output layer's activations are probabilities (rows sum to 1)."""
    return net.model.layers[-1].act.name == "softmax"
