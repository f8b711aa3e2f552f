"""What every benchmark program shares: the command line's common options, the
data, the machine description, interleaved timing, peak-memory measurement in
a fresh process, and the JSON + PNG output in one style.

Benchmarks are run as scripts (``python benchmarks/bench_cpu.py``), so this
module is imported as ``harness`` from the scripts' own directory.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import glob
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
N_TRAIN = 50_000
N_INPUTS = 784
N_CLASSES = 10


# -- the command line -------------------------------------------------------------


def arguments(doc, *, quick):
    """An ArgumentParser for a benchmark program, described by the first
    paragraph of its docstring ``doc``, with the options every program takes:
    ``--quick`` (``quick`` says what it does), ``--threads`` and ``--out``.
    Parse with :func:`parse`."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help=quick)
    parser.add_argument("--threads", type=int,
                        help="threads for NumPy's BLAS and PyTorch (default: the BLAS default)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the results (default benchmarks/results)")
    return parser


def parse(parser, argv=None):
    """The parsed command line, with ``--threads`` already applied."""
    args = parser.parse_args(argv)
    if args.threads is not None:
        if args.threads < 1:
            parser.error(f"--threads must be at least 1, not {args.threads}")
        try:
            set_threads(args.threads)
        except RuntimeError as exc:
            parser.error(str(exc))
    return args


# -- data ----------------------------------------------------------------------


def load_training_data(n=N_TRAIN):
    """``(X float64 (n, 784) in [0, 1], y int64 (n,), description)``: the first
    ``n`` Fashion-MNIST training images when they are on this disk, otherwise
    synthetic data of the same shape (and the description says so)."""
    try:
        from anynet.datasets import DataNotFoundError, load_dataset
    except ImportError as exc:  # an anynet without datasets.py
        return _synthetic(n, f"anynet.datasets is not importable ({exc})")
    try:
        dataset = load_dataset("fashion-mnist", download=False, progress=False)
    except DataNotFoundError:
        return _synthetic(n, "Fashion-MNIST is not on this disk")
    X, y = dataset.train
    return X[:n], y[:n], f"Fashion-MNIST, first {min(n, len(y)):,} training images ({dataset.source})"


def _synthetic(n, why):
    rng = np.random.default_rng(12345)
    X = rng.random((n, N_INPUTS))
    y = rng.integers(0, N_CLASSES, n)
    return X, y, f"SYNTHETIC uniform [0,1) data of the same shape, because {why}"


def one_hot(y, dtype):
    targets = np.zeros((len(y), N_CLASSES), dtype=dtype)
    targets[np.arange(len(y)), y] = 1
    return targets


# -- the machine ------------------------------------------------------------------


def cpu_model():
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    match = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    return match.group(1).strip() if match else platform.machine()


def _openblas():
    """NumPy's bundled OpenBLAS as a ctypes library, or None."""
    for lib in glob.glob(os.path.join(os.path.dirname(np.__file__) + ".libs", "*openblas*.so*")):
        try:
            return ctypes.CDLL(lib)
        except OSError:
            continue
    return None


def _openblas_function(kind):
    """``(function, description)`` for OpenBLAS's get_num_threads / set_num_threads."""
    lib = _openblas()
    if lib is None:
        return None, None
    for prefix in ("scipy_openblas_", "openblas_"):
        for suffix in ("64_", ""):
            name = f"{prefix}{kind}_num_threads{suffix}"
            function = getattr(lib, name, None)
            if function is not None:
                return function, f"{name}() of {os.path.basename(lib._name)}"
    return None, None


def blas_threads():
    """``(threads, how we know)`` for NumPy's BLAS: asked from the bundled
    OpenBLAS when we can find it, else read from the environment."""
    function, how = _openblas_function("get")
    if function is not None:
        function.restype = ctypes.c_int
        return int(function()), how
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        if os.environ.get(variable, "").isdigit():
            return int(os.environ[variable]), f"${variable}"
    return os.cpu_count() or 1, "os.cpu_count() (the BLAS default; not asked from the library)"


def set_threads(threads):
    """Use ``threads`` threads in NumPy's OpenBLAS and in PyTorch (when present).
    Raises RuntimeError when NumPy's BLAS cannot be told."""
    function, _ = _openblas_function("set")
    if function is None:
        raise RuntimeError("cannot set the thread count of NumPy's BLAS here; set OPENBLAS_NUM_THREADS instead")
    function(ctypes.c_int(threads))
    set_torch_threads(threads)


def match_torch_threads(info):
    """Give PyTorch as many threads as NumPy's BLAS has (``info`` from
    machine_info, which records the count); returns whether torch is installed."""
    info["torch_threads"] = set_torch_threads(info["blas_threads"])
    return info["torch_threads"] is not None


def set_torch_threads(threads):
    """Use ``threads`` threads in PyTorch; returns the count it now uses, or
    None when torch is not installed."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    return torch.get_num_threads()


def numpy_blas():
    try:
        config = np.show_config(mode="dicts")
        blas = config["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version')}"
    except (KeyError, TypeError, AttributeError):  # the layout of show_config differs between versions
        return "unknown"


def machine_info(args=None):
    """The environment a result was measured in, for its JSON: the CPU and the
    cores this process may use, Python, NumPy and its BLAS (threads, and how we
    know), the versions of torch, array-api-compat and anynet, the git commit
    of this checkout, the command line (and, given the parsed ``args``, its
    --threads and --quick) and the load average now."""
    threads, how = blas_threads()
    info = {
        "cpu_model": cpu_model(),
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numpy_blas": numpy_blas(),
        "blas_threads": threads,
        "blas_threads_source": how,
        "load_average_at_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "git_commit": git_commit(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }
    if args is not None:
        info |= {"threads_option": args.threads, "quick": args.quick}
    for module in ("torch", "array_api_compat", "anynet"):
        try:
            info[module] = __import__(module).__version__
        except ImportError:
            info[module] = None
        except AttributeError:
            info[module] = "?"
    return info


def git_commit():
    """The commit checked out where this file lives (None outside git); a
    trailing ``+changes`` says the working tree differs from it."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=here,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, cwd=here, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit + ("+changes" if dirty else "")


