"""The CUDA kernels: im2col, col2im, batch norm's elementwise parts, the Adam update and the
random numbers of minigan/rng.py as CuPy ElementwiseKernels.

On a GPU each CuPy call is a kernel launch that costs tens of microseconds of CPU time, and
the array forms of these steps need several: im2col pads, views and copies; col2im adds one
strided slab per kernel offset (16 launches for a 4x4 kernel); batch norm's normalise-scale-
shift and its dx formula are three and four passes; Adam makes about ten.
Each function here is one kernel, as Chainer did it: one GPU thread per output element.

col2im is written as a *gather*: each image pixel sums the columns that read it, so no two
threads write the same place (no atomics, and the same sums in the same order every run).

Layouts are those of minigan/functional/conv.py: images batch last, (C, H, W, N) in memory;
columns (C*kh*kw, Ho*Wo*N). These run on cuda arrays; the tests run the same kernel bodies
on the CPU through ``minigan.sim.ElementwiseKernel`` (a compiled stand-in).
"""
from __future__ import annotations

import numpy as np

from . import backend

_SIZES = ("int32 H, int32 W, int32 B, int32 Ho, int32 Wo, int32 kh, int32 kw, int32 sh, int32 sw, "
          "int32 ph, int32 pw, int32 dh, int32 dw")

KERNELS = {
    "minigan_im2col": (
        "raw T img, " + _SIZES, "T col",
        # col[(c, ky, kx), (oy, ox, b)] = img[c, oy*sh - ph + ky*dh, ox*sw - pw + kx*dw, b], 0 in the padding
        """
        const ptrdiff_t b = i % B, ox = i / B % Wo, oy = i / ((ptrdiff_t)B * Wo) % Ho;
        const ptrdiff_t row = i / ((ptrdiff_t)B * Wo * Ho);
        const ptrdiff_t kx = row % kw, ky = row / kw % kh, c = row / ((ptrdiff_t)kw * kh);
        const ptrdiff_t y = oy * sh - ph + ky * dh, x = ox * sw - pw + kx * dw;
        col = (0 <= y && y < H && 0 <= x && x < W) ? img[((c * H + y) * W + x) * B + b] : (T)0;
        """),
    "minigan_col2im": (
        "raw T col, " + _SIZES, "T img",
        # img[c, y, x, b] = sum of col[(c, ky, kx), (oy, ox, b)] over the windows with oy*sh - ph + ky*dh == y
        # (and likewise in x): each thread gathers the columns that read its pixel
        """
        const ptrdiff_t b = i % B, x = i / B % W, y = i / ((ptrdiff_t)B * W) % H;
        const ptrdiff_t c = i / ((ptrdiff_t)B * W * H);
        T sum = 0;
        for (ptrdiff_t ky = 0; ky < kh; ++ky) {
            const ptrdiff_t ty = y + ph - ky * dh;  /* = oy * sh for the window row oy, if any */
            if (ty < 0 || ty % sh != 0 || ty / sh >= Ho) continue;
            for (ptrdiff_t kx = 0; kx < kw; ++kx) {
                const ptrdiff_t tx = x + pw - kx * dw;
                if (tx < 0 || tx % sw != 0 || tx / sw >= Wo) continue;
                sum += col[((((c * kh + ky) * kw + kx) * Ho + ty / sh) * Wo + tx / sw) * B + b];
            }
        }
        img = sum;
        """),
    "minigan_batch_norm_forward": (
        "T centered, T inv_std, T weight, T bias", "T xhat, T y",  # per-channel values broadcast
        # xhat = (x - mean) / sqrt(var + eps);  y = w xhat + b
        """
        xhat = centered * inv_std;
        y = xhat * weight + bias;
        """),
    "minigan_batch_norm_backward": (
        "T gy, T xhat, T g_weight, T g_bias, T scale, T inv_n", "T gx",
        # dx = w / sqrt(var + eps) * (dy - (sum(dy) + xhat * sum(dy * xhat)) / n)
        """
        gx = scale * (gy - (g_bias + xhat * g_weight) * inv_n);
        """),
    "minigan_adam": (
        "T grad, T one_minus_beta1, T beta2, T one_minus_beta2, T step_size, T bias2_sqrt, T eps",
        "T param, T m, T v",
        # m += (1 - b1)(g - m);  v = b2 v + (1 - b2) g^2;  p -= lr_t m / (sqrt(v) / sqrt(1 - b2^t) + eps)
        """
        m += one_minus_beta1 * (grad - m);
        v = beta2 * v + one_minus_beta2 * grad * grad;
        param -= step_size * (m / (sqrt(v) / bias2_sqrt + eps));
        """),
}

