"""The command line, run in-process through ``main(argv)`` (plus one
subprocess run of ``python -m anynet``): output lines, checkpoints that
evaluate to the same accuracy on every backend, and user mistakes that end as
one ``anynet: error:`` line, never a traceback."""

from __future__ import annotations

import contextlib
import io
import json
import re
import subprocess
import sys

import numpy as np
import pytest

import anynet.cli
import anynet.cli.train
import anynet.datasets
import anynet.train.fit
import anynet.api.presets
from anynet.api import crosscheck
from anynet.io.checkpoint import arrays_sha256
from anynet.cli import main
from anynet.datasets import AnynetDataWarning, Dataset
from conftest import make_backend

EPOCH_LINE = re.compile(r"^Epoch (\d+): test accuracy (\d+\.\d\d)% \((\d+)/(\d+)\), cost \d+\.\d{4}, \d+\.\d\d s$", re.M)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def blobs(n, seed):
    """Three separable clusters in 8 dimensions: learnable in a few epochs."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    centres = np.eye(3, 8)
    return np.clip(centres[y] * 0.8 + rng.random((n, 8)) * 0.3, 0, 1), y


TINY = Dataset(name="tiny", source="tiny synthetic clusters", train=blobs(120, 0), validation=None, test=blobs(60, 1), n_classes=3)
TINY_ARGS = ["--data", "tiny", "--sizes", "8,6,3", "--batch-size", "10", "--eta", "2.0", "--seed", "0", "--quiet"]


VALIDATED = Dataset(name="tiny", source="tiny synthetic clusters", train=blobs(120, 0), validation=blobs(40, 2), test=blobs(60, 1), n_classes=3)
VALIDATION_LINE = re.compile(r"^Epoch (\d+): validation accuracy \d+\.\d\d% \(\d+/40\), test accuracy \d+\.\d\d% \(\d+/60\), cost ", re.M)


@pytest.fixture
def tiny(monkeypatch):
    """Replace the data loader with TINY; record how it was called."""
    calls = []

    def fake_load_dataset(name, **kwargs):
        calls.append((name, kwargs))
        return TINY

    monkeypatch.setattr(anynet.datasets, "load_dataset", fake_load_dataset)
    return calls


def run(capsys, argv):
    status = main(argv)
    out, err = capsys.readouterr()
    return status, out, err


def assert_user_error(status, out, err, expected_status, *phrases):
    assert status == expected_status, (status, out, err)
    assert "Traceback" not in out + err
    assert err.startswith("anynet: error: ")
    assert len(err.strip().splitlines()) == 1, err
    for phrase in phrases:
        assert phrase in err, (phrase, err)


def test_train_prints_one_line_per_epoch(tiny, capsys):
    status, out, err = run(capsys, ["train", *TINY_ARGS, "--epochs", "3"])
    assert status == 0, err
    assert "data: tiny synthetic clusters" in out and "backend: numpy (cpu, float64)" in out
    epochs = EPOCH_LINE.findall(out)
    assert [int(e[0]) for e in epochs] == [0, 1, 2] and all(e[3] == "60" for e in epochs)
    # no validation split: no line may read as an epoch chosen on the test set (issue 19)
    assert "Best" not in out and "best" not in out
    last = epochs[-1]
    assert f"Last epoch 2: test accuracy {last[1]}% ({last[2]}/60) (no validation split chose an epoch)" in out
    assert tiny[0][0] == "tiny" and tiny[0][1]["fallback_to_sample"] is False and tiny[0][1]["progress"] is False


def test_book_defaults(capsys, monkeypatch):
    """Without flags, train runs the book's first experiment: network.py's
    Network([784, 30, 10]) and SGD(training_data, 30, 10, 3.0) on MNIST; as
    the first run of a fresh install it may fall back to the bundled sample."""
    seen = {}

    def spy_train(self, training_data, config, **kwargs):
        seen.update(net=self, config=config)
        report = anynet.EpochReport(epoch=0, eta=config.eta, seconds=0.0, evaluation_cost=0.5, evaluation_accuracy=1, n_evaluation=2)
        for callback in kwargs["callbacks"]:
            callback.on_epoch_end(report, None)
        return anynet.train.fit.TrainState(shuffler=None, eta=config.eta, optimizer_state={}, history=[report])

    mnist_like = Dataset("mnist", "fake mnist", (np.zeros((2, 784)), np.zeros(2, int)), None, (np.zeros((2, 784)), np.zeros(2, int)), 10)
    monkeypatch.setattr(anynet.Network, "train", spy_train)
    monkeypatch.setattr(anynet.datasets, "load_dataset", lambda name, **kwargs: seen.update(data=name, **kwargs) or mnist_like)
    status, out, err = run(capsys, ["train"])
    assert status == 0, err
    net, config = seen["net"], seen["config"]
    assert seen["data"] == "mnist" and seen["fallback_to_sample"] is True
    assert net.sizes == [784, 30, 10] and net.cost is anynet.QuadraticCost
    assert [a.name for a in net.activations] == ["sigmoid", "sigmoid"] and net.backend.dtype_name == "float64"
    assert (config.epochs, config.mini_batch_size, config.eta, config.lmbda) == (30, 10, 3.0, 0.0)
    assert config.optimizer.name == "sgd" and config.eta_schedule is None and config.early_stopping is None
    assert "Epoch 0: test accuracy 50.00% (1/2), cost 0.5000" in out
    assert re.search(r"^seed: \d+ \(drawn; --seed \d+ repeats this run\)$", out, re.M)


def test_network2_options_reach_the_network(capsys, monkeypatch):
    monkeypatch.setattr(anynet.datasets, "load_dataset", lambda name, **kwargs: VALIDATED)
    argv = [
        "train", *TINY_ARGS, "--epochs", "2", "--cost", "cross-entropy", "--activation", "tanh",
        "--init", "glorot", "--lmbda", "0.1", "--regularization", "l1", "--momentum", "0.5",
        "--early-stopping", "5", "--eta-schedule",
    ]  # fmt: skip
    status, out, err = run(capsys, argv)
    assert status == 0, err
    assert "cross-entropy cost, tanh/sigmoid" in out and ", eta 2" in out
    assert len(VALIDATION_LINE.findall(out)) == 2




def test_epoch_selection_watches_the_validation_split(capsys, monkeypatch):
    """Early stopping must not pick its epoch by the test set when a validation split exists."""
    monkeypatch.setattr(anynet.datasets, "load_dataset", lambda name, **kwargs: VALIDATED)
    status, out, err = run(capsys, ["train", *TINY_ARGS, "--epochs", "3", "--early-stopping", "2"])
    assert status == 0, err
    assert len(VALIDATION_LINE.findall(out)) == 3
    assert re.search(r"^Best: epoch \d, validation accuracy .*, test accuracy .* \(weights restored from it\)$", out, re.M)


def test_preset_sets_the_defaults_and_flags_still_win(capsys, monkeypatch):
    seen = {}
    real_network = anynet.cli.train.Network

    def spy(*args, **kwargs):
        seen.update(kwargs, sizes=args[0], cost=args[1])
        return real_network(*args, **kwargs)

    monkeypatch.setattr(anynet.cli.train, "Network", spy)
    monkeypatch.setattr(anynet.datasets, "load_dataset", lambda name, **kwargs: VALIDATED)
    status, out, err = run(capsys, ["train", "--preset", "strong-mlp", *TINY_ARGS, "--epochs", "2", "--eta", "0.01"])
    assert status == 0, err
    preset = anynet.api.presets.PRESETS["strong-mlp"]
    assert seen["sizes"] == [8, 6, 3]  # --sizes beats the preset
    assert (seen["cost"], seen["activation"], seen["initializer"], seen["dtype"]) == (
        preset["cost"], preset["activation"], preset["initializer"], preset["dtype"]
    )
    assert "log-likelihood cost, relu/softmax; 2 epochs, mini-batch 10, eta 0.01" in out
    assert len(VALIDATION_LINE.findall(out.replace(", eta 0.01", ""))) == 2


@pytest.fixture(scope="module")
def sample_checkpoint(tmp_path_factory):
    """Train on the bundled sample for two epochs and save; return the
    checkpoint and the last epoch's accuracy line."""
    path = tmp_path_factory.mktemp("cli") / "sample.anynet"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main(["train", "--data", "sample", "--sizes", "784,10,10", "--epochs", "2", "--seed", "1", "--quiet", "--save", str(path)])
    assert status == 0
    epochs = EPOCH_LINE.findall(out.getvalue())
    assert len(epochs) == 2 and f"saved run {path}" in out.getvalue()
    return path, f"test accuracy {epochs[-1][1]}% ({epochs[-1][2]}/{epochs[-1][3]}) on sample"


