"""Padding, PyTorch's ``F.pad``: a border around the last axes, filled with a constant or with
the image's own pixels (``reflect``, ``replicate``, ``circular``).

Every mode is linear in the input, and along one axis each output pixel is a copy of one input
pixel (or the constant): output o = x[source(o)]. For an axis of 4 pixels padded by 3 and 2,

    reflect    3 2 1 | 0 1 2 3 | 2 1       (mirrored about the edge pixel, which is not repeated)
    replicate  0 0 0 | 0 1 2 3 | 3 3       (the edge pixel repeated)
    circular   1 2 3 | 0 1 2 3 | 0 1       (the image tiled)

So the gradient of a pad is its adjoint, a *fold*: crop the middle of the gradient and add each
border pixel's gradient back onto the pixel it was copied from (for the constant mode, the
border's gradient is dropped). The fold's own adjoint is the pad again (with a zero constant),
so :class:`Pad` and :class:`Fold` are each other's backward, and second derivatives come free.
The borders fold back as slices: a reflected or tiled border is a run of consecutive source
pixels (forwards or backwards), a replicated one a single edge pixel that receives the border's
sum.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import backend
from ..autograd import Function
from ..tensor import Tensor

MODES = ("constant", "reflect", "replicate", "circular")
_NUMPY_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def _sources(size: int, before: int, after: int, mode: str) -> np.ndarray:
    """The input index each output index copies along one axis (a non-constant mode)."""
    return np.pad(np.arange(size), (before, after), mode=_NUMPY_MODES[mode])


class Pad(Function):
    """Pad by ``widths`` ((before, after) per axis, NumPy's order) in ``mode``."""

    def __init__(self, widths, mode, value=0.0):
        self.widths, self.mode, self.value = widths, mode, value

    def forward(self, x):
        ### BEGIN SOLUTION pad
        xp = backend.array_module(x)
        if self.mode == "constant":
            return xp.pad(x, self.widths, constant_values=self.value)
        return xp.pad(x, self.widths, mode=_NUMPY_MODES[self.mode])
        ### END SOLUTION

    def backward(self, gy):  # the adjoint: crop, and add each border back where it was copied from
        ### BEGIN SOLUTION pad
        return Fold(self.widths, self.mode)(gy)
        ### END SOLUTION


class Fold(Function):
    """The adjoint of :class:`Pad`: the middle of its input, plus each border added onto the
    pixels it was copied from (dropped in the constant mode)."""

    def __init__(self, widths, mode):
        self.widths, self.mode = widths, mode

    def forward(self, g):
        ### BEGIN SOLUTION pad
        for axis, (before, after) in enumerate(self.widths):
            if before or after:
                g = self._fold_axis(g, axis, before, after)
        return g
        ### END SOLUTION

    def _fold_axis(self, g, axis: int, before: int, after: int):
        """Fold one axis of g (padded by ``before`` and ``after``) back to its input size."""
        ### BEGIN SOLUTION pad
        def along(start, stop):
            return (slice(None),) * axis + (slice(start, stop),)

        size = g.shape[axis] - before - after
        out = g[along(before, before + size)].copy()
        if self.mode == "constant":
            return out
        sources = _sources(size, before, after, self.mode)
        xp = backend.array_module(g)
        for start, stop in ((0, before), (before + size, before + size + after)):
            if start == stop:
                continue
            border, source = g[along(start, stop)], sources[start:stop]
            low, high = int(source.min()), int(source.max())
            if low == high:  # replicate: every border pixel copied the edge pixel
                out[along(low, low + 1)] += border.sum(axis=axis, keepdims=True)
            else:  # reflect, circular: consecutive source pixels, forwards or backwards
                out[along(low, high + 1)] += border if source[0] < source[-1] else xp.flip(border, axis)
        return out
        ### END SOLUTION

    def backward(self, gy):
        ### BEGIN SOLUTION pad
        return Pad(self.widths, self.mode)(gy)
        ### END SOLUTION


def _check_mode(x: Tensor, pad: tuple, mode: str, value) -> None:
    """PyTorch's rules for the non-constant modes: they pad the last 1, 2 or 3 axes of a tensor
    with one or two more axes ((C, ...) or (N, C, ...)), each padded axis wide enough."""
    axes = len(pad) // 2
    if value is not None and value != 0:
        raise RuntimeError(f'pad: Padding mode "{mode}" doesn\'t take in value argument (got value={value!r})')
    if not 1 <= axes <= 3 or x.ndim not in (axes + 1, axes + 2):
        raise NotImplementedError(f"pad: Padding size {len(pad)} is not supported for {x.ndim}D input tensor: mode "
                                  f"{mode!r} pads the last 1, 2 or 3 axes of a tensor with one or two more "
                                  f"(input shape {x.shape}, pad {pad})")
    for k in range(axes):
        axis, before, after = x.ndim - 1 - k, pad[2 * k], pad[2 * k + 1]
        size = x.shape[axis]
        if size == 0 and (before or after):
            raise RuntimeError(f"pad: mode {mode!r} cannot pad axis {axis} of size 0 (input shape {x.shape})")
        if mode == "reflect" and max(before, after) >= size:
            raise RuntimeError(f"pad: Padding size should be less than the corresponding input dimension, but got: "
                               f"padding ({before}, {after}) at dimension {axis} of input {list(x.shape)}")
        if mode == "circular" and max(before, after) > size:
            raise RuntimeError(f"pad: Padding value causes wrapping around more than once: padding ({before}, "
                               f"{after}) at dimension {axis} of input {list(x.shape)}")


def pad(input: Tensor, pad, mode: str = "constant", value=None) -> Tensor:
    """Pad the last axes, PyTorch's way: ``pad=(left, right, top, bottom, ...)`` starts at the
    last axis. ``mode``: "constant" (``value``, default 0), "reflect" (mirrored about the edge
    pixel), "replicate" (the edge pixel repeated) or "circular" (the image tiled); the last three
    pad the last 1-3 axes of a (C, ...) or (N, C, ...) tensor, as in PyTorch. Differentiable,
    twice; widths must be non-negative (PyTorch's negative widths, which crop, are refused)."""
    x = input
    if not isinstance(x, Tensor):
        raise TypeError(f"pad: expected a Tensor, got {type(x).__name__}")
    widths_given = (pad,) if isinstance(pad, numbers.Integral) else pad
    if not isinstance(widths_given, (tuple, list)) or not all(isinstance(w, numbers.Integral) for w in widths_given):
        raise TypeError(f"pad: widths must be ints, got {pad!r}")
    pad = tuple(int(w) for w in widths_given)
    if not isinstance(mode, str):
        raise TypeError(f"pad: mode must be a string ({', '.join(MODES)}), got {mode!r}; the fill of the constant "
                        "mode is value=")
    if mode not in MODES:
        raise NotImplementedError(f"pad: Unrecognised padding mode {mode!r}: choose {', '.join(MODES)}")
    if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Real)):
        raise TypeError(f"pad: value must be a real number, got {value!r}")
    if len(pad) % 2 or len(pad) // 2 > x.ndim or any(p < 0 for p in pad):
        raise ValueError(f"pad: expected an even number of non-negative widths for at most {x.ndim} "
                         f"axes, got {pad}")
    if mode != "constant":
        _check_mode(x, pad, mode, value)
    widths = [(0, 0)] * x.ndim
    for k in range(len(pad) // 2):
        widths[x.ndim - 1 - k] = (pad[2 * k], pad[2 * k + 1])
    return Pad(tuple(widths), mode, 0.0 if value is None else value)(x)
