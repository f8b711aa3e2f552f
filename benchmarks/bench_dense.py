"""The dense MLP against the hand-written NumPy loop on the seed's workload:
one epoch, side by side, in interleaved rounds (issue 17 item 1's speed goal:
anynet within 1.10x of ``numpy_loop.py``).

    python benchmarks/bench_dense.py [--quick] [--rows N] [--rounds R] [--threads N]
                                     [--checkout NAME=DIR ...] [--out DIR]

Workload: the seed's ([784, 30, 10], sigmoid, quadratic cost, mini-batch 10,
eta 3.0, float64, one epoch) on the first ``--rows`` (50,000) images of
Fashion-MNIST (synthetic data of the same shape when it is not on this disk).
Three contestants from the same initial weights (``contestants.py``):

* **hand loop**: ``numpy_loop.epoch``, the floor for NumPy code;
* **anynet epoch**: ``anynet.train.fit.fit`` on data already on the device
  (``Network.to_device``): the epoch of steps, what the goal is about;
* **anynet SGD**: ``Network.SGD((X, y), 1, 10, 3.0)`` with host arrays, as a
  user calls it: the epoch plus SGD's checks and data move (a finiteness pass
  over X, one-hot targets), as ``/work/shared/tools/dense-ratio`` times it.

Every ``--checkout NAME=DIR`` (default: this checkout) is measured by a child
process of its own that imports anynet from DIR (the measuring code is this
file's, for all of them); each round asks every child, in rotating order, to
run all three contestants once (also rotating), so a checkout and another
(main before a change, say) are compared in the same run under the same load.
Times: the thread's CPU time, which other processes on a shared machine
inflate least, and wall time; the load average is recorded per round.
Reported per checkout: medians over the rounds, the ratios of the medians
(anynet / hand loop), and the medians of the per-round paired ratios.
Writes ``dense-<machine>.json`` and ``.png``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import contestants
import harness
import numpy as np

SIZES, M, ETA, DTYPE = [784, 30, 10], 10, 3.0, "float64"
NAMES = ("hand loop", "anynet epoch", "anynet SGD")
HERE = Path(__file__).resolve().parent


# -- the child: one checkout's anynet ------------------------------------------------------


def child(rows):
    """Answer each ``round <first>`` line on stdin with one JSON line of
    ``{contestant: [cpu s, wall s]}``, the contestants run starting at index
    ``first``; the first line out describes this child's anynet."""
    import anynet

    X, y, source = harness.load_training_data(rows)
    work = contestants.Workload(SIZES, M, ETA, DTYPE, X.astype(DTYPE), y.astype("int64"))
    runs = {"hand loop": contestants.NumpyLoop(work), "anynet epoch": _Epoch(anynet, work),
            "anynet SGD": contestants.AnynetSGD(work)}
    print(json.dumps({"anynet": anynet.__file__, "commit": _commit(Path(anynet.__file__).parent),
                      "data": source, "rows": work.n}), flush=True)
    for line in sys.stdin:
        first = int(line.split()[1])
        order = NAMES[first:] + NAMES[:first]
        print(json.dumps({name: _timed(runs[name]) for name in order}), flush=True)


class _Epoch:
    """``anynet.train.fit.fit`` for one epoch on device data, from the same
    initial weights, shuffled by a NumPy Generator as a seeded Network's SGD
    (and the hand loop) shuffles: without a shuffler, fit shuffles a Python
    list with the ``random`` module, as the book does (~20 ms at 50,000 rows)."""

    def __init__(self, anynet, work):
        from anynet.train.fit import Shuffler, fit

        self.anynet, self.work, self.fit, self.shuffler = anynet, work, fit, Shuffler
        self.config = anynet.TrainConfig(epochs=1, mini_batch_size=M, eta=ETA)

    def reset(self):
        self.net = self.anynet.Network(SIZES, seed=contestants.SEED, dtype=DTYPE)
        self.data = self.net.to_device((self.work.X, self.work.y))

    def run(self):
        shuffler = self.shuffler(self.data.n, np.random.default_rng(contestants.SEED))
        self.fit(self.net.model, self.data, self.config, shuffler=shuffler)


def _timed(contestant):
    contestant.reset()
    gc.collect()
    cpu, wall = time.thread_time(), time.perf_counter()
    contestant.run()
    return [time.thread_time() - cpu, time.perf_counter() - wall]


def _commit(package_dir):
    done = subprocess.run(["git", "-C", str(package_dir), "rev-parse", "HEAD"], capture_output=True, text=True)
    return done.stdout.strip() or None


# -- the parent: rounds across checkouts ------------------------------------------------------


