"""MNIST and Fashion-MNIST: find them on disk, or download and verify them.

Where the data are looked for, in order (the first complete set wins):

1. ``path=`` given: that ``.npz`` file (Keras layout: ``x_train``, ``y_train``, ``x_test``,
   ``y_test``) or that directory (holding such an npz or the four IDX files, gzipped or not).
   Nothing else is tried and the network is never used.
2. The directory named by the environment variable ``FFNN_DATA_DIR``, then the cache directory
   (``cache_dir=``, else ``FFNN_DATA_DIR``, else ``~/.cache/ffnn``).  In each, the loader
   accepts ``<name>.npz`` or a subdirectory ``<name>/`` holding the npz or the IDX files, where
   ``<name>`` is ``mnist`` or ``fashion_mnist`` (``fashion-mnist`` also accepted); for MNIST
   the four IDX files may also lie in the directory itself.
3. ``download=True``: the four gzipped IDX files are fetched into ``<cache>/<name>/`` from the
   official mirrors, in turn.  Each is streamed into a temporary file in that directory, its
   SHA-256 compared to the pinned value, and only then renamed to its final name, so an
   interrupted or corrupted download never leaves a file that looks valid.

The SHA-256 values are those TensorFlow Datasets pins for the same files
(``tensorflow_datasets/url_checksums/mnist.txt`` and ``fashion_mnist.txt``).
Arrays are read with ``np.load(..., allow_pickle=False)``; nothing is ever unpickled.
"""

from __future__ import annotations

import os
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .idx import ChecksumError, read_idx, verify_sha256

_CHUNK = 1 << 16
_TIMEOUT = 30.0
# The opener is looked up at call time, so tests can replace it (and nothing else is patched).
_urlopen = urllib.request.urlopen


class DataUnavailableError(FileNotFoundError):
    """The data set is not on disk and could not be downloaded."""


class DownloadError(OSError):
    """A download failed on every mirror."""


@dataclass(frozen=True)
class _File:
    key: str  # x_train, y_train, x_test, y_test
    name: str  # official file name (gzipped)
    sha256: str
    size: int  # bytes, compressed


@dataclass(frozen=True)
class _Spec:
    name: str
    title: str
    aliases: tuple[str, ...]
    mirrors: tuple[str, ...]
    files: tuple[_File, ...]


MNIST = _Spec(
    name="mnist",
    title="MNIST",
    aliases=("mnist",),
    mirrors=(
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://yann.lecun.com/exdb/mnist/",
    ),
    files=(
        _File("x_train", "train-images-idx3-ubyte.gz",
              "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", 9912422),
        _File("y_train", "train-labels-idx1-ubyte.gz",
              "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", 28881),
        _File("x_test", "t10k-images-idx3-ubyte.gz",
              "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", 1648877),
        _File("y_test", "t10k-labels-idx1-ubyte.gz",
              "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", 4542),
    ),
)

FASHION_MNIST = _Spec(
    name="fashion_mnist",
    title="Fashion-MNIST",
    aliases=("fashion_mnist", "fashion-mnist"),
    mirrors=(
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
    ),
    files=(
        _File("x_train", "train-images-idx3-ubyte.gz",
              "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84", 26421880),
        _File("y_train", "train-labels-idx1-ubyte.gz",
              "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845", 29515),
        _File("x_test", "t10k-images-idx3-ubyte.gz",
              "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073", 4422102),
        _File("y_test", "t10k-labels-idx1-ubyte.gz",
              "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5", 5148),
    ),
)

FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                         "Shirt", "Sneaker", "Bag", "Ankle boot")

_N = {"train": 60000, "test": 10000}


# --------------------------------------------------------------------------- public API
def load_mnist(path: str | os.PathLike | None = None, *, cache_dir: str | os.PathLike | None = None,
               download: bool = True):
    """The MNIST handwritten digits, official split (60,000 training / 10,000 test images).

    See the module docstring for where the files are looked for and how they are downloaded.

    Returns ``(X_train, y_train, X_test, y_test)``: X float32 of shape (N, 784) with pixel
    values scaled from 0..255 to [0, 1] (row-major 28x28 images), y int64 of shape (N,) in
    {0, ..., 9}.
    """
    return _load(MNIST, path, cache_dir, download)


def load_fashion_mnist(path: str | os.PathLike | None = None, *,
                       cache_dir: str | os.PathLike | None = None, download: bool = True):
    """Zalando's Fashion-MNIST (same format as MNIST; class names in ``FASHION_MNIST_CLASSES``).

    Returns ``(X_train, y_train, X_test, y_test)``: X float32 (N, 784) in [0, 1], y int64 (N,).
    """
    return _load(FASHION_MNIST, path, cache_dir, download)


