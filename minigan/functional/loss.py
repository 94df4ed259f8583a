"""Losses, with ``reduction="mean" | "sum" | "none"`` as in PyTorch."""
from __future__ import annotations

import numpy as np

from .. import backend
from ..autograd import Function
from ..tensor import Tensor
from .activation import log_softmax, softplus
from .elementwise import clip, operands
from .reduce import mean, sum


def _reduce(op: str, loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return mean(loss)
    if reduction == "sum":
        return sum(loss)
    if reduction == "none":
        return loss
    raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _check_pair(op: str, input, target) -> None:
    for name, t in (("input", input), ("target", target)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: {name} must be a Tensor, got {type(t).__name__}")
    if input.shape != target.shape:
        raise ValueError(f"{op}: input shape {input.shape} and target shape {target.shape} differ")
    backend.check_same_device(op, [input.array, target.array])


class BinaryCrossEntropy(Function):
    save_inputs = (0, 1)

    def forward(self, p, t):
        ### BEGIN SOLUTION binary_cross_entropy
        xp = backend.array_module(p)
        # PyTorch clamps each log at -100, so p = 0 or 1 gives a finite loss
        log_p = xp.maximum(xp.log(p), -100)
        log_1mp = xp.maximum(xp.log1p(-p), -100)
        return -(t * log_p + (1 - t) * log_1mp)
        ### END SOLUTION

    def backward(self, gy):  # dl/dp = (p - t) / (p (1 - p)), the denominator kept >= 1e-12
        ### BEGIN SOLUTION binary_cross_entropy
        p, t = self.saved_input(0), self.saved_input(1)
        return gy * (p - t) / clip(p * (1.0 - p), 1e-12), None
        ### END SOLUTION


def binary_cross_entropy(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """-[t log p + (1 - t) log(1 - p)] for probabilities p = ``input`` in [0, 1].

    On the CPU a p outside [0, 1] (or NaN) raises, as in PyTorch. On a GPU it is not checked
    (the check would wait for the device on every call): the loss is then NaN.
    """
    op = "binary_cross_entropy"
    _check_pair(op, input, target)
    if target.requires_grad:
        raise ValueError(f"{op}: target must not require grad")
    p, t = operands(op, input, target)
    if isinstance(p.array, np.ndarray) and not ((p.array >= 0) & (p.array <= 1)).all():
        bad = p.array[~((p.array >= 0) & (p.array <= 1))].flat[0]
        raise RuntimeError(f"{op}: all elements of input should be between 0 and 1, got {bad} "
                           f"(input shape {p.shape})")
    return _reduce(op, BinaryCrossEntropy()(p, t), reduction)


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """BCE of sigmoid(z) for logits z = ``input``: softplus(z) - t z, exact for any |z|."""
    _check_pair("binary_cross_entropy_with_logits", input, target)
    z, t = operands("binary_cross_entropy_with_logits", input, target)
    return _reduce("binary_cross_entropy_with_logits", softplus(z) - z * t, reduction)


def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """(input - target)^2."""
    _check_pair("mse_loss", input, target)
    a, b = operands("mse_loss", input, target)  # a dtype mismatch is reported as mse_loss's
    diff = a - b
    return _reduce("mse_loss", diff * diff, reduction)


def cross_entropy(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """-log softmax(input)[target] for logits (N, C) and integer class labels (N,)."""
    op = "cross_entropy"
    if not isinstance(input, Tensor) or not isinstance(target, Tensor):
        raise TypeError(f"{op}: input and target must be Tensors")
    if input.ndim != 2 or target.shape != (input.shape[0],):
        raise ValueError(f"{op}: expected logits (N, C) and labels (N,), got {input.shape} and {target.shape}")
    if target.dtype.kind not in "iu":
        raise TypeError(f"{op}: labels must be integers, got {target.dtype}")
    if input.dtype.kind != "f":
        raise TypeError(f"{op}: logits must be floating point, got {input.dtype}")
    backend.check_same_device(op, [input.array, target.array])
    if target.numel() and not (0 <= int(target.array.min()) and int(target.array.max()) < input.shape[1]):
        raise ValueError(f"{op}: labels must lie in [0, {input.shape[1]}), got "
                         f"{int(target.array.min())}..{int(target.array.max())}")
    rows = backend.array_module(target.array).arange(input.shape[0])
    picked = log_softmax(input, axis=1)[Tensor(rows), target]
    return _reduce(op, -picked, reduction)
