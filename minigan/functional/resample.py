"""Resampling images to a new size: ``interpolate`` (PyTorch's ``F.interpolate``, behind
``nn.Upsample``), and ``pixel_shuffle`` / ``pixel_unshuffle`` (behind ``nn.PixelShuffle``).

Nearest and (bi)linear interpolation are *linear* maps of the input: along one spatial axis,
output o = sum_i A[o, i] x[i], with a fixed (out, in) matrix A that has one 1 per row
(nearest) or two weights summing to 1 (linear). A 2-D resize applies one matrix along H and one
along W, ``y = A_h x A_w^T``, so it is made of two batched matmuls: its backward is the
transposes, ``gx = A_h^T gy A_w``, and its double backward comes for free. The matrices hold
PyTorch's exact source indices and weights (including ``align_corners`` and the float32
arithmetic of its nearest-neighbour index), so the values match PyTorch's.

Pixel shuffle (Shi et al. 2016, the sub-pixel convolution of super-resolution networks) trades
channels for pixels: r^2 channels of an (H, W) image become one channel of (r H, r W), channel
c r^2 + i r + j filling the pixels (r y + i, r x + j). It only moves values, so its gradient is
the inverse move, pixel_unshuffle, and the other way round.
"""
from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

from .. import backend
from ..autograd import Function
from ..tensor import Tensor
from .linalg import matmul
from .shape import transpose

MODES = ("nearest", "nearest-exact", "linear", "bilinear")
_SPATIAL_DIMS = {"linear": 1, "bilinear": 2}  # the modes that need one exact input rank


def _nearest_sources(in_size: int, out_size: int, scale, exact: bool) -> np.ndarray:
    """PyTorch's nearest source index of each output index, in its float32 arithmetic:
    floor(o * s), or floor((o + 1/2) * s) for "nearest-exact", s = 1/scale_factor or in/out."""
    s = np.float32(1.0 / scale) if scale else np.float32(in_size) / np.float32(out_size)
    out = np.arange(out_size, dtype=np.float32)
    src = np.floor((out + np.float32(0.5)) * s if exact else out * s).astype(np.int64)
    return np.minimum(src, in_size - 1)


def _linear_sources(in_size: int, out_size: int, scale, align_corners: bool, dtype):
    """PyTorch's two source indices and their weights for each output index, in ``dtype``:
    src = o (in - 1) / (out - 1) with align_corners, else max((o + 1/2) s - 1/2, 0)."""
    out = np.arange(out_size, dtype=dtype)
    if align_corners:
        s = dtype.type((in_size - 1) / (out_size - 1)) if out_size > 1 else dtype.type(0)
        src = out * s
    else:
        s = dtype.type(1.0 / scale) if scale else dtype.type(in_size) / dtype.type(out_size)
        src = np.maximum((out + dtype.type(0.5)) * s - dtype.type(0.5), dtype.type(0))
    i0 = np.minimum(np.floor(src).astype(np.int64), in_size - 1)
    w1 = np.clip(src - i0, 0, 1).astype(dtype)
    i1 = i0 + (i0 < in_size - 1)
    return i0, i1, (dtype.type(1) - w1), w1


def _matrix(in_size: int, out_size: int, mode: str, scale, align_corners, dtype) -> np.ndarray:
    """The (out, in) matrix A of one axis: output o = sum_i A[o, i] input[i]."""
    a = np.zeros((out_size, in_size), dtype=dtype)
    rows = np.arange(out_size)
    if mode in ("nearest", "nearest-exact"):
        a[rows, _nearest_sources(in_size, out_size, scale, mode == "nearest-exact")] = 1
        return a
    i0, i1, w0, w1 = _linear_sources(in_size, out_size, scale, bool(align_corners), dtype)
    np.add.at(a, (rows, i0), w0)  # at the last row i0 = i1: the two weights add up to 1
    np.add.at(a, (rows, i1), w1)
    return a


def _per_axis(name: str, value, dims: int, x_shape) -> tuple:
    """``size`` or ``scale_factor`` as one value per spatial axis."""
    values = tuple(value) if isinstance(value, (tuple, list)) else (value,) * dims
    if len(values) != dims:
        raise ValueError(f"interpolate: input and {name} must have the same number of spatial dimensions, but "
                         f"got input with spatial dimensions of {list(x_shape[2:])} and {name} of {value!r}")
    if not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values):
        raise TypeError(f"interpolate: {name} must be numbers, got {value!r}")
    return values


