"""Many networks in one pass: ``anynet.sweep`` training K networks as one
stack, against K separate runs and one model: the ``sweep`` mode of
bench_scaling.py.

    python benchmarks/bench_scaling.py sweep [--quick] [--threads N] [--repeats R] [--target S] [--no-torch] [--out benchmarks/results]

The seed's workload ([784, 30, 10], sigmoid, quadratic cost, mini-batch 10,
eta 3.0, one epoch on Fashion-MNIST's first 50,000 training images) for K =
1, 4, 16, 64 networks with seeds 0..K-1, in float64 and float32, on NumPy
and (unless ``--no-torch``) on torch's CPU backend.  Three contestants per
point: ``anynet.sweep(sizes, data, 1, 10, 3.0, seeds=range(K))`` (the
stack), K runs of ``Network(sizes, seed=s).SGD(data, 1, 10, 3.0)`` one after
the other (separate; at K = 1 it is the one model) and one model
(``seed=0``).  Each point trains on the first n images, n sized so that the
K separate runs take about ``--target`` seconds (a whole number of
mini-batches, at most 50,000; probed with one model), and its times are
scaled to 50,000 images: points with n < 50,000 are sub-epoch timings, and
their smaller data (fewer distinct rows to gather from) can flatter the
stack, whose gathers are larger.  Rounds run every contestant of every point
once, the start rotating; medians, load average per round.  The first
round's networks check equality: the largest relative difference (max
|stack - separate| / max |separate| per layer) over all K networks, and
whether every bit agrees.  BLAS and torch get ``--threads`` threads (default
1).  ``--quick``: K = 1, 4, 16, 5,000 images at most, 2 rounds (< 1 min).
Writes ``scaling-sweep-<machine>.json`` and ``.png``.
"""

from __future__ import annotations

import gc
import os
import time

import harness
import numpy as np

SIZES = [784, 30, 10]
M = 10
ETA = 3.0
DTYPES = ("float64", "float32")
KS = (1, 4, 16, 64)
QUICK_KS = (1, 4, 16)
KINDS = ("stack", "separate", "one")
PROBE_IMAGES = 2_000
GOAL = {"K": 16, "max_multiple_of_one_model": 6.0, "min_speedup_over_separate": 2.7}


def train_one(X, y, seed, dtype, backend):
    """One ``Network(seed=seed).SGD`` epoch; returns the network."""
    import anynet

    net = anynet.Network(SIZES, seed=seed, dtype=dtype, backend=backend)
    net.SGD((X, y), 1, M, ETA, verbose=False)
    return net


def contestants(X, y, k, dtype, backend, keep):
    """name -> run() for one point; ``keep`` receives each one's trained networks."""
    import anynet

    def stack():
        keep["stack"] = anynet.sweep(SIZES, (X, y), 1, M, ETA, seeds=range(k), dtype=dtype, backend=backend)

    def separate():
        keep["separate"] = [train_one(X, y, s, dtype, backend) for s in range(k)]

    def one():
        keep["one"] = [train_one(X, y, 0, dtype, backend)]

    runs = {"stack": stack, "separate": separate, "one": one}
    if k == 1:  # one separate run is the one model
        del runs["separate"]
    return runs


