"""Reproduce two experiments of chapter 3 of Nielsen's book on Fashion-MNIST.

a. "Cross-entropy with 1/sqrt(n_in) initialisation beats quadratic cost with
   N(0, 1) initialisation after one epoch."  network.py's network (sigmoid
   layers, quadratic cost, weights and biases N(0, 1)) against network2.py's
   (cross-entropy cost, weights N(0, 1/n_in)), mini-batch 10, a few epochs,
   several seeds, accuracy on the 10,000 validation images after every epoch.
   Cross-entropy uses the book's eta 0.5; the quadratic cost gets a tiny eta
   sweep around the book's 3.0 and is reported at its best eta.  The two
   off-diagonal cells (quadratic + 1/sqrt(n_in), cross-entropy + N(0, 1)) are
   run too, to separate the effect of the cost from that of the initialiser.

b. "L2 regularisation narrows the gap between training and test accuracy on a
   1,000-image training set."  The book's overfitting experiment: [784, 30, 10],
   cross-entropy, eta 0.5, mini-batch 10, the first 1,000 training images,
   400 epochs, lmbda 0 against lmbda 0.1; training and test accuracy after
   every epoch (the book evaluates this experiment on the test set).  lmbda
   1.0 and 5.0 are run as extras, because on Fashion-MNIST the book's 0.1 is
   too weak to change the gap (see results/chapter3-b.json).

Each experiment prints a table and writes ``chapter3-<a|b>.json`` and
``.png`` into ``benchmarks/results/``.  Every network has a fixed seed, so the
same command gives the same numbers.

    python benchmarks/chapter3.py            # both experiments (about 5 minutes on 2 cores)
    python benchmarks/chapter3.py --quick    # smoke run (seconds), writes *-quick.*
    python benchmarks/chapter3.py --only b --epochs-b 200
"""

from __future__ import annotations

import statistics
import time

import harness
import numpy as np

from anynet import CrossEntropyCost, Network, QuadraticCost
from anynet.datasets import load_dataset

# Experiment a: (label, cost, initializer).  Cross-entropy trains at the book's
# eta 0.5, the quadratic cost at the best eta of its sweep.
CE_ETA = 0.5
QUADRATIC_ETAS = (1.0, 3.0, 6.0)
A_MAIN = (
    ("quadratic + N(0,1) (network.py)", QuadraticCost, "large"),
    ("cross-entropy + N(0,1/n_in) (network2.py)", CrossEntropyCost, "default"),
)
A_EXTRA = (
    ("quadratic + N(0,1/n_in)", QuadraticCost, "default"),
    ("cross-entropy + N(0,1)", CrossEntropyCost, "large"),
)


def mean_std(values):
    values = list(values)
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def pct(count, n):
    return 100.0 * count / n


def train_curve(sizes, cost, initializer, eta, seed, train, evaluation, epochs, dtype, lmbda=0.0, training_accuracy=False):
    """Train one network; return its per-epoch accuracies in percent.  Costs
    are not monitored: the experiments compare accuracies, and each monitored
    cost is one more pass over the data."""
    net = Network(sizes, cost, seed=seed, dtype=dtype, initializer=initializer)
    start = time.perf_counter()
    _, eval_acc, _, train_acc = net.SGD(
        train,
        epochs,
        10,
        eta,
        lmbda=lmbda,
        evaluation_data=evaluation,
        monitor_evaluation_accuracy=True,
        monitor_training_accuracy=training_accuracy,
        verbose=False,
    )
    seconds = time.perf_counter() - start
    n_eval, n_train = len(evaluation[1]), len(train[1])
    out = {
        "seed": seed,
        "seconds": round(seconds, 3),
        "evaluation_accuracy": [round(pct(c, n_eval), 2) for c in eval_acc],
    }
    if training_accuracy:
        out["training_accuracy"] = [round(pct(c, n_train), 2) for c in train_acc]
        out["final_sum_squared_weights"] = round(float(sum(np.sum(np.asarray(w, dtype=np.float64) ** 2) for w in net.weights)), 2)
    return out


