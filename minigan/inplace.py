"""Writing into a tensor's memory: PyTorch's in-place methods, the ones with a trailing
underscore (``x.add_(y)``, ``p.data.clamp_(-c, c)``, ``w.normal_(0, 0.02)``, ``t.fill_(1)``).

Each computes its result with the ordinary (out-of-place) op, checks that it fits (the shape
and dtype of ``x``: an in-place op cannot broadcast ``x`` or turn floats into integers), writes
it into ``x.array`` and bumps ``x``'s version (see :mod:`minigan.autograd`), so that a backward
that saved the old values raises instead of silently using the new ones. As in PyTorch:

- a leaf that requires grad may only be written under ``minigan.no_grad()`` (or through its
  ``.data``); otherwise PyTorch's error "a leaf Variable that requires grad is being used in an
  in-place operation." is raised;
- writing through ``.data`` is not seen by autograd (``.data`` has its own version counter).

PyTorch also lets an in-place op on a tensor *inside* a graph rewrite the graph around it;
minigan refuses that with an error naming the out-of-place spelling (``x = x + y``): it is rare
in GAN code, and rewriting the graph would need every view of ``x`` tracked.
"""
from __future__ import annotations

import numbers

import numpy as np

from . import autograd, backend
from .legacy import TYPE_NAMES
from .tensor import Tensor


def check_writable(x: Tensor, op: str) -> None:
    """Raise if ``x`` may not be written in place now (PyTorch's rules, and one of minigan's)."""
    if x.requires_grad and autograd.is_grad_enabled():
        if x.creator is None:
            raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")
        raise RuntimeError(f"{op}: in-place operations on a tensor inside the graph (the output of "
                           f"{x.creator.name}) are not supported by minigan; use the out-of-place form "
                           f"(x = x.{op.rstrip('_')}(...)), or write under minigan.no_grad()")
    array = x.array
    overlapping = any(stride == 0 and n > 1 for stride, n in zip(array.strides, array.shape))
    if overlapping or not getattr(array.flags, "writeable", True):
        raise RuntimeError("unsupported operation: more than one element of the written-to tensor refers to a "
                           "single memory location. Please clone() the tensor before performing the operation.")


def _type_name(dtype) -> str:
    return TYPE_NAMES.get(np.dtype(dtype), str(dtype))


def write(x: Tensor, result: Tensor, op: str) -> Tensor:
    """x[...] = result, if it fits x's shape and dtype; then bump x's version. Returns x."""
    if result.shape != x.shape:
        raise RuntimeError(f"{op}: output with shape {list(x.shape)} doesn't match the broadcast shape "
                           f"{list(result.shape)}")
    source, target = result.dtype.kind, x.dtype.kind
    if (source == "f" and target in "biu") or (source != "b" and target == "b"):  # PyTorch's canCast
        raise RuntimeError(f"{op}: result type {_type_name(result.dtype)} can't be cast to the desired output "
                           f"type {_type_name(x.dtype)}")
    _store(x, result.array)
    return x


def _store(x: Tensor, values) -> None:
    """x.array[...] = values (on x's GPU), then bump x's version."""
    with backend.on_device_of(x.array):
        x.array[...] = values
    x._bump_version()


def apply(x: Tensor, op: str, compute) -> Tensor:
    """Write ``compute(x)``, an out-of-place op on x's values, into x."""
    check_writable(x, op)
    with autograd.no_grad():
        result = compute(x.detach())
    return write(x, result, op)


# -- arithmetic --------------------------------------------------------------------------------
def add_(x: Tensor, other, alpha=1) -> Tensor:
    """x += alpha * other."""
    return apply(x, "add_", lambda v: v + (other if alpha == 1 else other * alpha))


def sub_(x: Tensor, other, alpha=1) -> Tensor:
    """x -= alpha * other."""
    return apply(x, "sub_", lambda v: v - (other if alpha == 1 else other * alpha))


def mul_(x: Tensor, other) -> Tensor:
    """x *= other."""
    return apply(x, "mul_", lambda v: v * other)


def div_(x: Tensor, other) -> Tensor:
    """x /= other (true division: an integer x refuses it, as in PyTorch)."""
    return apply(x, "div_", lambda v: v / other)


