"""Reference GAN models for 28x28 single-channel images (MNIST, Fashion-MNIST)."""
from __future__ import annotations

from .. import nn

LATENT_DIM = 100


def mlp_generator(latent_dim: int = LATENT_DIM, hidden: int = 256, image_size: int = 28) -> nn.Module:
    """Goodfellow-style fully connected generator: z -> 256 -> 512 -> 1024 -> 28*28 in [-1, 1]."""
    return nn.Sequential(
        nn.Linear(latent_dim, hidden), nn.LeakyReLU(0.2),
        nn.Linear(hidden, 2 * hidden), nn.LeakyReLU(0.2),
        nn.Linear(2 * hidden, 4 * hidden), nn.LeakyReLU(0.2),
        nn.Linear(4 * hidden, image_size * image_size), nn.Tanh(),
        nn.Unflatten(1, (1, image_size, image_size)),
    )


def mlp_discriminator(hidden: int = 256, image_size: int = 28, dropout: float = 0.3) -> nn.Module:
    """Fully connected discriminator: 28*28 -> 1024 -> 512 -> 256 -> 1 logit."""
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(image_size * image_size, 4 * hidden), nn.LeakyReLU(0.2), nn.Dropout(dropout),
        nn.Linear(4 * hidden, 2 * hidden), nn.LeakyReLU(0.2), nn.Dropout(dropout),
        nn.Linear(2 * hidden, hidden), nn.LeakyReLU(0.2), nn.Dropout(dropout),
        nn.Linear(hidden, 1),
    )


def dcgan_generator(latent_dim: int = LATENT_DIM) -> nn.Module:
    """DCGAN generator (Radford et al. 2016) for 28x28: z -> 128x7x7 -> 64x14x14 -> 1x28x28."""
    return nn.Sequential(
        nn.Linear(latent_dim, 128 * 7 * 7), nn.BatchNorm1d(128 * 7 * 7), nn.ReLU(),
        nn.Unflatten(1, (128, 7, 7)),
        nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.ConvTranspose2d(64, 1, 4, 2, 1), nn.Tanh(),
    )


def dcgan_resize_generator(latent_dim: int = LATENT_DIM) -> nn.Module:
    """The DCGAN generator with resize-convolutions (Odena et al. 2016, "Deconvolution and
    checkerboard artifacts"): each stride-2 transposed convolution becomes a nearest-neighbour
    upsampling by 2 followed by a 3x3 convolution, same channels.

    A 4x4 transposed convolution with stride 2 paints each input pixel's kernel onto the output
    with a step of 2: output pixels of even and of odd rows (and columns) are made by different
    taps of the kernel, so nothing ties them together and a periodic pattern with period 2, the
    checkerboard, costs the generator nothing to make and takes D long to notice. After a
    nearest upsampling every output pixel goes through the same 3x3 kernel: the even/odd
    pattern is no longer free.
    """
    return nn.Sequential(
        nn.Linear(latent_dim, 128 * 7 * 7), nn.BatchNorm1d(128 * 7 * 7), nn.ReLU(),
        nn.Unflatten(1, (128, 7, 7)),
        nn.Upsample(scale_factor=2), nn.Conv2d(128, 64, 3, 1, 1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.Upsample(scale_factor=2), nn.Conv2d(64, 1, 3, 1, 1), nn.Tanh(),
    )


def dcgan_discriminator(batch_norm: bool = True) -> nn.Module:
    """DCGAN discriminator: 1x28x28 -> 64x14x14 -> 128x7x7 -> 1 logit.

    ``batch_norm=False`` gives the WGAN-GP critic: the gradient penalty is per sample,
    and batch norm would mix the samples of a batch.
    """
    middle = [nn.BatchNorm2d(128)] if batch_norm else []
    return nn.Sequential(
        nn.Conv2d(1, 64, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(64, 128, 4, 2, 1), *middle, nn.LeakyReLU(0.2),
        nn.Flatten(), nn.Linear(128 * 7 * 7, 1),
    )


def dcgan_init_(module: nn.Module) -> nn.Module:
    """DCGAN initialisation, in place: conv and linear weights ~ N(0, 0.02), biases 0,
    batch-norm scales ~ N(1, 0.02) and shifts 0. Returns the module."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    return module


ARCHS = ("mlp", "dcgan", "dcgan-resize")


def build(arch: str, loss_name: str, latent_dim: int = LATENT_DIM):
    """(G, D) for ``arch`` in :data:`ARCHS`; WGAN-GP gets a critic without batch norm.
    "dcgan-resize" is the DCGAN with :func:`dcgan_resize_generator` (the same D)."""
    if arch == "mlp":
        return mlp_generator(latent_dim), mlp_discriminator()
    if arch in ("dcgan", "dcgan-resize"):
        g = dcgan_init_((dcgan_generator if arch == "dcgan" else dcgan_resize_generator)(latent_dim))
        d = dcgan_init_(dcgan_discriminator(batch_norm=loss_name != "wgan-gp"))
        return g, d
    raise ValueError(f"unknown architecture {arch!r}: choose one of {', '.join(ARCHS)}")