# -- experiment a ---------------------------------------------------------------


def experiment_a(data, *, hidden_sizes, seeds, epochs, dtype, quick):
    train, validation = data.train, data.validation
    if quick:
        train = (train[0][:5000], train[1][:5000])
    results = {"hidden": {}}
    started = time.perf_counter()
    for hidden in hidden_sizes:
        sizes = [784, hidden, 10]
        runs = {}
        # The tiny sweep: quadratic + N(0,1) at each eta, every seed.
        sweep = {}
        for eta in QUADRATIC_ETAS:
            curves = [train_curve(sizes, QuadraticCost, "large", eta, s, train, validation, epochs, dtype) for s in seeds]
            sweep[eta] = curves
            first = mean_std(c["evaluation_accuracy"][0] for c in curves)
            print(f"  [{hidden} hidden] quadratic + N(0,1), eta {eta}: epoch-1 accuracy {first[0]:.2f} +- {first[1]:.2f} %")
        best_eta = max(QUADRATIC_ETAS, key=lambda e: statistics.fmean(c["evaluation_accuracy"][0] for c in sweep[e]))
        for label, cost, init in A_MAIN + A_EXTRA:
            eta = CE_ETA if cost is CrossEntropyCost else best_eta
            if cost is QuadraticCost and init == "large":
                curves = sweep[eta]
            else:
                curves = [train_curve(sizes, cost, init, eta, s, train, validation, epochs, dtype) for s in seeds]
            runs[label] = {"cost": cost.name, "initializer": init, "eta": eta, "runs": curves}
        results["hidden"][str(hidden)] = {
            "sizes": sizes,
            "quadratic_eta_sweep": {
                str(eta): {
                    "epoch1_mean": round(mean_std(c["evaluation_accuracy"][0] for c in curves)[0], 3),
                    "runs": curves,
                }
                for eta, curves in sweep.items()
            },
            "best_quadratic_eta": best_eta,
            "configs": runs,
        }
    results["seconds"] = round(time.perf_counter() - started, 1)
    return results


def summarise_a(results, epochs):
    lines = []
    for block in results["hidden"].values():
        lines.append(f"\nExperiment a: {block['sizes']}, mini-batch 10, validation accuracy (%), mean +- std over seeds")
        lines.append(
            "quadratic eta sweep (epoch 1): "
            + ", ".join(f"eta {eta}: {s['epoch1_mean']:.2f}" for eta, s in block["quadratic_eta_sweep"].items())
            + f"  -> best eta {block['best_quadratic_eta']}"
        )
        header = f"{'configuration':44s} {'eta':>5s} " + " ".join(f"{'ep' + str(e + 1):>13s}" for e in range(epochs))
        lines.append(header)
        lines.append("-" * len(header))
        for label, cfg in block["configs"].items():
            cells = []
            for e in range(epochs):
                m, s = mean_std(r["evaluation_accuracy"][e] for r in cfg["runs"])
                cells.append(f"{m:6.2f} +-{s:5.2f}")
                cfg.setdefault("mean", []).append(round(m, 3))
                cfg.setdefault("std", []).append(round(s, 3))
            lines.append(f"{label:44s} {cfg['eta']:5g} " + " ".join(cells))
        q = block["configs"][A_MAIN[0][0]]
        c = block["configs"][A_MAIN[1][0]]
        wins = sum(cr["evaluation_accuracy"][0] > qr["evaluation_accuracy"][0] for cr, qr in zip(c["runs"], q["runs"]))
        block["epoch1"] = {
            "quadratic_large": q["mean"][0],
            "cross_entropy_default": c["mean"][0],
            "difference": round(c["mean"][0] - q["mean"][0], 3),
            "seeds_where_cross_entropy_wins": wins,
            "n_seeds": len(c["runs"]),
        }
        lines.append(
            f"epoch 1: cross-entropy + N(0,1/n_in) {c['mean'][0]:.2f}% vs quadratic + N(0,1) {q['mean'][0]:.2f}% "
            f"(+{c['mean'][0] - q['mean'][0]:.2f} points; cross-entropy ahead on {wins}/{len(c['runs'])} seeds)"
        )
    return "\n".join(lines)


