"""Parameter, Module and Sequential: the bookkeeping that turns ops into layers.

A :class:`Module` finds its parameters, buffers and sub-modules by watching attribute
assignment (``self.weight = Parameter(...)``, ``self.body = Sequential(...)``), exactly as
PyTorch does, so it can list them (``parameters()``), move them (``to()``), save and load them
by name (``state_dict()``), and switch every layer between training and evaluation.
The names and array layouts are PyTorch's, so weights move between the two by name.
"""
from __future__ import annotations

import numbers
from collections import OrderedDict, namedtuple

import numpy as np

from .. import backend
from ..tensor import Tensor


class Parameter(Tensor):
    """A leaf Tensor that a Module registers as one of its trainable weights.

    ``Parameter(t)`` shares ``t``'s array and version counter (like PyTorch); ``requires_grad``
    defaults to True.
    """

    __slots__ = ()

    def __init__(self, data=None, requires_grad: bool = True):
        version = None
        if data is None:
            data = np.zeros((0,), dtype=np.float32)
        elif isinstance(data, Tensor):
            data, version = data.array, data._version_counter
        elif not backend.is_array(data):
            raise TypeError(f"Parameter: expected a Tensor or an array, got {type(data).__name__}")
        if data.dtype.kind not in "biuf":
            raise TypeError(f"Parameter: expected a bool, integer or floating-point array, got {data.dtype}")
        super().__init__(data, requires_grad=requires_grad, version_counter=version)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


