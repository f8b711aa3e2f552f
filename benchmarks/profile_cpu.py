"""Profile of anynet's inner loop on the CPU.

Where anynet's time goes on the seed's workload ([784, 30, 10], mini-batch
10, 50,000 Fashion-MNIST images, NumPy backend).  The three fixes this
profile led to (a NaN/inf check without a full temporary, an SGD step with
one temporary, a NumPy fast path for take/sum behind the shim) are applied;
their measured gains, taken before they were, are kept in
``results/profile-cpu-before-fixes.txt``.

    python benchmarks/profile_cpu.py [--quick] [--out benchmarks/results]

Writes ``profile-cpu.txt``: (1) an anynet SGD call split into its data move
and, per mini-batch, gather / backprop / update, next to the hand-written
NumPy loop; (2) cProfile of one SGD call; (3) which namespace functions of the
inner loop are NumPy's own and what each costs per call.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import pstats
import time
from pathlib import Path

import array_api_compat
import numpy as np

import harness
from contestants import SEED, AnynetPrepare, AnynetSGD, NumpyLoop, Workload

SIZES, M, ETA = [784, 30, 10], 10, 3.0


def median_us(samples_ns, per):
    return harness.median(samples_ns) / per / 1e3


# -- (1) an SGD call, piece by piece --------------------------------------------------


def instrumented_epoch(work, net, x_dev, targets_dev):
    """Network._epoch's loop, with anynet's own backprop and SGD step, timing
    each piece with perf_counter_ns; returns ns totals."""
    from anynet import backprop as math
    from anynet.optimizers import SGD

    xp = net.backend.xp
    optimizer, clock = SGD(), time.perf_counter_ns
    weights, biases = list(net.weights), list(net.biases)
    totals = dict.fromkeys(("shuffle", "gather", "backprop", "update", "loop"), 0)
    start = clock()
    order = net.backend.asarray(np.random.default_rng(SEED).permutation(work.n), dtype=net.backend.index_dtype)
    totals["shuffle"] = clock() - start
    epoch_start = clock()
    for k in range(0, work.n, work.mini_batch_size):
        t0 = clock()
        idx = order[k : min(k + work.mini_batch_size, work.n)]
        x = xp.take(x_dev, idx, axis=0)
        y = xp.take(targets_dev, idx, axis=0)
        t1 = clock()
        nabla_b, nabla_w = math.backprop(weights, biases, x, y, activations=net.activations, cost=net.cost, xp=xp)
        t2 = clock()
        weights, biases, _ = optimizer.step(weights, biases, nabla_w, nabla_b, None, eta=work.eta, m=x.shape[0],
                                            reg=None, xp=xp)
        t3 = clock()
        totals["gather"] += t1 - t0
        totals["backprop"] += t2 - t1
        totals["update"] += t3 - t2
    totals["loop"] = clock() - epoch_start - totals["gather"] - totals["backprop"] - totals["update"]
    return totals


def breakdown(works, repeats, out):
    import anynet

    out.append("== 1. One SGD call, split (medians of interleaved rounds) ==\n")
    for dtype, work in works.items():
        full, prep, loop = AnynetSGD(work), AnynetPrepare(work), NumpyLoop(work)
        net = anynet.Network(SIZES, seed=SEED, dtype=dtype)
        x_dev = net.backend.asarray(work.X)
        targets_dev = net.backend.asarray(harness.one_hot(work.y, work.X.dtype))
        rows = {k: [] for k in ("sgd", "prepare", "numpy", "shuffle", "gather", "backprop", "update", "loop")}
        for _ in range(repeats):
            rows["sgd"].append(harness.time_once(full.reset, full.run) * 1e9)
            rows["prepare"].append(harness.time_once(prep.reset, prep.run) * 1e9)
            rows["numpy"].append(harness.time_once(loop.reset, loop.run) * 1e9)
            gc.collect()
            with np.errstate(over="ignore"):
                for key, value in instrumented_epoch(work, net, x_dev, targets_dev).items():
                    rows[key].append(value)
        batches = work.n // work.mini_batch_size
        sgd_ms, prep_ms = median_us(rows["sgd"], 1e3), median_us(rows["prepare"], 1e3)
        out.append(f"{dtype}: anynet SGD call {sgd_ms:.0f} ms = data move (SGD with 0 epochs) {prep_ms:.0f} ms "
                   f"+ epoch {sgd_ms - prep_ms:.0f} ms; hand-written NumPy loop {median_us(rows['numpy'], 1e3):.0f} ms "
                   f"= {median_us(rows['numpy'], batches):.1f} us per mini-batch")
        out.append(f"  anynet per mini-batch ({batches:,} batches), instrumented replica of Network._epoch:")
        for key in ("gather", "backprop", "update", "loop"):
            out.append(f"    {key:9s} {median_us(rows[key], batches):6.1f} us")
        total = sum(median_us(rows[k], batches) for k in ("gather", "backprop", "update", "loop"))
        out.append(f"    {'total':9s} {total:6.1f} us   (+ shuffle {median_us(rows['shuffle'], 1e3):.1f} ms per epoch)\n")


# -- (2) cProfile ----------------------------------------------------------------------


def profile_sgd(work, out):
    import anynet

    net = anynet.Network(SIZES, seed=SEED, dtype=work.dtype)
    profiler = cProfile.Profile()
    profiler.enable()
    net.SGD((work.X, work.y), 1, work.mini_batch_size, work.eta, verbose=False)
    profiler.disable()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(16)
    lines = [line for line in text.getvalue().splitlines() if line.strip()]
    out.append(f"== 2. cProfile of one SGD call ({work.dtype}; profiling inflates per-call costs) ==\n")
    out.extend(lines[2:])
    out.append("")


# -- (3) the namespace -------------------------------------------------------------------


def per_call_ns(function, repeats=5, calls=20_000):
    samples = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        for _ in range(calls):
            function()
        samples.append((time.perf_counter_ns() - start) / calls)
    return harness.median(samples)


def namespace_report(out):
    import anynet

    xp = anynet.Network(SIZES, seed=SEED).backend.xp
    rng = np.random.default_rng(0)
    X = rng.random((1000, 784))
    idx = rng.permutation(1000)[:10]
    delta = rng.random((10, 30))
    out.append(f"== 3. The namespace: {xp.__name__} (array-api-compat {array_api_compat.__version__}) ==\n")
    out.append(f"  {'what the inner loop calls':32s} {'is the xp function NumPy own?':50s} {'ns/call via xp':>14s} {'NumPy direct':>14s}")
    cases = [
        ("xp.take(X, idx, axis=0)", "take", lambda: xp.take(X, idx, axis=0), lambda: X.take(idx, axis=0)),
        ("xp.sum(delta, axis=0)", "sum", lambda: xp.sum(delta, axis=0), lambda: np.add.reduce(delta, 0)),
        ("xp.exp(-z)", "exp", lambda: xp.exp(delta), lambda: np.exp(delta)),
        ("xp.asarray(a, dtype=...)", "asarray", lambda: xp.asarray(delta, dtype=xp.float64), lambda: np.asarray(delta)),
        ("xp.astype(a, float64)", "astype", lambda: xp.astype(delta, xp.float64), lambda: delta.astype(np.float64, copy=False)),
    ]
    for label, name, via_xp, direct in cases:
        own = getattr(xp, name) is getattr(np, name, None)
        where = getattr(getattr(xp, name), "__module__", "?")
        out.append(f"  {label:32s} {('yes' if own else 'no, a wrapper in ' + where):50s} {per_call_ns(via_xp):14.0f} {per_call_ns(direct):14.0f}")
    out.append("  (`@`, `+`, `*`, `.T` are ndarray operators: no namespace in between.  NumPy direct = the method "
               "or ufunc.reduce that np.take / np.sum wrap in Python.)\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    parser.add_argument("--out", type=Path, default=harness.RESULTS)
    parser.add_argument("--threads", type=int, help="threads for NumPy's BLAS (default: its default)")
    args = parser.parse_args(argv)
    if args.threads:
        harness.set_threads(args.threads)
    repeats = 3 if args.quick else 7
    info = harness.machine_info()
    X, y, source = harness.load_training_data()
    works = {d: Workload(SIZES, M, ETA, d, X.astype(d), y) for d in ("float64", "float32")}
    out = [
        __doc__.split("\n")[0],
        f"machine: {info['cpu_model']}, {info['logical_cores']} logical cores, numpy {info['numpy']} "
        f"({info['numpy_blas']}, {info['blas_threads']} BLAS threads), array-api-compat {info['array_api_compat']}, "
        f"load average at start {info['load_average_at_start']}",
        f"data: {source}",
        f"workload: sizes {SIZES}, mini-batch {M}, eta {ETA}, 1 epoch; {repeats} rounds per measurement",
        f"command: python benchmarks/profile_cpu.py{' --quick' if args.quick else ''}"
        f"{f' --threads {args.threads}' if args.threads else ''}",
        "",
    ]
    with np.errstate(over="ignore"):
        breakdown(works, repeats, out)
        profile_sgd(works["float64"], out)
        namespace_report(out)
    text = "\n".join(out) + "\n"
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "profile-cpu.txt"
    path.write_text(text)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
