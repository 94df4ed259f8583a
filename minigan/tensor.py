"""Tensor: an array, where it lives, and how it was made; plus the functions that create one.

A Tensor wraps a NumPy or CuPy array (``.array``; ``.data`` is PyTorch's: the same values as
a Tensor cut from the graph). If ``requires_grad`` is True it is part of the graph: a *leaf*
when the user made it (its gradient lands in ``.grad``), otherwise the output of the
:class:`~minigan.autograd.Function` stored in ``.creator``. Its operators and
methods are thin calls into :mod:`minigan.functional`, where every op lives. ``._version``
counts the in-place writes to its memory (see :mod:`minigan.autograd`).
"""
from __future__ import annotations

import numbers

import numpy as np

from . import autograd, backend

DEFAULT_DTYPE = np.dtype(np.float32)
_KINDS = frozenset("biuf")  # what a tensor may hold: bool, signed and unsigned integers, floats


def check_dtype(op: str, dtype) -> np.dtype:
    """``dtype`` as an np.dtype, if a tensor can hold it (bool, integer or floating point)."""
    if dtype is None:  # (np.dtype(None) would be float64)
        raise TypeError(f"{op}: expected a dtype, got None")
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{op}: {dtype!r} is not a dtype") from None
    if dtype.kind not in _KINDS:
        what = "complex numbers" if dtype.kind == "c" else "strings or Python objects"
        raise TypeError(f"{op}: dtype {dtype} is not supported: minigan's tensors hold bool, integer or "
                        f"floating-point numbers, not {what}")
    return dtype


