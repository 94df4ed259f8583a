"""Synchronised batch norm: the statistics of the global batch, when each rank holds a shard.

In data-parallel training (minigan/distributed/) every rank sees only its shard of the batch,
so a plain BatchNorm normalises each shard by that shard's mean and variance: N ranks with
B images each behave like one process that normalises N batches of B, not one of N B.
:class:`SyncBatchNorm` (PyTorch's ``nn.SyncBatchNorm``) joins the shards:

- **forward**: each rank's per-channel count n_r, mean m_r and sum of squared deviations
  M2_r are all-gathered and combined (Chan, Golub and LeVeque's pairwise formula),

      n = sum n_r,   mean = sum n_r m_r / n,   var = sum (M2_r + n_r (m_r - mean)^2) / n,

  and every rank normalises with the global mean and variance (the running statistics get
  the unbiased n / (n - 1) var, as in BatchNorm);
- **backward**: the per-channel sums sum(dy) and sum(dy xhat) are all-reduced, so that

      dx = w / sqrt(var + eps) * (dy - (sum dy + xhat sum(dy xhat)) / n)

  is the gradient of the sum of all ranks' losses. dw and db stay this rank's own sums: the
  gradient all-reduce averages them with every other parameter.

So the ranks together take the step one process takes on the whole batch. With
``create_graph`` (a gradient penalty) the op differentiates its definition, written with
:class:`AllReduce`, whose backward is itself an all-reduce: rank s's input reaches every
rank's sum, so dL/dx_s = sum over ranks r of dL_r/dy.

Every rank must run the same forward and backward passes in the same order (each is a
collective); in evaluation mode nothing is sent and the running statistics are used.
"""
from __future__ import annotations

import numpy as np

from .. import autograd, backend
from .. import functional as F
from ..autograd import Function
from ..functional.norm import _channel_dot, _channel_view, _check_batch_norm, _per_channel
from ..tensor import Tensor
from .layers import _BatchNorm


class AllReduce(Function):
    """y = the sum over the ranks of ``group`` of x, on every rank; differentiable (its
    backward is an all-reduce of the gradients)."""

    def __init__(self, group):
        self.group = group

    def forward(self, x):
        return self.group.all_reduce(x.copy())

    def backward(self, gy):
        return AllReduce(self.group)(gy)