def plot_a(axes, results, epochs):
    """Validation accuracy per epoch, one panel per hidden width; returns the title."""
    blocks = list(results["hidden"].items())
    styles = ["C3-o", "C0-o", "C1--s", "C2--^"]
    x = np.arange(1, epochs + 1)
    for ax, (hidden, block) in zip(axes[0], blocks):
        for style, (label, cfg) in zip(styles, block["configs"].items()):
            m, s = np.array(cfg["mean"]), np.array(cfg["std"])
            ax.plot(x, m, style, label=f"{label}, eta {cfg['eta']:g}", lw=2 if style.endswith("o") else 1.2, ms=4)
            ax.fill_between(x, m - s, m + s, color=style[:2], alpha=0.15)
        ax.set_title(f"Fashion-MNIST, {block['sizes']}, mini-batch 10")
        ax.set_xlabel("epoch")
        ax.set_ylabel("validation accuracy (%)")
        ax.set_xticks(x)
        ax.legend(loc="lower right")
    n_seeds = len(next(iter(blocks[0][1]["configs"].values()))["runs"])
    return f"Chapter 3: cost and initialisation (mean and +-1 std over {n_seeds} seeds)"


# -- experiment b ---------------------------------------------------------------

B_LMBDAS = (0.0, 0.1)  # the book's experiment
B_EXTRA_LMBDAS = (1.0, 5.0)  # stronger decay, to see where the gap does close on Fashion-MNIST
LAST = 10  # the "final" gap is also reported as a mean over the last LAST epochs (single epochs are noisy)


def experiment_b(data, *, seeds, epochs, n_train, lmbdas, dtype):
    train = (data.train[0][:n_train], data.train[1][:n_train])
    test = data.test
    out = {"sizes": [784, 30, 10], "eta": 0.5, "mini_batch_size": 10, "n_train": n_train, "epochs": epochs, "lmbda": {}}
    started = time.perf_counter()
    for lmbda in lmbdas:
        runs = []
        for s in seeds:
            r = train_curve(
                [784, 30, 10], CrossEntropyCost, "default", 0.5, s, train, test, epochs, dtype,
                lmbda=lmbda, training_accuracy=True,
            )
            r["test_accuracy"] = r.pop("evaluation_accuracy")
            runs.append(r)
            print(
                f"  lmbda {lmbda}, seed {s}: final train {r['training_accuracy'][-1]:.2f}%, "
                f"test {r['test_accuracy'][-1]:.2f}%, sum w^2 {r['final_sum_squared_weights']:.0f}  ({r['seconds']:.1f}s)"
            )
        out["lmbda"][str(lmbda)] = {"book": lmbda in B_LMBDAS, "runs": runs}
    out["seconds"] = round(time.perf_counter() - started, 1)
    return out


