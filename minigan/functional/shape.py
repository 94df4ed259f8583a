"""Shape ops: they move values around without changing them, so each backward moves the
gradient back. Pairs of adjoints appear throughout: reshape/reshape, permute/permute,
broadcast_to/sum_to, getitem/scatter, concatenate/split (and pad/fold: padding.py).
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import backend
from ..autograd import Function
from ..tensor import Tensor
from .naming import axis_from


def _check_tensor(op: str, x) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(x).__name__}")


def _normalize_axis(op: str, axis: int, ndim: int) -> int:
    if not isinstance(axis, numbers.Integral):
        raise TypeError(f"{op}: an axis must be an int, got {axis!r}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"{op}: axis {axis} is out of range for a tensor with {ndim} dimensions")
    return axis % ndim


def memory_order(a):
    """The axes of ``a`` from the slowest-varying in memory to the fastest, when ``a`` is a
    contiguous array in some axis order ((0, 1, 2, 3) for C order, (1, 2, 3, 0) for a batch-last
    conv output); None for other strided views."""
    order = tuple(sorted(range(a.ndim), key=lambda axis: -a.strides[axis]))
    return order if a.transpose(order).flags.c_contiguous else None


def _inverse(order) -> tuple:
    return tuple(int(i) for i in np.argsort(order))


class Reshape(Function):
    is_view = True  # unless forward has to copy

    def __init__(self, shape, order=None):
        self.shape, self.order = shape, order  # order: a memory layout wanted, as memory_order gives

    def forward(self, x):
        self.input_shape, self.input_order = x.shape, memory_order(x)
        y = x.reshape(self.shape)
        if self.order is None or memory_order(y) == self.order:
            self.is_view = backend.array_module(x).may_share_memory(x, y)  # (a copy when no view fits)
            return y
        self.is_view = False
        out = backend.array_module(x).empty([self.shape[a] for a in self.order], dtype=x.dtype)
        out = out.transpose(_inverse(self.order))  # the new shape, laid out in that order
        out[...] = y
        return out

    def backward(self, gy):
        # same values, old shape, and the input's memory layout: the op before reads its gradient
        # laid out as it laid out its output (an elementwise pass over mixed layouts is several times slower)
        return Reshape(self.input_shape, self.input_order)(gy)


def _int_tuple(op: str, name: str, values) -> tuple:
    """``values`` (an int or a sequence of ints) as a tuple of ints, or a TypeError naming them."""
    values = (values,) if isinstance(values, numbers.Integral) else values
    if not isinstance(values, (tuple, list)) or not all(isinstance(v, numbers.Integral) for v in values):
        raise TypeError(f"{op}: {name} must be ints, got {values!r}")
    return tuple(int(v) for v in values)


def reshape(x: Tensor, shape) -> Tensor:
    """``x`` with a new shape of the same size (one entry may be -1)."""
    _check_tensor("reshape", x)
    shape = _int_tuple("reshape", "a shape", shape)
    known = int(np.prod([s for s in shape if s != -1]))
    if shape.count(-1) > 1 or (-1 not in shape and known != x.numel()) or \
            (-1 in shape and (known == 0 or x.numel() % known)):
        raise ValueError(f"reshape: cannot reshape a tensor of shape {x.shape} into {shape}")
    if shape == x.shape:
        return x
    return Reshape(shape)(x)


class Permute(Function):
    is_view = True

    def __init__(self, axes):
        self.axes = axes

    def forward(self, x):
        return x.transpose(self.axes)

    def backward(self, gy):
        return permute(gy, _inverse(self.axes))


def permute(x: Tensor, axes) -> Tensor:
    """``x`` with its axes reordered: output axis i is input axis ``axes[i]``."""
    _check_tensor("permute", x)
    axes = tuple(_normalize_axis("permute", a, x.ndim) for a in _int_tuple("permute", "axes", axes))
    if sorted(axes) != list(range(x.ndim)):
        raise ValueError(f"permute: axes {axes} are not a permutation of the {x.ndim} axes of shape {x.shape}")
    return Permute(axes)(x)


def transpose(x: Tensor, axis0: int, axis1: int) -> Tensor:
    """``x`` with two axes swapped (PyTorch's ``transpose``)."""
    _check_tensor("transpose", x)
    axes = list(range(x.ndim))
    a, b = _normalize_axis("transpose", axis0, x.ndim), _normalize_axis("transpose", axis1, x.ndim)
    axes[a], axes[b] = axes[b], axes[a]
    return Permute(tuple(axes))(x)


class BroadcastTo(Function):
    is_view = True

    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        self.input_shape = x.shape
        return backend.array_module(x).broadcast_to(x, self.shape)

    def backward(self, gy):
        return sum_to(gy, self.input_shape)  # each input value was used by many outputs


def broadcast_to(x: Tensor, shape) -> Tensor:
    """``x`` repeated along new leading axes and along its axes of size 1 (a read-only view)."""
    _check_tensor("broadcast_to", x)
    shape = _int_tuple("broadcast_to", "a shape", shape)
    if x.shape == shape:
        return x
    if not _sums_to(shape, x.shape):
        raise ValueError(f"broadcast_to: cannot broadcast shape {x.shape} to {shape}")
    return BroadcastTo(shape)(x)


class SumTo(Function):
    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        self.input_shape = x.shape
        lead = x.ndim - len(self.shape)
        axes = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(self.shape) if s == 1 and x.shape[lead + i] != 1)
        return x.sum(axis=axes, keepdims=True).reshape(self.shape)

    def backward(self, gy):
        return broadcast_to(gy, self.input_shape)


