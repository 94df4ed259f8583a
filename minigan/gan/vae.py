"""Variational autoencoders (Kingma & Welling 2014), the other generative model beside the GAN.

A VAE is an *explicit* density model: the decoder p(x | z) is a distribution over images (here
each pixel a Bernoulli variable with probability sigmoid(logit)), z ~ N(0, I), and training
maximises a lower bound on log p(x), the ELBO, for every training digit:

    log p(x) >= E_q(z|x)[log p(x | z)] - KL(q(z | x) || N(0, I))

where the encoder q(z | x) = N(mu(x), diag(exp(logvar(x)))) guesses which z made x. The loss
minimised is the negative ELBO: a *reconstruction* term (the Bernoulli cross-entropy of x under
the decoder's probabilities at a z drawn from q, summed over the pixels) plus the *KL* term,
in closed form for two Gaussians: -1/2 sum(1 + logvar - mu^2 - exp(logvar)).

The expectation over q is estimated with one sample, drawn by the *reparameterisation trick*:
z = mu + exp(logvar / 2) * eps with eps ~ N(0, I), so z is a differentiable function of the
encoder's outputs and the gradient reaches the encoder through ordinary backprop.

Sampling needs no encoder: z ~ N(0, I), and the image is the decoder's mean, the pixel
probabilities (mapped to [-1, 1] as the GANs' images). That mean is why VAE samples look
blurry: where the decoder is unsure whether a stroke passes, it paints the average of the
possibilities, a grey smear (docs/15_vae.md). A GAN's generator is an *implicit* model, with
no likelihood: the discriminator only asks whether an image looks real, and an average of
digits does not.

In the example scripts' terms the decoder is the generator (``Players.G``, saved as
"generator", so examples/sample.py and examples/latent.py read VAE checkpoints) and the
encoder stands where the discriminator would ("discriminator").
"""
from __future__ import annotations

from .. import autograd, nn
from .. import functional as F
from ..creation import randn
from ..tensor import Tensor

IMAGE_SIZE = 28


def reparameterize(mu: Tensor, logvar: Tensor) -> Tensor:
    """z = mu + exp(logvar / 2) * eps, eps ~ N(0, I) from minigan's generator on mu's device:
    a sample of N(mu, diag(exp(logvar))) that is differentiable in mu and logvar."""
    if not isinstance(mu, Tensor) or not isinstance(logvar, Tensor) or mu.shape != logvar.shape:
        shapes = [t.shape if isinstance(t, Tensor) else type(t).__name__ for t in (mu, logvar)]
        raise ValueError(f"reparameterize: mu and logvar must be Tensors of one shape, got {shapes[0]} and "
                         f"{shapes[1]}")
    eps = randn(*mu.shape, dtype=mu.dtype, device=mu.device)
    return mu + F.exp(logvar * 0.5) * eps


def gaussian_kl(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, diag(exp(logvar))) || N(0, I)) per sample, summed over the latent axis, averaged
    over the batch: -1/2 sum(1 + logvar - mu^2 - exp(logvar)). 0 exactly when mu = 0, logvar = 0."""
    if mu.ndim != 2 or mu.shape != logvar.shape:
        raise ValueError(f"gaussian_kl: expected mu and logvar of one shape (N, latent_dim), got {mu.shape} and "
                         f"{logvar.shape}")
    return (-0.5 * (1.0 + logvar - mu * mu - F.exp(logvar))).sum(axis=1).mean()


def bernoulli_reconstruction(logits: Tensor, images: Tensor) -> Tensor:
    """-log p(x | z) for a Bernoulli decoder: the cross-entropy of the pixels of ``images`` (in
    [-1, 1], read as probabilities (x + 1) / 2) under sigmoid(``logits``), summed over each
    image's pixels, averaged over the batch."""
    if logits.shape != images.shape:
        raise ValueError(f"bernoulli_reconstruction: logits and images must have one shape, got {logits.shape} "
                         f"and {images.shape}")
    per_pixel = F.binary_cross_entropy_with_logits(logits, (images + 1.0) * 0.5, reduction="none")
    return per_pixel.reshape(images.shape[0], -1).sum(axis=1).mean()


