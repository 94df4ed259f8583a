"""Generators back from the checkpoints the example scripts write, whatever the example.

examples/mnist_gan.py saves an unconditional G (``config["arch"]``: mlp, dcgan or
dcgan-resize), the variant examples a G that also takes a label (conditional GAN, ACGAN) or
InfoGAN's codes (``config["model"]``), and the generator-design examples (issue #18) an
unconditional G of their own: the style-based generator, the progressive one, a VAE's decoder.
:func:`load_generator` rebuilds the right one, and :func:`generate` feeds it: z alone, or z and
one label per image (for InfoGAN, the label is the categorical code, and the continuous codes
are 0: each category's typical image).
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..autograd import no_grad
from ..io import CheckpointError, load
from ..creation import zeros
from ..tensor import Tensor
from .models import build
from .variants import NUM_CLASSES, ConditionalGenerator, InfoGANGenerator

LABELLED = ("conditional", "acgan", "infogan")  # the kinds whose G takes a label besides z


def checkpoint_kind(config: dict) -> str:
    """"unconditional", "conditional", "acgan" or "infogan", from a checkpoint's config (older
    variant checkpoints have no "model": their own options tell them apart)."""
    if "model" in config:
        return config["model"]
    if "arch" in config:
        return "unconditional"
    if "g_lr" in config:
        return "infogan"
    return "acgan" if "aux_weight" in config else "conditional"


def load_generator(path, device="cpu"):
    """(G in eval mode on ``device``, its latent size, its kind) from any example's checkpoint."""
    checkpoint = load(path)
    if not isinstance(checkpoint, dict) or "config" not in checkpoint:
        raise CheckpointError(f"{path} is a minigan checkpoint, but not one of a GAN example (no config)")
    config, kind = checkpoint["config"], checkpoint_kind(checkpoint["config"])
    if kind == "unconditional":
        generator, _ = build(config["arch"], config["loss"], config["latent_dim"])
    elif kind in ("conditional", "acgan"):
        generator = ConditionalGenerator()
    elif kind == "infogan":
        generator = InfoGANGenerator()
    elif kind in DESIGNS:
        generator = DESIGNS[kind](config)
    else:
        raise CheckpointError(f"{path}: unknown kind of model {kind!r}")
    state = checkpoint["trainer"] if "trainer" in checkpoint else checkpoint  # older variants: at the top
    generator.load_state_dict(state["generator"])
    latent = generator.noise_dim if kind == "infogan" else getattr(generator, "latent_dim", config.get("latent_dim"))
    return generator.to(device).eval(), int(latent), kind


def _style(config: dict):
    from .stylegan import StyleGenerator
    return StyleGenerator(noise=not config.get("no_noise", False))


def _progressive(config: dict):
    from .progressive import ProgressiveGenerator
    return ProgressiveGenerator(phase_images=config["phase_images"])


def _vae_decoder(config: dict):
    from .vae import build_vae
    return build_vae(config["arch"], config["latent_dim"]).decoder


DESIGNS = {"style": _style, "progressive": _progressive, "vae": _vae_decoder}  # kind -> G from the config


def cycling_labels(n: int, device="cpu") -> Tensor:
    """0, 1, ..., 9, 0, 1, ... (n labels): one digit per column of a 10-wide grid."""
    return Tensor(backend.to_device(np.arange(n) % NUM_CLASSES, backend.Device(device)))


def generate(generator, kind: str, z: Tensor, labels: Tensor | None = None) -> np.ndarray:
    """G's images for ``z`` (and ``labels``, one per row of z, for the labelled kinds; default:
    :func:`cycling_labels`), as a host array, under no_grad."""
    with no_grad():
        if kind not in LABELLED:
            return generator(z).numpy()
        labels = cycling_labels(z.shape[0], z.device) if labels is None else labels
        if kind == "infogan":
            return generator(z, labels, zeros(z.shape[0], generator.num_continuous, device=z.device)).numpy()
        return generator(z, labels).numpy()