def describe(info):
    """One line about the machine of ``info`` (from machine_info), for printouts and plot titles."""
    torch = f"torch {info['torch']}" if info.get("torch") else "torch absent"
    return (f"{info['cpu_model']}, {info['logical_cores']} logical cores, numpy {info['numpy']} "
            f"({info['numpy_blas']}, {info['blas_threads']} BLAS threads), {torch}, "
            f"load average {' '.join(f'{x:.1f}' for x in info['load_average_at_start'] or ())}")


def slug(text):
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def run_slug(info, threads, quick):
    """``amd-epyc-2cpu[-1thread][-quick]``: the machine and the run's options, no hostname."""
    name = f"{slug(info['cpu_model'])}-{info['logical_cores']}cpu"
    return name + (f"-{threads}thread" if threads else "") + ("-quick" if quick else "")


# -- timing ---------------------------------------------------------------------------


def time_once(reset, run):
    """Seconds taken by ``run()``; ``reset()`` (untimed) prepares a fresh start."""
    reset()
    gc.collect()
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def interleaved(contestants, repeats, *, log=print):
    """Time every contestant ``repeats`` times, interleaved A B C A B C ...
    (the starting contestant rotates each round so none always runs first
    after a slow one).  ``contestants`` maps name -> (reset, run); returns
    name -> list of seconds, in round order."""
    names = list(contestants)
    times = {name: [] for name in names}
    for r in range(repeats):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            reset, run = contestants[name]
            times[name].append(time_once(reset, run))
        log(f"  round {r + 1}/{repeats}: " + ", ".join(f"{n} {times[n][-1]:.3f}s" for n in names))
    return times


def median(values):
    return statistics.median(values) if values else None


def paired_ratios(numerator, denominator):
    """Per-round ratios numerator[i] / denominator[i]: each pair ran in the same round."""
    return [a / b for a, b in zip(numerator, denominator)]


# -- peak memory --------------------------------------------------------------------

MEMORY_METHOD = (
    "peak RSS growth in a fresh subprocess: the kernel's high-water mark VmHWM (reset by writing 5 to "
    "/proc/self/clear_refs just before the run) minus VmRSS just before the run, after the data is loaded "
    "and the contestant set up; the same method for every contestant"
)
MEMORY_METHOD_FALLBACK = (
    "peak RSS growth in a fresh subprocess: resource.getrusage ru_maxrss after the run minus before it "
    "(underestimates when loading the data peaked higher than the run)"
)


def _status_kib(field):
    match = re.search(rf"^{field}:\s*(\d+) kB", Path("/proc/self/status").read_text(), re.MULTILINE)
    return int(match.group(1))


def measure_peak_growth(run):
    """Run ``run()`` and return ``(peak RSS growth in MiB, method)``."""
    gc.collect()
    try:
        Path("/proc/self/clear_refs").write_text("5")
        before = _status_kib("VmRSS")
        run()
        return (_status_kib("VmHWM") - before) / 1024, MEMORY_METHOD
    except OSError:
        import resource

        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        run()
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return (after - before) / 1024, MEMORY_METHOD_FALLBACK


def memory_in_subprocess(script, args, *, timeout=600):
    """Run ``python script --memory-child ...args`` and return the dict it prints
    on its last line (or an ``error`` entry)."""
    command = [sys.executable, str(script), "--memory-child", *map(str, args)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- output ------------------------------------------------------------------------------


def save_json(path, payload):
    """Write ``payload`` to ``path`` as JSON, atomically (a kill leaves the old file or the new one)."""
    from anynet.io.files import write_atomically

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(payload, indent=1, default=str) + "\n"
    write_atomically(path, lambda f: f.write(text.encode()))
    return path


# The benchmarks' one plot style.
STYLE = {
    "axes.grid": True,
    "axes.grid.which": "both",
    "grid.alpha": 0.3,
    "axes.titlesize": 10,
    "legend.fontsize": 8,
    "figure.titlesize": 8,
}
DPI = 110


def save_results(out, stem, payload, draw=None, **subplots):
    """Write ``payload`` to ``out/stem.json`` and, given ``draw``, a figure to
    ``out/stem.png`` in the benchmarks' style: ``draw(fig, axes)`` fills
    ``plt.subplots(**subplots)`` and returns the figure's title.  Without
    matplotlib the PNG is skipped, and the printout says so.  Returns the
    paths written."""
    paths = [save_json(Path(out) / f"{stem}.json", payload)]
    if draw is not None:
        try:
            import matplotlib
        except ImportError:
            print("matplotlib absent: no plot")
        else:
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt

            with plt.rc_context(STYLE):
                fig, axes = plt.subplots(**subplots)
                fig.suptitle(draw(fig, axes))
                fig.tight_layout()
                paths.append(Path(out) / f"{stem}.png")
                fig.savefig(paths[-1], dpi=DPI)
            plt.close(fig)
    print("wrote " + " and ".join(map(str, paths)))
    return paths


def format_table(header, rows):
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    lines = ["  ".join(str(cell).rjust(w) if i else str(cell).ljust(w) for i, (cell, w) in enumerate(zip(row, widths)))
             for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
