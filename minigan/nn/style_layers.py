"""The pieces of a style-based generator (Karras et al. 2019, "A Style-Based Generator
Architecture for GANs"), put together in :mod:`minigan.gan.stylegan`:

- :class:`MappingNetwork`: z -> w, a few fully connected layers (equalised, slowed down 100x)
  that map the Gaussian latent to an intermediate latent w with no fixed distribution, free to
  untangle the factors of variation;
- :class:`ConstantInput`: the synthesis network starts from a *learned constant* (here 7 x 7),
  not from z: everything sample-specific enters through the styles (and the noise);
- :class:`AdaIN`: a learned affine map A takes w to a per-channel (scale, shift), the style,
  applied by :func:`minigan.functional.adaptive_instance_norm` after each convolution;
- :class:`NoiseInput`: per-pixel Gaussian noise times a learned per-channel weight (starting
  at 0), for stochastic detail such as stroke texture; optional.
"""
from __future__ import annotations

import numbers

from .. import functional as F
from ..creation import randn
from ..tensor import Tensor
from . import init
from .equalized import EqualizedLinear
from .layers import LeakyReLU, _check_positive, _new_parameter
from .module import Module, Sequential


class PixelNorm(Module):
    """:func:`minigan.functional.pixel_norm` as a layer: each feature vector over axis 1
    divided by its root mean square."""

    def forward(self, x: Tensor) -> Tensor:
        return F.pixel_norm(x)


class MappingNetwork(Module):
    """z (N, latent_dim) -> w (N, w_dim): pixel norm of z, then ``layers`` equalised Linear +
    LeakyReLU(0.2) layers with ``lr_multiplier`` (StyleGAN: 8 layers of 512, lr x 0.01)."""

    def __init__(self, latent_dim: int, w_dim: int, layers: int = 4, lr_multiplier: float = 0.01):
        super().__init__()
        _check_positive("MappingNetwork", latent_dim=latent_dim, w_dim=w_dim, layers=layers)
        self.latent_dim, self.w_dim = latent_dim, w_dim
        stack = [PixelNorm()]
        for i in range(layers):
            stack += [EqualizedLinear(latent_dim if i == 0 else w_dim, w_dim, lr_multiplier=lr_multiplier),
                      LeakyReLU(0.2)]
        self.net = Sequential(*stack)

    def forward(self, z: Tensor) -> Tensor:
        if not isinstance(z, Tensor) or z.ndim != 2 or z.shape[1] != self.latent_dim:
            shape = z.shape if isinstance(z, Tensor) else type(z).__name__
            raise ValueError(f"MappingNetwork: expected z of shape (N, {self.latent_dim}), got {shape}")
        return self.net(z)


class ConstantInput(Module):
    """A learned (1, channels, size, size) tensor, started at ones, repeated over the batch."""

    def __init__(self, channels: int, size: int = 7, device=None, dtype=None):
        super().__init__()
        _check_positive("ConstantInput", channels=channels, size=size)
        self.weight = _new_parameter((1, channels, size, size), device, dtype)
        init.ones_(self.weight)

    def forward(self, batch_size: int) -> Tensor:
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
            raise ValueError(f"ConstantInput: batch_size must be a positive int, got {batch_size!r}")
        return F.broadcast_to(self.weight, (int(batch_size),) + self.weight.shape[1:])

    def extra_repr(self) -> str:
        return f"channels={self.weight.shape[1]}, size={self.weight.shape[2]}"


class NoiseInput(Module):
    """x + weight[c] * noise, with one N(0, 1) noise image (N, 1, H, W) per sample shared by
    the channels, and a learned per-channel weight that starts at 0 (the noise starts off).
    ``noise`` may be given (the same noise for two calls); by default it is drawn from
    minigan's generator on x's device."""

    def __init__(self, channels: int, device=None, dtype=None):
        super().__init__()
        _check_positive("NoiseInput", channels=channels)
        self.weight = _new_parameter((channels,), device, dtype)

    def forward(self, x: Tensor, noise: Tensor = None) -> Tensor:
        if not isinstance(x, Tensor) or x.ndim != 4 or x.shape[1] != self.weight.shape[0]:
            shape = x.shape if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"NoiseInput: expected features (N, {self.weight.shape[0]}, H, W), got {shape}")
        if noise is None:
            noise = randn(x.shape[0], 1, x.shape[2], x.shape[3], dtype=x.dtype, device=x.device)
        elif not isinstance(noise, Tensor) or noise.shape != (x.shape[0], 1) + x.shape[2:]:
            shape = noise.shape if isinstance(noise, Tensor) else type(noise).__name__
            raise ValueError(f"NoiseInput: noise must have shape {(x.shape[0], 1) + x.shape[2:]}, got {shape}")
        return x + noise * F.reshape(self.weight, (1, -1, 1, 1))

    def extra_repr(self) -> str:
        return f"channels={self.weight.shape[0]}"


class AdaIN(Module):
    """Adaptive instance norm driven by w: the affine map A (two equalised Linears, gain 1)
    takes w (N, w_dim) to a style per channel, a scale (starting near 1: its bias starts at 1)
    and a shift (starting near 0), and the features (N, C, H, W) get
    ``F.adaptive_instance_norm(x, scale, shift)``."""

    def __init__(self, channels: int, w_dim: int):
        super().__init__()
        _check_positive("AdaIN", channels=channels, w_dim=w_dim)
        self.channels = channels
        self.scale = EqualizedLinear(w_dim, channels, gain=1.0, bias_init=1.0)
        self.shift = EqualizedLinear(w_dim, channels, gain=1.0)

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        return F.adaptive_instance_norm(x, self.scale(w), self.shift(w))

    def extra_repr(self) -> str:
        return f"channels={self.channels}"


__all__ = ["AdaIN", "ConstantInput", "MappingNetwork", "NoiseInput", "PixelNorm"]
