"""Regression on the command line: ``anynet train --data table.csv --target
price`` fits a network with a linear output and the quadratic cost when the
target column is real-valued (see :mod:`anynet.datasets.tables`, **Task**),
and reports RMSE and R^2 where a classifier reports accuracy.

RMSE is the root of the mean squared error over every sample and target;
R^2 is 1 - SS_res / SS_tot per target (SS_tot about the target's mean in
the data measured), averaged over the targets: scikit-learn's ``r2_score``.
"""

from __future__ import annotations

import math
from dataclasses import replace

from ..errors import ArgumentError
from ..train.fit import Callback
from . import common

TASKS = ("auto", "classification", "regression")


def add_option(parser):
    """``--task`` (train only: a saved run records its task)."""
    parser.add_argument("--task", choices=TASKS, default="auto",
                        help="auto (default): regression when a CSV file's target column is real-valued (a "
                             "number that is not whole), else classification; regression forces a fit of the "
                             "values (e.g. prices in whole dollars), classification forces classes")


def prepare(args, recorded):
    """For a new run: ``(request, dataset)``.  A CSV file's dataset is loaded
    now (no download) when it may be a regression dataset, which decides the
    network: the request takes the file's task, and a regression run's flags
    are settled.  Other data gives ``(args, None)`` and loads when the
    network is made."""
    if not (args.task == "regression" or (args.task == "auto" and str(args.data).lower().endswith(".csv"))):
        return args, None
    dataset = common.run_data(args, recorded, args.data, False)
    args = replace(args, task=dataset.task)
    return (settle(args, dataset) if args.task == "regression" else args), dataset


def settle(args, dataset):
    """The request of a regression run: the quadratic cost (the only
    least-squares one) and, unless given, a linear output layer."""
    if args.cost not in (None, "quadratic"):
        raise ArgumentError(f"{dataset.name} is a regression dataset; regression trains the quadratic cost, "
                            f"not --cost {args.cost}")
    return replace(args, cost="quadratic", output_activation=args.output_activation or "linear")


def adapt(dataset, config, monitors) -> set:
    """The monitors of a run on ``dataset``: a regression run drops the
    accuracies (RegressionLines measures RMSE and R^2) and refuses what
    selects epochs by accuracy."""
    if dataset.task != "regression":
        return monitors
    if config.selects_epochs:
        raise ArgumentError(f"{dataset.name} is a regression dataset: early stopping and the eta schedule watch "
                            "accuracy, which regression does not have")
    return {m for m in monitors if not m.endswith("accuracy")}


def lines(dataset, net, watched_name, watched, train, test):
    """The per-epoch lines of a regression run (RegressionLines), or None for a classification run."""
    return RegressionLines(net, watched_name, watched, train, test) if dataset.task == "regression" else None


def scores(net, data) -> tuple[float, float]:
    """``(RMSE, R^2)`` of the network on ``data`` (a DeviceData of float targets)."""
    model, xp = net.model, net.backend.xp
    targets = data.targets
    residual = xp.zeros(targets.shape[1:], dtype=net.backend.dtype, device=net.backend.device)
    for x, y in model._chunks(data.x, targets):
        d = model.feedforward(x) - y
        residual = residual + xp.sum(d * d, axis=0)
    spread = targets - xp.mean(targets, axis=0, keepdims=True)
    total = xp.sum(spread * spread, axis=0)
    residual, total = net.backend.to_numpy(residual), net.backend.to_numpy(total)
    rmse = math.sqrt(float(residual.sum()) / targets.shape[0] / targets.shape[1])
    r2 = [1.0 - r / t if t > 0 else (1.0 if r == 0 else 0.0) for r, t in zip(residual.tolist(), total.tolist())]
    return rmse, sum(r2) / len(r2)


def text(rmse, r2) -> str:
    return f"RMSE {rmse:.6g}, R^2 {r2:.4f}"


class RegressionLines(Callback):
    """``Epoch 3: validation RMSE ..., R^2 ..., test RMSE ..., R^2 ..., cost ..., 0.05 s``:
    the watched split (validation, else test, else training) and the test
    split when it is not the watched one; the scores go into the report's
    ``extra`` (so into --log too)."""

    def __init__(self, net, watched_name, watched, train, test):
        self.net, self.test = net, test
        self.name, self.data = (watched_name, watched) if watched is not None else ("training", train)

    def on_epoch_end(self, report, state):
        rmse, r2 = scores(self.net, self.data)
        report.extra.update({f"{self.name}_rmse": rmse, f"{self.name}_r2": r2})
        parts = [f"{self.name} {text(rmse, r2)}"]
        if self.test is not None:
            rmse, r2 = scores(self.net, self.test)
            report.extra.update(test_rmse=rmse, test_r2=r2)
            parts.append(f"test {text(rmse, r2)}")
        cost = report.evaluation_cost if report.evaluation_cost is not None else report.training_cost
        if cost is not None:
            parts.append(f"cost {cost:.4f}")
        parts.append(f"{report.seconds:.2f} s")
        print(f"Epoch {report.epoch}: {', '.join(parts)}", flush=True)


def summary(dataset, state, say) -> bool:
    """A regression run's closing line, the last epoch's scores (no epoch is
    chosen); False for a classification run, which has its own."""
    if dataset.task != "regression" or not state.history:
        return dataset.task == "regression"
    last = state.history[-1]
    named = [(key[: -len("_rmse")], value) for key, value in last.extra.items() if key.endswith("_rmse")]
    shown = ", ".join(f"{name} {text(value, last.extra[name + '_r2'])}" for name, value in named)
    say(f"Last epoch {last.epoch}: {shown}")
    return True
