"""The CUDA kernels: im2col, col2im, batch norm, the activations' forward and backward passes,
Adam, a sum of squares and the random numbers of minigan/rng.py as CuPy ElementwiseKernels.

On a GPU each CuPy call is a kernel launch that costs some microseconds of CPU time whatever
the arrays' size, and the array forms of these steps need several: im2col pads, views and
copies; col2im adds one strided slab per kernel offset (16 launches for a 4x4 kernel); batch
norm's statistics, normalise-scale-shift, dx and running averages are a dozen passes; a
sigmoid is eight; Adam makes about ten per parameter. Each step here is one kernel, as Chainer
did it: one GPU thread per output element. A DCGAN iteration makes 234 launches with them,
443 before the activations, batch norm, Adam and the gradient norms were fused
(tests/test_launches.py counts them on the sim device).

col2im is written as a *gather*: each image pixel sums the columns that read it, so no two
threads write the same place (no atomics, and the same sums in the same order every run).
Adam and the sum of squares take many tensors in one launch: each is a raw argument with its
size, and thread i walks the sizes to find its tensor.

Layouts are those of minigan/functional/conv.py: images batch last, (C, H, W, N) in memory;
columns (C*kh*kw, Ho*Wo*N). These run on cuda arrays; the tests run the same kernel bodies
on the CPU through ``minigan.sim.ElementwiseKernel`` (a compiled stand-in), and CI compiles
CuPy's source for each with NVRTC (tests/test_kernels_nvrtc.py).
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
    "minigan_batch_norm_stats": (
        "T sum_sq, T count, T eps", "T var, T inv_std",  # per channel
        # var = sum((x - mean)^2) / count;  1 / sqrt(var + eps)
        """
        var = sum_sq / count;
        inv_std = 1 / sqrt(var + eps);
        """),
    "minigan_batch_norm_backward": (
        "T gy, T xhat, T g_weight, T g_bias, T weight, T inv_std, T inv_n", "T gx",
        # dx = w / sqrt(var + eps) * (dy - (sum(dy) + xhat * sum(dy * xhat)) / n)
        """
        gx = weight * inv_std * (gy - (g_bias + xhat * g_weight) * inv_n);
        """),
    "minigan_running_stats": (
        "T mean, T var, T one_minus_momentum, T momentum, T var_factor", "T running_mean, T running_var",
        # running = (1 - momentum) running + momentum batch, the variance unbiased (var_factor = momentum n / (n - 1))
        """
        running_mean = running_mean * one_minus_momentum + momentum * mean;
        running_var = running_var * one_minus_momentum + var_factor * var;
        """),
    # activations, forward and backward (each one pass instead of two to eight)
    "minigan_leaky_relu": ("T x, T slope", "T y", "y = x > 0 ? x : x * slope"),  # for 0 <= slope <= 1
    "minigan_leaky_relu_grad": ("T gy, T y, T slope", "T gx", "gx = y > 0 ? gy : gy * slope"),
    "minigan_relu_grad": ("T gy, T y", "T gx", "gx = gy * (T)(y > 0)"),
    "minigan_sigmoid": (  # 1 / (1 + e^-x), never overflowing
        "T x", "T y", "const T e = exp(-fabs(x)); y = x >= 0 ? 1 / (1 + e) : e / (1 + e)"),
    "minigan_sigmoid_grad": ("T gy, T y", "T gx", "gx = gy * y * (1 - y)"),
    "minigan_tanh_grad": ("T gy, T y", "T gx", "gx = gy * (1 - y * y)"),
    "minigan_softplus_grad": (  # softplus' = sigmoid
        "T gy, T x", "T gx", "const T e = exp(-fabs(x)); gx = gy * (x >= 0 ? 1 / (1 + e) : e / (1 + e))"),
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


# -- many tensors in one launch -------------------------------------------------------------
# A model's parameters are separate arrays; one kernel over all of them takes each as a raw
# argument with its size, and thread i finds its tensor by walking the sizes. Each tensor adds a
# few hundred bytes of kernel arguments, so at most TENSORS_PER_LAUNCH go into one launch
# (CUDA's limit is 4 KB of arguments on older drivers).
TENSORS_PER_LAUNCH = 8


def _each_tensor(count: int, statement: str) -> str:
    """A loop body that runs ``statement`` (with {k} for the tensor, j for the index within it)
    for the tensor that global index i falls in."""
    lines = ["ptrdiff_t j = i;", "do {"]
    for k in range(count):
        lines.append(f"    if (j < n{k}) {{ {statement.format(k=k)}; break; }} j -= n{k};")
    return "\n".join(lines + ["} while (0);"])


def adam_multi_spec(count: int) -> tuple:
    """The Adam update of ``count`` parameters, each with its own step size and bias correction
    (their step counts may differ), as one kernel: (in_params, out_params, body, preamble)."""
    tensors = range(count)
    in_params = ("T weight_decay, T one_minus_beta1, T beta2, T one_minus_beta2, T eps, "
                 + ", ".join(f"raw T grad{k}, int64 n{k}, T step_size{k}, T bias2_sqrt{k}" for k in tensors))
    out_params = ", ".join(f"raw T param{k}, raw T m{k}, raw T v{k}" for k in tensors)
    body = _each_tensor(count, "minigan_adam_step(param{k}[j], grad{k}[j], m{k}[j], v{k}[j], weight_decay, "
                               "one_minus_beta1, beta2, one_minus_beta2, step_size{k}, bias2_sqrt{k}, eps)")
    return in_params, out_params, body, _ADAM_STEP


_ADAM_STEP = """
// g = grad + wd p;  m += (1 - b1)(g - m);  v = b2 v + (1 - b2) g^2;  p -= lr_t m / (sqrt(v) / sqrt(1 - b2^t) + eps)
__device__ void minigan_adam_step(T& param, T grad, T& m, T& v, const T weight_decay, const T one_minus_beta1,
                                  const T beta2, const T one_minus_beta2, const T step_size, const T bias2_sqrt,
                                  const T eps) {
    if (weight_decay != (T)0) grad += weight_decay * param;
    m += one_minus_beta1 * (grad - m);
    v = beta2 * v + one_minus_beta2 * grad * grad;
    param -= step_size * (m / (sqrt(v) / bias2_sqrt + eps));
}
"""


def squares_multi_spec(count: int) -> tuple:
    """The squares of ``count`` tensors' elements, one after the other in one flat output."""
    in_params = ", ".join(f"raw T x{k}, int64 n{k}" for k in range(count))
    return in_params, "T out", _each_tensor(count, "out = x{k}[j] * x{k}[j]")


