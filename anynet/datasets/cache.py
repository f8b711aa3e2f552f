"""The download cache: mirrors and published checksums of the named datasets,
where the cache is, and a record of what anynet downloaded so that a cached
file is verified again every time it is used.

The record is ``.anynet-downloads.json`` in each dataset's cache directory:
the size and SHA-256 of each file anynet downloaded there.  Hashing the largest
file (26 MB) takes about 0.03 s, a twentieth of decompressing it, so every
load hashes the files it is about to read instead of trusting size and mtime.
Files put into the cache by hand have no record and are read as they are.
"""

from __future__ import annotations

import hashlib
import json
import os
import urllib.parse
import warnings
from pathlib import Path

from ..errors import AnynetDataWarning, ArgumentError, DataNotFoundError
from ..io.files import write_atomically
from .download import download_file, download_timeout
from .idx import IDX_FILES

# Base URLs tried in order; each serves the four files as <base><file>.gz.
MIRRORS = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
    "fashion-mnist": (
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ),
    "kmnist": ("http://codh.rois.ac.jp/kmnist/dataset/kmnist/",),
}

# (size in bytes, SHA-256) of each .gz file exactly as the mirrors serve it.
# These are the published digests (tensorflow/datasets url_checksums/*.txt and
# other independent projects agree).  The Debian package's Fashion-MNIST files
# are recompressed copies (no file name in the gzip header), so their bytes
# differ from these; they are read from disk and never checked against this.
CHECKSUMS = {
    "mnist": {
        "train-images-idx3-ubyte.gz": (9912422, "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
        "train-labels-idx1-ubyte.gz": (28881, "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
        "t10k-images-idx3-ubyte.gz": (1648877, "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
        "t10k-labels-idx1-ubyte.gz": (4542, "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": (26421880, "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"),
        "train-labels-idx1-ubyte.gz": (29515, "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"),
        "t10k-images-idx3-ubyte.gz": (4422102, "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"),
        "t10k-labels-idx1-ubyte.gz": (5148, "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"),
    },
    "kmnist": {
        "train-images-idx3-ubyte.gz": (18165135, "51467d22d8cc72929e2a028a0428f2086b092bb31cfb79c69cc0a90ce135fde4"),
        "train-labels-idx1-ubyte.gz": (29497, "e38f9ebcd0f3ebcdec7fc8eabdcdaef93bb0df8ea12bee65224341c8183d8e17"),
        "t10k-images-idx3-ubyte.gz": (3041136, "edd7a857845ad6bb1d0ba43fe7e794d164fe2dce499a1694695a792adfac43c5"),
        "t10k-labels-idx1-ubyte.gz": (5120, "20bb9a0ef54c7db3efc55a92eef5582c109615df22683c380526788f98e42a1c"),
    },
}

RECORD_NAME = ".anynet-downloads.json"
_CHUNK = 1 << 20


def cache_root(data_dir=None) -> Path:
    """``data_dir`` if given, else ``$XDG_CACHE_HOME/anynet`` (default ``~/.cache/anynet``)."""
    if data_dir is not None:
        return Path(data_dir)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "anynet"


def mirror_list(name: str, mirrors=None) -> tuple[str, ...]:
    """The base URLs to try for ``name``: ``mirrors``, else ``$ANYNET_MIRRORS``, else :data:`MIRRORS`."""
    if mirrors is None:
        mirrors = os.environ.get("ANYNET_MIRRORS") or MIRRORS[name]
    if isinstance(mirrors, str):
        mirrors = mirrors.split(",")
    urls = tuple(m.strip() for m in mirrors if m.strip())
    for url in urls:
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise ArgumentError(f"mirror {url!r} is not an http(s) URL")
    if not urls:
        raise ArgumentError("no mirrors given")
    return urls


def _read_record(directory: Path) -> dict | None:
    """filename -> {"size", "sha256"} of what anynet downloaded here; {} if
    nothing was; None if the record is damaged (then CHECKSUMS stand in)."""
    try:
        record = json.loads((directory / RECORD_NAME).read_bytes())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _expected(name: str, record: dict | None, filename: str) -> tuple[int, str] | None:
    """The (size, SHA-256) a cached file must still have, or None if anynet did not download it."""
    if record is not None and filename not in record:
        return None
    entry = (record or {}).get(filename)
    if isinstance(entry, dict) and isinstance(entry.get("size"), int) and isinstance(entry.get("sha256"), str):
        return entry["size"], entry["sha256"]
    return CHECKSUMS.get(name, {}).get(filename)  # a damaged record: what it would have said


def _problem(path: Path, expected: tuple[int, str]) -> str | None:
    """What is wrong with the cached ``path``, or None if it matches ``expected``."""
    size, sha256 = expected
    actual = path.stat().st_size
    if actual != size:
        return f"{path} is {actual:,} bytes, but {size:,} were downloaded"
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_CHUNK):
            digest.update(block)
    if digest.hexdigest() != sha256:
        return f"{path} has changed since it was downloaded (SHA-256 {digest.hexdigest()}, expected {sha256})"
    return None


def cache_problems(name: str, directory: Path) -> list[str]:
    """One line per file in ``directory`` that anynet downloaded and that no
    longer has the size and SHA-256 it had then (empty: all good)."""
    record = _read_record(directory)
    problems = []
    for stem in IDX_FILES.values():
        path = directory / f"{stem}.gz"
        if (directory / stem).is_file() or not path.is_file():
            continue  # a decompressed copy the user made is read instead; a missing file is not corrupt
        expected = _expected(name, record, path.name)
        if expected is not None and (problem := _problem(path, expected)):
            problems.append(problem)
    return problems


def ensure_downloaded(name: str, directory: Path, urls, *, progress: bool, timeout=None) -> list[str]:
    """Download each file of ``name`` that ``directory`` lacks or holds
    corrupt; return what went wrong (empty: all there and verified).
    Directories are created only for a download, and removed again if
    nothing could be downloaded into them."""
    timeout = download_timeout(timeout)
    record = _read_record(directory)
    problems, created = [], None
    for stem in IDX_FILES.values():
        filename = f"{stem}.gz"
        target = directory / filename
        if (directory / stem).is_file():
            continue
        if target.is_file():
            expected = _expected(name, record, filename)
            corrupt = expected is not None and _problem(target, expected)
            if not corrupt:
                continue
            warnings.warn(f"{corrupt}; downloading it again", AnynetDataWarning, stacklevel=3)
        if created is None:
            created = _make_directories(directory)
        expected = CHECKSUMS[name][filename]
        url, failures = download_file(filename, target, urls, expected, progress=progress, timeout=timeout)
        if url is None:
            problems += failures
        else:
            record = _record(directory, filename, expected, url)
    if problems and created:
        _remove_empty(created)
    return problems


def _record(directory: Path, filename: str, expected: tuple[int, str], url: str) -> dict:
    record = _read_record(directory) or {}
    record[filename] = {"size": expected[0], "sha256": expected[1], "url": url}
    text = json.dumps(record, indent=1, sort_keys=True).encode()
    write_atomically(directory / RECORD_NAME, lambda f: f.write(text))
    return record


def _make_directories(directory: Path) -> list[Path]:
    """Create ``directory`` and its missing parents; return those created, deepest first."""
    missing, path = [], directory
    while not path.exists():
        missing.append(path)
        path = path.parent
    directory.mkdir(parents=True, exist_ok=True)
    return missing


def _remove_empty(directories: list[Path]) -> None:
    for path in directories:
        try:
            path.rmdir()
        except OSError:  # something landed in it: keep it and its parents
            return


def fetch(name, *, data_dir=None, mirrors=None, progress=True, timeout=None) -> Path:
    """Download the four .gz files of dataset ``name`` into its cache directory.

    ``name`` is "mnist", "fashion-mnist" or "kmnist".  The directory is
    ``<data_dir>/<name>`` if ``data_dir`` is given, else ``<cache>/<name>`` (see
    :func:`cache_root`).  Files already there are kept if they still match
    what was downloaded (a corrupt one is downloaded again, with a warning).
    Each missing file is tried on each mirror in turn (``mirrors``, else
    ``$ANYNET_MIRRORS``, a comma-separated list of base URLs, else
    :data:`MIRRORS`), within ``timeout`` seconds per file (else
    ``$ANYNET_DOWNLOAD_TIMEOUT``, else 300), checked against
    :data:`CHECKSUMS` and renamed into place.  Returns the directory; raises
    :class:`DataNotFoundError` when a file cannot be had from any mirror.
    """
    if name not in MIRRORS:
        raise ArgumentError(f"cannot download {name!r}: known datasets are {', '.join(MIRRORS)}")
    urls = mirror_list(name, mirrors)
    directory = cache_root(data_dir) / name
    problems = ensure_downloaded(name, directory, urls, progress=progress, timeout=timeout)
    if problems:
        raise DataNotFoundError(not_found_message(name, data_dir, urls, looked_in=[], problems=problems))
    return directory


def not_found_message(name: str, data_dir, urls, *, looked_in: list[str], problems: list[str] | None) -> str:
    """Say what was tried and list every way to provide the data."""
    lines = [f"{name} not found."]
    if looked_in:
        lines += ["Looked in:", *(f"  {place}" for place in looked_in)]
    if problems is None:
        lines.append("Download skipped (download disabled).")
    else:
        lines += ["Download failed:", *(f"  {problem}" for problem in problems)]
    stems = ", ".join(IDX_FILES.values())
    pickle_hint = ", or Nielsen's mnist.pkl.gz" if name == "mnist" else ""
    lines += [
        "Ways to provide it:",
        f"  - pass a path: a directory holding {stems} (raw or .gz){pickle_hint}",
        f"  - set ANYNET_DATA to a directory holding {name}/ (or those files directly)",
        f"  - put the files in the cache directory {cache_root(data_dir) / name}",
        "  - for Fashion-MNIST: apt install dataset-fashion-mnist (Debian/Ubuntu), then use fashion-mnist",
        f"  - be online: the files are downloaded from {', '.join(urls)} (set ANYNET_MIRRORS to use other mirrors)",
        f"  - download them once: python -c \"from anynet.datasets import fetch; fetch('{name}')\"",
        "  - or use the bundled sample: --data sample (load_dataset('sample'))",
    ]
    return "\n".join(lines)
