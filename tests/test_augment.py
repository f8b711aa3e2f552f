"""Training-set augmentation (anynet.datasets.mirrored, ``--augment mirror``):
the mirror images against NumPy's own ``fliplr`` of each image, validation
and test untouched, and the command line's runs (train, resume, sweep)
against Python runs on the mirrored data."""

from __future__ import annotations

import numpy as np
import pytest
from test_cli import assert_user_error, run

import anynet
import anynet.datasets
from anynet.datasets import Dataset, augmented, mirrored
from anynet.errors import ArgumentError, DataError
from anynet.api.presets import split


def images(n, seed):
    """3 x 3 'images' whose class is which third of the image is bright:
    left, middle or right column (a mirror swaps left and right columns'
    pixels, so a mirrored image is a different array)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.random((n, 3, 3)) * 0.3
    x[np.arange(n), :, y] += 0.7
    return x.reshape(n, 9), y


DATA = Dataset(name="columns", source="3x3 columns", train=images(60, 0), validation=images(20, 1),
               test=images(30, 2), n_classes=3)
ARGS = ["--data", "columns", "--sizes", "9,5,3", "--batch-size", "10", "--eta", "1.0", "--seed", "0", "--quiet"]


@pytest.fixture
def columns(monkeypatch):
    monkeypatch.setattr(anynet.datasets, "load_dataset", lambda name, **kwargs: DATA)


def test_mirrored_appends_each_training_image_mirrored_and_nothing_else():
    out = mirrored(DATA)
    X, y = DATA.train
    expected = np.stack([np.fliplr(image.reshape(3, 3)).ravel() for image in X])
    assert np.array_equal(out.train[0], np.concatenate([X, expected]))
    assert np.array_equal(out.train[1], np.concatenate([y, y]))
    assert out.validation is DATA.validation and out.test is DATA.test
    assert "mirrored left to right (60 more)" in out.source
    assert out.train[0].dtype == X.dtype and out.train[0].flags.c_contiguous


def test_width_of_non_square_images():
    wide = Dataset(name="wide", source="2 x 4", train=(np.arange(16.0).reshape(2, 8), np.array([0, 1])),
                   validation=None, test=None, n_classes=2)
    with pytest.raises(DataError, match="not square images; give the image width"):
        mirrored(wide)
    assert mirrored(wide, width=4).train[0][2].tolist() == [3, 2, 1, 0, 7, 6, 5, 4]
    with pytest.raises(DataError, match="not images 3 pixels wide"):
        mirrored(wide, width=3)


def test_augmented_by_name():
    assert augmented(DATA, None) is DATA
    assert np.array_equal(augmented(DATA, "mirror").train[0], mirrored(DATA).train[0])
    with pytest.raises(ArgumentError, match="unknown augmentation 'rotate'"):
        augmented(DATA, "rotate")


def test_train_augment_mirror_trains_on_the_mirrored_data(columns, capsys, tmp_path):
    status, out, err = run(capsys, ["train", *ARGS, "--epochs", "2", "--augment", "mirror",
                                    "--save", str(tmp_path / "run.npz")])
    assert status == 0, err
    assert "mirrored left to right (60 more)" in out
    reference = anynet.Network([9, 5, 3], seed=0)
    reference.SGD(mirrored(DATA).train, 2, 10, 1.0, verbose=False)
    saved = anynet.load(tmp_path / "run.npz")
    for a, b in zip(saved.weights + saved.biases, reference.weights + reference.biases):
        assert np.array_equal(a, b)


def test_a_resumed_run_goes_on_with_its_augmented_data(columns, capsys, tmp_path):
    whole, part = tmp_path / "whole.npz", tmp_path / "part.npz"
    assert run(capsys, ["train", *ARGS, "--epochs", "3", "--augment", "mirror", "--save", str(whole)])[0] == 0
    assert run(capsys, ["train", *ARGS, "--epochs", "1", "--augment", "mirror", "--save", str(part)])[0] == 0
    status, out, err = run(capsys, ["train", "--resume", str(part), "--epochs", "3", "--quiet"])
    assert status == 0, err
    a, b = anynet.load(whole), anynet.load(part)
    for p, q in zip(a.weights + a.biases, b.weights + b.biases):
        assert np.array_equal(p, q)
    status, out, err = run(capsys, ["train", "--resume", str(part), "--epochs", "4", "--augment", "mirror"])
    assert_user_error(status, out, err, 1, "drop --augment")


def test_sweep_augment_mirror_is_anynet_sweep_on_the_mirrored_data(columns, capsys, tmp_path):
    status, out, err = run(capsys, ["sweep", *ARGS[:-3], "--quiet", "--epochs", "2", "--eta", "0.5,1", "--augment",
                                    "mirror", "--save-dir", str(tmp_path)])
    assert status == 0, err
    nets = anynet.sweep([9, 5, 3], mirrored(DATA).train, 2, 10, eta=[0.5, 1.0], evaluation_data=DATA.validation)
    for net in nets:
        saved = anynet.load(tmp_path / f"seed0-eta{net.sweep['eta']:g}-lmbda0.npz")
        assert np.array_equal(saved.weights[0], net.weights[0])


def test_a_non_image_dataset_is_refused_with_the_reason(monkeypatch, capsys):
    from test_cli import TINY

    monkeypatch.setattr(anynet.datasets, "load_dataset", lambda name, **kwargs: TINY)
    status, out, err = run(capsys, ["train", "--data", "tiny", "--sizes", "8,6,3", "--augment", "mirror", "--quiet"])
    assert_user_error(status, out, err, 1, "not square images")


def test_presets_may_name_an_augmentation():
    network, training = split({"sizes": [9, 3], "eta": 0.1, "augment": "mirror"})
    assert network == {"sizes": [9, 3]} and training == {"eta": 0.1}


def test_the_fashion_mlp_preset_trains_on_mirrored_images(columns, capsys, tmp_path):
    """--preset fashion-mlp: strong-mlp's settings with its own sizes and the
    mirror augmentation (flags still win: --sizes, --epochs)."""
    from anynet.api.presets import PRESETS

    status, out, err = run(capsys, ["train", "--preset", "fashion-mlp", "--data", "columns", "--sizes", "9,5,3",
                                    "--epochs", "2", "--quiet", "--save", str(tmp_path / "run.npz")])
    assert status == 0, err
    assert "mirrored left to right (60 more)" in out
    network, training = split(PRESETS["fashion-mlp"])
    network.update(sizes=[9, 5, 3])
    training.update(epochs=2)
    reference = anynet.Network(**network)
    reference.SGD(mirrored(DATA).train, evaluation_data=DATA.validation, verbose=False, **training)
    saved = anynet.load(tmp_path / "run.npz")
    for a, b in zip(saved.weights + saved.biases, reference.weights + reference.biases):
        assert np.array_equal(a, b)


def test_the_refit_preset_trains_on_every_training_row_with_its_fixed_schedule(monkeypatch, capsys, tmp_path):
    """--preset fashion-mlp-60k: no validation split (validation_split 0: the
    validation rows train too), mirrored images, DivideAt's fixed etas."""
    from anynet.datasets import split_validation
    from anynet.api.presets import PRESETS

    seen = []

    def load(name, validation_split=None, **kwargs):
        seen.append(validation_split)
        return DATA if validation_split is None else split_validation(DATA, validation_split)

    monkeypatch.setattr(anynet.datasets, "load_dataset", load)
    status, out, err = run(capsys, ["train", "--preset", "fashion-mlp-60k", "--data", "columns", "--sizes", "9,5,3",
                                    "--epochs", "10", "--quiet", "--save", str(tmp_path / "run.npz")])
    assert status == 0, err
    assert seen == [0.0] and "all 80 training rows train" in out and "(80 more)" in out
    network, training = split(PRESETS["fashion-mlp-60k"])
    network.update(sizes=[9, 5, 3])
    training.update(epochs=10)
    whole = split_validation(DATA, 0)
    reference = anynet.Network(**network)
    reference.SGD(mirrored(whole).train, verbose=False, **training)
    assert [r.eta for r in reference.history] == [1e-3] * 8 + [5e-4] * 2
    saved = anynet.load(tmp_path / "run.npz")
    for a, b in zip(saved.weights + saved.biases, reference.weights + reference.biases):
        assert np.array_equal(a, b)


