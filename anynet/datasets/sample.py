"""The bundled sample: the first 4,000 training and 1,000 test images of
Fashion-MNIST, shipped inside the package so that anynet works offline
(``anynet/data/SAMPLE.md``; ``tools/make_sample.py`` rebuilds it)."""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import numpy as np

from ..errors import AnynetDataWarning, DataNotFoundError
from .core import CLASS_NAMES, Dataset
from .idx import IDX_FILES, load_idx_files

SAMPLE_DIR = Path(__file__).resolve().parent.parent / "data"
SAMPLE_FILES = {role: SAMPLE_DIR / f"sample-{stem}.gz" for role, stem in IDX_FILES.items()}


def load_sample(dtype: np.dtype) -> Dataset:
    """The bundled sample: training and test splits, no validation split."""
    missing = [str(p) for p in SAMPLE_FILES.values() if not p.is_file()]
    if missing:
        raise DataNotFoundError(f"the bundled sample is missing ({', '.join(missing)}); reinstall anynet")
    dataset = load_idx_files(SAMPLE_FILES, name="sample", source="", dtype=dtype, split=None)
    description = (
        f"{len(dataset.train[1]):,} train / {len(dataset.test[1]):,} test Fashion-MNIST images "
        "(MIT licence, Zalando Research)"
    )
    return dataclasses.replace(dataset, source=f"bundled sample: {description}",
                               class_names=list(CLASS_NAMES["fashion-mnist"]))


def sample_instead(name: str, reason: str, dtype: np.dtype) -> Dataset:
    """The sample standing in for dataset ``name``, saying so in ``source`` and
    with an :class:`AnynetDataWarning`."""
    sample = load_sample(dtype)
    line = f"{name} not found ({reason}); using the {sample.source}"
    warnings.warn(line, AnynetDataWarning, stacklevel=3)
    return dataclasses.replace(sample, source=line)