# minigan/rng.py's counter-based stream: word c of the stream `key` is mix64(key + (c + 1) golden)
_RANDOM_WORD = """
__device__ unsigned long long minigan_mix64(unsigned long long z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
__device__ unsigned long long minigan_random_word(unsigned long long key, unsigned long long c) {
    return minigan_mix64(key + (c + 1) * 0x9E3779B97F4A7C15ULL);
}
"""
KERNELS.update({
    "minigan_random_uniform": (
        "uint64 key, uint64 offset", "T out",
        # U[0, 1) from the top 24 (float32) or 53 (float64) bits of word 2 (offset + i)
        """
        const unsigned long long word = minigan_random_word(key, 2 * (offset + (unsigned long long)i));
        out = sizeof(T) == 4 ? (T)((float)(word >> 40) * 5.9604644775390625e-08f)
                             : (T)((double)(word >> 11) * 1.1102230246251565e-16);
        """, _RANDOM_WORD),
    "minigan_random_normal": (
        "uint64 key, uint64 offset", "T out",
        # Box-Muller in double: sqrt(-2 ln u1) cos(2 pi u2), u1 in (0, 1] and u2 in [0, 1) from words c, c + 1
        """
        const unsigned long long c = 2 * (offset + (unsigned long long)i);
        const double u1 = ((double)(minigan_random_word(key, c) >> 11) + 1.0) * 1.1102230246251565e-16;
        const double u2 = (double)(minigan_random_word(key, c + 1) >> 11) * 1.1102230246251565e-16;
        out = (T)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
        """, _RANDOM_WORD),
})
_compiled = {}  # (array module, kernel name) -> ElementwiseKernel


def uses_kernels(array) -> bool:
    """True for CuPy arrays: there these kernels replace the array forms."""
    return backend.is_cupy(array)


def _kernel(xp, name: str):
    key = (xp.__name__, name)
    if key not in _compiled:  # compiled on first use (NVRTC on a GPU, the C++ compiler on sim)
        in_params, out_params, body, *preamble = KERNELS[name]
        _compiled[key] = xp.ElementwiseKernel(in_params, out_params, body, name, preamble="".join(preamble))
    return _compiled[key]


def _sizes(size, out, kernel, stride, padding, dilation, batch) -> tuple:
    (h, w), (ho, wo) = size, out
    return (h, w, batch, ho, wo, *kernel, *stride, *padding, *dilation)


def im2col(x, kernel, stride, padding, dilation, out_size):
    """x (N, C, H, W) -> cols (C*kh*kw, Ho*Wo*N), as conv.im2col computes it, in one kernel."""
    xp = backend.array_module(x)
    n, c, h, w = x.shape
    img = xp.ascontiguousarray(x.transpose(1, 2, 3, 0))  # no copy for a conv output (batch last)
    cols = xp.empty((c * kernel[0] * kernel[1], out_size[0] * out_size[1] * n), dtype=x.dtype)
    return _kernel(xp, "minigan_im2col")(img, *_sizes((h, w), out_size, kernel, stride, padding, dilation, n), cols)


def col2im(cols, batch, size, kernel, stride, padding, dilation, in_size):
    """cols (C*kh*kw, Hi*Wi*N) -> (N, C, H, W), as conv.col2im computes it, in one kernel."""
    xp = backend.array_module(cols)
    c = cols.shape[0] // (kernel[0] * kernel[1])
    img = xp.empty((c, size[0], size[1], batch), dtype=cols.dtype)
    _kernel(xp, "minigan_col2im")(xp.ascontiguousarray(cols),
                                  *_sizes(size, in_size, kernel, stride, padding, dilation, batch), img)
    return img.transpose(3, 0, 1, 2)  # (N, C, H, W) view


def batch_norm_forward(centered, inv_std, weight, bias) -> tuple:
    """(xhat, y) from x - mean: the normalise, scale and shift of norm.BatchNorm, in one kernel.
    inv_std, weight and bias come shaped to broadcast against x, (1, C) or (1, C, 1, 1)."""
    xp = backend.array_module(centered)
    xhat, y = xp.empty_like(centered), xp.empty_like(centered)
    _kernel(xp, "minigan_batch_norm_forward")(centered, inv_std, weight, bias, xhat, y)
    return xhat, y


def batch_norm_backward(gy, xhat, g_weight, g_bias, scale):
    """dx of norm.BatchNorm from the per-channel sums and scale = w / sqrt(var + eps), in one
    kernel; g_weight, g_bias and scale come shaped to broadcast against x."""
    xp = backend.array_module(gy)
    gx = xp.empty_like(xhat)
    inv_n = xhat.dtype.type(xhat.shape[1] / xhat.size)
    _kernel(xp, "minigan_batch_norm_backward")(gy, xhat, g_weight, g_bias, scale, inv_n, gx)
    return gx


def adam(param, grad, m, v, beta1: float, beta2: float, step_size: float, bias2_sqrt: float, eps: float) -> None:
    """One Adam update of param, m and v in place (as optim.Adam computes it), in one kernel."""
    xp, t = backend.array_module(param), param.dtype.type
    _kernel(xp, "minigan_adam")(grad, t(1 - beta1), t(beta2), t(1 - beta2), t(step_size), t(bias2_sqrt), t(eps),
                                param, m, v)


def random_fill(kind: str, key: int, offset: int, out):
    """Fill ``out`` with the values ``offset``, ``offset + 1``, ... of rng.py's stream ``key``:
    ``kind`` "uniform" (U[0, 1)) or "normal" (N(0, 1)), in one kernel; returns ``out``."""
    xp = backend.array_module(out)
    _kernel(xp, f"minigan_random_{kind}")(np.uint64(key), np.uint64(offset), out)
    return out
