"""A resumed ``anynet train`` run keeps its ``--log`` and ``--plot`` (issue 19):
both are recorded in the run, the log goes on without repeating an epoch, and
the plot is drawn again over every epoch."""

from __future__ import annotations

import json

import pytest

import anynet.cli.train
from anynet.cli import main

SMALL = ["--data", "sample", "--sizes", "784,10,10", "--batch-size", "20", "--eta", "1.0", "--seed", "3", "--quiet"]


def run(capsys, argv):
    status = main(argv)
    out, err = capsys.readouterr()
    assert status == 0, err
    return out


def entries(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def without_seconds(log):
    return [{k: v for k, v in entry.items() if k != "seconds"} for entry in log]


@pytest.fixture
def plots(monkeypatch):
    """Record each plot's path and epochs (the drawing itself is report.plot's, tested elsewhere)."""
    drawn = []
    monkeypatch.setattr(anynet.cli.train, "plot", lambda history, path, **kw: drawn.append((path, [r.epoch for r in history])))
    return drawn


def test_resume_continues_the_runs_log_and_plot(capsys, tmp_path, monkeypatch, plots):
    full_log = tmp_path / "full.jsonl"
    run(capsys, ["train", *SMALL, "--epochs", "4", "--save", str(tmp_path / "full.npz"), "--log", str(full_log)])
    log, curves = tmp_path / "run.jsonl", tmp_path / "run.svg"
    run(capsys, ["train", *SMALL, "--epochs", "2", "--save", str(tmp_path / "run.npz"), "--log", str(log),
                 "--plot", str(curves)])
    assert [e["epoch"] for e in entries(log)] == [0, 1]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the recorded paths hold from any directory
    out = run(capsys, ["train", "--resume", str(tmp_path / "run.npz"), "--epochs", "4", "--quiet"])
    assert f"continuing --log {log} and --plot {curves}" in out
    assert without_seconds(entries(log)) == without_seconds(entries(full_log))  # epochs 0-3, each once
    assert plots[-1] == (str(curves), [0, 1, 2, 3])
    assert list(elsewhere.iterdir()) == []


def test_the_log_drops_epochs_the_run_did_not_keep_and_refills_a_lost_one(capsys, tmp_path, plots):
    log, part = tmp_path / "run.jsonl", tmp_path / "run.npz"
    run(capsys, ["train", *SMALL, "--epochs", "2", "--save", str(part), "--log", str(log)])
    logged = entries(log)
    # killed after logging epoch 2, before saving it, and again in the middle of a line
    with open(log, "a") as f:
        f.write(json.dumps({**logged[-1], "epoch": 2}) + "\n" + '{"epoch": 3, "sec')
    run(capsys, ["train", "--resume", str(part), "--epochs", "3", "--quiet"])
    resumed = entries(log)
    assert [e["epoch"] for e in resumed] == [0, 1, 2] and resumed[:2] == logged
    log.unlink()  # a lost log is written again from the run's history
    run(capsys, ["train", "--resume", str(part), "--epochs", "4", "--quiet"])
    again = entries(log)
    assert [e["epoch"] for e in again] == [0, 1, 2, 3] and again[:3] == resumed
    assert plots == []  # no --plot was asked for, and none is made up


def test_a_log_given_on_resume_replaces_the_recorded_one(capsys, tmp_path, plots):
    first, second, part = tmp_path / "first.jsonl", tmp_path / "second.jsonl", tmp_path / "run.npz"
    run(capsys, ["train", *SMALL, "--epochs", "1", "--save", str(part), "--log", str(first)])
    run(capsys, ["train", "--resume", str(part), "--epochs", "2", "--quiet", "--log", str(second)])
    run(capsys, ["train", "--resume", str(part), "--epochs", "3", "--quiet"])
    assert [e["epoch"] for e in entries(first)] == [0]
    assert [e["epoch"] for e in entries(second)] == [0, 1, 2]  # the run's epoch 0, then the ones it trained
