"""Latent-space tools used by ``examples/latent.py``: the truncation trick's sampler, and
linear and spherical interpolation between latent vectors."""
from __future__ import annotations

from .. import backend
from ..tensor import Tensor, randn

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
