"""The book's per-epoch lines, printed exactly as network.py and network2.py print them."""

from __future__ import annotations


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
