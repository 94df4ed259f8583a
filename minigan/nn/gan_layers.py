"""Layers that let a discriminator look at a whole minibatch, against mode collapse.

A generator that collapses onto a few outputs fools a discriminator that judges each sample
alone: every single fake looks fine. These layers append statistics of the batch to each
sample's features, so a batch with too little variety is easy to spot:

- :class:`MinibatchStdDev` (Karras et al. 2018, "Progressive Growing of GANs"): one extra
  feature map holding the average standard deviation of the features across a small group
  of samples.
- :class:`MinibatchDiscrimination` (Salimans et al. 2016, "Improved Techniques for Training
  GANs"): learned per-sample kernels, and for each kernel how close the other samples are.

Both are made of differentiable ops only (reshape, var, sqrt, matmul, abs, exp, ...), so their
gradients, and gradients of gradients (WGAN-GP), come from those ops' backwards.
"""
from __future__ import annotations

import math
import numbers

from .. import functional as F
from ..tensor import Tensor
from . import init
from .layers import _new_parameter
from .module import Module


class MinibatchStdDev(Module):
    """Append one feature map: the mean over features of the per-group standard deviation.

    For an input (N, C, *spatial) (or (N, F) features) the batch is split into groups of
    ``group_size`` samples; within each group the standard deviation of every feature across
    the group's samples is taken (population std, ``sqrt(var + 1e-8)``), averaged over all
    features and positions to one number, and appended to each sample of the group as a
    constant extra channel: the output is (N, C + 1, *spatial) (or (N, F + 1)).

    Groups are strided, as in Karras et al.'s code: sample ``n`` belongs to group
    ``n % (N // G)``, i.e. the batch is viewed as (G, N // G, ...) and the std is taken over
    the first axis.

    When N is not a multiple of ``group_size`` (the last batch of an epoch, a sample grid of
    10), the whole batch is one group instead (G = N); a batch of one sample gets
    ``sqrt(1e-8)`` = 1e-4. The statistic then means something slightly different, which is
    fine for sampling but a reason to train with ``batch_size % group_size == 0``.
    """

    eps = 1e-8  # keeps sqrt differentiable when a group has no spread

    def __init__(self, group_size: int = 4):
        super().__init__()
        if isinstance(group_size, bool) or not isinstance(group_size, numbers.Integral) or group_size < 1:
            raise ValueError(f"MinibatchStdDev: group_size must be a positive int, got {group_size!r}")
        self.group_size = int(group_size)

    def group_size_for(self, batch: int) -> int:
        """The group size used for a batch of ``batch`` samples (see the class docstring)."""
        return self.group_size if batch % self.group_size == 0 else batch

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor):
            raise TypeError(f"MinibatchStdDev: expected a Tensor, got {type(x).__name__}")
        if x.ndim < 2 or x.shape[0] == 0:
            raise ValueError(f"MinibatchStdDev: expected a non-empty batch of shape (N, C, ...), got {x.shape}")
        n = x.shape[0]
        groups = self.group_size_for(n)
        per_group = x.reshape(groups, n // groups, -1)  # (G, M, features): group m = samples m, m+M, ...
        std = F.sqrt(F.var(per_group, axis=0) + self.eps)  # (M, features)
        stat = std.mean(axis=1)  # (M,): one number per group
        per_sample = F.broadcast_to(stat, (groups, n // groups)).reshape((n, 1) + (1,) * (x.ndim - 2))
        extra = F.broadcast_to(per_sample, (n, 1) + x.shape[2:])
        return F.concatenate([x, extra], axis=1)

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}"


class MinibatchDiscrimination(Module):
    """Append ``out_features`` closeness scores to each sample's ``in_features`` features.

    With the learned tensor T of shape (in_features, out_features, kernel_dims) (A x B x C in
    the paper), each sample i gets matrices M_i = x_i T of shape (B, C); for each kernel b,

        c_b(x_i, x_j) = exp(-||M_i,b - M_j,b||_1)
        o(x_i)_b = sum over j != i of c_b(x_i, x_j)

    and the output is concatenate(x, o): (N, in_features + out_features). The sample itself
    is excluded, by subtracting its own term exp(0) = 1 (Salimans et al.'s code keeps it;
    the difference is the constant 1). A batch of one sample gets o = 0.

    T starts like a Linear weight, U(-1/sqrt(in_features), 1/sqrt(in_features)), so the
    L1 distances start near 1 per kernel dimension and exp(-distance) is not yet vanishing.
    Cost: N x N x B x C values per batch (64 x 64 x 32 x 8 = 1M for the defaults below).
    """

    def __init__(self, in_features: int, out_features: int, kernel_dims: int, device=None, dtype=None):
        super().__init__()
        for name, value in (("in_features", in_features), ("out_features", out_features),
                            ("kernel_dims", kernel_dims)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
                raise ValueError(f"MinibatchDiscrimination: {name} must be a positive int, got {value!r}")
        self.in_features, self.out_features, self.kernel_dims = in_features, out_features, kernel_dims
        self.weight = _new_parameter((in_features, out_features, kernel_dims), device, dtype)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1 / math.sqrt(self.in_features)
        init.uniform_(self.weight, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor):
            raise TypeError(f"MinibatchDiscrimination: expected a Tensor, got {type(x).__name__}")
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"MinibatchDiscrimination: expected input (N, {self.in_features}), got {x.shape} "
                             f"(flatten feature maps first)")
        n, b, c = x.shape[0], self.out_features, self.kernel_dims
        m = F.matmul(x, self.weight.reshape(self.in_features, b * c)).reshape(n, b, c)  # M_i = x_i T
        l1 = F.abs(m.unsqueeze(1) - m.unsqueeze(0)).sum(axis=3)  # (N, N, B): ||M_i,b - M_j,b||_1
        closeness = F.exp(-l1).sum(axis=1) - 1.0  # (N, B): sum over j != i (own term is exp(0) = 1)
        return F.concatenate([x, closeness], axis=1)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, kernel_dims={self.kernel_dims}"
