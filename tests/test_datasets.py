"""Tests for anynet.datasets: IDX and pickle readers, source order, downloads, the sample."""

from __future__ import annotations

import gzip
import io
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
from test_data_support import (  # noqa: F401  (fixtures are used by name)
    IDX_CODES,
    QuietHandler,
    cache_files,
    closed_port_url,
    hermetic,
    make_idx_dir,
    marker_of,
    mirror,
    serve,
    write_idx,
)

from anynet import datasets
from anynet.datasets import (
    AnynetDataWarning,
    DataNotFoundError,
    fetch,
    load_dataset,
    load_mnist_pickle,
    read_idx,
    to_tuples,
)

REAL_SYSTEM_DIRS = dict(datasets.SYSTEM_DIRS)
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


def book_pickle(n: int = 20, *, evil=None, protocol: int = 2) -> bytes:
    """A small pickle with the structure of Nielsen's mnist.pkl.gz, as NumPy and pickle write it."""
    rng = np.random.default_rng(0)
    splits = [(rng.random((n, 784), dtype=np.float32), (np.arange(n) % 10).astype(np.int64)) for _ in range(3)]
    if evil is not None:
        splits[2] = (evil, splits[2][1])
    return pickle.dumps(tuple(splits), protocol=protocol)


@pytest.fixture
def corrupt_mirror(tmp_path, mirror):
    """The same file names as ``mirror`` with different bytes of the same size."""
    directory = tmp_path / "corrupt"
    directory.mkdir()
    for path in mirror.iterdir():
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        (directory / path.name).write_bytes(bytes(data))
    return directory


# ----------------------------------------------------------------------- IDX


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("dtype", list(IDX_CODES))
def test_idx_round_trip(tmp_path, suffix, dtype):
    array = (np.arange(2 * 3 * 4) - 5).astype(dtype).reshape(2, 3, 4)
    if dtype == np.uint8:
        array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    result = read_idx(write_idx(tmp_path / f"a.idx{suffix}", array))
    assert result.dtype == np.dtype(dtype) and result.dtype.isnative
    np.testing.assert_array_equal(result, array)


def test_idx_one_dimensional(tmp_path):
    labels = np.array([3, 1, 4, 1, 5], np.uint8)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "labels", labels)), labels)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_truncated_names_the_file(tmp_path, suffix):
    path = tmp_path / f"short-idx3-ubyte{suffix}"
    raw = bytes([0, 0, 8, 3]) + struct.pack(">3I", 5, 28, 28) + bytes(5 * 784 - 1)
    path.write_bytes(gzip.compress(raw) if suffix else raw)
    with pytest.raises(ValueError, match=r"short-idx3-ubyte.*truncated"):
        read_idx(path)


def test_idx_truncated_gzip_names_the_file(tmp_path):
    path = write_idx(tmp_path / "cut.gz", np.zeros((50, 28, 28), np.uint8))
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(ValueError, match=r"cut.gz"):
        read_idx(path)


@pytest.mark.parametrize(
    "content",
    [b"", b"\x00\x00", b"\x12\x34\x08\x01" + bytes(8), b"\x00\x00\x0a\x01" + bytes(8), b"\x00\x00\x08\x00"],
    ids=["empty", "short", "bad-leading-bytes", "unknown-type", "no-dimensions"],
)
def test_idx_bad_magic_names_the_file(tmp_path, content):
    path = tmp_path / "bogus.idx"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=r"bogus.idx.*not an IDX file"):
        read_idx(path)


def test_idx_header_cut_short(tmp_path):
    path = tmp_path / "header"
    path.write_bytes(bytes([0, 0, 8, 3]) + struct.pack(">I", 5))
    with pytest.raises(ValueError, match=r"header.*truncated"):
        read_idx(path)


def test_idx_directory_loads_with_book_split(tmp_path):
    dataset = load_dataset(str(make_idx_dir(tmp_path / "d", marker=9, gz=False)), dtype="float32")
    assert dataset.train[0].shape == (50, 784) and dataset.validation[0].shape == (10, 784)
    assert dataset.test[0].shape == (12, 784)
    assert dataset.train[0].dtype == np.float32 and dataset.train[1].dtype == np.int64
    assert dataset.name == str(tmp_path / "d") and "given path" in dataset.source
    np.testing.assert_allclose(dataset.train[0], 9 / 255)
    # the validation set is the end of the training file, not a shuffle
    np.testing.assert_array_equal(dataset.validation[1], np.arange(50, 60) % 10)