KERNELS.update({f"minigan_adam_multi_{k}": adam_multi_spec(k) for k in (1, TENSORS_PER_LAUNCH)})
KERNELS.update({f"minigan_squares_multi_{k}": squares_multi_spec(k) for k in (1, TENSORS_PER_LAUNCH)})
_MULTI_SPECS = {"minigan_adam_multi_": adam_multi_spec, "minigan_squares_multi_": squares_multi_spec}
_compiled = {}  # (array module, kernel name) -> ElementwiseKernel
# the inputs of type T that minigan passes as numbers (the other non-raw inputs of type T are arrays)
_T_SCALARS = {"minigan_adam": {"one_minus_beta1", "beta2", "one_minus_beta2", "step_size", "bias2_sqrt", "eps"},
              "minigan_batch_norm_stats": {"count", "eps"}, "minigan_batch_norm_backward": {"inv_n"},
              "minigan_running_stats": {"one_minus_momentum", "momentum", "var_factor"},
              "minigan_leaky_relu": {"slope"}, "minigan_leaky_relu_grad": {"slope"}}


def spec(name: str) -> tuple:
    """(in_params, out_params, body, preamble) of kernel ``name``."""
    in_params, out_params, body, *preamble = KERNELS.get(name) or next(
        make(int(name[len(prefix):])) for prefix, make in _MULTI_SPECS.items() if name.startswith(prefix))
    return in_params, out_params, body, "".join(preamble)


def scalar_inputs(name: str) -> set:
    """The non-raw inputs that minigan passes to kernel ``name`` as numbers rather than arrays:
    those of a fixed type (int32, uint64, ...), every one of a kernel over many tensors, and the
    T-typed ones listed in _T_SCALARS."""
    params = [p.split() for p in spec(name)[0].split(",")]
    inputs = [(words[-2], words[-1]) for words in params if words[0] != "raw"]
    many = any(name.startswith(prefix) for prefix in _MULTI_SPECS)
    return {n for t, n in inputs if t != "T" or many or n in _T_SCALARS.get(name, ())}


def uses_kernels(array) -> bool:
    """True for CuPy arrays: there these kernels replace the array forms."""
    return backend.is_cupy(array)


