"""The layers of image-to-image networks (CycleGAN, super-resolution): padding layers, pixel
shuffle and instance norm, with PyTorch's names, arguments, defaults and reprs.

- ``ReflectionPad2d``, ``ReplicationPad2d``, ``ZeroPad2d``, ``ConstantPad2d`` (and their 1-D
  versions): ``F.pad`` as a layer. CycleGAN pads by reflection before its convolutions, so the
  image's border is continued rather than darkened by zeros.
- ``PixelShuffle`` / ``PixelUnshuffle``: ``F.pixel_shuffle`` as a layer, the upsampling of
  ESPCN and SRGAN (a convolution to r^2 C channels, then a shuffle to an r times larger image).
- ``InstanceNorm1d`` / ``InstanceNorm2d``: ``F.instance_norm`` as a layer. As in PyTorch,
  without a learned scale and shift (``affine=False``) and without running statistics
  (``track_running_stats=False``) by default, so it normalises every image by its own
  statistics in training and in evaluation alike.
"""
from __future__ import annotations

import numbers
import warnings

from .. import functional as F
from ..tensor import Tensor
from .layers import _BatchNorm
from .module import Module


def _widths(layer: str, padding, dims: int) -> tuple:
    """An int (every side) or 2 * dims ints (left, right, top, bottom) as a tuple of 2 * dims."""
    if isinstance(padding, numbers.Integral) and not isinstance(padding, bool):
        return (int(padding),) * (2 * dims)
    if (not isinstance(padding, (tuple, list)) or len(padding) != 2 * dims
            or not all(isinstance(p, numbers.Integral) and not isinstance(p, bool) for p in padding)):
        raise ValueError(f"{layer}: padding must be an int or {2 * dims} ints, got {padding!r}")
    return tuple(int(p) for p in padding)


class _PadNd(Module):
    """F.pad(x, padding, mode) as a layer; subclasses set ``mode`` and ``dims``."""

    mode, dims = "constant", 2

    def __init__(self, padding):
        super().__init__()
        self.padding = _widths(type(self).__name__, padding, self.dims)

    def forward(self, x: Tensor) -> Tensor:
        return F.pad(x, self.padding, self.mode)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ReflectionPad1d(_PadNd):
    """Pad the last axis of (C, W) or (N, C, W) inputs with its reflection about the edge pixels."""
    mode, dims = "reflect", 1


class ReflectionPad2d(_PadNd):
    """Pad (C, H, W) or (N, C, H, W) images with their reflection about the edge pixels
    (each width below the side it pads); ``padding``: an int or (left, right, top, bottom)."""
    mode, dims = "reflect", 2


class ReplicationPad1d(_PadNd):
    """Pad the last axis of (C, W) or (N, C, W) inputs by repeating the edge pixels."""
    mode, dims = "replicate", 1


class ReplicationPad2d(_PadNd):
    """Pad (C, H, W) or (N, C, H, W) images by repeating their edge pixels."""
    mode, dims = "replicate", 2


class ConstantPad1d(_PadNd):
    """Pad the last axis with ``value``."""
    dims = 1

    def __init__(self, padding, value: float):
        super().__init__(padding)
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{type(self).__name__}: value must be a real number, got {value!r}")
        self.value = value

    def forward(self, x: Tensor) -> Tensor:
        return F.pad(x, self.padding, "constant", self.value)

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}"


class ConstantPad2d(ConstantPad1d):
    """Pad the last two axes with ``value``; ``padding``: an int or (left, right, top, bottom)."""
    dims = 2


class ZeroPad1d(ConstantPad1d):
    """Pad the last axis with zeros."""

    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ZeroPad2d(ZeroPad1d):
    """Pad the last two axes with zeros; ``padding``: an int or (left, right, top, bottom)."""
    dims = 2


class PixelShuffle(Module):
    """(*, C r^2, H, W) -> (*, C, H r, W r): ``F.pixel_shuffle`` with r = ``upscale_factor``."""

    def __init__(self, upscale_factor: int):
        super().__init__()
        self.upscale_factor = upscale_factor

    def forward(self, x: Tensor) -> Tensor:
        return F.pixel_shuffle(x, self.upscale_factor)

    def extra_repr(self) -> str:
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    """(*, C, H r, W r) -> (*, C r^2, H, W): ``F.pixel_unshuffle`` with r = ``downscale_factor``."""

    def __init__(self, downscale_factor: int):
        super().__init__()
        self.downscale_factor = downscale_factor

    def forward(self, x: Tensor) -> Tensor:
        return F.pixel_unshuffle(x, self.downscale_factor)

    def extra_repr(self) -> str:
        return f"downscale_factor={self.downscale_factor}"


class _InstanceNorm(_BatchNorm):
    """Instance norm's layer: _BatchNorm's parameters and buffers (state_dict keys as PyTorch),
    PyTorch's instance-norm defaults, and ``F.instance_norm`` as forward."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, affine: bool = False,
                 track_running_stats: bool = False, device=None, dtype=None, *, bias: bool = True):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype)
        self.has_bias = affine and bias
        if affine and not bias:
            self.register_parameter("bias", None)

    def _check_input(self, x) -> None:
        name = type(self).__name__
        if not isinstance(x, Tensor):
            raise TypeError(f"{name}: expected a Tensor, got {type(x).__name__}")
        if x.ndim not in (self.expected_ndim - 1, self.expected_ndim):
            raise ValueError(f"{name}: expected {self.expected_ndim - 1}D or {self.expected_ndim}D input (got "
                             f"{x.ndim}D input, shape {x.shape})")
        channels = x.shape[x.ndim - self.expected_ndim + 1]
        if channels != self.num_features:
            if self.affine:
                raise ValueError(f"{name}: expected input's size at dim=1 to match num_features "
                                 f"({self.num_features}), but got: {channels}.")
            warnings.warn(f"{name}: input's size at dim=1 does not match num_features. You can silence this warning "
                          "by not passing in num_features, which is not used because affine=False", stacklevel=3)

    def forward(self, x: Tensor) -> Tensor:
        self._check_input(x)
        unbatched = x.ndim == self.expected_ndim - 1
        batch = x.unsqueeze(0) if unbatched else x
        use_input_stats = self.training or not self.track_running_stats
        y = F.instance_norm(batch, self.running_mean, self.running_var, self.weight, self.bias, use_input_stats,
                            0.0 if self.momentum is None else self.momentum, self.eps)  # (None: PyTorch's 0)
        return y.squeeze(0) if unbatched else y

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.has_bias}, track_running_stats={self.track_running_stats}")


class InstanceNorm1d(_InstanceNorm):
    """Instance norm of (N, C, L) or (C, L) inputs: each sequence's channel on its own."""
    expected_ndim = 3


class InstanceNorm2d(_InstanceNorm):
    """Instance norm of (N, C, H, W) or (C, H, W) images: each image's channel on its own,
    statistics over H and W (``affine=False``, ``track_running_stats=False`` by default)."""
    expected_ndim = 4
