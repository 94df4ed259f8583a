"""Restoring digits with and without a discriminator: inpainting (Context Encoders, Pathak et
al. 2016) and super-resolution (SRGAN, Ledig et al. 2017).

Both games compare two copies of one generator, trained side by side on the same batches:

- ``plain`` minimises a content loss alone: the squared error to the original (in the hole,
  for inpainting). Where the input leaves the answer open (which stroke crosses the hole?
  where exactly is the edge between two coarse pixels?), the mean squared error is smallest
  for the *average* of the possible answers: a blur.
- ``adversarial`` minimises the same content loss plus ``adversarial_weight`` times the
  non-saturating GAN loss of a discriminator that tells its outputs from real digits. A blur
  is easy to tell from a digit, so it is pushed towards one sharp answer, at some cost in
  squared error (PSNR).

:func:`restoration_step` plays one step of both (and of the discriminator, which only ever
sees the adversarial copy's outputs). The models are small DCGAN-style networks:

- :class:`ContextEncoder`: the masked digit and its mask (2 channels) are encoded down to one
  vector (convolutions 28 -> 14 -> 7 -> 1 x 1, so every output pixel sees the whole input), and
  decoded back up to 28 x 28; only the hole is taken from its output (:func:`fill_hole`).
- :class:`SuperResolver`: 14 x 14 -> 28 x 28, residual blocks at 14 x 14 and then one
  upsampling, by pixel shuffle (a convolution to 4 C channels, shuffled to C channels of twice
  the size: ESPCN, as SRGAN) or by resize-convolution (nearest upsampling, then a convolution).
"""
from __future__ import annotations

import numpy as np

from .. import backend, nn
from .. import functional as F
from ..autograd import no_grad
from ..classifier import avg_pool2d
from ..tensor import Tensor
from .losses import minimax_d_loss, non_saturating_g_loss
from .models import dcgan_init_
from .variants import discriminator_body, minimise

IMAGE_SIZE = 28


# -- the damage: holes and low resolution -----------------------------------------------------------
def center_mask(n: int, hole: int = 12, size: int = IMAGE_SIZE) -> np.ndarray:
    """(n, 1, size, size) float32 masks, 1 in the central ``hole`` x ``hole`` square, else 0."""
    mask = np.zeros((n, 1, size, size), dtype=np.float32)
    start = (size - hole) // 2
    mask[:, :, start:start + hole, start:start + hole] = 1
    return mask


def square_masks(corners, hole: int = 12, size: int = IMAGE_SIZE):
    """Masks with one ``hole`` x ``hole`` square each, its top-left corner at ``corners`` (n, 2)
    (an array on the masks' device): 1 inside, 0 outside, (n, 1, size, size) float32."""
    xp = backend.array_module(corners)
    steps = xp.arange(size).reshape(1, size)
    rows = (steps >= corners[:, :1]) & (steps < corners[:, :1] + hole)  # (n, size)
    cols = (steps >= corners[:, 1:]) & (steps < corners[:, 1:] + hole)
    return (rows[:, None, :, None] & cols[:, None, None, :]).astype(np.float32)


def random_masks(n: int, hole: int, device, size: int = IMAGE_SIZE) -> Tensor:
    """One square hole per image, anywhere inside it, from minigan's generator on ``device``."""
    corners = backend.integers(0, size - hole + 1, (n, 2), backend.Device(device))
    return Tensor(square_masks(corners, hole, size))


def held_out_masks(n: int, hole: int, kind: str, seed: int = 0) -> np.ndarray:
    """The evaluation's masks: central ones, or random squares from a fixed NumPy seed (so
    every evaluation, and every run, scores the same holes)."""
    if kind == "center":
        return center_mask(n, hole)
    corners = np.random.default_rng(seed).integers(0, IMAGE_SIZE - hole + 1, (n, 2))
    return square_masks(corners, hole)


def with_hole(images, masks):
    """The generator's input: the image with the hole set to 0 (mid-grey in [-1, 1]) and the
    mask beside it, (N, 2, H, W). Works on Tensors and on NumPy arrays."""
    if isinstance(images, Tensor):
        return F.concatenate([images * (1.0 - masks), masks], axis=1)
    return np.concatenate([images * (1 - masks), masks], axis=1).astype(np.float32)


def fill_hole(images, masks, output):
    """The completion: ``output`` inside the hole, the known pixels elsewhere."""
    return images * (1.0 - masks) + output * masks


