"""2-D convolution and its transpose (NCHW, PyTorch's weight layouts and size formulas).

conv2d is a matrix product after *im2col*: every k x k window of the input becomes a column,
so ``y[n] = W[O, C*k*k] @ cols[n][C*k*k, Ho*Wo]``. The windows are a strided *view* of the
padded input (no Python loop over pixels); reshaping the view makes the one copy.

Three Functions close the family under differentiation, each backward made of the others:

- ``Conv2d(x, W)``          backward: dx = ConvTranspose2d(dy, W),   dW = Conv2dGradW(x, dy)
- ``ConvTranspose2d(x, W)`` backward: dx = Conv2d(dy, W),            dW = Conv2dGradW(dy, x)
- ``Conv2dGradW(x, dy)``    backward: dx = ConvTranspose2d(dy, ddW), d(dy) = Conv2d(x, ddW)

(conv_transpose2d is the adjoint of conv2d: <conv2d(x, W), y> = <x, conv_transpose2d(y, W)>.)
"""
from __future__ import annotations

import numbers

from .. import backend
from ..autograd import Function
from ..tensor import Tensor
from .shape import reshape


def conv_output_size(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    """PyTorch's formula: floor((size + 2p - d(k-1) - 1) / s) + 1."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def conv_transpose_output_size(size, kernel, stride, padding, output_padding, dilation) -> int:
    """PyTorch's formula: (size-1)s - 2p + d(k-1) + output_padding + 1."""
    return (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1


def im2col(x, kernel, stride, padding, dilation):
    """(N, C, H, W) -> (N, C*kh*kw, Ho*Wo): each output pixel's receptive field as a column."""
    xp = backend.array_module(x)
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    if ph or pw:
        x = xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    n, c, h, w = x.shape
    ho, wo = conv_output_size(h, kh, sh, 0, dh), conv_output_size(w, kw, sw, 0, dw)
    s_n, s_c, s_h, s_w = x.strides
    # windows[n, c, i, j, y, x] = padded[n, c, y*sh + i*dh, x*sw + j*dw], a view: no copy yet
    windows = xp.lib.stride_tricks.as_strided(
        x, (n, c, kh, kw, ho, wo), (s_n, s_c, s_h * dh, s_w * dw, s_h * sh, s_w * sw))
    return windows.reshape(n, c * kh * kw, ho * wo)  # the one copy


def col2im(cols, size, stride, padding, dilation):
    """(N, C, kh, kw, Ho, Wo) -> (N, C, H, W): adds each column back where im2col took it.

    A loop over the k*k kernel offsets (not over pixels): each step adds one strided slab.
    """
    xp = backend.array_module(cols)
    n, c, kh, kw, ho, wo = cols.shape
    (h, w), (sh, sw), (ph, pw), (dh, dw) = size, stride, padding, dilation
    img = xp.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            img[:, :, i * dh:i * dh + sh * ho:sh, j * dw:j * dw + sw * wo:sw] += cols[:, :, i, j]
    return img[:, :, ph:ph + h, pw:pw + w]


def _missing_rows(size, out, kernel, stride, padding, dilation):
    """The output_padding that makes conv_transpose2d of an ``out``-sized map ``size`` big again."""
    return tuple(s - conv_transpose_output_size(o, k, st, p, 0, d)
                 for s, o, k, st, p, d in zip(size, out, kernel, stride, padding, dilation))


class _Conv(Function):
    """Shared parameters of the three conv Functions (all pairs of ints)."""
    save_inputs = (0, 1)

    def __init__(self, stride, padding, dilation, output_padding=(0, 0)):
        self.stride, self.padding, self.dilation = stride, padding, dilation
        self.output_padding = output_padding

    def _params(self):
        return self.stride, self.padding, self.dilation


class Conv2d(_Conv):
    def forward(self, x, weight):
        n, o = x.shape[0], weight.shape[0]
        ho, wo = (conv_output_size(x.shape[2 + i], weight.shape[2 + i], self.stride[i], self.padding[i],
                                   self.dilation[i]) for i in range(2))
        cols = im2col(x, weight.shape[2:], *self._params())
        y = backend.array_module(x).matmul(weight.reshape(o, -1), cols)  # (N, O, Ho*Wo)
        return y.reshape(n, o, ho, wo)

    def backward(self, gy):
        x, weight = self.saved_input(0), self.saved_input(1)
        gx = gw = None
        if self.needs_input_grad[0]:
            extra = _missing_rows(x.shape[2:], gy.shape[2:], weight.shape[2:], *self._params())
            gx = ConvTranspose2d(*self._params(), extra)(gy, weight)
        if self.needs_input_grad[1]:
            gw = Conv2dGradW(*self._params(), weight.shape[2:])(x, gy)
        return gx, gw


class ConvTranspose2d(_Conv):
    def forward(self, x, weight):
        n, cin, h, w = x.shape
        cout, kh, kw = weight.shape[1:]
        xp = backend.array_module(x)
        size = tuple(conv_transpose_output_size(x.shape[2 + i], weight.shape[2 + i], self.stride[i],
                                                self.padding[i], self.output_padding[i], self.dilation[i])
                     for i in range(2))
        # cols[n] = W[Cin, Cout*k*k]^T @ x[n][Cin, H*W]: every input pixel paints a k x k patch
        cols = xp.matmul(weight.reshape(cin, -1).T, x.reshape(n, cin, h * w))
        return col2im(cols.reshape(n, cout, kh, kw, h, w), size, *self._params())

    def backward(self, gy):
        x, weight = self.saved_input(0), self.saved_input(1)
        gx = Conv2d(*self._params())(gy, weight) if self.needs_input_grad[0] else None
        gw = Conv2dGradW(*self._params(), weight.shape[2:])(gy, x) if self.needs_input_grad[1] else None
        return gx, gw


class Conv2dGradW(_Conv):
    """dW of conv2d: dW[o, c, i, j] = sum over n, y, x of dy[n, o, y, x] * window(x)[n, c, i, j, y, x]."""

    def __init__(self, stride, padding, dilation, kernel):
        super().__init__(stride, padding, dilation)
        self.kernel = tuple(kernel)

    def forward(self, x, gy):
        n, c = x.shape[:2]
        o = gy.shape[1]
        cols = im2col(x, self.kernel, *self._params())  # (N, C*k*k, L)
        xp = backend.array_module(x)
        gw = xp.tensordot(gy.reshape(n, o, -1), cols, axes=((0, 2), (0, 2)))  # (O, C*k*k)
        return gw.reshape(o, c, *self.kernel)

    def backward(self, ggw):  # bilinear in (x, dy): each gradient is the other conv with ggw
        x, gy = self.saved_input(0), self.saved_input(1)
        gx = g_gy = None
        if self.needs_input_grad[0]:
            extra = _missing_rows(x.shape[2:], gy.shape[2:], self.kernel, *self._params())
            gx = ConvTranspose2d(*self._params(), extra)(gy, ggw)
        if self.needs_input_grad[1]:
            g_gy = Conv2d(*self._params())(x, ggw)
        return gx, g_gy


# -- the public functions: argument checks, then one Function call ---------------------------
def _pair(op: str, name: str, value, minimum: int) -> tuple:
    pair = (value, value) if isinstance(value, numbers.Integral) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, numbers.Integral) and v >= minimum for v in pair):
        raise ValueError(f"{op}: {name} must be an int or a pair of ints >= {minimum}, got {value!r}")
    return tuple(int(v) for v in pair)