def summarise_b(results):
    last = min(LAST, results["epochs"])
    lines = [
        (f"\nExperiment b: {results['sizes']}, cross-entropy, eta {results['eta']}, mini-batch "
         f"{results['mini_batch_size']}, first {results['n_train']} training images, {results['epochs']} epochs, "
         "test set; accuracy (%) mean +- std over seeds"),
    ]
    header = (
        f"{'lmbda':>6s} {'final train':>14s} {'final test':>14s} {'final gap':>14s} "
        f"{'gap, last ' + str(last) + ' ep':>16s} {'best test (ep)':>16s} {'sum w^2':>8s}"
    )
    lines.append(header)
    lines.append("-" * len(header))
    for lmbda, block in results["lmbda"].items():
        runs = block["runs"]
        tr = mean_std(r["training_accuracy"][-1] for r in runs)
        te = mean_std(r["test_accuracy"][-1] for r in runs)
        gap = mean_std(r["training_accuracy"][-1] - r["test_accuracy"][-1] for r in runs)
        gap_last = mean_std(
            statistics.fmean(a - b for a, b in zip(r["training_accuracy"][-last:], r["test_accuracy"][-last:])) for r in runs
        )
        best = mean_std(max(r["test_accuracy"]) for r in runs)
        best_epoch = statistics.fmean(int(np.argmax(r["test_accuracy"])) + 1 for r in runs)
        w2 = statistics.fmean(r["final_sum_squared_weights"] for r in runs)
        block["summary"] = {
            "final_train_mean": round(tr[0], 3), "final_train_std": round(tr[1], 3),
            "final_test_mean": round(te[0], 3), "final_test_std": round(te[1], 3),
            "final_gap_mean": round(gap[0], 3), "final_gap_std": round(gap[1], 3),
            f"gap_last{last}_mean": round(gap_last[0], 3), f"gap_last{last}_std": round(gap_last[1], 3),
            "best_test_mean": round(best[0], 3), "best_test_epoch_mean": round(best_epoch, 1),
            "final_sum_squared_weights_mean": round(w2, 1),
        }
        block["mean_training_accuracy"] = [round(float(v), 3) for v in np.mean([r["training_accuracy"] for r in runs], axis=0)]
        block["mean_test_accuracy"] = [round(float(v), 3) for v in np.mean([r["test_accuracy"] for r in runs], axis=0)]
        mark = "" if block["book"] else "  (extra)"
        lines.append(
            f"{lmbda:>6s} {tr[0]:7.2f} +-{tr[1]:4.2f} {te[0]:7.2f} +-{te[1]:4.2f} {gap[0]:7.2f} +-{gap[1]:4.2f} "
            f"{gap_last[0]:9.2f} +-{gap_last[1]:4.2f} {best[0]:9.2f} ({best_epoch:4.0f}) {w2:8.0f}{mark}"
        )
    return "\n".join(lines)


def plot_b(axes, results):
    """Training and test accuracy (the book's two lmbdas) and the gap (all); returns the title."""
    ax, axg = axes
    for i, (lmbda, block) in enumerate(results["lmbda"].items()):
        c = f"C{[3, 0, 2, 1, 4, 5][i % 6]}"
        x = np.arange(1, len(block["mean_test_accuracy"]) + 1)
        s = block["summary"]
        if block["book"]:
            ax.plot(x, block["mean_training_accuracy"], color=c, ls="--", lw=1.2, label=f"lmbda {lmbda}: training")
            ax.plot(
                x, block["mean_test_accuracy"], color=c, lw=1.8,
                label=f"lmbda {lmbda}: test (final gap {s['final_gap_mean']:.1f} points)",
            )
        gap = np.array(block["mean_training_accuracy"]) - np.array(block["mean_test_accuracy"])
        axg.plot(x, gap, color=c, lw=1.8 if block["book"] else 1.1, label=f"lmbda {lmbda}" + ("" if block["book"] else " (extra)"))
    n_seeds = len(next(iter(results["lmbda"].values()))["runs"])
    ax.set_title(f"the book's experiment: lmbda 0 vs 0.1 (mean of {n_seeds} seeds)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy (%)")
    ax.legend(loc="lower right")
    axg.set_title("gap: training accuracy - test accuracy (points)")
    axg.set_xlabel("epoch")
    axg.set_ylabel("gap (percentage points)")
    axg.legend()
    return (f"Chapter 3 overfitting on Fashion-MNIST: {results['sizes']}, cross-entropy, eta {results['eta']}, "
            f"mini-batch {results['mini_batch_size']}, first {results['n_train']} training images")


