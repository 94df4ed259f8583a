"""PyTorch's argument names beside NumPy's: ``dim``/``keepdim`` and ``axis``/``keepdims``.

The ops take either spelling (``F.sum(x, dim=1, keepdim=True)`` is ``F.sum(x, axis=1,
keepdims=True)``); giving both at once is an error, so that a call never silently means one of
them.
"""
from __future__ import annotations

import numpy as np


def axis_from(op: str, axis, dim, name: str = "dim"):
    """The axis an op was asked for, as ``axis=`` (NumPy) or ``dim=`` (PyTorch)."""
    if dim is not None and axis is not None:
        raise TypeError(f"{op}: got both {name}={dim!r} (PyTorch's name) and axis={axis!r} (NumPy's); pass one")
    return axis if dim is None else dim


def keep_from(op: str, keepdims, keepdim) -> bool:
    """Whether reduced axes are kept, as ``keepdims=`` (NumPy) or ``keepdim=`` (PyTorch)."""
    if keepdim is not None and keepdims is not None:
        raise TypeError(f"{op}: got both keepdim={keepdim!r} (PyTorch's name) and keepdims={keepdims!r} "
                        "(NumPy's); pass one")
    value = keepdims if keepdim is None else keepdim
    if value is not None and not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{op}: keepdim must be a bool, got {value!r}")
    return bool(value)
