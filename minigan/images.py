"""Image grids as PNG files, with NumPy and zlib alone (no plotting library needed)."""
from __future__ import annotations

import struct
import zlib

import numpy as np

from .files import atomic_write_bytes


def make_grid(images: np.ndarray, nrow: int = 8, padding: int = 2) -> np.ndarray:
    """Tile (N, C, H, W) or (N, H, W) images in [-1, 1] into one uint8 (rows, cols[, 3]) picture."""
    images = np.asarray(images, dtype=np.float64)
    if images.ndim == 3:
        images = images[:, None]
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"make_grid: expected images of shape (N, 1 or 3, H, W), got {images.shape}")
    n, c, h, w = images.shape
    rows = max(1, -(-n // nrow))
    grid = np.zeros((c, rows * (h + padding) + padding, nrow * (w + padding) + padding))
    cells = np.clip((images + 1) / 2, 0, 1)
    for k in range(n):  # a loop over images (tens of them) to place tiles, not over pixels
        r, col = divmod(k, nrow)
        top, left = padding + r * (h + padding), padding + col * (w + padding)
        grid[:, top:top + h, left:left + w] = cells[k]
    grid = np.round(grid * 255).astype(np.uint8)
    return grid[0] if c == 1 else grid.transpose(1, 2, 0)


def _png_bytes(picture: np.ndarray) -> bytes:
    """A PNG file (8-bit grayscale or RGB) holding ``picture``."""
    height, width = picture.shape[:2]
    color_type = 0 if picture.ndim == 2 else 2
    raw = b"".join(b"\x00" + picture[y].tobytes() for y in range(height))  # filter 0 per row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")


def save_grid(images: np.ndarray, path, nrow: int = 8, padding: int = 2) -> None:
    """Write images in [-1, 1] as one PNG grid at ``path`` (atomically: temp file, then rename;
    with the permissions of any new file, as the umask says)."""
    atomic_write_bytes(path, _png_bytes(make_grid(images, nrow, padding)))
