"""Latent-space tools: the truncation trick's sampler, and linear and spherical interpolation
between latent vectors (``examples/latent.py``); steering z toward a digit a classifier names
(``examples/steer_z.py``)."""
from __future__ import annotations

from .. import autograd, backend
from .. import functional as F
from ..creation import randn
from ..tensor import Tensor

def truncated_normal(n: int, dim: int, tau: float, device="cpu", max_rounds: int = 10_000) -> Tensor:
    """(n, dim) samples of N(0, 1) conditioned on |z_i| <= tau (the truncation trick of
    Brock et al. 2019): every entry outside is redrawn until it falls inside. ``tau = inf``
    gives plain N(0, 1). Each round redraws a fraction P(|z| > tau) of what is left, so small
    taus take many rounds; after ``max_rounds`` a ValueError says so."""
    if not tau > 0:
        raise ValueError(f"truncated_normal: tau must be > 0, got {tau}")
    xp = backend.Device(device).xp
    z = randn(n, dim, device=device).array
    for _ in range(max_rounds):
        outside = xp.abs(z) > tau
        if not bool(outside.any()):  # one device-to-host read per round
            return Tensor(z)
        z = xp.where(outside, randn(n, dim, device=device).array, z)
    raise ValueError(f"truncated_normal: entries still outside |z| <= {tau} after {max_rounds} rounds "
                     "of redrawing; use a larger tau")


def _check_ends(op: str, a, b, t) -> None:
    for name, v in (("a", a), ("b", b), ("t", t)):
        if not isinstance(v, Tensor):
            raise TypeError(f"{op}: {name} must be a Tensor, got {type(v).__name__}")
    if a.ndim != 2 or a.shape != b.shape or t.ndim != 1:
        raise ValueError(f"{op}: expected starts (P, D), ends (P, D) and fractions (T,), got shapes "
                         f"{a.shape}, {b.shape} and {t.shape}")


def lerp(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    """Straight lines: (P, D) starts, (P, D) ends, (T,) fractions -> (P, T, D) points (1 - t) a + t b."""
    _check_ends("lerp", a, b, t)
    a, b, t = a.unsqueeze(1), b.unsqueeze(1), t.reshape(1, -1, 1)
    return a * (1.0 - t) + b * t


def slerp(a: Tensor, b: Tensor, t: Tensor, eps: float = 1e-7) -> Tensor:
    """Spherical interpolation (Shoemake 1985; White 2016 for GANs): the great-circle arc
    between the directions of a and b, (P, D), (P, D), (T,) -> (P, T, D):

        omega = angle(a, b),  slerp = sin((1 - t) omega) / sin(omega) a + sin(t omega) / sin(omega) b

    On unit vectors every point has norm 1; Gaussian z live near a sphere of radius sqrt(D),
    where the straight line's midpoint (norm ~ sqrt(D / 2)) is atypical. Pairs with an angle
    below ``eps`` (nearly parallel) fall back to the straight line."""
    _check_ends("slerp", a, b, t)
    xp = backend.array_module(a.array)
    a_data, b_data, t_data = a.array, b.array, t.array.reshape(1, -1, 1)
    unit_a = a_data / xp.linalg.norm(a_data, axis=1, keepdims=True)
    unit_b = b_data / xp.linalg.norm(b_data, axis=1, keepdims=True)
    omega = xp.arccos(xp.clip((unit_a * unit_b).sum(axis=1), -1.0, 1.0)).reshape(-1, 1, 1)  # (P, 1, 1)
    parallel = omega < eps
    sin_omega = xp.where(parallel, 1.0, xp.sin(omega))
    weight_a = xp.where(parallel, 1.0 - t_data, xp.sin((1.0 - t_data) * omega) / sin_omega)
    weight_b = xp.where(parallel, t_data, xp.sin(t_data * omega) / sin_omega)
    out = weight_a * a_data[:, None, :] + weight_b * b_data[:, None, :]
    return Tensor(out.astype(a.dtype))


# -- steering z by a classifier ------------------------------------------------------------------
def typicality_penalty(z: Tensor) -> Tensor:
    """-log of the chi density of |z| for z ~ N(0, I_d), up to a constant, summed over the rows:
    r^2 / 2 - (d - 1) log r with r = |z|. It is smallest at r = sqrt(d - 1), where Gaussian
    samples live (the typical set, a thin shell), and grows as z leaves the shell either way.
    (The Gaussian's own -log density |z|^2 / 2 would pull z toward 0, which no sample is near.)"""
    d = z.shape[1]
    square = (z * z).sum(axis=1)
    return (0.5 * square - 0.5 * (d - 1) * F.log(square)).sum()


def steer(G, classifier, z: Tensor, targets: Tensor, steps: int = 100, lr: float = 0.1,
          prior_weight: float = 1.0, record_every: int = 0, stop_when_named: bool = True) -> dict:
    """Move each z toward a latent whose image the classifier names ``targets`` (controllable
    generation with a pretrained classifier: its gradient flows back through G into z).

    Adam on z (``lr``) minimises, per row, the classifier's cross-entropy of G(z) against the
    target plus ``prior_weight`` times :func:`typicality_penalty`, for at most ``steps``
    steps; a row stops at the first step (0 included) where the classifier names its target
    (its z is kept from then on), unless ``stop_when_named`` is False (then every row takes
    every step). G and the classifier run in eval mode; their parameters get no gradient.

    Returns a dict: ``z`` (the final latents), ``reached`` (bool array: named as asked within
    ``steps`` steps), ``steps_taken`` (int array: the step each row stopped at, ``steps`` for
    those that never did), and with ``record_every`` = k > 0, ``path``: [(step, images)] of
    every row at steps 0, k, 2k, ... and at the end.
    """
    if z.ndim != 2 or targets.shape != (z.shape[0],):
        raise ValueError(f"steer: expected z (N, latent_dim) and targets (N,), got {z.shape} and {targets.shape}")
    modes = G.training, classifier.training
    G.eval()
    classifier.eval()
    from ..optim import Adam
    xp = backend.array_module(z.array)
    z = Tensor(z.array.copy(), requires_grad=True)
    optimizer = Adam([z], lr=lr)
    done = xp.zeros(z.shape[0], dtype=bool)
    steps_taken = xp.full(z.shape[0], steps)
    path = []
    try:
        for step in range(steps + 1):
            images = G(z)
            logits = classifier(images)
            named = logits.array.argmax(axis=1) == targets.array
            steps_taken = xp.where(named & ~done, step, steps_taken)
            done = done | named
            moving = ~done if stop_when_named else xp.ones_like(done)
            finished = step == steps or not bool(moving.any())  # one device-to-host read per step
            if record_every and (step % record_every == 0 or finished):
                path.append((step, backend.to_numpy(images.array).copy()))
            if finished:
                break
            loss = F.cross_entropy(logits, targets, reduction="none")
            loss = (loss * Tensor(moving).astype(z.dtype)).sum() + prior_weight * typicality_penalty(z)
            frozen = z.array.copy()
            z.grad = autograd.grad(loss, [z])[0]
            optimizer.step()
            z.array[...] = xp.where(moving[:, None], z.array, frozen)  # rows that are there stay put
            z._bump_version()
    finally:
        G.train(modes[0])
        classifier.train(modes[1])
    return {"z": z.detach(), "reached": backend.to_numpy(done), "steps_taken": backend.to_numpy(steps_taken),
            **({"path": path} if record_every else {})}