def measure(checkouts, rows, rounds, threads):
    """``{checkout: {"about": ..., "times": {contestant: [[cpu, wall], ...]}}}`` and the load per round."""
    children = {}
    for name, path in checkouts.items():
        env = dict(os.environ, PYTHONPATH=str(path))
        command = [sys.executable, str(HERE / "bench_dense.py"), "--child", "--rows", str(rows),
                   "--threads", str(threads)]
        children[name] = subprocess.Popen(command, cwd=path, env=env, stdin=subprocess.PIPE,
                                          stdout=subprocess.PIPE, text=True)
    results = {name: {"about": json.loads(child.stdout.readline()), "times": {n: [] for n in NAMES}}
               for name, child in children.items()}
    loads = []
    try:
        for r in range(rounds):
            names = list(children)
            for name in names[r % len(names):] + names[: r % len(names)]:
                children[name].stdin.write(f"round {r % len(NAMES)}\n")
                children[name].stdin.flush()
                for contestant, times in json.loads(children[name].stdout.readline()).items():
                    results[name]["times"][contestant].append(times)
            loads.append(os.getloadavg())
            print(f"  round {r + 1}/{rounds} (load {loads[-1][0]:.1f}): " + "; ".join(
                f"{name} " + ", ".join(f"{c} {results[name]['times'][c][-1][0]:.3f}s" for c in NAMES)
                for name in names), flush=True)
    finally:
        for child in children.values():
            child.stdin.close()
            child.wait()
    return results, loads


def summarise(results):
    """Medians, ratios of medians and medians of paired ratios, per checkout and clock."""
    summary, rows = {}, []
    for name, result in results.items():
        summary[name] = {}
        for k, clock in enumerate(("cpu", "wall")):
            series = {c: [t[k] for t in result["times"][c]] for c in NAMES}
            medians = {c: harness.median(v) for c, v in series.items()}
            hand = series["hand loop"]
            entry = {"median_s": medians}
            for c in ("anynet epoch", "anynet SGD"):
                paired = harness.paired_ratios(series[c], hand)
                entry[f"{c} / hand loop"] = {"ratio_of_medians": medians[c] / medians["hand loop"],
                                             "median_paired_ratio": harness.median(paired), "paired": paired}
            summary[name][clock] = entry
            rows.append([name, clock, *(f"{medians[c]:.3f}" for c in NAMES),
                         *(f"{entry[f'{c} / hand loop']['ratio_of_medians']:.3f} "
                           f"({entry[f'{c} / hand loop']['median_paired_ratio']:.3f})"
                           for c in ("anynet epoch", "anynet SGD"))])
    print(harness.format_table(["checkout", "clock", *(f"{c} s" for c in NAMES), "epoch/hand (paired)",
                                "SGD/hand (paired)"], rows))
    return summary


def draw(summary, info, rows):
    def plot(fig, axes):
        for ax, clock in zip(axes, ("cpu", "wall")):
            for name, per_clock in summary.items():
                for c, style in (("anynet epoch", "-o"), ("anynet SGD", "--s")):
                    paired = per_clock[clock][f"{c} / hand loop"]["paired"]
                    ax.plot(range(1, len(paired) + 1), paired, style, label=f"{name}: {c}")
            ax.axhline(1.10, color="grey", linestyle=":", label="goal 1.10")
            ax.set(xlabel="round", ylabel="anynet / hand loop", title=f"{clock} time, paired per round")
            ax.legend()
        return f"[784, 30, 10], mini-batch {M}, eta {ETA}, {DTYPE}, {rows:,} rows\n{harness.describe(info)}"

    return plot


def main(argv=None):
    parser = harness.arguments(__doc__, quick="10,000 rows, 3 rounds")
    parser.add_argument("--rows", type=int, default=50_000, help="training rows (default 50,000)")
    parser.add_argument("--rounds", type=int, default=9, help="interleaved rounds (default 9)")
    parser.add_argument("--checkout", action="append", default=[], metavar="NAME=DIR",
                        help="a checkout to measure (repeatable; default: this one, as 'this')")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = harness.parse(parser, argv)
    threads = args.threads or 1
    rows, rounds = (10_000, 3) if args.quick else (args.rows, args.rounds)
    if args.child:
        return child(rows)
    checkouts = dict(c.split("=", 1) for c in args.checkout) or {"this": str(HERE.parent)}
    checkouts = {name: str(Path(path).resolve()) for name, path in checkouts.items()}
    info = harness.machine_info(args) | {"blas_threads_per_child": threads}
    print(f"{harness.describe(info)}; {rows:,} rows, {rounds} rounds, checkouts {checkouts}")
    results, loads = measure(checkouts, rows, rounds, threads)
    summary = summarise(results)
    payload = {"machine": info, "load_average_per_round": loads,
               "workload": {"sizes": SIZES, "mini_batch_size": M, "eta": ETA, "dtype": DTYPE, "rows": rows,
                            "rounds": rounds},
               "checkouts": {name: {"path": checkouts[name], **results[name]["about"]} for name in results},
               "raw_s": {name: results[name]["times"] for name in results}, "summary": summary}
    stem = "dense-" + harness.run_slug(info, threads, args.quick)
    harness.save_results(Path(args.out), stem, payload, draw(summary, info, rows), ncols=2, figsize=(11, 4.5))


if __name__ == "__main__":
    main()
