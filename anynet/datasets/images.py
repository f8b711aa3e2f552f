"""Image files as network inputs, decoded by Pillow (the optional extra
``anynet-nndl[images]``).

Each image becomes one row of pixel values in [0, 1], row by row: greyscale
8-bit pixels divided by 255, 16-bit ones by 65535; colour and palette images
are converted to greyscale first (Pillow's ITU-R 601-2 luma), and an alpha
channel is ignored.  MNIST-like networks expect MNIST's convention: 28x28
pixels, a light digit on a dark background.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import BackendUnavailable, DataError
from .opening import open_regular

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
_FORMATS = ("PNG", "JPEG", "BMP", "GIF")  # the decoders Pillow may use; no other parser sees the bytes
MAX_PIXELS = 1 << 24  # far beyond any input layer anynet trains, far below a decompression bomb


def _pillow():
    try:
        from PIL import Image
    except ImportError:
        raise BackendUnavailable(
            "reading images needs Pillow: pip install 'anynet-nndl[images]' (or pip install pillow)"
        ) from None
    return Image


def read_image(path) -> np.ndarray:
    """The pixels of the image file ``path`` as a float64 array (height,
    width) in [0, 1].  DataError names the file if it is not a readable
    image or is larger than :data:`MAX_PIXELS`."""
    Image = _pillow()
    path = Path(path)
    with open_regular(path, "an image") as f:
        try:
            with Image.open(f, formats=_FORMATS) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise DataError(f"{path}: {width}x{height} pixels is more than the {MAX_PIXELS:,} anynet reads")
                if not image.mode.startswith("I"):
                    return np.asarray(image.convert("L"), dtype=np.float64) / 255
                pixels = np.asarray(image, dtype=np.float64) / 65535  # 16-bit greyscale
        except DataError:
            raise
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
            raise DataError(f"{path} is not a readable image ({type(error).__name__}: {error})") from None
    if not 0 <= pixels.min() <= pixels.max() <= 1:
        raise DataError(f"{path}: its {image.mode} pixels exceed 16 bits ({pixels.max() * 65535:g})")
    return pixels
