"""The book's first conv net through anynet.Network on a device, against
PyTorch eager on the same device: the conv-net rows of the GPU check
(issue 18 item 4).

    python benchmarks/bench_conv_device.py [--device cuda|cpu] [--quick] [--rows N] [--repeats R] [--out DIR]

Workload: as benchmarks/bench_conv.py (ConvPool 20x1x5x5 on 28x28, sigmoid;
fully connected 2880 -> 100 sigmoid; softmax 10, log-likelihood; plain SGD,
mini-batch 10, eta 0.1, float32, no shuffle), but trained by the library
itself: ``anynet.Network(layers, "log-likelihood", backend=...,
device=...).train`` (SGD's loop, in file order) on data moved to the device once.  Contestants, from the
same float32 weights:

* ``--device cuda``: anynet on CuPy (cuda:0), anynet on torch (cuda), and
  torch eager (``F.conv2d``, ``F.max_pool2d``, autograd, ``optim.SGD``) on
  cuda; the device is synchronised before a round's clock stops;
* ``--device cpu`` (where there is no GPU: the CPU side of the same code):
  anynet on NumPy, anynet on torch (cpu), torch eager on cpu.

Rounds are interleaved and each epoch starts from the same weights (an
untimed reset); reported: median seconds per epoch and each anynet
contestant's median per-round ratio to torch eager, and the final weights'
largest relative difference from torch eager's.  Writes
``conv-device-<device>-<machine>.json`` and ``.png``.
"""

from __future__ import annotations

import numpy as np

import harness

M = 10
ETA = 0.1
SEED = 0
ROWS = 5_000
QUICK_ROWS = 1_000


def layers():
    from anynet.model.layers import Activate, Conv2D, Dense, Flatten, MaxPool2D, Reshape

    return [Reshape((1, 28, 28)), Conv2D(1, 20, (5, 5)), MaxPool2D((2, 2)), Activate("sigmoid"), Flatten(),
            Dense(2880, 100, "sigmoid"), Dense(100, 10, "softmax")]


def anynet_contestant(backend, device, X, labels, start, synchronize):
    """``(reset, run, result)``: one epoch of Network.SGD on device data."""
    import anynet

    net = anynet.Network(layers(), "log-likelihood", backend=backend, device=device, dtype="float32", seed=SEED)
    data = net.to_device((X, labels))
    config = anynet.TrainConfig(1, M, ETA, shuffle=False)  # file order, as the torch loop walks it

    def reset():
        net.weights, net.biases = [w for w, _ in start], [b for _, b in start]
        synchronize()

    def run():
        net.train(data, config)
        synchronize()

    def result():
        return [net.backend.to_numpy(a) for w, b in zip(net.weights, net.biases) for a in (w, b)]

    return reset, run, result


def torch_contestant(device, X, labels, start, synchronize):
    """``(reset, run, result)`` for torch eager on ``device``, in file order."""
    import torch
    import torch.nn.functional as F

    tX = torch.from_numpy(X.reshape(-1, 1, 28, 28)).to(device)
    tlabels = torch.from_numpy(labels).to(device)
    state = {}

    def reset():
        tensors = []
        for w, b in start:
            tensors += [torch.tensor(w, device=device, requires_grad=True),
                        torch.tensor(b.reshape(-1), device=device, requires_grad=True)]
        state["tensors"], state["optimizer"] = tensors, torch.optim.SGD(tensors, lr=ETA)
        synchronize()

    def run():
        w1, b1, w2, b2, w3, b3 = state["tensors"]
        for first in range(0, len(tX), M):
            x, y = tX[first:first + M], tlabels[first:first + M]
            state["optimizer"].zero_grad()
            a = torch.sigmoid(F.max_pool2d(F.conv2d(x, w1, b1), 2)).reshape(len(x), -1)
            a = torch.sigmoid(F.linear(a, w2, b2))
            F.cross_entropy(F.linear(a, w3, b3), y).backward()
            state["optimizer"].step()
        synchronize()

    def result():
        return [t.detach().cpu().numpy() for t in state["tensors"]]

    return reset, run, result


