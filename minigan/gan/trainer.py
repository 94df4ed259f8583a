"""The minimax training loop of Goodfellow et al. (2014), Algorithm 1.

For each generator step, the discriminator (or critic) takes ``n_critic`` steps (the
paper's k), each on a fresh real minibatch and fresh noise:

- D step: fakes come from G under ``no_grad`` (G is frozen), and only D's parameters get
  gradients: ``minigan.grad(loss, D.parameters())``.
- G step: the loss flows back through D into G, but only G's parameters get gradients,
  so D is untouched.

Metrics stay on the device as 0-d tensors; :class:`MetricsLog` copies them to the host
in one transfer per flush, and that is where divergence is caught: a non-finite loss, or
(when the loop records :func:`largest_weight` and the log has a ``max_weight``) a weight that
is non-finite or past that bound.
"""
from __future__ import annotations

import math

import numpy as np

from .. import autograd, backend, cuda_kernels
from .. import functional as F
from ..autograd import no_grad
from ..tensor import Tensor, randn
from .losses import GANLoss, gradient_penalty


class DivergenceError(FloatingPointError):
    """Training diverged: a loss or weight became NaN or infinite, or a weight grew past the
    bound; names the step and the value."""


class NonFiniteLossError(DivergenceError):
    """A loss became NaN or infinite; names the step and the value."""


def largest_weight(*modules) -> Tensor:
    """max |w| over every parameter of ``modules``: a 0-d float64 tensor on their device
    (NaN when a weight is NaN). One small reduction per parameter, no host copy."""
    with no_grad():
        return F.stack([p.abs().max().astype(np.float64) for m in modules for p in m.parameters()]).max()


def _grad_norm(grads) -> Tensor:
    """The L2 norm of all gradients together (a 0-d tensor on their device)."""
    arrays = [g.array for g in grads]
    if all(cuda_kernels.uses_kernels(a) for a in arrays) and len({(a.dtype, backend.device_of(a)) for a in arrays}) == 1:
        with backend.on_device_of(arrays[0]):  # on a GPU: a kernel and a sum, not three ops per gradient
            return Tensor(backend.array_module(arrays[0]).sqrt(cuda_kernels.sum_of_squares(arrays)))
    return F.sqrt(sum((g * g).sum() for g in grads))


def _set_grads(params, grads) -> None:
    for p, g in zip(params, grads):
        p.grad = g


