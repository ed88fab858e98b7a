"""Reading ``.npz`` archives without trusting them: headers first, data only into arrays we own.

``np.load`` trusts a file's own description of itself: an ``.npy`` header that claims a
shape of (100000, 100000) makes it allocate 37 GB, and a compressed member is inflated to
whatever size it decompresses to.  ``NpzReader`` reads the same files in small steps, so a
caller can check each step before the next one costs anything:

1. the zip's end record: the central directory it points to is at most
   ``max_directory_bytes`` (zipfile reads the whole directory into memory and builds one
   object per entry);
2. the directory: names unique and ending in ``.npy``; no encryption; stored or deflated
   only; a stored member's size equals its compressed size, a deflated member's size is at
   most 1032 times its compressed size (the most DEFLATE can achieve), and no member is
   larger than ``max_member_bytes``;
3. ``header(name)``: the member's ``.npy`` header (format 1.0 or 2.0, at most 10,000 bytes,
   parsed by ``numpy.lib.format`` without reading any data) and the data size it implies;
4. ``read_into(name, out)``: the data, in 1 MiB pieces, straight into an array the caller
   allocated after its own checks; zipfile stops at the size the directory states and
   checks the CRC-32 at the end, so a member cannot inflate past what was checked.

Every problem is an ``NpzError`` whose message names the member; nothing is unpickled.
"""

from __future__ import annotations

import io
import struct
import warnings
import zipfile
import zlib
from dataclasses import dataclass

import numpy as np
from numpy.lib import format as npy_format

#: numpy's own limit for an ``.npy`` header (``np.load``'s ``max_header_size``)
MAX_HEADER_BYTES = 10_000
#: DEFLATE's best case is 1032:1 (258-byte matches in ~2 bits); a larger ratio is a lie
DEFLATE_MAX_RATIO = 1032
_CHUNK = 1 << 20

_EOCD = struct.Struct("<4s4H2LH")  # end of central directory record
_EOCD64_LOCATOR = struct.Struct("<4sLQL")
_EOCD64 = struct.Struct("<4sQ2H2L4Q")
# flag bits zipfile refuses or cannot read: encrypted, compressed patch, strong encryption
_UNREADABLE_FLAGS = 0x1 | 0x20 | 0x40
# what zipfile, zlib and struct raise on a damaged archive (a bad offset can surface as
# ValueError or OSError from a seek, a bad name as UnicodeDecodeError, ...)
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError,
               NotImplementedError, RuntimeError, struct.error, zlib.error, OverflowError)


class NpzError(ValueError):
    """A damaged or hostile ``.npz`` archive (the message names the member, not the file)."""


@dataclass(frozen=True)
class NpyHeader:
    """What an ``.npy`` member says about itself, and what the zip directory says about it."""

    shape: tuple
    fortran_order: bool
    dtype: np.dtype
    header_bytes: int  # magic + length field + header text
    data_bytes: int  # member size in the zip directory minus header_bytes

    @property
    def claimed_bytes(self) -> int:
        """prod(shape) * itemsize, in Python integers (no overflow)."""
        n = self.dtype.itemsize
        for d in self.shape:
            n *= d
        return n


def _directory_bytes(fh, size: int) -> int:
    """The central directory size stated by the end record, found as zipfile finds it."""
    if size < _EOCD.size:
        raise NpzError("truncated or corrupt (too short to be a zip archive)")
    start = max(size - _EOCD.size - 0xFFFF, 0)
    fh.seek(start)
    tail = fh.read()
    if tail[-_EOCD.size:-_EOCD.size + 4] == b"PK\x05\x06" and tail[-2:] == b"\0\0":
        pos = len(tail) - _EOCD.size
    else:
        pos = tail.rfind(b"PK\x05\x06")
        if pos < 0 or pos + _EOCD.size > len(tail):
            raise NpzError("truncated or corrupt (no zip end record)")
    cd_size = _EOCD.unpack_from(tail, pos)[5]
    loc = start + pos - _EOCD64_LOCATOR.size  # zip64: locator and record just before
    if loc - _EOCD64.size >= 0:
        fh.seek(loc - _EOCD64.size)
        data = fh.read(_EOCD64.size + _EOCD64_LOCATOR.size)
        if data[_EOCD64.size:_EOCD64.size + 4] == b"PK\x06\x07" and data[:4] == b"PK\x06\x06":
            cd_size = _EOCD64.unpack_from(data, 0)[8]
    return cd_size


