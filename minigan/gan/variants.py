"""GAN variants that use labels or codes, for 28x28 MNIST-like images; and latent-space tools.

- Conditional GAN (Mirza & Osindero 2014): G and D both see the class label, so you ask
  G for a digit: G(z, y), D(x, y).
- ACGAN (Odena et al. 2017): only G sees the label; D says real/fake *and* which class,
  and both players are also trained to get the class right.
- InfoGAN (Chen et al. 2016): no labels at all. G gets a 10-way categorical code and two
  continuous codes besides the noise, and a head Q on D's body must recover the codes from
  the image; maximising that mutual information makes the codes mean something (often the
  digit, its slant and its width).

The models are small DCGAN-style networks (two (transposed) convolutions each way), so a few
epochs on a CPU give recognisable digits. Each variant has a step function that plays one
D step and one G step the way :class:`minigan.gan.GANTrainer` does: D trains on fakes made
under ``no_grad``; G's loss flows back through D, but ``minigan.grad`` is taken only with
respect to G's parameters, so D is untouched. Any game in :data:`minigan.gan.LOSSES` works
(weight clipping and the gradient penalty included).

(The remedies against mode collapse for the reference discriminators are in
:mod:`minigan.gan.remedies`; the latent-space tools in :mod:`minigan.gan.latent`; the example
scripts' shared flags and training loop in :mod:`minigan.gan.scripts`.)
"""
from __future__ import annotations

import numpy as np

from .. import autograd, backend, nn
from .. import functional as F
from ..autograd import no_grad
from ..creation import rand, randn
from ..tensor import Tensor
from .losses import GANLoss, get_loss, gradient_penalty
from .models import dcgan_init_
from .trainer import _grad_norm, _set_grads

NUM_CLASSES = 10
NON_SATURATING = get_loss("non-saturating")


# -- labels and codes ---------------------------------------------------------------------------
def one_hot(labels: Tensor, num_classes: int, dtype=np.float32) -> Tensor:
    """(N,) integer labels -> (N, num_classes) rows of 0s with a 1 at each label (a constant).
    Labels outside [0, num_classes) raise on the CPU; on a GPU they are not checked (that would
    wait for the device)."""
    if not isinstance(labels, Tensor) or labels.ndim != 1 or labels.dtype.kind not in "iu":
        what = f"shape {labels.shape}, {labels.dtype}" if isinstance(labels, Tensor) else type(labels).__name__
        raise TypeError(f"one_hot: expected a 1-D Tensor of integer labels, got {what}")
    xp = backend.array_module(labels.array)
    if isinstance(labels.array, np.ndarray) and labels.numel() and not (
            0 <= labels.array.min() and labels.array.max() < num_classes):  # (GPUs: unchecked, no host read)
        raise IndexError(f"one_hot: labels must lie in [0, {num_classes}), got "
                         f"{labels.array.min()}..{labels.array.max()}")
    return Tensor(xp.eye(num_classes, dtype=dtype)[labels.array])


def save_class_grid(G, z_per_column: Tensor, path, num_classes: int = NUM_CLASSES) -> None:
    """A PNG grid from a class-conditional G: row d holds class d, column j uses z_per_column[j]
    in every row (G in eval mode, as for any sampling)."""
    from ..utils.images import save_grid
    columns, device = z_per_column.shape[0], z_per_column.device
    z = F.broadcast_to(z_per_column.unsqueeze(0), (num_classes,) + z_per_column.shape).reshape(num_classes * columns, -1)
    labels = Tensor(backend.to_device(np.repeat(np.arange(num_classes), columns), device))
    was_training = G.training
    G.eval()
    try:
        with no_grad():
            images = G(z, labels).numpy()
    finally:
        G.train(was_training)
    save_grid(images, path, nrow=columns)