def _check_operands(op: str, x, weight, bias, in_axis: int):
    for name, t in (("x", x), ("weight", weight)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: {name} must be a Tensor, got {type(t).__name__}")
        if t.ndim != 4:
            raise ValueError(f"{op}: expected {name}.ndim == 4, got {t.ndim} (shape {t.shape})")
    if x.shape[1] != weight.shape[in_axis]:
        raise ValueError(f"{op}: x has {x.shape[1]} channels but weight {weight.shape} expects "
                         f"{weight.shape[in_axis]} (x shape {x.shape})")
    if x.dtype != weight.dtype:
        raise TypeError(f"{op}: x is {x.dtype} but weight is {weight.dtype}")
    out_channels = weight.shape[1 - in_axis]
    if bias is not None and bias.shape != (out_channels,):
        raise ValueError(f"{op}: bias must have shape ({out_channels},), got {bias.shape}")


def _add_bias(y: Tensor, bias) -> Tensor:
    return y if bias is None else y + reshape(bias, (1, -1, 1, 1))


def conv2d(x: Tensor, weight: Tensor, bias: Tensor = None, stride=1, padding=0, dilation=1) -> Tensor:
    """2-D cross-correlation: x (N, C, H, W), weight (O, C, kh, kw), bias (O,) -> (N, O, Ho, Wo).

    Ho = floor((H + 2 padding - dilation (kh - 1) - 1) / stride) + 1, and likewise Wo.
    """
    _check_operands("conv2d", x, weight, bias, in_axis=1)
    stride, padding = _pair("conv2d", "stride", stride, 1), _pair("conv2d", "padding", padding, 0)
    dilation = _pair("conv2d", "dilation", dilation, 1)
    out = [conv_output_size(x.shape[2 + i], weight.shape[2 + i], stride[i], padding[i], dilation[i])
           for i in range(2)]
    if min(out) < 1:
        raise ValueError(f"conv2d: input {x.shape} padded by {padding} is smaller than the dilated "
                         f"kernel {weight.shape[2:]} (dilation {dilation})")
    return _add_bias(Conv2d(stride, padding, dilation)(x, weight), bias)


def conv_transpose2d(x: Tensor, weight: Tensor, bias: Tensor = None, stride=1, padding=0,
                     output_padding=0, dilation=1) -> Tensor:
    """Transposed convolution (the adjoint of conv2d): x (N, Cin, H, W), weight (Cin, Cout, kh, kw).

    Ho = (H - 1) stride - 2 padding + dilation (kh - 1) + output_padding + 1, and likewise Wo.
    """
    op = "conv_transpose2d"
    _check_operands(op, x, weight, bias, in_axis=0)
    stride, padding = _pair(op, "stride", stride, 1), _pair(op, "padding", padding, 0)
    dilation, output_padding = _pair(op, "dilation", dilation, 1), _pair(op, "output_padding", output_padding, 0)
    if any(p >= s for p, s in zip(output_padding, stride)):
        raise ValueError(f"{op}: output_padding {output_padding} must be smaller than stride {stride}")
    out = [conv_transpose_output_size(x.shape[2 + i], weight.shape[2 + i], stride[i], padding[i],
                                      output_padding[i], dilation[i]) for i in range(2)]
    if min(out) < 1:
        raise ValueError(f"{op}: padding {padding} leaves no output for input {x.shape} and kernel {weight.shape[2:]}")
    return _add_bias(ConvTranspose2d(stride, padding, dilation, output_padding)(x, weight), bias)