def pow_(x: Tensor, exponent) -> Tensor:
    """x = x ** exponent."""
    return apply(x, "pow_", lambda v: v ** exponent)


def clamp_(x: Tensor, min=None, max=None) -> Tensor:
    """x limited to [min, max] in place (the weight clipping of WGAN: ``p.data.clamp_(-c, c)``)."""
    if min is None and max is None:
        raise RuntimeError("clamp_: At least one of 'min' or 'max' must not be None")
    return apply(x, "clamp_", lambda v: v.clip(min, max))


def lerp_(x: Tensor, end, weight) -> Tensor:
    """x += weight * (end - x): a moving average (e.g. of a generator's weights)."""
    return apply(x, "lerp_", lambda v: v + (end - v) * weight)


def unary_(x: Tensor, name: str) -> Tensor:
    """x = f(x) for a method f of Tensor: ``neg_``, ``abs_``, ``exp_``, ``log_``, ``sqrt_``,
    ``sigmoid_``, ``tanh_``, ``relu_``."""
    return apply(x, f"{name}_", lambda v: getattr(v, name)())


# -- filling ---------------------------------------------------------------------------------
def _value(op: str, x: Tensor, value):
    """A fill value as a Python number that x's dtype can hold (a one-element tensor is read)."""
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise RuntimeError(f"{op} only supports 0-dimension value tensor but got tensor with "
                               f"{value.ndim} dimensions.")
        value = value.item()
    if not isinstance(value, (numbers.Real, np.bool_)):
        raise TypeError(f"{op}: value must be a real number, got {value!r}")
    if x.dtype.kind in "iu" and not np.isfinite(value):
        raise ValueError(f"{op}: value {value!r} does not fit in {x.dtype}")
    if x.dtype.kind in "iu" and not np.iinfo(x.dtype).min <= value <= np.iinfo(x.dtype).max:
        raise ValueError(f"{op}: value {value!r} does not fit in {x.dtype}")
    return value


def fill_(x: Tensor, value) -> Tensor:
    """Every element set to ``value`` (cast to x's dtype, as PyTorch does)."""
    check_writable(x, "fill_")
    _store(x, _value("fill_", x, value))
    return x


def zero_(x: Tensor) -> Tensor:
    """Every element set to 0."""
    return fill_(x, 0)


def copy_(x: Tensor, src: Tensor) -> Tensor:
    """x's elements set to ``src``'s: any dtype (cast, as PyTorch does), any device (copied
    over), any shape that broadcasts to x's."""
    check_writable(x, "copy_")
    if not isinstance(src, Tensor):
        raise TypeError(f"copy_(): argument 'src' must be Tensor, not {type(src).__name__}")
    if not _broadcasts_to(src.shape, x.shape):
        raise RuntimeError(f"copy_: the shape of src {list(src.shape)} does not broadcast to {list(x.shape)}")
    _store(x, backend.to_device(src.array, x.device))
    return x


def _broadcasts_to(small, big) -> bool:
    return len(small) <= len(big) and all(s in (1, b) for s, b in zip(small[::-1], big[::-1]))


def masked_fill_(x: Tensor, mask: Tensor, value) -> Tensor:
    """``value`` where the bool tensor ``mask`` (broadcast to x's shape) is True."""
    check_writable(x, "masked_fill_")
    if not isinstance(mask, Tensor) or mask.dtype != np.bool_:
        raise TypeError(f"masked_fill_ only supports boolean masks, but got mask with dtype "
                        f"{getattr(mask, 'dtype', type(mask).__name__)}")
    if not _broadcasts_to(mask.shape, x.shape):
        raise RuntimeError(f"masked_fill_: mask of shape {list(mask.shape)} does not broadcast to {list(x.shape)}")
    backend.check_same_device("masked_fill_", [x.array, mask.array])
    value = x.dtype.type(_value("masked_fill_", x, value))
    with backend.on_device_of(x.array):
        x.array[mask.array if mask.shape == x.shape else backend.array_module(x.array).broadcast_to(
            mask.array, x.shape)] = value
    x._bump_version()
    return x


