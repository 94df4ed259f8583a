"""DLPack: tensors pass to and from PyTorch, CuPy, NumPy and JAX without a copy.

DLPack is the common protocol for "here is my memory": an object with ``__dlpack__()`` (a
capsule describing the pointer, shape, strides and dtype) and ``__dlpack_device__()``
(where the memory lives). ``torch.from_dlpack(t)`` reads a minigan tensor's memory this way,
and :func:`from_dlpack` reads theirs. The two tensors then share memory: a write through
either is seen by both, but each side keeps its own version counter (as with ``.data``).
"""
from __future__ import annotations

from . import backend
from .tensor import Tensor

_CPU, _CUDA = 1, 2  # DLPack's device types (kDLCPU, kDLCUDA)


def _exportable(t: Tensor):
    if t.device.type == "sim":
        raise TypeError("__dlpack__: the 'sim' device only pretends to be a GPU; its memory cannot be shared")
    return t.array


def export(t: Tensor, *args, **kwargs):
    """``t.__dlpack__()``: the DLPack capsule of ``t``'s memory."""
    return _exportable(t).__dlpack__(*args, **kwargs)


def export_device(t: Tensor):
    """``t.__dlpack_device__()``: (device type, device index) of ``t``'s memory."""
    return _exportable(t).__dlpack_device__()


def from_dlpack(ext) -> Tensor:
    """A minigan tensor sharing the memory of ``ext``, any object with ``__dlpack__`` (a PyTorch,
    CuPy, NumPy or JAX array), on the CPU or a CUDA GPU, without a copy (PyTorch's
    ``torch.from_dlpack``). A PyTorch tensor that requires grad must be ``.detach()``-ed first."""
    if not hasattr(ext, "__dlpack__") or not hasattr(ext, "__dlpack_device__"):
        raise TypeError(f"from_dlpack: expected an object with __dlpack__ and __dlpack_device__, got "
                        f"{type(ext).__name__}")
    device_type, _ = ext.__dlpack_device__()
    if device_type == _CPU:
        xp = backend.CPU.xp
    elif device_type == _CUDA:
        xp = backend.Device("cuda").xp  # (CuPy, or the error that says how to install it)
    else:
        raise TypeError(f"from_dlpack: memory on DLPack device type {device_type} is not supported "
                        "(minigan reads CPU and CUDA memory)")
    return Tensor(xp.from_dlpack(ext))
