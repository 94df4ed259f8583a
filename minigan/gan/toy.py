"""Toy games that show GAN theory at a glance: mixtures of Gaussians and how to score a
generator on them.

The 2-D benchmarks are those of the mode-collapse literature (Metz et al. 2017, Unrolled GANs;
Srivastava et al. 2017, VEEGAN; Lin et al. 2018, PacGAN):

- the *ring*: 8 Gaussians with centres evenly spaced on a circle of radius 1, std 0.01;
- the *grid*: 25 Gaussians with centres at {-4, -2, 0, 2, 4}^2 (spacing 2), std 0.05.

Each component has the same weight. :func:`mode_coverage` scores a batch of generated samples
the way VEEGAN and PacGAN do (their 2,500 samples, "3 standard deviations" rule).

Also here, for examples/toy1d_gan.py and examples/toy2d_gan.py: :func:`toy_mlp` (the small
ReLU nets of those papers), :func:`decay_learning_rate`, :class:`Affine` (a fixed scale and
shift), :class:`UniformNoiseTrainer` (z ~ U[0, 1), as in Goodfellow et al.'s Fig. 1) and
:class:`Packed`, PacGAN's remedy for mode collapse (the discriminator judges m samples at once).
"""
from __future__ import annotations

import numpy as np

from .. import nn
from ..creation import rand
from ..tensor import Tensor
from .trainer import GANTrainer

HIGH_QUALITY_STDS = 3.0  # VEEGAN / PacGAN: "within three standard deviations" of a mode


def _generator(rng) -> np.random.Generator:
    """``rng`` as a NumPy Generator: a Generator is used as is; None or an int seeds a new one."""
    return np.random.default_rng(rng)


def ring_centers(modes: int = 8, radius: float = 1.0) -> np.ndarray:
    """(modes, 2) centres evenly spaced on a circle: radius * (cos 2 pi k/modes, sin 2 pi k/modes)."""
    if modes < 1 or radius <= 0:
        raise ValueError(f"ring_centers: need modes >= 1 and radius > 0, got modes={modes}, radius={radius}")
    angles = 2.0 * np.pi * np.arange(modes) / modes
    return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def grid_centers(side: int = 5, spacing: float = 2.0) -> np.ndarray:
    """(side**2, 2) centres of a square grid centred on 0; side=5, spacing=2 gives {-4,-2,0,2,4}^2."""
    if side < 1 or spacing <= 0:
        raise ValueError(f"grid_centers: need side >= 1 and spacing > 0, got side={side}, spacing={spacing}")
    axis = spacing * (np.arange(side) - (side - 1) / 2.0)
    xs, ys = np.meshgrid(axis, axis, indexing="ij")
    return np.stack([xs.ravel(), ys.ravel()], axis=1)


def mixture_sample(n: int, centers: np.ndarray, std: float, rng=None, dtype=np.float32) -> np.ndarray:
    """n samples of the equal-weight mixture of N(center, std^2 I) over the rows of ``centers``."""
    if n < 0 or std < 0:
        raise ValueError(f"mixture_sample: need n >= 0 and std >= 0, got n={n}, std={std}")
    rng = _generator(rng)
    centers = np.asarray(centers, dtype=np.float64)
    component = rng.integers(len(centers), size=n)  # each mode with probability 1/len(centers)
    samples = centers[component] + std * rng.standard_normal((n, centers.shape[1]))
    return samples.astype(dtype)


def ring_of_gaussians(n: int, modes: int = 8, radius: float = 1.0, std: float = 0.01, rng=None,
                      dtype=np.float32) -> np.ndarray:
    """n samples (n, 2) of the ring: ``modes`` Gaussians of std ``std`` on a circle of ``radius``
    (VEEGAN's ring: 8 modes, radius 1, std 0.01). ``rng``: a NumPy Generator, a seed or None."""
    return mixture_sample(n, ring_centers(modes, radius), std, rng, dtype)


def grid_of_gaussians(n: int, side: int = 5, spacing: float = 2.0, std: float = 0.05, rng=None,
                      dtype=np.float32) -> np.ndarray:
    """n samples (n, 2) of the grid: side x side Gaussians of std ``std``, ``spacing`` apart,
    centred on 0 (VEEGAN's and PacGAN's grid: 5 x 5 at {-4, -2, 0, 2, 4}^2, std 0.05)."""
    return mixture_sample(n, grid_centers(side, spacing), std, rng, dtype)


