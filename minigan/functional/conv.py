"""2-D convolution and its transpose (NCHW, PyTorch's weight layouts and size formulas).

conv2d is one matrix product after *im2col*: every k x k window of the input becomes a
column, so ``y[O, Ho*Wo*N] = W[O, C*k*k] @ cols[C*k*k, Ho*Wo*N]``. The windows are a strided
*view* of the padded input (no Python loop over pixels); reshaping the view makes the one copy.

Three Functions close the family under differentiation, each backward made of the others:

- ``Conv2d(x, W)``          backward: dx = ConvTranspose2d(dy, W),   dW = Conv2dGradW(x, dy)
- ``ConvTranspose2d(x, W)`` backward: dx = Conv2d(dy, W),            dW = Conv2dGradW(dy, x)
- ``Conv2dGradW(x, dy)``    backward: dx = ConvTranspose2d(dy, ddW), d(dy) = Conv2d(x, ddW)

(conv_transpose2d is the adjoint of conv2d: <conv2d(x, W), y> = <x, conv_transpose2d(y, W)>.)
"""
from __future__ import annotations

import numbers
import threading

import numpy as np

from .. import backend, cpu, cuda_kernels
from ..autograd import Function, is_grad_enabled
from ..tensor import Tensor
from .shape import reshape


