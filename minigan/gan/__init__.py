"""GANs: the games (losses), the reference models, and the training loop; the generator designs
of the course (style-based, progressive) and the VAE, the generative model the GANs are
measured beside (``minigan.gan.vae``: trained, saved and scored by the same example machinery)."""
from .losses import (LOSSES, GANLoss, get_loss, gradient_penalty, hinge_d_loss, lsgan_d_loss, lsgan_g_loss,
                     minimax_d_loss, minimax_g_loss, non_saturating_g_loss, wasserstein_d_loss,
                     wasserstein_g_loss)
from .models import (ARCHS, LATENT_DIM, build, dcgan_discriminator, dcgan_generator, dcgan_init_,
                     dcgan_resize_generator, mlp_discriminator, mlp_generator)
from .trainer import DivergenceError, GANTrainer, MetricsLog, NonFiniteLossError, largest_weight
from . import checkpoints, latent, remedies, runs, scripts, variants
