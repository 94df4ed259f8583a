"""Ops of the style-based and progressive generators (Karras et al. 2018, 2019).

- :func:`adaptive_instance_norm` (AdaIN, Huang & Belongie 2017): each sample's feature maps
  are standardised on their own, per channel, over the pixels, and then scaled and shifted by
  that sample's *style*: ``y = scale * (x - mean_hw) / sqrt(var_hw + eps) + shift``. The
  standardisation wipes out the statistics the previous layer set; the style sets new ones,
  so each style controls its own layer only (the point of StyleGAN's style mixing).
- :func:`pixel_norm` (ProGAN's "pixelwise feature vector normalisation"): each pixel's
  feature vector is divided by its root mean square over the channels, which keeps the
  generator's signals from escalating without batch statistics.
- :func:`fade_in`: ``(1 - alpha) old + alpha new``, the blend with which a progressive GAN
  brings in each new resolution (alpha goes from 0 to 1 during the fade).

All three are made of differentiable ops (AdaIN of :func:`~minigan.functional.instance_norm`
then a multiply and an add; the others of mean, pow, mul and add), so their gradients, and the
gradients of those gradients (a gradient penalty), come from those ops' backwards.
"""
from __future__ import annotations

import numbers

from ..tensor import Tensor
from .norm import instance_norm
from .reduce import mean
from .shape import reshape


def _check_same_place(op: str, x: Tensor, **others) -> None:
    """Every tensor in ``others`` has x's dtype and device (a float32 style with float64
    features would silently change precision; two devices cannot be mixed)."""
    for name, t in others.items():
        if t.dtype != x.dtype:
            raise TypeError(f"{op}: input is {x.dtype} but {name} is {t.dtype}")
        if t.device != x.device:
            raise RuntimeError(f"{op}: expected all tensors on one device, got input on {x.device} "
                               f"and {name} on {t.device}")


def _check_eps(op: str, eps) -> float:
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not eps > 0:
        raise ValueError(f"{op}: eps must be a number > 0, got {eps!r}")
    return float(eps)


def adaptive_instance_norm(input: Tensor, scale: Tensor, shift: Tensor, eps: float = 1e-5) -> Tensor:
    """AdaIN of (N, C, *spatial) features with per-sample styles ``scale`` and ``shift`` (N, C):

        y[n, c] = scale[n, c] * (x[n, c] - mean(x[n, c])) / sqrt(var(x[n, c]) + eps) + shift[n, c]

    where mean and (biased) var run over the spatial positions of one sample and one channel
    (instance normalisation, with eps = 1e-5 as PyTorch's ``instance_norm``). A sample's output
    depends on no other sample of the batch, unlike batch norm's."""
    op = "adaptive_instance_norm"
    for name, t in (("input", input), ("scale", scale), ("shift", shift)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: {name} must be a Tensor, got {type(t).__name__}")
    if input.ndim < 3 or input.dtype.kind != "f":
        raise ValueError(f"{op}: expected floating-point features (N, C, *spatial) with at least one spatial axis, "
                         f"got shape {input.shape} ({input.dtype})")
    styles = input.shape[:2]
    if scale.shape != styles or shift.shape != styles:
        raise ValueError(f"{op}: scale and shift must have shape (N, C) = {styles} to go with input of shape "
                         f"{input.shape}, got {scale.shape} and {shift.shape}")
    _check_same_place(op, input, scale=scale, shift=shift)
    eps = _check_eps(op, eps)
    per_channel = styles + (1,) * (input.ndim - 2)  # AdaIN: instance norm, restyled image by image
    return instance_norm(input, eps=eps) * reshape(scale, per_channel) + reshape(shift, per_channel)


def pixel_norm(input: Tensor, eps: float = 1e-8) -> Tensor:
    """Each position's feature vector over axis 1 divided by its root mean square:
    ``x / sqrt(mean_c(x^2) + eps)`` for (N, C) or (N, C, *spatial) inputs (Karras et al.
    2018, eq. 1; also how StyleGAN normalises z before its mapping network)."""
    if not isinstance(input, Tensor):
        raise TypeError(f"pixel_norm: expected a Tensor, got {type(input).__name__}")
    if input.ndim < 2 or input.dtype.kind != "f":
        raise ValueError(f"pixel_norm: expected floating-point features (N, C, ...), got shape {input.shape} "
                         f"({input.dtype})")
    eps = _check_eps("pixel_norm", eps)
    return input * (mean(input * input, 1, keepdims=True) + eps) ** -0.5


def fade_in(old: Tensor, new: Tensor, alpha: float) -> Tensor:
    """``(1 - alpha) * old + alpha * new``, alpha in [0, 1]: at 0 the old path alone, at 1
    the new one. ``old`` and ``new`` have one shape (upsample or pool the old path first)."""
    for name, t in (("old", old), ("new", new)):
        if not isinstance(t, Tensor):
            raise TypeError(f"fade_in: {name} must be a Tensor, got {type(t).__name__}")
    if old.shape != new.shape:
        raise ValueError(f"fade_in: old and new must have one shape, got {old.shape} and {new.shape}")
    _check_same_place("fade_in", old, new=new)
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0 <= alpha <= 1:
        raise ValueError(f"fade_in: alpha must be a number in [0, 1], got {alpha!r}")
    alpha = float(alpha)
    return old * (1.0 - alpha) + new * alpha
