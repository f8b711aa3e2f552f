"""DivideAt: a fixed eta schedule (a validation run's schedule replayed on all
the data).  Oracle: the same etas set by hand from a fit Callback, as
benchmarks/fashion_sweep.py's refit did; a resumed run against the
uninterrupted one; errors for bad milestones."""

from __future__ import annotations

import numpy as np
import pytest

import anynet
from anynet.errors import AnynetError, ArgumentError
from anynet.train.fit import Callback, TrainConfig

SIZES = [6, 5, 3]


def data(n=43, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 6))
    return x, (x[:, 0] > x[:, 1]).astype(int) + (x[:, 2] > 0.6)


class SetEtas(Callback):
    def __init__(self, etas):
        self.etas = etas

    def on_epoch_end(self, report, state):
        if report.epoch + 1 < len(self.etas):
            state.eta = self.etas[report.epoch + 1]


def test_divide_at_is_the_hand_set_schedule_and_needs_no_evaluation_data():
    schedule = anynet.DivideAt([2, 3, 5], factor=4.0)
    ours = anynet.Network(SIZES, seed=3)
    ours.SGD(data(), 6, 5, 2.0, eta_schedule=schedule, verbose=False)  # no evaluation_data: fine
    etas = [2.0, 2.0, 0.5, 0.125, 0.125, 0.125 / 4]
    assert [r.eta for r in ours.history] == etas
    by_hand = anynet.Network(SIZES, seed=3)
    by_hand.train(data(), TrainConfig(6, 5, 2.0), callbacks=[SetEtas(etas)])
    for a, b in zip(ours.weights + ours.biases, by_hand.weights + by_hand.biases):
        assert np.array_equal(a, b)


def test_a_resumed_run_with_divide_at_equals_the_uninterrupted_one(tmp_path):
    schedule = anynet.DivideAt([1, 3])
    whole = anynet.Network(SIZES, seed=1)
    whole.SGD(data(), 5, 4, 1.0, eta_schedule=schedule, verbose=False)
    part = anynet.Network(SIZES, seed=1)
    part.SGD(data(), 2, 4, 1.0, eta_schedule=schedule, verbose=False, checkpoint=tmp_path / "run.npz")
    resumed = anynet.resume(tmp_path / "run.npz", data(), epochs=5, verbose=False)
    assert [r.eta for r in resumed.history] == [r.eta for r in whole.history] == [1.0, 0.5, 0.5, 0.25, 0.25]
    for a, b in zip(resumed.weights + resumed.biases, whole.weights + whole.biases):
        assert np.array_equal(a, b)


def test_early_stopping_still_needs_evaluation_data():
    with pytest.raises(ArgumentError, match="need evaluation_data"):
        anynet.Network(SIZES, seed=0).SGD(data(), 2, 5, 1.0, eta_schedule=anynet.DivideAt([1]), early_stopping=1)


@pytest.mark.parametrize("milestones,factor,message", [
    ([3, 2], 2.0, "increasing"),
    ([2, 2], 2.0, "increasing"),
    ([0, 2], 2.0, "milestone"),
    ("2,4", 2.0, "list of epochs"),
    ([2], 1.0, "factor"),
])
def test_bad_milestones_are_refused(milestones, factor, message):
    with pytest.raises(AnynetError, match=message):
        anynet.DivideAt(milestones, factor)


def test_the_refit_preset_holds_the_benchmarks_replayed_schedule():
    """fashion-mlp-60k is benchmarks/fashion_sweep.py's refit: its epochs and
    DivideAt give the etas recorded in the benchmark's result, and the rest
    is the chosen configuration."""
    import json
    import pathlib

    from anynet.api.presets import PRESETS

    results = sorted((pathlib.Path(__file__).parent.parent / "benchmarks" / "results").glob("fashion-sweep-*[!k].json"))
    if not results:
        pytest.skip("no fashion_sweep result in benchmarks/results")
    record = json.loads(results[0].read_text())
    chosen, etas = record["rows"][record["winner"]], record["refit"]["etas"]
    preset = PRESETS["fashion-mlp-60k"]
    state = preset["eta_schedule"].start(preset["eta"])
    assert [state.eta_at(e) for e in range(preset["epochs"])] == etas
    assert preset["sizes"] == [784, *chosen["hidden"], 10] and preset["lmbda"] == chosen["lmbda"]
    assert (preset["augment"] == "mirror") == chosen["mirrored"] and preset["validation_split"] == 0
