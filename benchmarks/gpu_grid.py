"""CPU against GPU over mini-batch size and width: epoch times, where the GPU
starts to win, and the share of cuBLAS's GEMM peak anynet reaches.

Part of ``bench_gpu.py`` (imported from the scripts' directory).  Both sides
are anynet itself, float32, from the same seed, on data already moved to the
device (``net.to_device``): NumPy on this machine's CPU cores and CuPy on the
GPU.  An "epoch" is 50,000 images; each cell trains on enough of them to run
for about ``seconds`` and is scaled to 50,000 (the time per sample of a
mini-batch does not depend on how many batches follow).
"""

from __future__ import annotations

import math
import statistics
import time

import harness
import numpy as np

NETS = {"small": [784, 30, 10], "wide": [784, 1024, 1024, 10]}
BATCHES = (10, 100, 1000)
EPOCH = 50_000
ETA = 0.1


def _seconds_per_sample(net, data, m, n, repeats):
    """Median seconds per sample of ``net.SGD`` over the first ``n`` rows of
    ``data`` (device-resident), after one untimed run; synchronised at the end."""
    times = []
    for r in range(repeats + 1):
        start = time.perf_counter()
        net.SGD(data, 1, m, ETA, verbose=False)
        net.backend.synchronize()
        if r:  # the first run compiles kernels and warms caches
            times.append((time.perf_counter() - start) / n)
    return statistics.median(times)


def time_cell(backend, sizes, m, X, y, *, seconds, repeats):
    """``(epoch seconds, samples timed)`` of anynet on ``backend`` for one
    (network, mini-batch) cell: calibrated on a short run, then timed on as
    many samples as ``seconds`` allows (at least 4 mini-batches)."""
    import anynet

    net = anynet.Network(sizes, seed=0, backend=backend, dtype="float32")
    n = min(len(y), max(4 * m, 1_000))
    probe = _seconds_per_sample(net, net.to_device((X[:n], y[:n])), m, n, repeats=1)
    n = int(min(len(y), max(4 * m, seconds / max(probe, 1e-9))))
    n -= n % m  # whole mini-batches
    data = net.to_device((X[:n], y[:n]))
    return _seconds_per_sample(net, data, m, n, repeats) * EPOCH, n


def crossover(batches, cpu_epoch, gpu_epoch):
    """The mini-batch size from which the GPU is faster, log-interpolated
    between the measured sizes; a string when it lies outside them."""
    ratios = [c / g for c, g in zip(cpu_epoch, gpu_epoch)]  # > 1: the GPU is faster
    if ratios[0] > 1:
        return f"<= {batches[0]} (the GPU is faster at every size measured)"
    for (m1, r1), (m2, r2) in zip(zip(batches, ratios), zip(batches[1:], ratios[1:])):
        if r1 <= 1 < r2:
            t = -math.log(r1) / (math.log(r2) - math.log(r1))
            return round(math.exp(math.log(m1) + t * (math.log(m2) - math.log(m1))), 1)
    return f"> {batches[-1]} (the CPU is faster at every size measured)"


def matmul_flops(sizes, n, m):
    """FLOPs of one epoch's matmuls: per batch of b samples and per layer,
    2*b*x*y for ``a @ w.T`` and for ``delta.T @ a``, and for ``delta @ w``
    on every layer but the first."""
    total = 0
    for start in range(0, n, m):
        b = min(m, n - start)
        for layer, (x, y) in enumerate(zip(sizes[:-1], sizes[1:])):
            total += 2 * b * x * y * (3 if layer else 2)
        # (the first layer's delta @ w is never needed)
    return total


def cublas_flops_per_second(cupy, sizes, m, dtype, seconds=0.5):
    """cupy.matmul on exactly the step's shapes and layouts, repeated for about
    ``seconds``, synchronised once at the end: FLOP/s."""
    rng = cupy.random.default_rng(0)
    operands = []
    for layer, (x, y) in enumerate(zip(sizes[:-1], sizes[1:])):
        a, w, delta = (rng.random(shape, dtype=np.dtype(dtype)) for shape in ((m, x), (y, x), (m, y)))
        operands.append((a, w.T))  # forward
        operands.append((delta.T, a))  # nabla_w
        if layer:
            operands.append((delta, w))  # next delta
    flops_per_pass = sum(2 * p.shape[0] * p.shape[1] * q.shape[1] for p, q in operands)

    def one_pass():
        for p, q in operands:
            cupy.matmul(p, q)

    one_pass()
    cupy.cuda.Device().synchronize()
    start = time.perf_counter()
    one_pass()
    cupy.cuda.Device().synchronize()
    passes = max(3, int(seconds / max(time.perf_counter() - start, 1e-6)))
    start = time.perf_counter()
    for _ in range(passes):
        one_pass()
    cupy.cuda.Device().synchronize()
    return passes * flops_per_pass / (time.perf_counter() - start)