def default_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """``cache_dir`` if given, else $FFNN_DATA_DIR if set, else ~/.cache/ffnn."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get("FFNN_DATA_DIR")
    if env:
        return Path(env).expanduser()
    return Path("~/.cache/ffnn").expanduser()


# --------------------------------------------------------------------------- finding files
def _load(spec: _Spec, path, cache_dir, download: bool):
    if path is not None:
        path = Path(path).expanduser()
        if not path.exists():
            raise FileNotFoundError(f"{spec.title}: {path} does not exist")
        if path.is_file():
            arrays = _read_file(path, spec)
        else:
            arrays = _read_dir(path, spec, bare=True) or _find_in_root(path, spec)
        if arrays is None:
            raise DataUnavailableError(f"{spec.title}: {path} holds neither {spec.name}.npz nor "
                                       f"the four IDX files.\n" + _what_is_needed(spec))
        return _to_float(arrays, spec, str(path))

    cache = default_cache_dir(cache_dir)
    roots = []
    env = os.environ.get("FFNN_DATA_DIR")
    if env:
        roots.append(Path(env).expanduser())
    if cache not in roots:
        roots.append(cache)
    for root in roots:
        arrays = _find_in_root(root, spec)
        if arrays is not None:
            return _to_float(arrays, spec, str(root))

    target = cache / spec.name
    if not download:
        raise DataUnavailableError(
            f"{spec.title} was not found (searched {', '.join(map(str, roots))}) and "
            f"download=False.\n" + _what_is_needed(spec, target))
    _download_all(spec, target)
    arrays = _read_dir(target, spec, bare=True, verify=True)
    assert arrays is not None  # every file was just downloaded and verified
    return _to_float(arrays, spec, str(target))


def _find_in_root(root: Path, spec: _Spec) -> dict[str, np.ndarray] | None:
    if not root.is_dir():
        return None
    for alias in spec.aliases:
        npz = root / f"{alias}.npz"
        if npz.is_file():
            return _read_npz(npz, spec)
    for alias in spec.aliases:
        sub = root / alias
        if sub.is_dir():
            arrays = _read_dir(sub, spec, bare=True, verify=True)
            if arrays is not None:
                return arrays
    # The IDX file names are the same for MNIST and Fashion-MNIST, so only MNIST (the default
    # meaning of "the four IDX files") is read from the root itself.
    if spec is MNIST:
        return _read_dir(root, spec, bare=False)
    return None


def _read_file(path: Path, spec: _Spec) -> dict[str, np.ndarray] | None:
    if path.suffix == ".npz":
        return _read_npz(path, spec)
    raise ValueError(f"{spec.title}: {path} is not an .npz file; give an .npz in the Keras "
                     f"layout or a directory holding the four IDX files")


def _read_dir(directory: Path, spec: _Spec, bare: bool,
              verify: bool = False) -> dict[str, np.ndarray] | None:
    """Read ``<name>.npz`` (if bare, any alias) or the four IDX files from a directory.

    ``verify``: check SHA-256 of files that carry the official gzipped names (our cache).
    """
    if bare:
        for alias in spec.aliases:
            npz = directory / f"{alias}.npz"
            if npz.is_file():
                return _read_npz(npz, spec)
    found = {}
    for f in spec.files:
        gz = directory / f.name
        plain = directory / f.name[: -len(".gz")]
        if gz.is_file():
            found[f.key] = (gz, f.sha256 if verify else None)
        elif plain.is_file():
            found[f.key] = (plain, None)
    if not found:
        return None
    if len(found) < len(spec.files):
        missing = [f.name for f in spec.files if f.key not in found]
        raise DataUnavailableError(f"{spec.title}: {directory} holds only some of the IDX files; "
                                   f"missing {', '.join(missing)} (gzipped or not)")
    return {key: read_idx(p, sha256=h) for key, (p, h) in found.items()}


def _read_npz(path: Path, spec: _Spec) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        missing = [f.key for f in spec.files if f.key not in data.files]
        if missing:
            raise ValueError(f"{spec.title}: {path} lacks the arrays {missing}; the Keras layout "
                             f"has x_train, y_train, x_test, y_test (found {data.files})")
        return {f.key: data[f.key] for f in spec.files}


def _to_float(arrays: dict[str, np.ndarray], spec: _Spec, where: str):
    """Check shapes and ranges, then X -> float32 (N, 784) / 255 and y -> int64."""
    out = []
    for part in ("train", "test"):
        x, y = arrays[f"x_{part}"], arrays[f"y_{part}"]
        n = _N[part]
        if x.shape not in ((n, 28, 28), (n, 784)):
            raise ValueError(f"{spec.title} from {where}: x_{part} has shape {x.shape}, expected "
                             f"({n}, 28, 28) or ({n}, 784)")
        if y.shape != (n,):
            raise ValueError(f"{spec.title} from {where}: y_{part} has shape {y.shape}, "
                             f"expected ({n},)")
        if x.dtype != np.uint8:
            raise ValueError(f"{spec.title} from {where}: x_{part} has dtype {x.dtype}, expected "
                             f"uint8 pixel values 0..255")
        if y.dtype.kind not in "iu" or y.min() < 0 or y.max() > 9:
            raise ValueError(f"{spec.title} from {where}: y_{part} must hold integer labels "
                             f"0..9, got dtype {y.dtype}")
        out += [x.reshape(n, 784).astype(np.float32) / np.float32(255.0), y.astype(np.int64)]
    return tuple(out)


# --------------------------------------------------------------------------- downloading
def _what_is_needed(spec: _Spec, target: Path | None = None) -> str:
    names = ", ".join(f.name for f in spec.files)
    where = f"  - the directory {target}\n" if target is not None else ""
    return (
        f"{spec.title} needs either {spec.name}.npz (Keras layout: arrays x_train, y_train, "
        f"x_test, y_test) or the four IDX files {names} (gzipped or not).\n"
        f"Put them in one of:\n{where}"
        f"  - a directory named by the environment variable FFNN_DATA_DIR "
        f"(npz at its top level, IDX files in FFNN_DATA_DIR/{spec.name}/)\n"
        f"  - anywhere, and pass path=... to the loader.\n"
        f"The official files can be downloaded from {spec.mirrors[0]}"
    )


def _download_all(spec: _Spec, target: Path) -> None:
    created = not target.exists()
    target.mkdir(parents=True, exist_ok=True)
    try:
        for f in spec.files:
            final = target / f.name
            if final.is_file():
                try:
                    verify_sha256(final, f.sha256)
                    continue
                except ChecksumError:
                    final.unlink()
            _download_one(spec, f, final)
    except DownloadError as exc:
        if created and not any(target.iterdir()):
            target.rmdir()
        raise DataUnavailableError(
            f"{spec.title} is not on disk and could not be downloaded (no internet access?).\n"
            f"{exc}\n" + _what_is_needed(spec, target)) from exc


def _download_one(spec: _Spec, f: _File, final: Path) -> None:
    errors = []
    for mirror in spec.mirrors:
        url = mirror + f.name
        try:
            _fetch(url, final, f)
            return
        except Exception as exc:  # any failure (HTTP, timeout, short read, hash): next mirror
            errors.append(f"{url}: {exc}")
    raise DownloadError(f"could not download {f.name} from any mirror:\n  "
                        + "\n  ".join(errors))


def _fetch(url: str, final: Path, f: _File) -> None:
    """Stream ``url`` into a temporary file next to ``final``; verify; rename into place."""
    import hashlib

    fd, tmp_name = tempfile.mkstemp(prefix=f".{f.name}.", suffix=".part", dir=final.parent)
    tmp = Path(tmp_name)
    try:
        h = hashlib.sha256()
        received = 0
        with os.fdopen(fd, "wb") as out, _urlopen(url, timeout=_TIMEOUT) as response, \
                _progress(f.name, f.size) as bar:
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                h.update(chunk)
                received += len(chunk)
                bar.update(len(chunk))
        if received != f.size:
            raise DownloadError(f"received {received} bytes, expected {f.size} "
                                f"(interrupted download)")
        if h.hexdigest() != f.sha256:
            raise ChecksumError(f"checksum mismatch: SHA-256 {h.hexdigest()}, expected "
                                f"{f.sha256}")
        os.replace(tmp, final)
    finally:
        # Reached with the temporary file still present only on failure (including Ctrl-C).
        if tmp.exists():
            tmp.unlink()


class _NoBar:
    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    def update(self, n: int) -> None:
        return None


def _progress(name: str, total: int):
    """A tqdm progress bar in bytes, or a silent stand-in when tqdm is not installed."""
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - depends on the environment
        return _NoBar()
    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                desc=f"downloading {name}", leave=False)


__all__ = ["FASHION_MNIST_CLASSES", "DataUnavailableError", "DownloadError", "default_cache_dir",
           "load_fashion_mnist", "load_mnist"]
