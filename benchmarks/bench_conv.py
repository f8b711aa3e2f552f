"""The book's first conv net, one epoch: anynet's layers on NumPy against
PyTorch eager, one thread each, side by side (issue 18 item 4).

    python benchmarks/bench_conv.py [--quick] [--rows N] [--repeats R] [--threads N] [--out benchmarks/results]

Workload: chapter 6's first convolutional network, ConvPool 20x1x5x5 on
28x28 images (convolution, 2x2 max-pooling, sigmoid), fully connected
2880 -> 100 sigmoid, softmax 10 with the log-likelihood cost; plain SGD,
mini-batch 10, eta 0.1, float32.  Rows: the first 5,000 Fashion-MNIST
training images (synthetic data of the same shape where they are absent,
and the output says so), in file order, no shuffle: one epoch of 500
steps.  A step's work does not depend on the number of rows, so a 50,000-row
epoch takes ten times as long for both.

Contestants, from the same float32 weights:

* anynet NumPy: the step its training loop runs for these layers
  (``anynet.train.step.make_step``: backprop summed over the mini-batch,
  then the book's SGD update w - eta/m * sum);
* torch eager: ``F.conv2d``, ``F.max_pool2d``, ``torch.sigmoid``,
  ``F.linear``, ``F.cross_entropy`` (the mean over the mini-batch),
  ``loss.backward()`` and ``torch.optim.SGD(lr=eta)``.

Timing: rounds interleaved (numpy, torch; the starting contestant
alternates), each epoch preceded by an untimed reset to the initial weights
and gc.collect(); reported: median seconds per epoch of each and the median
of the per-round ratios numpy / torch (goal: <= 1.0), in wall-clock time and
in the process's CPU time (steadier on a shared machine).  One thread each:
threadpoolctl limits NumPy's BLAS, torch.set_num_threads(1).  Agreement: the
two epochs' final weights, max relative difference (float32 rounding
accumulated over the steps).  --quick: 1,000 rows, 3 rounds.  --threads N
gives both N threads instead of one.  Writes
``conv-<machine>.json`` and ``.png`` in the output folder.
"""

from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_variable] = "1"

import time

import harness
import numpy as np

M = 10
ETA = 0.1
SEED = 0
ROWS = 5_000
QUICK_ROWS = 1_000


def layers():
    from anynet.model.layers import Activate, Conv2D, Dense, Flatten, MaxPool2D

    return [Conv2D(1, 20, (5, 5)), MaxPool2D((2, 2)), Activate("sigmoid"), Flatten(),
            Dense(2880, 100, "sigmoid"), Dense(100, 10, "softmax")]


def initial_params(net):
    """float32 host parameters, one Params or None per layer, from a seeded generator."""
    from anynet.model.layers import Params, chain

    drawn = chain.init_params(net, np.random.default_rng(SEED), (1, 28, 28))
    return [None if p is None else Params(*(np.asarray(a, dtype=np.float32) for a in p)) for p in drawn]


def numpy_contestant(net, start, X, Y):
    """``(reset, run, result)`` for anynet's layers on NumPy: the step the
    training loop runs (``anynet.train.step.make_step``: backprop of the
    layers, bound once, then the book's SGD update), over the rows in file order."""
    from anynet.model.costs import LogLikelihoodCost
    from anynet.model.layers import Params
    from anynet.model.optimizers import SGD
    from anynet.train.step import make_step
    from anynet.xp.backend import get_backend

    from anynet.model.layers import Reshape

    xp = get_backend("numpy", None, "float32").xp
    optimizer = SGD()
    # the loop feeds rows, as Network's layers take them: flat, reshaped to images by the first layer
    step = make_step(layers=[Reshape(X.shape[1:]), *net], cost=LogLikelihoodCost, optimizer=optimizer, reg=None, xp=xp)
    X = np.ascontiguousarray(X.reshape(len(X), -1))
    state = {}

    def reset():
        state["params"] = [Params(p.weight.copy(), p.bias.copy()) for p in start if p is not None]
        state["optimizer"] = optimizer.init(state["params"], xp=xp)

    def run():
        params, opt_state = state["params"], state["optimizer"]
        for first in range(0, len(X), M):
            params, opt_state = step(params, opt_state, X[first:first + M], Y[first:first + M], ETA)
        state["params"], state["optimizer"] = params, opt_state

    def result():
        return [np.asarray(a) for p in state["params"] for a in p]

    return reset, run, result


