"""Reductions over ``axis`` (None: all axes; int or tuple), keeping reduced axes as size 1
when ``keepdims``. Each backward first restores the reduced axes as size 1, then broadcasts
the gradient back over them.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import backend
from ..autograd import Function
from ..tensor import Tensor
from .elementwise import exp
from .shape import broadcast_to, reshape


def normalize_axes(op: str, axis, ndim: int) -> tuple:
    """``axis`` (None, int or tuple) as a sorted tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, numbers.Integral) else axis
    if not isinstance(axes, (tuple, list)) or not all(isinstance(a, numbers.Integral) for a in axes):
        raise TypeError(f"{op}: axis must be None, an int or a tuple of ints, got {axis!r}")
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(f"{op}: axis {a} is out of range for a tensor with {ndim} dimensions")
    unique = sorted({a % ndim for a in axes})
    if len(unique) != len(axes):
        raise ValueError(f"{op}: axis {axis!r} names an axis more than once (tensor with {ndim} dimensions)")
    return tuple(unique)


def _kept_shape(shape, axes) -> tuple:
    """``shape`` with the reduced ``axes`` set to 1 (the keepdims shape)."""
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


def _expand(gy: Tensor, shape, axes) -> Tensor:
    """The gradient of a reduction, broadcast back to the input's ``shape``."""
    return broadcast_to(reshape(gy, _kept_shape(shape, axes)), shape)


def _check(op: str, x) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(x).__name__}")


class Sum(Function):
    def __init__(self, axes, keepdims):
        self.axes, self.keepdims = axes, keepdims

    def forward(self, x):
        ### BEGIN SOLUTION sum
        self.input_shape = x.shape
        return x.sum(axis=self.axes, keepdims=self.keepdims)
        ### END SOLUTION

    def backward(self, gy):  # every summed element gets the gradient of the sum
        ### BEGIN SOLUTION sum
        return _expand(gy, self.input_shape, self.axes)
        ### END SOLUTION


def sum(x: Tensor, axis=None, keepdims: bool = False) -> Tensor:
    """Sum over ``axis``."""
    _check("sum", x)
    return Sum(normalize_axes("sum", axis, x.ndim), keepdims)(x)


def _count(shape, axes) -> int:
    return int(np.prod([shape[a] for a in axes]))


def mean(x: Tensor, axis=None, keepdims: bool = False) -> Tensor:
    """Mean over ``axis``."""
    _check("mean", x)
    axes = normalize_axes("mean", axis, x.ndim)
    n = _count(x.shape, axes)
    return sum(x, axes, keepdims) * (1.0 / n if n else float("nan"))  # the mean of nothing is NaN, as in PyTorch


def var(x: Tensor, axis=None, keepdims: bool = False, ddof: int = 0) -> Tensor:
    """Variance over ``axis``: sum((x - mean)^2) / (n - ddof)."""
    _check("var", x)
    axes = normalize_axes("var", axis, x.ndim)
    n = _count(x.shape, axes)
    if n - ddof <= 0:  # no degrees of freedom left: the variance would be inf, NaN or negative
        raise ValueError(f"var: ddof={ddof} needs more than {ddof} elements per variance, "
                         f"got {n} (shape {x.shape}, axis {axis})")
    centered = x - mean(x, axes, keepdims=True)
    return sum(centered * centered, axes, keepdims) * (1.0 / (n - ddof))


class Max(Function):
    def __init__(self, axes, keepdims, largest):
        self.axes, self.keepdims, self.largest = axes, keepdims, largest

    def forward(self, x):
        ### BEGIN SOLUTION max
        self.input_shape = x.shape
        y = x.max(axis=self.axes, keepdims=True) if self.largest else x.min(axis=self.axes, keepdims=True)
        hits = x == y
        # ties share the gradient evenly
        self.share = hits / hits.sum(axis=self.axes, keepdims=True).astype(x.dtype)
        return y if self.keepdims else y.reshape(tuple(s for i, s in enumerate(y.shape) if i not in self.axes))
        ### END SOLUTION

    def backward(self, gy):  # the gradient goes to the extreme element(s)
        ### BEGIN SOLUTION max
        return _expand(gy, self.input_shape, self.axes) * Tensor(self.share)
        ### END SOLUTION


