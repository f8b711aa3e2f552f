"""Profile of anynet's training loop on the CPU.

Where anynet's time goes on the seed's workload ([784, 30, 10], mini-batch
10, 50,000 Fashion-MNIST images, NumPy backend), measured on the real path:
``Network.SGD`` and, below it, ``anynet.train.fit.fit`` and ``anynet.train.engine``'s
epoch of steps.  The three fixes an earlier profile led to (a NaN/inf check
without a full temporary, an SGD step with one temporary, a NumPy fast path
for take/sum behind the shim) are applied; their measured gains, taken before
they were, are kept in ``results/profile-cpu-before-fixes.txt``.

    python benchmarks/profile_cpu.py [--quick] [--threads N] [--out benchmarks/results]

Writes ``profile-cpu.txt`` (``profile-cpu-quick.txt`` with ``--quick``):
(1) an SGD call split into its data move and its epoch, and each mini-batch
of the epoch into the gradient and the rest of the step (gather, optimizer
update, loop), next to the hand-written NumPy loop; (2) cProfile of one SGD
call, with the Python calls it makes per mini-batch; (3) which namespace
functions of the inner loop are NumPy's own and what each costs per call.
"""

from __future__ import annotations

import cProfile
import gc
import io
import pstats
import time

import array_api_compat
import harness
import numpy as np
from contestants import SEED, AnynetPrepare, AnynetSGD, NumpyLoop, Workload

from anynet import TrainConfig
from anynet.train.step import LocalReducer
from anynet.train.fit import fit

SIZES, M, ETA = [784, 30, 10], 10, 3.0
QUICK_N = 10_000


def median_us(samples_ns, per):
    return harness.median(samples_ns) / per / 1e3


# -- (1) an SGD call, piece by piece --------------------------------------------------


class TimingReducer(LocalReducer):
    """The single-process reducer, clocking each mini-batch's gradient: the
    engine calls it between the gather and the optimizer's step, so the time
    from one gradient's end to the next one's start is the optimizer step,
    the loop and the next gather.  Adds two clock reads per step."""

    def __init__(self):
        self.enter, self.exit = [], []

    def batch_gradients(self, grad_fn, x, targets):
        self.enter.append(time.perf_counter_ns())
        gradients = grad_fn(x, targets)
        self.exit.append(time.perf_counter_ns())
        return gradients


def timed_epoch(work):
    """One epoch through ``anynet.train.fit.fit`` on data already on the device,
    from the same initial weights every time; returns ``(epoch ns, gradient
    ns per step, between-gradients ns per step)``."""
    net = AnynetSGD(work)
    net.reset()
    data = net.net.to_device((work.X, work.y))
    config = TrainConfig(epochs=1, mini_batch_size=work.mini_batch_size, eta=work.eta)
    reducer = TimingReducer()
    gc.collect()
    start = time.perf_counter_ns()
    fit(net.net.model, data, config, reducer=reducer)
    epoch = time.perf_counter_ns() - start
    gradient = [b - a for a, b in zip(reducer.enter, reducer.exit)]
    between = [b - a for a, b in zip(reducer.exit, reducer.enter[1:])]
    return epoch, gradient, between


def breakdown(works, repeats, out):
    out.append("== 1. One SGD call, split ==\n")
    out.append("Whole calls: medians of interleaved rounds.  Steps: medians over every step of every round, "
               "which other processes' load disturbs least.\n")
    for dtype, work in works.items():
        full, prep, loop = AnynetSGD(work), AnynetPrepare(work), NumpyLoop(work)
        rows = {k: [] for k in ("sgd", "prepare", "numpy", "epoch", "gradient", "between")}
        for _ in range(repeats):
            rows["sgd"].append(harness.time_once(full.reset, full.run) * 1e9)
            rows["prepare"].append(harness.time_once(prep.reset, prep.run) * 1e9)
            rows["numpy"].append(harness.time_once(loop.reset, loop.run) * 1e9)
            epoch, gradient, between = timed_epoch(work)
            rows["epoch"].append(epoch)
            rows["gradient"] += gradient
            rows["between"] += between
        batches = -(-work.n // work.mini_batch_size)
        sgd_ms, prep_ms = median_us(rows["sgd"], 1e3), median_us(rows["prepare"], 1e3)
        gradient_us, between_us = median_us(rows["gradient"], 1), median_us(rows["between"], 1)
        out.append(f"{dtype}: anynet SGD call {sgd_ms:.0f} ms = data move (SGD with 0 epochs) {prep_ms:.0f} ms "
                   f"+ epoch {sgd_ms - prep_ms:.0f} ms; hand-written NumPy loop {median_us(rows['numpy'], 1e3):.0f} ms "
                   f"= {median_us(rows['numpy'], batches):.1f} us per mini-batch")
        out.append(f"  anynet per mini-batch ({batches:,} batches), anynet.train.fit.fit on device data with a timing reducer:")
        out.append(f"    {'gradient':9s} {gradient_us:6.1f} us   (backprop, through the reducer and the engine's grad_fn)")
        out.append(f"    {'the rest':9s} {between_us:6.1f} us   (optimizer step, loop, next gather)")
        out.append(f"    {'step':9s} {gradient_us + between_us:6.1f} us   "
                   f"(the whole fit call: {median_us(rows['epoch'], batches):.1f} us per mini-batch)\n")


# -- (2) cProfile ----------------------------------------------------------------------


def profile_sgd(work, out):
    import anynet

    net = anynet.Network(SIZES, seed=SEED, dtype=work.dtype)
    profiler = cProfile.Profile()
    profiler.enable()
    net.SGD((work.X, work.y), 1, work.mini_batch_size, work.eta, verbose=False)
    profiler.disable()
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("tottime").print_stats(18)
    lines = [line for line in text.getvalue().splitlines() if line.strip()]
    batches = -(-work.n // work.mini_batch_size)
    out.append(f"== 2. cProfile of one SGD call ({work.dtype}; profiling inflates per-call costs) ==\n")
    out.append(f"   {stats.total_calls:,} function calls, {stats.total_calls / batches:.1f} per mini-batch")
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
    parser = harness.arguments(__doc__, quick=f"a smoke run: {QUICK_N:,} images, 3 rounds; writes profile-cpu-quick.txt")
    args = harness.parse(parser, argv)
    repeats = 3 if args.quick else 7
    info = harness.machine_info(args)
    X, y, source = harness.load_training_data(QUICK_N if args.quick else harness.N_TRAIN)
    works = {d: Workload(SIZES, M, ETA, d, X.astype(d), y) for d in ("float64", "float32")}
    out = [
        __doc__.split("\n")[0],
        f"machine: {harness.describe(info)}, array-api-compat {info['array_api_compat']}",
        f"anynet {info['anynet']}, commit {info['git_commit']}",
        f"data: {source}",
        f"workload: sizes {SIZES}, mini-batch {M}, eta {ETA}, 1 epoch; {repeats} rounds per measurement",
        f"command: {info['command']}",
        "",
    ]
    with np.errstate(over="ignore"):
        breakdown(works, repeats, out)
        profile_sgd(works["float64"], out)
        namespace_report(out)
    text = "\n".join(out) + "\n"
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"profile-cpu{'-quick' if args.quick else ''}.txt"
    path.write_text(text)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
