"""PyTorch's top-level functions: ``minigan.cat``, ``minigan.mean``, ``minigan.max``, ... (what
``torch.cat`` and friends are), over the ops of :mod:`minigan.functional`.

Most are the functional op under PyTorch's name (``cat`` is ``F.concatenate``, ``clamp`` is
``F.clip``). A few mean something else in PyTorch than in NumPy, and follow PyTorch here, as do
the Tensor methods of the same names:

- ``max(x, dim)`` / ``min(x, dim)`` give ``(values, indices)``, the gradient going to the
  chosen element only (``F.max`` is NumPy's ``amax``: no indices, ties share the gradient);
  ``max(x, y)`` of two tensors is ``maximum``;
- ``var`` and ``std`` are unbiased (correction 1) by default; NumPy's ``axis=``/``ddof=``
  keywords keep NumPy's meaning (ddof 0 unless given).
"""
from __future__ import annotations

import collections
import math
import numbers

import numpy as np

from . import functional as F
from .functional.naming import axis_from, keep_from
from .functional.reduce import norm, normalize_axes  # noqa: F401  (F.norm would be the module norm.py)
from .functional.shape import Reshape
from .tensor import Tensor

# the same op under PyTorch's name
from .functional import (abs, add, exp, log, logsumexp, matmul, maximum, minimum, mul, neg, permute,  # noqa: F401
                         pow, reshape, sigmoid, sqrt, stack, sub, tanh, transpose, unsqueeze, where)
from .functional import argmax, argmin, flatten, log_softmax, mean, relu, softmax, sum  # noqa: F401
from .functional import clip as clamp, concatenate as cat, concatenate as concat, div, clip  # noqa: F401
from .functional import max as amax, min as amin  # noqa: F401

ValuesIndices = collections.namedtuple("ValuesIndices", ["values", "indices"])  # torch.return_types.max/min


def _check(op: str, x) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(x).__name__}")


def _extreme_along(op: str, x: Tensor, dim: int, keepdim: bool) -> ValuesIndices:
    """(values, indices) of the largest (max) or smallest (min) element along ``dim``; the
    values are picked out of x by the indices, so the gradient goes to that element alone."""
    index = (F.argmax if op == "max" else F.argmin)(x, dim=dim, keepdim=True)
    dim = dim % x.ndim
    xp = x.device.xp
    grid = [xp.arange(n).reshape((-1,) + (1,) * (x.ndim - 1 - i)) for i, n in enumerate(x.shape)]
    grid[dim] = index.array
    values = F.getitem(x, tuple(Tensor(g) for g in grid))
    if not keepdim:
        values, index = F.squeeze(values, dim), F.squeeze(index, dim)
    return ValuesIndices(values, index)


def _max_or_min(op: str, x, dim, keepdim, axis, keepdims):
    _check(op, x)
    if isinstance(dim, Tensor):  # max(a, b) of two tensors
        return (maximum if op == "max" else minimum)(x, dim)
    if axis is not None or keepdims is not None or dim is None:  # NumPy's keywords, or all elements
        return (F.max if op == "max" else F.min)(x, axis, keepdims, dim=dim, keepdim=keepdim or None)
    if not isinstance(dim, numbers.Integral):
        raise TypeError(f"{op}: dim must be an int, got {dim!r}")
    if x.ndim == 0 or x.shape[dim] == 0:
        raise ValueError(f"{op}: cannot reduce along dim {dim} of a tensor of shape {x.shape}")
    return _extreme_along(op, x, dim, bool(keepdim))


