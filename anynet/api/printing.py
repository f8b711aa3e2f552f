"""The book's SGD surface: its arguments as a run's settings, the per-epoch
lines printed exactly as network.py and network2.py print them, and the four
lists network2.py's SGD returns."""

from __future__ import annotations

import numpy as np

from ..errors import ArgumentError
from ..train.fit import MONITORS, Callback, TrainConfig


def book_run(epochs, mini_batch_size, eta, lmbda, evaluation_data, test_data, flags, **settings):
    """``(config, evaluation_data, seed_style)`` from SGD's book
    arguments: the seed's positional ``SGD(data, epochs, m, eta, test_data)``
    or network2.py's ``lmbda``, ``evaluation_data`` and four monitor ``flags``;
    ``settings`` are TrainConfig's keyword fields (``eta_schedule=True`` is
    the book's schedule)."""
    if lmbda is not None and not isinstance(lmbda, (int, float, np.number)):
        # The seed's positional call SGD(data, epochs, m, eta, test_data).
        if test_data is not None:
            raise ArgumentError("SGD got test_data both positionally and by keyword")
        lmbda, test_data = 0.0, lmbda
    if test_data is not None and evaluation_data is not None:
        raise ArgumentError("give test_data (network.py) or evaluation_data (network2.py), not both")
    seed_style = test_data is not None or not any(flags)
    evaluation_data = test_data if test_data is not None else evaluation_data
    monitors = {name for name, on in zip(MONITORS, flags) if on}
    if seed_style and evaluation_data is not None:
        monitors.add("evaluation_accuracy")
    config = TrainConfig(epochs, mini_batch_size, eta, lmbda, monitors=frozenset(monitors), **settings)
    return config, evaluation_data, seed_style


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


class Network3Lines(Callback):
    """network3.py's lines, each printed when training reaches it: every
    1,000th mini-batch's number (before that mini-batch trains), each
    epoch's validation accuracy, the test accuracy at each best validation
    accuracy (``>=``, as the book), and three closing lines.  The run's
    fit-epochs are the ``spans`` of the book's mini-batches (``(first, stop,
    epoch)``: iterations ``first..stop-1``, ``epoch`` the book epoch a span
    ends, else None), cut at every 1,000th mini-batch and at every epoch's
    end.  ``validate()`` and ``test()`` (None: no test data) return accuracies."""

    def __init__(self, spans, validate, test):
        self.spans, self.validate, self.test = spans, validate, test
        self.best, self.best_iteration, self.test_accuracy = 0.0, None, None
        self.done = 0  # spans trained

    def on_train_begin(self, train):
        if self.spans:
            print("Training mini-batch number 0")

    def on_epoch_end(self, report, state):
        _, stop, epoch = self.spans[self.done]
        self.done += 1
        if epoch is not None:
            self._epoch_lines(epoch, stop - 1)
        if stop % 1000 == 0 and self.done < len(self.spans):
            print("Training mini-batch number {0}".format(stop))

    def _epoch_lines(self, epoch, iteration):
        accuracy = self.validate()
        print("Epoch {0}: validation accuracy {1:.2%}".format(epoch, accuracy))
        if accuracy >= self.best:
            print("This is the best validation accuracy to date.")
            self.best, self.best_iteration = accuracy, iteration
            if self.test is not None:
                self.test_accuracy = self.test()
                print("The corresponding test accuracy is {0:.2%}".format(self.test_accuracy))

    def on_train_end(self, state):
        print("Finished training network.")
        if self.best_iteration is not None:
            print("Best validation accuracy of {0:.2%} obtained at iteration {1}".format(self.best, self.best_iteration))
        if self.test_accuracy is not None:
            print("Corresponding test accuracy of {0:.2%}".format(self.test_accuracy))