def sample_labels(n: int, num_classes: int = NUM_CLASSES, device="cpu") -> Tensor:
    """n labels drawn uniformly from 0 .. num_classes - 1, made on ``device``."""
    xp = backend.Device(device).xp
    scaled = rand(n, device=device).array * num_classes  # in [0, num_classes)
    return Tensor(xp.minimum(scaled.astype(np.int64), num_classes - 1))  # minimum: float32 rounding


# -- building blocks ------------------------------------------------------------------------------
def _generator_body(in_features: int, width: int) -> nn.Sequential:
    """DCGAN-style: in_features -> (2w, 7, 7) -> (w, 14, 14) -> (1, 28, 28) in [-1, 1]."""
    return nn.Sequential(
        nn.Linear(in_features, 2 * width * 7 * 7), nn.BatchNorm1d(2 * width * 7 * 7), nn.ReLU(),
        nn.Unflatten(1, (2 * width, 7, 7)),
        nn.ConvTranspose2d(2 * width, width, 4, 2, 1), nn.BatchNorm2d(width), nn.ReLU(),
        nn.ConvTranspose2d(width, 1, 4, 2, 1), nn.Tanh(),
    )


def discriminator_body(in_channels: int, width: int, batch_norm: bool = True) -> nn.Sequential:
    """(in_channels, 28, 28) -> (w, 14, 14) -> (2w, 7, 7) -> features (N, 2w * 49)."""
    middle = [nn.BatchNorm2d(2 * width)] if batch_norm else []
    return nn.Sequential(
        nn.Conv2d(in_channels, width, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(width, 2 * width, 4, 2, 1), *middle, nn.LeakyReLU(0.2),
        nn.Flatten(),
    )


# -- models ---------------------------------------------------------------------------------------
class ConditionalGenerator(nn.Module):
    """G(z, y): the one-hot label is concatenated to z (Mirza & Osindero 2014)."""

    def __init__(self, latent_dim: int = 64, num_classes: int = NUM_CLASSES, width: int = 32):
        super().__init__()
        self.latent_dim, self.num_classes = latent_dim, num_classes
        self.body = _generator_body(latent_dim + num_classes, width)
        dcgan_init_(self)

    def forward(self, z: Tensor, labels: Tensor) -> Tensor:
        return self.body(F.concatenate([z, one_hot(labels, self.num_classes, z.dtype)], axis=1))


class ConditionalDiscriminator(nn.Module):
    """D(x, y) -> (N, 1) logit, with the label entering as a projection (Miyato & Koyama 2018):

        d(x, y) = w . phi(x) + b + embed(y) . phi(x)

    where phi(x) are the body's features. Each class has its own direction in feature space,
    and the score rises when the image's features point along its label's direction. (Mirza
    & Osindero concatenate the label to D's input instead; the projection adds no input
    channels, so here it is cheaper, and it learns the conditioning quickly.)"""

    def __init__(self, num_classes: int = NUM_CLASSES, width: int = 16, batch_norm: bool = True):
        super().__init__()
        self.num_classes = num_classes
        self.body = discriminator_body(1, width, batch_norm)
        self.head = nn.Linear(2 * width * 7 * 7, 1)
        self.embed = nn.Embedding(num_classes, 2 * width * 7 * 7)
        dcgan_init_(self)
        nn.init.normal_(self.embed.weight, 0.0, 0.02)

    def forward(self, x: Tensor, labels: Tensor) -> Tensor:
        features = self.body(x)
        return self.head(features) + (self.embed(labels) * features).sum(axis=1, keepdims=True)


class ACGANDiscriminator(nn.Module):
    """D(x) -> (real/fake logit (N, 1), class logits (N, num_classes)) from one shared body."""

    def __init__(self, num_classes: int = NUM_CLASSES, width: int = 16, batch_norm: bool = True):
        super().__init__()
        self.num_classes = num_classes
        self.body = discriminator_body(1, width, batch_norm)
        self.head = nn.Linear(2 * width * 7 * 7, 1)
        self.classifier = nn.Linear(2 * width * 7 * 7, num_classes)
        dcgan_init_(self)

    def forward(self, x: Tensor):
        features = self.body(x)
        return self.head(features), self.classifier(features)


class InfoGANGenerator(nn.Module):
    """G(z, c_cat, c_cont): noise, a one-hot categorical code and continuous codes, concatenated."""

    def __init__(self, noise_dim: int = 62, num_categories: int = NUM_CLASSES, num_continuous: int = 2,
                 width: int = 32):
        super().__init__()
        self.noise_dim, self.num_categories, self.num_continuous = noise_dim, num_categories, num_continuous
        self.body = _generator_body(noise_dim + num_categories + num_continuous, width)
        dcgan_init_(self)

    def forward(self, z: Tensor, category: Tensor, continuous: Tensor) -> Tensor:
        codes = [z, one_hot(category, self.num_categories, z.dtype), continuous]
        return self.body(F.concatenate(codes, axis=1))


class InfoGANDiscriminator(nn.Module):
    """D(x) -> (real/fake logit (N, 1), Q's category logits (N, K), Q's continuous means (N, L)).

    Q shares D's convolutional body and adds a small head ``q`` (Chen et al. 2016), so
    recovering the codes costs one extra layer, not a second network. :func:`infogan_step`
    trains ``q`` together with G, and the body and ``head`` as the discriminator.
    """

    def __init__(self, num_categories: int = NUM_CLASSES, num_continuous: int = 2, width: int = 16,
                 q_hidden: int = 128):
        super().__init__()
        self.num_categories, self.num_continuous = num_categories, num_continuous
        self.body = discriminator_body(1, width)
        self.head = nn.Linear(2 * width * 7 * 7, 1)
        self.q = nn.Sequential(nn.Linear(2 * width * 7 * 7, q_hidden), nn.BatchNorm1d(q_hidden), nn.LeakyReLU(0.2),
                               nn.Linear(q_hidden, num_categories + num_continuous))
        dcgan_init_(self)

    def forward(self, x: Tensor):
        features = self.body(x)
        q = self.q(features)
        return self.head(features), q[:, :self.num_categories], q[:, self.num_categories:]


def sample_infogan_codes(n: int, num_categories: int = NUM_CLASSES, num_continuous: int = 2, device="cpu"):
    """(category (N,) uniform over K, continuous (N, L) ~ U(-1, 1)), as in Chen et al."""
    return sample_labels(n, num_categories, device), rand(n, num_continuous, device=device) * 2.0 - 1.0


# -- losses ------------------------------------------------------------------------------------------
def gaussian_nll(mean: Tensor, target: Tensor) -> Tensor:
    """Negative log-likelihood of ``target`` under N(mean, 1), summed over codes and averaged
    over the batch, without the constant: 1/2 sum_l (c_l - mu_l)^2. (Q's fixed unit variance,
    as in Chen et al.'s code; a learned variance adds a log-variance head.)"""
    return 0.5 * ((target - mean) ** 2).sum(axis=1).mean()


def info_loss(category_logits: Tensor, continuous_mean: Tensor, category: Tensor, continuous: Tensor,
              continuous_weight: float = 0.1) -> Tensor:
    """-(lower bound on the mutual information), up to constants: cross-entropy of the
    categorical code plus ``continuous_weight`` times the Gaussian NLL of the continuous codes
    (Chen et al. use a smaller weight for continuous codes)."""
    return F.cross_entropy(category_logits, category) + continuous_weight * gaussian_nll(continuous_mean, continuous)


# -- one training step per variant -----------------------------------------------------------------
def minimise(loss: Tensor, params: list, optimizer, allow_unused: bool = False) -> Tensor:
    """Set p.grad = d loss / d p for ``params`` only, step ``optimizer``; return the gradient norm.
    ``allow_unused``: parameters the loss does not reach keep grad None, and the optimizer
    leaves them and their state alone (a progressive GAN's blocks not grown yet)."""
    grads = autograd.grad(loss, params, allow_unused=allow_unused)
    _set_grads(params, grads)
    optimizer.step()
    return _grad_norm([g for g in grads if g is not None]).detach()


def _d_game_loss(game: GANLoss, critic, real: Tensor, fake: Tensor, real_out: Tensor, fake_out: Tensor) -> Tensor:
    """The game's D loss, plus the gradient penalty when the game has one (``critic`` maps
    images to the real/fake output)."""
    loss = game.d_loss(real_out, fake_out)
    if game.penalty:
        loss = loss + gradient_penalty(critic, real, fake, game.penalty)
    return loss


def _clip_if_needed(game: GANLoss, params) -> None:
    if game.clip is not None:
        for p in params:
            p.array[...] = p.array.clip(-game.clip, game.clip)
            p._bump_version()


def _scores(game: GANLoss, real_out: Tensor, fake_out: Tensor) -> dict:
    """Mean D(x) and D(G(z)): probabilities for probabilistic games, raw scores otherwise."""
    with no_grad():
        if game.probabilistic:
            return {"d_real": F.sigmoid(real_out).mean(), "d_fake": F.sigmoid(fake_out).mean()}
        return {"d_real": real_out.mean(), "d_fake": fake_out.mean()}


def _accuracy(logits: Tensor, labels: Tensor) -> Tensor:
    """The fraction of rows whose largest logit is at the label (a 0-d tensor)."""
    return Tensor(logits.array.argmax(axis=1) == labels.array).astype(logits.dtype).mean()


def conditional_gan_step(G: ConditionalGenerator, D: ConditionalDiscriminator, g_optimizer, d_optimizer,
                         real: Tensor, labels: Tensor, game: GANLoss = NON_SATURATING) -> dict:
    """One D step on (real, labels) and fakes of the same labels (so the gradient penalty's
    in-between images have one label too), then one G step on fakes of random labels.
    Returns the metrics as 0-d tensors (d_loss, g_loss, d_real, d_fake, grad norms)."""
    n, device = real.shape[0], real.device
    with no_grad():
        fake = G(randn(n, G.latent_dim, device=device), labels)
    real_out, fake_out = D(real, labels), D(fake, labels)
    d_loss = _d_game_loss(game, lambda x: D(x, labels), real, fake, real_out, fake_out)
    d_params = list(D.parameters())
    d_grad_norm = minimise(d_loss, d_params, d_optimizer)
    _clip_if_needed(game, d_params)

    fake_labels = sample_labels(n, G.num_classes, device)
    g_loss = game.g_loss(D(G(randn(n, G.latent_dim, device=device), fake_labels), fake_labels))
    g_grad_norm = minimise(g_loss, list(G.parameters()), g_optimizer)
    return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach(), **_scores(game, real_out, fake_out),
            "d_grad_norm": d_grad_norm, "g_grad_norm": g_grad_norm}