# -- main -------------------------------------------------------------------------


def main(argv=None):
    p = harness.arguments(__doc__, quick="a smoke run: fewer images, epochs and seeds; writes *-quick.* files")
    p.add_argument("--only", choices=("a", "b"), help="run one experiment")
    p.add_argument("--seeds", type=int, nargs="+", help="network seeds (default 0 1 2; quick: 0)")
    p.add_argument("--hidden", type=int, nargs="+", help="hidden widths for experiment a (default 30 100; quick: 30)")
    p.add_argument("--epochs-a", type=int, help="epochs for experiment a (default 5; quick: 2)")
    p.add_argument("--epochs-b", type=int, help="epochs for experiment b (default 400; quick: 20)")
    p.add_argument("--book-lmbdas-only", action="store_true", help="experiment b with lmbda 0 and 0.1 only")
    p.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    args = harness.parse(p, argv)
    environment = harness.machine_info(args) | {"backend": "numpy", "dtype": args.dtype}

    q = args.quick
    seeds = args.seeds or ([0] if q else [0, 1, 2])
    hidden = args.hidden or ([30] if q else [30, 100])
    epochs_a = args.epochs_a or (2 if q else 5)
    epochs_b = args.epochs_b or (20 if q else 400)
    suffix = "-quick" if q else ""

    data = load_dataset("fashion-mnist", dtype=args.dtype, progress=False)
    print(f"Fashion-MNIST from {data.source}; dtype {args.dtype}; seeds {seeds}")

    if args.only in (None, "a"):
        print(f"\nExperiment a: quadratic + N(0,1) vs cross-entropy + N(0,1/n_in), {epochs_a} epochs")
        res = experiment_a(data, hidden_sizes=hidden, seeds=seeds, epochs=epochs_a, dtype=args.dtype, quick=q)
        table = summarise_a(res, epochs_a)
        print(table)
        record = {
            "experiment": "chapter3-a: cross-entropy + 1/sqrt(n_in) init vs quadratic + N(0,1) init",
            "dataset": data.source,
            "train_images": 5000 if q else len(data.train[1]),
            "evaluation": "validation (last 10,000 of the training file)",
            "mini_batch_size": 10,
            "epochs": epochs_a,
            "seeds": seeds,
            "cross_entropy_eta": CE_ETA,
            "quadratic_etas_swept": list(QUADRATIC_ETAS),
            "environment": environment,
            "table": table.strip().splitlines(),
            **res,
        }
        print(f"experiment a: {res['seconds']} s")
        harness.save_results(args.out, f"chapter3-a{suffix}", record, lambda fig, axes: plot_a(axes, res, epochs_a),
                             ncols=len(res["hidden"]), figsize=(6.2 * len(res["hidden"]), 4.6), squeeze=False)

    if args.only in (None, "b"):
        print(f"\nExperiment b: overfitting on 1,000 images, lmbda 0 vs 0.1 (+ extras), {epochs_b} epochs")
        lmbdas = B_LMBDAS + (() if args.book_lmbdas_only else B_EXTRA_LMBDAS)
        res = experiment_b(data, seeds=seeds, epochs=epochs_b, n_train=1000, lmbdas=lmbdas, dtype=args.dtype)
        table = summarise_b(res)
        print(table)
        record = {
            "experiment": "chapter3-b: L2 regularisation and the train/test gap on 1,000 training images",
            "dataset": data.source,
            "evaluation": "test (10,000 images), as the book's overfitting experiment",
            "seeds": seeds,
            "environment": environment,
            "table": table.strip().splitlines(),
            **res,
        }
        print(f"experiment b: {res['seconds']} s")
        harness.save_results(args.out, f"chapter3-b{suffix}", record, lambda fig, axes: plot_b(axes, res),
                             ncols=2, figsize=(13, 4.8))


if __name__ == "__main__":
    main()
