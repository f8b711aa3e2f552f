"""NetworkClassifier against scikit-learn's MLPClassifier at MLPClassifier's own
settings, on scikit-learn's digits: time per epoch, side by side.

    python benchmarks/bench_sklearn.py [--quick] [--epochs E] [--rounds R] [--threads N] [--out DIR]

Workload: ``sklearn.datasets.load_digits`` (1,797 8x8 images, 10 classes),
standardised, 75 % for training (1,347 rows) and 25 % held out.  Both
estimators at MLPClassifier's defaults: one hidden layer of 100 ReLU units,
a softmax output with the log-likelihood (log-loss) cost, Adam with step
size 1e-3, mini-batches of 200, float64, shuffled every epoch, and the same
number of epochs (MLPClassifier's early stop switched off with
``n_iter_no_change`` above ``max_iter``).  MLPClassifier's L2 term
(alpha 1e-4, divided by the mini-batch size) is matched by NetworkClassifier's
``lmbda = alpha * n_train / 200``, which decays the weights by the same
amount per step.  Each estimator measures its training cost once per epoch
(MLPClassifier from its mini-batches, NetworkClassifier over the training
set after the epoch, for ``loss_curve_``).

Timing: BLAS limited to one thread (threadpoolctl) for both unless
``--threads`` says otherwise; each round fits both estimators, in alternating
order, from a fresh estimator; a fit's time (thread CPU time, which other
processes on a shared machine do not inflate, and wall time) divided by its
epochs is its time per epoch, fixed costs (checks, the first allocation)
included.  Reported: medians over the rounds and the ratio of the medians,
NetworkClassifier / MLPClassifier (below 1: NetworkClassifier is faster),
plus each estimator's held-out accuracy.  Writes ``sklearn-<machine>.json``
and ``.png``.
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import harness
import numpy as np

HIDDEN = (100,)
BATCH = 200
ETA = 1e-3
ALPHA = 1e-4  # MLPClassifier's default L2 strength


def workload():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), y_train, scaler.transform(X_test), y_test


def contestants(epochs, n_train, seed):
    from sklearn.neural_network import MLPClassifier

    from anynet.sklearn import NetworkClassifier

    return {
        "NetworkClassifier": lambda: NetworkClassifier(
            HIDDEN, epochs=epochs, batch_size=BATCH, eta=ETA, lmbda=ALPHA * n_train / BATCH, random_state=seed),
        "MLPClassifier": lambda: MLPClassifier(
            HIDDEN, batch_size=BATCH, learning_rate_init=ETA, alpha=ALPHA, max_iter=epochs,
            n_iter_no_change=epochs + 1, random_state=seed),
    }


def time_fit(make, X, y, epochs):
    """``(cpu seconds per epoch, wall seconds per epoch, fitted estimator)``."""
    estimator = make()
    cpu, wall = time.thread_time(), time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MLPClassifier's ConvergenceWarning: it is told to run every epoch
        estimator.fit(X, y)
    return (time.thread_time() - cpu) / epochs, (time.perf_counter() - wall) / epochs, estimator


def measure(epochs, rounds, threads):
    from threadpoolctl import threadpool_limits

    X, y, X_test, y_test = workload()
    makers = contestants(epochs, len(y), seed=0)
    names = list(makers)
    cpu = {name: [] for name in names}
    wall = {name: [] for name in names}
    accuracy = {}
    with threadpool_limits(limits=threads):
        for r in range(rounds):
            for name in names if r % 2 == 0 else names[::-1]:
                c, w, fitted = time_fit(makers[name], X, y, epochs)
                cpu[name].append(c)
                wall[name].append(w)
                accuracy[name] = float(fitted.score(X_test, y_test))
            print(f"  round {r + 1}/{rounds}: " + ", ".join(
                f"{n} {1e3 * cpu[n][-1]:.2f} ms cpu / {1e3 * wall[n][-1]:.2f} ms wall per epoch" for n in names))
    return {"cpu": cpu, "wall": wall, "accuracy": accuracy, "n_train": len(y), "n_test": len(y_test)}


def summarise(result):
    rows, summary = [], {}
    for clock in ("cpu", "wall"):
        medians = {name: harness.median(times) for name, times in result[clock].items()}
        ratio = medians["NetworkClassifier"] / medians["MLPClassifier"]
        paired = harness.paired_ratios(result[clock]["NetworkClassifier"], result[clock]["MLPClassifier"])
        summary[clock] = {"median_s_per_epoch": medians, "ratio": ratio, "paired_ratios": paired}
        rows.append([clock, f"{1e3 * medians['NetworkClassifier']:.2f}", f"{1e3 * medians['MLPClassifier']:.2f}",
                     f"{ratio:.2f}"])
    print(harness.format_table(["clock", "NetworkClassifier ms/epoch", "MLPClassifier ms/epoch",
                                "ratio"], rows))
    print("held-out accuracy: " + ", ".join(f"{n} {a:.4f}" for n, a in result["accuracy"].items()))
    return summary


def draw(result, summary, info):
    def plot(fig, axes):
        for ax, clock in zip(axes, ("cpu", "wall")):
            for name, times in result[clock].items():
                ax.plot(range(1, len(times) + 1), [1e3 * t for t in times], marker="o", label=name)
            ax.set(xlabel="round", ylabel="ms per epoch", title=f"{clock} time per epoch (ratio "
                   f"{summary[clock]['ratio']:.2f})")
            ax.set_ylim(bottom=0)
            ax.legend()
        return f"digits, [64, 100, 10], batch {BATCH}, Adam {ETA:g}\n{harness.describe(info)}"

    return plot


def main(argv=None):
    parser = harness.arguments(__doc__, quick="10 epochs, 3 rounds")
    parser.add_argument("--epochs", type=int, default=50, help="epochs per fit (default 50)")
    parser.add_argument("--rounds", type=int, default=9, help="fits of each estimator, interleaved (default 9)")
    args = harness.parse(parser, argv)
    epochs, rounds = (10, 3) if args.quick else (args.epochs, args.rounds)
    threads = args.threads or 1
    info = harness.machine_info(args) | {"threadpoolctl_limit": threads}
    try:
        import sklearn
    except ImportError:
        sys.exit("bench_sklearn.py needs scikit-learn: pip install scikit-learn threadpoolctl")
    info["sklearn"] = sklearn.__version__
    print(f"{harness.describe(info)}; scikit-learn {sklearn.__version__}; {threads} BLAS thread(s); "
          f"{epochs} epochs per fit, {rounds} rounds")
    result = measure(epochs, rounds, threads)
    summary = summarise(result)
    payload = {"machine": info, "workload": {"dataset": "sklearn.datasets.load_digits", "hidden": HIDDEN,
                                             "batch_size": BATCH, "eta": ETA, "alpha": ALPHA, "epochs": epochs,
                                             "rounds": rounds, "n_train": result["n_train"]},
               "raw_s_per_epoch": {"cpu": result["cpu"], "wall": result["wall"]},
               "accuracy": result["accuracy"], "summary": summary}
    stem = "sklearn-" + harness.run_slug(info, threads, args.quick)
    harness.save_results(Path(args.out), stem, payload, draw(result, summary, info), ncols=2, figsize=(10, 4))


if __name__ == "__main__":
    main()