@pytest.mark.parametrize(
    "combo",
    [
        ("numpy", None, "float64"),
        ("array_api_strict", None, "float64"),
        ("array_api_strict", "device1", "float64"),
        ("torch", "cpu", "float64"),
        ("jax", "cpu", "float64"),
        ("numpy", None, "float32"),
    ],
    ids=["numpy", "strict", "strict-device1", "torch", "jax", "numpy-float32"],
)
def test_evaluate_gives_the_trained_accuracy_on_every_backend(sample_checkpoint, capsys, combo):
    backend = make_backend(combo)
    path, expected = sample_checkpoint
    argv = ["evaluate", str(path), "--data", "sample", "--backend", combo[0], "--quiet"]
    argv += ["--device", combo[1]] if combo[1] else []
    argv += ["--dtype", "float32"] if combo[2] == "float32" else []
    status, out, err = run(capsys, argv)
    assert status == 0, err
    line = out.strip()
    assert line.startswith("test accuracy ") and line.endswith(f", {backend}")
    if combo[2] == "float64":  # float32 may round a borderline sample the other way
        assert line == f"{expected}, {backend}"


def test_plot_writes_a_png(tiny, capsys, tmp_path):
    path = tmp_path / "curves.png"
    status, out, err = run(capsys, ["train", *TINY_ARGS, "--epochs", "2", "--plot", str(path)])
    assert status == 0, err
    assert path.read_bytes().startswith(PNG_SIGNATURE)
    assert f"saved plot {path}" in out


