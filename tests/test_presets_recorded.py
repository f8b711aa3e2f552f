"""The Fashion-MNIST presets' test accuracies are said in three places:
``anynet train --help``, docs/cli.md and the benchmarks' results in
benchmarks/results/.  All three come from or are checked against
``anynet.api.presets.TEST_ACCURACY``, so none can go stale alone (the help
once said 91.5% for fashion-conv after its benchmark had recorded 92.82%)."""

import json
import re
from pathlib import Path

import pytest

from anynet.api.presets import PRESETS, TEST_ACCURACY
from anynet.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def test_the_help_gives_each_presets_recorded_accuracy():
    (flag,) = [a for a in build_parser().train_parser._actions if a.dest == "preset"]
    text = " ".join(flag.help.split())
    for name, percent in TEST_ACCURACY.items():
        assert f"{name} ({percent}%%)" in text  # argparse's %% is one % on screen
    assert set(TEST_ACCURACY) <= set(PRESETS)


def test_docs_cli_gives_each_presets_recorded_accuracy():
    said = dict(re.findall(r"anynet train --preset (\S+) --data fashion-mnist +# ([\d.]+)% test",
                           (ROOT / "docs" / "cli.md").read_text()))
    assert {name: float(percent) for name, percent in said.items()} == TEST_ACCURACY


def _one(pattern):
    found = sorted(RESULTS.glob(pattern))
    if not found:
        pytest.skip(f"no {pattern} in benchmarks/results")
    return json.loads(found[0].read_text())


def test_the_recorded_accuracies_are_the_benchmarks():
    assert TEST_ACCURACY["strong-mlp"] == _one("strong-mlp.json")["test_accuracy"]
    sweep = _one("fashion-sweep-*[!k].json")
    assert TEST_ACCURACY["fashion-mlp"] == 100 * sweep["test_correct"] / sweep["n_test"]
    assert TEST_ACCURACY["fashion-mlp-60k"] == 100 * sweep["refit"]["test_correct"] / sweep["n_test"]
    conv = _one("fashion-conv-*.json")
    assert TEST_ACCURACY["fashion-conv"] == 100 * conv["test_correct"] / conv["n_test"]


def test_the_fashion_conv_preset_is_the_chosen_candidates_recipe():
    """The preset is what benchmarks/fashion_conv.py chose: the winning
    candidate's layers, augmentation, epochs at most and eta schedule, so the
    preset's command line trains the network whose test accuracy is recorded."""
    conv = _one("fashion-conv-*.json")
    chosen, preset = conv["candidates"][conv["winner"] - 1], PRESETS["fashion-conv"]
    assert (chosen["layers"], chosen["augment"], chosen["epochs"]) == (preset["layers"], preset["augment"], preset["epochs"])
    assert chosen["schedule"] == repr(preset["eta_schedule"])
