"""Batch and instance normalisation, and dropout.

Instance norm (Ulyanov et al. 2016, the normalisation of style transfer and CycleGAN's
generators) normalises each image's channel on its own: statistics over H and W only. That is
batch norm of the batch seen as one image with N x C channels, (N, C, H, W) -> (1, N C, H W, 1),
which is how :func:`instance_norm` computes it (PyTorch does the same).
"""
from __future__ import annotations

import numbers

from .. import autograd, backend, cuda_kernels
from ..autograd import Function
from ..tensor import Tensor
from .reduce import mean
from .shape import broadcast_to, reshape


def _channel_view(t: Tensor, ndim: int) -> Tensor:
    """A per-channel (C,) tensor shaped to broadcast against (N, C) or (N, C, H, W)."""
    return reshape(t, (1, -1) + (1,) * (ndim - 2))


def _check_batch_norm(x, running_mean, running_var, weight, bias):
    """Every check, before any state changes (a failed call leaves the running statistics alone)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"batch_norm: x must be a Tensor, got {type(x).__name__}")
    if x.ndim not in (2, 4):
        raise ValueError(f"batch_norm: expected x.ndim == 2 (N, C) or 4 (N, C, H, W), got {x.ndim} (shape {x.shape})")
    if x.dtype.kind != "f":
        raise TypeError(f"batch_norm: expected a floating-point x, got {x.dtype}")
    channels = x.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight), ("bias", bias)):
        if t is None:
            continue
        if not isinstance(t, Tensor):
            raise TypeError(f"batch_norm: {name} must be a Tensor or None, got {type(t).__name__}")
        if t.shape != (channels,):
            raise ValueError(f"batch_norm: {name} must have shape ({channels},), got {t.shape} (x shape {x.shape})")
        if t.dtype != x.dtype:  # a float32 weight would get a float64 gradient, its running mean float64 values
            raise TypeError(f"batch_norm: x is {x.dtype} but {name} is {t.dtype}")
        if t.device != x.device:
            raise RuntimeError(f"batch_norm: expected all tensors on one device, got x on {x.device} "
                               f"and {name} on {t.device}")


def _normalize(x: Tensor, axes, eps: float) -> Tensor:
    """The definition, in differentiable ops: (x - mean) / sqrt(var + eps) per channel."""
    centered = x - mean(x, axes, keepdims=True)
    return centered * (mean(centered * centered, axes, keepdims=True) + eps) ** -0.5


class BatchNorm(Function):
    """Training-mode batch norm y = xhat * w + b, xhat = (x - mean) / sqrt(var + eps), fused:
    forward and backward are a few array passes each instead of a dozen small ops."""

    save_inputs = (0, 1, 2)

    def __init__(self, axes, eps):
        self.axes, self.eps = axes, eps

    def forward(self, x, weight, bias):
        ### BEGIN SOLUTION batch_norm
        xp = backend.array_module(x)
        n = x.size // x.shape[1]
        self.mean = x.mean(axis=self.axes, keepdims=True)
        xhat = x - self.mean  # centred for now; normalised in place below
        if cuda_kernels.uses_kernels(x):  # on a GPU: the lines below as two kernels
            sum_sq = _per_channel(_channel_dot(xhat, xhat), x.ndim)
            self.var, self.inv_std = cuda_kernels.batch_norm_stats(sum_sq, n, self.eps)
            self.xhat, y = cuda_kernels.batch_norm_forward(xhat, self.inv_std, _per_channel(weight, x.ndim),
                                                           _per_channel(bias, x.ndim))
            return y
        self.var = _per_channel(_channel_dot(xhat, xhat), x.ndim) / n  # mean((x - mean)^2)
        self.inv_std = 1 / xp.sqrt(self.var + self.eps)
        xhat *= self.inv_std
        self.xhat = xhat  # kept for backward: it saves two passes there
        y = xhat * _per_channel(weight, x.ndim)
        y += _per_channel(bias, x.ndim)
        return y
        ### END SOLUTION

    def backward(self, gy):
        if autograd.is_grad_enabled():  # create_graph: differentiate the definition, so that
            return self._differentiable_backward(gy)  # second derivatives are exact too
        ### BEGIN SOLUTION batch_norm
        weight, xhat, gy = self.saved_input(1).array, self.xhat, gy.array
        n = xhat.size // xhat.shape[1]
        g_bias = gy.sum(axis=self.axes)
        g_weight = _channel_dot(gy, xhat)  # sum(dy * xhat) per channel
        # dx = w / sqrt(var + eps) * (dy - (sum(dy) + xhat * sum(dy * xhat)) / n), computed in
        # one buffer with in-place passes (each `a * b` would allocate a whole new array)
        if cuda_kernels.uses_kernels(gy):  # on a GPU: as one kernel
            gx = cuda_kernels.batch_norm_backward(gy, xhat, _per_channel(g_weight, xhat.ndim),
                                                  _per_channel(g_bias, xhat.ndim), _per_channel(weight, xhat.ndim),
                                                  self.inv_std)
            return Tensor(gx), Tensor(g_weight), Tensor(g_bias)
        gx = xhat * _per_channel(g_weight / n, xhat.ndim)
        gx += _per_channel(g_bias / n, xhat.ndim)
        backend.array_module(gx).subtract(gy, gx, out=gx)
        gx *= _per_channel(weight, xhat.ndim) * self.inv_std
        return Tensor(gx), Tensor(g_weight), Tensor(g_bias)
        ### END SOLUTION

    def _differentiable_backward(self, gy):
        x, weight, bias = (self.saved_input(i) for i in range(3))
        y = _normalize(x, self.axes, self.eps) * _channel_view(weight, x.ndim) + _channel_view(bias, x.ndim)
        wanted = [t for t, needed in zip((x, weight, bias), self.needs_input_grad) if needed]
        grads = iter(autograd.grad(y, wanted, gy, create_graph=True))
        return tuple(next(grads) if needed else None for needed in self.needs_input_grad)


def _channel_dot(a, b):
    """sum(a * b) over every axis but C (axis 1), per channel, without an a * b temporary."""
    return backend.array_module(a).einsum("nchw,nchw->c" if a.ndim == 4 else "nc,nc->c", a, b)


def _per_channel(array, ndim: int):
    """A (C,) array shaped (1, C) or (1, C, 1, 1) to broadcast against x."""
    return array.reshape((1, -1) + (1,) * (ndim - 2))


def batch_norm(x: Tensor, running_mean, running_var, weight=None, bias=None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalise each channel: y = (x - mean) / sqrt(var + eps) * weight + bias.

    x is (N, C) or (N, C, H, W); statistics are over every axis but C. In training the batch's
    own statistics are used and the running ones updated in place, as PyTorch does:
    running = (1 - momentum) running + momentum * batch, with the *unbiased* batch variance.
    In evaluation the running statistics are used. Either running tensor may be None.
    """
    _check_batch_norm(x, running_mean, running_var, weight, bias)
    axes = (0,) + tuple(range(2, x.ndim))
    if training:
        count = x.numel() // x.shape[1]
        if count < 2:
            raise ValueError(f"batch_norm: training needs more than one value per channel, got x of shape {x.shape}")
        xp, channels = x.device.xp, x.shape[1]
        weight = weight if weight is not None else Tensor(xp.ones(channels, dtype=x.dtype))
        bias = bias if bias is not None else Tensor(xp.zeros(channels, dtype=x.dtype))
        op = BatchNorm(axes, eps)
        y = op(x, weight, bias)
        _update_running(running_mean, running_var, op.mean, op.var, count, momentum)
        return y
    if running_mean is None or running_var is None:
        raise ValueError("batch_norm: evaluation mode needs running_mean and running_var")
    inv_std = (running_var.detach() + eps) ** -0.5
    normalized = (x - _channel_view(running_mean.detach(), x.ndim)) * _channel_view(inv_std, x.ndim)
    if weight is not None:
        normalized = normalized * _channel_view(weight, x.ndim)
    if bias is not None:
        normalized = normalized + _channel_view(bias, x.ndim)
    return normalized


