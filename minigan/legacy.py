"""PyTorch's legacy spellings, still in much of the GAN code people copy: ``Variable``,
``FloatTensor`` and its siblings, and ``Tensor.type(T)``.

Before PyTorch 0.4 a tensor could not carry a gradient: ``Variable(t, requires_grad=True)``
wrapped it. Since then every Tensor can, and ``Variable(t)`` is ``t.detach()`` (with
``requires_grad`` set as asked). ``torch.FloatTensor(2, 3)`` made a float32 tensor of that
shape, ``torch.FloatTensor(data)`` one from data; today's spellings are ``torch.empty(2, 3)``
and ``torch.tensor(data, dtype=torch.float32)``. Each is provided here in its smallest honest
form: same results, same dtypes, same errors, and its docstring names the modern spelling.
"""
from __future__ import annotations

import numbers
import warnings

import numpy as np

from . import backend
from .creation import empty
from .tensor import Tensor

# PyTorch's type names: dtype <-> the X of XTensor
TYPE_NAMES = {np.dtype(np.float32): "Float", np.dtype(np.float64): "Double", np.dtype(np.float16): "Half",
              np.dtype(np.int64): "Long", np.dtype(np.int32): "Int", np.dtype(np.int16): "Short",
              np.dtype(np.int8): "Char", np.dtype(np.uint8): "Byte", np.dtype(np.bool_): "Bool"}


class _VariableMeta(type):
    def __instancecheck__(cls, obj):  # isinstance(t, Variable) is True for every Tensor, as in PyTorch
        return isinstance(obj, Tensor)


class Variable(metaclass=_VariableMeta):
    """Legacy (PyTorch < 0.4): ``Variable(t, requires_grad=False)`` is ``t.detach()``, made a
    leaf that requires grad if asked; it shares ``t``'s memory and version counter. Modern
    spelling: ``t`` itself, or ``t.detach().requires_grad_()``. ``volatile`` has no effect (use
    ``minigan.no_grad()``)."""

    def __new__(cls, data, requires_grad: bool = False, volatile: bool = False):
        if volatile:
            warnings.warn("volatile was removed and now has no effect. Use `with torch.no_grad():` instead.",
                          UserWarning, stacklevel=2)
        if not isinstance(data, Tensor):
            raise TypeError(f"Variable data has to be a tensor, but got {type(data).__name__}")
        return data.detach().requires_grad_(requires_grad)


class _TensorTypeMeta(type):
    """The class of FloatTensor and its siblings: ``isinstance(t, FloatTensor)`` checks dtype and device."""

    def __instancecheck__(cls, obj):
        return isinstance(obj, Tensor) and obj.dtype == cls.dtype and obj.device.type == cls.device_type

    def __repr__(cls):
        return f"<class '{cls.type_name}'>"

    @property
    def type_name(cls) -> str:
        """PyTorch's name of the type under minigan's package: ``minigan.cuda.FloatTensor``."""
        return f"minigan.{'cuda.' if cls.device_type == 'cuda' else ''}{cls.__name__}"


class _LegacyTensor(metaclass=_TensorTypeMeta):
    """``XTensor(*sizes)``: a tensor of that shape (PyTorch leaves it uninitialised, minigan fills
    it with zeros); ``XTensor(data)``: a copy of a list, tuple or array, cast to the type's dtype;
    ``XTensor(tensor)``: the same tensor, if it has that dtype. Modern spelling:
    ``minigan.empty(*sizes, dtype=...)`` or ``minigan.tensor(data, dtype=...)``."""

    dtype = None  # set by each type
    device_type = "cpu"

    def __new__(cls, *args, device=None):
        device = backend.Device(device or cls.device_type)
        name = cls.__name__
        if not args:
            return empty(0, dtype=cls.dtype, device=device)
        if all(isinstance(a, numbers.Integral) and not isinstance(a, bool) for a in args):
            return empty(*args, dtype=cls.dtype, device=device)
        if len(args) > 1:
            raise TypeError(f"{name}(): expected sizes (ints) or one sequence of data, got {args!r}")
        data = args[0]
        if isinstance(data, Tensor):
            if data.dtype != cls.dtype or data.device.type != device.type:
                raise TypeError(f"{name}(): expected a {cls.dtype} tensor on {device.type}, got {data.dtype} on "
                                f"{data.device} (use .type({name}) or .to() to convert)")
            return data
        if not isinstance(data, (list, tuple)) and not backend.is_array(data):
            raise TypeError(f"new(): data must be a sequence (got {type(data).__name__})")
        return Tensor(_array(name, data, cls.dtype, device))


def _array(name: str, data, dtype, device):
    """``data`` copied into a new array of ``dtype`` on ``device``."""
    if backend.is_array(data):
        return backend.to_device(data, device).astype(dtype, copy=True)
    try:
        host = np.array(data, dtype=dtype)
    except (TypeError, ValueError, OverflowError) as err:
        raise type(err)(f"{name}(): cannot make a tensor from this {type(data).__name__}: {err}") from None
    return backend.to_device(host, device)


def _tensor_type(name: str, dtype, device_type: str = "cpu") -> type:
    return _TensorTypeMeta(name, (_LegacyTensor,), {"dtype": np.dtype(dtype), "device_type": device_type,
                                                    "__module__": __name__})


FloatTensor = _tensor_type("FloatTensor", np.float32)
DoubleTensor = _tensor_type("DoubleTensor", np.float64)
HalfTensor = _tensor_type("HalfTensor", np.float16)
LongTensor = _tensor_type("LongTensor", np.int64)
IntTensor = _tensor_type("IntTensor", np.int32)
ByteTensor = _tensor_type("ByteTensor", np.uint8)
BoolTensor = _tensor_type("BoolTensor", np.bool_)
CPU_TYPES = (FloatTensor, DoubleTensor, HalfTensor, LongTensor, IntTensor, ByteTensor, BoolTensor)
CUDA_TYPES = tuple(_tensor_type(t.__name__, t.dtype, "cuda") for t in CPU_TYPES)  # minigan.cuda.FloatTensor, ...


def type_name(t: Tensor) -> str:
    """``t.type()``: PyTorch's type string under minigan's name, e.g. ``"minigan.FloatTensor"``."""
    cuda = "cuda." if t.device.type == "cuda" else ""
    if t.dtype not in TYPE_NAMES:
        raise TypeError(f"type: no PyTorch type name for dtype {t.dtype}")
    return f"minigan.{cuda}{TYPE_NAMES[t.dtype]}Tensor"


def _find_type(name: str) -> type:
    """A legacy type by its name, "torch.cuda.FloatTensor" or "minigan.FloatTensor"."""
    for cls in CPU_TYPES + CUDA_TYPES:
        if name in (cls.type_name, cls.type_name.replace("minigan.", "torch.", 1)):
            return cls
    raise ValueError(f"invalid type: {name!r}")


def to_type(t: Tensor, dtype=None):
    """``t.type()`` (no argument): the type name; ``t.type(T)`` for a legacy type (or its name) or a
    dtype: ``t`` converted (differentiable; ``t`` itself if nothing changes). Modern spelling:
    ``t.to(dtype)`` / ``t.to(device, dtype)``."""
    if dtype is None:
        return type_name(t)
    if isinstance(dtype, str):
        dtype = _find_type(dtype)
    if isinstance(dtype, _TensorTypeMeta):
        device = t.device if t.device.type == dtype.device_type else backend.Device(dtype.device_type)
        return t.to(device).astype(dtype.dtype)
    return t.astype(dtype)