def _sums_to(big, small) -> bool:
    """True when ``small`` broadcasts to ``big`` (so ``big`` sums down to ``small``)."""
    return len(small) <= len(big) and all(s in (1, b) for s, b in zip(small[::-1], big[::-1]))


def sum_to(x: Tensor, shape) -> Tensor:
    """Sum ``x`` down to ``shape``: the adjoint of broadcasting (how broadcast ops backprop)."""
    _check_tensor("sum_to", x)
    shape = tuple(shape)
    if x.shape == shape:
        return x
    if not _sums_to(x.shape, shape):
        raise ValueError(f"sum_to: cannot sum shape {x.shape} down to {shape}")
    return SumTo(shape)(x)


def squeeze(x: Tensor, axis=None, *, dim=None) -> Tensor:
    """``x`` without its axes of size 1, or only ``axis`` if given, which must have size 1
    (NumPy's rule). Given as PyTorch's ``dim``, an axis of another size is left alone (PyTorch's)."""
    _check_tensor("squeeze", x)
    pytorchs = dim is not None
    axis = axis_from("squeeze", axis, dim)
    if axis is None:
        return reshape(x, tuple(s for s in x.shape if s != 1))
    axes = (axis,) if isinstance(axis, numbers.Integral) else tuple(axis)
    axes = {_normalize_axis("squeeze", a, max(x.ndim, 1)) for a in axes}
    if pytorchs:
        axes = {a for a in axes if x.ndim and x.shape[a] == 1}
    for a in axes:
        if x.shape[a] != 1:
            raise ValueError(f"squeeze: axis {a} of shape {x.shape} has size {x.shape[a]}, not 1")
    return reshape(x, tuple(s for i, s in enumerate(x.shape) if i not in axes))


def unsqueeze(x: Tensor, axis=None, *, dim=None) -> Tensor:
    """``x`` with a new axis of size 1 at position ``axis`` (PyTorch's ``dim``)."""
    _check_tensor("unsqueeze", x)
    axis = axis_from("unsqueeze", axis, dim)
    if axis is None:
        raise TypeError("unsqueeze: missing the position of the new axis (dim)")
    axis = _normalize_axis("unsqueeze", axis, x.ndim + 1)
    return reshape(x, x.shape[:axis] + (1,) + x.shape[axis:])


def flatten(x: Tensor, start_axis=None, end_axis=None, *, start_dim=None, end_dim=None) -> Tensor:
    """``x`` with axes ``start_axis..end_axis`` (PyTorch's ``start_dim``/``end_dim``; default
    0 and -1) merged into one."""
    _check_tensor("flatten", x)
    start_axis = axis_from("flatten", start_axis, start_dim, "start_dim")
    end_axis = axis_from("flatten", end_axis, end_dim, "end_dim")
    start_axis, end_axis = (0 if start_axis is None else start_axis), (-1 if end_axis is None else end_axis)
    if x.ndim == 0:
        return reshape(x, (1,))
    start = _normalize_axis("flatten", start_axis, x.ndim)
    end = _normalize_axis("flatten", end_axis, x.ndim)
    if start > end:
        raise ValueError(f"flatten: start_axis {start_axis} comes after end_axis {end_axis}")
    merged = int(np.prod(x.shape[start:end + 1]))
    return reshape(x, x.shape[:start] + (merged,) + x.shape[end + 1:])


class Concatenate(Function):
    def __init__(self, axis):
        self.axis = axis

    def forward(self, *xs):
        self.sizes = [x.shape[self.axis] for x in xs]
        return backend.array_module(xs[0]).concatenate(xs, axis=self.axis)

    def backward(self, gy):
        bounds = np.cumsum([0] + self.sizes)
        lead = (slice(None),) * self.axis
        return tuple(gy[lead + (slice(int(a), int(b)),)] for a, b in zip(bounds[:-1], bounds[1:]))


