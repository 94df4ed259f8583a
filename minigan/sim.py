"""A strict stand-in for CuPy, backed by NumPy: the ``"sim"`` device.

CI has no GPU, yet every op must work on CuPy arrays. This module plays CuPy's part as
strictly as CuPy itself (stricter, in places) so that the op tests can run on it:

- ``numpy.asarray(a)`` and every other implicit conversion to NumPy raise ``TypeError``,
  as CuPy's do;
- an operation that mixes a sim array with a NumPy array raises ``TypeError``;
- calling a NumPy function or ufunc on a sim array raises ``TypeError`` (CuPy would allow a
  few of these; code that relies on it is reading device data through NumPy);
- ``.item()``, ``float()``, ``int()``, ``bool()``, ``.get()`` and ``.tolist()`` are explicit
  device-to-host copies, and ``asarray(numpy_array)`` a host-to-device copy: both are counted
  in :data:`transfers` so tests can assert that a training step makes none.

Use it as a module, like ``cupy``: ``sim.zeros((2, 3))``, ``sim.exp(a)``,
``sim.lib.stride_tricks.as_strided(...)``. Every NumPy function is offered, wrapped so that it
takes and returns sim arrays.
``sim.ElementwiseKernel`` compiles a CuPy kernel's CUDA C++ body for the CPU
(minigan/sim_kernel.py), so minigan's GPU kernels are tested here too.
"""
from __future__ import annotations

import collections
import operator

import numpy as np

transfers = {"to_host": 0, "to_device": 0}
calls = collections.Counter()  # name -> calls into the array module; "NAME (no launch)" for views and allocations
# calls that launch no GPU work in CuPy: allocations always, the others when they return a view
_ALLOCATIONS = {"empty", "empty_like"}
_VIEWS = {"reshape", "transpose", "broadcast_to", "squeeze", "expand_dims", "moveaxis", "swapaxes", "ravel",
          "view", "ascontiguousarray", "asarray", "astype", "getitem"}


def reset_transfers() -> None:
    """Set both transfer counters to zero."""
    transfers["to_host"] = 0
    transfers["to_device"] = 0


def reset_calls() -> None:
    """Forget the counted calls."""
    calls.clear()


def launches() -> int:
    """The counted calls that would launch GPU work under CuPy (views and allocations excluded):
    on a GPU each costs a launch, some microseconds of the host's time whatever the size."""
    return sum(n for name, n in calls.items() if not name.endswith("(no launch)"))


def _count(name: str, result, inputs) -> None:
    """Count one call; a view of an input, an allocation, or a yes/no question answered on
    the host (``may_share_memory``) launches nothing."""
    if name in _ALLOCATIONS or isinstance(result, bool) or (name in _VIEWS and isinstance(result, np.ndarray) and any(
            isinstance(a, np.ndarray) and np.may_share_memory(result, a) for a in inputs)):
        name += " (no launch)"
    calls[name] += 1


class ndarray:
    """A NumPy array that behaves like a CuPy array at the host/device boundary."""

    __slots__ = ("_a",)
    __array_ufunc__ = None  # numpy ufuncs refuse us; Python falls back to our operators

    def __init__(self, array: np.ndarray):
        self._a = array

    # -- the boundary -------------------------------------------------------------------
    def __array__(self, dtype=None, copy=None):
        raise TypeError("Implicit conversion of a sim (device) array to NumPy is not allowed: "
                        "use .get() for an explicit device-to-host copy")

    def __array_function__(self, func, types, args, kwargs):
        raise TypeError(f"numpy.{func.__name__} was called on a sim (device) array: "
                        f"use the array module of the device instead")

    def get(self) -> np.ndarray:
        """Explicit device-to-host copy (counted)."""
        transfers["to_host"] += 1
        return self._a.copy()

    def item(self):
        transfers["to_host"] += 1
        return self._a.item()

    def tolist(self):
        transfers["to_host"] += 1
        return self._a.tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        return operator.index(self.item())

    def __bool__(self):
        return bool(self.item())

    # -- everything else is forwarded to NumPy --------------------------------------------
    def __getattr__(self, name):
        if name.startswith("__"):  # no __array_interface__ and friends: NumPy must not see inside
            raise AttributeError(name)
        return _wrap(getattr(self._a, name))

    def __getitem__(self, index):
        result = self._a[_unwrap(index)]
        _count("getitem", result, (self._a,))
        return _wrap(result)

    def __setitem__(self, index, value):
        calls["setitem"] += 1
        self._a[_unwrap(index)] = _unwrap(value)

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        return (ndarray(np.asarray(row)) for row in self._a)

    def __repr__(self):
        return "sim." + repr(self._a)

    __hash__ = None


