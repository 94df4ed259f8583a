"""Progressive growing (Karras et al. 2018, "Progressive Growing of GANs for Improved Quality,
Stability, and Variation") for 28 x 28 digits: 7 -> 14 -> 28.

Both players start small: G draws 7 x 7 images and D judges 7 x 7 images (the real digits
average-pooled to 7 x 7). Learning the coarse structure first is an easier game, and cheap. Then
each player grows a block for the next resolution, *faded in*: during a fade, G's image is
``fade_in(upsample(old_to_image(h)), new_to_image(new_block(h)), alpha)`` and D's first
features are ``fade_in(old_from_image(pool(x)), new_block(new_from_image(x)), alpha)``, with
alpha going from 0 to 1, so the new, untrained layers take over smoothly instead of shocking
the well-trained smaller networks. The real images are blended the same way, so D always sees
reals and fakes of one sharpness.

The other tricks of the paper are here too: equalised learning rate in every layer
(:mod:`minigan.nn.equalized`), pixel norm after each of G's convolutions instead of batch norm,
and a minibatch standard deviation feature map before D's last block (the paper's guard against
mode collapse). The game is the non-saturating one (the paper used WGAN-GP).

The players always exchange 28 x 28 images: G's smaller image is upsampled (nearest) to 28 x 28,
and D pools its input back down to the current resolution, which undoes the upsampling exactly.
So a checkpoint at any stage samples, scores and plots like any other generator. Where the
players are in their growth is a count of the real images trained on, ``G.images_seen`` (a
buffer: it is saved and restored with G), read by :class:`GrowthSchedule`.
"""
from __future__ import annotations

import numpy as np

from .. import nn
from .. import functional as F
from ..autograd import no_grad
from ..classifier import avg_pool2d
from ..creation import full, randn, zeros
from ..nn.gan_layers import MinibatchStdDev
from ..tensor import Tensor
from .losses import get_loss
from .variants import minimise

RESOLUTIONS = (7, 14, 28)
NON_SATURATING = get_loss("non-saturating")


class GrowthSchedule:
    """Where the growth is after ``images_seen`` real images, as ``(level, alpha)``: level 0,
    1, 2 is 7, 14, 28 pixels, alpha the fade-in of that level's block (1: fully in).

    Phases of ``phase_images`` images each: stabilise 7; fade in 14; stabilise 14; fade in 28;
    then 28 for good (Karras et al. use 600k-800k images per phase; digits need far fewer)."""

    def __init__(self, phase_images: int):
        if isinstance(phase_images, bool) or not isinstance(phase_images, (int, np.integer)) or phase_images < 1:
            raise ValueError(f"GrowthSchedule: phase_images must be a positive int, got {phase_images!r}")
        self.phase_images = int(phase_images)

    def at(self, images_seen: int) -> tuple:
        phase, into = divmod(int(images_seen), self.phase_images)
        if phase >= 2 * (len(RESOLUTIONS) - 1):
            return len(RESOLUTIONS) - 1, 1.0
        level = (phase + 1) // 2
        return level, (into / self.phase_images if phase % 2 else 1.0)  # odd phases fade in


def _to_size(image: Tensor, size: int) -> Tensor:
    """Nearest upsampling of a square image to ``size`` (the identity at that size already)."""
    return image if image.shape[-1] == size else F.interpolate(image, size=(size, size))


