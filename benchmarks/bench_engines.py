"""anynet's epoch engines side by side on the CPU, one thread each: NumPy's
loop, JAX's compiled epoch (lax.scan) against a hand-written jax.jit epoch,
torch's loop and torch's compiled epoch (torch.compile of a scan).

    python benchmarks/bench_engines.py [--quick] [--images N] [--repeats R] [--out benchmarks/results]

Workload: the first 20,000 Fashion-MNIST training images (synthetic data of
the same shape when they are absent, and the output says so), [784, 30, 10],
sigmoid, quadratic cost, mini-batch 10, eta 3.0, one epoch, float32 and
float64.  Every anynet contestant is ``Network(..., seed=0).SGD(data, 1, 10,
3.0)`` on data already on its device (the shuffle, the permutation's move,
the epoch and the per-epoch finiteness check, which waits for the device);
the hand-written JAX epoch starts from the same weights and sample order.
Compilation happens in an untimed warm-up and is reported separately
(torch's in a fresh inductor cache: the cold cost).  Contestants are timed
interleaved, round after round, each preceded by an untimed reset and
gc.collect(); reported: median seconds per epoch and median paired ratios
(each pair timed in the same round).  Agreement: one epoch at eta 1.0 from
the same start, against anynet NumPy of the same dtype (at eta 3.0 this
workload is chaotic, and any two correct codes drift apart by 0.1 to 0.5).

One thread each: OMP/MKL/OpenBLAS and XLA are set to one thread before the
libraries load, and torch to one thread (JAX runs in 64-bit mode for its
float64 legs; its float32 legs index with int64).  --quick: 5,000 images,
5 rounds, no torch compilation.  Writes ``engines-<machine>.json`` and ``.png``.
"""

from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_variable] = "1"
os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import tempfile
import time

import harness
import numpy as np

SIZES = [784, 30, 10]
M = 10
ETA = 3.0
AGREE_ETA = 1.0
SEED = 0
DTYPES = ("float32", "float64")
LABELS = {
    "numpy": "anynet NumPy (loop)",
    "jax": "anynet JAX (compiled scan)",
    "jax-hand": "hand-written jax.jit scan",
    "torch": "anynet torch (loop)",
    "torch-compiled": "anynet torch (compiled scan)",
}
GOALS = [  # (numerator, denominator, dtype, bound, words)
    ("jax", "jax-hand", "float32", 1.2, "JAX float32 within 1.2x of the hand-written jax.jit epoch"),
    ("jax", "numpy", "float32", 1.0, "JAX float32 faster than anynet NumPy float32"),
    ("jax", "numpy", "float64", 1.5, "JAX float64 within 1.5x of NumPy float64"),
    ("torch", "numpy", "float32", 1.5, "torch loop within 1.5x of NumPy (float32)"),
    ("torch", "numpy", "float64", 1.5, "torch loop within 1.5x of NumPy (float64)"),
    ("torch-compiled", "numpy", "float32", 1.5, "torch compiled within 1.5x of NumPy (float32)"),
    ("torch-compiled", "numpy", "float64", 1.5, "torch compiled within 1.5x of NumPy (float64)"),
]


class Anynet:
    """``Network(SIZES, seed=SEED, backend=..., dtype=..., compile=...).SGD`` on device data."""

    def __init__(self, backend, dtype, X, y, compile=None):
        import anynet

        self.make = lambda: anynet.Network(SIZES, seed=SEED, backend=backend, dtype=dtype, compile=compile)
        self.net = self.make()
        self.data = self.net.to_device((X.astype(dtype), y))

    def reset(self):
        self.net = self.make()

    def run(self, eta=ETA):
        self.net.SGD(self.data, 1, M, eta, verbose=False)  # its finiteness check waits for the device

    def parameters(self):
        return [self.net.backend.to_numpy(p) for p in self.net.weights + self.net.biases]


