"""CycleGAN (Zhu et al. 2017): translation between two image domains that come without pairs.

Two generators, G_AB: A -> B and G_BA: B -> A, and a discriminator per domain, D_A and D_B.
Each generator plays the LSGAN game against its domain's discriminator (its translations must
look like that domain), and the two together must be each other's inverse on the data:

    cycle loss  |G_BA(G_AB(a)) - a|_1 + |G_AB(G_BA(b)) - b|_1

which is what keeps a translation tied to its input (without it, G_AB could map every digit to
any one B-looking image). An optional identity loss, |G_AB(b) - b|_1 + |G_BA(a) - a|_1, asks
each generator to leave its own domain alone (the paper uses it to keep colours). The
discriminators learn from a pool of the last 50 translations rather than the newest batch
only (Shrivastava et al. 2017), which damps the two players' oscillations.

The models are the paper's, scaled down to 28 x 28 digits: a ResNet generator (a reflection-
padded convolution, two stride-2 convolutions down, residual blocks, two transposed
convolutions up, instance norm throughout) and a PatchGAN discriminator, whose 7 x 7 output
scores overlapping 18 x 18 patches of the image.

The digits' domains (:func:`to_domain_b`): A is MNIST; B is MNIST under a fixed transformation
T a person sees at once: ``invert``, the ink inverted (dark digits on white paper), or
``invert-rotate``, the ink inverted and the image turned a quarter turn counter-clockwise. The
scripts draw A and B from disjoint halves of the data, so no digit meets its own T(a), and
measure the translation with the shipped LeNet (:func:`label_preservation`): G_AB's output,
turned back by T's inverse, must still read as the input's digit.

The rotation is a change the paper's models do not learn: every layer of the generator is a
convolution, so it commutes with shifts (a digit moved right comes out moved right) where a
quarter turn does not (a digit moved right must come out moved up), and the PatchGAN judges
18 x 18 patches, in which an upright stroke looks much like a turned one. Trained on
``invert-rotate``, the generators invert the ink and leave the digit upright, so that once
turned back by T's inverse their translations read as the right digit about as often as
chance (bench/RESULTS.md): the failure on geometric changes that the paper reports in its
limitations section.
"""
from __future__ import annotations

import numpy as np

from .. import backend, nn
from .. import functional as F
from ..tensor import Tensor
from .img2img import accuracy, apply
from .models import dcgan_init_
from .scripts import Players
from .variants import minimise


# -- the two domains of digits ----------------------------------------------------------------------
TRANSFORMS = ("invert", "invert-rotate")


def to_domain_b(images: np.ndarray, transform: str = "invert") -> np.ndarray:
    """T of (N, 1, H, W) images in [-1, 1]: the ink inverted (x -> -x), and for ``invert-rotate``
    the image turned a quarter turn counter-clockwise too."""
    _check_transform(transform)
    turned = np.rot90(images, 1, axes=(2, 3)) if transform == "invert-rotate" else images
    return -np.ascontiguousarray(turned)


def from_domain_b(images: np.ndarray, transform: str = "invert") -> np.ndarray:
    """T's inverse: a quarter turn clockwise (``invert-rotate``) and the ink inverted back."""
    _check_transform(transform)
    turned = np.rot90(images, -1, axes=(2, 3)) if transform == "invert-rotate" else images
    return -np.ascontiguousarray(turned)


def _check_transform(transform: str) -> None:
    if transform not in TRANSFORMS:
        raise ValueError(f"cyclegan: transform must be one of {', '.join(TRANSFORMS)}, got {transform!r}")


