"""Making tensors: from data (``tensor``, ``from_numpy``), filled (``zeros``, ``ones``,
``full``), random (``randn``, ``rand``, ``randint``, ``randperm``) and ranges (``arange``), with
PyTorch's names and dtype rules: Python floats give float32 (the default dtype), Python ints
int64, arrays keep their dtype.
"""
from __future__ import annotations

import numbers

import numpy as np

from . import backend
from .tensor import DEFAULT_DTYPE, Tensor, check_dtype


def _device(device) -> backend.Device:
    """The device a creation function was asked for: the CPU when None (``device=0`` is cuda:0)."""
    return backend.CPU if device is None else backend.Device(device)


def tensor(data, dtype=None, requires_grad=False, device=None) -> Tensor:
    """A new tensor holding a copy of ``data`` (a number, nested list, or array).

    Python floats become float32 (the default dtype), Python ints int64; arrays keep their
    dtype (and device) unless ``dtype`` (or ``device``) says otherwise. Complex numbers,
    strings and other objects are refused.
    """
    if dtype is not None:
        dtype = check_dtype("tensor", dtype)
    if isinstance(data, Tensor):
        data = data.array
    if backend.is_array(data):
        device = backend.Device(backend.device_of(data) if device is None else device)
        with backend.on_device(device):  # CuPy's astype allocates on the current GPU
            array = backend.to_device(data, device).astype(check_dtype("tensor", dtype or data.dtype), copy=True)
    else:
        try:
            host = np.array(data, dtype=dtype)
        except (TypeError, ValueError, OverflowError) as err:  # ragged lists, "abc" as a float, ...
            raise type(err)(f"tensor: cannot make a tensor from this {type(data).__name__}: {err}") from None
        check_dtype("tensor", host.dtype)
        if dtype is None and host.dtype.kind == "f":
            host = host.astype(DEFAULT_DTYPE)
        array = backend.to_device(host, _device(device))
    return Tensor(array, requires_grad=requires_grad)


def from_numpy(array: np.ndarray) -> Tensor:
    """A CPU tensor sharing memory with ``array`` (its dtype kept)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy expects a numpy.ndarray, got {type(array).__name__}")
    check_dtype("from_numpy", array.dtype)
    return Tensor(array)


def _shape(op: str, shape) -> tuple:
    """``zeros(2, 3)``'s or ``zeros((2, 3))``'s shape as a tuple of non-negative ints."""
    if len(shape) == 1 and not isinstance(shape[0], numbers.Integral):
        shape = shape[0]
    shape = (shape,) if isinstance(shape, numbers.Integral) else shape
    if not isinstance(shape, (tuple, list)) or not all(
            isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in shape):
        raise TypeError(f"{op}: a shape is ints or a tuple of ints, got {shape!r}")
    if any(s < 0 for s in shape):
        raise ValueError(f"{op}: dimension sizes must be non-negative, got shape {tuple(shape)}")
    return tuple(int(s) for s in shape)


def full(shape, fill_value, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A tensor of ``shape`` filled with ``fill_value``; without ``dtype``, PyTorch's: bool for a
    bool, int64 for an int, float32 for a float."""
    if dtype is None and isinstance(fill_value, (bool, np.bool_)):
        dtype = np.bool_
    elif dtype is None and isinstance(fill_value, numbers.Integral):
        dtype = np.int64
    return _full("full", (shape,), fill_value, dtype, device, requires_grad)


def _full(op: str, shape, fill_value, dtype, device, requires_grad) -> Tensor:
    if not isinstance(fill_value, numbers.Real):
        raise TypeError(f"{op}: fill_value must be a real number, got {fill_value!r}")
    shape, device = _shape(op, shape), _device(device)
    dtype = check_dtype(op, DEFAULT_DTYPE if dtype is None else dtype)
    if dtype.kind in "iu" and not np.isfinite(fill_value):  # NumPy would fill with garbage
        raise ValueError(f"{op}: fill_value {fill_value!r} does not fit in {dtype}")
    try:
        with backend.on_device(device):
            array = device.xp.full(shape, fill_value, dtype=dtype)
    except OverflowError:
        raise ValueError(f"{op}: fill_value {fill_value!r} does not fit in {dtype}") from None
    return Tensor(array, requires_grad=requires_grad)


