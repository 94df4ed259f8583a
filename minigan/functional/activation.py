"""Activations. Each is written so that it cannot overflow for any finite float input."""
from __future__ import annotations

import numbers
import warnings

from .. import autograd, backend, cuda_kernels
from ..autograd import Function
from ..tensor import Tensor
from .elementwise import exp
from .naming import axis_from
from .reduce import normalize_axes
from .reduce import sum as _sum


def _check(op: str, x) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(x).__name__}")
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating-point tensor, got {x.dtype}")


def _fused(gy: Tensor) -> bool:
    """Whether a backward can be one kernel: on a GPU, with no graph of the backward wanted
    (``create_graph`` differentiates the Tensor ops below)."""
    return cuda_kernels.uses_kernels(gy.array) and not autograd.is_grad_enabled()


class ReLU(Function):
    save_output = True  # the next layer keeps it anyway; its sign is the mask backward needs

    def forward(self, x):
        ### BEGIN SOLUTION relu
        return backend.array_module(x).maximum(x, 0)
        ### END SOLUTION

    def backward(self, gy):  # 1 for x > 0, else 0 (0 at the kink, as PyTorch)
        ### BEGIN SOLUTION relu
        if _fused(gy):  # on a GPU: one kernel
            return Tensor(cuda_kernels.elementwise("minigan_relu_grad", gy.array, self.saved_output().array))
        return gy * Tensor(self.saved_output().array > 0)
        ### END SOLUTION


class LeakyReLU(Function):
    save_output = True  # for slope >= 0, y > 0 exactly where x > 0: y gives backward its mask

    def __init__(self, negative_slope):
        self.negative_slope = negative_slope

    def forward(self, x):
        ### BEGIN SOLUTION leaky_relu
        if cuda_kernels.uses_kernels(x) and 0 <= self.negative_slope <= 1:  # on a GPU: one kernel
            return cuda_kernels.elementwise("minigan_leaky_relu", x, self.negative_slope)
        xp = backend.array_module(x)
        if self.negative_slope < 0:  # then y > 0 on both sides: keep the mask itself
            self.positive = x > 0
            return xp.where(self.positive, x, x * self.negative_slope)
        if self.negative_slope <= 1:  # then max(x, slope x) is the function: 2 passes, not 3
            scaled = xp.multiply(x, self.negative_slope, out=xp.empty_like(x))  # (an array even when 0-d)
            return xp.maximum(x, scaled, out=scaled)  # into scaled: one new array, not two
        return xp.where(x > 0, x, x * self.negative_slope)
        ### END SOLUTION

    def backward(self, gy):  # 1 for x > 0, else negative_slope
        ### BEGIN SOLUTION leaky_relu
        positive = getattr(self, "positive", None)
        if _fused(gy) and positive is None:  # on a GPU, for slope >= 0: one kernel
            return Tensor(cuda_kernels.elementwise("minigan_leaky_relu_grad", gy.array, self.saved_output().array,
                                                   self.negative_slope))
        if positive is None:
            positive = self.saved_output().array > 0
        # the local slope as an array, 1 or negative_slope; a multiply is 5x faster than a where
        xp = backend.array_module(positive)
        local = xp.multiply(positive, 1 - self.negative_slope, out=xp.empty_like(positive, dtype=gy.dtype),
                            dtype=gy.dtype)  # (a float32 loop: without dtype, bool times a float is float64)
        local += self.negative_slope
        if not autograd.is_grad_enabled():  # no graph of this backward wanted: dx into local's memory
            return Tensor(xp.multiply(gy.array, local, out=local))
        return gy * Tensor(local)
        ### END SOLUTION


class Sigmoid(Function):
    save_output = True

    def forward(self, x):
        ### BEGIN SOLUTION sigmoid
        if cuda_kernels.uses_kernels(x):  # on a GPU: one kernel
            return cuda_kernels.elementwise("minigan_sigmoid", x)
        xp = backend.array_module(x)
        e = xp.exp(-xp.abs(x))  # never overflows
        return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))
        ### END SOLUTION

    def backward(self, gy):  # sigma' = sigma (1 - sigma)
        ### BEGIN SOLUTION sigmoid
        y = self.saved_output()
        if _fused(gy):  # on a GPU: one kernel
            return Tensor(cuda_kernels.elementwise("minigan_sigmoid_grad", gy.array, y.array))
        return gy * y * (1.0 - y)
        ### END SOLUTION


class Tanh(Function):
    save_output = True

    def forward(self, x):
        ### BEGIN SOLUTION tanh
        return backend.array_module(x).tanh(x)
        ### END SOLUTION

    def backward(self, gy):  # tanh' = 1 - tanh^2
        ### BEGIN SOLUTION tanh
        y = self.saved_output()
        if _fused(gy):  # on a GPU: one kernel
            return Tensor(cuda_kernels.elementwise("minigan_tanh_grad", gy.array, y.array))
        return gy * (1.0 - y * y)
        ### END SOLUTION