def test_idx_labels_out_of_range(tmp_path):
    directory = make_idx_dir(tmp_path / "d")
    write_idx(directory / "t10k-labels-idx1-ubyte.gz", np.full(12, 10, np.uint8))
    with pytest.raises(ValueError, match=r"t10k-labels.*0..9"):
        load_dataset(str(directory))


def test_idx_count_mismatch(tmp_path):
    directory = make_idx_dir(tmp_path / "d")
    write_idx(directory / "t10k-labels-idx1-ubyte.gz", np.zeros(11, np.uint8))
    with pytest.raises(ValueError, match=r"12 images.*11 labels"):
        load_dataset(str(directory))


# ---------------------------------------------------------------- the pickle


def test_pickle_loads(tmp_path):
    path = tmp_path / "mnist.pkl.gz"
    path.write_bytes(gzip.compress(book_pickle()))
    dataset = load_mnist_pickle(path)
    assert dataset.name == "mnist" and "mnist.pkl.gz" in dataset.source
    for X, y in (dataset.train, dataset.validation, dataset.test):
        assert X.shape == (20, 784) and X.dtype == np.float64
        assert y.shape == (20,) and y.dtype == np.int64
    expected = pickle.loads(book_pickle())
    np.testing.assert_allclose(dataset.test[0], expected[2][0])


def test_pickle_written_by_numpy_1_loads_without_warnings(tmp_path):
    # The book's file names numpy.core.multiarray, NumPy 2's deprecated alias;
    # pytest turns any warning into an error, so this also proves none is raised.
    data = book_pickle().replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    assert b"numpy.core.multiarray" in data
    path = tmp_path / "mnist.pkl"
    path.write_bytes(data)
    assert load_mnist_pickle(path).train[0].shape == (20, 784)