def _tensor_list(op: str, tensors) -> list:
    """A list or tuple of Tensors as a list (a Tensor itself would be iterated row by row)."""
    if not isinstance(tensors, (list, tuple)):
        raise TypeError(f"{op}: expected a list or tuple of Tensors, got {type(tensors).__name__}")
    return list(tensors)


def concatenate(tensors, axis=None, *, dim=None) -> Tensor:
    """Join tensors along an existing axis (PyTorch's ``dim``; default 0): ``torch.cat``."""
    tensors = _tensor_list("concatenate", tensors)
    axis = axis_from("concatenate", axis, dim)
    axis = 0 if axis is None else axis
    if not tensors:
        raise ValueError("concatenate: expected at least one tensor")
    for t in tensors:
        _check_tensor("concatenate", t)
    first = tensors[0]
    axis = _normalize_axis("concatenate", axis, first.ndim)
    for t in tensors[1:]:
        if t.ndim != first.ndim or any(a != b for i, (a, b) in enumerate(zip(t.shape, first.shape)) if i != axis):
            raise ValueError(f"concatenate: shapes {first.shape} and {t.shape} differ outside axis {axis}")
        if t.dtype != first.dtype:
            raise TypeError(f"concatenate: dtypes {first.dtype} and {t.dtype} differ")
    return Concatenate(axis)(*tensors)


def stack(tensors, axis=None, *, dim=None) -> Tensor:
    """Join tensors of one shape along a new axis (PyTorch's ``dim``; default 0)."""
    tensors = _tensor_list("stack", tensors)
    axis = axis_from("stack", axis, dim)
    axis = 0 if axis is None else axis
    if not tensors:
        raise ValueError("stack: expected at least one tensor")
    for t in tensors:
        _check_tensor("stack", t)
        if t.shape != tensors[0].shape:
            raise ValueError(f"stack: shapes {tensors[0].shape} and {t.shape} differ")
    axis = _normalize_axis("stack", axis, tensors[0].ndim + 1)
    return concatenate([unsqueeze(t, axis) for t in tensors], axis)


def _is_basic(index) -> bool:
    """True for ints, slices, None and Ellipsis only: then every element is picked at most once."""
    return all(isinstance(i, (numbers.Integral, slice)) or i is None or i is Ellipsis for i in index)


class GetItem(Function):
    def __init__(self, index):
        self.index = index  # index arrays are the Function's own copies (see _device_index)

    def forward(self, x):
        self.input_shape = x.shape
        y = x[self.index]
        self.is_view = _is_basic(self.index) and not isinstance(y, np.generic)  # advanced indexing copies
        return y

    def backward(self, gy):
        return ScatterAdd(self.index, self.input_shape)(gy)


class ScatterAdd(Function):
    """Zeros of ``shape`` with ``values`` added at ``index``: the adjoint of ``x[index]``."""

    def __init__(self, index, shape):
        self.index, self.shape = index, shape

    def forward(self, values):
        out = backend.array_module(values).zeros(self.shape, dtype=values.dtype)
        if _is_basic(self.index):
            out[self.index] = values
        else:  # an element picked twice gets both gradients
            backend.scatter_add(out, self.index, values)
        return out

    def backward(self, gy):
        return GetItem(self.index)(gy)


def _device_index(x: Tensor, item):
    """One index element, with Tensors, lists and NumPy arrays copied to ``x``'s device."""
    if isinstance(item, Tensor):  # copies: backward must scatter to where forward gathered from,
        item = item.array.copy()  # even if the index is written in place in between
    elif isinstance(item, (list, np.ndarray)):
        item = backend.to_device(np.array(item), x.device)
    elif not isinstance(item, (numbers.Integral, slice)) and item is not None and item is not Ellipsis:
        raise IndexError(f"getitem: an index must be an int, slice, None, ..., or an integer or boolean "
                         f"array or Tensor, got {type(item).__name__} (tensor of shape {x.shape})")
    if not isinstance(item, (numbers.Integral, slice)) and item is not None and item is not Ellipsis:
        if backend.device_of(item) != x.device:
            raise RuntimeError(f"getitem: index on {backend.device_of(item)} for a tensor on {x.device}")
        if item.dtype.kind not in "iub":
            raise IndexError(f"getitem: index arrays must be integers or booleans, got {item.dtype}")
    return item


def getitem(x: Tensor, index) -> Tensor:
    """``x[index]`` with ints, slices, None, ``...``, and integer or boolean arrays (NumPy rules)."""
    _check_tensor("getitem", x)
    index = index if isinstance(index, tuple) else (index,)
    index = tuple(_device_index(x, i) for i in index)
    try:
        return GetItem(index)(x)
    except IndexError as err:
        raise IndexError(f"getitem: {err} (tensor of shape {x.shape})") from None