def conv_output_size(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    """PyTorch's formula: floor((size + 2p - d(k-1) - 1) / s) + 1."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def conv_transpose_output_size(size, kernel, stride, padding, output_padding, dilation) -> int:
    """PyTorch's formula: (size-1)s - 2p + d(k-1) + output_padding + 1."""
    return (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1


_scratch = threading.local()  # per thread: {name: the largest buffer yet asked for}
# Columns kept past the call that made them (for dW in backward, or shared by two products) are
# at most this big; bigger ones are made again in the scratch buffer: at batch 1024 the kept
# 205 MB matrices would lift a DCGAN step's peak memory above PyTorch's.
KEEP_COLUMNS_MAX_BYTES = 64 << 20


def _columns_bytes(x, kernel, stride, padding, dilation) -> int:
    """The size of im2col(x)'s matrix: C kh kw rows, Ho Wo N columns."""
    n, c = x.shape[:2]
    out = [conv_output_size(s, k, st, p, d) for s, k, st, p, d in zip(x.shape[2:], kernel, stride, padding, dilation)]
    return c * kernel[0] * kernel[1] * out[0] * out[1] * n * x.dtype.itemsize


def _empty(like, shape, scratch: str = None):
    """An uninitialised array of like's dtype and device. With ``scratch="name"``, one buffer
    is reused call after call under that name (per thread), for a temporary that dies within
    the call (im2col's columns and padded image): a fresh 50 MB NumPy array costs ~25 page
    faults that each make the kernel zero 2 MB, a tenth of a batch-256 DCGAN step in all.
    Without, a NumPy array of 32 MiB or more (columns kept for backward) reuses the buffer of
    one that died (minigan.cpu.recycled_empty), for the same reason."""
    xp, size = backend.array_module(like), int(np.prod(shape))
    if scratch is None and xp is np and size * like.dtype.itemsize >= cpu.MMAP_THRESHOLD:
        return cpu.recycled_empty(shape, like.dtype)  # (big kept columns: reused pages, see minigan/cpu.py)
    if scratch is None or xp is not np or size < 1 << 18:  # (CuPy pools memory itself)
        return xp.empty(shape, dtype=like.dtype)
    nbytes, buffer = size * like.dtype.itemsize, getattr(_scratch, scratch, None)
    if buffer is None or buffer.size < nbytes:
        buffer = np.empty(nbytes, dtype=np.uint8)
        setattr(_scratch, scratch, buffer)
    return buffer[:nbytes].view(like.dtype).reshape(shape)


def im2col(x, kernel, stride, padding, dilation, reuse=False):
    """(N, C, H, W) -> cols (C*kh*kw, Ho*Wo*N): column (y, x, n) is output pixel (y, x)'s
    receptive field in image n, so a convolution is one matrix product W[O, C*kh*kw] @ cols.
    With ``reuse``, cols is a scratch buffer that the next call overwrites: use it at once."""
    if cuda_kernels.uses_kernels(x):  # on a GPU, one kernel does all of this
        size = [conv_output_size(s, k, st, p, d) for s, k, st, p, d in zip(x.shape[2:], kernel, stride, padding, dilation)]
        return cuda_kernels.im2col(x, kernel, stride, padding, dilation, size)
    ### BEGIN SOLUTION im2col
    xp = backend.array_module(x)
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    n, c, h, w = x.shape
    ho, wo = conv_output_size(h, kh, sh, ph, dh), conv_output_size(w, kw, sw, pw, dw)
    image = x.transpose(1, 2, 3, 0)  # (C, H, W, N) view: batch last (see _as_rows for why)
    padded = image
    if ph or pw:  # the image inside a zero border
        padded = _empty(x, (c, h + 2 * ph, w + 2 * pw, n), "padded" if reuse else None)
        _zero_border(padded, ph, pw)
        padded[:, ph:ph + h, pw:pw + w, :] = image
    s_c, s_h, s_w, s_n = padded.strides
    # windows[c, i, j, y, x, n] = padded[c, y*sh + i*dh, x*sw + j*dw, n]: a strided view, no copy
    windows = xp.lib.stride_tricks.as_strided(
        padded, (c, kh, kw, ho, wo, n), (s_c, s_h * dh, s_w * dw, s_h * sh, s_w * sw, s_n))
    cols = _empty(x, windows.shape, "columns" if reuse else None)
    cols[...] = windows  # the one big copy
    return cols.reshape(c * kh * kw, ho * wo * n)
    ### END SOLUTION


def _zero_border(padded, ph: int, pw: int) -> None:
    """Zero the ph rows and pw columns around padded[:, ph:-ph, pw:-pw, :] (C, H, W, N)."""
    padded[:, :ph] = 0
    padded[:, padded.shape[1] - ph:] = 0
    padded[:, :, :pw] = 0
    padded[:, :, padded.shape[2] - pw:] = 0


def col2im(cols, batch, size, kernel, stride, padding, dilation, by_phases=False):
    """cols (C*kh*kw, Hi*Wi*N) -> (N, C, H, W), adding each column back where im2col took it
    (the adjoint of im2col). Loops over the kh*kw kernel offsets, each adding one strided slab.
    ``by_phases``: the same result by :func:`col2im_by_phases`, faster for strided kernels; cols is
    then scratch that it may overwrite (its entries that fall in the padding become zeros)."""
    if cuda_kernels.uses_kernels(cols):  # on a GPU, one kernel that gathers instead of adding
        inner = [conv_output_size(s, k, st, p, d) for s, k, st, p, d in zip(size, kernel, stride, padding, dilation)]
        return cuda_kernels.col2im(cols, batch, size, kernel, stride, padding, dilation, inner)
    if by_phases:
        return col2im_by_phases(cols, batch, size, kernel, stride, padding, dilation, overwrite=True)
    ### BEGIN SOLUTION col2im
    xp = backend.array_module(cols)
    (h, w), (kh, kw), (sh, sw), (ph, pw), (dh, dw) = size, kernel, stride, padding, dilation
    c = cols.shape[0] // (kh * kw)
    hi, wi = conv_output_size(h, kh, sh, ph, dh), conv_output_size(w, kw, sw, pw, dw)
    cols = cols.reshape(c, kh, kw, hi, wi, batch)
    img = xp.zeros((c, h + 2 * ph, w + 2 * pw, batch), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):  # kernel offset (i, j) adds to every sh-th row, sw-th column from (i*dh, j*dw)
            img[:, i * dh:i * dh + sh * hi:sh, j * dw:j * dw + sw * wi:sw, :] += cols[:, i, j]
    return img[:, ph:ph + h, pw:pw + w, :].transpose(3, 0, 1, 2)  # (N, C, H, W) view
    ### END SOLUTION


def col2im_by_phases(cols, batch, size, kernel, stride, padding, dilation, overwrite=False):
    """col2im's result by a faster route (the one the conv Functions use). Output rows r, r + s,
    r + 2s, ... (one stride *phase*) each receive the same few kernel taps, shifted: so each phase
    is summed in a small contiguous buffer and written into the image once, instead of kh*kw
    strided read-modify-writes of the whole image (half the time at batch 256).

    ``overwrite``: cols is scratch that may be changed. Then, where a phase is as wide as the
    columns' grid (kernel 4, stride 2, padding 1 on even sizes: the DCGAN's case), each tap is
    added as one flat slab shifted along the buffer (see :func:`_add_tap_flat`), 2-3x faster than
    NumPy adds rows whose starts are offset by a column."""
    xp = backend.array_module(cols)
    c = cols.shape[0] // (kernel[0] * kernel[1])
    inner = [conv_output_size(*args) for args in zip(size, kernel, stride, padding, dilation)]
    cols = cols.reshape(c, *kernel, *inner, batch)
    image = xp.empty((c, *size, batch), dtype=cols.dtype)
    for r in range(stride[0]):
        rows = _phase_taps(r, 0, size, kernel, stride, padding, dilation, inner)
        for q in range(stride[1]):
            columns = _phase_taps(q, 1, size, kernel, stride, padding, dilation, inner)
            phase = image[:, r::stride[0], q::stride[1], :]  # this phase's pixels, a strided view
            total = xp.zeros(phase.shape, dtype=cols.dtype)
            flat = overwrite and phase.shape[2] == inner[1]
            for i, a0, a1, shift_i in rows:
                for j, b0, b1, shift_j in columns:  # tap (i, j) lands shifted by (shift_i, shift_j)
                    if flat:
                        _add_tap_flat(total, cols[:, i, j], (a0, a1, shift_i), (b0, b1, shift_j))
                    else:
                        total[:, a0 + shift_i:a1 + shift_i, b0 + shift_j:b1 + shift_j, :] += cols[:, i, j, a0:a1, b0:b1, :]
            phase[...] = total
    return image.transpose(3, 0, 1, 2)  # (N, C, H, W) view


def _add_tap_flat(total, tap, row_range, column_range):
    """total[:, a + si, b + sj] += tap[:, a, b] for rows a0 <= a < a1 and columns b0 <= b < b1, as
    one add of flat slabs: seen flat, (a, b) -> (a + si, b + sj) is a shift by (si W + sj) N. The
    columns outside [b0, b1) land in the padding; zeroed first, they are what a row's shifted
    end adds to the next row's start. (total: (C, Ho, W, N); tap: (C, Hi, W, N), a view of cols.)"""
    (a0, a1, si), (b0, b1, sj) = row_range, column_range
    c, width, n = tap.shape[0], tap.shape[2], tap.shape[3]
    tap[:, a0:a1, :b0] = 0
    tap[:, a0:a1, b1:] = 0
    shift, row = (si * width + sj) * n, width * n
    src, dst = tap.reshape(c, -1), total.reshape(c, -1)
    lo, hi = max(a0 * row, -shift), min(a1 * row, dst.shape[1] - shift)  # (what is cut is zeros)
    dst[:, lo + shift:hi + shift] += src[:, lo:hi]


def _phase_taps(r, axis, size, kernel, stride, padding, dilation, inner):
    """The kernel taps that reach output phase r along ``axis``: (tap, first, last, shift), where
    columns first..last-1 of the tap land at phase positions first+shift..last+shift-1.
    (Input position a, tap i hit output y = a*s + i*d - p; it is in phase r when y = r + s*k.)"""
    s, p, d, n = stride[axis], padding[axis], dilation[axis], len(range(r, size[axis], stride[axis]))
    taps = []
    for i in range(kernel[axis]):
        if (i * d - p - r) % s:
            continue
        shift = (i * d - p - r) // s  # k = a + shift
        first, last = max(0, -shift), min(inner[axis], n - shift)
        if first < last:
            taps.append((i, first, last, shift))
    return taps


def _as_rows(y):
    """(N, C, H, W) -> (C, H*W*N): free when y is laid out batch last, as conv outputs are.

    Why batch last: every strided copy in im2col and col2im then moves runs of N contiguous
    numbers, not rows of 7 or 14 pixels, which is what makes them fast; and the GEMMs' results
    come out as (C, H, W, N), whose (N, C, H, W) *view* (a transpose, no copy) is what the
    next layer receives and reads again without a copy.
    """
    return y.transpose(1, 2, 3, 0).reshape(y.shape[1], -1)


def _missing_rows(size, out, kernel, stride, padding, dilation):
    """The output_padding that makes conv_transpose2d of an ``out``-sized map ``size`` big again."""
    return tuple(s - conv_transpose_output_size(o, k, st, p, 0, d)
                 for s, o, k, st, p, d in zip(size, out, kernel, stride, padding, dilation))


class _Conv(Function):
    """Shared parameters of the three conv Functions (all pairs of ints)."""
    save_inputs = (0, 1)
    columns, keep_columns = None, False  # (see Conv2d)

    def __init__(self, stride, padding, dilation, output_padding=(0, 0)):
        self.stride, self.padding, self.dilation = stride, padding, dilation
        self.output_padding = output_padding

    def _columns(self, x, kernel):
        """im2col of input 0: the ``columns`` given to the constructor if any (made once and shared
        by two convolutions of the same input), else made now in the scratch buffer."""
        if self.columns is not None:
            return self.columns
        return im2col(x, kernel, *self._params(), reuse=not self.keep_columns)

    def _params(self):
        return self.stride, self.padding, self.dilation


class Conv2d(_Conv):
    """``keep_columns``: keep forward's im2col(x) for the weight gradient (backward then makes no
    second copy); ``columns``: im2col(x) made already (see ConvTranspose2d.backward)."""

    def __init__(self, stride, padding, dilation, keep_columns=False, columns=None):
        super().__init__(stride, padding, dilation)
        self.keep_columns, self.columns = keep_columns, columns

    def forward(self, x, weight):
        ### BEGIN SOLUTION conv2d
        n, o, kernel = x.shape[0], weight.shape[0], weight.shape[2:]
        ho, wo = (conv_output_size(x.shape[2 + i], kernel[i], self.stride[i], self.padding[i],
                                   self.dilation[i]) for i in range(2))
        cols = self._columns(x, kernel)
        if self.keep_columns:
            self.columns = cols  # the weight gradient's operand too (freed with the graph)
        y = weight.reshape(o, -1) @ cols  # (O, Ho*Wo*N), one GEMM
        return y.reshape(o, ho, wo, n).transpose(3, 0, 1, 2)
        ### END SOLUTION

    def backward(self, gy):
        ### BEGIN SOLUTION conv2d
        x, weight = self.saved_input(0), self.saved_input(1)  # (checks x was not written since)
        gx = gw = None
        if self.needs_input_grad[0]:
            extra = _missing_rows(x.shape[2:], gy.shape[2:], weight.shape[2:], *self._params())
            gx = ConvTranspose2d(*self._params(), extra)(gy, weight)
        if self.needs_input_grad[1]:
            gw = Conv2dGradW(*self._params(), weight.shape[2:], columns=self.columns)(x, gy)
        return gx, gw
        ### END SOLUTION


class ConvTranspose2d(_Conv):
    def forward(self, x, weight):
        ### BEGIN SOLUTION conv_transpose2d
        cin, cout, kh, kw = weight.shape
        size = tuple(conv_transpose_output_size(x.shape[2 + i], weight.shape[2 + i], self.stride[i],
                                                self.padding[i], self.output_padding[i], self.dilation[i])
                     for i in range(2))
        # every input pixel paints a kh x kw patch: cols = W[Cin, Cout*kh*kw]^T @ x[Cin, N*H*W]
        rows = _as_rows(x)
        cols = backend.array_module(x).matmul(weight.reshape(cin, -1).T, rows,
                                              out=_empty(x, (weight[0].size, rows.shape[1]), "columns"))
        return col2im(cols, x.shape[0], size, (kh, kw), *self._params(), by_phases=True)
        ### END SOLUTION

    def backward(self, gy):
        ### BEGIN SOLUTION conv_transpose2d
        x, weight = self.saved_input(0), self.saved_input(1)
        params, kernel = self._params(), weight.shape[2:]
        both = all(self.needs_input_grad)  # then both products read im2col(gy): make it once
        share = both and _columns_bytes(gy, kernel, *params) <= KEEP_COLUMNS_MAX_BYTES
        cols = im2col(gy.array, kernel, *params) if share else None
        gx = Conv2d(*params, columns=cols)(gy, weight) if self.needs_input_grad[0] else None
        gw = Conv2dGradW(*params, kernel, columns=cols)(gy, x) if self.needs_input_grad[1] else None
        return gx, gw
        ### END SOLUTION


class Conv2dGradW(_Conv):
    """dW of conv2d: dW[o, c, i, j] = sum over n, y, x of dy[n, o, y, x] * window(x)[c, i, j, n, y, x]."""

    def __init__(self, stride, padding, dilation, kernel, columns=None):
        super().__init__(stride, padding, dilation)
        self.kernel, self.columns = tuple(kernel), columns

    def forward(self, x, gy):
        ### BEGIN SOLUTION conv2d_grad_w
        c, o = x.shape[1], gy.shape[1]
        gw = _as_rows(gy) @ self._columns(x, self.kernel).T  # (O, L*N) @ (L*N, C*kh*kw)
        return gw.reshape(o, c, *self.kernel)
        ### END SOLUTION

    def backward(self, ggw):  # bilinear in (x, dy): each gradient is the other conv with ggw
        ### BEGIN SOLUTION conv2d_grad_w
        x, gy = self.saved_input(0), self.saved_input(1)
        gx = g_gy = None
        if self.needs_input_grad[0]:
            extra = _missing_rows(x.shape[2:], gy.shape[2:], self.kernel, *self._params())
            gx = ConvTranspose2d(*self._params(), extra)(gy, ggw)
        if self.needs_input_grad[1]:
            g_gy = Conv2d(*self._params())(x, ggw)
        return gx, g_gy
        ### END SOLUTION


# -- the public functions: argument checks, then one Function call ---------------------------
def _pair(op: str, name: str, value, minimum: int) -> tuple:
    if isinstance(value, numbers.Integral):
        pair = (value, value)
    else:  # a float or None is no pair either: it gets the message below, not "not iterable"
        pair = tuple(value) if isinstance(value, (tuple, list)) else ()
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
    if x.dtype.kind != "f":  # NumPy would compute bool convolutions as logical ors
        raise TypeError(f"{op}: expected floating-point tensors, got {x.dtype}")
    if min(weight.shape[2:]) < 1:
        raise ValueError(f"{op}: kernel size should be greater than zero, got weight of shape {weight.shape}")
    out_channels = weight.shape[1 - in_axis]
    if bias is None:
        return
    if not isinstance(bias, Tensor):
        raise TypeError(f"{op}: bias must be a Tensor or None, got {type(bias).__name__}")
    if bias.shape != (out_channels,):
        raise ValueError(f"{op}: bias must have shape ({out_channels},), got {bias.shape}")
    if bias.dtype != x.dtype:
        raise TypeError(f"{op}: x is {x.dtype} but bias is {bias.dtype}")


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
    keep_columns = (weight.requires_grad and is_grad_enabled()  # for dW in backward, if it comes
                    and _columns_bytes(x, weight.shape[2:], stride, padding, dilation) <= KEEP_COLUMNS_MAX_BYTES)
    return _add_bias(Conv2d(stride, padding, dilation, keep_columns=keep_columns)(x, weight), bias)


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