def gemm_peak(cupy, dtype="float32", n=8192, seconds=0.5):
    """FLOP/s of ``cupy.matmul`` on two n x n matrices (true float32 unless the
    caller allowed TF32): the GEMM peak the step's products are held against."""
    rng = cupy.random.default_rng(0)
    a, b = rng.random((n, n), dtype=np.dtype(dtype)), rng.random((n, n), dtype=np.dtype(dtype))
    cupy.matmul(a, b)
    cupy.cuda.Device().synchronize()
    start = time.perf_counter()
    cupy.matmul(a, b)
    cupy.cuda.Device().synchronize()
    once = time.perf_counter() - start
    reps = max(3, int(seconds / max(once, 1e-6)))
    start = time.perf_counter()
    for _ in range(reps):
        cupy.matmul(a, b)
    cupy.cuda.Device().synchronize()
    return reps * 2 * n**3 / (time.perf_counter() - start)


def run_grid(X, y, *, gpu, seconds, repeats, log=print):
    """Every (network, mini-batch) cell on the CPU and, when ``gpu`` is the
    CuPy module, on the GPU.  Returns the rows and the crossovers."""
    rows, crossovers = [], {}
    X = X.astype(np.float32)
    for name, sizes in NETS.items():
        cpu_times, gpu_times = [], []
        for m in BATCHES:
            cpu, n_cpu = time_cell("numpy", sizes, m, X, y, seconds=seconds, repeats=repeats)
            row = {"network": name, "sizes": sizes, "mini_batch_size": m, "dtype": "float32",
                   "cpu_epoch_seconds": cpu, "cpu_samples_timed": n_cpu,
                   "gpu_epoch_seconds": None, "gpu_samples_timed": None}
            if gpu is not None:
                row["gpu_epoch_seconds"], row["gpu_samples_timed"] = time_cell(
                    "cupy", sizes, m, X, y, seconds=seconds, repeats=repeats)
                row["gpu_speedup"] = cpu / row["gpu_epoch_seconds"]
                gpu_times.append(row["gpu_epoch_seconds"])
            cpu_times.append(cpu)
            log(f"  {name} {sizes} m={m}: CPU {cpu:.3f} s/epoch"
                + (f", GPU {row['gpu_epoch_seconds']:.3f} s/epoch" if gpu is not None else ""))
            rows.append(row)
        if gpu is not None:
            crossovers[name] = crossover(BATCHES, cpu_times, gpu_times)
    return rows, crossovers


def peak_share(rows, gpu):
    """For the largest mini-batch of the wide network: anynet's matmul FLOP/s
    against the square-GEMM peak and against cuBLAS on the step's own shapes."""
    row = next(r for r in rows if r["network"] == "wide" and r["mini_batch_size"] == BATCHES[-1])
    sizes, m = row["sizes"], row["mini_batch_size"]
    achieved = matmul_flops(sizes, EPOCH, m) / row["gpu_epoch_seconds"]
    peak = gemm_peak(gpu)
    same = cublas_flops_per_second(gpu, sizes, m, "float32")
    return {"sizes": sizes, "mini_batch_size": m, "dtype": "float32",
            "anynet_matmul_flops_per_second": achieved,
            "cublas_square_gemm_flops_per_second": peak, "square_gemm_n": 8192,
            "cublas_same_shapes_flops_per_second": same,
            "fraction_of_gemm_peak": achieved / peak, "fraction_of_same_shape_cublas": achieved / same}


def plot(ax, rows):
    """Epoch seconds against mini-batch size, one line per network and device."""
    for name, color in zip(NETS, ("C0", "C3")):
        cells = [r for r in rows if r["network"] == name]
        ms = [r["mini_batch_size"] for r in cells]
        ax.plot(ms, [r["cpu_epoch_seconds"] for r in cells], "o--", color=color, label=f"{name} CPU")
        if cells[0]["gpu_epoch_seconds"] is not None:
            ax.plot(ms, [r["gpu_epoch_seconds"] for r in cells], "s-", color=color, label=f"{name} GPU")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("mini-batch size")
    ax.set_ylabel("seconds per 50,000-image epoch (float32)")
    ax.legend(fontsize=7)


def print_grid(grid, crossovers, peak):
    header = ["network", "mini-batch", "CPU s/epoch", "GPU s/epoch", "GPU speed-up"]
    table = [[r["network"], r["mini_batch_size"], f"{r['cpu_epoch_seconds']:.3f}",
              "skipped" if r["gpu_epoch_seconds"] is None else f"{r['gpu_epoch_seconds']:.3f}",
              f"{r['gpu_speedup']:.1f}x" if "gpu_speedup" in r else "-"] for r in grid]
    print(harness.format_table(header, table))
    for name, m in crossovers.items():
        print(f"crossover, {name} {NETS[name]}: the GPU is faster from mini-batch {m}")
    if peak:
        print(f"{peak['sizes']} m={peak['mini_batch_size']}: anynet's products run at "
              f"{peak['anynet_matmul_flops_per_second'] / 1e12:.1f} TFLOP/s, "
              f"{100 * peak['fraction_of_gemm_peak']:.0f}% of cuBLAS's {peak['square_gemm_n']}^2 float32 GEMM "
              f"({peak['cublas_square_gemm_flops_per_second'] / 1e12:.1f} TFLOP/s) and "
              f"{100 * peak['fraction_of_same_shape_cublas']:.0f}% of cuBLAS on the step's own shapes")