# -- models -----------------------------------------------------------------------------------------
class ResidualBlock(nn.Module):
    """x + (reflection pad, 3x3 conv, instance norm, ReLU, reflection pad, 3x3 conv, instance norm)(x)."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), nn.InstanceNorm2d(channels), nn.ReLU(),
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), nn.InstanceNorm2d(channels))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """The paper's generator for (N, 1, 28, 28) images in [-1, 1], scaled down:

    reflection pad 2, conv 5x5 (1 -> w)                        28 x 28  (the paper: 7x7 on 256 x 256)
    ``downsamplings`` convs 3x3 stride 2, doubling the channels   14 x 14 (2w) for the default 1
    ``blocks`` residual blocks                                   14 x 14
    as many transposed convs 3x3 stride 2, halving them          28 x 28 (w)
    reflection pad 2, conv 5x5 (w -> 1), tanh                  28 x 28

    with instance norm and ReLU after every convolution but the last. The paper goes down twice
    from 128 or 256 pixels; from 28, once keeps a 14 x 14 map whose strokes the blocks can
    still follow (twice, to 7 x 7, the translations came out as other digits' strokes).
    """

    def __init__(self, width: int = 8, blocks: int = 3, downsamplings: int = 1):
        super().__init__()

        def down(cin, cout):
            return [nn.Conv2d(cin, cout, 3, 2, 1), nn.InstanceNorm2d(cout), nn.ReLU()]

        def up(cin, cout):
            return [nn.ConvTranspose2d(cin, cout, 3, 2, 1, 1), nn.InstanceNorm2d(cout), nn.ReLU()]

        widths = [width * 2 ** k for k in range(downsamplings + 1)]  # w, 2w, 4w, ...
        self.body = nn.Sequential(
            nn.ReflectionPad2d(2), nn.Conv2d(1, width, 5), nn.InstanceNorm2d(width), nn.ReLU(),
            *[layer for cin, cout in zip(widths, widths[1:]) for layer in down(cin, cout)],
            *[ResidualBlock(widths[-1]) for _ in range(blocks)],
            *[layer for cin, cout in zip(widths[:0:-1], widths[-2::-1]) for layer in up(cin, cout)],
            nn.ReflectionPad2d(2), nn.Conv2d(width, 1, 5), nn.Tanh())
        dcgan_init_(self)  # N(0, 0.02) weights, as the paper's code

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)


class PatchDiscriminator(nn.Module):
    """PatchGAN for (N, 1, 28, 28): conv 4x4 stride 2 (1 -> w), conv 4x4 stride 2 (w -> 2w) with
    instance norm, then a 3x3 conv to one score per 18 x 18 patch, (N, 1, 7, 7); LeakyReLU 0.2."""

    def __init__(self, width: int = 16):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, width, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 4, 2, 1), nn.InstanceNorm2d(2 * width), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * width, 1, 3, 1, 1))
        dcgan_init_(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)


class CycleGenerators(nn.Module):
    """G_AB (``ab``) and G_BA (``ba``): one module, so one optimizer and one state_dict hold both."""

    def __init__(self, width: int = 8, blocks: int = 3, downsamplings: int = 1):
        super().__init__()
        self.ab, self.ba = (ResnetGenerator(width, blocks, downsamplings) for _ in range(2))


class CycleDiscriminators(nn.Module):
    """D_A (``a``) and D_B (``b``)."""

    def __init__(self, width: int = 16):
        super().__init__()
        self.a, self.b = PatchDiscriminator(width), PatchDiscriminator(width)


# -- the image pool -----------------------------------------------------------------------------------
class ImagePool:
    """The last ``size`` translations D has been shown (Shrivastava et al. 2017; CycleGAN's size 50).

    :meth:`query` takes a batch of new fakes and returns the batch D trains on: while the pool
    fills, the new images themselves (and they are stored); once it is full, each new image
    is, with probability 1/2, swapped for a random stored one (which D sees instead, the new
    one taking its place). The batch is handled in array ops; two swaps that draw the same
    stored image both see it, and one of the two new images replaces it. Random numbers come
    from minigan's generator of the images' device, so a checkpoint's random state covers them.
    """

    def __init__(self, size: int = 50):
        self.size, self.images = size, None  # images: a (stored, C, H, W) Tensor, or None while empty

    def query(self, fakes: Tensor) -> Tensor:
        fakes = fakes.detach()
        if self.size == 0:
            return fakes
        stored = 0 if self.images is None else self.images.shape[0]
        room = min(self.size - stored, fakes.shape[0])
        if room:
            kept = fakes[:room]
            self.images = kept if self.images is None else F.concatenate([self.images, kept])
        rest = fakes[room:]
        if rest.shape[0] == 0:
            return fakes
        return F.concatenate([fakes[:room], self._swap(rest)])

    def _swap(self, fakes: Tensor) -> Tensor:
        """Each of ``fakes`` swapped, with probability 1/2, for a random stored image."""
        n, device, xp = fakes.shape[0], fakes.device, fakes.device.xp
        swap = backend.uniform((n,), fakes.dtype, device) < 0.5
        picks = backend.integers(0, self.size, (n,), device)
        old = self.images.array[picks]
        shown = xp.where(swap.reshape((n,) + (1,) * (fakes.ndim - 1)), old, fakes.array)
        pool = self.images.array.copy()
        pool[picks[swap]] = fakes.array[swap]  # the swapped-out new images take the old ones' places
        self.images = Tensor(pool)
        return Tensor(shown)

    def state_dict(self) -> dict:
        empty = Tensor(np.zeros((0, 1, 1, 1), dtype=np.float32))
        return {"size": self.size, "images": self.images if self.images is not None else empty}

    def load_state_dict(self, state: dict, device) -> None:
        self.size = int(state["size"])
        images = state["images"]
        self.images = images.to(device) if images.shape[0] else None


class CyclePlayers(Players):
    """CycleGAN's players: both generators as G, both discriminators as D, and the two image
    pools, which a checkpoint saves too (a resumed run shows D the same past fakes)."""

    def __init__(self, generators, discriminators, g_optimizer, d_optimizer, pool_size: int = 50, **fixed):
        super().__init__(generators, discriminators, g_optimizer, d_optimizer, **fixed)
        self.pools = {"a": ImagePool(pool_size), "b": ImagePool(pool_size)}

    def state_dict(self) -> dict:
        return {**super().state_dict(), "pools": {k: pool.state_dict() for k, pool in self.pools.items()}}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        device = next(self.G.parameters()).device
        for k, pool in self.pools.items():
            pool.load_state_dict(state["pools"][k], device)


# -- one training step --------------------------------------------------------------------------------
def _squared_error_to(scores: Tensor, target: float) -> Tensor:
    """LSGAN: mean (score - target)^2 over every patch score."""
    return ((scores - target) ** 2).mean()


def cyclegan_step(players: CyclePlayers, real_a: Tensor, real_b: Tensor, cycle_weight: float = 10.0,
                  identity_weight: float = 0.0) -> dict:
    """One step of both generators, then one of both discriminators, as the paper's code does.

    Generators: LSGAN (D_B(G_AB(a)) and D_A(G_BA(b)) pushed to 1) + cycle_weight x cycle loss +
    identity_weight x cycle_weight x identity loss (the paper: identity_weight 0.5, or 0).
    Discriminators: 1/2 [(D(real) - 1)^2 + D(pooled fake)^2] each. Returns 0-d metrics."""
    G, D = players.G, players.D
    fake_b, fake_a = G.ab(real_a), G.ba(real_b)
    adversarial = _squared_error_to(D.b(fake_b), 1.0) + _squared_error_to(D.a(fake_a), 1.0)
    cycle = F.l1_loss(G.ba(fake_b), real_a) + F.l1_loss(G.ab(fake_a), real_b)
    g_loss = adversarial + cycle_weight * cycle
    metrics = {}
    if identity_weight:
        identity = F.l1_loss(G.ab(real_b), real_b) + F.l1_loss(G.ba(real_a), real_a)
        g_loss = g_loss + identity_weight * cycle_weight * identity
        metrics["identity"] = identity.detach()
    g_grad_norm = minimise(g_loss, list(G.parameters()), players.g_optimizer)

    d_losses = []
    for name, real, fake in (("a", real_a, fake_a), ("b", real_b, fake_b)):
        critic = getattr(D, name)
        pooled = players.pools[name].query(fake)
        d_losses.append(0.5 * (_squared_error_to(critic(real), 1.0) + _squared_error_to(critic(pooled), 0.0)))
    d_loss = d_losses[0] + d_losses[1]
    d_grad_norm = minimise(d_loss, list(D.parameters()), players.d_optimizer)
    return {"g_loss": g_loss.detach(), "d_loss": d_loss.detach(), "adversarial": adversarial.detach(),
            "cycle": cycle.detach(), "d_a": d_losses[0].detach(), "d_b": d_losses[1].detach(), **metrics,
            "g_grad_norm": g_grad_norm, "d_grad_norm": d_grad_norm}


# -- measuring a trained pair ---------------------------------------------------------------------------
def label_preservation(generators: CycleGenerators, images: np.ndarray, labels: np.ndarray, device="cpu",
                       transform: str = "invert") -> dict:
    """How often a translation keeps the digit, in the shipped classifier's eyes, for held-out
    digits: ``a_to_b_accuracy`` classifies T^-1(G_AB(a)); ``b_to_a_accuracy`` classifies
    G_BA(T(a)) (the same digits, sent through B); ``cycle_l1`` is the mean |G_BA(G_AB(a)) - a|."""
    to_b = apply(generators.ab, images, device=device)
    back = apply(generators.ba, to_b, device=device)
    from_b = apply(generators.ba, to_domain_b(images, transform), device=device)
    return {"a_to_b_accuracy": accuracy(from_domain_b(to_b, transform), labels, device),
            "b_to_a_accuracy": accuracy(from_b, labels, device),
            "cycle_l1": float(np.mean(np.abs(back - images)))}


def translation_grid(generators: CycleGenerators, a: np.ndarray, b: np.ndarray, device="cpu") -> np.ndarray:
    """Six rows of images for a figure: A inputs, G_AB(a), G_BA(G_AB(a)); B inputs, G_BA(b), G_AB(G_BA(b))."""
    to_b, to_a = apply(generators.ab, a, device=device), apply(generators.ba, b, device=device)
    return np.concatenate([a, to_b, apply(generators.ba, to_b, device=device),
                           b, to_a, apply(generators.ab, to_a, device=device)])