def zeros(*shape, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A tensor of zeros: ``zeros(2, 3)`` or ``zeros((2, 3))``."""
    return _full("zeros", shape, 0, dtype, device, requires_grad)


def ones(*shape, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A tensor of ones: ``ones(2, 3)`` or ``ones((2, 3))``."""
    return _full("ones", shape, 1, dtype, device, requires_grad)


def _check_tensor_arg(op: str, t) -> None:
    if not isinstance(t, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(t).__name__}")


def empty(*shape, dtype=None, device=None, requires_grad=False) -> Tensor:
    """PyTorch's uninitialised tensor; minigan's is filled with zeros (no garbage to trip on)."""
    return _full("empty", shape, 0, dtype, device, requires_grad)


def zeros_like(t: Tensor, dtype=None, requires_grad=False, device=None) -> Tensor:
    """Zeros of ``t``'s shape, dtype and device."""
    _check_tensor_arg("zeros_like", t)
    return full(t.shape, 0, dtype or t.dtype, device or t.device, requires_grad)


def ones_like(t: Tensor, dtype=None, requires_grad=False, device=None) -> Tensor:
    """Ones of ``t``'s shape, dtype and device."""
    _check_tensor_arg("ones_like", t)
    return full(t.shape, 1, dtype or t.dtype, device or t.device, requires_grad)


def full_like(t: Tensor, fill_value, dtype=None, requires_grad=False, device=None) -> Tensor:
    """``fill_value`` in ``t``'s shape, dtype and device."""
    _check_tensor_arg("full_like", t)
    return full(t.shape, fill_value, dtype or t.dtype, device or t.device, requires_grad)


def empty_like(t: Tensor, dtype=None, requires_grad=False, device=None) -> Tensor:
    """:func:`empty` in ``t``'s shape, dtype and device (zeros)."""
    return zeros_like(t, dtype, requires_grad, device)


def _random(op: str, sample, shape, dtype, device, requires_grad) -> Tensor:
    """``sample(shape, dtype, device)`` for a floating-point dtype; float16 is drawn in float32
    and rounded (the generators have no float16), as PyTorch's half samples are."""
    dtype = check_dtype(op, dtype or DEFAULT_DTYPE)
    if dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating-point dtype (float16, float32 or float64), got {dtype}")
    shape = _shape(op, shape)
    if dtype.itemsize < 4:
        array = sample(shape, np.dtype(np.float32), _device(device)).astype(dtype)
    else:
        array = sample(shape, dtype, _device(device))
    return Tensor(array, requires_grad=requires_grad)


def randn(*shape, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Samples of N(0, 1), generated on ``device`` (seed with :func:`manual_seed`)."""
    return _random("randn", backend.standard_normal, shape, dtype, device, requires_grad)


def rand(*shape, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Samples of U[0, 1), generated on ``device``."""
    return _random("rand", backend.uniform, shape, dtype, device, requires_grad)


def randn_like(t: Tensor, dtype=None, requires_grad=False, device=None) -> Tensor:
    """:func:`randn` in ``t``'s shape, dtype and device."""
    _check_tensor_arg("randn_like", t)
    return randn(t.shape, dtype=dtype or t.dtype, device=device or t.device, requires_grad=requires_grad)


def rand_like(t: Tensor, dtype=None, requires_grad=False, device=None) -> Tensor:
    """:func:`rand` in ``t``'s shape, dtype and device."""
    _check_tensor_arg("rand_like", t)
    return rand(t.shape, dtype=dtype or t.dtype, device=device or t.device, requires_grad=requires_grad)


def randint(*args, size=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Uniform integers from [low, high): ``randint(high, size)`` or ``randint(low, high, size)``,
    as PyTorch's (int64 unless ``dtype`` says otherwise)."""
    if size is None and args:
        args, size = args[:-1], args[-1]
    if len(args) not in (1, 2) or size is None:
        raise TypeError("randint: expected randint(high, size) or randint(low, high, size)")
    low, high = (0, args[0]) if len(args) == 1 else args
    if not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in (low, high)):
        raise TypeError(f"randint: low and high must be ints, got {low!r} and {high!r}")
    if low >= high:
        raise ValueError(f"randint: expected low < high, got low={low}, high={high}")
    array = backend.integers(int(low), int(high), _shape("randint", (size,)), _device(device))
    dtype = check_dtype("randint", dtype or np.int64)
    return Tensor(array.astype(dtype, copy=False), requires_grad=requires_grad)


def randperm(n: int, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A random permutation of 0..n-1 (int64 unless ``dtype`` says otherwise)."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
        raise ValueError(f"randperm: n must be a non-negative int, got {n!r}")
    dtype = check_dtype("randperm", dtype or np.int64)
    return Tensor(backend.permutation(int(n), _device(device)).astype(dtype, copy=False),
                  requires_grad=requires_grad)


def arange(start, stop=None, step=1, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Evenly spaced values in [start, stop), like ``numpy.arange``."""
    if stop is None:
        start, stop = 0, start
    for name, v in (("start", start), ("stop", stop), ("step", step)):
        if not isinstance(v, numbers.Real):
            raise TypeError(f"arange: {name} must be a real number, got {v!r}")
    if step == 0:
        raise ValueError("arange: step must be nonzero")
    device = _device(device)
    if dtype is None:
        is_int = all(isinstance(v, numbers.Integral) for v in (start, stop, step))
        dtype = np.int64 if is_int else DEFAULT_DTYPE
    with backend.on_device(device):
        array = device.xp.arange(start, stop, step, dtype=check_dtype("arange", dtype))
    return Tensor(array, requires_grad=requires_grad)


def linspace(start, end, steps: int, dtype=None, device=None, requires_grad=False) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end``, both included (float32 by default)."""
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 0:
        raise ValueError(f"linspace: steps must be a non-negative int, got {steps!r}")
    dtype = check_dtype("linspace", dtype or DEFAULT_DTYPE)
    device = _device(device)
    with backend.on_device(device):
        array = device.xp.linspace(start, end, int(steps), dtype=dtype)
    return Tensor(array, requires_grad=requires_grad)


manual_seed = backend.manual_seed
