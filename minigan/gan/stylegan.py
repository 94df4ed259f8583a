"""A style-based generator for 28 x 28 digits (Karras et al. 2019, "A Style-Based Generator
Architecture for GANs"), with style mixing.

The generator does not take z at its input. A mapping network turns z into w; the synthesis
network starts from a learned constant 7 x 7 tensor and, after each of its six convolutional
layers (two at 7 x 7, two at 14 x 14, two at 28 x 28), re-styles the features with AdaIN: a
learned affine map of w gives each channel a scale and a shift. AdaIN first standardises every
feature map, so each layer's style overrides whatever statistics the layer before it set: one
style controls one layer. Feeding *different* w's to different layers (``styles``: one w per
layer) mixes two samples: the coarse layers' styles from one, the fine layers' from another.

Mixing regularisation (:func:`mixed_styles`, used in training): for a share of the samples,
two z's are drawn and the layers after a random crossover get the second one's w. The
generator can then not assume that neighbouring layers' styles belong together, which keeps
the styles local: the coarse layers come to set the digit and its pose, the fine ones the
stroke.
"""
from __future__ import annotations

import numpy as np

from .. import backend, nn
from .. import functional as F
from ..autograd import no_grad
from ..creation import rand, randn
from ..tensor import Tensor
from .losses import get_loss
from .variants import minimise

RESOLUTIONS = (7, 14, 28)
LAYERS_PER_RESOLUTION = 2


class StyleLayer(nn.Module):
    """One synthesis layer: [nearest upsample x2] -> [3x3 equalised conv -> LeakyReLU(0.2)]
    -> [noise] -> AdaIN(w). The first layer of all (on the constant) has no conv."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, upsample: bool = False,
                 conv: bool = True, noise: bool = True):
        super().__init__()
        self.upsample = nn.Upsample(scale_factor=2) if upsample else None
        self.conv = nn.EqualizedConv2d(in_channels, out_channels, 3, padding=1) if conv else None
        self.noise = nn.NoiseInput(out_channels) if noise else None
        self.adain = nn.AdaIN(out_channels, w_dim)

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        if self.upsample is not None:
            x = self.upsample(x)
        if self.conv is not None:
            x = F.leaky_relu(self.conv(x), 0.2)
        if self.noise is not None:
            x = self.noise(x)
        return self.adain(x, w)


class StyleGenerator(nn.Module):
    """z (N, latent_dim) -> images (N, 1, 28, 28) in [-1, 1] (see the module docstring).

    ``channels``: the feature maps at 7, 14 and 28 pixels; ``noise``: per-pixel noise inputs
    (False: none, the output is a function of w alone). ``G(z)`` uses one w for every layer;
    ``G.synthesis(styles)`` takes one w per layer, (N, num_styles, w_dim)."""

    def __init__(self, latent_dim: int = 64, w_dim: int = 64, channels=(64, 32, 16), mapping_layers: int = 4,
                 noise: bool = True):
        super().__init__()
        if len(channels) != len(RESOLUTIONS):
            raise ValueError(f"StyleGenerator: channels must give one count per resolution {RESOLUTIONS}, "
                             f"got {channels!r}")
        self.latent_dim, self.w_dim = latent_dim, w_dim
        self.mapping = nn.MappingNetwork(latent_dim, w_dim, mapping_layers)
        self.const = nn.ConstantInput(channels[0], RESOLUTIONS[0])
        layers, previous = [], channels[0]
        for level, width in enumerate(channels):
            for k in range(LAYERS_PER_RESOLUTION):
                first = k == 0
                layers.append(StyleLayer(previous, width, w_dim, upsample=first and level > 0,
                                         conv=not (first and level == 0), noise=noise))
                previous = width
        self.layers = nn.Sequential(*layers)
        self.to_image = nn.EqualizedConv2d(previous, 1, 1, gain=1.0)

    @property
    def num_styles(self) -> int:
        """One style input per synthesis layer."""
        return len(self.layers)

    def synthesis(self, styles: Tensor) -> Tensor:
        """Images from one w per layer: ``styles`` (N, num_styles, w_dim)."""
        if not isinstance(styles, Tensor) or styles.ndim != 3 or styles.shape[1:] != (self.num_styles, self.w_dim):
            shape = styles.shape if isinstance(styles, Tensor) else type(styles).__name__
            raise ValueError(f"StyleGenerator.synthesis: expected styles (N, {self.num_styles}, {self.w_dim}), "
                             f"got {shape}")
        x = self.const(styles.shape[0])
        for i, layer in enumerate(self.layers):
            x = layer(x, styles[:, i])
        return F.tanh(self.to_image(x))

    def broadcast(self, w: Tensor) -> Tensor:
        """(N, w_dim) -> (N, num_styles, w_dim): the same w for every layer."""
        return F.broadcast_to(w.unsqueeze(1), (w.shape[0], self.num_styles, self.w_dim))

    def forward(self, z: Tensor) -> Tensor:
        return self.synthesis(self.broadcast(self.mapping(z)))

    def mix(self, z_coarse: Tensor, z_fine: Tensor, crossover: int) -> Tensor:
        """Images whose first ``crossover`` layers are styled by z_coarse's w, the rest by z_fine's."""
        if not 0 <= crossover <= self.num_styles:
            raise ValueError(f"StyleGenerator.mix: crossover must be in 0..{self.num_styles}, got {crossover}")
        coarse, fine = self.broadcast(self.mapping(z_coarse)), self.broadcast(self.mapping(z_fine))
        return self.synthesis(F.concatenate([coarse[:, :crossover], fine[:, crossover:]], axis=1))


def mixed_styles(G: StyleGenerator, n: int, mixing: float, device) -> Tensor:
    """Styles (n, num_styles, w_dim) for training with mixing regularisation: each sample gets
    w1 = mapping(z1); with probability ``mixing`` the layers from a crossover k drawn uniformly
    from 1 .. num_styles - 1 get w2 = mapping(z2) instead (two z's, one sample)."""
    w1 = G.broadcast(G.mapping(randn(n, G.latent_dim, device=device)))
    if mixing <= 0:
        return w1
    w2 = G.broadcast(G.mapping(randn(n, G.latent_dim, device=device)))
    xp = backend.Device(device).xp
    u = rand(n, device=device).array  # which samples mix, and where
    crossover = xp.where(u < mixing, 1 + xp.floor(u / mixing * (G.num_styles - 1)), G.num_styles)
    second = xp.arange(G.num_styles).reshape(1, -1, 1) >= crossover.reshape(-1, 1, 1)  # (n, L, 1)
    return F.where(Tensor(second), w2, w1)


NON_SATURATING = get_loss("non-saturating")


def style_gan_step(G: StyleGenerator, D, g_optimizer, d_optimizer, real: Tensor, mixing: float = 0.9,
                   game=NON_SATURATING) -> dict:
    """One D step on ``real`` and fakes made with mixed styles under no_grad, then one G step
    (fresh mixed styles; only G's parameters get gradients). Returns 0-d metrics."""
    n, device = real.shape[0], real.device
    with no_grad():
        fake = G.synthesis(mixed_styles(G, n, mixing, device))
    real_out, fake_out = D(real), D(fake)
    d_loss = game.d_loss(real_out, fake_out)
    d_grad_norm = minimise(d_loss, list(D.parameters()), d_optimizer)

    g_loss = game.g_loss(D(G.synthesis(mixed_styles(G, n, mixing, device))))
    g_grad_norm = minimise(g_loss, list(G.parameters()), g_optimizer)
    with no_grad():
        scores = {"d_real": F.sigmoid(real_out).mean(), "d_fake": F.sigmoid(fake_out).mean()}
    return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach(), **scores,
            "d_grad_norm": d_grad_norm, "g_grad_norm": g_grad_norm}