def torch_contestant(start, X, labels, *, device="cpu", synchronize=lambda: None):
    """``(reset, run, result)`` for torch eager on ``device`` (``synchronize``
    waits for it), in file order; ``start`` in the layers' shapes (Dense
    biases (out, 1)), ``X`` images (n, 1, 28, 28)."""
    import torch
    import torch.nn.functional as F

    host = [a for p in start if p is not None for a in p]
    tX, tlabels = torch.from_numpy(X).to(device), torch.from_numpy(labels).to(device)
    state = {}

    def reset():
        tensors = [torch.tensor(a.reshape(-1) if i in (3, 5) else a, device=device, requires_grad=True)
                   for i, a in enumerate(host)]
        state["tensors"] = tensors
        state["optimizer"] = torch.optim.SGD(tensors, lr=ETA)
        synchronize()

    def run():
        w1, b1, w2, b2, w3, b3 = state["tensors"]
        optimizer = state["optimizer"]
        for first in range(0, len(tX), M):
            x, y = tX[first:first + M], tlabels[first:first + M]
            optimizer.zero_grad()
            a = torch.sigmoid(F.max_pool2d(F.conv2d(x, w1, b1), 2)).reshape(len(x), -1)
            a = torch.sigmoid(F.linear(a, w2, b2))
            loss = F.cross_entropy(F.linear(a, w3, b3), y)
            loss.backward()
            optimizer.step()
        synchronize()

    def result():
        return [t.detach().cpu().numpy().reshape(a.shape) for t, a in zip(state["tensors"], host)]

    return reset, run, result


def arguments(doc, repeats):
    """The parser of a conv benchmark: harness's options, ``--rows`` and
    ``--repeats`` (default ``repeats``; --quick 3)."""
    parser = harness.arguments(doc, quick=f"{QUICK_ROWS:,} rows, 3 rounds")
    parser.add_argument("--rows", type=int, help=f"rows in the epoch (default {ROWS:,}; a multiple of {M})")
    parser.add_argument("--repeats", type=int, help=f"rounds (default {repeats}; --quick 3)")
    return parser


def rows_and_repeats(parser, args, repeats) -> tuple[int, int]:
    """``(rows, repeats)`` from the parsed ``args`` of :func:`arguments`; rows
    that are not a positive multiple of the mini-batch are a usage error."""
    rows = args.rows or (QUICK_ROWS if args.quick else ROWS)
    if rows < M or rows % M:
        parser.error(f"--rows must be a positive multiple of {M}, not {rows}")
    return rows, args.repeats or (3 if args.quick else repeats)


