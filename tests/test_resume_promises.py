"""Resuming keeps its promises (issue 21): an unseeded book-style run, whose
initial weights come from the global ``numpy.random`` and whose shuffles come
from the global ``random``, resumes bit for bit; a run resumed on other data
is refused, from Python and from the command line, before anything changes.

Planted-bug checks (run when these tests were written): not restoring the
recorded ``random`` state in ``anynet.train.runstate`` (its own
``random.Random`` since issue 17; ``random.setstate`` before) fails the first test;
deleting the digest check in ``anynet.api.saved.resume`` fails the second and
deleting it in ``anynet.cli.train`` fails the third.
"""

from __future__ import annotations

import csv
import random

import numpy as np
import pytest

import anynet
from anynet.cli import main

SIZES = [6, 5, 3]


def problem(n=40, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, SIZES[0])), rng.integers(0, SIZES[-1], n)


def unseeded_network():
    """Network(seed=None) as the book builds it, from the global states."""
    np.random.seed(5)
    random.seed(6)
    return anynet.Network(SIZES)


def bits(net):
    return [bytes(memoryview(np.ascontiguousarray(p)).cast("B")) for p in net.weights + net.biases]


def test_an_unseeded_book_style_run_resumes_bit_for_bit(tmp_path):
    data = problem()
    full = unseeded_network()
    full.SGD(data, 4, 10, 0.5, verbose=False)
    after_full = random.getstate()
    part = unseeded_network()
    assert part.seed is None
    part.SGD(data, 2, 10, 0.5, verbose=False, checkpoint=tmp_path / "run.npz")
    # the program goes on drawing from both global states before it resumes
    random.seed(999)
    np.random.seed(999)
    random.shuffle(list(range(10)))
    before_resume = random.getstate()
    resumed = anynet.resume(tmp_path / "run.npz", data, epochs=4, verbose=False)
    assert resumed.seed is None and len(resumed.history) == 4
    assert bits(resumed) != bits(part) and bits(resumed) == bits(full)
    # the resumed run shuffled with a generator of its own in the recorded
    # state: the process's `random` is left as the program had it (issue 17 item 4)
    assert random.getstate() == before_resume != after_full


def test_resuming_on_other_data_is_refused(tmp_path):
    x, y = problem()
    path = tmp_path / "run.npz"
    anynet.Network(SIZES, seed=0).SGD((x, y), 1, 10, 0.5, verbose=False, checkpoint=path)
    before = path.read_bytes()
    changed_x, changed_y = x.copy(), y.copy()
    changed_x[17, 3] = np.nextafter(changed_x[17, 3], 2.0)  # one ulp of one pixel
    changed_y[5] = (changed_y[5] + 1) % SIZES[-1]
    for other in ((changed_x, y), (x, changed_y), (x[:-1], y[:-1])):
        with pytest.raises(ValueError, match="training_data is not the data this run was trained on"):
            anynet.resume(path, other, epochs=3, verbose=False)
        assert path.read_bytes() == before
    anynet.resume(path, (x.copy(), y.copy()), epochs=2, verbose=False)  # the same data, in a new array
    assert path.read_bytes() != before


def write_csv(path, x, y):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([f"x{i}" for i in range(x.shape[1])] + ["label"])
        writer.writerows([*(repr(float(v)) for v in row), int(label)] for row, label in zip(x, y))


def test_the_command_line_refuses_to_resume_on_changed_data(tmp_path, capsys):
    x, y = problem()
    table, run = tmp_path / "train.csv", tmp_path / "run.npz"
    write_csv(table, x, y)
    args = ["train", "--data", str(table), "--label-column", "label", "--sizes", "6,5,3", "--batch-size", "10",
            "--eta", "0.5", "--seed", "0", "--quiet"]
    assert main([*args, "--epochs", "1", "--save", str(run)]) == 0
    before = run.read_bytes()
    x[17, 3] += 0.25  # the file changes under the run
    write_csv(table, x, y)
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--epochs", "2", "--quiet"]) == 1
    assert "no longer holds the data this run was trained on" in capsys.readouterr().err
    assert run.read_bytes() == before
    x[17, 3] -= 0.25
    write_csv(table, x, y)  # the same numbers again: the run goes on
    assert main(["train", "--resume", str(run), "--epochs", "2", "--quiet"]) == 0
    assert run.read_bytes() != before