def acgan_step(G: ConditionalGenerator, D: ACGANDiscriminator, g_optimizer, d_optimizer, real: Tensor,
               labels: Tensor, game: GANLoss = NON_SATURATING, aux_weight: float = 1.0) -> dict:
    """ACGAN: D minimises the game's loss + aux_weight * (CE(class | real, true label) +
    CE(class | fake, sampled label)); G minimises its game loss + aux_weight * CE(class | fake).
    Metrics add d_aux, g_aux and the class accuracy of D on the real batch."""
    n, device = real.shape[0], real.device
    fake_labels = sample_labels(n, G.num_classes, device)
    with no_grad():
        fake = G(randn(n, G.latent_dim, device=device), fake_labels)
    (real_out, real_classes), (fake_out, fake_classes) = D(real), D(fake)
    d_aux = F.cross_entropy(real_classes, labels) + F.cross_entropy(fake_classes, fake_labels)
    d_loss = _d_game_loss(game, lambda x: D(x)[0], real, fake, real_out, fake_out) + aux_weight * d_aux
    d_params = list(D.parameters())
    d_grad_norm = minimise(d_loss, d_params, d_optimizer)
    _clip_if_needed(game, d_params)

    fake_labels = sample_labels(n, G.num_classes, device)
    fake_out_g, fake_classes_g = D(G(randn(n, G.latent_dim, device=device), fake_labels))
    g_aux = F.cross_entropy(fake_classes_g, fake_labels)
    g_loss = game.g_loss(fake_out_g) + aux_weight * g_aux
    g_grad_norm = minimise(g_loss, list(G.parameters()), g_optimizer)
    return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach(), "d_aux": d_aux.detach(),
            "g_aux": g_aux.detach(), "class_accuracy": _accuracy(real_classes, labels),
            **_scores(game, real_out, fake_out), "d_grad_norm": d_grad_norm, "g_grad_norm": g_grad_norm}


