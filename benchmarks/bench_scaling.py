"""Time per training sample as the mini-batch and the hidden layer grow: anynet
against the hand-written NumPy loop and PyTorch eager, float64 and float32.

    python benchmarks/bench_scaling.py [--quick] [--threads N] [--out benchmarks/results]

Sweeps: mini-batch 1, 2, 4, ..., 1024 at [784, 30, 10]; hidden width 30, 100,
300, 1000, 4096 at mini-batch 10 and 128.  Each point trains one epoch on a
subset of the training images, sized so that the NumPy loop takes about
``--target`` seconds on it (a whole number of mini-batches, at most 50,000
images); every contestant trains on that same subset from the same initial
weights, interleaved, ``--repeats`` rounds, medians.  anynet's time includes
SGD's data move, which like the epoch is linear in the number of samples.
``--quick`` keeps the ends of each sweep (mini-batch 1 and 1024, width 30 and
4096 at mini-batch 10) and shortens every point.  Writes ``scaling-<machine>.json`` and ``.png`` (log-log).

Other modes, each in its own module (``--help`` after the mode name):

    python benchmarks/bench_scaling.py ranks [--quick] ...   epoch time on 1, 2, 4 MPI ranks (scaling_ranks.py)
    python benchmarks/bench_scaling.py sweep [--quick] ...   K networks as one anynet.sweep stack vs K runs (scaling_sweep.py)
"""

from __future__ import annotations

import importlib
import sys
import time

import harness
import numpy as np
from contestants import AnynetSGD, NumpyLoop, TorchEager, Workload

ETA = 3.0
DTYPES = ("float64", "float32")
BATCH_SIZES = [2**k for k in range(11)]
WIDTHS = [30, 100, 300, 1000, 4096]
WIDTH_BATCHES = [10, 128]
KINDS = ("anynet", "numpy", "torch")
MIN_BATCHES = 3
# mode -> the module whose main(argv) runs it; no mode: the sweeps of this file
MODES = {"ranks": "scaling_ranks", "sweep": "scaling_sweep"}


def points(quick=False):
    """(sweep, sizes, mini-batch) for every point of both sweeps; ``quick``:
    the ends of each sweep only."""
    batch_sizes = BATCH_SIZES[:: len(BATCH_SIZES) - 1] if quick else BATCH_SIZES
    widths = WIDTHS[:: len(WIDTHS) - 1] if quick else WIDTHS
    for m in batch_sizes:
        yield "batch", [784, 30, 10], m
    for m in WIDTH_BATCHES[:1] if quick else WIDTH_BATCHES:
        for width in widths:
            yield "width", [784, width, 10], m