def _output_size(x: Tensor, size, scale_factor, recompute_scale_factor) -> tuple:
    """(output sizes, the scales PyTorch computes the source indices with: None means in/out)."""
    dims = x.ndim - 2
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: only one of size or scale_factor should be defined" if size is not None
                         else "interpolate: either size or scale_factor should be defined")
    if size is not None:
        sizes = _per_axis("size", size, dims, x.shape)
        if not all(isinstance(s, numbers.Integral) for s in sizes):
            raise TypeError(f"interpolate: size must be ints, got {size!r}")
        return tuple(int(s) for s in sizes), (None,) * dims
    scales = tuple(float(s) for s in _per_axis("scale_factor", scale_factor, dims, x.shape))
    sizes = tuple(int(math.floor(n * s)) for n, s in zip(x.shape[2:], scales))
    return sizes, (None,) * dims if recompute_scale_factor else scales


def interpolate(input: Tensor, size=None, scale_factor=None, mode: str = "nearest", align_corners=None,
                recompute_scale_factor=None, antialias: bool = False) -> Tensor:
    """Resize (N, C, L) or (N, C, H, W) inputs to ``size``, or by ``scale_factor`` (output size
    floor(in * scale_factor)), as PyTorch's ``F.interpolate``.

    ``mode``: "nearest" (PyTorch's default, its legacy index rule floor(o * in/out)),
    "nearest-exact", "linear" (3-D inputs) or "bilinear" (4-D inputs). ``align_corners=True``
    maps the corner pixels' centres onto each other; False (the default, as in PyTorch) maps
    the corners of the pixel grids. Differentiable, twice.
    """
    x = input
    if not isinstance(x, Tensor):
        raise TypeError(f"interpolate: expected a Tensor, got {type(x).__name__}")
    if mode not in MODES:
        raise NotImplementedError(f"interpolate: mode {mode!r} is not supported; minigan has {', '.join(MODES)}")
    if x.ndim not in (3, 4) or _SPATIAL_DIMS.get(mode, x.ndim - 2) != x.ndim - 2:
        raise NotImplementedError(f"interpolate: got {x.ndim}D input, but mode {mode!r} needs "
                                  f"{'3D or 4D' if mode not in _SPATIAL_DIMS else f'{_SPATIAL_DIMS[mode] + 2}D'} "
                                  "input (N, C, L) or (N, C, H, W)")
    if x.dtype.kind != "f":
        raise TypeError(f"interpolate: expected a floating-point tensor, got {x.dtype}")
    if align_corners is not None and mode not in ("linear", "bilinear"):
        raise ValueError("interpolate: align_corners option can only be set with the interpolating modes: "
                         "linear | bilinear")
    if antialias:
        raise NotImplementedError("interpolate: antialias=True is not supported by minigan")
    sizes, scales = _output_size(x, size, scale_factor, recompute_scale_factor)
    if min(sizes) <= 0 or min(x.shape[2:]) <= 0:
        raise RuntimeError(f"interpolate: input and output sizes should be greater than 0, but got input "
                           f"{tuple(x.shape[2:])} output {sizes}")
    y = x
    for axis, (n_in, n_out, scale) in enumerate(zip(x.shape[2:], sizes, scales), start=2):
        matrix = _matrix(n_in, n_out, mode, scale, align_corners, x.dtype)
        y = _apply_along(y, Tensor(backend.to_device(matrix, x.device)), axis)
    return y


def _apply_along(x: Tensor, matrix: Tensor, axis: int) -> Tensor:
    """``matrix`` (out, in) applied along ``axis`` of x: the last axis as x A^T, an earlier one as A x."""
    if axis == x.ndim - 1:
        return matmul(x, transpose(matrix, 0, 1))
    return matmul(matrix, x)  # (out, in) @ (N, C, in, W): batched over N and C