def test_plot_without_matplotlib_says_what_to_install_before_training(tiny, capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    status, out, err = run(capsys, ["train", *TINY_ARGS, "--plot", str(tmp_path / "c.png")])
    assert_user_error(status, out, err, 1, "pip install matplotlib")
    assert out == "" and not tiny  # no data loaded, no training


@pytest.mark.parametrize(
    "argv, phrase",
    [
        (["train", "--sizes", "784,x"], "--sizes"),
        (["train", "--sizes", "784"], "--sizes"),
        (["train", "--epochs", "-1"], "--epochs"),
        (["train", "--epochs", "two"], "--epochs"),
        (["train", "--batch-size", "0"], "--batch-size"),
        (["train", "--eta", "nan"], "--eta"),
        (["train", "--eta", "0"], "--eta"),
        (["train", "--lmbda", "-1"], "--lmbda"),
        (["train", "--momentum", "1.5"], "--momentum"),
        (["train", "--dtype", "float16"], "--dtype"),
        (["train", "--backend", "tensorflow"], "--backend"),
        (["train", "--cost", "hinge"], "--cost"),
        (["train", "--frobnicate"], "unrecognized"),
        (["evaluate"], "FILE"),
        (["check", "--backends", "numpy,tensorflow"], "--backends"),
        (["check", "--dtype", "float16"], "--dtype"),
        ([], "COMMAND"),
    ],
)
def test_bad_flags_are_one_line_errors(tiny, capsys, argv, phrase):
    status, out, err = run(capsys, argv)
    assert_user_error(status, out, err, 2, phrase)
    assert out == "" and not tiny


@pytest.mark.parametrize(
    "extra, phrase",
    [
        (["--sizes", "9,6,3"], "9 inputs"),
        (["--sizes", "8,6,4"], "3 classes"),
        (["--device", "cuda:0"], "numpy has only the 'cpu' device"),
        (["--cost", "log-likelihood", "--output-activation", "sigmoid"], "LogLikelihoodCost cannot follow a sigmoid"),
        (["--optimizer", "adam", "--momentum", "0.5"], "--momentum needs --optimizer momentum"),
        (["--nesterov"], "--nesterov needs --momentum MU"),
    ],
)
def test_bad_combinations_are_one_line_errors(tiny, capsys, extra, phrase):
    status, out, err = run(capsys, ["train", *TINY_ARGS, *extra])
    assert_user_error(status, out, err, 1, phrase)
    assert "Epoch" not in out


@pytest.mark.parametrize("target, phrase", [("no/net.npz", "does not exist"), (".", "is a directory")])
def test_unwritable_save_path_fails_before_training(tiny, capsys, tmp_path, target, phrase):
    status, out, err = run(capsys, ["train", *TINY_ARGS, "--save", str(tmp_path / target)])
    assert_user_error(status, out, err, 1, phrase)
    assert not tiny


def test_unusable_backend_is_a_one_line_error(tiny, capsys, monkeypatch):
    """CuPy without a GPU (or not installed): made so here whatever the
    machine has, so the test runs everywhere."""
    import anynet.xp.devices

    monkeypatch.setattr(anynet.xp.devices, "cuda_device_count", lambda: 0)
    status, out, err = run(capsys, ["train", *TINY_ARGS, "--backend", "cupy"])
    assert_user_error(status, out, err, 1, "cupy")
    assert not tiny  # said before any data is loaded (or downloaded)


def test_missing_data_path_is_a_one_line_error(capsys, tmp_path):
    status, out, err = run(capsys, ["train", "--data", str(tmp_path / "nowhere"), "--quiet"])
    assert_user_error(status, out, err, 1, "nowhere")


def offline(monkeypatch, tmp_path):
    monkeypatch.delenv("ANYNET_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("ANYNET_MIRRORS", "http://127.0.0.1:9/")


def test_missing_dataset_is_an_error_naming_it(capsys, tmp_path, monkeypatch):
    """Reliability finding 17: --data kmnist without KMNIST trained on the
    sample silently; now it names the dataset and how to get it."""
    offline(monkeypatch, tmp_path)
    status, out, err = run(capsys, ["train", "--data", "kmnist", "--sizes", "784,5,10", "--epochs", "1", "--quiet"])
    assert status == 1 and err.startswith("anynet: error: kmnist not found") and "Traceback" not in err
    assert "Ways to provide it" in err and "Epoch" not in out


def test_first_run_without_arguments_falls_back_to_the_sample_and_says_so(capsys, tmp_path, monkeypatch):
    offline(monkeypatch, tmp_path)
    monkeypatch.setattr(anynet.cli.train, "_RECORDED", anynet.cli.train._RECORDED)  # nothing patched: the real path
    real_fit = anynet.cli.train._fit

    def short(args, net, config, run, recorded, reducer, say, **settled):  # the book's 30 epochs would take too long here
        return real_fit(args, net, anynet.train.fit.TrainConfig(1, config.mini_batch_size, config.eta), run, recorded,
                        reducer, say, **settled)

    monkeypatch.setattr(anynet.cli.train, "_fit", short)
    status, out, err = run(capsys, ["train"])
    assert status == 0, err
    assert out.count("mnist not found") == 1 and "using the bundled sample" in out
    assert len(EPOCH_LINE.findall(out)) == 1


def test_fallback_warning_is_printed_not_raised(capsys, monkeypatch):
    def warning_load_dataset(name, **kwargs):
        import warnings

        warnings.warn("mnist not found (offline); using the sample", AnynetDataWarning)
        return Dataset(**{**TINY.__dict__, "source": "mnist not found (offline); using the sample"})

    monkeypatch.setattr(anynet.datasets, "load_dataset", warning_load_dataset)
    status, out, err = run(capsys, ["train", *TINY_ARGS, "--epochs", "1"])
    assert status == 0, err
    assert out.count("mnist not found (offline); using the sample") == 1 and err == ""


@pytest.fixture
def tiny_checkpoint(tiny, capsys, tmp_path):
    path = tmp_path / "tiny.npz"
    assert main(["train", *TINY_ARGS, "--epochs", "1", "--save", str(path)]) == 0
    capsys.readouterr()
    return path


def test_tampered_checkpoint_is_a_clean_error(tiny_checkpoint, capsys):
    with np.load(tiny_checkpoint) as archive:
        arrays = {name: archive[name] for name in archive.files}
    header = arrays.pop("header")
    arrays["w1"] = arrays["w1"] * 2
    with open(tiny_checkpoint, "wb") as f:
        np.savez(f, header=header, **arrays)
    assert json.loads(header.tobytes())["sha256"] != arrays_sha256({k: arrays[k] for k in ("w0", "w1", "b0", "b1")})
    status, out, err = run(capsys, ["evaluate", str(tiny_checkpoint), "--data", "tiny"])
    assert_user_error(status, out, err, 1, str(tiny_checkpoint), "checksum mismatch")


def test_truncated_checkpoint_is_a_clean_error(tiny_checkpoint, capsys):
    tiny_checkpoint.write_bytes(tiny_checkpoint.read_bytes()[:200])
    status, out, err = run(capsys, ["evaluate", str(tiny_checkpoint), "--data", "tiny"])
    assert_user_error(status, out, err, 1, str(tiny_checkpoint), "truncated")


def test_missing_checkpoint_is_a_clean_error(capsys, tmp_path):
    status, out, err = run(capsys, ["evaluate", str(tmp_path / "none.npz")])
    assert_user_error(status, out, err, 1, "none.npz: No such file or directory")


def test_evaluate_on_mismatched_data_is_a_clean_error(tiny_checkpoint, capsys, monkeypatch):
    monkeypatch.undo()  # the real loader, for the real sample
    status, out, err = run(capsys, ["evaluate", str(tiny_checkpoint), "--data", "sample", "--quiet"])
    assert status == 1 and "8 inputs, but sample has 784 features" in err


def test_evaluate_does_not_fall_back_to_the_sample(tiny_checkpoint, tiny, capsys):
    assert main(["evaluate", str(tiny_checkpoint), "--data", "tiny"]) == 0
    assert "test accuracy" in capsys.readouterr().out
    assert tiny[-1][1]["fallback_to_sample"] is False


def test_backends_lists_numpy(capsys):
    status, out, err = run(capsys, ["backends"])
    assert status == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].split() == ["backend", "version", "devices"]
    numpy_row = next(line for line in lines if line.startswith("numpy "))
    assert np.__version__ in numpy_row and numpy_row.endswith("cpu")
    assert {line.split()[0] for line in lines[1:]} == set(anynet.xp.backend.BACKENDS)


def test_check_numpy_and_strict_passes(capsys):
    """The default check: the dense network and the conv net on each leg."""
    status, out, err = run(capsys, ["check", "--backends", "numpy,array_api_strict"])
    assert status == 0, out + err
    assert out.splitlines()[:2] == [
        "dense: [64, 32, 10], sigmoid, quadratic cost, SGD at eta 3",
        f"conv: {crosscheck.CONV}, SGD at eta 0.1",
    ]
    rows = [line.split() for line in out.splitlines()[4:-1]]
    assert [row[:4] for row in rows] == [
        [network, *leg] for leg in (["numpy", "cpu", "float64"], ["array_api_strict", "CPU_DEVICE", "float64"],
                                    ["array_api_strict", "device1", "float64"]) for network in ("dense", "conv")
    ]
    assert all(row[-1] == "ok" for row in rows)
    assert out.splitlines()[-1] == (
        "compared 6 of 6 network/backend/device/dtype legs with NumPy (max relative difference; "
        "float64: gradients <= 1e-12, weights after 200 steps <= 1e-09): 0 mismatched, 0 skipped"
    )


def test_check_fails_when_nothing_was_compared(capsys, monkeypatch):
    """Reliability finding 18: every backend skipped used to exit 0."""
    skipped = [crosscheck.CheckResult("cupy", "-", "float64", skipped_reason="not installed")]
    monkeypatch.setattr(crosscheck, "check", lambda backends=None, dtypes=("float64",), **kwargs: skipped)
    status, out, err = run(capsys, ["check", "--backends", "cupy"])
    assert status == 1 and "nothing was compared" in out and "compared 0 of 1" in out
    status, out, err = run(capsys, ["check", "--backends", "cupy", "--allow-nothing"])
    assert status == 0


def test_check_exits_1_on_a_mismatch(capsys, monkeypatch):
    calls = []

    def fake_check(backends=None, dtypes=("float64",), **kwargs):
        calls.append((backends, tuple(dtypes)))
        return [
            crosscheck.CheckResult("numpy", "cpu", "float64", 0.0, 0.0, True),
            crosscheck.CheckResult("torch", "cpu", "float32", 1e-2, 0.5, False),
            crosscheck.CheckResult("cupy", "-", "float64", skipped_reason="not installed"),
        ]

    monkeypatch.setattr(crosscheck, "check", fake_check)
    status, out, err = run(capsys, ["check", "--dtype", "both"])
    assert status == 1 and "MISMATCH" in out and "skipped: not installed" in out
    assert calls == [(None, ("float64", "float32"))]


def test_help_exits_0(capsys):
    assert main(["train", "--help"]) == 0
    assert "--early-stopping" in capsys.readouterr().out


def test_python_dash_m_anynet_runs():
    result = subprocess.run([sys.executable, "-m", "anynet", "backends"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert any(line.startswith("numpy ") for line in result.stdout.splitlines())


def test_the_command_line_builds_one_frozen_request():
    """Issue 17 item 4: the commands get one typed request built from the
    parsed flags (no attribute added to or changed on an argparse namespace);
    which flags were given is known under any of their names."""
    import dataclasses

    from anynet.cli import build_parser
    from anynet.cli.common import make_request

    parser = build_parser()
    argv = ["train", "--mini-batch-size", "7", "--data=sample", "--epochs", "3"]
    request = make_request(parser.commands["train"], parser.parse_args(argv), argv)
    assert request.batch_size == 7 and request.data == "sample" and request.argv == tuple(argv)
    assert {"batch_size", "data", "epochs"} <= request.given and "eta" not in request.given
    assert request.defaults["eta"] == 3.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.save = "elsewhere.npz"
    assert dataclasses.replace(request, save="run.npz").save == "run.npz" and request.save is None