def scatter_(x: Tensor, dim: int, index: Tensor, src=None, value=None) -> Tensor:
    """x[..., index[i, j], ...] = src[i, j] (or ``value``) along ``dim``: for dim=1,
    ``x[i][index[i][j]] = src[i][j]``. The one-hot of GAN code: ``zeros(n, 10).scatter_(1,
    labels.view(-1, 1), 1)``."""
    check_writable(x, "scatter_")
    if src is not None and value is not None:
        raise TypeError("scatter_: pass src or value, not both")
    src = value if src is None else src
    if not isinstance(index, Tensor) or index.dtype != np.int64:
        raise RuntimeError(f"scatter_(): Expected dtype int64 for index, got "
                           f"{getattr(index, 'dtype', type(index).__name__)}")
    if not isinstance(dim, numbers.Integral) or not -x.ndim <= dim < max(x.ndim, 1):
        raise IndexError(f"scatter_: dim {dim!r} is out of range for a tensor with {x.ndim} dimensions")
    dim = dim % max(x.ndim, 1)
    if index.ndim != x.ndim or any(i > n for d, (i, n) in enumerate(zip(index.shape, x.shape)) if d != dim):
        raise RuntimeError(f"scatter_: index of shape {list(index.shape)} must have as many dimensions as the "
                           f"tensor {list(x.shape)} and be no larger outside dim {dim}")
    if index.numel() and not (0 <= int(index.array.min()) and int(index.array.max()) < x.shape[dim]):
        raise RuntimeError(f"scatter_: index {int(index.array.max())} is out of bounds for dimension {dim} "
                           f"with size {x.shape[dim]}")
    if isinstance(src, Tensor):
        if any(i > s for i, s in zip(index.shape, src.shape)) or src.ndim != index.ndim:
            raise RuntimeError(f"scatter_: src of shape {list(src.shape)} is smaller than index {list(index.shape)}")
        backend.check_same_device("scatter_", [x.array, src.array])
        values = src.array[tuple(slice(0, n) for n in index.shape)]
    else:
        values = x.dtype.type(_value("scatter_", x, src))
    xp = backend.array_module(x.array)
    with backend.on_device_of(x.array):
        where = [xp.arange(n).reshape((-1,) + (1,) * (index.ndim - 1 - d)) for d, n in enumerate(index.shape)]
        where[dim] = index.array
        x.array[tuple(where)] = values
    x._bump_version()
    return x


# -- random fills ------------------------------------------------------------------------------
def _random_fill(x: Tensor, op: str, sample, scale, shift) -> Tensor:
    """x = shift + scale * sample, drawn on x's device in x's dtype."""
    check_writable(x, op)
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating-point tensor, got {x.dtype}")
    drawn_dtype = np.dtype(np.float32) if x.dtype.itemsize < 4 else x.dtype  # (no float16 generators)
    with backend.on_device_of(x.array):
        _store(x, sample(x.shape, drawn_dtype, x.device) * scale + shift)
    return x


def normal_(x: Tensor, mean=0.0, std=1.0) -> Tensor:
    """Samples of N(mean, std^2) (DCGAN's init: ``w.data.normal_(0.0, 0.02)``)."""
    if std < 0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {std}")
    return _random_fill(x, "normal_", backend.standard_normal, std, mean)


def uniform_(x: Tensor, low=0.0, high=1.0) -> Tensor:
    """Samples of U[low, high) (PyTorch calls them ``from`` and ``to``)."""
    if low > high:
        raise RuntimeError(f"uniform_ expects to return a [from, to) range, but found from={low} > to={high}")
    return _random_fill(x, "uniform_", backend.uniform, high - low, low)


def bernoulli_(x: Tensor, p=0.5) -> Tensor:
    """1 with probability p, else 0 (in x's dtype)."""
    check_writable(x, "bernoulli_")
    if not 0 <= p <= 1:
        raise RuntimeError(f"bernoulli_ expects p to be in [0, 1], but got p={p}")
    with backend.on_device_of(x.array):
        _store(x, backend.uniform(x.shape, np.dtype(np.float64), x.device) < p)
    return x
