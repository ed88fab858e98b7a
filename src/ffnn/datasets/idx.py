"""The IDX file format of MNIST and Fashion-MNIST, read (and written, for tests) by hand.

Layout (all integers big-endian)::

    bytes 0-1   0x00 0x00
    byte  2     element type: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
                0x0D float32, 0x0E float64
    byte  3     number of dimensions d
    4 * d       the size of each dimension, uint32
    ...         the elements, row-major, prod(sizes) * itemsize bytes

So an MNIST image file starts 0x00000803 (uint8, 3-D: N x 28 x 28) and a label file
0x00000801 (uint8, 1-D: N).  Files may be gzip-compressed; the gzip magic 0x1f 0x8b is
detected from the content, not the file name.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import zlib

import numpy as np

_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dt.newbyteorder(">") if dt.itemsize > 1 else dt: code for code, dt in _DTYPES.items()}
_GZIP_MAGIC = b"\x1f\x8b"


class IDXFormatError(ValueError):
    """The bytes are not a well-formed IDX file (wrong magic number, truncated, ...)."""


class ChecksumError(ValueError):
    """A file's SHA-256 differs from the pinned value: it is corrupt, partial or different."""


def sha256_file(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(chunk_size):
            h.update(chunk)
    return h.hexdigest()


def verify_sha256(path: str | os.PathLike, expected: str) -> None:
    """Raise ChecksumError unless the file's SHA-256 equals ``expected`` (hex)."""
    actual = sha256_file(path)
    if actual != expected.lower():
        raise ChecksumError(
            f"checksum mismatch for {os.fspath(path)}: SHA-256 is {actual}, expected "
            f"{expected.lower()}. The file is corrupt, incomplete or not the official one; "
            f"delete it and download it again."
        )


def parse_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode the bytes of an (uncompressed) IDX file into an array of its shape and dtype.

    Multi-byte types are converted to native byte order.  Raises IDXFormatError naming what
    is wrong (magic number, header or data length).
    """
    if len(data) < 4:
        raise IDXFormatError(f"{name}: truncated IDX file, only {len(data)} bytes (the magic "
                             f"number alone needs 4)")
    zero, code, ndim = struct.unpack(">HBB", data[:4])
    magic = int.from_bytes(data[:4], "big")
    if zero != 0 or code not in _DTYPES:
        hint = " (it looks gzip-compressed)" if data[:2] == _GZIP_MAGIC else ""
        raise IDXFormatError(
            f"{name}: wrong magic number 0x{magic:08x}{hint}; an IDX file starts with two zero "
            f"bytes, a type code in {{{', '.join(f'0x{c:02x}' for c in _DTYPES)}}} and the "
            f"number of dimensions (MNIST images: 0x00000803, labels: 0x00000801)"
        )
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise IDXFormatError(f"{name}: truncated IDX file, the header announces {ndim} "
                             f"dimensions ({header_len} bytes) but the file has {len(data)}")
    shape = struct.unpack(f">{ndim}I", data[4:header_len])
    dtype = _DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    got = len(data) - header_len
    if got < expected:
        raise IDXFormatError(f"{name}: truncated IDX file, shape {shape} of {dtype.name} needs "
                             f"{expected} data bytes but only {got} are present")
    if got > expected:
        raise IDXFormatError(f"{name}: {got - expected} unexpected bytes after the data of shape "
                             f"{shape}; this is not a single IDX array")
    arr = np.frombuffer(data, dtype=dtype, count=expected // dtype.itemsize, offset=header_len)
    return arr.reshape(shape).astype(dtype.newbyteorder("="), copy=True)


def read_idx(path: str | os.PathLike, sha256: str | None = None) -> np.ndarray:
    """Read an IDX file, gzip-compressed or plain, into a NumPy array.

    If ``sha256`` is given, the file's bytes (as stored, i.e. compressed if gzipped) are first
    checked against it (ChecksumError on mismatch).  Raises IDXFormatError for a wrong magic
    number or a truncated/corrupt file.
    """
    path = os.fspath(path)
    if sha256 is not None:
        verify_sha256(path, sha256)
    with open(path, "rb") as fh:
        raw = fh.read()
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except EOFError as exc:
            raise IDXFormatError(f"{path}: truncated gzip stream ({exc}); the download was "
                                 f"probably interrupted, delete the file and fetch it "
                                 f"again") from exc
        except (gzip.BadGzipFile, zlib.error) as exc:
            raise IDXFormatError(f"{path}: corrupt gzip data ({exc})") from exc
    return parse_idx(raw, name=path)


def write_idx(path: str | os.PathLike, array: np.ndarray, compress: bool | None = None) -> None:
    """Write ``array`` as an IDX file (gzip-compressed if ``compress`` or the name ends .gz).

    Supported dtypes: uint8, int8, int16, int32, float32, float64.
    """
    path = os.fspath(path)
    array = np.asarray(array)
    key = array.dtype.newbyteorder(">") if array.dtype.itemsize > 1 else array.dtype
    if key not in _CODES:
        raise TypeError(f"IDX cannot store dtype {array.dtype}; use one of uint8, int8, int16, "
                        f"int32, float32, float64")
    if array.ndim > 255:
        raise ValueError(f"IDX stores at most 255 dimensions, got {array.ndim}")
    header = struct.pack(">HBB", 0, _CODES[key], array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + np.ascontiguousarray(array, dtype=key).tobytes()
    if compress is None:
        compress = path.endswith(".gz")
    if compress:
        payload = gzip.compress(payload)
    with open(path, "wb") as fh:
        fh.write(payload)


__all__ = ["ChecksumError", "IDXFormatError", "parse_idx", "read_idx", "sha256_file",
           "verify_sha256", "write_idx"]