def _binary(op):
    name = f"__{op.__name__.strip('_')}__"

    def method(self, other):
        calls[name] += 1
        return _wrap(op(self._a, _unwrap(other)))
    return method


def _reflected(op):
    name = f"__r{op.__name__.strip('_')}__"

    def method(self, other):
        calls[name] += 1
        return _wrap(op(_unwrap(other), self._a))
    return method


def _inplace(op):
    name = f"__{op.__name__.strip('_')}__"

    def method(self, other):
        calls[name] += 1
        self._a = op(self._a, _unwrap(other))
        return self
    return method


for _name, _op in [("add", operator.add), ("sub", operator.sub), ("mul", operator.mul),
                   ("truediv", operator.truediv), ("floordiv", operator.floordiv),
                   ("mod", operator.mod), ("pow", operator.pow), ("matmul", operator.matmul),
                   ("and", operator.and_), ("or", operator.or_), ("xor", operator.xor),
                   ("lshift", operator.lshift), ("rshift", operator.rshift)]:
    setattr(ndarray, f"__{_name}__", _binary(_op))
    setattr(ndarray, f"__r{_name}__", _reflected(_op))
    setattr(ndarray, f"__i{_name}__", _inplace(getattr(operator, f"i{_name}")))
for _name in ("lt", "le", "eq", "ne", "gt", "ge"):
    setattr(ndarray, f"__{_name}__", _binary(getattr(operator, _name)))
def _unary(op):
    name = f"__{op.__name__.strip('_')}__"

    def method(self):
        calls[name] += 1
        return _wrap(op(self._a))
    return method


for _name in ("neg", "pos", "abs", "invert"):
    setattr(ndarray, f"__{_name}__", _unary(getattr(operator, _name)))


def _unwrap(value):
    """Sim arrays to NumPy inside arguments; NumPy arrays are refused, as CuPy refuses them."""
    if isinstance(value, ndarray):
        return value._a
    if isinstance(value, np.ndarray):
        raise TypeError("a sim (device) array cannot be combined with a NumPy (host) array "
                        f"of shape {value.shape}: move it to the device first")
    if isinstance(value, (list, tuple)):
        return type(value)(_unwrap(v) for v in value)
    if isinstance(value, dict):
        return {k: _unwrap(v) for k, v in value.items()}
    return value


def _wrap(value):
    """NumPy results back to sim arrays; NumPy scalars become 0-d arrays, as in CuPy."""
    if isinstance(value, np.ndarray):
        return ndarray(value)
    if isinstance(value, np.generic):
        return ndarray(np.asarray(value))
    if isinstance(value, tuple):
        return tuple(_wrap(v) for v in value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    if callable(value) and not isinstance(value, type):
        return _Proxy(value)
    return value


class _Proxy:
    """A NumPy function, ufunc or sub-module whose calls take and return sim arrays."""

    __slots__ = ("_target",)

    def __init__(self, target):
        self._target = target

    def __call__(self, *args, **kwargs):
        args = _unwrap(args)
        result = self._target(*args, **_unwrap(kwargs))
        _count(getattr(self._target, "__name__", "call"), result, args + (getattr(self._target, "__self__", None),))
        return _wrap(result)

    def __getattr__(self, name):
        attr = getattr(self._target, name)
        if isinstance(attr, type) or not (callable(attr) or hasattr(attr, "__dict__")):
            return attr
        return _Proxy(attr)


def asarray(value, dtype=None, count=True):
    """Move host data to the sim device (a counted host-to-device copy when it is NumPy data)."""
    if isinstance(value, ndarray):
        return value if dtype is None else value.astype(dtype, copy=False)
    if count:
        transfers["to_device"] += 1
    return ndarray(np.array(value, dtype=dtype))


array = asarray


def asnumpy(value) -> np.ndarray:
    """Explicit device-to-host copy, like ``cupy.asnumpy``."""
    return value.get() if isinstance(value, ndarray) else np.asarray(value)


def scatter_add(target: ndarray, index, values) -> None:
    """``target[index] += values`` with repeated indices summed (``cupyx.scatter_add``)."""
    np.add.at(target._a, _unwrap(index), _unwrap(values))


def __getattr__(name):
    """Every other NumPy name: types and constants as they are, functions wrapped."""
    attr = getattr(np, name)
    if isinstance(attr, type) or not callable(attr) and not hasattr(attr, "__dict__"):
        return attr
    return _Proxy(attr)


from .sim_kernel import ElementwiseKernel  # noqa: E402  (CuPy's user kernels, compiled for the CPU)
