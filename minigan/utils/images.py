"""Image grids as PNG files, with NumPy and zlib alone (no imaging library needed).

- :func:`make_grid` and :func:`save_image` are torchvision's: a batch of image tensors
  (B, C, H, W) tiled into one (3, H', W') tensor (``nrow`` images a row, ``padding`` pixels of
  ``pad_value`` between them; ``normalize=True`` maps ``value_range``, or the batch's own min
  and max, to [0, 1]), written as an 8-bit RGB PNG;
- :func:`save_grid` is minigan's shorthand for its scripts: images in [-1, 1] (arrays), one
  grayscale or RGB PNG, written atomically.
"""
from __future__ import annotations

import math
import struct
import zlib
from pathlib import Path

import numpy as np

from .. import backend
from ..files import atomic_write_bytes
from ..tensor import Tensor


def grid_picture(images: np.ndarray, nrow: int = 8, padding: int = 2) -> np.ndarray:
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
    atomic_write_bytes(path, _png_bytes(grid_picture(images, nrow, padding)))


# -- torchvision's make_grid and save_image ---------------------------------------------------------
def _as_batch(tensor):
    """The images as one (B, C, H, W) array: a list of (C, H, W) tensors is stacked, a single
    (H, W) or (C, H, W) image is a batch of one; one channel is repeated into three (RGB)."""
    if isinstance(tensor, (list, tuple)):
        if not tensor or not all(isinstance(t, Tensor) for t in tensor):
            raise TypeError("make_grid: expected a tensor or a non-empty list of tensors")
        array = tensor[0].device.xp.stack([t.array for t in tensor])
    elif isinstance(tensor, Tensor):
        array = tensor.array
    else:
        raise TypeError(f"tensor or list of tensors expected, got {type(tensor)}")
    xp = backend.array_module(array)
    if array.ndim == 2:
        array = array[None]
    if array.ndim == 3:
        array = (xp.concatenate([array] * 3) if array.shape[0] == 1 else array)[None]
    if array.ndim != 4:
        raise ValueError(f"make_grid: expected images (B, C, H, W), (C, H, W) or (H, W), got shape {array.shape}")
    if array.shape[1] == 1:
        array = xp.concatenate([array] * 3, axis=1)
    return array.astype(array.dtype if array.dtype.kind == "f" else np.float32)


def _normalized(images, value_range, scale_each: bool):
    """Each image (or the whole batch) clamped to its range [low, high] and mapped to [0, 1]:
    the given ``value_range``, or the images' own min and max."""
    xp = backend.array_module(images)
    axes = (1, 2, 3) if scale_each else None
    if value_range is not None:
        low, high = (xp.asarray(v, dtype=images.dtype) for v in value_range)
    else:
        low, high = images.min(axis=axes, keepdims=True), images.max(axis=axes, keepdims=True)
    return (xp.clip(images, low, high) - low) / xp.maximum(high - low, images.dtype.type(1e-5))


def make_grid(tensor, nrow: int = 8, padding: int = 2, normalize: bool = False, value_range=None,
              scale_each: bool = False, pad_value: float = 0.0) -> Tensor:
    """torchvision's ``make_grid``: the images of ``tensor`` (B, C, H, W) in rows of ``nrow``,
    ``padding`` pixels of ``pad_value`` around each, as one (3, H', W') tensor (one channel is
    repeated into three; a batch of one is that image). ``normalize`` maps ``value_range``
    (default: the min and max of the batch, or of each image with ``scale_each``) to [0, 1].
    The grid is a new tensor outside the graph."""
    images = _as_batch(tensor)
    if normalize:
        images = _normalized(images, value_range, scale_each)
    if images.shape[0] == 1:
        return Tensor(images[0])
    xp = backend.array_module(images)
    n, c, h, w = images.shape
    cols = min(nrow, n)
    rows = math.ceil(n / cols)
    cells = xp.full((rows * cols, c, h + padding, w + padding), pad_value, dtype=images.dtype)
    cells[:n, :, padding:, padding:] = images  # each cell: the padding above and left of its image
    grid = cells.reshape(rows, cols, c, h + padding, w + padding).transpose(2, 0, 3, 1, 4)
    grid = grid.reshape(c, rows * (h + padding), cols * (w + padding))
    out = xp.full((c, rows * (h + padding) + padding, cols * (w + padding) + padding), pad_value, dtype=images.dtype)
    out[:, :grid.shape[1], :grid.shape[2]] = grid  # and the padding below and right of the last ones
    return Tensor(out)


def save_image(tensor, fp, format=None, **kwargs) -> None:
    """torchvision's ``save_image``: :func:`make_grid` (with its keyword arguments: ``nrow``,
    ``padding``, ``normalize``, ``value_range``, ...), each value v in [0, 1] written as the byte
    floor(255 v + 1/2), as an RGB PNG file at ``fp`` (a path, written atomically, or a binary
    file object). minigan writes PNG only."""
    if format is not None and str(format).lower() != "png":
        raise ValueError(f"save_image: minigan writes PNG files only, got format={format!r}")
    if format is None and not hasattr(fp, "write") and Path(fp).suffix.lower() != ".png":
        raise ValueError(f"save_image: minigan writes PNG files only, got {fp!r} (use a .png name)")
    grid = make_grid(tensor, **kwargs).array
    if grid.shape[0] not in (1, 3):
        raise ValueError(f"save_image: cannot write {grid.shape[0]} channels as an image (1 or 3 expected)")
    xp = backend.array_module(grid)
    pixels = xp.clip(grid * grid.dtype.type(255) + grid.dtype.type(0.5), 0, 255).astype(np.uint8)
    picture = backend.to_numpy(pixels).transpose(1, 2, 0)
    data = _png_bytes(picture[..., 0] if picture.shape[2] == 1 else np.ascontiguousarray(picture))
    if hasattr(fp, "write"):
        fp.write(data)
    else:
        atomic_write_bytes(fp, data)