def _kernel(xp, name: str):
    key = (xp.__name__, name)
    if key not in _compiled:  # compiled on first use (NVRTC on a GPU, the C++ compiler on sim)
        in_params, out_params, body, preamble = spec(name)
        _compiled[key] = xp.ElementwiseKernel(in_params, out_params, body, name, preamble=preamble)
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


def batch_norm_stats(sum_sq, n: int, eps: float) -> tuple:
    """(var, 1 / sqrt(var + eps)) per channel from sum((x - mean)^2), in one kernel."""
    xp, t = backend.array_module(sum_sq), sum_sq.dtype.type
    var, inv_std = xp.empty_like(sum_sq), xp.empty_like(sum_sq)
    _kernel(xp, "minigan_batch_norm_stats")(sum_sq, t(n), t(eps), var, inv_std)
    return var, inv_std


def batch_norm_backward(gy, xhat, g_weight, g_bias, weight, inv_std):
    """dx of norm.BatchNorm from the per-channel sums, w and 1 / sqrt(var + eps), in one
    kernel; g_weight, g_bias, weight and inv_std come shaped to broadcast against x."""
    xp = backend.array_module(gy)
    gx = xp.empty_like(xhat)
    inv_n = xhat.dtype.type(xhat.shape[1] / xhat.size)
    _kernel(xp, "minigan_batch_norm_backward")(gy, xhat, g_weight, g_bias, weight, inv_std, inv_n, gx)
    return gx


def running_stats(running_mean, running_var, mean, var, momentum: float, count: int) -> None:
    """norm.batch_norm's update of the running statistics, both in place, in one kernel."""
    xp, t = backend.array_module(running_mean), running_mean.dtype.type
    _kernel(xp, "minigan_running_stats")(mean, var, t(1 - momentum), t(momentum), t(momentum * count / (count - 1)),
                                         running_mean, running_var)


def elementwise(name: str, *args):
    """Run the one-output kernel ``name`` on ``args`` (arrays, then scalars as its parameters
    say) into a new array of the arrays' shape, laid out like the first that is not a
    broadcast view (so batch-last conv outputs stay batch-last); returns it."""
    xp = backend.array_module(args[0])
    arrays = [a for a in args if backend.is_array(a)]
    like = next((a for a in arrays if 0 not in a.strides), arrays[0])  # not a broadcast view: its layout
    out = xp.empty_like(like)
    t = args[0].dtype.type
    _kernel(xp, name)(*(a if backend.is_array(a) else t(a) for a in args), out)
    return out


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


def _chunks(items: list) -> list:
    return [items[i:i + TENSORS_PER_LAUNCH] for i in range(0, len(items), TENSORS_PER_LAUNCH)]


def adam_multi(params, grads, ms, vs, step_sizes, bias2_sqrts, beta1: float, beta2: float, eps: float,
               weight_decay: float) -> None:
    """Adam's update of many parameters (with their gradients and moments) in place, in one
    launch per TENSORS_PER_LAUNCH of them; ``step_sizes`` and ``bias2_sqrts`` are per parameter."""
    xp, t = backend.array_module(params[0]), params[0].dtype.type
    for chunk in _chunks(list(zip(params, grads, ms, vs, step_sizes, bias2_sqrts))):
        inputs = [a for p, g, m, v, s, b in chunk for a in (g, np.int64(p.size), t(s), t(b))]
        outputs = [a for p, g, m, v, s, b in chunk for a in (p, m, v)]
        _kernel(xp, f"minigan_adam_multi_{len(chunk)}")(t(weight_decay), t(1 - beta1), t(beta2), t(1 - beta2), t(eps),
                                                        *inputs, *outputs, size=sum(p.size for p, *_ in chunk))


def sum_of_squares(arrays):
    """sum(x^2) over every element of every array (a 0-d array): the squares gathered into one
    buffer by one launch per TENSORS_PER_LAUNCH arrays, then one sum."""
    xp = backend.array_module(arrays[0])
    squares = xp.empty(sum(a.size for a in arrays), dtype=arrays[0].dtype)
    start = 0
    for chunk in _chunks(list(arrays)):
        size = sum(a.size for a in chunk)
        _kernel(xp, f"minigan_squares_multi_{len(chunk)}")(*[v for a in chunk for v in (a, np.int64(a.size))],
                                                           squares[start:start + size])
        start += size
    return squares.sum()