def test_the_command_line_offers_every_augmentation():
    from anynet.cli import build_parser
    from anynet.datasets import AUGMENTATIONS

    for command in (build_parser().train_parser, build_parser().sweep_parser):
        (flag,) = [a for a in command._actions if a.dest == "augment"]
        assert tuple(flag.choices) == AUGMENTATIONS


def book_shifts(X):
    """The book's expand_mnist.py recipe for 3 x 3 images, written here with
    np.roll and a zeroed edge (its own operations), in its order down, up,
    right, left: four arrays of moved images."""
    moved = []
    for d, axis, edge in ((1, 0, 0), (-1, 0, 2), (1, 1, 0), (-1, 1, 2)):
        rolled = np.roll(X.reshape(-1, 3, 3), d, axis + 1)
        if axis == 0:
            rolled[:, edge, :] = 0
        else:
            rolled[:, :, edge] = 0
        moved.append(rolled.reshape(-1, 9))
    return moved


def test_shifted_appends_the_books_four_one_pixel_shifts():
    """Against the book's expand_mnist.py recipe (:func:`book_shifts`)."""
    from anynet.datasets import shifted

    out = shifted(DATA)
    X, y = DATA.train
    assert np.array_equal(out.train[0], np.concatenate([X, *book_shifts(X)]))
    assert np.array_equal(out.train[1], np.concatenate([y] * 5))
    assert out.validation is DATA.validation and out.test is DATA.test
    assert "shifted by one pixel down, up, right and left (240 more)" in out.source
    assert np.array_equal(augmented(DATA, "shift").train[0], out.train[0])


def test_mirror_and_shift_shifts_every_image_and_its_mirror_image():
    """``mirror+shift``: the images and their mirror images (NumPy's fliplr),
    then each of those moved one pixel down, up, right and left
    (:func:`book_shifts`): ten times the training images, labels alike."""
    out = augmented(DATA, "mirror+shift")
    X, y = DATA.train
    both = np.concatenate([X, np.stack([np.fliplr(image.reshape(3, 3)).ravel() for image in X])])
    assert np.array_equal(out.train[0], np.concatenate([both, *book_shifts(both)]))
    assert np.array_equal(out.train[1], np.concatenate([y] * 10))
    assert out.validation is DATA.validation and out.test is DATA.test
    assert "mirrored left to right (60 more)" in out.source and "(480 more)" in out.source
