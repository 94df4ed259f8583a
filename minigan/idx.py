"""IDX files, the format MNIST and Fashion-MNIST ship in: a header of magic number and
sizes, then the raw values. :func:`read_idx` reads gzip or raw files and checks every header.

A file is untrusted until checked, so the header is read first and the rest of the file is
read only up to the size the header declares (plus one byte, to notice a file too long): a
small gzip file cannot inflate into gigabytes behind a header that declares a few bytes. A
declared size is itself bounded: at most ``max_bytes`` (:data:`MAX_BYTES`), and, for a gzip
file, at most :data:`MAX_INFLATION` times the file's compressed size."""
from __future__ import annotations

import gzip
import hashlib
import math
from pathlib import Path

import numpy as np

GZIP_MAGIC = b"\x1f\x8b"
IMAGES_MAGIC = 0x00000803  # uint8, 3 dimensions (count, rows, cols)
LABELS_MAGIC = 0x00000801  # uint8, 1 dimension (count)
# IDX type byte -> element dtype (all multi-byte values are big-endian)
IDX_DTYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"),
              0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
MAX_BYTES = 1 << 30  # the largest IDX content read by default (MNIST's biggest file: 47 MB)
MAX_INFLATION = 1000  # a gzip file may declare at most this many times its own size (zlib's limit is ~1032)


class DataError(ValueError):
    """A data file that is malformed, truncated, or not the file it should be."""


def read_idx(path, expected_magic: int | None = None, max_bytes: int = MAX_BYTES) -> np.ndarray:
    """The array stored in the IDX file at ``path`` (gzip-compressed or raw).

    The header is checked: a known magic number (``expected_magic``, e.g. ``0x803`` for uint8
    images of shape (N, rows, cols), when given) and a data size that matches its dimensions
    and stays within ``max_bytes``. Any problem raises :class:`DataError` naming the file.
    """
    path = Path(path)
    return _parse_idx(_read_bytes(path, max_bytes), path, expected_magic)


def _read_bytes(path: Path, max_bytes: int = MAX_BYTES) -> bytes:
    """The file's content, gunzipped when it starts with the gzip magic: the header, then at
    most the data size the header declares plus one byte (see the module docstring)."""
    with open(path, "rb") as file:
        compressed = file.read(2) == GZIP_MAGIC
        file.seek(0)
        size = path.stat().st_size
        if not compressed:
            return _read_declared(file, path, max_bytes)
        try:
            with gzip.GzipFile(fileobj=file) as stream:
                return _read_declared(stream, path, min(max_bytes, MAX_INFLATION * size + 4096))
        except DataError:
            raise
        except EOFError as err:
            raise DataError(f"{path}: truncated gzip file ({size} bytes; {err})") from err
        except (OSError, ValueError) as err:  # gzip.BadGzipFile, zlib.error
            raise DataError(f"{path}: corrupt gzip file ({err})") from err


def _read_declared(stream, path: Path, max_bytes: int) -> bytes:
    """The header, then the data up to the size it declares + 1 byte (or what there is when the
    bytes do not start like an IDX header, for _parse_idx to explain)."""
    head = stream.read(4)
    if len(head) < 4 or head[:2] != b"\0\0" or head[2] not in IDX_DTYPES:
        return head + stream.read(64)  # enough for the error message; never the whole file
    dims_raw = stream.read(4 * head[3])
    if len(dims_raw) < 4 * head[3]:
        return head + dims_raw  # a truncated header
    dims = [int.from_bytes(dims_raw[i:i + 4], "big") for i in range(0, len(dims_raw), 4)]
    declared = math.prod(dims) * IDX_DTYPES[head[2]].itemsize  # Python ints: no overflow
    if declared > max_bytes:
        raise DataError(f"{path}: the IDX header declares {' x '.join(map(str, dims))} "
                        f"{IDX_DTYPES[head[2]].name} = {declared} bytes of data, more than the "
                        f"{max_bytes} this file may hold (corrupt, or not an IDX file)")
    return head + dims_raw + _read_at_most(stream, declared + 1)


def _read_at_most(stream, n: int) -> bytes:
    """Up to ``n`` bytes, read in 1 MiB pieces: memory grows with what the file really holds."""
    pieces = []
    while n > 0 and (piece := stream.read(min(n, 1 << 20))):
        pieces.append(piece)
        n -= len(piece)
    return b"".join(pieces)


def _parse_idx(raw: bytes, path: Path, expected_magic: int | None) -> np.ndarray:
    """Check an IDX header against ``expected_magic`` and the data length; return the array."""
    if len(raw) < 4:
        raise DataError(f"{path}: not an IDX file: only {len(raw)} bytes, shorter than the magic number")
    magic = int.from_bytes(raw[:4], "big")
    if expected_magic is not None and magic != expected_magic:
        raise DataError(f"{path}: IDX magic number is 0x{magic:08X}, expected 0x{expected_magic:08X} "
                        f"({_describe_magic(expected_magic)})")
    dtype, ndim = IDX_DTYPES.get(raw[2]), raw[3]
    if raw[:2] != b"\0\0" or dtype is None or ndim == 0:
        raise DataError(f"{path}: not an IDX file: magic number 0x{magic:08X}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated IDX header: {ndim} dimensions need {header} bytes, "
                        f"the file has {len(raw)}")
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = math.prod(dims) * dtype.itemsize  # Python ints: no overflow
    found = len(raw) - header
    if found != expected:  # (_read_bytes stops one byte past the declared size: "more")
        problem, has = ("truncated", found) if found < expected else ("too long", "more")
        raise DataError(f"{path}: {problem}: the header says {' x '.join(map(str, dims))} {dtype.name} "
                        f"= {expected} bytes of data, the file has {has}")
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)
    return data.astype(dtype.newbyteorder("="))  # a writable copy in native byte order


def _describe_magic(magic: int) -> str:
    dtype = IDX_DTYPES.get((magic >> 8) & 0xFF)
    return f"{dtype.name if dtype else 'unknown type'}, {magic & 0xFF} dimensions"


def _content_sha256(path: Path) -> str:
    """SHA-256 of the file's content (after gunzipping), whatever compressed it."""
    return hashlib.sha256(_read_bytes(path)).hexdigest()
