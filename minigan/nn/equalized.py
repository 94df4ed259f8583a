"""Layers with an equalised learning rate (Karras et al. 2018, "Progressive Growing of GANs", 4.1).

A usual layer starts its weights at N(0, c^2) with He's constant c = gain / sqrt(fan_in). An
equalised layer instead *stores* w ~ N(0, 1) and multiplies by c on every forward: the same
function at initialisation, but now the stored weights of every layer live on one scale.
Adam's step is about lr in each stored weight whatever that weight's scale, so with stored
weights of one scale every layer learns at the same relative speed; with He's constant baked
into the weights, the layers with many inputs (small c) would move fastest relative to their
size.

``lr_multiplier`` slows one layer down on purpose (StyleGAN's mapping network uses 0.01): the
stored values are N(0, 1 / lr_multiplier^2) and the forward multiplies them by
``c * lr_multiplier`` (the bias by ``lr_multiplier``), so the layer computes the same function
but each Adam step moves it lr_multiplier times as far.
"""
from __future__ import annotations

import math
import numbers

from .. import functional as F
from ..tensor import Tensor
from . import init
from .layers import _check_positive, _new_parameter, _pair
from .module import Module

LEAKY_RELU_GAIN = math.sqrt(2.0)  # Karras et al. use ReLU's gain sqrt(2) before leaky ReLUs too


def _check_scalars(layer: str, gain, lr_multiplier, bias_init) -> None:
    for name, value, low in (("gain", gain, 0.0), ("lr_multiplier", lr_multiplier, 0.0)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > low:
            raise ValueError(f"{layer}: {name} must be a number > 0, got {value!r}")
    if isinstance(bias_init, bool) or not isinstance(bias_init, numbers.Real) or not math.isfinite(bias_init):
        raise ValueError(f"{layer}: bias_init must be a finite number, got {bias_init!r}")


class _Equalized(Module):
    """What the two layers share: the stored N(0, 1 / lr_mul^2) weight, the runtime scales."""

    def _init_equalized(self, weight_shape, fan_in: int, bias: bool, gain: float, lr_multiplier: float,
                        bias_init: float, device, dtype) -> None:
        _check_scalars(type(self).__name__, gain, lr_multiplier, bias_init)
        self.gain, self.lr_multiplier, self.bias_init = float(gain), float(lr_multiplier), float(bias_init)
        self.weight_scale = self.gain / math.sqrt(fan_in) * self.lr_multiplier  # c * lr_multiplier
        self.weight = _new_parameter(weight_shape, device, dtype)
        if bias:
            self.bias = _new_parameter((weight_shape[0],), device, dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.normal_(self.weight, 0.0, 1.0 / self.lr_multiplier)
        if self.bias is not None:
            init.constant_(self.bias, self.bias_init / self.lr_multiplier)

    def scaled_weight(self) -> Tensor:
        """The weight the layer computes with: the stored one times c * lr_multiplier."""
        return self.weight * self.weight_scale

    def scaled_bias(self):
        """The bias the layer adds (stored bias times lr_multiplier), or None."""
        return None if self.bias is None else self.bias * self.lr_multiplier

    def _scales_repr(self) -> str:
        extra = f", gain={self.gain:.4g}"
        if self.lr_multiplier != 1:
            extra += f", lr_multiplier={self.lr_multiplier:g}"
        return extra + ("" if self.bias is not None else ", bias=False")


class EqualizedLinear(_Equalized):
    """y = x (c W)^T + b with W stored ~ N(0, 1) and c = gain / sqrt(in_features) (see the
    module docstring); weight (out_features, in_features), as Linear's. ``bias_init`` is the
    bias the layer starts with (StyleGAN starts its style scales at 1)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, gain: float = LEAKY_RELU_GAIN,
                 lr_multiplier: float = 1.0, bias_init: float = 0.0, device=None, dtype=None):
        super().__init__()
        _check_positive("EqualizedLinear", in_features=in_features, out_features=out_features)
        self.in_features, self.out_features = in_features, out_features
        self._init_equalized((out_features, in_features), in_features, bias, gain, lr_multiplier, bias_init,
                             device, dtype)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.scaled_weight(), self.scaled_bias())

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}" + self._scales_repr()


class EqualizedConv2d(_Equalized):
    """Conv2d with an equalised learning rate: weight (out, in, kh, kw) stored ~ N(0, 1),
    used times c = gain / sqrt(in * kh * kw)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, bias: bool = True,
                 gain: float = LEAKY_RELU_GAIN, lr_multiplier: float = 1.0, bias_init: float = 0.0, device=None,
                 dtype=None):
        super().__init__()
        _check_positive("EqualizedConv2d", in_channels=in_channels, out_channels=out_channels)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = _pair("EqualizedConv2d: kernel_size", kernel_size, 1)
        self.stride = _pair("EqualizedConv2d: stride", stride, 1)
        self.padding = _pair("EqualizedConv2d: padding", padding, 0)
        fan_in = in_channels * self.kernel_size[0] * self.kernel_size[1]
        self._init_equalized((out_channels, in_channels) + self.kernel_size, fan_in, bias, gain, lr_multiplier,
                             bias_init, device, dtype)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.scaled_weight(), self.scaled_bias(), self.stride, self.padding)

    def extra_repr(self) -> str:
        parts = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            parts += f", padding={self.padding}"
        return parts + self._scales_repr()
