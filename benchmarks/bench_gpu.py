"""anynet on CuPy against a hand-written CuPy loop and PyTorch on CUDA, with the
matmul throughput the training step achieves next to cuBLAS's own.

    python benchmarks/bench_gpu.py [--quick] [--images N] [--threads N] [--out benchmarks/results]

Without CuPy or a CUDA device it says so and times the CPU half of the grid
below (exit status 0).  ``--quick`` is sized for about two minutes on one
H100/H200 (not yet measured there).

Workloads: the seed's ([784, 30, 10], mini-batch 10, eta 3.0, 50,000 images,
float64 and float32) and a large one ([784, 4096, 4096, 10], mini-batch 1024,
float32).  Contestants, from the same initial weights:

* anynet, ``Network(..., backend="cupy").SGD((X, y), ...)`` with X, y on the
  host (SGD validates them and moves them to the GPU: users pay this), and
  with X, y already CuPy arrays;
* the hand-written loop of ``numpy_loop.py`` run with ``lib=cupy``;
* PyTorch eager on "cuda" (``nn.Linear`` + ``nn.Sigmoid``, 0.5 * summed MSE,
  ``optim.SGD(lr=eta/m)``), when torch has CUDA.

Timing: every contestant runs once untimed (CuPy compiles its kernels, cuBLAS
and PyTorch initialise), then all are timed interleaved for ``--repeats``
rounds: the device is synchronised after the untimed reset and once at the
end of the timed epochs, never inside the loop; medians.  Matmul throughput:
the FLOPs of the step's matmuls (forward ``a @ w.T``, ``delta.T @ a`` and
``delta @ w``) over the epoch time, against ``cupy.matmul`` timed on exactly
those shapes in the same run.  TF32 stays at the libraries' defaults (off in
both CuPy and PyTorch) and is reported.

Then the CPU/GPU grid of ``gpu_grid.py``: anynet's epoch time on NumPy and on
CuPy for mini-batch 10, 100 and 1000 and networks [784, 30, 10] and [784,
1024, 1024, 10], the mini-batch size from which the GPU wins, and the share
of cuBLAS's float32 GEMM peak the wide network reaches at mini-batch 1000.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import gpu_grid
import harness
import numpy as np
import numpy_loop
from contestants import AnynetPrepare, AnynetSGD, TorchEager, Workload
from gpu_grid import cublas_flops_per_second, matmul_flops

ETA = 3.0
WORKLOADS = {  # name: (sizes, mini-batch, dtypes, epochs per timing)
    "seed": ([784, 30, 10], 10, ("float64", "float32"), 1),
    "large": ([784, 4096, 4096, 10], 1024, ("float32",), 3),
}


def cuda_or_reason():
    """``(cupy, None)`` when CuPy sees a CUDA device, else ``(None, why not)``."""
    try:
        import cupy
    except ImportError as exc:
        return None, f"CuPy is not installed ({exc}); pip install 'anynet[cuda12]' or 'anynet[cuda13]'"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDARuntimeError without a driver, and its kin
        return None, f"CuPy found no usable CUDA driver ({exc})"
    if count == 0:
        return None, "CuPy sees no CUDA device"
    return cupy, None


def torch_cuda():
    try:
        import torch
    except ImportError:
        return None
    return torch if torch.cuda.is_available() else None


def gpu_info(cupy, torch):
    properties = cupy.cuda.runtime.getDeviceProperties(0)
    name = properties["name"]
    info = {
        "gpu": name.decode() if isinstance(name, bytes) else str(name),
        "gpu_memory_gib": properties["totalGlobalMem"] / 2**30,
        "cuda_runtime": cupy.cuda.runtime.runtimeGetVersion(),
        "cuda_driver": cupy.cuda.runtime.driverGetVersion(),
        "cupy": cupy.__version__,
        "cupy_tf32": "CUPY_TF32 environment variable (default off)",
        "torch_cuda": None,
    }
    if torch is not None:
        info["torch_cuda"] = torch.version.cuda
        info["torch_allow_tf32_matmul"] = torch.backends.cuda.matmul.allow_tf32
        info["torch_float32_matmul_precision"] = torch.get_float32_matmul_precision()
    return info


class CupyLoop:
    """numpy_loop.epoch with lib=cupy: everything on the device, one sync at the end."""

    label = "hand-written CuPy loop"

    def __init__(self, work, cupy, epochs):
        self.cupy, self.work, self.epochs = cupy, work, epochs
        self.X = cupy.asarray(work.X)
        self.Y = cupy.asarray(harness.one_hot(work.y, work.X.dtype))
        weights, biases = work.initial_parameters()
        self.weights0 = [cupy.asarray(w) for w in weights]
        self.biases0 = [cupy.asarray(b.reshape(-1)) for b in biases]
        self.rng = np.random.default_rng(0)

    def reset(self):
        self.weights = [w.copy() for w in self.weights0]
        self.biases = [b.copy() for b in self.biases0]

    def run(self):
        w = self.work
        for _ in range(self.epochs):
            order = self.cupy.asarray(self.rng.permutation(w.n))  # the host shuffles, like anynet's seeded SGD
            numpy_loop.epoch(self.weights, self.biases, self.X, self.Y, order, w.mini_batch_size, w.eta, lib=self.cupy)
        self.cupy.cuda.Device().synchronize()


class TorchCuda(TorchEager):
    label = "PyTorch eager, cuda"

    def __init__(self, work, epochs):
        super().__init__(work, device="cuda")
        self.epochs = epochs

    def run(self):
        for _ in range(self.epochs):
            order = self.torch.randperm(self.work.n, generator=self.generator, device=self.device)
            self.train(order)
        self.torch.cuda.synchronize(self.device)


def contestants_for(work, cupy, torch, epochs):
    """name -> (reset, run); every reset ends with the device synchronised."""
    on_device = Workload(work.sizes, work.mini_batch_size, work.eta, work.dtype, cupy.asarray(work.X), cupy.asarray(work.y))
    chosen = {
        "anynet": AnynetSGD(work, backend="cupy", epochs=epochs),
        "anynet-device-data": AnynetSGD(on_device, backend="cupy", epochs=epochs),
        "anynet-data-move": AnynetPrepare(work, backend="cupy"),
        "cupy-loop": CupyLoop(work, cupy, epochs),
    }
    if torch is not None:
        chosen["torch-cuda"] = TorchCuda(work, epochs)

    def synchronised(reset):
        def reset_and_sync():
            reset()
            cupy.cuda.Device().synchronize()
            if torch is not None:
                torch.cuda.synchronize()

        return reset_and_sync

    return {name: (synchronised(c.reset), c.run) for name, c in chosen.items()}


def run_workload(name, X64, y, cupy, torch, repeats, quick):
    sizes, m, dtypes, epochs = WORKLOADS[name]
    n = len(y)
    rows = []
    for dtype in dtypes:
        work = Workload(sizes, m, ETA, dtype, X64.astype(dtype), y)
        contestants = contestants_for(work, cupy, torch, epochs)
        print(f"{name} {sizes} m={m} {dtype}: warm-up ...", flush=True)
        for reset, run in contestants.values():
            reset()
            run()
        times = harness.interleaved(contestants, repeats)
        medians = {k: harness.median(v) for k, v in times.items()}
        flops = matmul_flops(sizes, n, m) * epochs
        cublas = cublas_flops_per_second(cupy, sizes, m, dtype, seconds=0.2 if quick else 1.0)
        achieved = {k: flops / medians[k] for k in medians if k != "anynet-data-move"}
        rows.append({
            "workload": name, "sizes": sizes, "mini_batch_size": m, "dtype": dtype, "n_samples": n,
            "epochs_per_timing": epochs, "seconds": times, "median_seconds": medians,
            "median_seconds_per_epoch": {k: v / (1 if k == "anynet-data-move" else epochs) for k, v in medians.items()},
            "matmul_flops_per_timing": flops, "achieved_matmul_flops_per_second": achieved,
            "cublas_flops_per_second_same_shapes": cublas,
            "fraction_of_cublas": {k: v / cublas for k, v in achieved.items()},
            "ratios": {
                "anynet/cupy-loop": medians["anynet"] / medians["cupy-loop"],
                "anynet-device-data/cupy-loop": medians["anynet-device-data"] / medians["cupy-loop"],
                **({"torch-cuda/anynet": medians["torch-cuda"] / medians["anynet"],
                    "torch-cuda/anynet-device-data": medians["torch-cuda"] / medians["anynet-device-data"]}
                   if "torch-cuda" in medians else {}),
            },
        })
    return rows


def print_table(rows):
    names = ["anynet", "anynet-device-data", "anynet-data-move", "cupy-loop", "torch-cuda"]
    header = ["workload", "dtype"] + [f"{n} s/epoch" for n in names] + ["anynet/loop", "torch/anynet", "anynet TFLOP/s",
                                                                         "cuBLAS TFLOP/s", "anynet/cuBLAS"]
    table = []
    for r in rows:
        per_epoch = r["median_seconds_per_epoch"]
        cells = [r["workload"], r["dtype"]] + [f"{per_epoch[n]:.4f}" if n in per_epoch else "absent" for n in names]
        cells += [f"{r['ratios']['anynet/cupy-loop']:.2f}",
                  f"{r['ratios']['torch-cuda/anynet']:.2f}" if "torch-cuda/anynet" in r["ratios"] else "absent",
                  f"{r['achieved_matmul_flops_per_second']['anynet'] / 1e12:.2f}",
                  f"{r['cublas_flops_per_second_same_shapes'] / 1e12:.2f}",
                  f"{r['fraction_of_cublas']['anynet']:.2f}"]
        table.append(cells)
    print(harness.format_table(header, table))
    print("anynet/loop: time of anynet (data on the host) / time of the CuPy loop; torch/anynet > 1: anynet is faster; "
          "TFLOP/s: the epoch's matmul FLOPs / the epoch's time")


def plot(path, rows, grid, info):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(rows) + 1, figsize=(4 * (len(rows) + 1), 3.6))
    axes = np.atleast_1d(axes)
    for ax, r in zip(axes, rows):
        names = [k for k in ("anynet", "anynet-device-data", "cupy-loop", "torch-cuda") if k in r["median_seconds_per_epoch"]]
        values = [r["median_seconds_per_epoch"][k] for k in names]
        ax.bar(range(len(names)), values, color=["C0", "C9", "C2", "C1"][: len(names)])
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=7)
        ax.set_title(f"{r['workload']} {r['sizes']} m={r['mini_batch_size']} {r['dtype']}", fontsize=8)
        ax.set_ylabel("seconds per epoch (median)")
    gpu_grid.plot(axes[-1], grid)
    axes[-1].set_title("anynet: CPU (NumPy) against GPU (CuPy)", fontsize=8)
    where = f"{info['gpu']}, CUDA runtime {info['cuda_runtime']}, CuPy {info['cupy']}" if info.get("gpu") else "no GPU"
    fig.suptitle(f"{where}; CPU {info['cpu_model']} ({info['logical_cores']} cores)", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 rounds on 10,000 images; grid cells of 0.3 s")
    parser.add_argument("--out", type=Path, default=harness.RESULTS)
    parser.add_argument("--repeats", type=int, help="interleaved rounds (default 5, quick 2)")
    parser.add_argument("--images", type=int, default=harness.N_TRAIN, help="images loaded (default 50,000)")
    parser.add_argument("--threads", type=int, help="CPU threads for NumPy's BLAS (default: all cores)")
    args = parser.parse_args(argv)
    if args.threads:
        harness.set_threads(args.threads)
    cupy, reason = cuda_or_reason()
    torch = torch_cuda() if cupy is not None else None
    repeats = args.repeats or (2 if args.quick else 5)
    info = harness.machine_info() | (gpu_info(cupy, torch) if cupy is not None else {"gpu": None, "gpu_skipped": reason})
    X64, y, source = harness.load_training_data(args.images)
    print(f"data: {source}")
    rows = []
    if cupy is None:
        print(f"GPU STEPS SKIPPED: {reason}. Timing the CPU half of the CPU/GPU grid only.")
    else:
        print(f"{info['gpu']}: CuPy {info['cupy']}, CUDA runtime {info['cuda_runtime']}, torch "
              f"{info['torch'] + ' cuda ' + str(info['torch_cuda']) if torch is not None else 'absent or without CUDA'}")
        n_compare = 10_000 if args.quick else len(y)
        for name in WORKLOADS:
            rows += run_workload(name, X64[:n_compare], y[:n_compare], cupy, torch, repeats, args.quick)
        print()
        print_table(rows)
    print("\nCPU (NumPy) against GPU (CuPy), anynet float32, data on the device:")
    grid, crossovers = gpu_grid.run_grid(X64, y, gpu=cupy, seconds=0.3 if args.quick else 1.0,
                                         repeats=2 if args.quick else 3)
    peak = gpu_grid.peak_share(grid, cupy) if cupy is not None else None
    print()
    gpu_grid.print_grid(grid, crossovers, peak)
    where = harness.slug(info["gpu"]) if cupy is not None else "cpu-only-" + harness.run_slug(info, None, False)
    stem = f"gpu-{where}{'-quick' if args.quick else ''}"
    payload = {
        "benchmark": "bench_gpu",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": info,
        "data": source,
        "gpu_skipped": None if cupy is not None else reason,
        "timing": "one untimed warm-up run each; then interleaved rounds, device synchronised after each reset and "
                  "once at the end of the timed epochs; medians",
        "flops": "matmul FLOPs per epoch: per batch of b and layer (x -> y), 2*b*x*y for a @ w.T and for delta.T @ a, "
                 "and for delta @ w except on the first layer; cuBLAS = cupy.matmul on the same shapes and layouts",
        "results": rows,
        "grid": {"method": gpu_grid.__doc__.split("\n\n")[1].replace("\n", " "), "cells": grid,
                 "crossover_mini_batch": crossovers, "gemm_peak": peak},
    }
    json_path = harness.save_json(args.out / f"{stem}.json", payload)
    png_path = args.out / f"{stem}.png"
    try:
        plot(png_path, rows, grid, info)
    except ImportError:
        png_path = "(matplotlib absent: no plot)"
    print(f"wrote {json_path} and {png_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