def _extreme(op: str, x: Tensor, axis, keepdims: bool, largest: bool) -> Tensor:
    _check(op, x)
    if x.numel() == 0:
        raise ValueError(f"{op}: cannot reduce an empty tensor of shape {x.shape}")
    return Max(normalize_axes(op, axis, x.ndim), keepdims, largest)(x)


def _arg_extreme(op: str, x: Tensor, axis) -> Tensor:
    _check(op, x)
    if axis is not None:
        axis = normalize_axes(op, axis, x.ndim)
        if len(axis) != 1:
            raise TypeError(f"{op}: axis must be None or one int, got {axis!r}")
        axis = axis[0]
    if x.numel() == 0 and (axis is None or x.shape[axis] == 0):
        raise ValueError(f"{op}: cannot take the {op} of an empty tensor of shape {x.shape} (axis {axis})")
    array = x.array.argmax(axis=axis) if op == "argmax" else x.array.argmin(axis=axis)
    return Tensor(array)


def argmax(x: Tensor, axis=None) -> Tensor:
    """Index of the largest value (over all elements, flattened, or along ``axis``); a constant."""
    return _arg_extreme("argmax", x, axis)


def argmin(x: Tensor, axis=None) -> Tensor:
    """Index of the smallest value (over all elements, flattened, or along ``axis``); a constant."""
    return _arg_extreme("argmin", x, axis)


def max(x: Tensor, axis=None, keepdims: bool = False) -> Tensor:
    """Largest value over ``axis`` (ties share the gradient evenly)."""
    return _extreme("max", x, axis, keepdims, True)


def min(x: Tensor, axis=None, keepdims: bool = False) -> Tensor:
    """Smallest value over ``axis`` (ties share the gradient evenly)."""
    return _extreme("min", x, axis, keepdims, False)


class LogSumExp(Function):
    save_inputs = (0,)
    save_output = True

    def __init__(self, axes, keepdims):
        self.axes, self.keepdims = axes, keepdims

    def forward(self, x):
        if _count(x.shape, self.axes) == 0:  # the log of an empty sum is -inf, as in PyTorch
            shape = _kept_shape(x.shape, self.axes) if self.keepdims else \
                tuple(s for i, s in enumerate(x.shape) if i not in self.axes)
            return backend.array_module(x).full(shape, -np.inf, dtype=x.dtype)
        ### BEGIN SOLUTION logsumexp
        xp = backend.array_module(x)
        shift = x.max(axis=self.axes, keepdims=True)
        shift = xp.where(xp.isfinite(shift), shift, 0)  # all -inf rows stay -inf, without NaN
        y = xp.log(xp.exp(x - shift).sum(axis=self.axes, keepdims=True)) + shift
        return y if self.keepdims else y.reshape(tuple(s for i, s in enumerate(y.shape) if i not in self.axes))
        ### END SOLUTION

    def backward(self, gy):  # d/dx log sum e^x = e^(x - y) = softmax(x)
        ### BEGIN SOLUTION logsumexp
        x = self.saved_input(0)
        y = reshape(self.saved_output(), _kept_shape(x.shape, self.axes))
        return _expand(gy, x.shape, self.axes) * exp(x - y)
        ### END SOLUTION


def logsumexp(x: Tensor, axis=None, keepdims: bool = False) -> Tensor:
    """log(sum(exp(x))) over ``axis``, computed without overflow."""
    _check("logsumexp", x)
    return LogSumExp(normalize_axes("logsumexp", axis, x.ndim), keepdims)(x)