class Module:
    """Base class of every layer and model: subclasses set attributes in ``__init__``
    (after ``super().__init__()``) and define ``forward``; call the module to run it."""

    def __init__(self):
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", OrderedDict())

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} has no forward method")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # -- registration -------------------------------------------------------------------
    def _registry(self, name: str):
        registry = self.__dict__.get(name)
        if registry is None:
            raise AttributeError(f"{type(self).__name__}: cannot assign parameters, buffers or modules "
                                 "before Module.__init__() is called (call super().__init__() first)")
        return registry

    def _forget(self, name: str) -> None:
        """Remove ``name`` from every registry and the plain attributes."""
        for registry in ("_parameters", "_buffers", "_modules"):
            self.__dict__.get(registry, {}).pop(name, None)
        self.__dict__.get("_non_persistent", set()).discard(name)
        self.__dict__.pop(name, None)

    def _check_name(self, name: str, kind: str) -> None:
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"{type(self).__name__}: {kind} name must be a non-empty string without '.', got {name!r}")

    def register_parameter(self, name: str, param) -> None:
        """Register ``param`` (a Parameter, or None for an absent one such as ``bias=False``)."""
        registry = self._registry("_parameters")
        self._check_name(name, "parameter")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"{type(self).__name__}: cannot register a {type(param).__name__} as "
                            f"parameter {name!r} (minigan.nn.Parameter or None expected)")
        self._forget(name)
        registry[name] = param

    def register_buffer(self, name: str, tensor, persistent: bool = True) -> None:
        """Register a Tensor that is state but not trained (e.g. BatchNorm's running mean):
        moved by ``to()`` and, if ``persistent``, saved in ``state_dict()``."""
        registry = self._registry("_buffers")
        self._check_name(name, "buffer")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"{type(self).__name__}: buffer {name!r} must be a Tensor or None, "
                            f"got {type(tensor).__name__}")
        self._forget(name)
        registry[name] = tensor
        if not persistent:
            self._non_persistent.add(name)

    def add_module(self, name: str, module) -> None:
        """Register ``module`` (or None) as a child called ``name``."""
        registry = self._registry("_modules")
        self._check_name(name, "module")
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(self).__name__}: {type(module).__name__} is not a Module")
        self._forget(name)
        registry[name] = module

    def __setattr__(self, name, value):
        if isinstance(value, Parameter):
            self.register_parameter(name, value)
        elif isinstance(value, Module):
            self.add_module(name, value)
        elif name in self.__dict__.get("_parameters", ()):
            if value is not None:
                raise TypeError(f"{type(self).__name__}: cannot assign a {type(value).__name__} to parameter "
                                f"{name!r} (minigan.nn.Parameter or None expected)")
            self._parameters[name] = None
        elif name in self.__dict__.get("_modules", ()):
            if value is not None:
                raise TypeError(f"{type(self).__name__}: cannot assign a {type(value).__name__} to "
                                f"sub-module {name!r} (a Module or None expected)")
            self._modules[name] = None
        elif name in self.__dict__.get("_buffers", ()):
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"{type(self).__name__}: cannot assign a {type(value).__name__} to "
                                f"buffer {name!r} (a Tensor or None expected)")
            self._buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name):  # only called when normal lookup fails
        for registry in ("_parameters", "_buffers", "_modules"):
            entries = self.__dict__.get(registry)
            if entries is not None and name in entries:
                return entries[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name):
        if any(name in self.__dict__.get(r, ()) for r in ("_parameters", "_buffers", "_modules")):
            self._forget(name)
        else:
            object.__delattr__(self, name)

    # -- walking the tree ------------------------------------------------------------------
    def named_children(self):
        """(name, module) for each direct sub-module."""
        for name, module in self._modules.items():
            if module is not None:
                yield name, module

    def children(self):
        """Each direct sub-module."""
        for _, module in self.named_children():
            yield module

    def named_modules(self, prefix: str = "", _seen=None):
        """(dotted name, module) for this module ("") and every sub-module, depth first, each once."""
        seen = set() if _seen is None else _seen
        if id(self) in seen:
            return
        seen.add(id(self))
        yield prefix, self
        for name, module in self.named_children():
            yield from module.named_modules(f"{prefix}.{name}" if prefix else name, seen)

    def modules(self):
        """This module and every sub-module."""
        for _, module in self.named_modules():
            yield module

    def _named_members(self, registry: str, recurse: bool):
        seen = set()
        modules = self.named_modules() if recurse else [("", self)]
        for prefix, module in modules:
            for name, member in module.__dict__[registry].items():
                if member is None or id(member) in seen:
                    continue
                seen.add(id(member))
                yield (f"{prefix}.{name}" if prefix else name), member

    def named_parameters(self, recurse: bool = True):
        """(dotted name, Parameter) for every parameter, each once: ``"0.weight"``, ``"0.bias"``, ..."""
        return self._named_members("_parameters", recurse)

    def parameters(self, recurse: bool = True):
        """Every parameter, each once (what an optimizer takes)."""
        for _, param in self.named_parameters(recurse):
            yield param

    def named_buffers(self, recurse: bool = True):
        """(dotted name, Tensor) for every buffer."""
        return self._named_members("_buffers", recurse)

    def buffers(self, recurse: bool = True):
        """Every buffer."""
        for _, buf in self.named_buffers(recurse):
            yield buf

    def apply(self, fn):
        """Call ``fn(module)`` on every sub-module, then on this one (e.g. custom initialisation)."""
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    # -- modes and gradients ---------------------------------------------------------------
    def train(self, mode: bool = True):
        """Training mode for this module and all below (dropout drops, batch norm uses batch stats)."""
        if not isinstance(mode, bool):
            raise TypeError(f"train: mode must be a bool, got {type(mode).__name__}")
        for module in self.modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self):
        """Evaluation mode: ``train(False)``."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True):
        """Switch gradient recording of every parameter (e.g. freeze D while training G)."""
        for param in self.parameters():
            param.requires_grad_(requires_grad)
        return self

    def zero_grad(self) -> None:
        """Set every parameter's gradient to None."""
        for param in self.parameters():
            param.grad = None

    # -- devices and dtypes ------------------------------------------------------------------
    def to(self, device=None, dtype=None):
        """Move (and/or cast floating-point) parameters and buffers in place; returns self.

        ``to(device)``, ``to(dtype)``, ``to(device, dtype)`` or by keyword, as in PyTorch; the
        dtype must be a floating-point one (integer buffers keep theirs). The Parameter objects
        stay the same, so an optimizer built before the move stays valid (its state, if any,
        must then be moved too: build optimizers after ``to()``). Each tensor's version goes up:
        a graph built before the move can no longer backprop. A failed move changes nothing.
        """
        if dtype is None and _is_dtype(device):  # to(minigan.float64), as in PyTorch
            device, dtype = None, device
        device = None if device is None else backend.Device(device)
        if dtype is not None:
            dtype = _float_dtype(dtype)
        tensors = [t for module in self.modules()
                   for t in list(module._parameters.values()) + list(module._buffers.values()) if t is not None]
        arrays = [_convert(t.array, device, dtype) for t in tensors]  # all converted before any is changed
        grads = [None if t.grad is None else Tensor(_convert(t.grad.array, device, dtype)) for t in tensors]
        for t, array, grad in zip(tensors, arrays, grads):
            if array is not t.array:
                t.array = array
                t._bump_version()
            t.grad = grad
        return self

    def cpu(self):
        """``to("cpu")``."""
        return self.to("cpu")

    def float(self):
        """Cast floating-point parameters and buffers to float32."""
        return self.to(dtype=np.float32)

    def double(self):
        """Cast floating-point parameters and buffers to float64 (for gradcheck)."""
        return self.to(dtype=np.float64)

    # -- saving and loading ------------------------------------------------------------------
    def _state_items(self):
        """(dotted name, tensor) for every parameter and persistent buffer, in PyTorch's order."""
        for prefix, module in self.named_modules():
            dot = f"{prefix}." if prefix else ""
            for name, param in module._parameters.items():
                if param is not None:
                    yield dot + name, param
            for name, buf in module._buffers.items():
                if buf is not None and name not in module._non_persistent:
                    yield dot + name, buf

    def state_dict(self, *, keep_vars: bool = False) -> OrderedDict:
        """An ordered dict name -> Tensor of every parameter and persistent buffer.

        The Tensors are detached but share memory with the module (like PyTorch): copy them,
        or save them at once, if the module trains on. ``keep_vars=True`` gives the Parameters.
        """
        return OrderedDict((name, t if keep_vars else t.detach()) for name, t in self._state_items())

    def load_state_dict(self, state_dict, strict: bool = True):
        """Copy values from ``state_dict`` into the parameters and buffers, in place.

        Values may be Tensors or arrays (any device; cast to each target's dtype). Missing or
        unexpected keys raise when ``strict``; a shape mismatch, a value that is not real numbers
        (complex, strings, objects), or one that an integer buffer cannot hold (NaN, inf, a
        fraction) always raises. Nothing is copied unless everything checks out. Each target's
        version goes up. Returns ``(missing_keys, unexpected_keys)``.
        """
        if not hasattr(state_dict, "keys") or not hasattr(state_dict, "__getitem__"):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict).__name__}.")
        targets = OrderedDict(self._state_items())
        missing = [k for k in targets if k not in state_dict]
        unexpected = [k for k in state_dict if k not in targets]
        sources, errors = {}, []
        for name, target in targets.items():
            if name not in state_dict:
                continue
            sources[name] = _as_array(state_dict[name], name)
            if tuple(sources[name].shape) != target.shape:
                errors.append(f"size mismatch for {name}: copying a param with shape "
                              f"{tuple(sources[name].shape)} from checkpoint, the shape in current "
                              f"model is {target.shape}.")
            elif target.dtype.kind in "biu" and not _fits_integers(sources[name], target.dtype):
                errors.append(f"value mismatch for {name}: the checkpoint's {sources[name].dtype} values "
                              f"include NaN, infinity, fractions or values out of range, which the "
                              f"{target.dtype} buffer in current model cannot hold.")
        if strict and unexpected:
            errors.insert(0, "Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected) + ".")
        if strict and missing:
            errors.insert(0, "Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ".")
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t" + "\n\t".join(errors))
        values = {}
        for name, source in sources.items():  # every copy made before any target changes
            with backend.on_device_of(targets[name].array):  # CuPy's astype allocates on the current GPU
                values[name] = backend.to_device(source, targets[name].device).astype(targets[name].dtype, copy=False)
        for name, value in values.items():
            with backend.on_device_of(value):
                targets[name].array[...] = value
            targets[name]._bump_version()
        return IncompatibleKeys(missing, unexpected)

    # -- printing ------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The arguments shown inside this module's parentheses (override in layers)."""
        return ""

    def __repr__(self):
        extra = self.extra_repr()
        lines = extra.split("\n") if extra else []
        for name, module in self._modules.items():
            lines.append(f"({name}): " + repr(module).replace("\n", "\n  "))
        if not self._modules and len(lines) <= 1:
            return f"{type(self).__name__}({extra})"
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"


IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


def _is_dtype(value) -> bool:
    """True for a NumPy dtype or scalar type (np.float64, minigan.float64), not for a device spec."""
    return isinstance(value, np.dtype) or (isinstance(value, type) and issubclass(value, np.generic))


def _float_dtype(dtype) -> np.dtype:
    """``dtype`` as a floating-point np.dtype, or PyTorch's error."""
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"nn.Module.to: {dtype!r} is not a dtype") from None
    if dtype.kind != "f":
        raise TypeError(f"nn.Module.to only accepts floating point dtypes, but got desired dtype={dtype}")
    return dtype


def _convert(array, device, dtype):
    """``array`` on ``device`` (if given) and, when floating point, of ``dtype`` (if given)."""
    if device is not None:
        array = backend.to_device(array, device)
    if dtype is not None and array.dtype.kind == "f" and array.dtype != dtype:
        with backend.on_device_of(array):  # CuPy's astype allocates on the current GPU
            array = array.astype(dtype)
    return array


def _as_array(value, name: str):
    """A state_dict value as an array of real numbers: Tensors and device arrays as they are,
    anything else array-like (numbers, lists, objects with ``__array__``) through NumPy."""
    if isinstance(value, Tensor):
        array = value.array
    elif backend.is_array(value):
        array = value
    else:
        try:
            array = np.asarray(value)
        except Exception as err:
            raise TypeError(f"load_state_dict: value for {name!r} is a {type(value).__name__} that does not "
                            f"convert to an array ({err})") from err
    if array.dtype.kind not in "biuf":
        raise TypeError(f"load_state_dict: value for {name!r} is a {type(value).__name__}, not numbers "
                        f"(array dtype {array.dtype})")
    return array


def _fits_integers(array, dtype: np.dtype) -> bool:
    """True when every value of ``array`` is a whole number that ``dtype`` (integer or bool) holds
    (read on the host: loading is not in the hot path)."""
    if array.dtype.kind in "biu" and np.can_cast(array.dtype, dtype):
        return True
    host = backend.to_numpy(array)
    if dtype.kind == "b":
        return bool(np.isin(host, (0, 1)).all())
    info = np.iinfo(dtype)
    low, high = float(info.min), float(info.max) + 1  # exact powers of two, also for 64 bits
    with np.errstate(invalid="ignore"):
        return bool((np.isfinite(host) & (host == np.round(host)) & (host >= low) & (host < high)).all())


class Sequential(Module):
    """Modules called one after the other: ``Sequential(Linear(2, 8), ReLU(), Linear(8, 1))``.

    Children are named "0", "1", ... (or by the keys of an OrderedDict passed alone), which
    gives state_dict keys like ``"0.weight"``, as in PyTorch.
    """

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, module in modules[0].items():
                self.add_module(name, module)
        else:
            for index, module in enumerate(modules):
                self.add_module(str(index), module)

    def forward(self, x):
        for module in self:
            x = module(x)
        return x

    def append(self, module):
        """Add ``module`` at the end; returns self."""
        self.add_module(str(len(self)), module)
        return self

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, index):
        items = list(self._modules.items())
        if isinstance(index, slice):
            return Sequential(OrderedDict(items[index]))
        if not isinstance(index, numbers.Integral):
            raise TypeError(f"Sequential indices must be integers or slices, got {type(index).__name__}")
        if not -len(items) <= index < len(items):
            raise IndexError(f"Sequential index {index} is out of range for {len(items)} modules")
        return items[index][1]
