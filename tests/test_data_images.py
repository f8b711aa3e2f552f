"""Images as prediction inputs (load_inputs, image_paths), decoded by the optional Pillow."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from test_data_support import hermetic  # noqa: F401  (autouse fixture)

from anynet.datasets import image_paths, load_inputs
from anynet.datasets import images as images_module
from anynet.errors import BackendUnavailable, DataError

Image = pytest.importorskip("PIL.Image", reason="Pillow is not installed (pip install 'anynet[images]')")


def save(path, pixels: np.ndarray):
    Image.fromarray(pixels).save(path)
    return path


def digits(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 28, 28), dtype=np.uint8)


def test_one_png_is_one_row_of_pixels_over_255(tmp_path):
    pixels = digits(1)[0]
    rows = load_inputs(save(tmp_path / "seven.png", pixels))
    assert rows.shape == (1, 784) and rows.dtype == np.float64
    np.testing.assert_array_equal(rows[0], pixels.reshape(-1) / 255)


def test_several_files_keep_their_order_and_a_directory_is_sorted(tmp_path):
    images = digits(3)
    names = ["b.png", "a.png", "c.PNG"]
    for name, pixels in zip(names, images, strict=True):
        save(tmp_path / name, pixels)
    (tmp_path / "notes.txt").write_text("not an image")
    given = load_inputs([tmp_path / "b.png", tmp_path / "a.png"], dtype="float32")
    np.testing.assert_array_equal(given, images[:2].reshape(2, -1).astype(np.float32) / np.float32(255))
    assert [p.name for p in image_paths(tmp_path)] == ["a.png", "b.png", "c.PNG"]
    np.testing.assert_array_equal(load_inputs(tmp_path), images[[1, 0, 2]].reshape(3, -1) / 255)


def test_colour_is_converted_to_greyscale(tmp_path):
    grey = digits(1)[0]
    rgb = np.repeat(grey[:, :, None], 3, axis=2)  # R = G = B: luma is the grey value itself
    np.testing.assert_array_equal(load_inputs(save(tmp_path / "c.png", rgb))[0], grey.reshape(-1) / 255)
    rgba = np.concatenate([rgb, np.full((28, 28, 1), 128, np.uint8)], axis=2)
    np.testing.assert_array_equal(load_inputs(save(tmp_path / "a.png", rgba))[0], grey.reshape(-1) / 255)


def test_sixteen_bit_greyscale_is_scaled_by_65535(tmp_path):
    pixels = np.random.default_rng(1).integers(0, 65536, (28, 28), dtype=np.uint16)
    rows = load_inputs(save(tmp_path / "deep.png", pixels))
    np.testing.assert_array_equal(rows[0], pixels.reshape(-1) / 65535)


def test_images_of_different_sizes_are_refused_naming_both(tmp_path):
    save(tmp_path / "a.png", digits(1)[0])
    save(tmp_path / "b.png", np.zeros((32, 30), np.uint8))
    with pytest.raises(DataError, match=r"b.png is 30x32 pixels but .*a.png is 28x28"):
        load_inputs(tmp_path)


def test_not_an_image(tmp_path):
    (tmp_path / "fake.png").write_bytes(b"\x89PNG\r\n\x1a\n but then nothing")
    with pytest.raises(DataError, match=r"fake.png is not a readable image"):
        load_inputs(tmp_path / "fake.png")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"empty holds no images \(.png"):
        load_inputs(tmp_path / "empty")
    np.save(tmp_path / "x.npy", np.zeros(3))
    with pytest.raises(DataError, match=r"x.npy is not an image \(.png.*\); several inputs .* must all be images"):
        load_inputs([tmp_path / "x.npy", tmp_path / "fake.png"])


def test_too_many_pixels_are_refused_before_decoding(tmp_path, monkeypatch):
    monkeypatch.setattr(images_module, "MAX_PIXELS", 100)
    save(tmp_path / "big.png", np.zeros((11, 10), np.uint8))
    with pytest.raises(DataError, match=r"big.png: 10x11 pixels is more than the 100 anynet reads"):
        load_inputs(tmp_path / "big.png")


def test_without_pillow_the_error_says_what_to_install(tmp_path, monkeypatch):
    save(tmp_path / "a.png", digits(1)[0])
    monkeypatch.setitem(sys.modules, "PIL", None)  # import PIL now raises ImportError
    with pytest.raises(BackendUnavailable, match=r"pip install 'anynet-nndl\[images\]'"):
        load_inputs(tmp_path / "a.png")
