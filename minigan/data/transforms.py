"""Image transforms, as torchvision's: ``Compose([Resize(32), ToTensor(), Normalize([0.5], [0.5])])``.

What a transform receives is what a dataset gives: torchvision's datasets give PIL images,
minigan's give the same pixels as a uint8 NumPy array (H, W) (or (H, W, C)), so that no
imaging library is needed. ``ToTensor`` turns that into a float32 tensor (C, H, W) in [0, 1];
``Resize`` and ``CenterCrop`` work on either. Each transform also has ``batch(images)`` for a
leading batch axis ((N, H, W) arrays, (N, C, H, W) tensors): the datasets use it to transform
a whole batch at once, without a Python loop over its images.

``Resize`` computes PIL's bilinear resampling on arrays (a triangle filter widened when
shrinking, so shrinking is antialiased), in PIL's 22-bit fixed point and its order (width,
then height, each rounded to uint8), so its pixels are PIL's, which torchvision uses. On
tensors it is the same filter in floating point, which is torchvision's ``antialias=True``.
Both are matrices applied along an axis, as in :mod:`minigan.functional.resample`.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import functional as F
from ..tensor import Tensor

PRECISION_BITS = 22  # PIL's fixed point for 8-bit images: 32 - 8 - 2 bits


class Compose:
    """The transforms, one after the other."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, image):
        for transform in self.transforms:
            image = transform(image)
        return image

    def batch(self, images):
        for transform in self.transforms:
            images = transform.batch(images)
        return images

    @property
    def batchable(self) -> bool:
        """True when every transform has a ``batch`` method."""
        return all(has_batch(t) for t in self.transforms)

    def __repr__(self):
        return "Compose(\n" + "".join(f"    {t}\n" for t in self.transforms) + ")"


def has_batch(transform) -> bool:
    """True when ``transform`` can transform a batch at once (``Compose``: all its members)."""
    return transform.batchable if isinstance(transform, Compose) else hasattr(transform, "batch")


class Lambda:
    """A function as a transform (applied image by image)."""

    def __init__(self, lambd):
        if not callable(lambd):
            raise TypeError(f"Argument lambd should be callable, got {type(lambd).__name__!r}")
        self.lambd = lambd

    def __call__(self, image):
        return self.lambd(image)

    def __repr__(self):
        return "Lambda()"


# -- ToTensor and Normalize ----------------------------------------------------------------------------
class ToTensor:
    """A uint8 image (H, W) or (H, W, C) -> a float32 tensor (C, H, W) in [0, 1] (divided by 255);
    an array of another dtype keeps its values and dtype, as in torchvision."""

    def __call__(self, image):
        return self._convert(image, batched=False)

    def batch(self, images):
        return self._convert(images, batched=True)

    @staticmethod
    def _convert(image, batched: bool):
        if not isinstance(image, np.ndarray):
            raise TypeError(f"pic should be PIL Image or ndarray. Got {type(image)}")
        plain = 3 if batched else 2  # the number of axes of a single-channel image (batch)
        if image.ndim not in (plain, plain + 1):
            raise ValueError(f"pic should be {plain} or {plain + 1} dimensional. Got {image.ndim} dimensions.")
        if image.ndim == plain:
            image = image[..., None]
        chw = np.moveaxis(image, -1, -3)  # (..., H, W, C) -> (..., C, H, W)
        if image.dtype == np.uint8:
            return Tensor(chw.astype(np.float32) / np.float32(255))
        return Tensor(np.ascontiguousarray(chw))

    def __repr__(self):
        return "ToTensor()"


