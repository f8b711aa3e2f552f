"""anynet against the seed's per-sample algorithm, a hand-written NumPy loop and
PyTorch eager, on the seed's workload, on this machine's CPU.

    python benchmarks/bench_cpu.py [--quick] [--threads N] [--out benchmarks/results]

Workload: 50,000 Fashion-MNIST training images (synthetic data of the same
shape when they are absent, and the output says so), sizes [784, 30, 10],
mini-batch 10, eta 3.0, one epoch, in float64 and in float32.  Every
contestant starts from anynet's initial weights for the same seed.  All
contestants of both dtypes are timed interleaved, round after round, and
reported as medians; ratios are ratios of medians (per-round paired ratios
are in the JSON).  Peak memory is measured afterwards, one fresh subprocess
per contestant.  Prints a table, writes ``cpu-<machine>.json`` and ``.png``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import harness
import numpy as np
from contestants import (
    AnynetPrepare,
    AnynetSGD,
    NumpyLoop,
    SeedSGD,
    TorchEager,
    Workload,
)

SIZES = [784, 30, 10]
MINI_BATCH = 10
ETA = 3.0
DTYPES = ("float64", "float32")
KINDS = ("anynet", "prepare", "seed", "numpy", "torch")
GOALS = {  # kind: (goal on median_kind / median_anynet, wording)
    "seed": (6.0, "anynet >= 6x faster than the seed's per-sample algorithm"),
    "torch": (3.0, "anynet >= 3x faster than PyTorch eager"),
    "numpy": (1 / 1.25, "anynet within 1.25x of the hand-written NumPy loop"),
}
AGREEMENT_SAMPLES = 2_000
QUICK_N = 10_000


def workloads(X64, y):
    return {dtype: Workload(SIZES, MINI_BATCH, ETA, dtype, X64.astype(dtype), y) for dtype in DTYPES}


def make(kind, work, seed_fraction):
    if kind == "anynet":
        return AnynetSGD(work)
    if kind == "prepare":
        return AnynetPrepare(work)
    if kind == "seed":
        return SeedSGD(work, seed_fraction)
    if kind == "numpy":
        return NumpyLoop(work)
    return TorchEager(work)


def kinds_for(dtype, has_torch):
    """The seed runs once, in float64: it is float64 whatever its data."""
    return [k for k in KINDS if (k != "seed" or dtype == "float64") and (k != "torch" or has_torch)]


def agreement(works, has_torch):
    """Train each contestant on the same first samples in the same order and
    compare its final weights with the NumPy loop's: proof that all compute
    the same thing.  Returns max |w - w_loop| / max |w_loop| per contestant."""
    order = np.random.default_rng(7).permutation(AGREEMENT_SAMPLES)
    result = {}
    for dtype, work in works.items():
        reference = NumpyLoop(work).train_in_order(order)
        others = {"anynet": AnynetSGD(work)}
        if dtype == "float64":
            others["seed"] = SeedSGD(work, 1.0 * AGREEMENT_SAMPLES / work.n)
        if has_torch:
            others["torch"] = TorchEager(work)
        for kind, contestant in others.items():
            weights = contestant.train_in_order(order)
            scale = max(float(np.max(np.abs(r))) for r in reference)
            diff = max(float(np.max(np.abs(np.asarray(w, dtype=np.float64) - r))) for w, r in zip(weights, reference))
            result[f"{kind}:{dtype}"] = diff / scale
    return result


def memory_child(key, n, seed_fraction):
    kind, dtype = key.split(":")
    threads, _ = harness.blas_threads()
    harness.set_torch_threads(threads)
    X, y, _ = harness.load_training_data(n)
    contestant = make(kind, workloads(X, y)[dtype], seed_fraction)
    contestant.reset()
    growth, method = harness.measure_peak_growth(contestant.run)
    print(json.dumps({"peak_rss_growth_mib": growth, "method": method}))


def summarise(times, scales):
    """Seconds per epoch (scaled for the seed), medians, and ratios to anynet."""
    per_epoch = {key: [t * scales.get(key, 1.0) for t in values] for key, values in times.items()}
    medians = {key: harness.median(values) for key, values in per_epoch.items()}
    ratios, paired, excl = {}, {}, {}
    for key, seconds in per_epoch.items():
        kind, dtype = key.split(":")
        anynet = f"anynet:{dtype}"
        if kind in ("anynet", "prepare"):
            continue
        # the seed runs in float64 only; the float32 anynet is compared with it too
        ratios[f"{kind}:{dtype}/anynet:{dtype}"] = medians[key] / medians[anynet]
        paired[f"{kind}:{dtype}/anynet:{dtype}"] = harness.median(harness.paired_ratios(seconds, per_epoch[anynet]))
        epoch_only = medians[anynet] - medians[f"prepare:{dtype}"]
        excl[f"{kind}:{dtype}/anynet-epoch-only:{dtype}"] = medians[key] / epoch_only
        if kind == "seed":
            ratios["seed:float64/anynet:float32"] = medians[key] / medians["anynet:float32"]
    return per_epoch, medians, ratios, paired, excl


def goal_lines(medians, ratios, paired, excl):
    lines = []
    for dtype in DTYPES:
        for kind, (goal, words) in GOALS.items():
            key = f"{kind}:{'float64' if kind == 'seed' else dtype}/anynet:{dtype}"
            if key not in ratios:
                lines.append((dtype, words, None, None, None, "absent"))
                continue
            value = ratios[key]
            epoch_only = excl.get(f"{kind}:{'float64' if kind == 'seed' else dtype}/anynet-epoch-only:{dtype}")
            if kind == "seed" and dtype == "float32":
                epoch_only = medians["seed:float64"] / (medians["anynet:float32"] - medians["prepare:float32"])
            shown = (lambda r: f"{1 / r:.2f}x the loop's time") if kind == "numpy" else (lambda r: f"{r:.1f}x faster")
            lines.append((dtype, words, shown(value), shown(paired.get(key, value)), shown(epoch_only),
                          "MET" if value >= goal else "MISSED"))
    return lines


def plot(fig, axes, medians, info, source, n):
    """Seconds per epoch of every contestant, one panel per dtype; returns the title."""
    labels = {"anynet": "anynet SGD", "prepare": "anynet data move", "seed": "seed per-sample (scaled)",
              "numpy": "NumPy loop", "torch": "PyTorch eager"}
    colours = {"anynet": "C0", "prepare": "C9", "seed": "C3", "numpy": "C2", "torch": "C1"}
    for ax, dtype in zip(axes, DTYPES):
        keys = [k for k in KINDS if f"{k}:{dtype}" in medians]
        values = [medians[f"{k}:{dtype}"] for k in keys]
        ax.barh([labels[k] for k in keys], values, color=[colours[k] for k in keys])
        for i, v in enumerate(values):
            ax.text(v, i, f" {v:.3g} s", va="center", fontsize=8)
        ax.set_xscale("log")
        ax.set_title(dtype)
        ax.invert_yaxis()
        ax.set_xlabel("seconds per epoch (median; log scale)")
    return (f"{SIZES}, mini-batch {MINI_BATCH}, {n:,} samples - {info['cpu_model']}, {info['logical_cores']} cores, "
            f"{info['blas_threads']} BLAS threads\n{source}")


def main(argv=None):
    parser = harness.arguments(__doc__, quick=f"a smoke run: {QUICK_N:,} images, 2 rounds, the seed on 1,000 samples")
    parser.add_argument("--repeats", type=int, help="interleaved rounds (default 7, quick 2)")
    parser.add_argument("--seed-samples", type=int, help="samples the seed trains on per timing (default 5,000, quick 1,000)")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--seed-fraction", type=float, help=argparse.SUPPRESS)
    args = harness.parse(parser, argv)
    n = args.n or (QUICK_N if args.quick else harness.N_TRAIN)
    repeats = args.repeats or (2 if args.quick else 7)
    seed_samples = args.seed_samples or (1_000 if args.quick else 5_000)
    seed_fraction = args.seed_fraction or seed_samples / n
    if args.memory_child:
        return memory_child(args.memory_child, n, seed_fraction)

    info = harness.machine_info(args)
    has_torch = harness.match_torch_threads(info)
    print(f"machine: {harness.describe(info)}" + (f" ({info['torch_threads']} torch threads)" if has_torch else ""))
    start = time.perf_counter()
    X64, y, source = harness.load_training_data(n)
    print(f"data: {source} (loaded in {time.perf_counter() - start:.1f} s)")
    works = workloads(X64, y)

    print(f"agreement: each contestant trains on the same {AGREEMENT_SAMPLES:,} samples in the same order ...")
    agree = agreement(works, has_torch)
    for key, value in agree.items():
        print(f"  {key:16s} max |w - w_numpy_loop| / max |w_numpy_loop| = {value:.1e}")

    contestants, scales = {}, {}
    for dtype, work in works.items():
        for kind in kinds_for(dtype, has_torch):
            contestant = make(kind, work, seed_fraction)
            contestants[f"{kind}:{dtype}"] = (contestant.reset, contestant.run)
            if kind == "seed":
                scales[f"seed:{dtype}"] = contestant.scale
                seed_timed = contestant.n_timed
    print(f"timing {len(contestants)} contestants, {repeats} interleaved rounds "
          f"(the seed on {seed_timed:,} of {n:,} samples, scaled x{n / seed_timed:g}) ...")
    times = harness.interleaved(contestants, repeats)
    per_epoch, medians, ratios, paired, excl = summarise(times, scales)

    memory = {}
    if not args.no_memory:
        print("peak memory, one fresh subprocess per contestant ...")
        for key in contestants:
            memory[key] = harness.memory_in_subprocess(
                Path(__file__), [key, "--n", n, "--seed-fraction", seed_fraction]
                + (["--threads", args.threads] if args.threads else [])
            )

    header = ["contestant"] + [f"{d} s/epoch" for d in DTYPES] + [f"{d} time/anynet" for d in DTYPES] + [
        f"{d} peak MiB" for d in DTYPES]
    labels = {"anynet": AnynetSGD.label, "prepare": AnynetPrepare.label, "seed": SeedSGD.label + " (scaled)",
              "numpy": NumpyLoop.label, "torch": TorchEager.label}
    rows = []
    for kind in KINDS:
        row = [labels[kind]]
        cells = {}
        for dtype in DTYPES:
            key = f"{kind}:{dtype}"
            if key in medians:
                ratio = "" if kind in ("anynet", "prepare") else f"{medians[key] / medians[f'anynet:{dtype}']:.2f}"
                mem = memory.get(key, {}).get("peak_rss_growth_mib")
                cells[dtype] = (f"{medians[key]:.3f}", ratio, "" if mem is None else f"{mem:.1f}")
            elif kind == "torch" and not has_torch:
                cells[dtype] = ("absent", "", "")
            else:
                cells[dtype] = ("(f64 only)", "", "")
        for i in range(3):
            row += [cells[d][i] for d in DTYPES]
        rows.append(row)
    print()
    print(harness.format_table(header, rows))
    print("time/anynet = median seconds of the contestant / median seconds of anynet SGD of the same dtype "
          "(> 1: anynet is faster)")
    print()
    lines = goal_lines(medians, ratios, paired, excl)
    print(harness.format_table(["dtype", "goal", "ratio of medians", "median paired ratio", "excl. data move", "status"],
                               [[c if c is not None else "" for c in line] for line in lines]))
    print("(float32: the seed is its float64 self; 'excl. data move' uses anynet SGD minus its 0-epoch SGD)")

    name = f"cpu-{harness.run_slug(info, args.threads, args.quick)}"
    payload = {
        "benchmark": "bench_cpu",
        "machine": info,
        "data": source,
        "workload": works["float64"].describe() | {"dtypes": list(DTYPES)},
        "seed_contestant": {
            "timed_samples": seed_timed,
            "scale_to_epoch": n / seed_timed,
            "note": "the seed trains on its first timed_samples samples (its own SGD: shuffle + mini-batches) and the "
                    "time is multiplied by scale_to_epoch; it runs in float64 only (its np.zeros accumulators "
                    "promote float32 weights), and float32 ratios against it use that float64 time",
        },
        "timing": {
            "repeats": repeats,
            "interleaved": "all contestants of both dtypes, one after another per round, the starting one rotating",
            "clock": "time.perf_counter around one epoch; parameters reset and gc.collect() before, untimed",
            "anynet_includes": "Network.SGD's validation of (X, y), one-hot targets and move to the device "
                               "('prepare' times SGD with 0 epochs alone)",
        },
        "contestants": {k: {"label": labels[k.split(":")[0]]} for k in contestants},
        "seconds_raw": times,
        "seconds_per_epoch": per_epoch,
        "median_seconds_per_epoch": medians,
        "ratios_of_medians": ratios,
        "median_paired_ratios": paired,
        "ratios_to_anynet_epoch_excluding_data_move": excl,
        "goals": [dict(zip(["dtype", "goal", "ratio", "paired", "excl_data_move", "status"], line)) for line in lines],
        "agreement_max_relative_weight_difference": agree,
        "peak_memory": {"method": next((m.get("method") for m in memory.values() if "method" in m), None),
                        "per_contestant_mib": {k: v.get("peak_rss_growth_mib", v.get("error")) for k, v in memory.items()}},
    }
    harness.save_results(args.out, name, payload, lambda fig, axes: plot(fig, axes, medians, info, source, n),
                         ncols=2, figsize=(11, 3.8), sharex=True)

if __name__ == "__main__":
    main()