def subset_size(X, y, k, dtype, backend, target, cap):
    """Images for about ``target`` seconds of K separate runs: a whole number
    of mini-batches, at least 100 of them, at most ``cap``."""
    n = min(PROBE_IMAGES, cap)
    seconds = min(harness.time_once(gc.collect, lambda: train_one(X[:n], y[:n], 0, dtype, backend))
                  for _ in range(2))
    wanted = target / (k * seconds / n)
    return int(min(cap, max(100 * M, wanted)) // M) * M


def equality(stacked, separate):
    """(largest relative difference over every network and layer, all bits equal)."""
    from anynet.api.crosscheck import rel_diff

    diffs, same = [], True
    for a, b in zip(stacked, separate, strict=True):
        for x, z in zip([*a.weights, *a.biases], [*b.weights, *b.biases], strict=True):
            x, z = a.backend.to_numpy(x), b.backend.to_numpy(z)
            diffs.append(rel_diff(x, z))
            same = same and x.dtype == z.dtype and x.tobytes() == z.tobytes()
    return max(diffs), same


def summarise(point, times):
    """The point's row: medians scaled to a 50,000-image epoch, multiples and speed-ups."""
    scale = harness.N_TRAIN / point["images"]
    times = dict(times)
    times.setdefault("separate", times["one"])
    epoch = {kind: harness.median(v) * scale for kind, v in times.items()}
    row = dict(point, seconds=times, scale_to_50k=scale, epoch_s=epoch,
               stack_over_one=epoch["stack"] / epoch["one"],
               speedup_over_separate=epoch["separate"] / epoch["stack"],
               paired_speedup_over_separate=harness.median(harness.paired_ratios(times["separate"], times["stack"])),
               paired_stack_over_one=harness.median(harness.paired_ratios(times["stack"], times["one"])))
    if point["k"] == GOAL["K"]:
        row["goal_met"] = (row["stack_over_one"] <= GOAL["max_multiple_of_one_model"]
                           and row["speedup_over_separate"] >= GOAL["min_speedup_over_separate"])
    return row


def table(rows):
    header = ["backend", "dtype", "K", "images", "stack s", "K separate s", "one model s", "stack / one",
              "speed-up vs separate", "max rel. diff", "bits equal"]
    lines = [[r["backend"], r["dtype"], r["k"], f"{r['images']:,}" + ("" if r["images"] == harness.N_TRAIN else "*"),
              f"{r['epoch_s']['stack']:.2f}", f"{r['epoch_s']['separate']:.2f}", f"{r['epoch_s']['one']:.3f}",
              f"{r['stack_over_one']:.1f}x", f"{r['speedup_over_separate']:.2f}x",
              f"{r['max_rel_diff']:.1e}", "yes" if r["bits_equal"] else "no"] for r in rows]
    return harness.format_table(header, lines)


def plot(fig, axes, rows, info, source):
    """Seconds per 50,000-image epoch against K, one column per dtype: the
    stack solid, K separate runs dashed, per backend.  Returns the title."""
    for column, dtype in enumerate(DTYPES):
        ax = axes[0][column]
        for colour, backend in enumerate(dict.fromkeys(r["backend"] for r in rows)):
            mine = [r for r in rows if r["dtype"] == dtype and r["backend"] == backend]
            ks = [r["k"] for r in mine]
            ax.plot(ks, [r["epoch_s"]["stack"] for r in mine], "o-", color=f"C{colour}",
                    label=f"{backend}: anynet.sweep, one stack")
            ax.plot(ks, [r["epoch_s"]["separate"] for r in mine], "s--", color=f"C{colour}",
                    label=f"{backend}: K separate Network.SGD runs")
            goal = [r for r in mine if r["k"] == GOAL["K"]]
            if goal:
                ax.plot([GOAL["K"]], [GOAL["max_multiple_of_one_model"] * goal[0]["epoch_s"]["one"]], "*",
                        color=f"C{colour}", markersize=12, label=f"{backend}: goal, 6x one model at K=16")
        ax.set(xscale="log", yscale="log", xlabel="K networks (seeds 0..K-1)",
               ylabel="seconds per 50,000-image epoch (median)", title=f"[784, 30, 10], mini-batch 10, {dtype}")
        ax.set_xticks(sorted({r["k"] for r in rows}), [str(k) for k in sorted({r["k"] for r in rows})])
        ax.legend()
    return (f"{info['cpu_model']}, {info['usable_cores']} usable cores, {info['blas_threads']} BLAS thread(s)\n"
            f"{source}; points below 50,000 images are sub-epoch timings scaled to 50,000")


def main(argv=None):
    parser = harness.arguments(__doc__, quick="a smoke run: K = 1, 4, 16, at most 5,000 images, 2 rounds (< 1 min)")
    parser.prog = "bench_scaling.py sweep"
    parser.add_argument("--repeats", type=int, help="interleaved rounds (default 4, quick 2)")
    parser.add_argument("--target", type=float, help="seconds of K separate runs per point (default 8, quick 0.3)")
    parser.add_argument("--no-torch", action="store_true", help="NumPy only")
    args = harness.parse(parser, argv)
    threads = args.threads or 1
    harness.set_threads(threads)
    repeats = args.repeats or (2 if args.quick else 4)
    target = args.target or (0.3 if args.quick else 8.0)
    cap = 5_000 if args.quick else harness.N_TRAIN
    ks = QUICK_KS if args.quick else KS
    info = harness.machine_info(args)
    backends = ["numpy"] + (["torch"] if not args.no_torch and harness.match_torch_threads(info) else [])
    X64, y, source = harness.load_training_data()
    data = {dtype: X64.astype(dtype) for dtype in DTYPES}
    del X64
    print(f"data: {source}; backends {', '.join(backends)}; {threads} BLAS thread(s); K = {list(ks)}; "
          f"target {target} s per point, {repeats} rounds; load average {info['load_average_at_start']}", flush=True)
    started = time.perf_counter()
    points, runs = [], {}
    for backend in backends:
        for dtype in DTYPES:
            for k in ks:
                n = subset_size(data[dtype], y, k, dtype, backend, target, cap)
                point = {"backend": backend, "dtype": dtype, "k": k, "images": n}
                keep = {}
                points.append((point, keep))
                for kind, run in contestants(data[dtype][:n], y[:n], k, dtype, backend, keep).items():
                    runs[(len(points) - 1, kind)] = run
                print(f"  {backend} {dtype} K={k}: {n:,} images", flush=True)
    times = {key: [] for key in runs}
    loads, names = [], list(runs)
    for round_ in range(repeats):
        loads.append(os.getloadavg())
        shift = round_ * len(names) // repeats
        for key in names[shift:] + names[:shift]:
            times[key].append(harness.time_once(gc.collect, runs[key]))
        rows = []
        for i, (point, keep) in enumerate(points):
            if round_ == 0:  # the first round's networks: then let them go
                point["max_rel_diff"], point["bits_equal"] = equality(keep["stack"], keep.get("separate", keep["one"]))
                keep.clear()
            rows.append(summarise(point, {kind: times[(i, kind)] for kind in KINDS if (i, kind) in times}))
        print(f"  round {round_ + 1}/{repeats} done, {time.perf_counter() - started:.0f} s, "
              f"load average {loads[-1]}", flush=True)
    elapsed = time.perf_counter() - started
    print()
    print(table(rows))
    print(f"* sub-epoch: trained on the first `images` images, scaled to 50,000.  Goal at K=16: stack <= 6x one "
          f"model and >= 2.7x faster than 16 separate runs.  {elapsed:.0f} s in all; load average at the end "
          f"{os.getloadavg()}")
    payload = {
        "benchmark": "bench_scaling sweep",
        "machine": info | {"load_average_at_end": os.getloadavg(), "load_average_per_round": loads},
        "data": source,
        "settings": {"sizes": SIZES, "mini_batch_size": M, "eta": ETA, "dtypes": DTYPES, "ks": ks,
                     "backends": backends, "repeats": repeats, "target_seconds_per_point": target, "goal": GOAL,
                     "note": "seconds = one epoch on the first `images` training images (raw, per round); epoch_s = "
                             "their median scaled to 50,000 images (sub-epoch timing where images < 50,000: the "
                             "smaller data set can flatter the stack's gathers); stack = anynet.sweep(seeds=range(K)), "
                             "separate = K Network(seed=s).SGD runs one after the other, one = seed 0 alone, each "
                             "including network construction and SGD's data checks; rounds interleave every "
                             "contestant of every point, start rotating; max_rel_diff and bits_equal compare the "
                             "first round's stacked networks with the separate ones (at K=1 with the one model)"},
        "elapsed_seconds": elapsed,
        "results": rows,
    }
    name = f"scaling-sweep-{harness.run_slug(info, threads, args.quick)}"
    harness.save_results(args.out, name, payload, lambda fig, axes: plot(fig, axes, rows, info, source),
                         nrows=1, ncols=len(DTYPES), figsize=(11, 5), squeeze=False)



if __name__ == "__main__":
    main()