def infogan_step(G: InfoGANGenerator, D: InfoGANDiscriminator, g_optimizer, d_optimizer, real: Tensor,
                 game: GANLoss = NON_SATURATING, info_weight: float = 1.0, continuous_weight: float = 0.1) -> dict:
    """InfoGAN: the D player (D's body and real/fake head, ``d_optimizer``) minimises the
    game's D loss on fakes made under ``no_grad``; then G *and Q's head* (``g_optimizer``, built
    over ``infogan_g_parameters(G, D)``) minimise G's game loss + info_weight * L_I, where L_I
    is :func:`info_loss` of the codes the fakes were made from.

    The shared body learns only to tell real from fake, so Q must read the codes from features
    that matter for realism: G has to change what a digit looks like, not hide the code in
    faint pixel patterns (which happens, on MNIST, when the body is also trained to read the
    codes). Labels are not used. Metrics add info_loss and category_accuracy (Q, G step)."""
    _check_covers(g_optimizer, infogan_g_parameters(G, D), "infogan_step: g_optimizer", "G's and D.q's")
    n, device = real.shape[0], real.device
    codes = sample_infogan_codes(n, G.num_categories, G.num_continuous, device)
    with no_grad():
        fake = G(randn(n, G.noise_dim, device=device), *codes)
    real_out, fake_out = D(real)[0], D(fake)[0]
    d_loss = _d_game_loss(game, lambda x: D(x)[0], real, fake, real_out, fake_out)
    d_params = infogan_d_parameters(D)
    d_grad_norm = minimise(d_loss, d_params, d_optimizer)
    _clip_if_needed(game, d_params)

    codes = sample_infogan_codes(n, G.num_categories, G.num_continuous, device)
    fake_out_g, category_logits, continuous_mean = D(G(randn(n, G.noise_dim, device=device), *codes))
    g_info = info_loss(category_logits, continuous_mean, *codes, continuous_weight=continuous_weight)
    g_loss = game.g_loss(fake_out_g) + info_weight * g_info
    g_grad_norm = minimise(g_loss, infogan_g_parameters(G, D), g_optimizer)
    return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach(), "info_loss": g_info.detach(),
            "category_accuracy": _accuracy(category_logits, codes[0]), **_scores(game, real_out, fake_out),
            "d_grad_norm": d_grad_norm, "g_grad_norm": g_grad_norm}


def infogan_g_parameters(G: InfoGANGenerator, D: InfoGANDiscriminator) -> list:
    """What InfoGAN's G step trains: G's parameters and Q's head (``D.q``)."""
    return list(G.parameters()) + list(D.q.parameters())


def infogan_d_parameters(D: InfoGANDiscriminator) -> list:
    """What InfoGAN's D step trains: D's body and real/fake head (not Q's head)."""
    return [p for name, p in D.named_parameters() if not name.startswith("q.")]


def _check_covers(optimizer, params, who: str, what: str) -> None:
    """Raise if ``optimizer`` lacks one of ``params`` (its gradient would be set, never applied)."""
    held = {id(p) for group in optimizer.param_groups for p in group["params"]}
    missing = sum(id(p) not in held for p in params)
    if missing:
        raise ValueError(f"{who} lacks {missing} of the {len(params)} parameters it must train ({what}); "
                         f"build it over infogan_g_parameters(G, D)")
