"""The GAN games, each as a pair of losses on the discriminator's raw outputs (logits).

Write D(x) = sigmoid(d(x)) where d is the discriminator's logit. Every loss is computed from
logits with softplus, which is exact for any logit: log D = -softplus(-d) and
log(1 - D) = -softplus(d). Each loss is minimised by its player.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from .. import autograd
from .. import functional as F
from ..tensor import Tensor, rand


def _check_scores(op: str, *outputs) -> None:
    """The discriminator's outputs must be floating-point Tensors (an int 'logit' is a bug upstream)."""
    for out in outputs:
        if not isinstance(out, Tensor):
            raise TypeError(f"{op}: expected the discriminator's outputs as Tensors, got {type(out).__name__}")
        if out.dtype.kind != "f":
            raise TypeError(f"{op}: expected floating-point discriminator outputs, got {out.dtype}")


def minimax_d_loss(real: Tensor, fake: Tensor) -> Tensor:
    """Goodfellow et al. (2014): D maximises E[log D(x)] + E[log(1 - D(G(z)))];
    as a loss: softplus(-d(x)) + softplus(d(G(z)))."""
    _check_scores("minimax_d_loss", real, fake)
    ### BEGIN SOLUTION minimax_loss
    return F.softplus(-real).mean() + F.softplus(fake).mean()
    ### END SOLUTION


def minimax_g_loss(fake: Tensor) -> Tensor:
    """The saturating generator of the original minimax game: G minimises
    E[log(1 - D(G(z)))] = -E[softplus(d(G(z)))]. Its gradient vanishes while D wins easily."""
    _check_scores("minimax_g_loss", fake)
    ### BEGIN SOLUTION minimax_loss
    return -F.softplus(fake).mean()
    ### END SOLUTION


def non_saturating_g_loss(fake: Tensor) -> Tensor:
    """Goodfellow et al.'s practical fix: G maximises E[log D(G(z))], i.e. minimises
    softplus(-d(G(z))). Same fixed point, strong gradients early on."""
    _check_scores("non_saturating_g_loss", fake)
    ### BEGIN SOLUTION non_saturating_loss
    return F.softplus(-fake).mean()
    ### END SOLUTION


def wasserstein_d_loss(real: Tensor, fake: Tensor) -> Tensor:
    """Arjovsky et al. (2017): the critic maximises E[d(x)] - E[d(G(z))] (no sigmoid);
    as a loss: E[d(G(z))] - E[d(x)]. The critic must be Lipschitz (clipping or a penalty)."""
    _check_scores("wasserstein_d_loss", real, fake)
    ### BEGIN SOLUTION wasserstein_loss
    return fake.mean() - real.mean()
    ### END SOLUTION


def wasserstein_g_loss(fake: Tensor) -> Tensor:
    """G minimises -E[d(G(z))]."""
    _check_scores("wasserstein_g_loss", fake)
    ### BEGIN SOLUTION wasserstein_loss
    return -fake.mean()
    ### END SOLUTION


def lsgan_d_loss(real: Tensor, fake: Tensor) -> Tensor:
    """Mao et al. (2017), least squares with targets b=1 (real), a=0 (fake):
    1/2 E[(d(x) - 1)^2] + 1/2 E[d(G(z))^2]."""
    _check_scores("lsgan_d_loss", real, fake)
    ### BEGIN SOLUTION lsgan_loss
    return 0.5 * ((real - 1.0) ** 2).mean() + 0.5 * (fake ** 2).mean()
    ### END SOLUTION


def lsgan_g_loss(fake: Tensor) -> Tensor:
    """LSGAN's generator: 1/2 E[(d(G(z)) - 1)^2]."""
    _check_scores("lsgan_g_loss", fake)
    ### BEGIN SOLUTION lsgan_loss
    return 0.5 * ((fake - 1.0) ** 2).mean()
    ### END SOLUTION