def _update_running(running_mean, running_var, mu, var, count, momentum):
    """running <- (1 - momentum) running + momentum batch, in place, outside the graph."""
    if running_mean is not None and running_var is not None and cuda_kernels.uses_kernels(running_mean.array):
        cuda_kernels.running_stats(running_mean.array, running_var.array, mu.reshape(-1), var.reshape(-1),
                                   momentum, count)  # on a GPU: the lines below as one kernel
        running_mean._bump_version()
        running_var._bump_version()
        return
    if running_mean is not None:
        running_mean.array *= 1 - momentum
        running_mean.array += momentum * mu.reshape(-1)
        running_mean._bump_version()
    if running_var is not None:
        running_var.array *= 1 - momentum
        running_var.array += (momentum * count / (count - 1)) * var.reshape(-1)
        running_var._bump_version()


def _check_instance_norm(x, running_mean, running_var, weight, bias, use_input_stats):
    """Every check, before any state changes."""
    if not isinstance(x, Tensor):
        raise TypeError(f"instance_norm: input must be a Tensor, got {type(x).__name__}")
    if x.ndim < 3:
        raise ValueError(f"instance_norm: expected an input (N, C, ...) with spatial axes, got shape {x.shape}")
    if x.dtype.kind != "f":
        raise TypeError(f"instance_norm: expected a floating-point input, got {x.dtype}")
    channels = x.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight), ("bias", bias)):
        if t is None:
            continue
        if not isinstance(t, Tensor):
            raise TypeError(f"instance_norm: {name} must be a Tensor or None, got {type(t).__name__}")
        if t.shape != (channels,):
            raise ValueError(f"instance_norm: {name} must have shape ({channels},), got {t.shape} (input shape "
                             f"{x.shape})")
        if t.dtype != x.dtype:
            raise TypeError(f"instance_norm: input is {x.dtype} but {name} is {t.dtype}")
        if t.device != x.device:
            raise RuntimeError(f"instance_norm: expected all tensors on one device, got input on {x.device} "
                               f"and {name} on {t.device}")
    if not use_input_stats and (running_mean is None or running_var is None):
        raise ValueError("instance_norm: Expected running_mean and running_var to be defined when use_input_stats "
                         "is false")
    if use_input_stats and x.numel() // max(x.shape[0] * channels, 1) < 2:
        raise ValueError(f"instance_norm: Expected more than 1 spatial element when training, got input size "
                         f"{x.shape}")