class GANTrainer:
    """Plays one game (a :class:`GANLoss`) between ``generator`` and ``discriminator``."""

    def __init__(self, generator, discriminator, g_optimizer, d_optimizer, loss: GANLoss,
                 latent_dim: int = 100, n_critic: int = 1, device="cpu"):
        if n_critic < 1:
            raise ValueError(f"GANTrainer: n_critic must be >= 1, got {n_critic}")
        self.G, self.D = generator, discriminator
        self.g_optimizer, self.d_optimizer = g_optimizer, d_optimizer
        self.loss, self.latent_dim, self.n_critic = loss, latent_dim, n_critic
        self.device = device
        self.d_steps = 0  # discriminator steps taken
        self.g_steps = 0  # generator steps taken

    def sample_z(self, n: int) -> Tensor:
        """n latent vectors z ~ N(0, I)."""
        return randn(n, self.latent_dim, device=self.device)

    def step(self, real: Tensor) -> dict:
        """One D step on ``real``, then a G step every ``n_critic`` D steps. Returns the metrics."""
        metrics = self.discriminator_step(real)
        if self.d_steps % self.n_critic == 0:
            metrics.update(self.generator_step(real.shape[0]))
        return metrics

    def discriminator_step(self, real: Tensor) -> dict:
        """Minimise the D loss on ``real`` and fresh fakes; G stays frozen."""
        with no_grad():
            fake = self.G(self.sample_z(real.shape[0]))
        real_out, fake_out = self.D(real), self.D(fake)
        loss = self.loss.d_loss(real_out, fake_out)
        if self.loss.penalty:
            loss = loss + gradient_penalty(self.D, real, fake, self.loss.penalty)
        params = list(self.D.parameters())
        grads = autograd.grad(loss, params)
        _set_grads(params, grads)
        self.d_optimizer.step()
        if self.loss.clip is not None:
            self._clip_weights(params, self.loss.clip)
        self.d_steps += 1
        return {"d_loss": loss.detach(), **self._scores(real_out.detach(), fake_out.detach()),
                "d_grad_norm": _grad_norm(grads).detach()}

    def generator_step(self, batch_size: int) -> dict:
        """Minimise the G loss on fresh fakes; D's parameters get no gradient."""
        fake_out = self.D(self.G(self.sample_z(batch_size)))
        loss = self.loss.g_loss(fake_out)
        params = list(self.G.parameters())
        grads = autograd.grad(loss, params)
        _set_grads(params, grads)
        self.g_optimizer.step()
        self.g_steps += 1
        return {"g_loss": loss.detach(), "g_grad_norm": _grad_norm(grads).detach()}

    def _scores(self, real_out: Tensor, fake_out: Tensor) -> dict:
        """Mean D(x), mean D(G(z)), and accuracy or the Wasserstein estimate."""
        with no_grad():
            if self.loss.probabilistic:
                accuracy = ((real_out > 0).astype(real_out.dtype).mean()
                            + (fake_out < 0).astype(fake_out.dtype).mean()) * 0.5
                return {"d_real": F.sigmoid(real_out).mean(), "d_fake": F.sigmoid(fake_out).mean(),
                        "d_accuracy": accuracy}
            return {"d_real": real_out.mean(), "d_fake": fake_out.mean(),
                    "wasserstein": real_out.mean() - fake_out.mean()}

    @staticmethod
    def _clip_weights(params, c: float) -> None:
        """WGAN's weight clipping: every parameter into [-c, c], in place."""
        for p in params:
            p.array[...] = p.array.clip(-c, c)
            p._bump_version()

    def state_dict(self) -> dict:
        """Everything needed to resume: both models, both optimizers, the step counters."""
        return {"generator": self.G.state_dict(), "discriminator": self.D.state_dict(),
                "g_optimizer": self.g_optimizer.state_dict(), "d_optimizer": self.d_optimizer.state_dict(),
                "d_steps": self.d_steps, "g_steps": self.g_steps}

    def load_state_dict(self, state: dict) -> None:
        self.G.load_state_dict(state["generator"])
        self.D.load_state_dict(state["discriminator"])
        self.g_optimizer.load_state_dict(state["g_optimizer"])
        self.d_optimizer.load_state_dict(state["d_optimizer"])
        self.d_steps, self.g_steps = int(state["d_steps"]), int(state["g_steps"])


class MetricsLog:
    """Per-step metrics kept on the device until :meth:`flush` copies them to the host at once.

    ``max_weight``: when a step's metrics hold ``"weight_max"`` (:func:`largest_weight`),
    flush also raises :class:`DivergenceError` when it is non-finite or above this bound."""

    def __init__(self, max_weight: float = math.inf):
        self._pending = []  # (step, {name: 0-d tensor})
        self.max_weight = max_weight

    def record(self, step: int, metrics: dict) -> None:
        self._pending.append((step, metrics))

    def flush(self) -> list:
        """[(step, {name: float})] since the last flush; raises on divergence (see the class)."""
        if not self._pending:
            return []
        values = [v for _, m in self._pending for v in m.values()]
        with no_grad():
            host = F.stack([v.astype(np.float64) for v in values]).numpy()  # one device-to-host copy
        rows, i = [], 0
        for step, m in self._pending:
            row = dict(zip(m.keys(), host[i:i + len(m)].tolist()))
            i += len(m)
            for name in ("d_loss", "g_loss"):
                if name in row and not math.isfinite(row[name]):
                    self._pending = []
                    raise NonFiniteLossError(f"step {step}: {name} is {row[name]}")
            weight = row.get("weight_max", 0.0)
            if not math.isfinite(weight) or weight > self.max_weight:
                self._pending = []
                raise DivergenceError(f"step {step}: a weight reached {weight:.3g}" + (
                    f", past max_weight={self.max_weight:g}" if math.isfinite(weight) else ""))
            rows.append((step, row))
        self._pending = []
        return rows