class HandJax:
    """What a JAX user writes by hand for this network: sigmoid layers, the
    quadratic cost's delta, SGD; the epoch is one jax.jit of a lax.scan over
    the full mini-batches (this workload has no partial one)."""

    def __init__(self, dtype, X, y):
        import jax
        import jax.numpy as jnp

        import anynet

        self.jax, self.jnp = jax, jnp
        net = anynet.Network(SIZES, seed=SEED, dtype=dtype)
        self.start = [np.asarray(p) for p in net.weights + net.biases]
        self.rng_state = net._rng.bit_generator.state  # the generator anynet's first epoch shuffles with
        self.X = jnp.asarray(X.astype(dtype))
        self.Y = jnp.asarray(harness.one_hot(y, dtype))
        self.dtype, self.n = dtype, len(y)
        self.epoch = jax.jit(self._epoch)

    def _epoch(self, params, X, Y, order, eta):
        jnp = self.jnp
        batches = order[: order.shape[0] // M * M].reshape(-1, M)
        rate = eta / M

        def body(p, ids):
            w1, w2, b1, b2 = p
            x, y = X[ids], Y[ids]
            a1 = self.jax.nn.sigmoid(x @ w1.T + b1.T)
            a2 = self.jax.nn.sigmoid(a1 @ w2.T + b2.T)
            d2 = (a2 - y) * a2 * (1 - a2)
            d1 = (d2 @ w2) * a1 * (1 - a1)
            return (w1 - rate * (d1.T @ x), w2 - rate * (d2.T @ a1),
                    b1 - rate * jnp.sum(d1, axis=0)[:, None], b2 - rate * jnp.sum(d2, axis=0)[:, None]), None

        return self.jax.lax.scan(body, params, batches)[0]

    def reset(self):
        self.params = tuple(self.jnp.asarray(p) for p in self.start)
        self.rng = np.random.default_rng()
        self.rng.bit_generator.state = self.rng_state

    def run(self, eta=ETA):
        order = np.arange(self.n)
        self.rng.shuffle(order)  # as anynet's Shuffler, on the host
        eta = self.jnp.asarray(eta, dtype=self.dtype)
        self.params = self.jax.block_until_ready(self.epoch(self.params, self.X, self.Y, self.jnp.asarray(order), eta))

    def parameters(self):
        return [np.asarray(p) for p in self.params]


def contestants(X, y, quick):
    made = {}
    for dtype in DTYPES:
        made[f"numpy:{dtype}"] = Anynet("numpy", dtype, X, y)
        made[f"jax:{dtype}"] = Anynet("jax", dtype, X, y)
        made[f"jax-hand:{dtype}"] = HandJax(dtype, X, y)
        made[f"torch:{dtype}"] = Anynet("torch", dtype, X, y)
        if not quick:
            made[f"torch-compiled:{dtype}"] = Anynet("torch", dtype, X, y, compile=True)
    return made


def warm_up(made):
    """First call of each contestant (compiles): seconds, untimed in the rounds."""
    first = {}
    for key, contestant in made.items():
        contestant.reset()
        start = time.perf_counter()
        contestant.run()
        first[key] = time.perf_counter() - start
        print(f"  first epoch of {key}: {first[key]:.2f} s")
    return first


def agreement(made):
    """max |w - w_numpy| / max |w_numpy| after one epoch at AGREE_ETA from the same start."""
    result = {}
    for key, contestant in made.items():
        contestant.reset()
        contestant.run(AGREE_ETA)
        result[key] = contestant.parameters()
    out = {}
    for key, params in result.items():
        reference = result[f"numpy:{key.split(':')[1]}"]
        scale = max(float(np.max(np.abs(r))) for r in reference)
        out[key] = max(float(np.max(np.abs(p.astype(np.float64) - r))) for p, r in zip(params, reference)) / scale
    return out


def plot(fig, axes, medians, info, source, n):
    for ax, dtype in zip(axes, DTYPES):
        keys = [k for k in LABELS if f"{k}:{dtype}" in medians]
        values = [medians[f"{k}:{dtype}"] for k in keys]
        ax.barh([LABELS[k] for k in keys], values, color=[f"C{list(LABELS).index(k)}" for k in keys])
        for i, v in enumerate(values):
            ax.text(v, i, f" {v * 1e3:.0f} ms", va="center", fontsize=8)
        ax.set_title(dtype)
        ax.invert_yaxis()
        ax.set_xlabel("seconds per epoch (median)")
    return (f"{SIZES}, mini-batch {M}, {n:,} samples, one thread each - {info['cpu_model']}, "
            f"{info['logical_cores']} cores\n{source}")


def main(argv=None):
    parser = harness.arguments(__doc__, quick="a smoke run: 5,000 images, 5 rounds, no torch compilation")
    parser.add_argument("--images", type=int, help="training images per epoch (default 20,000; quick 5,000)")
    parser.add_argument("--repeats", type=int, help="interleaved rounds (default 11; quick 5)")
    args = harness.parse(parser, argv)
    if args.threads not in (None, 1):
        parser.error("this benchmark runs every contestant on one thread")
    n = args.images or (5_000 if args.quick else 20_000)
    repeats = args.repeats or (5 if args.quick else 11)

    import jax

    jax.config.update("jax_enable_x64", True)
    harness.set_torch_threads(1)
    cache = tempfile.TemporaryDirectory(prefix="anynet-inductor-")
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache.name  # a cold compilation, as a first run sees it
    info = harness.machine_info(args) | {"jax": jax.__version__, "threads_per_contestant": 1}
    print(f"machine: {harness.describe(info)}, jax {jax.__version__}")
    X, y, source = harness.load_training_data(n)
    print(f"data: {source}")
    made = contestants(X, y, args.quick)
    print("warm-up (compiles) ...")
    first = warm_up(made)
    times = harness.interleaved({key: (c.reset, c.run) for key, c in made.items()}, repeats)
    medians = {key: harness.median(values) for key, values in times.items()}
    compile_s = {key: first[key] - medians[key] for key in made if key.split(":")[0] in ("jax", "jax-hand", "torch-compiled")}
    agree = agreement(made)
    fallbacks = _torch_fallbacks()

    def paired(a, b):
        return harness.median(harness.paired_ratios(times[a], times[b]))

    rows, table = [], {}
    for key in made:
        kind, dtype = key.split(":")
        base = f"numpy:{dtype}"
        table[key] = {"median_s": medians[key], "ratio_to_numpy": medians[key] / medians[base],
                      "paired_ratio_to_numpy": paired(key, base), "compile_s": compile_s.get(key),
                      "agreement_vs_numpy_eta1": agree[key]}
        rows.append([LABELS[kind], dtype, f"{medians[key] * 1e3:.1f}", f"{medians[key] / medians[base]:.2f}",
                     f"{paired(key, base):.2f}", "" if key not in compile_s else f"{compile_s[key]:.1f}",
                     f"{agree[key]:.1e}"])
    print()
    print(harness.format_table(["contestant", "dtype", "ms/epoch", "/numpy", "paired /numpy", "compile s",
                                "agreement (eta 1)"], rows))
    goals = []
    for kind, other, dtype, bound, words in GOALS:
        a, b = f"{kind}:{dtype}", f"{other}:{dtype}"
        if a not in medians:
            goals.append({"goal": words, "status": "not run (--quick)"})
            continue
        ratio, pair = medians[a] / medians[b], paired(a, b)
        goals.append({"goal": words, "ratio_of_medians": ratio, "median_paired_ratio": pair,
                      "status": "MET" if max(ratio, pair) <= bound else "MET by one measure" if min(ratio, pair) <= bound
                      else "MISSED"})
    print()
    print(harness.format_table(["goal", "ratio of medians", "median paired ratio", "status"],
                               [[g["goal"], _ratio(g.get("ratio_of_medians")), _ratio(g.get("median_paired_ratio")),
                                 g["status"]] for g in goals]))
    if fallbacks:
        print(f"torch compilation fell back to the loop: {fallbacks}")
    payload = {
        "benchmark": "bench_engines",
        "machine": info,
        "data": source,
        "workload": {"sizes": SIZES, "mini_batch_size": M, "eta": ETA, "n_samples": n, "epochs": 1,
                     "cost": "quadratic", "activation": "sigmoid", "seed": SEED, "dtypes": list(DTYPES)},
        "timing": {"repeats": repeats, "clock": "time.perf_counter around one epoch; reset and gc.collect() untimed",
                   "compile": "first epoch minus the median epoch; torch in a fresh TORCHINDUCTOR_CACHE_DIR (cold)"},
        "contestants": {key: LABELS[key.split(":")[0]] for key in made},
        "seconds_raw": times,
        "first_epoch_seconds": first,
        "results": table,
        "goals": goals,
        "torch_compile_fallbacks": fallbacks,
    }
    stem = f"engines-{harness.run_slug(info, 1, args.quick)}"
    harness.save_results(args.out, stem, payload, lambda fig, axes: plot(fig, axes, medians, info, source, n),
                         ncols=2, figsize=(11, 3.8), sharex=True)
    cache.cleanup()


def _ratio(value):
    return "" if value is None else f"{value:.2f}"


def _torch_fallbacks():
    import sys

    module = sys.modules.get("anynet.train.engine_torch")
    return {} if module is None else {str(i): why for i, why in enumerate(module.ENGINE.fallbacks.values())}


if __name__ == "__main__":
    main()