class NpzReader:
    """An ``.npz`` archive opened for checked reading (see the module docstring).

    ``members`` maps each array name (the member name without ``.npy``) to its ZipInfo.
    Use as a context manager; ``fh`` is a binary file object positioned anywhere.
    """

    def __init__(self, fh, *, max_member_bytes: int, max_directory_bytes: int = 4 << 20):
        fh.seek(0, 2)
        size = fh.tell()
        try:
            cd = _directory_bytes(fh, size)
        except NpzError:
            raise
        except _ZIP_ERRORS as exc:
            raise NpzError(f"truncated or corrupt ({type(exc).__name__}: {exc})") from None
        if cd > max_directory_bytes:
            raise NpzError(f"its zip directory claims {cd:,} bytes, more than the "
                           f"{max_directory_bytes:,} an ffnn file can need")
        try:
            self._zf = zipfile.ZipFile(fh)
        except _ZIP_ERRORS as exc:
            raise NpzError(f"truncated or corrupt ({type(exc).__name__}: {exc})") from None
        self.members: dict[str, zipfile.ZipInfo] = {}
        try:
            for info in self._zf.infolist():
                self._check_entry(info, max_member_bytes)
        except NpzError:
            self.close()
            raise

    def _check_entry(self, info: zipfile.ZipInfo, max_member_bytes: int) -> None:
        name = info.filename
        if not name.endswith(".npy"):
            raise NpzError(f"member {name!r} is not an .npy array")
        key = name[:-4]
        if key in self.members:
            raise NpzError(f"member {name!r} appears twice")
        if info.flag_bits & _UNREADABLE_FLAGS:
            raise NpzError(f"member {name!r} is encrypted or patched (zip flags "
                           f"{info.flag_bits:#x})")
        if info.compress_type == zipfile.ZIP_STORED:
            if info.file_size != info.compress_size:
                raise NpzError(f"member {name!r} is stored uncompressed but the zip "
                               f"directory gives two sizes ({info.file_size:,} and "
                               f"{info.compress_size:,} bytes)")
        elif info.compress_type == zipfile.ZIP_DEFLATED:
            if info.file_size > DEFLATE_MAX_RATIO * info.compress_size + 64:
                raise NpzError(f"member {name!r} claims to inflate from "
                               f"{info.compress_size:,} to {info.file_size:,} bytes, more "
                               f"than DEFLATE's {DEFLATE_MAX_RATIO}:1")
        else:
            raise NpzError(f"member {name!r} uses zip compression method "
                           f"{info.compress_type}; only stored and deflated are read")
        if info.file_size > max_member_bytes:
            raise NpzError(f"member {name!r} is {info.file_size:,} bytes, more than the "
                           f"{max_member_bytes:,} allowed")
        self.members[key] = info

    # ------------------------------------------------------------------ context manager
    def close(self) -> None:
        self._zf.close()

    def __enter__(self) -> NpzReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ reading
    def _open(self, key: str):
        try:
            return self._zf.open(self.members[key])
        except _ZIP_ERRORS as exc:
            raise NpzError(f"array {key!r} is unreadable ({type(exc).__name__}: {exc})") \
                from None

    @staticmethod
    def _read_exact(fh, n: int, key: str, what: str) -> bytes:
        data = fh.read(n)
        if len(data) != n:
            raise NpzError(f"array {key!r} is truncated (its {what} ends early)")
        return data

    def _header(self, fh, key: str) -> NpyHeader:
        magic = self._read_exact(fh, 8, key, "header")
        try:
            version = npy_format.read_magic(io.BytesIO(magic))
        except ValueError:
            raise NpzError(f"array {key!r} is not an .npy array (bad magic "
                           f"{magic[:6]!r})") from None
        if version not in ((1, 0), (2, 0)):
            raise NpzError(f"array {key!r} uses .npy format {version}; ffnn reads 1.0 and 2.0")
        length_field = self._read_exact(fh, 2 if version == (1, 0) else 4, key, "header")
        length = int.from_bytes(length_field, "little")
        if length > MAX_HEADER_BYTES:
            raise NpzError(f"array {key!r} has a {length:,}-byte .npy header (at most "
                           f"{MAX_HEADER_BYTES:,})")
        text = self._read_exact(fh, length, key, "header")
        parse = (npy_format.read_array_header_1_0 if version == (1, 0)
                 else npy_format.read_array_header_2_0)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the Python-2 header fallback warns
                # (the length was bounded above; numpy < 1.24 has no max_header_size)
                shape, fortran, dtype = parse(io.BytesIO(length_field + text))
        except Exception as exc:  # noqa: BLE001 - any failure to parse untrusted text
            raise NpzError(f"array {key!r} has a malformed .npy header "
                           f"({type(exc).__name__}: {str(exc)[:200]})") from None
        used = len(magic) + len(length_field) + length
        return NpyHeader(tuple(shape), bool(fortran), dtype, used,
                         self.members[key].file_size - used)

    def header(self, key: str) -> NpyHeader:
        """Parse member ``key``'s ``.npy`` header (reads at most ~10 KB, no data)."""
        with self._open(key) as fh:
            try:
                return self._header(fh, key)
            except _ZIP_ERRORS as exc:
                if isinstance(exc, NpzError):
                    raise
                raise NpzError(f"array {key!r} is corrupt ({type(exc).__name__}: "
                               f"{exc})") from None

    def read_into(self, key: str, out: np.ndarray, expected: NpyHeader) -> None:
        """Read member ``key``'s data into ``out`` (C-contiguous, exactly its nbytes).

        ``expected`` is the header returned by ``header(key)``, already checked by the
        caller; the member is read again only up to the size the directory states, and
        its CRC-32 is checked at the end.
        """
        if not out.flags.c_contiguous or out.nbytes != expected.data_bytes:
            raise ValueError("read_into needs a C-contiguous array of the member's data size")
        view = memoryview(out.reshape(-1).view(np.uint8))
        with self._open(key) as fh:
            try:
                if self._header(fh, key) != expected:
                    raise NpzError(f"array {key!r} changed while it was read")
                pos = 0
                while pos < out.nbytes:
                    chunk = fh.read(min(_CHUNK, out.nbytes - pos))
                    if not chunk:
                        raise NpzError(f"array {key!r} is truncated (its data ends early)")
                    view[pos:pos + len(chunk)] = chunk
                    pos += len(chunk)
                if fh.read(1):  # also makes zipfile check the CRC-32 of an empty array
                    raise NpzError(f"array {key!r} holds more data than its size")
            except NpzError:
                raise
            except _ZIP_ERRORS as exc:
                raise NpzError(f"array {key!r} is corrupt ({type(exc).__name__}: "
                               f"{exc})") from None