class Normalize:
    """(image - mean) / std per channel, for a float tensor (C, H, W): ``Normalize([0.5], [0.5])``
    maps [0, 1] to [-1, 1]. ``inplace=True`` writes into the image (a version bump, as any
    in-place write)."""

    def __init__(self, mean, std, inplace: bool = False):
        self.mean, self.std, self.inplace = mean, std, inplace

    def __call__(self, image):
        return self._normalize(image, 3)

    def batch(self, images):
        return self._normalize(images, 4)

    def _normalize(self, image, ndim: int):
        if not isinstance(image, Tensor):
            raise TypeError(f"img should be Tensor Image. Got {type(image)}")
        if image.dtype.kind != "f":
            raise TypeError(f"Input tensor should be a float tensor. Got {image.dtype}.")
        if image.ndim < ndim - 1 or image.ndim > ndim:
            raise ValueError(f"Expected tensor to be a tensor image of size (..., C, H, W). Got {image.shape}.")
        mean, std = (np.asarray(v, dtype=image.dtype).reshape(-1, 1, 1) for v in (self.mean, self.std))
        if (std == 0).any():
            raise ValueError(f"std evaluated to zero after conversion to {image.dtype}, leading to division by zero.")
        channels = image.shape[-3] if image.ndim >= 3 else 1
        for values in (mean, std):
            if len(values) not in (1, channels):  # torchvision's in-place ops refuse to grow the image
                shape = list(image.shape)
                raise RuntimeError(f"output with shape {shape} doesn't match the broadcast shape "
                                   f"{shape[:-3] + [len(values)] + shape[-2:]}")
        mean, std = (Tensor(image.device.xp.asarray(v)) for v in (mean, std))
        if self.inplace:
            return image.sub_(mean).div_(std)
        return (image - mean) / std

    def __repr__(self):
        return f"Normalize(mean={self.mean}, std={self.std})"


# -- Resize and CenterCrop -----------------------------------------------------------------------------
def _pil_weights(in_size: int, out_size: int) -> np.ndarray:
    """PIL's bilinear resampling of one axis as an (out, in) float64 matrix: output pixel o is
    centred at c = (o + 1/2) in/out and takes the inputs j in [c - s, c + s), s = max(in/out, 1),
    with the triangle weights 1 - |j + 1/2 - c| / s, normalised to sum to 1."""
    scale = in_size / out_size
    filter_scale = max(scale, 1.0)
    support = filter_scale  # the triangle filter's support, 1, widened when shrinking
    center = (np.arange(out_size) + 0.5) * scale
    low = np.maximum(np.trunc(center - support + 0.5), 0)[:, None]
    high = np.minimum(np.trunc(center + support + 0.5), in_size)[:, None]
    j = np.arange(in_size)[None, :]
    weights = np.maximum(0.0, 1.0 - np.abs((j - center[:, None] + 0.5) / filter_scale))
    weights = np.where((j >= low) & (j < high), weights, 0.0)
    return weights / weights.sum(axis=1, keepdims=True)


def _pil_resample_uint8(image: np.ndarray, axis: int, out_size: int) -> np.ndarray:
    """One PIL pass over ``axis`` of a uint8 array: 22-bit fixed-point weights (rounded), the
    sum rounded by adding half a unit, shifted back and clipped to [0, 255]."""
    fixed = np.floor(0.5 + _pil_weights(image.shape[axis], out_size) * (1 << PRECISION_BITS)).astype(np.int64)
    moved = np.moveaxis(image, axis, -1).astype(np.int64)
    summed = moved @ fixed.T + (1 << (PRECISION_BITS - 1))
    return np.moveaxis(np.clip(summed >> PRECISION_BITS, 0, 255).astype(np.uint8), -1, axis)


def _output_size(height: int, width: int, size, max_size) -> tuple:
    """torchvision's rule: an int matches the shorter side (the other keeps the aspect ratio,
    rounded down); a pair is (height, width)."""
    if isinstance(size, (tuple, list)) and len(size) == 2:
        return int(size[0]), int(size[1])
    if isinstance(size, (tuple, list)):
        size = size[0]
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = size, int(size * long / short)
    if max_size is not None and new_long > max_size:
        new_short, new_long = int(max_size * new_short / new_long), max_size
    return (new_long, new_short) if width <= height else (new_short, new_long)