def nearest_mode(samples, centers) -> tuple:
    """(index, distance) of the nearest centre to each sample, by Euclidean distance."""
    samples = np.asarray(samples, dtype=np.float64)
    centers = np.asarray(centers, dtype=np.float64)
    if samples.ndim != 2 or centers.ndim != 2 or samples.shape[1] != centers.shape[1]:
        raise ValueError(f"nearest_mode: samples {samples.shape} and centers {centers.shape} must be "
                         "(n, d) and (k, d) with the same d")
    distances = np.linalg.norm(samples[:, None, :] - centers[None, :, :], axis=2)  # (n, k)
    index = distances.argmin(axis=1)
    return index, distances[np.arange(len(samples)), index]


def mode_coverage(samples, centers, std: float) -> tuple:
    """(modes covered, fraction of high-quality samples), as defined by VEEGAN (Srivastava et al.
    2017, Sec. 5.1) and PacGAN (Lin et al. 2018, Sec. 5):

    - a sample is *high quality* if it lies within three standard deviations of its nearest
      mode: ``||x - c_nearest|| <= 3 * std``. The boundary counts as inside (``<=``);
    - a mode is *covered* if it is the nearest mode of at least one high-quality sample.

    The papers score 2,500 samples. Distances are Euclidean in float64; ``std`` is the
    per-coordinate standard deviation of each (isotropic) mixture component.
    """
    if not std > 0:
        raise ValueError(f"mode_coverage: std must be > 0, got {std}")
    index, distance = nearest_mode(samples, centers)
    if len(distance) == 0:
        return 0, 0.0
    high_quality = distance <= HIGH_QUALITY_STDS * std
    return int(np.unique(index[high_quality]).size), float(high_quality.mean())


def toy_mlp(in_features: int, out_features: int, hidden: int = 128, layers: int = 2) -> nn.Module:
    """The fully connected nets of the toy literature: ``layers`` hidden ReLU layers of width
    ``hidden`` (G: z -> 128 -> 128 -> 2 and D: 2 -> 128 -> 128 -> 1 with the defaults)."""
    if layers < 1 or hidden < 1:
        raise ValueError(f"toy_mlp: need layers >= 1 and hidden >= 1, got layers={layers}, hidden={hidden}")
    body = [nn.Linear(in_features, hidden), nn.ReLU()]
    for _ in range(layers - 1):
        body += [nn.Linear(hidden, hidden), nn.ReLU()]
    return nn.Sequential(*body, nn.Linear(hidden, out_features))


def decay_learning_rate(optimizer, base_lr: float, progress: float, final_fraction: float = 0.0) -> float:
    """Linear decay: set every group's lr to base_lr * (1 - progress * (1 - final_fraction)),
    where progress in [0, 1] is the fraction of training done. Returns the lr set.
    Annealing the step size lets the players settle instead of circling the equilibrium."""
    lr = base_lr * (1.0 - min(max(progress, 0.0), 1.0) * (1.0 - final_fraction))
    for group in optimizer.param_groups:
        group["lr"] = lr
    return lr


class Affine(nn.Module):
    """A fixed (not trained) elementwise map y = scale * x + shift. Lets a toy net work in
    standardised units while its inputs or outputs are in data units, as image GANs scale
    pixels to [-1, 1]: Affine(1 / std, -mean / std) standardises, Affine(std, mean) undoes it."""

    def __init__(self, scale: float, shift: float):
        super().__init__()
        self.scale, self.shift = float(scale), float(shift)

    def forward(self, x: Tensor) -> Tensor:
        return x * self.scale + self.shift

    def extra_repr(self) -> str:
        return f"scale={self.scale:g}, shift={self.shift:g}"


class UniformNoiseTrainer(GANTrainer):
    """A :class:`GANTrainer` whose noise is z ~ U[0, 1)^latent_dim instead of N(0, I),
    as in the 1-D picture of Goodfellow et al. (2014), Fig. 1."""

    def sample_z(self, n: int) -> Tensor:
        return rand(n, self.latent_dim, device=self.device)


class Packed(nn.Module):
    """PacGAN's packing (Lin et al. 2018): the discriminator judges ``pack`` samples at once.

    A batch (B, d) becomes (B / pack, pack * d) before ``discriminator``, which must take
    pack * d inputs, so it returns one logit per group of ``pack`` samples. A generator that
    drops modes makes groups that look alike, which a packed discriminator can see.
    """

    def __init__(self, discriminator: nn.Module, pack: int):
        super().__init__()
        if pack < 1:
            raise ValueError(f"Packed: pack must be >= 1, got {pack}")
        self.discriminator = discriminator
        self.pack = pack

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 2 or x.shape[0] % self.pack:
            raise ValueError(f"Packed: input of shape {x.shape} must be (B, d) with B divisible by "
                             f"pack={self.pack}")
        return self.discriminator(x.reshape(x.shape[0] // self.pack, self.pack * x.shape[1]))

    def extra_repr(self) -> str:
        return f"pack={self.pack}"