def _pool_to(image: Tensor, size: int) -> Tensor:
    """Average pooling of a square image down to ``size`` (a divisor of its side)."""
    return image if image.shape[-1] == size else avg_pool2d(image, image.shape[-1] // size)


def _conv_act(in_channels: int, out_channels: int, pixel_norm: bool) -> list:
    layers = [nn.EqualizedConv2d(in_channels, out_channels, 3, padding=1), nn.LeakyReLU(0.2)]
    return layers + ([nn.PixelNorm()] if pixel_norm else [])


class ProgressiveGenerator(nn.Module):
    """z (N, latent_dim) -> (N, 1, 28, 28) in [-1, 1], grown 7 -> 14 -> 28 (module docstring).

    ``G(z)`` draws at the stage ``schedule`` gives for ``images_seen`` (reads the count from
    the device); ``G(z, level, alpha)`` at the stage given."""

    def __init__(self, latent_dim: int = 100, channels=(32, 16, 8), phase_images: int = 10_000):
        super().__init__()
        if len(channels) != len(RESOLUTIONS):
            raise ValueError(f"ProgressiveGenerator: channels must give one count per resolution {RESOLUTIONS}, "
                             f"got {channels!r}")
        self.latent_dim, self.schedule = latent_dim, GrowthSchedule(phase_images)
        c0 = channels[0]
        self.initial = nn.Sequential(  # the paper's 4x4 block: z -> dense -> 3x3 conv, here at 7x7
            nn.PixelNorm(), nn.EqualizedLinear(latent_dim, c0 * 49, gain=np.sqrt(2) / 7), nn.Unflatten(1, (c0, 7, 7)),
            nn.LeakyReLU(0.2), nn.PixelNorm(), *_conv_act(c0, c0, pixel_norm=True))
        self.blocks = nn.Sequential(*[
            nn.Sequential(nn.Upsample(scale_factor=2), *_conv_act(c_in, c_out, True), *_conv_act(c_out, c_out, True))
            for c_in, c_out in zip(channels[:-1], channels[1:])])
        self.to_image = nn.Sequential(*[nn.EqualizedConv2d(c, 1, 1, gain=1.0) for c in channels])
        self.register_buffer("images_seen", zeros((), dtype=np.int64))
        self._seen_cache = (None, 0)  # (images_seen's version, its value): the count without a device read

    def progress(self) -> tuple:
        """(level, alpha) at the count of images seen."""
        return self.schedule.at(self.seen())

    def seen(self) -> int:
        """``images_seen`` as an int, read from the device only after it was written elsewhere
        (load_state_dict)."""
        version, value = self._seen_cache
        if version != self.images_seen._version:
            value = int(self.images_seen.item())
            self._seen_cache = (self.images_seen._version, value)
        return value

    def count(self, images: int) -> None:
        """Add ``images`` to ``images_seen`` (a write to the device, no read)."""
        value = self.seen() + int(images)
        self.images_seen.array[...] = value
        self.images_seen._bump_version()
        self._seen_cache = (self.images_seen._version, value)

    def forward(self, z: Tensor, level: int = None, alpha: float = None) -> Tensor:
        if level is None:
            level, alpha = self.progress()
        x = self.initial(z)
        previous = x
        for block in list(self.blocks)[:level]:
            previous, x = x, block(x)
        image = self.to_image[level](x)
        if level > 0 and alpha < 1:
            old = _to_size(self.to_image[level - 1](previous), image.shape[-1])
            image = F.fade_in(old, image, alpha)
        return _to_size(F.tanh(image), RESOLUTIONS[-1])


class ProgressiveDiscriminator(nn.Module):
    """(N, 1, 28, 28) images -> (N, 1) logits, judged at the stage given: the input is pooled to
    the level's resolution, ``from_image`` (1x1 conv) makes features, each block (two 3x3 convs,
    then 2x2 average pooling) halves them down to 7 x 7, where a minibatch stddev map, a 3x3
    conv and two dense layers give the logit."""

    def __init__(self, channels=(32, 16, 8), group_size: int = 4):
        super().__init__()
        self.from_image = nn.Sequential(*[nn.Sequential(nn.EqualizedConv2d(1, c, 1), nn.LeakyReLU(0.2))
                                          for c in channels])
        # blocks[i] takes resolution i + 1 down to resolution i
        self.blocks = nn.Sequential(*[nn.Sequential(*_conv_act(c_in, c_in, False), *_conv_act(c_in, c_out, False))
                                      for c_out, c_in in zip(channels[:-1], channels[1:])])
        c0 = channels[0]
        self.final = nn.Sequential(MinibatchStdDev(group_size), *_conv_act(c0 + 1, c0, False), nn.Flatten(),
                                   nn.EqualizedLinear(c0 * 49, c0), nn.LeakyReLU(0.2),
                                   nn.EqualizedLinear(c0, 1, gain=1.0))

    def forward(self, x: Tensor, level: int = len(RESOLUTIONS) - 1, alpha: float = 1.0) -> Tensor:
        image = _pool_to(x, RESOLUTIONS[level])
        h = self.from_image[level](image)
        if level > 0:
            h = avg_pool2d(self.blocks[level - 1](h))
            if alpha < 1:
                old = self.from_image[level - 1](_pool_to(image, RESOLUTIONS[level - 1]))
                h = F.fade_in(old, h, alpha)
        for i in range(level - 1, 0, -1):
            h = avg_pool2d(self.blocks[i - 1](h))
        return self.final(h)


def blended_reals(real: Tensor, level: int, alpha: float) -> Tensor:
    """The real images as D sees them at this stage, at 28 x 28: pooled to the level's
    resolution and, during a fade, blended with the previous resolution as G's output is."""
    size = RESOLUTIONS[level]
    image = _pool_to(real, size)
    if level > 0 and alpha < 1:
        image = F.fade_in(_to_size(_pool_to(real, RESOLUTIONS[level - 1]), size), image, alpha)
    return _to_size(image, RESOLUTIONS[-1])


def progressive_step(G: ProgressiveGenerator, D: ProgressiveDiscriminator, g_optimizer, d_optimizer, real: Tensor,
                     game=NON_SATURATING) -> dict:
    """One D step and one G step at the stage ``G.images_seen`` gives, then the count goes up
    by the batch. Returns 0-d metrics, with the level and alpha of the step."""
    n, device = real.shape[0], real.device
    level, alpha = G.progress()
    with no_grad():
        fake = G(randn(n, G.latent_dim, device=device), level, alpha)
        real = blended_reals(real, level, alpha)
    real_out, fake_out = D(real, level, alpha), D(fake, level, alpha)
    d_loss = game.d_loss(real_out, fake_out)
    d_grad_norm = minimise(d_loss, list(D.parameters()), d_optimizer, allow_unused=True)

    g_loss = game.g_loss(D(G(randn(n, G.latent_dim, device=device), level, alpha), level, alpha))
    g_grad_norm = minimise(g_loss, list(G.parameters()), g_optimizer, allow_unused=True)
    G.count(n)
    with no_grad():
        scores = {"d_real": F.sigmoid(real_out).mean(), "d_fake": F.sigmoid(fake_out).mean()}
    return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach(), **scores,
            "d_grad_norm": d_grad_norm, "g_grad_norm": g_grad_norm,
            "level": full((), float(level), device=device), "alpha": full((), float(alpha), device=device)}