def upsample(input: Tensor, size=None, scale_factor=None, mode: str = "nearest", align_corners=None) -> Tensor:
    """Deprecated in PyTorch: :func:`interpolate` (with PyTorch's warning)."""
    warnings.warn("`nn.functional.upsample` is deprecated. Use `nn.functional.interpolate` instead.",
                  UserWarning, stacklevel=2)
    return interpolate(input, size, scale_factor, mode, align_corners)


class PixelShuffle(Function):
    """(..., C r^2, H, W) -> (..., C, H r, W r): out[c, r y + i, r x + j] = in[c r^2 + i r + j, y, x]."""

    def __init__(self, factor: int):
        self.factor = factor

    def forward(self, x):
        ### BEGIN SOLUTION pixel_shuffle
        r, lead, (c, h, w) = self.factor, x.shape[:-3], x.shape[-3:]
        k = len(lead)
        blocks = x.reshape(lead + (c // (r * r), r, r, h, w))  # (..., C, i, j, y, x)
        moved = blocks.transpose(tuple(range(k)) + (k, k + 3, k + 1, k + 4, k + 2))  # (..., C, y, i, x, j)
        return moved.reshape(lead + (c // (r * r), h * r, w * r))
        ### END SOLUTION

    def backward(self, gy):  # a permutation's adjoint is its inverse
        ### BEGIN SOLUTION pixel_shuffle
        return PixelUnshuffle(self.factor)(gy)
        ### END SOLUTION


class PixelUnshuffle(Function):
    """The inverse of :class:`PixelShuffle`: (..., C, H r, W r) -> (..., C r^2, H, W)."""

    def __init__(self, factor: int):
        self.factor = factor

    def forward(self, x):
        ### BEGIN SOLUTION pixel_shuffle
        r, lead, (c, h, w) = self.factor, x.shape[:-3], x.shape[-3:]
        k = len(lead)
        blocks = x.reshape(lead + (c, h // r, r, w // r, r))  # (..., C, y, i, x, j)
        moved = blocks.transpose(tuple(range(k)) + (k, k + 2, k + 4, k + 1, k + 3))  # (..., C, i, j, y, x)
        return moved.reshape(lead + (c * r * r, h // r, w // r))
        ### END SOLUTION

    def backward(self, gy):
        ### BEGIN SOLUTION pixel_shuffle
        return PixelShuffle(self.factor)(gy)
        ### END SOLUTION


def _check_shuffle(op: str, x, factor, name: str) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(x).__name__}")
    if isinstance(factor, bool) or not isinstance(factor, numbers.Integral):
        raise TypeError(f"{op}: argument '{name}' must be int, not {type(factor).__name__}")
    if factor <= 0:
        raise RuntimeError(f"{op} expects a positive {name}, but got {factor}")
    if x.ndim < 3:
        raise RuntimeError(f"{op} expects input to have at least 3 dimensions, but got input with {x.ndim} "
                           f"dimension(s) (shape {x.shape})")


def pixel_shuffle(input: Tensor, upscale_factor: int) -> Tensor:
    """(*, C r^2, H, W) -> (*, C, H r, W r) with r = ``upscale_factor``: each group of r^2
    channels becomes an r x r block of pixels (PyTorch's ``F.pixel_shuffle``)."""
    _check_shuffle("pixel_shuffle", input, upscale_factor, "upscale_factor")
    r, channels = int(upscale_factor), input.shape[-3]
    if channels % (r * r):
        raise RuntimeError(f"pixel_shuffle expects its input's 'channel' dimension to be divisible by the square of "
                           f"upscale_factor, but input.size(-3)={channels} is not divisible by {r * r}")
    return PixelShuffle(r)(input)


def pixel_unshuffle(input: Tensor, downscale_factor: int) -> Tensor:
    """(*, C, H r, W r) -> (*, C r^2, H, W) with r = ``downscale_factor``: the inverse of
    :func:`pixel_shuffle` (PyTorch's ``F.pixel_unshuffle``)."""
    _check_shuffle("pixel_unshuffle", input, downscale_factor, "downscale_factor")
    r = int(downscale_factor)
    for axis, name in ((-2, "height"), (-1, "width")):
        if input.shape[axis] % r:
            raise RuntimeError(f"pixel_unshuffle expects {name} to be divisible by downscale_factor, but "
                               f"input.size({axis})={input.shape[axis]} is not divisible by {r}")
    return PixelUnshuffle(r)(input)
