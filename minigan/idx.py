"""IDX files, the format MNIST and Fashion-MNIST ship in: a header of magic number and
sizes, then the raw values. :func:`read_idx` reads gzip or raw files and checks every header."""
from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np

GZIP_MAGIC = b"\x1f\x8b"
IMAGES_MAGIC = 0x00000803  # uint8, 3 dimensions (count, rows, cols)
LABELS_MAGIC = 0x00000801  # uint8, 1 dimension (count)
# IDX type byte -> element dtype (all multi-byte values are big-endian)
IDX_DTYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"),
              0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


class DataError(ValueError):
    """A data file that is malformed, truncated, or not the file it should be."""


def read_idx(path, expected_magic: int | None = None) -> np.ndarray:
    """The array stored in the IDX file at ``path`` (gzip-compressed or raw).

    The header is checked: a known magic number (``expected_magic``, e.g. ``0x803`` for uint8
    images of shape (N, rows, cols), when given) and a data size that matches its dimensions.
    Any problem raises :class:`DataError` naming the file.
    """
    path = Path(path)
    return _parse_idx(_read_bytes(path), path, expected_magic)


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when they start with the gzip magic."""
    with open(path, "rb") as file:
        raw = file.read()
    if not raw.startswith(GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except EOFError as err:
        raise DataError(f"{path}: truncated gzip file ({len(raw)} bytes; {err})") from err
    except (OSError, ValueError) as err:  # gzip.BadGzipFile, zlib.error
        raise DataError(f"{path}: corrupt gzip file ({err})") from err


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
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    found = len(raw) - header
    if found != expected:
        problem = "truncated" if found < expected else "too long"
        raise DataError(f"{path}: {problem}: the header says {' x '.join(map(str, dims))} {dtype.name} "
                        f"= {expected} bytes of data, the file has {found}")
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)
    return data.astype(dtype.newbyteorder("="))  # a writable copy in native byte order


def _describe_magic(magic: int) -> str:
    dtype = IDX_DTYPES.get((magic >> 8) & 0xFF)
    return f"{dtype.name if dtype else 'unknown type'}, {magic & 0xFF} dimensions"


def _content_sha256(path: Path) -> str:
    """SHA-256 of the file's content (after gunzipping), whatever compressed it."""
    return hashlib.sha256(_read_bytes(path)).hexdigest()