class Resize:
    """Resize to ``size`` (an int: the shorter side, keeping the aspect ratio; or (h, w)) with
    bilinear interpolation, PIL's on uint8 arrays and torchvision's antialiased one on tensors."""

    def __init__(self, size, interpolation="bilinear", max_size=None, antialias=True):
        ok = isinstance(size, numbers.Integral) or (isinstance(size, (tuple, list)) and len(size) in (1, 2) and
                                                    all(isinstance(s, numbers.Integral) for s in size))
        if not ok or min((size,) if isinstance(size, numbers.Integral) else size) <= 0:
            raise TypeError(f"Size should be a positive int or a sequence of one or two positive ints. Got {size!r}")
        if str(interpolation).lower().rsplit(".", 1)[-1] != "bilinear":
            raise NotImplementedError(f"Resize: interpolation {interpolation!r} is not supported by minigan "
                                      "(bilinear, the default, is)")
        if not antialias:
            raise NotImplementedError("Resize: antialias=False is not supported by minigan")
        self.size, self.max_size = size, max_size

    def __call__(self, image):
        return self._resize(image, batched=False)

    def batch(self, images):
        return self._resize(images, batched=True)

    def _resize(self, image, batched: bool):
        spatial = _spatial_axes(image, batched)
        height, width = (image.shape[a] for a in spatial)
        out_h, out_w = _output_size(height, width, self.size, self.max_size)
        if isinstance(image, np.ndarray):  # PIL's order: width first, then height, each rounded
            if image.dtype != np.uint8:
                raise TypeError(f"Resize: expected a uint8 image array (what PIL holds), got {image.dtype}")
            if out_w != width:
                image = _pil_resample_uint8(image, spatial[1], out_w)
            if out_h != height:
                image = _pil_resample_uint8(image, spatial[0], out_h)
            return image
        if image.dtype.kind != "f":
            raise TypeError(f"Resize: expected a floating-point tensor, got {image.dtype}")
        xp = image.device.xp
        rows, cols = (Tensor(xp.asarray(_pil_weights(n, m).astype(image.dtype)))
                      for n, m in ((height, out_h), (width, out_w)))
        return F.matmul(F.matmul(rows, image), F.transpose(cols, 0, 1))  # A_h x A_w^T, batched over leading axes

    def __repr__(self):
        return f"Resize(size={self.size}, interpolation=bilinear, max_size={self.max_size}, antialias=True)"


class CenterCrop:
    """The central (h, w) (or size x size) region; an image smaller than that is padded with
    zeros first, as in torchvision."""

    def __init__(self, size):
        size = (size, size) if isinstance(size, numbers.Integral) else tuple(size)
        if len(size) == 1:
            size = (size[0], size[0])
        if len(size) != 2 or not all(isinstance(s, numbers.Integral) and s > 0 for s in size):
            raise ValueError(f"Please provide only two dimensions (h, w) for size. Got {size!r}")
        self.size = tuple(int(s) for s in size)

    def __call__(self, image):
        return self._crop(image, batched=False)

    def batch(self, images):
        return self._crop(images, batched=True)

    def _crop(self, image, batched: bool):
        top_axis, left_axis = _spatial_axes(image, batched)
        height, width = image.shape[top_axis], image.shape[left_axis]
        crop_h, crop_w = self.size
        if crop_h > height or crop_w > width:
            widths = [(0, 0)] * image.ndim
            widths[top_axis] = ((crop_h - height) // 2, (crop_h - height + 1) // 2) if crop_h > height else (0, 0)
            widths[left_axis] = ((crop_w - width) // 2, (crop_w - width + 1) // 2) if crop_w > width else (0, 0)
            if isinstance(image, np.ndarray):
                image = np.pad(image, widths)
            else:
                image = F.pad(image, tuple(w for pair in reversed(widths) for w in pair))
            height, width = image.shape[top_axis], image.shape[left_axis]
        top, left = int(round((height - crop_h) / 2.0)), int(round((width - crop_w) / 2.0))  # Python's round
        index = [slice(None)] * image.ndim
        index[top_axis], index[left_axis] = slice(top, top + crop_h), slice(left, left + crop_w)
        return image[tuple(index)]

    def __repr__(self):
        return f"CenterCrop(size={self.size})"


def _spatial_axes(image, batched: bool) -> tuple:
    """The (height, width) axes: arrays are (H, W[, C]) (PIL's layout), tensors (C, H, W); a
    batch puts N in front."""
    if isinstance(image, np.ndarray):
        lead = 1 if batched else 0
        if image.ndim not in (lead + 2, lead + 3):
            raise ValueError(f"expected an image array of shape {'(N, ' if batched else '('}H, W) or "
                             f"{'(N, ' if batched else '('}H, W, C), got {image.shape}")
        return lead, lead + 1
    if isinstance(image, Tensor):
        if image.ndim < 2:
            raise ValueError(f"expected a tensor image (..., H, W), got shape {image.shape}")
        return image.ndim - 2, image.ndim - 1
    raise TypeError(f"img should be an image array or a Tensor. Got {type(image)}")