class Softplus(Function):
    save_inputs = (0,)

    def forward(self, x):
        ### BEGIN SOLUTION softplus
        return backend.array_module(x).logaddexp(0, x)  # log(1 + e^x) without overflow
        ### END SOLUTION

    def backward(self, gy):  # softplus' = sigmoid
        ### BEGIN SOLUTION softplus
        if _fused(gy):  # on a GPU: one kernel
            return Tensor(cuda_kernels.elementwise("minigan_softplus_grad", gy.array, self.saved_input(0).array))
        return gy * sigmoid(self.saved_input(0))
        ### END SOLUTION


class Softmax(Function):
    save_output = True

    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        ### BEGIN SOLUTION softmax
        xp = backend.array_module(x)
        e = xp.exp(x - x.max(axis=self.axis, keepdims=True))
        return e / e.sum(axis=self.axis, keepdims=True)
        ### END SOLUTION

    def backward(self, gy):  # dx = y * (gy - sum(gy * y))
        ### BEGIN SOLUTION softmax
        y = self.saved_output()
        return y * (gy - _sum(gy * y, self.axis, keepdims=True))
        ### END SOLUTION


class LogSoftmax(Function):
    save_output = True

    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        ### BEGIN SOLUTION log_softmax
        xp = backend.array_module(x)
        shifted = x - x.max(axis=self.axis, keepdims=True)
        return shifted - xp.log(xp.exp(shifted).sum(axis=self.axis, keepdims=True))
        ### END SOLUTION

    def backward(self, gy):  # dx = gy - softmax(x) * sum(gy)
        ### BEGIN SOLUTION log_softmax
        return gy - exp(self.saved_output()) * _sum(gy, self.axis, keepdims=True)
        ### END SOLUTION


def relu(x: Tensor, inplace: bool = False) -> Tensor:
    """max(x, 0). ``inplace`` is accepted for PyTorch's signature; minigan never overwrites x
    (the result is a new tensor with the same values)."""
    _check("relu", x)
    return ReLU()(x)


def leaky_relu(x: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x for x > 0, negative_slope * x otherwise (``inplace`` as in :func:`relu`)."""
    _check("leaky_relu", x)
    if isinstance(negative_slope, bool) or not isinstance(negative_slope, numbers.Real):
        raise TypeError(f"leaky_relu: negative_slope must be a number, got {negative_slope!r}")
    return LeakyReLU(negative_slope)(x)


def sigmoid(x: Tensor) -> Tensor:
    """1 / (1 + e^-x)."""
    _check("sigmoid", x)
    return Sigmoid()(x)


def tanh(x: Tensor) -> Tensor:
    """Hyperbolic tangent."""
    _check("tanh", x)
    return Tanh()(x)


def softplus(x: Tensor) -> Tensor:
    """log(1 + e^x), a smooth relu."""
    _check("softplus", x)
    return Softplus()(x)


def logsigmoid(x: Tensor) -> Tensor:
    """log(sigmoid(x)) = -softplus(-x), exact for large |x|."""
    _check("logsigmoid", x)
    return -softplus(-x)


def _axis(op: str, x: Tensor, axis, dim) -> int:
    """The axis of a softmax: ``axis`` or ``dim``; neither picks PyTorch's implicit one (0 for 0-,
    1- and 3-D inputs, else 1) and warns, as PyTorch does."""
    axis = axis_from(op, axis, dim)
    if axis is None:
        axis = 0 if x.ndim in (0, 1, 3) else 1
        warnings.warn(f"Implicit dimension choice for {op} has been deprecated. Change the call to include "
                      f"dim={axis} as an argument.", UserWarning, stacklevel=3)
    if not isinstance(axis, numbers.Integral):
        raise TypeError(f"{op}: axis must be an int, got {axis!r}")
    return normalize_axes(op, axis, max(x.ndim, 1))[0]


def softmax(x: Tensor, axis=None, *, dim=None) -> Tensor:
    """e^x / sum(e^x) along ``axis`` (PyTorch's ``dim``; say which: without one, PyTorch's
    implicit choice is made, with its warning)."""
    _check("softmax", x)
    axis = _axis("softmax", x, axis, dim)
    return x * 1.0 if x.numel() == 0 else Softmax(axis)(x)  # (an empty tensor: an empty result)


def log_softmax(x: Tensor, axis=None, *, dim=None) -> Tensor:
    """x - logsumexp(x) along ``axis`` (PyTorch's ``dim``; without one, PyTorch's implicit choice,
    with its warning)."""
    _check("log_softmax", x)
    axis = _axis("log_softmax", x, axis, dim)
    return x * 1.0 if x.numel() == 0 else LogSoftmax(axis)(x)