def downsample(images):
    """28 x 28 -> 14 x 14 by averaging each 2 x 2 block (Tensors or NumPy arrays)."""
    if isinstance(images, Tensor):
        return avg_pool2d(images, 2)
    n, c, h, w = images.shape
    return images.reshape(n, c, h // 2, 2, w // 2, 2).mean(axis=(3, 5)).astype(np.float32)


# -- models -----------------------------------------------------------------------------------------
class ContextEncoder(nn.Module):
    """(N, 2, 28, 28) (image with hole, mask) -> (N, 1, 28, 28) in [-1, 1]:

    conv 4x4 stride 2 (2 -> w), conv 4x4 stride 2 (w -> 2w), conv 7x7 (2w -> 4w): a 1 x 1 code
    transposed conv 7x7 (4w -> 2w), 4x4 stride 2 (2w -> w), 4x4 stride 2 (w -> 1), tanh

    with batch norm and LeakyReLU 0.2 (encoder) or ReLU (decoder) between."""

    def __init__(self, width: int = 16):
        super().__init__()
        w = width
        self.encoder = nn.Sequential(
            nn.Conv2d(2, w, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(w, 2 * w, 4, 2, 1), nn.BatchNorm2d(2 * w), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * w, 4 * w, 7), nn.BatchNorm2d(4 * w), nn.LeakyReLU(0.2))
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(4 * w, 2 * w, 7), nn.BatchNorm2d(2 * w), nn.ReLU(),
            nn.ConvTranspose2d(2 * w, w, 4, 2, 1), nn.BatchNorm2d(w), nn.ReLU(),
            nn.ConvTranspose2d(w, 1, 4, 2, 1), nn.Tanh())
        dcgan_init_(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.decoder(self.encoder(x))


class _ResidualBlock(nn.Module):
    """x + (conv 3x3, batch norm, ReLU, conv 3x3, batch norm)(x): SRGAN's block."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, 1, 1), nn.BatchNorm2d(channels), nn.ReLU(),
            nn.Conv2d(channels, channels, 3, 1, 1), nn.BatchNorm2d(channels))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


UPSAMPLERS = ("pixel-shuffle", "resize-conv")


class SuperResolver(nn.Module):
    """(N, 1, 14, 14) -> (N, 1, 28, 28) in [-1, 1], SRGAN's generator scaled down:

    conv 3x3 (1 -> w), ReLU; ``blocks`` residual blocks, plus the head's output (a long skip)
    upsampling x2: conv 3x3 (w -> 4w) + pixel shuffle, or nearest x2 + conv 3x3 (w -> w); ReLU
    conv 3x3 (w -> 1), tanh
    """

    def __init__(self, width: int = 16, blocks: int = 2, upsample: str = "pixel-shuffle"):
        super().__init__()
        if upsample not in UPSAMPLERS:
            raise ValueError(f"SuperResolver: upsample must be one of {', '.join(UPSAMPLERS)}, got {upsample!r}")
        w = width
        self.head = nn.Sequential(nn.Conv2d(1, w, 3, 1, 1), nn.ReLU())
        self.blocks = nn.Sequential(*[_ResidualBlock(w) for _ in range(blocks)])
        if upsample == "pixel-shuffle":
            self.upsample = nn.Sequential(nn.Conv2d(w, 4 * w, 3, 1, 1), nn.PixelShuffle(2), nn.ReLU())
        else:
            self.upsample = nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(w, w, 3, 1, 1), nn.ReLU())
        self.tail = nn.Sequential(nn.Conv2d(w, 1, 3, 1, 1), nn.Tanh())
        dcgan_init_(self)

    def forward(self, x: Tensor) -> Tensor:
        features = self.head(x)
        return self.tail(self.upsample(features + self.blocks(features)))


class ImageDiscriminator(nn.Module):
    """DCGAN's discriminator for (N, 1, 28, 28): two stride-2 convolutions, one logit."""

    def __init__(self, width: int = 16):
        super().__init__()
        self.body = discriminator_body(1, width)
        self.head = nn.Linear(2 * width * 7 * 7, 1)
        dcgan_init_(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.body(x))


class TwinGenerators(nn.Module):
    """Two copies of one generator architecture: ``plain`` (content loss only) and
    ``adversarial`` (content + GAN loss), each with its own initial weights."""

    def __init__(self, make):
        super().__init__()
        self.plain, self.adversarial = make(), make()


# -- one training step --------------------------------------------------------------------------------
def restoration_step(players, inputs: Tensor, real: Tensor, restore, content_loss,
                     adversarial_weight: float) -> dict:
    """One D step (real digits against the adversarial copy's restorations, made under
    ``no_grad``), then one step of both generators: ``plain`` on ``content_loss`` alone,
    ``adversarial`` on the same content loss + ``adversarial_weight`` x the non-saturating
    GAN loss. ``restore(generator, inputs)`` is a generator's restoration of the batch (the
    completion, the upscaled image); ``content_loss(restored, real)``. Returns 0-d metrics."""
    G, D = players.G, players.D
    with no_grad():
        fake = restore(G.adversarial, inputs)
    real_out, fake_out = D(real), D(fake)
    d_loss = minimax_d_loss(real_out, fake_out)
    d_grad_norm = minimise(d_loss, list(D.parameters()), players.d_optimizer)

    plain = content_loss(restore(G.plain, inputs), real)
    restored = restore(G.adversarial, inputs)
    content = content_loss(restored, real)
    game = non_saturating_g_loss(D(restored))
    # each copy's gradient comes from its own terms only: one optimizer over both steps each on its own loss
    g_loss = plain + content + adversarial_weight * game
    g_grad_norm = minimise(g_loss, list(G.parameters()), players.g_optimizer)
    with no_grad():
        scores = {"d_real": F.sigmoid(real_out).mean(), "d_fake": F.sigmoid(fake_out).mean()}
    return {"d_loss": d_loss.detach(), "plain_content": plain.detach(), "content": content.detach(),
            "g_game": game.detach(), **scores, "d_grad_norm": d_grad_norm, "g_grad_norm": g_grad_norm}


def masked_mse(masks: Tensor):
    """Inpainting's content loss: the mean squared error over the hole's pixels only."""
    def loss(restored: Tensor, real: Tensor) -> Tensor:
        return (((restored - real) * masks) ** 2).sum() / masks.sum()
    return loss
