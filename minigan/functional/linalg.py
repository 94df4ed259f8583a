"""Matrix products: ``matmul`` (batched, broadcasting) and ``linear`` (PyTorch's layer op)."""
from __future__ import annotations

import numpy as np

from .. import backend
from ..autograd import Function
from ..tensor import Tensor
from .shape import squeeze, sum_to, transpose, unsqueeze


def _mT(t: Tensor) -> Tensor:
    """Swap the last two axes: the matrix transpose of every matrix in a batch."""
    return transpose(t, -1, -2)


def _broadcast_together(s, t) -> bool:
    """True when two batch shapes broadcast (NumPy's rule: sizes equal, or one of them 1)."""
    return all(m == n or 1 in (m, n) for m, n in zip(s[::-1], t[::-1]))


class MatMul(Function):
    save_inputs = (0, 1)

    def forward(self, a, b):
        ### BEGIN SOLUTION matmul
        if a.shape[-1] == 1:  # (.., M, 1) @ (.., 1, N) is an outer product: broadcasting a * b gives
            return a * b      # the same numbers ~10x faster than BLAS's GEMM with K = 1 (a Linear's dx to 1 unit)
        return backend.array_module(a).matmul(a, b)
        ### END SOLUTION

    def backward(self, gy):  # Y = A B: dA = dY B^T, dB = A^T dY (summed over broadcast batches)
        ### BEGIN SOLUTION matmul
        a, b = self.saved_input(0), self.saved_input(1)
        ga = sum_to(matmul(gy, _mT(b)), a.shape) if self.needs_input_grad[0] else None
        gb = sum_to(matmul(_mT(a), gy), b.shape) if self.needs_input_grad[1] else None
        return ga, gb
        ### END SOLUTION


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """Matrix product with NumPy's rules: 1-D operands are vectors, leading axes broadcast."""
    for t in (a, b):
        if not isinstance(t, Tensor):
            raise TypeError(f"matmul: expected Tensors, got {type(t).__name__}")
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: operands must have at least 1 dimension, got shapes {a.shape} and {b.shape}")
    if a.dtype != b.dtype:
        raise TypeError(f"matmul: dtypes differ, {a.dtype} and {b.dtype}")
    if a.dtype == np.bool_:  # NumPy's bool matmul is a logical or of ands; PyTorch refuses it
        raise TypeError("matmul: not implemented for bool tensors; cast them with .astype() first")
    if a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} do not match in the inner dimension")
    if not _broadcast_together(a.shape[:-2], b.shape[:-2]):
        raise ValueError(f"matmul: the batch dimensions of shapes {a.shape} and {b.shape} do not broadcast")
    if a.ndim == 1:  # a row vector; its axis is the last one left when b is a vector too
        return squeeze(matmul(unsqueeze(a, 0), b), -2 if b.ndim > 1 else -1)
    if b.ndim == 1:
        return squeeze(matmul(a, unsqueeze(b, -1)), -1)
    if a.ndim == b.ndim == 2 and _column_major(a if a.numel() >= b.numel() else b):
        # the same product as (b^T a^T)^T, which comes out column-major like its larger operand: a
        # Linear on a flattened batch-last conv output keeps the batch last (and so does its input
        # gradient), a Linear into a conv (weight.T is column-major) makes its output batch last
        return _mT(MatMul()(_mT(b), _mT(a)))
    return MatMul()(a, b)


def _column_major(t: Tensor) -> bool:
    """Whether matrix ``t`` is laid out column by column (a transposed view of a row-major one)."""
    rows, columns = t.shape
    return rows > 1 and columns > 1 and 0 < t.array.strides[0] < t.array.strides[1]


def linear(x: Tensor, weight: Tensor, bias: Tensor = None) -> Tensor:
    """y = x W^T + b, with PyTorch's weight layout: ``weight`` is (out_features, in_features)."""
    for name, t in (("x", x), ("weight", weight), ("bias", bias)):
        if not isinstance(t, Tensor) and (t is not None or name != "bias"):
            raise TypeError(f"linear: {name} must be a Tensor, got {type(t).__name__}")
    if weight.ndim != 2 or x.ndim < 1 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: expected x of shape (..., {weight.shape[-1]}) and weight of shape "
                         f"(out, in); got x {x.shape}, weight {weight.shape}")
    if bias is not None and bias.shape != (weight.shape[0],):
        raise ValueError(f"linear: bias must have shape ({weight.shape[0]},), got {bias.shape}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and t.dtype != x.dtype:
            raise TypeError(f"linear: x is {x.dtype} but {name} is {t.dtype}")
    y = matmul(x, transpose(weight, 0, 1))
    return y if bias is None else y + bias