class VAE(nn.Module):
    """An encoder x -> (mu, logvar) and a :class:`Decoder` z -> images. Subclasses set
    ``encoder`` (a module ending in 2 * latent_dim features: mu, then logvar) and ``decoder``."""

    def __init__(self, latent_dim: int):
        super().__init__()
        self.latent_dim = latent_dim

    def encode(self, x: Tensor) -> tuple:
        """(mu, logvar) of q(z | x), each (N, latent_dim)."""
        if not isinstance(x, Tensor) or x.ndim != 4 or x.shape[1:] != (1, IMAGE_SIZE, IMAGE_SIZE):
            shape = x.shape if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"{type(self).__name__}: expected images (N, 1, 28, 28), got {shape}")
        h = self.encoder(x)
        return h[:, :self.latent_dim], h[:, self.latent_dim:]

    def forward(self, x: Tensor) -> tuple:
        """(reconstruction logits, mu, logvar) of images x, with z drawn by reparameterisation."""
        mu, logvar = self.encode(x)
        return self.decoder(reparameterize(mu, logvar), logits=True), mu, logvar


class Decoder(nn.Module):
    """z (N, latent_dim) -> images (N, 1, 28, 28) in [-1, 1], the Bernoulli means 2 sigmoid(l) - 1
    = tanh(l / 2) of the logits l of ``net``; ``decoder(z, logits=True)`` gives l itself."""

    def __init__(self, latent_dim: int, net: nn.Module):
        super().__init__()
        self.latent_dim, self.net = latent_dim, net

    def forward(self, z: Tensor, logits: bool = False) -> Tensor:
        if not isinstance(z, Tensor) or z.ndim != 2 or z.shape[1] != self.latent_dim:
            shape = z.shape if isinstance(z, Tensor) else type(z).__name__
            raise ValueError(f"Decoder: expected z of shape (N, {self.latent_dim}), got {shape}")
        out = self.net(z)
        return out if logits else F.tanh(out * 0.5)


class MLPVAE(VAE):
    """Kingma & Welling's MNIST model: 784 -> hidden -> (mu, logvar); latent -> hidden -> 784."""

    def __init__(self, latent_dim: int = 20, hidden: int = 400):
        super().__init__(latent_dim)
        pixels = IMAGE_SIZE * IMAGE_SIZE
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(pixels, hidden), nn.ReLU(),
                                     nn.Linear(hidden, 2 * latent_dim))
        self.decoder = Decoder(latent_dim, nn.Sequential(
            nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, pixels),
            nn.Unflatten(1, (1, IMAGE_SIZE, IMAGE_SIZE))))


class ConvVAE(VAE):
    """The DCGAN's shapes as an autoencoder: 1x28x28 -> 32x14x14 -> 64x7x7 -> (mu, logvar);
    latent -> 64x7x7 -> 32x14x14 -> 1x28x28 logits (stride-2 convolutions each way)."""

    def __init__(self, latent_dim: int = 20, width: int = 32):
        super().__init__(latent_dim)
        self.encoder = nn.Sequential(
            nn.Conv2d(1, width, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Flatten(), nn.Linear(2 * width * 49, 2 * latent_dim))
        self.decoder = Decoder(latent_dim, nn.Sequential(
            nn.Linear(latent_dim, 2 * width * 49), nn.ReLU(), nn.Unflatten(1, (2 * width, 7, 7)),
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(width, 1, 4, 2, 1)))


ARCHS = {"mlp": MLPVAE, "conv": ConvVAE}


def build_vae(arch: str, latent_dim: int = 20) -> VAE:
    """A VAE of ``arch`` in {"mlp", "conv"}."""
    if arch not in ARCHS:
        raise ValueError(f"unknown VAE architecture {arch!r}: choose one of {', '.join(ARCHS)}")
    return ARCHS[arch](latent_dim)


def vae_step(vae: VAE, decoder_optimizer, encoder_optimizer, real: Tensor) -> dict:
    """One step on the negative ELBO of ``real`` (one z per image): both networks' gradients,
    one step of each optimizer. Returns 0-d metrics: loss (the negative ELBO, nats per image),
    reconstruction and kl."""
    logits, mu, logvar = vae(real)
    reconstruction = bernoulli_reconstruction(logits, real)
    kl = gaussian_kl(mu, logvar)
    loss = reconstruction + kl
    params = list(vae.decoder.parameters()) + list(vae.encoder.parameters())
    for p, g in zip(params, autograd.grad(loss, params)):
        p.grad = g
    decoder_optimizer.step()
    encoder_optimizer.step()
    return {"loss": loss.detach(), "reconstruction": reconstruction.detach(), "kl": kl.detach()}
