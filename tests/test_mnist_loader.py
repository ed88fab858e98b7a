"""The IDX parser, the MNIST loader's search order, and the verified, atomic download.

No test touches the network: the URL opener is replaced by fakes.  The real MNIST is read from
the shared data directory when it exists (FFNN_DATA_DIR points there), else those tests skip.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import os
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from ffnn import datasets
from ffnn.datasets import mnist as mnist_mod
from ffnn.datasets.idx import ChecksumError, IDXFormatError, parse_idx, read_idx, write_idx

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
REAL_NPZ = SHARED / "mnist.npz"
needs_real_mnist = pytest.mark.skipif(
    not REAL_NPZ.is_file(), reason=f"real MNIST not available at {REAL_NPZ}")
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a URL fails the way an offline machine fails, and is recorded."""
    calls = []

    def offline(url, timeout=None):
        calls.append(url)
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(mnist_mod, "_urlopen", offline)
    return calls


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    monkeypatch.delenv("FFNN_DATA_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # ~/.cache/ffnn is empty
    return tmp_path


# ----------------------------------------------------------------------------- IDX format
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32,
                                   np.float64])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_round_trip_plain_and_gzipped(tmp_path, dtype, suffix):
    rng = np.random.default_rng(0)
    a = (rng.normal(0, 50, (4, 3, 5))).astype(dtype)
    path = tmp_path / f"a.idx{suffix}"
    write_idx(path, a)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == (suffix == ".gz")
    b = read_idx(path)
    assert b.dtype == np.dtype(dtype) and b.dtype.isnative
    np.testing.assert_array_equal(a, b)


def test_idx_header_is_the_documented_layout(tmp_path):
    labels = np.array([5, 0, 4], dtype=np.uint8)
    write_idx(tmp_path / "l.idx", labels)
    raw = (tmp_path / "l.idx").read_bytes()
    assert raw == bytes([0, 0, 0x08, 1, 0, 0, 0, 3, 5, 0, 4])  # magic 0x00000801, N = 3
    images = np.arange(2 * 2 * 3, dtype=np.uint8).reshape(2, 2, 3)
    raw = b"\x00\x00\x08\x03" + b"\x00\x00\x00\x02\x00\x00\x00\x02\x00\x00\x00\x03" + \
        images.tobytes()
    np.testing.assert_array_equal(parse_idx(raw), images)


def test_wrong_magic_number_is_reported(tmp_path):
    path = tmp_path / "bad.idx"
    path.write_bytes(b"\x12\x34\x08\x01\x00\x00\x00\x01\x07")
    with pytest.raises(IDXFormatError, match="wrong magic number 0x12340801"):
        read_idx(path)
    with pytest.raises(IDXFormatError, match="wrong magic number 0x00001301"):
        parse_idx(b"\x00\x00\x13\x01\x00\x00\x00\x01\x07")