def hinge_d_loss(real: Tensor, fake: Tensor) -> Tensor:
    """Lim & Ye (2017), Miyato et al. (2018): E[relu(1 - d(x))] + E[relu(1 + d(G(z)))]."""
    _check_scores("hinge_d_loss", real, fake)
    ### BEGIN SOLUTION hinge_loss
    return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()
    ### END SOLUTION


def _check_batches(real, fake) -> None:
    for name, t in (("real", real), ("fake", fake)):
        if not isinstance(t, Tensor):
            raise TypeError(f"gradient_penalty: {name} must be a Tensor, got {type(t).__name__}")
    if real.shape != fake.shape:  # one x_hat per pair: 1 fake against 8 reals would broadcast
        raise ValueError(f"gradient_penalty: real and fake batches must have one shape, got {real.shape} "
                         f"and {fake.shape}")
    if real.ndim == 0 or real.shape[0] == 0:
        raise ValueError(f"gradient_penalty: expected a non-empty batch (N, ...), got shape {real.shape}")


def gradient_penalty(critic, real: Tensor, fake: Tensor, weight: float = 10.0) -> Tensor:
    """Gulrajani et al. (2017): weight * E[(||grad_x d(x_hat)||_2 - 1)^2] at random points
    x_hat = alpha x + (1 - alpha) G(z) on the lines between real and fake samples, one alpha
    per sample. Differentiating it needs the gradient of a gradient (create_graph=True)."""
    _check_batches(real, fake)
    ### BEGIN SOLUTION gradient_penalty
    shape = (real.shape[0],) + (1,) * (real.ndim - 1)
    alpha = rand(*shape, dtype=real.dtype, device=real.device)
    x_hat = (alpha * real.detach() + (1.0 - alpha) * fake.detach()).detach().requires_grad_()
    differentiable = autograd.is_grad_enabled()
    with autograd.enable_grad():  # the inner gradient needs a graph even under no_grad
        (grad,) = autograd.grad(critic(x_hat).sum(), x_hat, create_graph=differentiable)
    # + 1e-12 under the root: a ReLU critic can have a gradient of exactly 0, where sqrt' is infinite
    norms = ((grad.reshape(grad.shape[0], -1) ** 2).sum(axis=1) + 1e-12).sqrt()
    return weight * ((norms - 1.0) ** 2).mean()
    ### END SOLUTION


@dataclass(frozen=True)
class GANLoss:
    """One game: the losses of both players and how D is kept in check.

    ``probabilistic``: the discriminator's logit means P(real) = sigmoid(logit), so D(x)
    and accuracy are reported as probabilities; otherwise it is a critic with raw scores.
    ``clip``: weight clipping to [-clip, clip] after each D step (WGAN).
    ``penalty``: the weight of the gradient penalty (WGAN-GP).
    """

    name: str
    d_loss: Callable[[Tensor, Tensor], Tensor]
    g_loss: Callable[[Tensor], Tensor]
    probabilistic: bool
    clip: Optional[float] = None
    penalty: float = 0.0


LOSSES = {
    "minimax": GANLoss("minimax", minimax_d_loss, minimax_g_loss, True),
    "non-saturating": GANLoss("non-saturating", minimax_d_loss, non_saturating_g_loss, True),
    "wasserstein": GANLoss("wasserstein", wasserstein_d_loss, wasserstein_g_loss, False, clip=0.01),
    "wgan-gp": GANLoss("wgan-gp", wasserstein_d_loss, wasserstein_g_loss, False, penalty=10.0),
    "lsgan": GANLoss("lsgan", lsgan_d_loss, lsgan_g_loss, False),
    "hinge": GANLoss("hinge", hinge_d_loss, wasserstein_g_loss, False),
}


def get_loss(name: str) -> GANLoss:
    """The game called ``name`` (underscores or hyphens): one of :data:`LOSSES`."""
    key = name.replace("_", "-")
    if key not in LOSSES:
        raise ValueError(f"unknown GAN loss {name!r}: choose one of {', '.join(LOSSES)}")
    return LOSSES[key]