def main(argv=None):
    parser = arguments(__doc__, repeats=7)
    args = harness.parse(parser, argv)
    rows, repeats = rows_and_repeats(parser, args, repeats=7)

    from threadpoolctl import threadpool_limits
    import torch

    threads = args.threads or 1
    threadpool_limits(threads)
    torch.set_num_threads(threads)
    info = harness.machine_info(args)
    info["torch_threads"] = torch.get_num_threads()
    X, labels, data = harness.load_training_data(rows)
    X = np.ascontiguousarray(X.reshape(-1, 1, 28, 28), dtype=np.float32)
    Y = harness.one_hot(labels, np.float32)
    print(f"{harness.describe(info)}\n{data}; {rows:,} rows, mini-batch {M}, eta {ETA}, float32, {repeats} rounds")

    net = layers()
    start = initial_params(net)
    contestants = {"numpy": numpy_contestant(net, start, X, Y), "torch": torch_contestant(start, X, labels)}
    for reset, run, _ in contestants.values():  # warm-up: first-call costs (index arrays, allocator) untimed
        reset()
        run()
    cpu = {name: [] for name in contestants}
    times = harness.interleaved({name: (c[0], _cpu_timed(c[1], cpu[name])) for name, c in contestants.items()},
                                repeats)
    ratios = harness.paired_ratios(times["numpy"], times["torch"])
    cpu_ratios = harness.paired_ratios(cpu["numpy"], cpu["torch"])
    agreement = max(rel_diff(a, b) for a, b in zip(contestants["numpy"][2](), contestants["torch"][2]()))
    summary = {
        "numpy_seconds": harness.median(times["numpy"]),
        "torch_seconds": harness.median(times["torch"]),
        "ratio_numpy_over_torch": harness.median(ratios),
        "numpy_cpu_seconds": harness.median(cpu["numpy"]),
        "torch_cpu_seconds": harness.median(cpu["torch"]),
        "cpu_ratio_numpy_over_torch": harness.median(cpu_ratios),
        "goal": "NumPy's epoch no slower than torch eager's (ratio <= 1.0)",
        "final_weights_rel_diff": agreement,
    }
    summary["goal_met"] = summary["ratio_numpy_over_torch"] <= 1.0
    print(harness.format_table(["contestant", "median s/epoch", f"ms/step ({rows // M} steps)"],
                               [[name, f"{summary[f'{name}_seconds']:.3f}",
                                 f"{1e3 * summary[f'{name}_seconds'] / (rows // M):.2f}"] for name in times]))
    print(f"numpy / torch: median of per-round ratios {summary['ratio_numpy_over_torch']:.3f} "
          f"(rounds {', '.join(f'{r:.2f}' for r in ratios)}); goal <= 1.0: {'met' if summary['goal_met'] else 'NOT met'}")
    print(f"numpy / torch in CPU time: median ratio {summary['cpu_ratio_numpy_over_torch']:.3f} "
          f"(numpy {summary['numpy_cpu_seconds']:.3f} s, torch {summary['torch_cpu_seconds']:.3f} s)")
    print(f"final weights, numpy vs torch: max relative difference {agreement:.1e}")
    payload = {"benchmark": "bench_conv", "machine": info, "data": data, "rows": rows, "mini_batch": M, "eta": ETA,
               "dtype": "float32", "network": [layer.config() for layer in net], "rounds": repeats,
               "seconds": times, "ratios": ratios, "cpu_seconds": cpu, "cpu_ratios": cpu_ratios,
               "summary": summary}
    stem = "conv-" + harness.run_slug(info, threads, args.quick)
    harness.save_results(args.out, stem, payload, lambda fig, axes: _draw(axes, times, ratios, cpu_ratios, rows, info),
                         ncols=2, figsize=(10, 4))


def _cpu_timed(run, record):
    """``run`` that also appends the CPU seconds it took to ``record``."""
    def timed():
        start = time.process_time()
        run()
        record.append(time.process_time() - start)
    return timed


def rel_diff(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), np.finfo(np.float64).tiny))


def _draw(axes, times, ratios, cpu_ratios, rows, info):
    left, right = axes
    for name, values in times.items():
        left.plot(range(1, len(values) + 1), values, "o-", label=name)
    left.set(xlabel="round", ylabel=f"seconds per epoch ({rows:,} rows)", title="one epoch, one thread")
    left.legend()
    right.plot(range(1, len(ratios) + 1), ratios, "o-", color="k", label="wall-clock time")
    right.plot(range(1, len(cpu_ratios) + 1), cpu_ratios, "s--", color="grey", label="CPU time")
    right.axhline(1.0, color="r", linestyle="--", label="goal: numpy no slower than torch")
    right.set(xlabel="round", ylabel="numpy / torch", title="paired ratio per round")
    right.legend()
    return "the book's first conv net, mini-batch 10, float32\n" + harness.describe(info)


if __name__ == "__main__":
    main()