def test_truncated_files_are_reported(tmp_path):
    images = np.zeros((10, 28, 28), dtype=np.uint8)
    write_idx(tmp_path / "full.idx", images)
    raw = (tmp_path / "full.idx").read_bytes()
    (tmp_path / "cut.idx").write_bytes(raw[:-100])
    with pytest.raises(IDXFormatError, match=r"truncated.*needs 7840 data bytes.*7740"):
        read_idx(tmp_path / "cut.idx")
    (tmp_path / "header.idx").write_bytes(raw[:9])
    with pytest.raises(IDXFormatError, match="truncated.*header"):
        read_idx(tmp_path / "header.idx")
    gz = gzip.compress(raw)
    (tmp_path / "cut.idx.gz").write_bytes(gz[: len(gz) // 2])
    with pytest.raises(IDXFormatError, match="truncated gzip"):
        read_idx(tmp_path / "cut.idx.gz")
    (tmp_path / "long.idx").write_bytes(raw + b"\x00")
    with pytest.raises(IDXFormatError, match="1 unexpected bytes"):
        read_idx(tmp_path / "long.idx")


def test_checksum_mismatch_is_reported(tmp_path):
    path = tmp_path / "l.idx.gz"
    write_idx(path, np.array([1, 2, 3], dtype=np.uint8))
    good = hashlib.sha256(path.read_bytes()).hexdigest()
    np.testing.assert_array_equal(read_idx(path, sha256=good), [1, 2, 3])
    with pytest.raises(ChecksumError, match="checksum mismatch.*expected 0000"):
        read_idx(path, sha256="0" * 64)


# ----------------------------------------------------------------------------- real MNIST
def _check_mnist(X_train, y_train, X_test, y_test):
    assert X_train.shape == (60000, 784) and X_test.shape == (10000, 784)
    assert X_train.dtype == X_test.dtype == np.float32
    assert y_train.dtype == y_test.dtype == np.int64
    assert X_train.min() == 0.0 and X_train.max() == 1.0
    assert 0.0 <= X_test.min() and X_test.max() <= 1.0
    assert np.bincount(y_train).tolist() == TRAIN_COUNTS
    assert np.bincount(y_test, minlength=10).sum() == 10000


@needs_real_mnist
def test_load_mnist_from_ffnn_data_dir_without_network(monkeypatch, no_network):
    monkeypatch.setenv("FFNN_DATA_DIR", str(SHARED))
    _check_mnist(*datasets.load_mnist())
    assert no_network == []


@needs_real_mnist
def test_load_mnist_from_explicit_npz_and_idx_directory(tmp_path, clean_env, no_network):
    arrays = datasets.load_mnist(REAL_NPZ)
    _check_mnist(*arrays)
    with np.load(REAL_NPZ, allow_pickle=False) as d:
        # images plain, labels gzipped: both forms are read
        write_idx(tmp_path / "train-images-idx3-ubyte", d["x_train"])
        write_idx(tmp_path / "train-labels-idx1-ubyte.gz", d["y_train"])
        write_idx(tmp_path / "t10k-images-idx3-ubyte", d["x_test"])
        write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", d["y_test"])
    from_idx = datasets.load_mnist(path=tmp_path)
    for a, b in zip(arrays, from_idx, strict=True):
        np.testing.assert_array_equal(a, b)
    assert no_network == []


def test_npz_is_never_unpickled_and_keys_are_checked(tmp_path, clean_env, no_network):
    np.savez(tmp_path / "mnist.npz", x_train=np.array([{"evil": 1}], dtype=object),
             y_train=np.zeros(1), x_test=np.zeros(1), y_test=np.zeros(1))
    with pytest.raises(ValueError, match="allow_pickle"):
        datasets.load_mnist(tmp_path / "mnist.npz")
    np.savez(tmp_path / "other.npz", images=np.zeros(3))
    with pytest.raises(ValueError, match="lacks the arrays.*x_train"):
        datasets.load_mnist(tmp_path / "other.npz")


def test_incomplete_idx_directory_names_the_missing_files(tmp_path, clean_env, no_network):
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(datasets.DataUnavailableError, match="missing train-labels-idx1-ubyte"):
        datasets.load_mnist(tmp_path)


def test_corrupt_file_in_the_cache_fails_its_checksum(clean_env, no_network):
    cache = clean_env / "cache"
    (cache / "mnist").mkdir(parents=True)
    for f in mnist_mod.MNIST.files:
        write_idx(cache / "mnist" / f.name, np.zeros(3, np.uint8))
    with pytest.raises(ChecksumError, match="delete it and download it again"):
        datasets.load_mnist(cache_dir=cache)


# ----------------------------------------------------------------------------- offline / download
def test_offline_without_data_says_which_files_and_where(clean_env, no_network):
    cache = clean_env / "empty-cache"
    cache.mkdir()
    with pytest.raises(datasets.DataUnavailableError) as err:
        datasets.load_mnist(cache_dir=cache)
    message = str(err.value)
    for f in mnist_mod.MNIST.files:
        assert f.name in message
    assert "mnist.npz" in message and "FFNN_DATA_DIR" in message
    assert str(cache / "mnist") in message
    assert "Temporary failure in name resolution" in message
    assert len(no_network) == len(mnist_mod.MNIST.mirrors), "every mirror must be tried"
    assert list(cache.iterdir()) == [], "a failed download must leave nothing behind"


def test_download_false_never_opens_a_url(clean_env, no_network):
    with pytest.raises(datasets.DataUnavailableError, match="download=False"):
        datasets.load_fashion_mnist(cache_dir=clean_env / "c", download=False)
    assert no_network == []


@needs_real_mnist
def test_fashion_mnist_does_not_mistake_mnist_files_for_its_own(monkeypatch, no_network):
    monkeypatch.setenv("FFNN_DATA_DIR", str(SHARED))
    with pytest.raises(datasets.DataUnavailableError, match="Fashion-MNIST"):
        datasets.load_fashion_mnist(download=False)


class FakeResponse(io.BytesIO):
    """A response that serves ``data`` and then, optionally, drops the connection."""

    def __init__(self, data: bytes, fail_after: int | None = None):
        super().__init__(data)
        self.fail_after = fail_after

    def read(self, n=-1):
        if self.fail_after is not None and self.tell() >= self.fail_after:
            raise ConnectionResetError("connection reset by peer")
        return super().read(n if self.fail_after is None else min(n, self.fail_after))


def _tiny_spec(tmp_path):
    """A two-file data set with known bytes, hashes and sizes, on three fake mirrors."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    payloads = {}
    files = []
    for key, name, arr in (("x_train", "a-idx1-ubyte.gz", np.arange(100, dtype=np.uint8)),
                           ("y_train", "b-idx1-ubyte.gz", np.arange(7, dtype=np.uint8))):
        write_idx(tmp_path / name, arr)
        data = (tmp_path / name).read_bytes()
        payloads[name] = data
        files.append(mnist_mod._File(key, name, hashlib.sha256(data).hexdigest(), len(data)))
    spec = dataclasses.replace(mnist_mod.MNIST, files=tuple(files),
                               mirrors=("https://m1/", "https://m2/", "https://m3/"))
    return spec, payloads


def test_interrupted_download_leaves_no_file(tmp_path, monkeypatch):
    spec, payloads = _tiny_spec(tmp_path / "src")
    cache = tmp_path / "cache"

    def drops_midway(url, timeout=None):
        data = payloads[url.rsplit("/", 1)[1]]
        return FakeResponse(data, fail_after=len(data) // 2)

    monkeypatch.setattr(mnist_mod, "_urlopen", drops_midway)
    with pytest.raises(datasets.DataUnavailableError, match="connection reset"):
        mnist_mod._download_all(spec, cache / "tiny")
    assert not cache.exists() or list(cache.rglob("*")) == [], list(cache.rglob("*"))


def test_short_and_corrupt_downloads_are_rejected_and_the_next_mirror_is_used(tmp_path,
                                                                            monkeypatch):
    spec, payloads = _tiny_spec(tmp_path / "src")
    target = tmp_path / "cache" / "tiny"
    seen = []

    def flaky(url, timeout=None):
        seen.append(url)
        data = payloads[url.rsplit("/", 1)[1]]
        if url.startswith("https://m1/"):
            return FakeResponse(data[:-3])  # ends early without an error
        if url.startswith("https://m2/"):
            return FakeResponse(bytes(len(data)))  # right size, wrong bytes
        return FakeResponse(data)

    monkeypatch.setattr(mnist_mod, "_urlopen", flaky)
    mnist_mod._download_all(spec, target)
    assert sorted(p.name for p in target.iterdir()) == sorted(payloads)  # no .part left
    for name, data in payloads.items():
        assert (target / name).read_bytes() == data
    assert [u.split("/")[2] for u in seen] == ["m1", "m2", "m3"] * 2
    np.testing.assert_array_equal(read_idx(target / "a-idx1-ubyte.gz"), np.arange(100))
    # a second call finds verified files and downloads nothing
    seen.clear()
    mnist_mod._download_all(spec, target)
    assert seen == []


def test_ctrl_c_during_download_removes_the_partial_file(tmp_path, monkeypatch):
    spec, payloads = _tiny_spec(tmp_path / "src")
    target = tmp_path / "cache" / "tiny"

    class Interrupted(FakeResponse):
        def read(self, n=-1):
            if self.tell() > 10:
                raise KeyboardInterrupt
            return super().read(min(n, 10))

    monkeypatch.setattr(mnist_mod, "_urlopen",
                        lambda url, timeout=None: Interrupted(payloads[url.rsplit("/", 1)[1]]))
    with pytest.raises(KeyboardInterrupt):
        mnist_mod._download_all(spec, target)
    assert [p for p in target.rglob("*") if p.is_file()] == []


def test_default_cache_dir_order(monkeypatch, tmp_path):
    monkeypatch.delenv("FFNN_DATA_DIR", raising=False)
    assert mnist_mod.default_cache_dir() == Path("~/.cache/ffnn").expanduser()
    monkeypatch.setenv("FFNN_DATA_DIR", str(tmp_path))
    assert mnist_mod.default_cache_dir() == tmp_path
    assert mnist_mod.default_cache_dir(tmp_path / "x") == tmp_path / "x"


def test_pinned_hashes_are_well_formed():
    for spec in (mnist_mod.MNIST, mnist_mod.FASHION_MNIST):
        assert len(spec.files) == 4 and len(spec.mirrors) >= 2
        for f in spec.files:
            assert len(f.sha256) == 64 and int(f.sha256, 16) >= 0 and f.size > 0
            assert os.path.basename(f.name) == f.name and f.name.endswith(".gz")
