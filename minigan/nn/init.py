"""Weight initialisation, in place, with PyTorch's names and formulas.

Each function fills a Tensor (or a raw array, such as ``layer.weight.array``) in place with
minigan's random generators on the tensor's own device, and returns it. Seed them with
``minigan.manual_seed``.
"""
from __future__ import annotations

import math
import numbers

from .. import backend
from ..tensor import Tensor, rand, randn


def _array(t):
    """The array to fill: a Tensor's ``.array``, or the array itself."""
    if isinstance(t, Tensor):
        return t.array
    try:
        backend.device_of(t)
    except TypeError:
        raise TypeError(f"init: expected a Tensor or an array, got {type(t).__name__}") from None
    return t


def _wrote(t) -> None:
    """Record an in-place write into a Tensor (a raw array has no version to bump)."""
    if isinstance(t, Tensor):
        t._bump_version()


def _fill_random(t, sample, scale: float, shift: float):
    """t[...] = shift + scale * sample(shape), drawn on t's device in t's dtype."""
    array = _array(t)
    if array.dtype.kind != "f":
        raise TypeError(f"init: expected a floating-point tensor, got {array.dtype}")
    draws = sample(array.shape, dtype=array.dtype, device=backend.device_of(array)).array
    array[...] = draws * scale + shift
    _wrote(t)
    return t


def uniform_(t, a: float = 0.0, b: float = 1.0):
    """Fill with samples of U(a, b)."""
    if not a <= b:
        raise ValueError(f"uniform_: expected a <= b, got a={a}, b={b}")
    return _fill_random(t, rand, b - a, a)


def normal_(t, mean: float = 0.0, std: float = 1.0):
    """Fill with samples of N(mean, std^2)."""
    if std < 0:
        raise ValueError(f"normal_: std must be >= 0, got {std}")
    return _fill_random(t, randn, std, mean)


def constant_(t, val: float):
    """Fill with ``val``."""
    _array(t)[...] = val
    _wrote(t)
    return t


def zeros_(t):
    """Fill with 0."""
    return constant_(t, 0)


def ones_(t):
    """Fill with 1."""
    return constant_(t, 1)


def calculate_gain(nonlinearity: str, param=None) -> float:
    """The gain that keeps activations' variance steady through ``nonlinearity`` (PyTorch's table):
    1 for linear/conv/sigmoid, 5/3 for tanh, sqrt(2) for relu, sqrt(2 / (1 + slope^2)) for leaky_relu."""
    linear_like = ("linear", "identity", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
                   "conv_transpose2d", "conv_transpose3d", "sigmoid")
    if nonlinearity in linear_like:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        if isinstance(slope, bool) or not isinstance(slope, numbers.Real):
            raise ValueError(f"calculate_gain: negative slope {param!r} is not a number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def _calculate_fan_in_and_fan_out(t):
    """fan_in = shape[1] * receptive field, fan_out = shape[0] * receptive field (PyTorch's rule,
    which for ConvTranspose2d's (in, out, kh, kw) weight makes fan_in = out * kh * kw)."""
    shape = _array(t).shape
    if len(shape) < 2:
        raise ValueError(f"fan in and fan out need a tensor with at least 2 dimensions, got shape {shape}")
    receptive_field = math.prod(shape[2:])
    return shape[1] * receptive_field, shape[0] * receptive_field


def _fan(t, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"init: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(t)
    return fan_in if mode == "fan_in" else fan_out


def xavier_uniform_(t, gain: float = 1.0):
    """Glorot: U(-b, b) with b = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(t)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(t, -bound, bound)


def xavier_normal_(t, gain: float = 1.0):
    """Glorot: N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(t)
    return normal_(t, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def kaiming_uniform_(t, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu"):
    """He: U(-b, b) with b = gain * sqrt(3 / fan), gain = calculate_gain(nonlinearity, a).

    PyTorch's default for Linear and Conv weights is ``a=sqrt(5)``, which gives b = 1/sqrt(fan_in).
    """
    fan = _fan(t, mode)
    if fan == 0:
        return t  # an empty tensor: nothing to fill
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / fan)
    return uniform_(t, -bound, bound)


def kaiming_normal_(t, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu"):
    """He: N(0, std^2) with std = gain / sqrt(fan)."""
    fan = _fan(t, mode)
    if fan == 0:
        return t
    return normal_(t, 0.0, calculate_gain(nonlinearity, a) / math.sqrt(fan))