def _repeat_per_image(t, n: int, channels: int, fill: float, like: Tensor) -> Tensor:
    """A (C,) tensor repeated for each of n images, (n C,); None gives ``fill`` everywhere."""
    if t is None:
        return Tensor(like.device.xp.full(n * channels, fill, dtype=like.dtype))
    return reshape(broadcast_to(reshape(t, (1, channels)), (n, channels)), (n * channels,))


def instance_norm(input: Tensor, running_mean=None, running_var=None, weight=None, bias=None,
                  use_input_stats: bool = True, momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalise each image's channels on their own: y = (x - mean) / sqrt(var + eps) * weight +
    bias, mean and var over the spatial axes of one (n, c), for inputs (N, C, ...).

    With ``use_input_stats`` (the default) the image's own statistics are used, and running
    statistics, when given, are updated in place with their mean over the batch (PyTorch's
    rule, the variance unbiased); without it the running statistics normalise, as in
    evaluation. Differentiable, twice.
    """
    _check_instance_norm(input, running_mean, running_var, weight, bias, use_input_stats)
    return _normalise_each_image(input, running_mean, running_var, weight, bias, use_input_stats, momentum, eps)


def _normalise_each_image(x, running_mean, running_var, weight, bias, use_input_stats, momentum, eps) -> Tensor:
    """instance_norm's work on checked arguments: batch norm, of the batch seen as one image."""
    ### BEGIN SOLUTION instance_norm
    n, channels = x.shape[:2]
    spatial = x.numel() // max(n * channels, 1)
    if not use_input_stats:  # every image by the same per-channel statistics: batch norm's evaluation
        as_4d = reshape(x, (n, channels, spatial, 1))
        y = batch_norm(as_4d, running_mean, running_var, weight, bias, training=False, eps=eps)
        return reshape(y, x.shape)
    as_one_image = reshape(x, (1, n * channels, spatial, 1))
    op = BatchNorm((0, 2, 3), eps)
    y = op(as_one_image, _repeat_per_image(weight, n, channels, 1.0, x),
           _repeat_per_image(bias, n, channels, 0.0, x))
    per_image = (op.mean.reshape(n, channels), op.var.reshape(n, channels))
    _update_running(running_mean, running_var, per_image[0].mean(axis=0), per_image[1].mean(axis=0), spatial,
                    momentum)
    return reshape(y, x.shape)
    ### END SOLUTION


def _check_dropout(op: str, x, p) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: x must be a Tensor, got {type(x).__name__}")
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating-point tensor, got {x.dtype}")
    if isinstance(p, bool) or not (isinstance(p, numbers.Real) and 0 <= p <= 1):
        raise ValueError(f"{op}: p must be in [0, 1], got {p!r}")


def _drop(x: Tensor, p: float, mask_shape) -> Tensor:
    """x times a mask of ``mask_shape`` (broadcast over x): 0 with probability p, else 1/(1-p)."""
    if p == 1:
        return x * 0.0
    keep = backend.uniform(mask_shape, x.dtype, x.device) >= p
    return x * Tensor(keep.astype(x.dtype) * (1.0 / (1 - p)))  # kept values scaled by 1/(1-p)


def dropout(x: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero each element with probability p and scale the rest by 1/(1-p) (identity when not
    training). ``inplace`` is accepted for PyTorch's signature; the result is always a new tensor."""
    _check_dropout("dropout", x, p)
    if not training or p == 0:
        return x
    return _drop(x, p, x.shape)


def dropout2d(x: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero whole channels of (N, C, H, W) (or (C, H, W)) inputs with probability p, and scale the
    rest by 1/(1-p): PyTorch's ``F.dropout2d`` (``nn.Dropout2d``). ``inplace`` as in :func:`dropout`."""
    _check_dropout("dropout2d", x, p)
    if x.ndim not in (3, 4):
        raise ValueError(f"dropout2d: expected a 4-D input (N, C, H, W) or a 3-D one (C, H, W), got shape {x.shape}")
    if not training or p == 0:
        return x
    return _drop(x, p, x.shape[:-2] + (1, 1))
