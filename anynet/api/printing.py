"""The book's per-epoch lines, printed exactly as network.py and network2.py
print them, and the four lists network2.py's SGD returns."""

from __future__ import annotations

from ..train.fit import Callback


def print_epoch(report, *, seed_style: bool) -> None:
    """network.py's ``Epoch j : correct / n`` (or ``Epoch j complete``) when
    ``seed_style``, else network2.py's ``Epoch j training complete`` followed
    by one line per monitor and an empty line."""
    j = report.epoch
    if seed_style:
        if report.evaluation_accuracy is not None:
            print("Epoch {} : {} / {}".format(j, report.evaluation_accuracy, report.n_evaluation))
        else:
            print("Epoch {} complete".format(j))
        return
    print("Epoch %s training complete" % j)
    if report.training_cost is not None:
        print("Cost on training data: {}".format(report.training_cost))
    if report.training_accuracy is not None:
        print("Accuracy on training data: {} / {}".format(report.training_accuracy, report.n_training))
    if report.evaluation_cost is not None:
        print("Cost on evaluation data: {}".format(report.evaluation_cost))
    if report.evaluation_accuracy is not None:
        print("Accuracy on evaluation data: {} / {}".format(report.evaluation_accuracy, report.n_evaluation))
    print()


class BookLines(Callback):
    """Prints the book's lines and calls the user's per-epoch callback."""

    def __init__(self, seed_style, verbose, callback):
        self.seed_style, self.verbose, self.callback = seed_style, verbose, callback

    def on_epoch_end(self, report, state):
        if self.verbose:
            print_epoch(report, seed_style=self.seed_style)
        if self.callback is not None:
            self.callback(report)


def history_lists(history, flags, seed_style):
    """network2.py's four lists; the seed's style records the test accuracy."""
    eval_cost_on, eval_acc_on, train_cost_on, train_acc_on = flags
    pick = lambda on, key: [getattr(r, key) for r in history] if on else []  # noqa: E731
    return (
        pick(eval_cost_on, "evaluation_cost"),
        pick(eval_acc_on or (seed_style and history and history[0].evaluation_accuracy is not None),
             "evaluation_accuracy"),
        pick(train_cost_on, "training_cost"),
        pick(train_acc_on, "training_accuracy"),
    )