class Python2Pickler(pickle._Pickler):
    """Writes bytes as Python 2 wrote str, BINSTRING (the book's mnist.pkl.gz
    holds its array data so), where Python 3 writes _codecs.encode(...)."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_bytes(self, obj):
        self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_bytes


def test_pickle_in_python_2_form_loads(tmp_path):
    splits = pickle.loads(book_pickle(n=5))
    out = io.BytesIO()
    Python2Pickler(out, protocol=2).dump(splits)
    data = out.getvalue().replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    assert b"_codecs" not in data
    (tmp_path / "mnist.pkl.gz").write_bytes(gzip.compress(data))
    dataset = load_mnist_pickle(tmp_path / "mnist.pkl.gz")
    np.testing.assert_array_equal(dataset.test[0], splits[2][0])
    np.testing.assert_array_equal(dataset.train[1], splits[0][1])


def test_pickle_uses_only_the_admitted_globals():
    """The allow-list is exactly what NumPy and pickle write for this structure."""
    import pickletools

    names = set()
    for opcode, arg, _ in pickletools.genops(book_pickle()):
        if opcode.name == "GLOBAL":
            names.add(tuple(arg.split(" ")))
    assert names <= set(datasets.pickled._PICKLE_GLOBALS)


def test_pickle_via_load_dataset(tmp_path):
    directory = tmp_path / "book-data"
    directory.mkdir()
    (directory / "mnist.pkl.gz").write_bytes(gzip.compress(book_pickle(n=12)))
    by_file = load_dataset(str(directory / "mnist.pkl.gz"), dtype="float32")
    by_directory = load_dataset(str(directory))
    assert by_file.train[0].dtype == np.float32 and by_directory.train[0].shape == (12, 784)


class RunsShell:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


class Evaluates:
    def __init__(self, code):
        self.code = code

    def __reduce__(self):
        return (eval, (self.code,))


@pytest.mark.parametrize(
    ("make_evil", "forbidden"),
    [
        (lambda marker: RunsShell(f"echo pwned > {marker}"), r"(posix|nt)\.system"),  # os.system's real home
        # protocol 2 spells the module __builtin__, as Python 2 did
        (lambda marker: Evaluates(f"open({str(marker)!r}, 'w').write('pwned')"), r"(__builtin__|builtins)\.eval"),
    ],
    ids=["os.system", "builtins.eval"],
)
@pytest.mark.parametrize("protocol", [2, 4])
def test_malicious_pickle_is_refused(tmp_path, make_evil, forbidden, protocol):
    marker = tmp_path / "pwned"
    path = tmp_path / "mnist.pkl.gz"
    path.write_bytes(gzip.compress(book_pickle(evil=make_evil(marker), protocol=protocol)))
    with pytest.raises(ValueError, match=rf"refusing to load .*mnist.pkl.gz.*{forbidden}.*never contains"):
        load_mnist_pickle(path)
    assert not marker.exists()
    with pytest.raises(ValueError, match=r"refusing"):
        load_dataset(str(path))
    assert not marker.exists()


def test_codecs_encode_only_as_latin1(tmp_path):
    import codecs

    class Rot13:
        def __reduce__(self):
            return (codecs.encode, ("abc", "rot13"))

    path = tmp_path / "mnist.pkl"
    path.write_bytes(pickle.dumps(Rot13(), protocol=2))
    with pytest.raises(ValueError, match=r"mnist.pkl.*latin1"):
        load_mnist_pickle(path)


@pytest.mark.parametrize(
    ("splits", "problem"),
    [
        (lambda s: s[:2], "3 .*pairs"),
        (lambda s: (s[0], s[1], (s[2][0][:, :100], s[2][1])), "test images"),
        (lambda s: (s[0], s[1], (s[2][0], s[2][1] + 10)), "test labels must be 0..9"),
        (lambda s: ((np.full_like(s[0][0], np.nan), s[0][1]), s[1], s[2]), "finite"),
        (lambda s: (s[0], (s[1][0], s[1][1][:5]), s[2]), "validation labels"),
    ],
    ids=["two-splits", "wrong-width", "labels", "nan", "label-count"],
)
def test_pickle_structure_is_validated(tmp_path, splits, problem):
    path = tmp_path / "odd.pkl"
    path.write_bytes(pickle.dumps(splits(pickle.loads(book_pickle())), protocol=2))
    with pytest.raises(ValueError, match=problem):
        load_mnist_pickle(path)


def test_pickle_garbage(tmp_path):
    path = tmp_path / "mnist.pkl.gz"
    path.write_bytes(gzip.compress(b"not a pickle at all"))
    with pytest.raises(ValueError, match=r"mnist.pkl.gz is not a readable MNIST pickle"):
        load_mnist_pickle(path)


# ---------------------------------------------------------------- to_tuples


def test_to_tuples_matches_the_book():
    X = np.arange(3 * 784, dtype=np.float64).reshape(3, 784) / 3000
    y = np.array([2, 0, 9])
    training = to_tuples(X, y, one_hot=True)
    assert len(training) == 3
    x, target = training[2]
    assert x.shape == (784, 1) and target.shape == (10, 1)
    np.testing.assert_array_equal(x[:, 0], X[2])
    assert target[9, 0] == 1 and target.sum() == 1
    assert training[0][1] is not training[1][1]
    testing = to_tuples(X, y, one_hot=False)
    assert [label for _, label in testing] == [2, 0, 9] and isinstance(testing[0][1], int)


def test_to_tuples_rejects_bad_input():
    X = np.zeros((2, 784))
    with pytest.raises(ValueError, match=r"labels"):
        to_tuples(X, np.array([0, 10]), one_hot=True)
    with pytest.raises(TypeError, match=r"y must"):
        to_tuples(X, np.array([0]), one_hot=True)
    with pytest.raises(TypeError, match=r"X must"):
        to_tuples(np.zeros(784), np.array([0]), one_hot=False)


# ---------------------------------------------------------------- downloads


def test_fetch_downloads_verifies_and_caches(tmp_path, serve, mirror):
    directory = fetch("mnist", data_dir=tmp_path / "cache", mirrors=[serve(mirror)], progress=False)
    assert directory == tmp_path / "cache" / "mnist"
    assert cache_files(directory) == sorted(p.name for p in mirror.iterdir())
    for path in mirror.iterdir():
        assert (directory / path.name).read_bytes() == path.read_bytes()


def test_fetch_shows_progress(tmp_path, serve, mirror, capsys):
    fetch("mnist", data_dir=tmp_path / "cache", mirrors=[serve(mirror)], progress=True)
    assert "t10k-images-idx3-ubyte.gz" in capsys.readouterr().err


def test_fetch_respects_xdg_cache_home(tmp_path, serve, mirror):
    directory = fetch("mnist", mirrors=[serve(mirror)], progress=False)
    assert directory == tmp_path / "xdg-cache" / "anynet" / "mnist"


def test_fetch_keeps_files_already_cached(tmp_path, mirror, closed_port_url):
    cache = tmp_path / "cache" / "mnist"
    make_idx_dir(cache)
    assert fetch("mnist", data_dir=tmp_path / "cache", mirrors=[closed_port_url], progress=False) == cache


def test_corrupt_file_is_rejected_and_next_mirror_used(tmp_path, serve, mirror, corrupt_mirror):
    cache = tmp_path / "cache"
    fetch("mnist", data_dir=cache, mirrors=[serve(corrupt_mirror), serve(mirror)], progress=False)
    assert cache_files(cache) == sorted(p.name for p in mirror.iterdir())  # no .part files either
    for path in mirror.iterdir():
        assert (cache / "mnist" / path.name).read_bytes() == path.read_bytes()


def test_corrupt_file_only_leaves_nothing(tmp_path, serve, corrupt_mirror):
    cache = tmp_path / "cache"
    with pytest.raises(DataNotFoundError, match=r"SHA-256 mismatch"):
        fetch("mnist", data_dir=cache, mirrors=[serve(corrupt_mirror)], progress=False)
    assert cache_files(cache) == []


def test_oversized_file_is_rejected(tmp_path, serve, mirror):
    big = tmp_path / "big"
    big.mkdir()
    for path in mirror.iterdir():
        (big / path.name).write_bytes(path.read_bytes() + b"extra")
    with pytest.raises(DataNotFoundError, match=r"more than the expected"):
        fetch("mnist", data_dir=tmp_path / "cache", mirrors=[serve(big)], progress=False)
    assert cache_files(tmp_path / "cache") == []


def test_short_file_is_rejected(tmp_path, serve, mirror):
    short = tmp_path / "short"
    short.mkdir()
    for path in mirror.iterdir():
        (short / path.name).write_bytes(path.read_bytes()[:-3])
    with pytest.raises(DataNotFoundError, match=r"bytes, expected"):
        fetch("mnist", data_dir=tmp_path / "cache", mirrors=[serve(short)], progress=False)
    assert cache_files(tmp_path / "cache") == []


class HangsUpHandler(QuietHandler):
    """Promises more bytes than it sends, then closes the connection."""

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "1000")
        self.end_headers()
        self.wfile.write(b"only a few bytes")
        self.close_connection = True


class GarbageHandler(QuietHandler):
    """Answers with something that is not HTTP."""

    def do_GET(self):
        self.wfile.write(b"SSH-2.0-not-a-web-server\r\n\r\n")
        self.close_connection = True


def test_broken_servers_then_a_good_one(tmp_path, serve, mirror):
    cache = tmp_path / "cache"
    broken = [serve(tmp_path, HangsUpHandler), serve(tmp_path, GarbageHandler)]
    fetch("mnist", data_dir=cache, mirrors=[*broken, serve(mirror)], progress=False)
    assert cache_files(cache) == sorted(p.name for p in mirror.iterdir())
    with pytest.raises(DataNotFoundError, match=r"(?s)got 16 bytes, expected .*broken HTTP response"):
        fetch("mnist", data_dir=tmp_path / "other", mirrors=broken, progress=False)
    assert cache_files(tmp_path / "other") == []


def test_first_mirror_down_next_works(tmp_path, serve, mirror, closed_port_url):
    directory = fetch("mnist", data_dir=tmp_path / "cache", mirrors=[closed_port_url, serve(mirror)], progress=False)
    assert len(cache_files(directory)) == 4


def test_missing_file_404_next_works(tmp_path, serve, mirror):
    empty = tmp_path / "empty"
    empty.mkdir()
    directory = fetch("mnist", data_dir=tmp_path / "cache", mirrors=[serve(empty), serve(mirror)], progress=False)
    assert len(cache_files(directory)) == 4


def test_all_mirrors_down(tmp_path, serve, mirror, closed_port_url):
    empty = tmp_path / "empty"
    empty.mkdir()
    urls = [closed_port_url, serve(empty)]
    with pytest.raises(DataNotFoundError) as caught:
        fetch("mnist", data_dir=tmp_path / "cache", mirrors=urls, progress=False)
    message = str(caught.value)
    for expected in [
        *urls,
        "404",
        "refused",
        "pass a path",
        "ANYNET_DATA",
        str(tmp_path / "cache" / "mnist"),
        "apt install dataset-fashion-mnist",
        "be online",
        "ANYNET_MIRRORS",
        "--data sample",
    ]:
        assert expected in message
    assert cache_files(tmp_path / "cache") == []


def test_mirrors_from_environment(tmp_path, serve, mirror, closed_port_url, monkeypatch):
    monkeypatch.setenv("ANYNET_MIRRORS", f"{closed_port_url}, {serve(mirror)}")
    assert len(cache_files(fetch("mnist", data_dir=tmp_path / "c", progress=False))) == 4


def test_load_dataset_downloads_into_cache(serve, mirror, monkeypatch, tmp_path):
    monkeypatch.setenv("ANYNET_MIRRORS", serve(mirror).rstrip("/"))  # base URLs may omit the slash
    dataset = load_dataset("mnist", progress=False)
    assert marker_of(dataset) == 42 and "downloaded, SHA-256 verified" in dataset.source
    again = load_dataset("mnist", download=False)
    assert again.source == f"{tmp_path / 'xdg-cache' / 'anynet' / 'mnist'} (cache)"


def test_mirrors_must_be_http(tmp_path):
    with pytest.raises(ValueError, match=r"not an http"):
        fetch("mnist", mirrors=[f"file://{tmp_path}/"], progress=False)
    with pytest.raises(ValueError, match=r"known datasets"):
        fetch("cifar10")


# ------------------------------------------------------------- source order


def test_source_order(tmp_path, monkeypatch):
    explicit = make_idx_dir(tmp_path / "explicit", marker=1)
    make_idx_dir(tmp_path / "env" / "mnist", marker=2)
    cache = make_idx_dir(tmp_path / "xdg-cache" / "anynet" / "mnist", marker=3)
    system = make_idx_dir(tmp_path / "system", marker=4)
    monkeypatch.setenv("ANYNET_DATA", str(tmp_path / "env"))
    monkeypatch.setattr(datasets, "SYSTEM_DIRS", {"mnist": (system, "test system dir")})

    assert marker_of(load_dataset(str(explicit), download=False)) == 1
    assert marker_of(load_dataset(explicit, download=False)) == 1  # a Path works too
    dataset = load_dataset("mnist", download=False)
    assert marker_of(dataset) == 2 and dataset.source.endswith("($ANYNET_DATA)")
    monkeypatch.delenv("ANYNET_DATA")
    dataset = load_dataset("mnist", download=False)
    assert marker_of(dataset) == 3 and dataset.source == f"{cache} (cache)"
    for path in cache.iterdir():
        path.unlink()
    dataset = load_dataset("mnist", download=False)
    assert marker_of(dataset) == 4 and dataset.source == f"{system} (test system dir)"
    assert dataset.name == "mnist"


def test_anynet_data_may_hold_the_files_directly(tmp_path, monkeypatch):
    make_idx_dir(tmp_path / "env", marker=5)
    monkeypatch.setenv("ANYNET_DATA", str(tmp_path / "env"))
    assert marker_of(load_dataset("kmnist", download=False)) == 5


def test_anynet_data_may_hold_the_book_pickle(tmp_path, monkeypatch):
    (tmp_path / "env").mkdir()
    (tmp_path / "env" / "mnist.pkl.gz").write_bytes(gzip.compress(book_pickle()))
    monkeypatch.setenv("ANYNET_DATA", str(tmp_path / "env"))
    dataset = load_dataset("mnist", download=False)
    assert "mnist.pkl.gz" in dataset.source and dataset.name == "mnist"
    with pytest.raises(DataNotFoundError):  # the pickle is MNIST, never another dataset
        load_dataset("fashion-mnist", download=False)


def test_data_dir_replaces_the_cache(tmp_path):
    make_idx_dir(tmp_path / "mine" / "fashion-mnist", marker=6)
    assert marker_of(load_dataset("fashion-mnist", data_dir=tmp_path / "mine", download=False)) == 6


def test_not_found_without_download(tmp_path):
    with pytest.raises(DataNotFoundError, match=r"(?s)kmnist not found.*Looked in.*download disabled.*--data sample"):
        load_dataset("kmnist", download=False)


def test_not_found_after_failed_download(closed_port_url, monkeypatch):
    monkeypatch.setenv("ANYNET_MIRRORS", closed_port_url)
    with pytest.raises(DataNotFoundError, match=r"(?s)Download failed:.*refused.*Ways to provide it"):
        load_dataset("mnist", progress=False)


def test_bad_paths_and_arguments(tmp_path):
    with pytest.raises(DataNotFoundError, match=r"neither a dataset name"):
        load_dataset(str(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataNotFoundError, match=r"holds neither the four IDX files"):
        load_dataset(str(tmp_path / "empty"))
    with pytest.raises(TypeError, match=r"floating"):
        load_dataset("sample", dtype="int32")


# ------------------------------------------------------------------ sample


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_sample_loads_offline(dtype):
    dataset = load_dataset("sample", dtype=dtype, download=False)
    assert dataset.name == "sample" and dataset.n_classes == 10 and dataset.validation is None
    assert dataset.source.startswith("bundled sample: 4,000 train / 1,000 test Fashion-MNIST")
    for (X, y), n in ((dataset.train, 4000), (dataset.test, 1000)):
        assert X.shape == (n, 784) and X.dtype == np.dtype(dtype)
        assert y.shape == (n,) and y.dtype == np.int64
        assert X.min() == 0 and X.max() == 1
        assert set(np.unique(y)) == set(range(10))


def test_sample_is_documented():
    text = (datasets.sample.SAMPLE_DIR / "SAMPLE.md").read_text()
    assert "MIT" in text and "Zalando" in text and "0 to 3999" in text
    assert sum(p.stat().st_size for p in datasets.sample.SAMPLE_FILES.values()) < 3_000_000


def test_fallback_to_sample_says_so():
    with pytest.warns(AnynetDataWarning, match=r"mnist not found .*bundled sample") as caught:
        dataset = load_dataset("mnist", download=False, fallback_to_sample=True)
    assert len(caught) == 1
    assert dataset.name == "sample"
    assert dataset.source == "mnist not found (download disabled); using the bundled sample: " + (
        "4,000 train / 1,000 test Fashion-MNIST images (MIT licence, Zalando Research)"
    )


def test_fallback_is_not_used_when_data_exists(tmp_path):
    make_idx_dir(tmp_path / "xdg-cache" / "anynet" / "mnist", marker=8)
    assert marker_of(load_dataset("mnist", download=False, fallback_to_sample=True)) == 8


# ---------------------------------------------------------------- the system's copy


def test_fashion_mnist_from_debians_package_layout(monkeypatch, tmp_path):
    """Debian's dataset-fashion-mnist installs the four gzipped IDX files under
    their upstream names in /usr/share/datasets/fashion-mnist; the loader
    finds them there.  Self-contained: the layout is rebuilt in tmp_path from
    the bundled sample (the first 4,000 training and 1,000 test images of
    those very files), so no file outside the repository is needed."""
    import shutil

    from anynet.datasets.sample import SAMPLE_FILES

    assert REAL_SYSTEM_DIRS["fashion-mnist"] == (FASHION_DIR, "Debian package dataset-fashion-mnist")
    system = tmp_path / "usr-share-datasets-fashion-mnist"
    system.mkdir()
    for path in SAMPLE_FILES.values():
        shutil.copyfile(path, system / path.name.removeprefix("sample-"))
    assert sorted(p.name for p in system.iterdir()) == [
        "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
        "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
    ]
    monkeypatch.setattr(datasets, "SYSTEM_DIRS", {"fashion-mnist": (system, "Debian package dataset-fashion-mnist")})
    dataset = load_dataset("fashion-mnist", download=False, dtype="float32", validation_split=0.25)
    assert dataset.source.startswith(f"{system} (Debian package dataset-fashion-mnist);")
    (X_train, y_train), (X_val, y_val), (X_test, y_test) = dataset.train, dataset.validation, dataset.test
    assert X_train.shape == (3000, 784) and X_val.shape == (1000, 784) and X_test.shape == (1000, 784)
    for X in (X_train, X_val, X_test):
        assert X.dtype == np.float32 and X.min() == 0 and X.max() == 1
    sample = load_dataset("sample", dtype="float32")
    np.testing.assert_array_equal(np.concatenate([X_train, X_val]), sample.train[0])
    np.testing.assert_array_equal(np.concatenate([y_train, y_val]), sample.train[1])
    np.testing.assert_array_equal(X_test, sample.test[0])
    np.testing.assert_array_equal(y_test, sample.test[1])