class Tensor:
    """An n-dimensional array with an optional gradient (float32 by default)."""

    __slots__ = ("array", "grad", "requires_grad", "creator", "_version_counter", "__weakref__")
    __array_ufunc__ = None  # numpy must not swallow tensors: ``array * tensor`` -> Tensor.__rmul__

    def __init__(self, array, requires_grad=False, creator=None, version_counter=None):
        if isinstance(array, np.generic):
            array = np.asarray(array)
        if getattr(getattr(array, "dtype", None), "kind", None) not in _KINDS:
            _refuse_array(array)
        self.array = array  # the NumPy / CuPy / sim array that holds the values
        self.grad = None
        self.creator = creator
        self.requires_grad = requires_grad
        # shared with every tensor that shares this memory (detach, views); new memory, new counter
        self._version_counter = version_counter or autograd.VersionCounter()
        if requires_grad and creator is None and array.dtype.kind != "f":
            raise TypeError(f"requires_grad: only floating-point tensors can require grad, got dtype {array.dtype}")

    def _node(self):
        """This tensor's place in the graph: its creator, itself if a leaf, or None."""
        if not self.requires_grad:
            return None
        return self.creator if self.creator is not None else self

    # -- facts ------------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return self.array.shape

    @property
    def ndim(self) -> int:
        return self.array.ndim

    @property
    def dtype(self) -> np.dtype:
        return self.array.dtype

    @property
    def device(self) -> backend.Device:
        return backend.device_of(self.array)

    @property
    def is_leaf(self) -> bool:
        return self.creator is None

    @property
    def _version(self) -> int:
        """How many in-place writes this tensor's memory has seen (PyTorch's ``_version``)."""
        return self._version_counter.value

    def _bump_version(self) -> None:
        """Record an in-place write to this tensor's memory: call it after every write into
        ``.array`` (``x.array[...] = ...``, ``x.array -= ...``). A backward that needs the old
        values then raises instead of silently using the new ones."""
        self._version_counter.value += 1

    def numel(self) -> int:
        """Number of elements."""
        return self.array.size

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __repr__(self):
        body = np.array2string(backend.to_numpy(self.array), separator=", ", precision=4,
                               threshold=50, prefix="tensor(")
        extras = [f"shape={self.shape}", f"dtype={self.dtype}"]
        if self.device != backend.CPU:
            extras.append(f"device='{self.device}'")
        if self.creator is not None:
            extras.append(f"creator={self.creator.name}")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return f"tensor({body}, {', '.join(extras)})"

    # -- leaving the graph or the device ---------------------------------------------------
    def detach(self) -> "Tensor":
        """The same data, cut from the graph (in-place writes to either are seen by both's
        version counter, as in PyTorch)."""
        return Tensor(self.array, version_counter=self._version_counter)

    @property
    def data(self) -> "Tensor":
        """PyTorch's ``.data``: a Tensor sharing this one's memory, cut from the graph (writes
        through it change this tensor, and, as in PyTorch, are not seen by its version
        counter: autograd cannot catch them). minigan's own code reads the raw array, ``.array``."""
        return Tensor(self.array)

    @data.setter
    def data(self, value: "Tensor") -> None:
        """``t.data = other`` makes ``t`` hold ``other``'s values (its array, not a copy), as in
        PyTorch; the graph and ``requires_grad`` stay as they were."""
        if not isinstance(value, Tensor):
            raise TypeError(f"data: expected a Tensor, got {type(value).__name__} (to set the raw array, "
                            "assign to .array)")
        self.array = value.array

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        """Make this leaf tensor record gradients (in place); returns self."""
        if self.creator is not None:
            raise RuntimeError("requires_grad_ can only change leaf tensors; use .detach() first")
        if requires_grad and self.dtype.kind != "f":
            raise TypeError(f"requires_grad_: only floating-point tensors can require grad, got dtype {self.dtype}")
        self.requires_grad = requires_grad
        return self

    def numpy(self) -> np.ndarray:
        """The values as a NumPy array (a device-to-host copy when not on the CPU)."""
        return backend.to_numpy(self.array)

    def item(self):
        """The single value of a one-element tensor as a Python number (a host copy on GPUs)."""
        if self.array.size != 1:
            raise ValueError(f"item: only one-element tensors can be converted, got shape {self.shape}")
        return self.array.item()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        return bool(self.item())

    def to(self, device) -> "Tensor":
        """This tensor on ``device`` (differentiable; no copy when already there)."""
        return F.to_device(self, device)

    def cpu(self) -> "Tensor":
        return self.to("cpu")

    def astype(self, dtype) -> "Tensor":
        """This tensor cast to ``dtype`` (differentiable between float dtypes)."""
        return F.astype(self, dtype)

    def float(self) -> "Tensor":
        return self.astype(np.float32)

    def double(self) -> "Tensor":
        return self.astype(np.float64)

    def backward(self, grad=None, retain_graph=False, create_graph=False) -> None:
        """Backprop from this tensor; see :func:`minigan.autograd.backward`."""
        autograd.backward(self, grad, retain_graph, create_graph)

    # -- operators --------------------------------------------------------------------
    def __add__(self, other): return F.add(self, other)
    def __radd__(self, other): return F.add(other, self)
    def __sub__(self, other): return F.sub(self, other)
    def __rsub__(self, other): return F.sub(other, self)
    def __mul__(self, other): return F.mul(self, other)
    def __rmul__(self, other): return F.mul(other, self)
    def __truediv__(self, other): return F.div(self, other)
    def __rtruediv__(self, other): return F.div(other, self)
    def __pow__(self, other): return F.pow(self, other)
    def __rpow__(self, other): return F.pow(other, self)
    def __matmul__(self, other): return F.matmul(self, other)
    def __rmatmul__(self, other): return F.matmul(other, self)
    def __neg__(self): return F.neg(self)
    def __abs__(self): return F.abs(self)
    def __getitem__(self, index): return F.getitem(self, index)

    # comparisons give tensors of bools, outside the graph
    def __lt__(self, other): return F.compare("lt", self, other)
    def __le__(self, other): return F.compare("le", self, other)
    def __gt__(self, other): return F.compare("gt", self, other)
    def __ge__(self, other): return F.compare("ge", self, other)
    def __eq__(self, other): return F.compare("eq", self, other)
    def __ne__(self, other): return F.compare("ne", self, other)
    __hash__ = object.__hash__  # identity, so tensors can sit in sets and dict keys

    # -- methods (NumPy's axis/keepdims for reductions, PyTorch's names elsewhere) ---------
    def sum(self, axis=None, keepdims=False): return F.sum(self, axis, keepdims)
    def mean(self, axis=None, keepdims=False): return F.mean(self, axis, keepdims)
    def var(self, axis=None, keepdims=False, ddof=0): return F.var(self, axis, keepdims, ddof)
    def max(self, axis=None, keepdims=False): return F.max(self, axis, keepdims)
    def min(self, axis=None, keepdims=False): return F.min(self, axis, keepdims)
    def logsumexp(self, axis=None, keepdims=False): return F.logsumexp(self, axis, keepdims)
    def argmax(self, axis=None): return F.argmax(self, axis)
    def argmin(self, axis=None): return F.argmin(self, axis)

    def reshape(self, *shape): return F.reshape(self, shape[0] if len(shape) == 1 else shape)
    def transpose(self, axis0, axis1): return F.transpose(self, axis0, axis1)
    def permute(self, *axes):  # permute(1, 0), permute((1, 0)), and permute(0) for a vector
        return F.permute(self, axes[0] if len(axes) == 1 and not isinstance(axes[0], numbers.Integral) else axes)
    def flatten(self, start_axis=0, end_axis=-1): return F.flatten(self, start_axis, end_axis)
    def squeeze(self, axis=None): return F.squeeze(self, axis)
    def unsqueeze(self, axis): return F.unsqueeze(self, axis)
    def broadcast_to(self, shape): return F.broadcast_to(self, shape)

    @property
    def T(self):
        """All axes reversed."""
        return F.permute(self, tuple(range(self.ndim - 1, -1, -1)))

    def exp(self): return F.exp(self)
    def log(self): return F.log(self)
    def sqrt(self): return F.sqrt(self)
    def abs(self): return F.abs(self)
    def clip(self, min=None, max=None): return F.clip(self, min, max)
    def relu(self): return F.relu(self)
    def sigmoid(self): return F.sigmoid(self)
    def tanh(self): return F.tanh(self)
    def softmax(self, axis=-1): return F.softmax(self, axis)
    def log_softmax(self, axis=-1): return F.log_softmax(self, axis)
    def matmul(self, other): return F.matmul(self, other)