def mixing_grid(G: StyleGenerator, z_rows: Tensor, z_columns: Tensor, crossover: int) -> np.ndarray:
    """The style-mixing figure as images for ``save_grid(..., nrow=columns + 1)``: the top row
    holds the column sources B (after a blank corner), the left column the row sources A, and
    cell (a, b) the image with A's coarse styles (the first ``crossover`` layers) and B's fine
    ones. G in eval mode, under no_grad; noise is drawn fresh for each image."""
    rows, columns = z_rows.shape[0], z_columns.shape[0]
    was_training = G.training
    G.eval()
    try:
        with no_grad():
            a, b = G(z_rows).numpy(), G(z_columns).numpy()
            z_a = F.broadcast_to(z_rows.unsqueeze(1), (rows, columns, G.latent_dim)).reshape(rows * columns, -1)
            z_b = F.broadcast_to(z_columns.unsqueeze(0), (rows, columns, G.latent_dim)).reshape(rows * columns, -1)
            cells = G.mix(z_a, z_b, crossover).numpy().reshape(rows, columns, 1, 28, 28)
    finally:
        G.train(was_training)
    blank = -np.ones((1, 1, 28, 28), dtype=a.dtype)
    lines = [np.concatenate([blank, b])]
    lines += [np.concatenate([a[i:i + 1], cells[i]]) for i in range(rows)]
    return np.concatenate(lines)


def mixing_agreement(G: StyleGenerator, classifier, pairs: int, crossover: int, seed: int, device="cpu",
                     batch: int = 250) -> dict:
    """Whose digit does a mix show? For ``pairs`` random (z_A, z_B) (NumPy generator ``seed``),
    the classifier names the digits of G(z_A), G(z_B) and of the mix with A's coarse styles
    (first ``crossover`` layers) and B's fine ones. Over the pairs whose two sources it names
    differently: ``coarse_share``, the fraction of mixes named as A (the coarse source), and
    ``fine_share``, named as B; ``pairs_used`` counts them. Noise inputs draw fresh noise."""
    rng = np.random.default_rng(seed)
    z_a = rng.standard_normal((pairs, G.latent_dim)).astype(np.float32)
    z_b = rng.standard_normal((pairs, G.latent_dim)).astype(np.float32)
    was_training = G.training
    G.eval()
    labels = {"a": [], "b": [], "mix": []}
    try:
        with no_grad():
            for start in range(0, pairs, batch):
                a = Tensor(backend.to_device(z_a[start:start + batch], backend.Device(device)))
                b = Tensor(backend.to_device(z_b[start:start + batch], backend.Device(device)))
                for key, images in (("a", G(a)), ("b", G(b)), ("mix", G.mix(a, b, crossover))):
                    labels[key].append(classifier(images).numpy().argmax(axis=1))
    finally:
        G.train(was_training)
    a, b, mix = (np.concatenate(labels[k]) for k in ("a", "b", "mix"))
    differ = a != b
    used = int(differ.sum())
    return {"crossover": crossover, "pairs_used": used,
            "coarse_share": float(np.mean(mix[differ] == a[differ])) if used else float("nan"),
            "fine_share": float(np.mean(mix[differ] == b[differ])) if used else float("nan")}
