#!/usr/bin/env python3
"""Regenerate anynet's bundled sample (anynet/data/) from the full Fashion-MNIST.

Takes the first N training and first M test images (and their labels) from the
official files, as installed by the Debian/Ubuntu package dataset-fashion-mnist,
writes them as gzipped IDX files with a fixed gzip header (so a rerun gives
byte-identical files), and writes anynet/data/SAMPLE.md describing them.

    python tools/make_sample.py [--source DIR] [--train 4000] [--test 1000]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import struct
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # use this checkout's reader, installed or not

from anynet.datasets.core import CLASS_NAMES as DATASET_CLASS_NAMES  # noqa: E402
from anynet.datasets.idx import IDX_FILES, read_idx  # noqa: E402
from anynet.datasets.sample import SAMPLE_DIR, SAMPLE_FILES  # noqa: E402

DEFAULT_SOURCE = Path("/usr/share/datasets/fashion-mnist")
MIT_LICENSE = """The MIT License (MIT)

Copyright (c) 2017 Zalando SE, https://tech.zalando.com

Permission is hereby granted, free of charge, to any person obtaining a copy of
this software and associated documentation files (the "Software"), to deal in
the Software without restriction, including without limitation the rights to
use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies of
the Software, and to permit persons to whom the Software is furnished to do so,
subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS
FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR
COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER
IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN
CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
"""
CLASS_NAMES = DATASET_CLASS_NAMES["fashion-mnist"]


def write_idx_gz(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array as a gzipped IDX file with a reproducible gzip header."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as f:
        f.write(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def source_file(source: Path, stem: str) -> Path:
    for candidate in (source / f"{stem}.gz", source / stem):
        if candidate.is_file():
            return candidate
    sys.exit(f"{source} has no {stem}[.gz]; install dataset-fashion-mnist or pass --source")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def sample_md(counts: dict[str, int], histograms: dict[str, np.ndarray]) -> str:
    rows = "\n".join(
        f"| {label} | {name} | {histograms['train'][label]} | {histograms['test'][label]} |"
        for label, name in enumerate(CLASS_NAMES)
    )
    digests = "\n".join(
        f"| `{path.name}` | {path.stat().st_size:,} | `{sha256(path)}` |" for path in SAMPLE_FILES.values()
    )
    return f"""# Bundled sample: a subset of Fashion-MNIST

These files let `load_dataset("sample")` (and `--data sample`) work on a fresh,
offline install.  They are real data, not synthetic.

- **Source:** Fashion-MNIST by Zalando Research,
  <https://github.com/zalandoresearch/fashion-mnist>, read from the files of the
  Debian/Ubuntu package `dataset-fashion-mnist` (`{DEFAULT_SOURCE}`).
- **Licence:** MIT, Copyright (c) 2017 Zalando SE, https://tech.zalando.com
  (full text below).
- **Indices taken:** training images and labels 0 to {counts["train"] - 1} (the first
  {counts["train"]:,} of `train-images-idx3-ubyte`), test images and labels 0 to
  {counts["test"] - 1} (the first {counts["test"]:,} of `t10k-images-idx3-ubyte`), in file order.
  Pixels and labels are unchanged.
- **Format:** gzipped IDX, the same layout as the original files.
- **Regenerate:** `python tools/make_sample.py` (writes byte-identical files).

| label | class | train | test |
| --- | --- | --- | --- |
{rows}

| file | bytes | SHA-256 |
| --- | --- | --- |
{digests}

## Licence

{MIT_LICENSE}"""


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--source", type=Path, default=DEFAULT_SOURCE, help="directory with the four Fashion-MNIST IDX files"
    )
    parser.add_argument("--train", type=int, default=4000, help="number of training images to take (default 4000)")
    parser.add_argument("--test", type=int, default=1000, help="number of test images to take (default 1000)")
    args = parser.parse_args(argv)

    counts = {"train": args.train, "test": args.test}
    histograms = {}
    SAMPLE_DIR.mkdir(exist_ok=True)
    for role, stem in IDX_FILES.items():
        split = "train" if role.startswith("train") else "test"
        array = read_idx(source_file(args.source, stem))[: counts[split]]
        if len(array) < counts[split]:
            sys.exit(f"{stem} has only {len(array)} entries, fewer than the {counts[split]} asked for")
        write_idx_gz(SAMPLE_FILES[role], array)
        if role.endswith("labels"):
            histograms[split] = np.bincount(array, minlength=len(CLASS_NAMES))
    (SAMPLE_DIR / "SAMPLE.md").write_text(sample_md(counts, histograms))
    total = sum(path.stat().st_size for path in SAMPLE_FILES.values())
    print(f"wrote {counts['train']:,} train + {counts['test']:,} test images to {SAMPLE_DIR} ({total:,} bytes)")


if __name__ == "__main__":
    main()
