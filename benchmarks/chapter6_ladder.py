"""Chapter 6's ladder on Fashion-MNIST: the book's six network3.py runs, each
as the book's text writes it, through ``anynet.network3``.

    python benchmarks/chapter6_ladder.py [--epochs N,N,N,N,N,N] [--work DIR] [--pid-file FILE]
                                          [--quick] [--threads N] [--out benchmarks/results]

The data is Fashion-MNIST in the book's pickle layout (``data/mnist.pkl.gz``
under ``--work``: the first 50,000 training images train, the other 10,000
validate, the 10,000 test images test), and ``mnist_expanded.pkl.gz`` is
made from it by ``python -m anynet.expand_mnist`` run in ``src/`` as the book
runs its script (Python's ``random`` seeded with 0 first, so the shuffle is
the same every time).  Each run is the book's lines (RUNS below: only the
epoch count changes, where the CPU budget demands fewer than the book's) in
a fresh Python process in ``src/``, after ``numpy.random.seed(0)`` (the
book does not seed; its weights come from the global ``numpy.random``).  The
result of a run is what network3 prints last: the test accuracy at the epoch
of the best validation accuracy (the book's rule), and the run's time is the
child process's CPU time (user + system; pausing the process does not add
to it).  The JSON is written after every run (``chapter6-ladder-<machine>.json``),
so a budget that runs out keeps the finished runs.

``--quick`` runs every rung for one epoch on the first 1,000 training,
validation and test images (a smoke run; results not comparable).
``--only K,K`` runs those rungs (numbers from 1) and keeps the other rows
of the JSON already there.  ``--pid-file`` appends each child's process id to FILE (for whoever pauses
long runs).  The book's MNIST results of the same scripts (its chapter 6,
60 epochs, 40 for dropout) are stored beside each run as ``book_mnist``.
"""

from __future__ import annotations

import gzip
import json
import os
import pickle
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import harness

from anynet.datasets import load_dataset

HEADER = """\
import network3
from network3 import Network
from network3 import ConvPoolLayer, FullyConnectedLayer, SoftmaxLayer
from network3 import ReLU
training_data, validation_data, test_data = network3.load_data_shared()
mini_batch_size = 10
"""
EXPANDED = 'expanded_training_data, _, _ = network3.load_data_shared("../data/mnist_expanded.pkl.gz")\n'
CONV1 = """ConvPoolLayer(image_shape=(mini_batch_size, 1, 28, 28),
                      filter_shape=(20, 1, 5, 5),
                      poolsize=(2, 2){act}),"""
CONV2 = """ConvPoolLayer(image_shape=(mini_batch_size, 20, 12, 12),
                      filter_shape=(40, 20, 5, 5),
                      poolsize=(2, 2){act}),"""
RELU = ",\n                      activation_fn=ReLU"

# (name, the book's lines with {epochs}, the book's epochs, the book's MNIST test accuracy %)
RUNS = [
    ("fully connected", """net = Network([
        FullyConnectedLayer(n_in=784, n_out=100),
        SoftmaxLayer(n_in=100, n_out=10)], mini_batch_size)
net.SGD(training_data, {epochs}, mini_batch_size, 0.1, validation_data, test_data)
""", 60, 97.80),
    ("one conv-pool", f"""net = Network([
        {CONV1.format(act="")}
        FullyConnectedLayer(n_in=20*12*12, n_out=100),
        SoftmaxLayer(n_in=100, n_out=10)], mini_batch_size)
net.SGD(training_data, {{epochs}}, mini_batch_size, 0.1, validation_data, test_data)
""", 60, 98.78),
    ("two conv-pool", f"""net = Network([
        {CONV1.format(act="")}
        {CONV2.format(act="")}
        FullyConnectedLayer(n_in=40*4*4, n_out=100),
        SoftmaxLayer(n_in=100, n_out=10)], mini_batch_size)
net.SGD(training_data, {{epochs}}, mini_batch_size, 0.1, validation_data, test_data)
""", 60, 99.06),
    ("ReLU, lmbda 0.1", f"""net = Network([
        {CONV1.format(act=RELU)}
        {CONV2.format(act=RELU)}
        FullyConnectedLayer(n_in=40*4*4, n_out=100, activation_fn=ReLU),
        SoftmaxLayer(n_in=100, n_out=10)], mini_batch_size)
net.SGD(training_data, {{epochs}}, mini_batch_size, 0.03, validation_data, test_data, lmbda=0.1)
""", 60, 99.23),
    ("expanded data", EXPANDED + f"""net = Network([
        {CONV1.format(act=RELU)}
        {CONV2.format(act=RELU)}
        FullyConnectedLayer(n_in=40*4*4, n_out=100, activation_fn=ReLU),
        SoftmaxLayer(n_in=100, n_out=10)], mini_batch_size)
net.SGD(expanded_training_data, {{epochs}}, mini_batch_size, 0.03, validation_data, test_data, lmbda=0.1)
""", 60, 99.37),
    ("dropout, expanded data", EXPANDED + f"""net = Network([
        {CONV1.format(act=RELU)}
        {CONV2.format(act=RELU)}
        FullyConnectedLayer(
            n_in=40*4*4, n_out=1000, activation_fn=ReLU, p_dropout=0.5),
        FullyConnectedLayer(
            n_in=1000, n_out=1000, activation_fn=ReLU, p_dropout=0.5),
        SoftmaxLayer(n_in=1000, n_out=10, p_dropout=0.5)],
        mini_batch_size)
net.SGD(expanded_training_data, {{epochs}}, mini_batch_size, 0.03, validation_data, test_data)
""", 40, 99.60),
]
# What network3 prints last: "Corresponding test accuracy of X%"
CLOSING = re.compile(r"Best validation accuracy of ([\d.]+)% obtained at iteration (\d+)\n"
                     r"Corresponding test accuracy of ([\d.]+)%")
