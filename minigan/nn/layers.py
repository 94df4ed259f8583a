"""The layers: PyTorch's names, arguments, default initialisation and weight layouts.

Each forward is made of :mod:`minigan.functional` ops only, so every layer runs, and
backprops, on any device.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from .. import backend
from .. import functional as F
from ..tensor import Tensor, ones, zeros
from . import init
from .module import Module, Parameter


def _new_parameter(shape, device, dtype) -> Parameter:
    """An uninitialised (zero) Parameter, to be filled by an init function."""
    return Parameter(zeros(shape, dtype=dtype, device=device))


def _pair(name: str, value, minimum: int) -> tuple:
    """An int-or-pair argument as a pair of ints >= ``minimum`` (PyTorch checks these only when
    the layer first runs; a layer that cannot run is refused when it is built)."""
    pair = (value, value) if isinstance(value, numbers.Integral) else value
    pair = tuple(pair) if isinstance(pair, (tuple, list)) else ()
    if len(pair) != 2 or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= minimum
                                 for v in pair):
        raise ValueError(f"{name} must be an int or a pair of ints >= {minimum}, got {value!r}")
    return tuple(int(v) for v in pair)


def _check_positive(layer: str, **sizes) -> None:
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
            raise ValueError(f"{layer}: {name} must be a positive int, got {value!r}")


def _init_weight_and_bias(weight: Parameter, bias) -> None:
    """PyTorch's default for Linear and Conv: kaiming_uniform_(a=sqrt(5)), i.e.
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the weight, and the same bound for the bias."""
    init.kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = init._calculate_fan_in_and_fan_out(weight)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        init.uniform_(bias, -bound, bound)


class Linear(Module):
    """y = x W^T + b, with weight (out_features, in_features) and bias (out_features,)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None, dtype=None):
        super().__init__()
        _check_positive("Linear", in_features=in_features, out_features=out_features)
        self.in_features, self.out_features = in_features, out_features
        self.weight = _new_parameter((out_features, in_features), device, dtype)
        if bias:
            self.bias = _new_parameter((out_features,), device, dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _init_weight_and_bias(self.weight, self.bias)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class _ConvNd(Module):
    """What Conv2d and ConvTranspose2d share: arguments, parameters, initialisation, repr."""

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation,
                 output_padding, groups, bias, weight_shape, device, dtype):
        super().__init__()
        name = type(self).__name__
        _check_positive(name, in_channels=in_channels, out_channels=out_channels)
        if groups != 1:
            raise ValueError(f"{name}: only groups=1 is supported, got groups={groups}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = _pair(f"{name}: kernel_size", kernel_size, 1)
        self.stride = _pair(f"{name}: stride", stride, 1)
        self.padding = _pair(f"{name}: padding", padding, 0)
        self.dilation = _pair(f"{name}: dilation", dilation, 1)
        self.output_padding = _pair(f"{name}: output_padding", output_padding, 0)
        if any(p >= s for p, s in zip(self.output_padding, self.stride)):
            raise ValueError(f"{name}: output_padding {self.output_padding} must be smaller than stride "
                             f"{self.stride}")
        self.groups = groups
        self.weight = _new_parameter(weight_shape + self.kernel_size, device, dtype)
        if bias:
            self.bias = _new_parameter((out_channels,), device, dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _init_weight_and_bias(self.weight, self.bias)

    def extra_repr(self) -> str:
        parts = [f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"]
        if self.padding != (0, 0):
            parts.append(f"padding={self.padding}")
        if self.dilation != (1, 1):
            parts.append(f"dilation={self.dilation}")
        if self.output_padding != (0, 0):
            parts.append(f"output_padding={self.output_padding}")
        if self.bias is None:
            parts.append("bias=False")
        return ", ".join(parts)


class Conv2d(_ConvNd):
    """2-D convolution of (N, C_in, H, W) inputs; weight (out_channels, in_channels, kh, kw).

    Only ``groups=1`` is supported (the argument is there to keep PyTorch's argument order).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, 0, groups, bias,
                         (out_channels, in_channels), device, dtype)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation)


class ConvTranspose2d(_ConvNd):
    """Transposed 2-D convolution (the adjoint of Conv2d, for upsampling in generators);
    weight (in_channels, out_channels, kh, kw), as in PyTorch. Only ``groups=1`` is supported."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, output_padding=0,
                 groups: int = 1, bias: bool = True, dilation=1, device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, output_padding,
                         groups, bias, (in_channels, out_channels), device, dtype)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding,
                                  self.output_padding, self.dilation)


class _BatchNorm(Module):
    """Batch normalisation; running statistics are buffers (saved and moved, not trained)."""

    expected_ndim = None  # set by the subclasses

    def __init__(self, num_features: int, eps: float = 1e-5, momentum=0.1, affine: bool = True,
                 track_running_stats: bool = True, device=None, dtype=None):
        super().__init__()
        name = type(self).__name__
        _check_positive(name, num_features=num_features)
        if isinstance(eps, bool) or not (isinstance(eps, numbers.Real) and 0 <= eps < math.inf):
            raise ValueError(f"{name}: eps must be a finite number >= 0, got {eps!r}")
        if momentum is not None and (isinstance(momentum, bool) or not (isinstance(momentum, numbers.Real)
                                                                       and 0 <= momentum <= 1)):
            raise ValueError(f"{name}: momentum must be None or a number in [0, 1], got {momentum!r}")
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = Parameter(ones(num_features, dtype=dtype, device=device))
            self.bias = Parameter(zeros(num_features, dtype=dtype, device=device))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", zeros(num_features, dtype=dtype, device=device))
            self.register_buffer("running_var", ones(num_features, dtype=dtype, device=device))
            self.register_buffer("num_batches_tracked", zeros((), dtype=np.int64, device=device))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, no batches seen."""
        if self.track_running_stats:
            init.zeros_(self.running_mean)
            init.ones_(self.running_var)
            self.num_batches_tracked.array[...] = 0
            self.num_batches_tracked._bump_version()

    def _momentum(self) -> float:
        """The weight of this batch in the running averages, counting this batch.
        momentum=None means a plain average of all batches (1 / batches seen; reads the count
        from the device)."""
        if self.momentum is None:
            return 1.0 / (int(self.num_batches_tracked.item()) + 1)
        return self.momentum

    def _count_batch(self) -> None:
        """num_batches_tracked += 1, once the batch has gone through (a failed call counts none)."""
        self.num_batches_tracked.array += 1
        self.num_batches_tracked._bump_version()

    def forward(self, x: Tensor) -> Tensor:
        name = type(self).__name__
        if not isinstance(x, Tensor):
            raise TypeError(f"{name}: expected a Tensor, got {type(x).__name__}")
        if x.ndim != self.expected_ndim:
            raise ValueError(f"{name}: expected a {self.expected_ndim}-D input, got shape {x.shape}")
        if x.shape[1] != self.num_features:
            raise ValueError(f"{name}: expected {self.num_features} channels, got input of shape {x.shape}")
        counting = self.training and self.track_running_stats
        momentum = self._momentum() if counting else 0.0
        use_batch_stats = self.training or self.running_mean is None
        update_running = not self.training or self.track_running_stats
        y = F.batch_norm(x, self.running_mean if update_running else None,
                         self.running_var if update_running else None, self.weight, self.bias,
                         use_batch_stats, momentum, self.eps)
        if counting:
            self._count_batch()
        return y

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch norm over (N, C) inputs, per feature C."""
    expected_ndim = 2


class BatchNorm2d(_BatchNorm):
    """Batch norm over (N, C, H, W) inputs, per channel C."""
    expected_ndim = 4


class ReLU(Module):
    """max(x, 0). ``inplace`` is accepted for PyTorch compatibility; minigan never overwrites x."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class LeakyReLU(Module):
    """x for x > 0, negative_slope * x otherwise. ``inplace`` is accepted and ignored, as in ReLU."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        super().__init__()
        if isinstance(negative_slope, bool) or not isinstance(negative_slope, numbers.Real):
            raise TypeError(f"LeakyReLU: negative_slope must be a number, got {negative_slope!r}")
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, x: Tensor) -> Tensor:
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class Tanh(Module):
    """Hyperbolic tangent."""

    def forward(self, x: Tensor) -> Tensor:
        return F.tanh(x)