def subset_size(X, y, sizes, m, dtype, target):
    """Samples for about ``target`` seconds of the NumPy loop: a whole number
    of mini-batches, at least MIN_BATCHES, at most all of X."""
    probe_n = min(len(y), m * max(MIN_BATCHES, 200 // m + 1))
    probe = NumpyLoop(Workload(sizes, m, ETA, dtype, X[:probe_n], y[:probe_n]))
    seconds = min(harness.time_once(probe.reset, probe.run) for _ in range(2))
    wanted = target / (seconds / probe_n)
    batches = int(min(len(y), max(MIN_BATCHES * m, wanted)) // m)
    return batches * m


def make(kind, work):
    return {"anynet": AnynetSGD, "numpy": NumpyLoop, "torch": TorchEager}[kind](work)


def plot(fig, axes, results, info, source):
    """Microseconds per sample over both sweeps, one column per dtype; returns the title."""
    colours = {"anynet": "C0", "numpy": "C2", "torch": "C1"}
    for column, dtype in enumerate(DTYPES):
        ax = axes[0][column]
        rows = [r for r in results if r["sweep"] == "batch" and r["dtype"] == dtype]
        for kind in KINDS:
            pairs = [(r["mini_batch_size"], r["median_us_per_sample"][kind]) for r in rows if kind in r["median_us_per_sample"]]
            if pairs:
                ax.plot(*zip(*pairs), "o-", color=colours[kind], label=kind)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("mini-batch size")
        ax.set_title(f"[784, 30, 10], {dtype}")
        ax = axes[1][column]
        for m, style in zip(WIDTH_BATCHES, ("o-", "s--")):
            rows = [r for r in results if r["sweep"] == "width" and r["dtype"] == dtype and r["mini_batch_size"] == m]
            for kind in KINDS:
                pairs = [(r["sizes"][1], r["median_us_per_sample"][kind]) for r in rows if kind in r["median_us_per_sample"]]
                if pairs:
                    ax.plot(*zip(*pairs), style, color=colours[kind], label=f"{kind}, mini-batch {m}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("hidden width")
        ax.set_title(f"[784, width, 10], {dtype}")
    for ax in axes.flat:
        ax.set_ylabel("microseconds per training sample (median)")
        ax.legend()
    return f"{info['cpu_model']}, {info['logical_cores']} cores, {info['blas_threads']} BLAS threads - {source}"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in MODES:
        return importlib.import_module(MODES[argv[0]]).main(argv[1:])
    return sweeps(argv)


def sweeps(argv):
    parser = harness.arguments(__doc__, quick="a smoke run: 0.03 s per point, 2 rounds, 2 points per sweep")
    parser.add_argument("--target", type=float, help="seconds of NumPy-loop training per point (default 0.4, quick 0.03)")
    parser.add_argument("--repeats", type=int, help="interleaved rounds per point (default 3, quick 2)")
    args = harness.parse(parser, argv)
    target = args.target or (0.03 if args.quick else 0.4)
    repeats = args.repeats or (2 if args.quick else 3)
    info = harness.machine_info(args)
    has_torch = harness.match_torch_threads(info)
    kinds = [k for k in KINDS if k != "torch" or has_torch]
    X64, y, source = harness.load_training_data()
    print(f"data: {source}; contestants: {', '.join(kinds)}{'' if has_torch else ' (torch absent)'}; "
          f"{info['blas_threads']} BLAS threads; target {target} s per point, {repeats} rounds")
    data = {dtype: X64.astype(dtype) for dtype in DTYPES}
    results = []
    header = ["sweep", "sizes", "m", "dtype", "samples"] + [f"{k} us/sample" for k in kinds] + [
        "anynet/numpy", *(["torch/anynet"] if has_torch else [])]
    rows = []
    started = time.perf_counter()
    for sweep, sizes, m in points(args.quick):
        for dtype in DTYPES:
            X = data[dtype]
            n = subset_size(X, y, sizes, m, dtype, target)
            work = Workload(sizes, m, ETA, dtype, X[:n], y[:n])
            contestants = {}
            for kind in kinds:
                contestant = make(kind, work)
                contestants[kind] = (contestant.reset, contestant.run)
            with np.errstate(over="ignore"):
                times = harness.interleaved(contestants, repeats, log=lambda line: None)
            us = {k: harness.median(v) / n * 1e6 for k, v in times.items()}
            results.append({"sweep": sweep, "sizes": sizes, "mini_batch_size": m, "dtype": dtype, "samples": n,
                            "seconds": times, "median_us_per_sample": us,
                            "anynet_over_numpy": us["anynet"] / us["numpy"],
                            "torch_over_anynet": us["torch"] / us["anynet"] if has_torch else None})
            row = [sweep, str(sizes), m, dtype, n] + [f"{us[k]:.2f}" for k in kinds] + [f"{us['anynet'] / us['numpy']:.2f}"]
            if has_torch:
                row.append(f"{us['torch'] / us['anynet']:.2f}")
            rows.append(row)
            print("  " + "  ".join(str(c) for c in row), flush=True)
    elapsed = time.perf_counter() - started
    print()
    print(harness.format_table(header, rows))
    print(f"anynet/numpy < 1.25 is the goal; torch/anynet > 1: anynet is faster.  {elapsed:.0f} s in all.")

    name = f"scaling-{harness.run_slug(info, args.threads, args.quick)}"
    payload = {
        "benchmark": "bench_scaling",
        "machine": info,
        "data": source,
        "settings": {"eta": ETA, "target_seconds_per_point": target, "repeats": repeats, "min_batches": MIN_BATCHES,
                     "note": "one epoch on the first `samples` training images; anynet includes SGD's data move; "
                             "medians of interleaved rounds"},
        "elapsed_seconds": elapsed,
        "results": results,
    }
    harness.save_results(args.out, name, payload, lambda fig, axes: plot(fig, axes, results, info, source),
                         nrows=2, ncols=2, figsize=(11, 8))


if __name__ == "__main__":
    main()
