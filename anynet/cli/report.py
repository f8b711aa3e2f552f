"""What ``anynet train`` shows and writes while it trains: one line per epoch,
a JSON Lines log, and a plot at the end."""

from __future__ import annotations

import json

from ..io.files import write_atomically
from ..io.writing import append_text
from ..train.fit import Callback
from .common import accuracy_text


class EpochLines(Callback):
    """``Epoch 3: validation accuracy ..., test accuracy ..., cost ..., 0.52 s``.
    ``test`` is the test split on the device when it is not the watched one."""

    def __init__(self, net, watched_name, test, show_eta):
        self.net, self.watched_name, self.test, self.show_eta = net, watched_name, test, show_eta

    def on_epoch_end(self, report, state):
        parts = []
        if report.evaluation_accuracy is not None:
            parts.append(f"{self.watched_name} accuracy {accuracy_text(report.evaluation_accuracy, report.n_evaluation)}")
        if self.test is not None:
            correct = self.net.accuracy(self.test)
            report.extra.update(test_accuracy=correct, n_test=self.test.n)
            parts.append(f"test accuracy {accuracy_text(correct, self.test.n)}")
        if report.training_accuracy is not None:
            parts.append(f"training accuracy {accuracy_text(report.training_accuracy, report.n_training)}")
        cost = report.evaluation_cost if report.evaluation_cost is not None else report.training_cost
        if cost is not None:
            parts.append(f"cost {cost:.4f}")
        parts.append(f"{report.seconds:.2f} s")
        if self.show_eta:
            parts.append(f"eta {report.eta:g}")
        print(f"Epoch {report.epoch}: {', '.join(parts)}", flush=True)


class JsonLog(Callback):
    """One JSON object per epoch appended to ``path`` (JSON Lines): epoch,
    seconds, eta, costs and accuracies.  Each line is flushed, so a killed
    run's log holds every completed epoch.

    ``continues`` (a resumed run's history) makes the log go on from that
    run: entries at the end of the file for epochs the run has not kept (a
    run killed after logging an epoch but before saving it) are dropped, and
    a missing or empty file first gets the run's epochs, so that the log holds
    each epoch once."""

    def __init__(self, path, continues=None):
        self.path = path
        if continues is not None:
            self._continue(continues)

    def on_epoch_end(self, report, state):
        append_text(self.path, json.dumps(log_entry(report)) + "\n")  # whole lines only: a failed write is cut back

    def _continue(self, history):
        done = history[-1].epoch + 1 if history else 0
        try:
            with open(self.path, encoding="utf-8") as f:
                lines = f.readlines()
        except FileNotFoundError:
            lines = []
        if not lines:
            text = "".join(json.dumps(log_entry(report)) + "\n" for report in history)
        else:
            kept = list(lines)
            while kept and _not_kept(kept[-1], done):
                kept.pop()
            if len(kept) == len(lines):
                return
            text = "".join(kept)
        write_atomically(self.path, lambda f: f.write(text.encode("utf-8")))


def log_entry(report) -> dict:
    """The JSON object of one epoch's EpochReport."""
    entry = {"epoch": report.epoch, "seconds": round(report.seconds, 6), "eta": report.eta}
    for key in ("training_cost", "training_accuracy", "n_training", "evaluation_cost",
                "evaluation_accuracy", "n_evaluation"):
        value = getattr(report, key)
        if value is not None:
            entry[key] = value
    entry.update({k: v for k, v in report.extra.items()
                  if k in ("test_accuracy", "n_test") or k.endswith(("_rmse", "_r2"))})  # regression: cli.regression
    return entry


def _not_kept(line, done) -> bool:
    """Whether a log line at the end of the file is of an epoch the resumed
    run does not hold (``done`` epochs), or a line cut short by a kill."""
    try:
        entry = json.loads(line)
    except ValueError:
        return not line.endswith("\n")
    return isinstance(entry, dict) and isinstance(entry.get("epoch"), int) and entry["epoch"] >= done


def plot(history, path, *, fmt, title, watched):
    """Accuracy (%) and cost per epoch, training and evaluation, in ``fmt``."""
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend
    from matplotlib.ticker import MaxNLocator

    epochs = [r.epoch for r in history]
    fig = Figure(figsize=(9, 3.5), layout="constrained")
    accuracy_ax, cost_ax = fig.subplots(1, 2)
    curves = (
        ("training", "training_accuracy", "n_training", "training_cost"),
        (watched, "evaluation_accuracy", "n_evaluation", "evaluation_cost"),
    )
    for label, accuracy, n, cost in curves:
        if all(getattr(r, accuracy) is not None for r in history):
            accuracy_ax.plot(epochs, [100 * getattr(r, accuracy) / getattr(r, n) for r in history], marker="o", label=label)
        if all(getattr(r, cost) is not None for r in history):
            cost_ax.plot(epochs, [getattr(r, cost) for r in history], marker="o", label=label)
    if history and "test_accuracy" in history[0].extra and watched != "test":
        accuracy_ax.plot(epochs, [100 * r.extra["test_accuracy"] / r.extra["n_test"] for r in history], marker="s", label="test")
    accuracy_ax.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    cost_ax.set(xlabel="epoch", ylabel="cost (mean per sample)", title="cost")
    for ax in (accuracy_ax, cost_ax):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if ax.lines:
            ax.legend()
    fig.suptitle(title)
    write_atomically(path, lambda f: fig.savefig(f, format=fmt, dpi=100))  # an older plot stays until this one is whole


def summary(state, watched_name, say, restored):
    """The closing line: with a validation split, the best epoch by validation
    accuracy (and its test accuracy); without one, only the last epoch's
    accuracy, since choosing an epoch by the test set would bias it."""
    history = [r for r in state.history if r.evaluation_accuracy is not None]
    if not history:
        return
    if watched_name != "validation":
        last = history[-1]
        say(f"Last epoch {last.epoch}: {watched_name} accuracy "
            f"{accuracy_text(last.evaluation_accuracy, last.n_evaluation)} (no validation split chose an epoch)")
        return
    best = max(history, key=lambda r: r.evaluation_accuracy)  # the first of equals
    chosen = f"{watched_name} accuracy {accuracy_text(best.evaluation_accuracy, best.n_evaluation)}"
    if "test_accuracy" in best.extra:
        chosen += f", test accuracy {accuracy_text(best.extra['test_accuracy'], best.extra['n_test'])}"
    say(f"Best: epoch {best.epoch}, {chosen}{' (weights restored from it)' if restored else ''}")