# -- creation -----------------------------------------------------------------------------
def _device(device) -> backend.Device:
    """The device a creation function was asked for: the CPU when None (``device=0`` is cuda:0)."""
    return backend.CPU if device is None else backend.Device(device)


def _refuse_array(array):
    """Raise for what Tensor() cannot wrap: a non-array, or an array of complex numbers, strings
    or objects (arithmetic on those would silently drop parts or concatenate)."""
    if not backend.is_array(array):
        raise TypeError(f"Tensor: expected a NumPy or CuPy array, got {type(array).__name__} "
                        "(minigan.tensor(data) makes a tensor from numbers and lists)")
    check_dtype("Tensor", array.dtype)


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
    """A tensor of ``shape`` filled with ``fill_value``."""
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


def zeros_like(t: Tensor, dtype=None, requires_grad=False) -> Tensor:
    """Zeros of ``t``'s shape, dtype and device."""
    _check_tensor_arg("zeros_like", t)
    return full(t.shape, 0, dtype or t.dtype, t.device, requires_grad)


def ones_like(t: Tensor, dtype=None, requires_grad=False) -> Tensor:
    """Ones of ``t``'s shape, dtype and device."""
    _check_tensor_arg("ones_like", t)
    return full(t.shape, 1, dtype or t.dtype, t.device, requires_grad)


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


def arange(start, stop=None, step=1, dtype=None, device=None) -> Tensor:
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
        return Tensor(device.xp.arange(start, stop, step, dtype=check_dtype("arange", dtype)))


manual_seed = backend.manual_seed

from . import functional as F  # noqa: E402  (the ops need Tensor defined first)