class Sigmoid(Module):
    """1 / (1 + e^-x)."""

    def forward(self, x: Tensor) -> Tensor:
        return F.sigmoid(x)


class Flatten(Module):
    """Merge axes start_dim..end_dim into one: (N, C, H, W) -> (N, C*H*W) by default."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x: Tensor) -> Tensor:
        return F.flatten(x, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split axis ``dim`` into ``unflattened_size``: Unflatten(1, (1, 28, 28)) takes (N, 784)
    to (N, 1, 28, 28). One entry may be -1."""

    def __init__(self, dim: int, unflattened_size):
        super().__init__()
        self.dim, self.unflattened_size = dim, tuple(int(s) for s in unflattened_size)

    def forward(self, x: Tensor) -> Tensor:
        if not -x.ndim <= self.dim < x.ndim:
            raise ValueError(f"Unflatten: dim {self.dim} is out of range for input of shape {x.shape}")
        dim = self.dim % x.ndim
        sizes = self.unflattened_size
        known = math.prod(s for s in sizes if s != -1)
        fits = x.shape[dim] % known == 0 if -1 in sizes else known == x.shape[dim]
        if sizes.count(-1) > 1 or not fits:
            raise ValueError(f"Unflatten: cannot split axis {dim} of size {x.shape[dim]} (input shape "
                             f"{x.shape}) into {sizes}")
        return F.reshape(x, x.shape[:dim] + sizes + x.shape[dim + 1:])

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


class Dropout(Module):
    """In training, zero each element with probability p and scale the rest by 1/(1-p);
    in evaluation, the identity."""

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if isinstance(p, bool) or not (isinstance(p, numbers.Real) and 0 <= p <= 1):
            raise ValueError(f"Dropout: p must be in [0, 1], got {p!r}")
        self.p, self.inplace = p, inplace

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Embedding(Module):
    """A lookup table: integer indices of any shape -> rows of weight (num_embeddings, embedding_dim).

    Indices are range-checked (negative ones too, as PyTorch does), which reads one bool from
    the device per call.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, device=None, dtype=None):
        super().__init__()
        _check_positive("Embedding", num_embeddings=num_embeddings, embedding_dim=embedding_dim)
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.weight = _new_parameter((num_embeddings, embedding_dim), device, dtype)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.normal_(self.weight)

    def forward(self, indices: Tensor) -> Tensor:
        if not isinstance(indices, Tensor) or indices.dtype.kind not in "iu":
            kind = indices.dtype if isinstance(indices, Tensor) else type(indices).__name__
            raise TypeError(f"Embedding: expected a Tensor of integer indices, got {kind}")
        if indices.numel() > 0:
            xp = backend.array_module(indices.array)
            outside = xp.logical_or(indices.array.min() < 0, indices.array.max() >= self.num_embeddings)
            if bool(outside):
                raise IndexError(f"Embedding: indices must be in [0, {self.num_embeddings}), got a value "
                                 "outside that range")
        return self.weight[indices]

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}"
