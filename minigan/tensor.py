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
    """An n-dimensional array with an optional gradient (float32 by default).

    ``Tensor(array)`` wraps a NumPy or CuPy array as it is (its memory and dtype): minigan's own
    constructor. ``Tensor([1.0, 2.0])``, from a list or tuple, is PyTorch's legacy constructor:
    a float32 copy. ``minigan.tensor(data)`` is the one to use for data (it keeps a float64
    array float64, as PyTorch's ``torch.tensor`` does).
    """

    __slots__ = ("array", "grad", "requires_grad", "creator", "_version_counter", "__weakref__")
    __array_ufunc__ = None  # numpy must not swallow tensors: ``array * tensor`` -> Tensor.__rmul__

    def __init__(self, array, requires_grad=False, creator=None, version_counter=None):
        if isinstance(array, (list, tuple)):  # torch.Tensor(data), PyTorch's legacy constructor: float32
            array = _float_array(array)
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

    def to(self, *args, device=None, dtype=None, non_blocking=False, copy=False) -> "Tensor":
        """This tensor on another device and/or as another dtype: ``to(device)``, ``to(dtype)``,
        ``to(device, dtype)``, ``to(other_tensor)``, as in PyTorch (differentiable; ``self``
        when nothing changes, unless ``copy``)."""
        for arg in args:
            if isinstance(arg, Tensor):
                device, dtype = arg.device, arg.dtype
            elif isinstance(arg, np.dtype) or (isinstance(arg, type) and issubclass(arg, np.generic)):
                dtype = arg
            else:
                device = arg
        out = self if device is None else F.to_device(self, device)
        out = out if dtype is None else F.astype(out, dtype)
        return ops.clone(out) if copy and out is self else out

    def cpu(self) -> "Tensor":
        """This tensor on the CPU."""
        return self.to("cpu")

    def cuda(self, device=None) -> "Tensor":
        """This tensor on a GPU (``device``: its index; the first GPU by default)."""
        return self.to(backend.Device("cuda", device))

    @property
    def is_cuda(self) -> bool:
        """True on a GPU."""
        return self.device.type == "cuda"

    def astype(self, dtype) -> "Tensor":
        """This tensor cast to ``dtype`` (differentiable between float dtypes; NumPy's name)."""
        return F.astype(self, dtype)

    def type(self, dtype=None) -> "Tensor":
        """PyTorch's legacy ``type()``: the type name, or with ``minigan.FloatTensor`` (or
        ``"torch.cuda.FloatTensor"``, or a dtype) the converted tensor; see :mod:`minigan.legacy`."""
        return legacy.to_type(self, dtype)

    def float(self): return self.astype(np.float32)
    def double(self): return self.astype(np.float64)
    def half(self): return self.astype(np.float16)
    def long(self): return self.astype(np.int64)
    def int(self): return self.astype(np.int32)
    def bool(self): return self.astype(np.bool_)

    def __dlpack__(self, *args, **kwargs):
        """Share this tensor's memory with another library (``torch.from_dlpack(t)``) without a copy."""
        return dlpack.export(self, *args, **kwargs)

    def __dlpack_device__(self):
        return dlpack.export_device(self)

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

    # -- methods: PyTorch's names and arguments (dim/keepdim; NumPy's axis/keepdims too) ------
    def size(self, dim=None):
        """The shape, or its size along ``dim``."""
        if dim is None:
            return self.shape
        if not -max(self.ndim, 1) <= dim < max(self.ndim, 1):
            raise IndexError(f"Dimension out of range (expected to be in range of [{-max(self.ndim, 1)}, "
                             f"{max(self.ndim, 1) - 1}], but got {dim})")
        return self.shape[dim] if self.ndim else 1

    def dim(self) -> int: return self.ndim
    ndimension = dim
    nelement = numel

    @property
    def grad_fn(self):
        """PyTorch's name for ``creator``."""
        return self.creator

    def sum(self, dim=None, keepdim=None, *, axis=None, keepdims=None):
        return F.sum(self, axis, keepdims, dim=dim, keepdim=keepdim)
    def mean(self, dim=None, keepdim=None, *, axis=None, keepdims=None):
        return F.mean(self, axis, keepdims, dim=dim, keepdim=keepdim)
    def var(self, dim=None, unbiased=None, keepdim=None, **kwargs):  # unbiased unless NumPy's ddof=/axis=
        return ops.var(self, dim, unbiased, keepdim, **kwargs)
    def std(self, dim=None, unbiased=None, keepdim=None, **kwargs):
        return ops.std(self, dim, unbiased, keepdim, **kwargs)
    def max(self, dim=None, keepdim=False, *, axis=None, keepdims=None):  # max(dim): (values, indices)
        return ops.max(self, dim, keepdim, axis=axis, keepdims=keepdims)
    def min(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        return ops.min(self, dim, keepdim, axis=axis, keepdims=keepdims)
    def amax(self, dim=None, keepdim=None): return F.max(self, dim, keepdim)
    def amin(self, dim=None, keepdim=None): return F.min(self, dim, keepdim)
    def logsumexp(self, dim=None, keepdim=None, *, axis=None, keepdims=None):
        return F.logsumexp(self, axis, keepdims, dim=dim, keepdim=keepdim)
    def argmax(self, dim=None, keepdim=None, *, axis=None):
        return F.argmax(self, axis, keepdim, dim=dim)
    def argmin(self, dim=None, keepdim=None, *, axis=None):
        return F.argmin(self, axis, keepdim, dim=dim)
    def norm(self, p="fro", dim=None, keepdim=None): return ops.norm(self, p, dim, keepdim)

    def reshape(self, *shape): return F.reshape(self, shape[0] if len(shape) == 1 else shape)
    def view(self, *shape): return ops.view(self, shape[0] if len(shape) == 1 else shape)
    def view_as(self, other): return ops.view(self, other.shape)
    def reshape_as(self, other): return F.reshape(self, other.shape)
    def expand(self, *sizes): return ops.expand(self, sizes[0] if len(sizes) == 1 else sizes)
    def expand_as(self, other): return F.broadcast_to(self, other.shape)
    def repeat(self, *sizes): return ops.repeat(self, sizes[0] if len(sizes) == 1 else sizes)
    def contiguous(self): return ops.contiguous(self)
    def clone(self): return ops.clone(self)
    def transpose(self, dim0, dim1): return F.transpose(self, dim0, dim1)
    def t(self): return ops.t(self)
    def permute(self, *dims):  # permute(1, 0), permute((1, 0)), and permute(0) for a vector
        return F.permute(self, dims[0] if len(dims) == 1 and not isinstance(dims[0], numbers.Integral) else dims)
    def flatten(self, start_dim=0, end_dim=-1): return F.flatten(self, start_dim=start_dim, end_dim=end_dim)
    def squeeze(self, dim=None): return F.squeeze(self, dim=dim)  # PyTorch's: a dim of size > 1 stays
    def unsqueeze(self, dim): return F.unsqueeze(self, dim)
    def broadcast_to(self, shape): return F.broadcast_to(self, shape)
    def chunk(self, chunks, dim=0): return ops.chunk(self, chunks, dim)

    @property
    def T(self):
        """All axes reversed."""
        return F.permute(self, tuple(range(self.ndim - 1, -1, -1)))

    def add(self, other, alpha=1): return self + (other if alpha == 1 else other * alpha)
    def sub(self, other, alpha=1): return self - (other if alpha == 1 else other * alpha)
    def mul(self, other): return self * other
    def div(self, other): return self / other
    def pow(self, exponent): return self ** exponent
    def neg(self): return F.neg(self)
    def exp(self): return F.exp(self)
    def log(self): return F.log(self)
    def sqrt(self): return F.sqrt(self)
    def abs(self): return F.abs(self)
    def clip(self, min=None, max=None): return F.clip(self, min, max)
    def clamp(self, min=None, max=None): return F.clip(self, min, max)
    def relu(self): return F.relu(self)
    def sigmoid(self): return F.sigmoid(self)
    def tanh(self): return F.tanh(self)
    def softmax(self, dim=None): return F.softmax(self, dim=dim)
    def log_softmax(self, dim=None): return F.log_softmax(self, dim=dim)
    def matmul(self, other): return F.matmul(self, other)
    def masked_fill(self, mask, value): return F.where(mask, value, self)
    def eq(self, other): return self == other
    def tolist(self): return self.numpy().tolist()
    def new_zeros(self, *size, dtype=None, device=None): return creation.zeros(*size, dtype=dtype or self.dtype,
                                                                               device=device or self.device)
    def new_ones(self, *size, dtype=None, device=None): return creation.ones(*size, dtype=dtype or self.dtype,
                                                                             device=device or self.device)
    def new_full(self, size, fill_value, dtype=None, device=None):
        return creation.full(size, fill_value, dtype=dtype or self.dtype, device=device or self.device)
    def new_tensor(self, data, dtype=None, device=None):
        return creation.tensor(data, dtype=dtype or self.dtype, device=device or self.device)

    # -- in place: PyTorch's trailing underscore, each bumps the version (minigan/inplace.py) ----
    def add_(self, other, alpha=1): return inplace.add_(self, other, alpha)
    def sub_(self, other, alpha=1): return inplace.sub_(self, other, alpha)
    def mul_(self, other): return inplace.mul_(self, other)
    def div_(self, other): return inplace.div_(self, other)
    def pow_(self, exponent): return inplace.pow_(self, exponent)
    def clamp_(self, min=None, max=None): return inplace.clamp_(self, min, max)
    clip_ = clamp_
    def lerp_(self, end, weight): return inplace.lerp_(self, end, weight)
    def neg_(self): return inplace.unary_(self, "neg")
    def abs_(self): return inplace.unary_(self, "abs")
    def exp_(self): return inplace.unary_(self, "exp")
    def log_(self): return inplace.unary_(self, "log")
    def sqrt_(self): return inplace.unary_(self, "sqrt")
    def sigmoid_(self): return inplace.unary_(self, "sigmoid")
    def tanh_(self): return inplace.unary_(self, "tanh")
    def relu_(self): return inplace.unary_(self, "relu")
    def fill_(self, value): return inplace.fill_(self, value)
    def zero_(self): return inplace.zero_(self)
    def copy_(self, src, non_blocking=False): return inplace.copy_(self, src)
    def masked_fill_(self, mask, value): return inplace.masked_fill_(self, mask, value)
    def scatter_(self, dim, index, src=None, *, value=None): return inplace.scatter_(self, dim, index, src, value)
    def normal_(self, mean=0.0, std=1.0): return inplace.normal_(self, mean, std)
    def uniform_(self, *bounds, **named):  # PyTorch's names, from and to, are a keyword and a verb here
        return inplace.uniform_(self, *bounds, *[named.pop(k) for k in ("from", "to") if k in named], **named)
    def bernoulli_(self, p=0.5): return inplace.bernoulli_(self, p)

    def detach_(self) -> "Tensor":
        """Cut this tensor from the graph, in place (it becomes a leaf that requires no grad)."""
        self.creator, self.requires_grad = None, False
        return self


# -- construction checks ------------------------------------------------------------------
def _refuse_array(array):
    """Raise for what Tensor() cannot wrap: a non-array, or an array of complex numbers, strings
    or objects (arithmetic on those would silently drop parts or concatenate)."""
    if not backend.is_array(array):
        raise TypeError(f"Tensor: expected a NumPy or CuPy array, or a list or tuple of numbers, got "
                        f"{type(array).__name__} (minigan.tensor(data) makes a tensor from numbers and lists; "
                        "minigan.zeros(n) one of n elements)")
    check_dtype("Tensor", array.dtype)


def _float_array(data) -> np.ndarray:
    """``data`` (nested lists or tuples of numbers) as a new float32 array, as torch.Tensor(data)."""
    try:
        return np.array(data, dtype=DEFAULT_DTYPE)
    except (TypeError, ValueError, OverflowError) as err:
        raise type(err)(f"Tensor: cannot make a float32 tensor from this {type(data).__name__}: {err}") from None


from . import functional as F  # noqa: E402  (the ops need Tensor defined first)
from . import creation, dlpack, inplace, legacy, ops  # noqa: E402  (the same)