def max(input, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """``max(x)``: the largest element; ``max(x, dim)``: ``(values, indices)`` along ``dim``;
    ``max(x, other)``: the elementwise maximum (as ``torch.max``)."""
    return _max_or_min("max", input, dim, keepdim, axis, keepdims)


def min(input, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """``min(x)``, ``min(x, dim)`` -> ``(values, indices)``, ``min(x, other)``, as ``torch.min``."""
    return _max_or_min("min", input, dim, keepdim, axis, keepdims)


def _numpy_keywords(op: str, numpy: dict):
    """(axis, keepdims, ddof) from NumPy's keywords, None where not given."""
    unknown = set(numpy) - {"axis", "keepdims", "ddof"}
    if unknown:
        raise TypeError(f"{op}() got an unexpected keyword argument {sorted(unknown)[0]!r}")
    return numpy.get("axis"), numpy.get("keepdims"), numpy.get("ddof")


def _correction(op: str, unbiased, correction, ddof, numpy_style: bool) -> int:
    """The divisor's correction n - c: PyTorch's ``unbiased``/``correction`` (default 1), or
    NumPy's ``ddof`` (default 0 when any of NumPy's keywords is used)."""
    given = [name for name, v in (("unbiased", unbiased), ("correction", correction), ("ddof", ddof)) if v is not None]
    if len(given) > 1:
        raise TypeError(f"{op}: got {' and '.join(given)}; pass one")
    if unbiased is not None:
        return 1 if unbiased else 0
    if correction is not None:
        return correction
    if ddof is not None:
        return ddof
    return 0 if numpy_style else 1


def var(input, dim=None, unbiased=None, keepdim=None, *, correction=None, **numpy):
    """Variance over ``dim`` (all elements when None), unbiased by default: sum((x - mean)^2) /
    (n - 1). With NumPy's keywords (``axis=``, ``keepdims=``, ``ddof=``), NumPy's default ddof=0."""
    _check("var", input)
    axis, keepdims, ddof = _numpy_keywords("var", numpy)
    c = _correction("var", unbiased, correction, ddof, bool(numpy))
    return F.var(input, axis_from("var", axis, dim), keep_from("var", keepdims, keepdim), c)


def std(input, dim=None, unbiased=None, keepdim=None, *, correction=None, **numpy):
    """Standard deviation over ``dim``, unbiased by default: ||x - mean|| / sqrt(n - 1) (NumPy's
    keywords as in :func:`var`). Its gradient is 0 where it is 0 (the norm's), as in PyTorch."""
    _check("std", input)
    axis, keepdims, ddof = _numpy_keywords("std", numpy)
    c = _correction("std", unbiased, correction, ddof, bool(numpy))
    axis, keepdims = axis_from("std", axis, dim), keep_from("std", keepdims, keepdim)
    axes = normalize_axes("std", axis, input.ndim)
    n = math.prod(input.shape[a] for a in axes)
    if n - c <= 0:
        raise ValueError(f"std: correction {c} needs more than {c} elements per deviation, got {n} "
                         f"(shape {input.shape}, dim {axis})")
    centered = input - F.mean(input, axes, keepdims=True)
    return norm(centered, 2, axes, keepdims) * (1.0 / math.sqrt(n - c))


def squeeze(input: Tensor, dim=None) -> Tensor:
    """``input`` without its axes of size 1, or only ``dim`` if it has size 1 (PyTorch's rule:
    an axis of another size is left alone)."""
    return F.squeeze(input, dim=dim)


def mm(input: Tensor, mat2: Tensor) -> Tensor:
    """The product of two matrices (2-D only; :func:`matmul` broadcasts)."""
    if not (isinstance(input, Tensor) and isinstance(mat2, Tensor)) or input.ndim != 2 or mat2.ndim != 2:
        raise ValueError(f"mm: expected two matrices, got shapes {getattr(input, 'shape', input)} and "
                         f"{getattr(mat2, 'shape', mat2)}")
    return matmul(input, mat2)


def bmm(input: Tensor, mat2: Tensor) -> Tensor:
    """Batched matrix product of (B, n, m) and (B, m, p)."""
    if not (isinstance(input, Tensor) and isinstance(mat2, Tensor)) or input.ndim != 3 or mat2.ndim != 3 \
            or input.shape[0] != mat2.shape[0]:
        raise ValueError(f"bmm: expected (B, n, m) and (B, m, p), got shapes {getattr(input, 'shape', input)} "
                         f"and {getattr(mat2, 'shape', mat2)}")
    return matmul(input, mat2)


def chunk(input: Tensor, chunks: int, dim: int = 0) -> list:
    """``input`` split into ``chunks`` pieces along ``dim`` (each ceil(n / chunks) long, the last
    maybe shorter, so there may be fewer pieces), as views that backprop."""
    _check("chunk", input)
    if isinstance(chunks, bool) or not isinstance(chunks, numbers.Integral) or chunks <= 0:
        raise ValueError(f"chunk: chunks must be a positive int, got {chunks!r}")
    if not isinstance(dim, numbers.Integral):
        raise TypeError(f"chunk: dim must be an int, got {dim!r}")
    dim = normalize_axes("chunk", dim, input.ndim)[0]
    size = -(-input.shape[dim] // chunks) or 1
    lead = (slice(None),) * dim
    return [input[lead + (slice(start, start + size),)] for start in range(0, input.shape[dim], size)]


def clone(input: Tensor) -> Tensor:
    """A copy in new memory, still in the graph (its gradient flows back to ``input``)."""
    _check("clone", input)
    return input * 1 if input.dtype.kind != "b" else Tensor(input.array.copy())


def is_tensor(obj) -> bool:
    """True for a minigan Tensor."""
    return isinstance(obj, Tensor)


def numel(input: Tensor) -> int:
    """The number of elements."""
    _check("numel", input)
    return input.numel()


def is_floating_point(input: Tensor) -> bool:
    """True for float16, float32 and float64 tensors."""
    _check("is_floating_point", input)
    return input.dtype.kind == "f"


def eq(input, other) -> Tensor:
    """input == other, elementwise, as a bool tensor."""
    return F.compare("eq", input, other)


def allclose(input: Tensor, other: Tensor, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False) -> bool:
    """True when |input - other| <= atol + rtol |other| everywhere (reads the result on the host)."""
    _check("allclose", input)
    _check("allclose", other)
    xp = input.device.xp
    return bool(xp.allclose(input.array, other.array, rtol=rtol, atol=atol, equal_nan=equal_nan))


def sign(input: Tensor) -> Tensor:
    """-1, 0 or 1 by the sign of each element (a constant: its gradient is 0)."""
    _check("sign", input)
    return Tensor(input.device.xp.sign(input.array))


def isnan(input: Tensor) -> Tensor:
    """True where the element is NaN."""
    _check("isnan", input)
    return Tensor(input.device.xp.isnan(input.array))


def isfinite(input: Tensor) -> Tensor:
    """True where the element is neither infinite nor NaN."""
    _check("isfinite", input)
    return Tensor(input.device.xp.isfinite(input.array))



# -- PyTorch's shape methods -------------------------------------------------------------------
def view(input: Tensor, shape) -> Tensor:
    """``input`` with a new shape, sharing its memory (PyTorch's ``view``): where that needs a
    copy (a transposed input), PyTorch's error; ``reshape`` copies instead."""
    _check("view", input)
    if isinstance(shape, np.dtype) or (isinstance(shape, type) and issubclass(shape, np.generic)):
        raise TypeError("view: reinterpreting the bytes as another dtype is not supported by minigan")
    out = F.reshape(input, shape)
    if out is not input and out.numel() and not input.device.xp.may_share_memory(out.array, input.array):
        raise RuntimeError("view size is not compatible with input tensor's size and stride (at least one "
                           "dimension spans across two contiguous subspaces). Use .reshape(...) instead.")
    return out


def expand(input: Tensor, sizes) -> Tensor:
    """``input`` repeated along new leading axes and its axes of size 1, without copying;
    -1 keeps a size (PyTorch's ``expand``; NumPy's ``broadcast_to``)."""
    _check("expand", input)
    sizes = tuple(sizes)
    lead = len(sizes) - input.ndim
    if lead < 0:
        raise RuntimeError(f"expand: the number of sizes provided ({len(sizes)}) must be greater or equal to the "
                           f"number of dimensions in the tensor ({input.ndim})")
    shape = tuple(input.shape[i - lead] if s == -1 and i >= lead else s for i, s in enumerate(sizes))
    return F.broadcast_to(input, shape)


def repeat(input: Tensor, sizes) -> Tensor:
    """``input`` tiled ``sizes[i]`` times along each axis (new leading axes when there are more
    sizes than axes): PyTorch's ``Tensor.repeat``, NumPy's ``tile``. Made of a broadcast and a
    reshape, so its gradient sums over the copies."""
    _check("repeat", input)
    sizes = tuple(sizes)
    if len(sizes) < input.ndim:
        raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number of dimensions "
                           "of tensor")
    shape = (1,) * (len(sizes) - input.ndim) + input.shape
    interleaved = F.reshape(input, tuple(n for s in shape for n in (1, s)))  # (1, s0, 1, s1, ...)
    tiled = F.broadcast_to(interleaved, tuple(n for r, s in zip(sizes, shape) for n in (r, s)))
    return F.reshape(tiled, tuple(r * s for r, s in zip(sizes, shape)))


def contiguous(input: Tensor) -> Tensor:
    """``input`` laid out in C order: itself if it is, else a copy (in the graph)."""
    _check("contiguous", input)
    if input.array.flags.c_contiguous:
        return input
    return Reshape(input.shape, tuple(range(input.ndim)))(input)


def t(input: Tensor) -> Tensor:
    """The transpose of a matrix (a vector or a scalar as it is)."""
    _check("t", input)
    if input.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {input.ndim}D")
    return input if input.ndim < 2 else F.transpose(input, 0, 1)