def _global_statistics(x, axes, group):
    """(mean, var, n): the per-channel mean and biased variance of every rank's x together, in
    x's dtype, and the global count per channel as a 0-d float64 array (on x's device: no copy
    to the host)."""
    xp, channels = backend.array_module(x), x.shape[1]
    local_mean = x.mean(axis=axes)
    centered = x - _per_channel(local_mean, x.ndim)
    local_m2 = _channel_dot(centered, centered)  # sum((x - m_r)^2) per channel
    count = xp.full(1, x.size // channels, dtype=np.float64)
    rows = group.all_gather(xp.concatenate([count, local_mean.astype(np.float64), local_m2.astype(np.float64)]))
    counts, means, m2s = rows[:, :1], rows[:, 1:channels + 1], rows[:, channels + 1:]
    n = counts.sum()
    mean = (counts * means).sum(axis=0) / n
    var = (m2s + counts * (means - mean) ** 2).sum(axis=0) / n
    return mean.astype(x.dtype), var.astype(x.dtype), n


class SyncBatchNormFunction(Function):
    """Training-mode batch norm over every rank's batch (see the module docstring)."""

    save_inputs = (0, 1, 2)

    def __init__(self, axes, eps, group):
        self.axes, self.eps, self.group = axes, eps, group

    def forward(self, x, weight, bias):
        xp = backend.array_module(x)
        self.mean, self.var, self.count = _global_statistics(x, self.axes, self.group)
        self.inv_std = 1 / xp.sqrt(self.var + x.dtype.type(self.eps))
        xhat = x - _per_channel(self.mean, x.ndim)
        xhat *= _per_channel(self.inv_std, x.ndim)
        self.xhat = xhat
        y = xhat * _per_channel(weight, x.ndim)
        y += _per_channel(bias, x.ndim)
        return y

    def backward(self, gy):
        if autograd.is_grad_enabled():  # create_graph: differentiate the definition
            return self._differentiable_backward(gy)
        weight, xhat, gy = self.saved_input(1).array, self.xhat, gy.array
        xp, channels, ndim = backend.array_module(gy), xhat.shape[1], xhat.ndim
        g_bias = gy.sum(axis=self.axes)  # this rank's sum(dy)
        g_weight = _channel_dot(gy, xhat)  # this rank's sum(dy * xhat)
        totals = self.group.all_reduce(xp.concatenate([g_bias, g_weight]))
        n = self.count.astype(gy.dtype)
        gx = xhat * _per_channel(totals[channels:] / n, ndim)
        gx += _per_channel(totals[:channels] / n, ndim)
        xp.subtract(gy, gx, out=gx)
        gx *= _per_channel(weight * self.inv_std, ndim)
        return Tensor(gx), Tensor(g_weight), Tensor(g_bias)

    def _differentiable_backward(self, gy):
        x, weight, bias = (self.saved_input(i) for i in range(3))
        n = Tensor(self.count.astype(x.dtype))
        mean = AllReduce(self.group)(F.sum(x, self.axes)) / n
        centered = x - _channel_view(mean, x.ndim)
        var = AllReduce(self.group)(F.sum(centered * centered, self.axes)) / n
        y = centered * _channel_view((var + self.eps) ** -0.5 * weight, x.ndim) + _channel_view(bias, x.ndim)
        wanted = [t for t, needed in zip((x, weight, bias), self.needs_input_grad) if needed]
        grads = iter(autograd.grad(y, wanted, gy, create_graph=True))
        return tuple(next(grads) if needed else None for needed in self.needs_input_grad)


def sync_batch_norm(x: Tensor, running_mean, running_var, weight, bias, group, momentum: float = 0.1,
                    eps: float = 1e-5) -> Tensor:
    """Training-mode batch norm with the statistics of every rank of ``group`` together
    (see the module docstring); updates the running statistics in place, identically on
    every rank. x is (N, C) or (N, C, H, W); weight, bias and either running tensor may be None."""
    _check_batch_norm(x, running_mean, running_var, weight, bias)
    count = x.numel() // x.shape[1]
    if count < 1 or (count == 1 and group.world_size == 1):
        raise ValueError(f"sync_batch_norm: training needs more than one value per channel, got x of shape {x.shape} "
                         f"on {group.world_size} rank(s)")
    xp, channels = x.device.xp, x.shape[1]
    with backend.on_device(x.device):
        weight = weight if weight is not None else Tensor(xp.ones(channels, dtype=x.dtype))
        bias = bias if bias is not None else Tensor(xp.zeros(channels, dtype=x.dtype))
    op = SyncBatchNormFunction((0,) + tuple(range(2, x.ndim)), eps, group)
    y = op(x, weight, bias)
    with backend.on_device(x.device):
        _update_running(running_mean, running_var, op.mean, op.var, op.count, momentum)
    return y


def _update_running(running_mean, running_var, mean, var, n, momentum: float) -> None:
    """running <- (1 - momentum) running + momentum batch, in place; the variance unbiased by
    n / (n - 1), with n kept on the device."""
    if running_mean is not None:
        running_mean.array *= 1 - momentum
        running_mean.array += momentum * mean
        running_mean._bump_version()
    if running_var is not None:
        running_var.array *= 1 - momentum
        running_var.array += (momentum * n / (n - 1)).astype(var.dtype) * var
        running_var._bump_version()


class SyncBatchNorm(_BatchNorm):
    """Batch norm whose training-mode statistics are those of the global batch: every rank of
    ``process_group`` (a :class:`minigan.distributed.ProcessGroup`) together. Takes (N, C) and
    (N, C, H, W) inputs; the state_dict keys are BatchNorm's, so checkpoints interchange.

    ``process_group=None`` normalises each process's batch alone (a plain BatchNorm), as
    PyTorch's does without a process group; so does evaluation mode, on the running
    statistics. Unlike PyTorch's, a group of one rank still runs the synchronised code (the
    same values)."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum=0.1, affine: bool = True,
                 track_running_stats: bool = True, process_group=None, device=None, dtype=None):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype)
        self.process_group = process_group

    def _check_input(self, x) -> None:
        if not isinstance(x, Tensor):
            raise TypeError(f"SyncBatchNorm: expected a Tensor, got {type(x).__name__}")
        if x.ndim not in (2, 4):
            raise ValueError(f"SyncBatchNorm: expected a 2-D (N, C) or 4-D (N, C, H, W) input, got shape {x.shape}")
        if x.shape[1] != self.num_features:
            raise ValueError(f"SyncBatchNorm: expected {self.num_features} channels, got input of shape {x.shape}")

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.process_group is None:
            return super().forward(x)
        self._check_input(x)
        momentum = self._momentum() if self.track_running_stats else 0.0
        y = sync_batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, self.process_group,
                            momentum, self.eps)
        if self.track_running_stats:
            self._count_batch()
        return y

    @classmethod
    def convert_sync_batchnorm(cls, module, process_group=None):
        """``module`` with every BatchNorm1d/2d in it replaced by a SyncBatchNorm of ``process_group``
        that takes over its parameters (the same Parameter objects, so an optimizer made before
        still updates them), running statistics and train/eval mode. Returns the module (a new
        one when ``module`` itself is a batch norm), as PyTorch's does."""
        if isinstance(module, _BatchNorm) and not isinstance(module, SyncBatchNorm):
            converted = cls(module.num_features, module.eps, module.momentum, module.affine,
                            module.track_running_stats, process_group)
            for name in ("weight", "bias"):
                if module.affine:
                    setattr(converted, name, getattr(module, name))
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                setattr(converted, name, getattr(module, name))
            converted.train(module.training)
            return converted
        for name, child in list(module.named_children()):
            setattr(module, name, cls.convert_sync_batchnorm(child, process_group))
        return module

    def extra_repr(self) -> str:
        return super().extra_repr() + ("" if self.process_group is None else f", process_group={self.process_group}")