EPOCH = re.compile(r"Epoch (\d+): validation accuracy ([\d.]+)%")


def script(run, epochs) -> str:
    """The Python a run executes: network3 importable as the book imports it,
    numpy.random seeded, then the book's lines."""
    _, body, _, _ = run
    shim = "import sys, numpy\nfrom anynet import network3\nsys.modules['network3'] = network3\nnumpy.random.seed(0)\n"
    return shim + HEADER + body.format(epochs=epochs)


def write_data(work: Path, quick: bool) -> None:
    """``data/mnist.pkl.gz`` (Fashion-MNIST, the book's layout) and, from it,
    ``data/mnist_expanded.pkl.gz`` by the expand_mnist companion."""
    (work / "src").mkdir(parents=True, exist_ok=True)
    (work / "data").mkdir(exist_ok=True)
    source = work / "data" / "mnist.pkl.gz"
    if not source.exists():
        dataset = load_dataset("fashion-mnist", dtype="float32")
        splits = [dataset.train, dataset.validation, dataset.test]
        if quick:
            splits = [(x[:1000], y[:1000]) for x, y in splits]
        with gzip.open(source, "wb") as f:
            pickle.dump(tuple((np.ascontiguousarray(x), np.asarray(y, dtype=np.int64)) for x, y in splits), f,
                        protocol=2)
    subprocess.run([sys.executable, "-c", "import random; random.seed(0); from anynet.expand_mnist import expand; "
                    "expand()"], cwd=work / "src", check=True)


def run_one(run, epochs, work: Path, log: Path, pid_file):
    """One rung in a child process: its printed lines (to ``log``), CPU seconds, wall seconds."""
    began = time.perf_counter()
    with open(log, "w") as out:
        child = subprocess.Popen([sys.executable, "-c", script(run, epochs)], cwd=work / "src", stdout=out,
                                 stderr=subprocess.STDOUT)
        if pid_file is not None:
            with open(pid_file, "a") as f:
                f.write(f"{child.pid}\n")
        _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    text = log.read_text()
    if child.returncode != 0:
        raise SystemExit(f"{run[0]} failed (exit {child.returncode}); see {log}:\n{text[-2000:]}")
    return text, usage.ru_utime + usage.ru_stime, time.perf_counter() - began


def main(argv=None):
    parser = harness.arguments(__doc__, quick="each rung one epoch on 1,000 images (a smoke run)")
    parser.add_argument("--epochs", default="60,60,60,60,60,40",
                        help="epochs of the six runs, comma-separated (default: the book's)")
    parser.add_argument("--work", type=Path, default=Path("chapter6-work"),
                        help="folder for data/ and src/ (default ./chapter6-work)")
    parser.add_argument("--pid-file", type=Path, help="append each run's process id to this file")
    parser.add_argument("--only", help="run only these rungs (comma-separated numbers from 1)")
    args = harness.parse(parser, argv)
    epochs = [1] * len(RUNS) if args.quick else [int(e) for e in args.epochs.split(",")]
    if len(epochs) != len(RUNS) or min(epochs) < 1:
        parser.error(f"--epochs needs {len(RUNS)} positive numbers, not {args.epochs!r}")
    chosen = range(len(RUNS)) if not args.only else [int(k) - 1 for k in args.only.split(",")]
    info = harness.machine_info(args)
    print(harness.describe(info), flush=True)
    write_data(args.work, args.quick)
    stem = "chapter6-ladder-" + harness.run_slug(info, args.threads, args.quick)
    path = args.out / f"{stem}.json"
    # --only: the other runs' rows of an earlier run of this command are kept
    earlier = json.loads(path.read_text())["rows"] if args.only and path.exists() else []
    names = [run[0] for run in RUNS]
    rows = [row for row in earlier if row["run"] not in {names[k] for k in chosen}]
    for k in chosen:
        run = RUNS[k]
        text, cpu, wall = run_one(run, epochs[k], args.work, args.work / f"run{k + 1}.log", args.pid_file)
        closing = CLOSING.search(text)
        per_epoch = [float(v) for _, v in EPOCH.findall(text)]
        rows.append({"run": run[0], "epochs": epochs[k], "book_epochs": run[2], "book_mnist_test_percent": run[3],
                     "best_validation_percent": float(closing.group(1)), "best_iteration": int(closing.group(2)),
                     "best_epoch": per_epoch.index(max(per_epoch)),
                     "test_percent": float(closing.group(3)), "validation_per_epoch": per_epoch,
                     "cpu_seconds": cpu, "wall_seconds": wall, "script": script(run, epochs[k])})
        rows.sort(key=lambda row: names.index(row["run"]))
        print(f"{run[0]}: {epochs[k]} epochs, test {closing.group(3)}% at the best validation "
              f"{closing.group(1)}%; {cpu:.0f} CPU s ({wall:.0f} s wall)", flush=True)
        harness.save_json(path, {"benchmark": "chapter6_ladder", "machine": info, "quick": args.quick,
                                 "data": "Fashion-MNIST in mnist.pkl.gz's layout: 50,000 / 10,000 / 10,000",
                                 "rule": "test accuracy at the epoch of the best validation accuracy (network3's)",
                                 "time": "CPU seconds of the run's process (user + system)", "rows": rows})
    print(harness.format_table(["run", "epochs", "best val %", "test %", "CPU s", "book MNIST %"],
                               [[r["run"], r["epochs"], f"{r['best_validation_percent']:.2f}",
                                 f"{r['test_percent']:.2f}", f"{r['cpu_seconds']:.0f}",
                                 f"{r['book_mnist_test_percent']:.2f}"] for r in rows]))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