def main(argv=None):
    parser = harness.arguments(__doc__, quick=f"{QUICK_ROWS:,} rows, 3 rounds")
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--rows", type=int, help=f"rows in the epoch (default {ROWS:,}; a multiple of {M})")
    parser.add_argument("--repeats", type=int, help="rounds (default 5; --quick 3)")
    args = harness.parse(parser, argv)
    rows = args.rows or (QUICK_ROWS if args.quick else ROWS)
    repeats = args.repeats or (3 if args.quick else 5)
    if rows < M or rows % M:
        parser.error(f"--rows must be a positive multiple of {M}, not {rows}")
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda needs PyTorch with a CUDA device; --device cpu runs the CPU side")
    info = harness.machine_info(args)
    X, labels, data = harness.load_training_data(rows)
    X = np.ascontiguousarray(X, dtype=np.float32)
    from anynet.model.layers import chain

    drawn = chain.init_params(layers(), np.random.default_rng(SEED), (784,))
    start = [(np.asarray(p.weight, np.float32), np.asarray(p.bias, np.float32)) for p in drawn if p is not None]
    torch_sync = torch.cuda.synchronize if args.device == "cuda" else (lambda: None)
    contestants = {}
    if args.device == "cuda":
        import cupy

        contestants["anynet cupy"] = anynet_contestant("cupy", "cuda:0", X, labels, start,
                                                       cupy.cuda.Device(0).synchronize)
    else:
        contestants["anynet numpy"] = anynet_contestant("numpy", None, X, labels, start, lambda: None)
    contestants["anynet torch"] = anynet_contestant("torch", args.device, X, labels, start, torch_sync)
    contestants["torch eager"] = torch_contestant(args.device, X, labels, start, torch_sync)
    print(f"{harness.describe(info)}\n{data}; {rows:,} rows, mini-batch {M}, eta {ETA}, float32, {repeats} rounds, "
          f"device {args.device}")
    for reset, run, _ in contestants.values():  # warm-up: first-call costs untimed
        reset()
        run()
    times = harness.interleaved({name: (c[0], c[1]) for name, c in contestants.items()}, repeats)
    reference = contestants["torch eager"][2]()
    summary = {}
    for name in contestants:
        ratios = harness.paired_ratios(times[name], times["torch eager"])
        ours = contestants[name][2]()
        summary[name] = {"seconds": harness.median(times[name]), "ratio_to_torch_eager": harness.median(ratios),
                         "final_weights_rel_diff": max(_rel_diff(a, b) for a, b in zip(ours, reference))}
    print(harness.format_table(["contestant", "median s/epoch", "/ torch eager", "weights vs torch"],
                               [[name, f"{s['seconds']:.3f}", f"{s['ratio_to_torch_eager']:.2f}",
                                 f"{s['final_weights_rel_diff']:.1e}"] for name, s in summary.items()]))
    payload = {"benchmark": "bench_conv_device", "device": args.device, "machine": info, "data": data, "rows": rows,
               "mini_batch": M, "eta": ETA, "dtype": "float32", "rounds": repeats, "seconds": times,
               "summary": summary}
    stem = f"conv-device-{args.device}-" + harness.run_slug(info, args.threads, args.quick)
    harness.save_results(args.out, stem, payload, lambda fig, axes: _draw(axes, times, rows, args.device, info))


def _rel_diff(a, b):
    a, b = np.asarray(a, np.float64).reshape(-1), np.asarray(b, np.float64).reshape(-1)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), np.finfo(np.float64).tiny))


def _draw(axes, times, rows, device, info):
    for name, values in times.items():
        axes.plot(range(1, len(values) + 1), values, "o-", label=name)
    axes.set(xlabel="round", ylabel=f"seconds per epoch ({rows:,} rows)", title=f"one epoch on {device}")
    axes.set_ylim(bottom=0)
    axes.legend()
    return "the book's first conv net, mini-batch 10, float32\n" + harness.describe(info)


if __name__ == "__main__":
    main()
