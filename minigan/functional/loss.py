"""Losses, with PyTorch's signatures: ``reduction="mean" | "sum" | "none"``, per-element or
per-class ``weight``, and the legacy ``size_average``/``reduce`` flags (mapped to a reduction,
with PyTorch's warning)."""
from __future__ import annotations

import warnings

import numpy as np

from .. import backend
from ..autograd import Function
from ..tensor import Tensor
from .activation import log_softmax, softplus
from .elementwise import abs, clip, operands
from .reduce import mean, sum


def _legacy_reduction(size_average, reduce, reduction: str) -> str:
    """PyTorch's mapping of the old ``size_average``/``reduce`` flags to a ``reduction``."""
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    reduction = "none" if not reduce else "mean" if size_average else "sum"
    warnings.warn(f"size_average and reduce args will be deprecated, please use reduction='{reduction}' "
                  "instead.", UserWarning, stacklevel=3)
    return reduction


def _weighted(op: str, loss: Tensor, weight) -> Tensor:
    """``loss * weight``, the weight broadcast over the loss's shape (None: no weight)."""
    if weight is None:
        return loss
    if not isinstance(weight, Tensor):
        raise TypeError(f"{op}: weight must be a Tensor or None, got {type(weight).__name__}")
    if np.broadcast_shapes(weight.shape, loss.shape) != loss.shape:
        raise ValueError(f"{op}: weight of shape {weight.shape} does not broadcast to the loss's shape {loss.shape}")
    return loss * weight


def _check_reduction(op: str, reduction) -> None:
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


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


def binary_cross_entropy(input: Tensor, target: Tensor, weight=None, size_average=None, reduce=None,
                         reduction: str = "mean") -> Tensor:
    """-weight [t log p + (1 - t) log(1 - p)] for probabilities p = ``input`` in [0, 1]
    (PyTorch's ``F.binary_cross_entropy``; ``nn.BCELoss``).

    On the CPU a p outside [0, 1] (or NaN) raises, as in PyTorch. On a GPU it is not checked
    (the check would wait for the device on every call): the loss is then NaN.
    """
    op = "binary_cross_entropy"
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_pair(op, input, target)
    if target.requires_grad:
        raise ValueError(f"{op}: target must not require grad")
    p, t = operands(op, input, target)
    if isinstance(p.array, np.ndarray) and not ((p.array >= 0) & (p.array <= 1)).all():
        bad = p.array[~((p.array >= 0) & (p.array <= 1))].flat[0]
        raise RuntimeError(f"{op}: all elements of input should be between 0 and 1, got {bad} "
                           f"(input shape {p.shape})")
    return _reduce(op, _weighted(op, BinaryCrossEntropy()(p, t), weight), reduction)


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor, weight=None, size_average=None,
                                     reduce=None, reduction: str = "mean", pos_weight=None) -> Tensor:
    """BCE of sigmoid(z) for logits z = ``input``, exact for any |z|: softplus(z) - t z, or with
    ``pos_weight`` w, w t softplus(-z) + (1 - t) softplus(z) (``nn.BCEWithLogitsLoss``)."""
    op = "binary_cross_entropy_with_logits"
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_pair(op, input, target)
    z, t = operands(op, input, target)
    if pos_weight is None:
        loss = softplus(z) - z * t
    else:
        loss = _weighted(op, t * softplus(-z), pos_weight) + (1.0 - t) * softplus(z)
    return _reduce(op, _weighted(op, loss, weight), reduction)


def mse_loss(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """(input - target)^2 (``nn.MSELoss``; LSGAN's loss)."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_pair("mse_loss", input, target)
    a, b = operands("mse_loss", input, target)  # a dtype mismatch is reported as mse_loss's
    diff = a - b
    return _reduce("mse_loss", diff * diff, reduction)


def l1_loss(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """|input - target| (``nn.L1Loss``; pix2pix's reconstruction term)."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_pair("l1_loss", input, target)
    a, b = operands("l1_loss", input, target)
    return _reduce("l1_loss", abs(a - b), reduction)


def _check_labels(op: str, input, target, ignore_index: int) -> None:
    """Logits or log-probabilities (N, C) and integer labels (N,) in [0, C) (or ``ignore_index``)."""
    if not isinstance(input, Tensor) or not isinstance(target, Tensor):
        raise TypeError(f"{op}: input and target must be Tensors")
    if input.ndim != 2 or target.shape != (input.shape[0],):
        what = "logits" if op == "cross_entropy" else "log-probabilities"
        raise ValueError(f"{op}: expected {what} (N, C) and labels (N,), got {input.shape} and {target.shape}")
    if target.dtype.kind not in "iu":
        raise TypeError(f"{op}: labels must be integers, got {target.dtype}")
    if input.dtype.kind != "f":
        raise TypeError(f"{op}: input must be floating point, got {input.dtype}")
    backend.check_same_device(op, [input.array, target.array])
    labels = target.array[target.array != ignore_index]
    if labels.size and not (0 <= int(labels.min()) and int(labels.max()) < input.shape[1]):
        raise ValueError(f"{op}: labels must lie in [0, {input.shape[1]}), got "
                         f"{int(labels.min())}..{int(labels.max())}")


def nll_loss(input: Tensor, target: Tensor, weight=None, size_average=None, ignore_index: int = -100,
             reduce=None, reduction: str = "mean") -> Tensor:
    """-weight[t] input[t] for log-probabilities ``input`` (N, C) and integer labels t (N,)
    (``nn.NLLLoss``). Rows labelled ``ignore_index`` count for nothing; "mean" divides by the
    sum of the weights of the rows that count, as PyTorch does."""
    op = "nll_loss"
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_labels(op, input, target, ignore_index)
    xp = backend.array_module(target.array)
    counted = target.array != ignore_index
    labels = xp.where(counted, target.array, 0)  # any class for ignored rows; their weight is 0
    if weight is not None:
        if not isinstance(weight, Tensor) or weight.shape != (input.shape[1],):
            raise ValueError(f"{op}: weight must be a Tensor of shape ({input.shape[1]},), got "
                             f"{getattr(weight, 'shape', type(weight).__name__)}")
        row_weight = weight.detach()[Tensor(labels)] * Tensor(counted.astype(weight.dtype))
    else:
        row_weight = Tensor(counted.astype(input.dtype))
    picked = input[Tensor(xp.arange(input.shape[0])), Tensor(labels)]
    loss = -picked * row_weight
    _check_reduction(op, reduction)
    if reduction == "mean":
        return sum(loss) / sum(row_weight)  # 0 / 0 = NaN when every row is ignored, as in PyTorch
    return _reduce(op, loss, reduction)


def cross_entropy(input: Tensor, target: Tensor, weight=None, size_average=None, ignore_index: int = -100,
                  reduce=None, reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """-log softmax(input)[target] for logits (N, C) and integer class labels (N,): PyTorch's
    ``F.cross_entropy`` (``nn.CrossEntropyLoss``), with ``weight`` and ``ignore_index`` as in
    :func:`nll_loss`. ``label_smoothing`` is not supported."""
    op = "cross_entropy"
    if label_smoothing != 0:
        raise NotImplementedError(f"{op}: label_smoothing={label_smoothing} is not supported by minigan")
    _check_labels(op, input, target, ignore_index)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(op, reduction)
    return nll_loss(log_softmax(input, axis=1), target, weight, ignore_index=ignore_index, reduction=reduction)
