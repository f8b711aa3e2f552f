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

One BLAS and torch thread on the CPU (bench_conv's settings, set as it is
imported).  Rounds are interleaved and each epoch starts from the same weights (an
untimed reset); reported: median seconds per epoch and each anynet
contestant's median per-round ratio to torch eager, and the final weights'
largest relative difference from torch eager's.  Writes
``conv-device-<device>-<machine>.json`` and ``.png``.
"""

from __future__ import annotations

import numpy as np

import harness
from bench_conv import ETA, M, SEED, arguments, initial_params, rel_diff, rows_and_repeats, torch_contestant
from bench_conv import layers as conv_layers


def layers():
    """bench_conv's network for rows of 784 values: a Reshape to (1, 28, 28) first."""
    from anynet.model.layers import Reshape

    return [Reshape((1, 28, 28)), *conv_layers()]


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
        return [net.backend.to_numpy(a) for w, b in zip(net.weights, net.biases) for a in (w, b)]  # torch's order

    return reset, run, result


def main(argv=None):
    parser = arguments(__doc__, repeats=5)
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    args = harness.parse(parser, argv)
    rows, repeats = rows_and_repeats(parser, args, repeats=5)
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda needs PyTorch with a CUDA device; --device cpu runs the CPU side")
    info = harness.machine_info(args)
    X, labels, data = harness.load_training_data(rows)
    X = np.ascontiguousarray(X, dtype=np.float32)
    drawn = initial_params(conv_layers())  # float32, the draws of bench_conv's (and of the Reshape-first) network
    start = [(p.weight, p.bias) for p in drawn if p is not None]
    torch_sync = torch.cuda.synchronize if args.device == "cuda" else (lambda: None)
    contestants = {}
    if args.device == "cuda":
        import cupy

        contestants["anynet cupy"] = anynet_contestant("cupy", "cuda:0", X, labels, start,
                                                       cupy.cuda.Device(0).synchronize)
    else:
        contestants["anynet numpy"] = anynet_contestant("numpy", None, X, labels, start, lambda: None)
    contestants["anynet torch"] = anynet_contestant("torch", args.device, X, labels, start, torch_sync)
    contestants["torch eager"] = torch_contestant(drawn, X.reshape(-1, 1, 28, 28), labels, device=args.device,
                                                  synchronize=torch_sync)
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
                         "final_weights_rel_diff": max(rel_diff(a, b) for a, b in zip(ours, reference))}
    print(harness.format_table(["contestant", "median s/epoch", "/ torch eager", "weights vs torch"],
                               [[name, f"{s['seconds']:.3f}", f"{s['ratio_to_torch_eager']:.2f}",
                                 f"{s['final_weights_rel_diff']:.1e}"] for name, s in summary.items()]))
    payload = {"benchmark": "bench_conv_device", "device": args.device, "machine": info, "data": data, "rows": rows,
               "mini_batch": M, "eta": ETA, "dtype": "float32", "rounds": repeats, "seconds": times,
               "summary": summary}
    stem = f"conv-device-{args.device}-" + harness.run_slug(info, args.threads, args.quick)
    harness.save_results(args.out, stem, payload, lambda fig, axes: _draw(axes, times, rows, args.device, info))


def _draw(axes, times, rows, device, info):
    for name, values in times.items():
        axes.plot(range(1, len(values) + 1), values, "o-", label=name)
    axes.set(xlabel="round", ylabel=f"seconds per epoch ({rows:,} rows)", title=f"one epoch on {device}")
    axes.set_ylim(bottom=0)
    axes.legend()
    return "the book's first conv net, mini-batch 10, float32\n" + harness.describe(info)


if __name__ == "__main__":
    main()
