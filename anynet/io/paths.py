"""Outputs that would replace a command's inputs: ``anynet train --data
d.csv --save d.csv``, ``anynet predict run.npz x.npy --output x.npy``, a
``--log`` aimed at the run file.  :func:`check_distinct` refuses an output
that is an input of the same command, or another output of it, before any
work: compared as files (the same inode: hard links and symlinks too), not
as the text the user typed."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

from ..errors import OutputPathError


def same_file(a, b) -> bool:
    """Whether paths ``a`` and ``b`` name one file (symlinks followed); for a
    path that does not exist yet, whether both resolve to the same name."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def _files_of(path) -> list[Path]:
    """An input and, for a directory (of IDX files, of images), the files in it."""
    path = Path(path)
    if not path.is_dir():
        return [path]
    try:
        return [path, *(entry for entry in path.iterdir() if entry.is_file())]
    except OSError:
        return [path]


def check_distinct(outputs: dict, inputs: dict) -> None:
    """Raise :class:`OutputPathError` if an output is one of the inputs (or a
    file in an input directory) or two outputs are one file.  ``outputs``
    and ``inputs`` map a description of each path as the user gave it
    (``"--save d.csv"``, ``"the training data (--data d.csv)"``) to the path;
    None values are skipped, and inputs that do not exist."""
    outputs = {name: path for name, path in outputs.items() if path is not None}
    for (name, path), (other, other_path) in itertools.combinations(outputs.items(), 2):
        if same_file(path, other_path):
            raise OutputPathError(f"{name} and {other} are the same file: give each output its own name")
    for (name, path), (what, source) in itertools.product(outputs.items(), inputs.items()):
        if source is None or not os.path.lexists(source):
            continue
        for candidate in _files_of(source):
            if os.path.lexists(path) and same_file(path, candidate):
                inside = "" if candidate == Path(source) else f"{candidate.name} in "
                raise OutputPathError(f"{name} is {inside}{what}, which this command reads: writing it would "
                                      "replace it; give the output another name")
