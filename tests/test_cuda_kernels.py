"""The CUDA kernels (minigan/cuda_kernels.py), run on the CPU by sim.ElementwiseKernel.

The kernel bodies are compiled with the host's C++ compiler and must give what the array forms
give: im2col and col2im equal conv.im2col / conv.col2im, the Adam kernel equals optim.Adam's
NumPy update, and convolutions built on the kernels pass the conv tests (values against naive
loops, gradcheck, gradgradcheck). Also: the stand-in is as strict as its docstring says.
"""
import concurrent.futures
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import minigan
from minigan import cuda_kernels, optim, sim, sim_kernel
from minigan import functional as F
from minigan.functional import conv

import test_activation
import test_conv
import test_kernels_nvrtc
import test_norm
from helpers import ConvCase, conv2d_cases, device_settings, pair

pytestmark = pytest.mark.skipif(sim_kernel.compiler() is None,
                                reason="the stand-in compiles the CUDA kernels with a C++ compiler; none found")
SEEDS = st.integers(0, 2**32 - 1)


@pytest.fixture
def kernels_on_sim(monkeypatch):
    """Make the library take its CUDA-kernel branches for sim arrays, as it does for CuPy's."""
    monkeypatch.setattr(cuda_kernels, "uses_kernels", lambda array: isinstance(array, sim.ndarray))


def _geometry(case):
    kernel = case.weight_shape[2:]
    stride, padding, dilation = (pair(case.kwargs[a]) for a in ("stride", "padding", "dilation"))
    out = [conv.conv_output_size(s, k, st_, p, d)
           for s, k, st_, p, d in zip(case.x_shape[2:], kernel, stride, padding, dilation)]
    return kernel, stride, padding, dilation, out


def _image(shape, seed, dtype, batch_last):
    """(N, C, H, W) values, laid out batch last in memory (as conv outputs are) or NCHW."""
    n, c, h, w = shape
    values = np.random.default_rng(seed).standard_normal((c, h, w, n)).astype(dtype)
    image = values.transpose(3, 0, 1, 2)
    return image if batch_last else np.ascontiguousarray(image)


@device_settings()
@given(case=conv2d_cases(max_batch=3, max_channels=3, max_side=7, max_kernel=4), seed=SEEDS,
       dtype=st.sampled_from([np.float32, np.float64]), batch_last=st.booleans())
@example(case=test_conv.DCGAN_CONV, seed=0, dtype=np.float32, batch_last=True)
def test_im2col_kernel_equals_the_array_form(case, seed, dtype, batch_last):
    kernel, stride, padding, dilation, out = _geometry(case)
    x = _image(case.x_shape, seed, dtype, batch_last)
    expected = conv.im2col(x, kernel, stride, padding, dilation)
    cols = cuda_kernels.im2col(sim.asarray(x), kernel, stride, padding, dilation, out)
    assert cols.shape == expected.shape and cols.dtype == expected.dtype
    np.testing.assert_array_equal(cols.get(), expected)  # a gather: exactly the same numbers


@device_settings()
@given(case=conv2d_cases(max_batch=3, max_channels=3, max_side=7, max_kernel=4), seed=SEEDS,
       dtype=st.sampled_from([np.float32, np.float64]))
@example(case=test_conv.DCGAN_CONV, seed=0, dtype=np.float32)
def test_col2im_kernel_equals_the_array_form(case, seed, dtype):
    kernel, stride, padding, dilation, out = _geometry(case)
    n, c = case.x_shape[:2]
    cols = np.random.default_rng(seed).standard_normal((c * kernel[0] * kernel[1], out[0] * out[1] * n)).astype(dtype)
    expected = conv.col2im(cols, n, case.x_shape[2:], kernel, stride, padding, dilation)
    image = cuda_kernels.col2im(sim.asarray(cols), n, case.x_shape[2:], kernel, stride, padding, dilation, out)
    assert image.shape == expected.shape == case.x_shape
    tolerance = 1e-6 if dtype == np.float32 else 1e-13  # the same terms, summed in another order
    np.testing.assert_allclose(image.get(), expected, rtol=tolerance, atol=tolerance)


def test_col2im_kernel_sums_every_window_that_covers_a_pixel():
    """By hand: a 3x3 image, 2x2 kernel, stride 1: the centre pixel is in all four windows."""
    cols = sim.ones((4, 4), dtype="float64")  # C=1, kh*kw=4 rows; 2x2 outputs, N=1
    image = cuda_kernels.col2im(cols, 1, (3, 3), (2, 2), (1, 1), (0, 0), (1, 1), (2, 2)).get()[0, 0]
    np.testing.assert_array_equal(image, [[1, 2, 1], [2, 4, 2], [1, 2, 1]])


@pytest.mark.parametrize("test", [test_conv.test_conv2d_matches_naive_loops,
                                  test_conv.test_conv_transpose2d_matches_naive_loops,
                                  test_conv.test_conv2d_gradcheck, test_conv.test_conv_transpose2d_gradcheck,
                                  test_conv.test_conv2d_gradgradcheck, test_conv.test_conv_transpose2d_gradgradcheck],
                         ids=lambda f: f.__name__[5:])
def test_convolutions_on_the_kernels_pass_the_conv_tests(kernels_on_sim, test):
    test(device="sim")


@pytest.mark.parametrize("test", [test_norm.test_batch_norm_training_gradcheck,
                                  test_norm.test_batch_norm_training_normalises_each_channel,
                                  test_norm.test_batch_norm_training_gradgradcheck],
                         ids=lambda f: f.__name__[5:])
def test_batch_norm_on_the_kernels_passes_the_batch_norm_tests(kernels_on_sim, test):
    test(device="sim")


ACTIVATION_TESTS = [
    *[(test_activation.test_smooth_activation_gradcheck, {"name": n}) for n in sorted(test_activation.SMOOTH)],
    *[(test_activation.test_smooth_activation_values, {"name": n}) for n in sorted(test_activation.SMOOTH)],
    *[(test_activation.test_smooth_activation_gradgradcheck, {"name": n}) for n in ("sigmoid", "tanh", "softplus")],
    (test_activation.test_relu_gradcheck_away_from_the_kink, {}),
    (test_activation.test_leaky_relu_gradcheck_away_from_the_kink, {}),
    (test_activation.test_relu_derivative_at_zero_is_zero_like_pytorch, {}),
    (test_activation.test_leaky_relu_derivative_at_zero_is_the_negative_slope, {"slope": 0.2}),
    (test_activation.test_leaky_relu_derivative_at_zero_is_the_negative_slope, {"slope": 0.0}),
    (test_activation.test_relu_and_leaky_relu_gradgradcheck, {}),
    (test_activation.test_relu_and_leaky_relu_values, {}),
    (test_activation.test_activations_are_finite_and_exact_at_extreme_float32_inputs, {}),
    (test_activation.test_activation_gradients_are_finite_at_extreme_float32_inputs, {}),
    (test_norm.test_batch_norm_training_values_and_running_statistics_like_pytorch, {}),
]


@pytest.mark.parametrize("test, kwargs", ACTIVATION_TESTS,
                         ids=[f.__name__[5:] + "".join(f"-{v}" for v in kw.values()) for f, kw in ACTIVATION_TESTS])
def test_activations_on_the_kernels_pass_the_activation_tests(kernels_on_sim, test, kwargs):
    """The fused activation kernels (forward, and backward when no graph of it is wanted: the
    gradgradchecks run the Tensor-op backward on the kernels' forward values), and batch norm's
    statistics and running-average kernels."""
    test(device="sim", **kwargs)


@pytest.mark.parametrize("slope", [-0.5, 0.0, 0.2, 1.0, 1.5])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activation_kernels_equal_the_array_forms(monkeypatch, slope, dtype):
    """Forward and backward of each fused activation on the same values, sim's kernels against
    its array forms: the same bits for the piecewise-linear ones, a few ulps (exp) otherwise.
    Slopes outside [0, 1] take the array forms on a GPU too."""
    values = np.random.default_rng(5).standard_normal((4, 3, 2, 5)).astype(dtype)
    values[0, 0, 0, :3] = [0.0, -0.0, 30.0]
    gy = np.random.default_rng(6).standard_normal(values.shape).astype(dtype)
    ops = {"relu": F.relu, "leaky_relu": lambda t: F.leaky_relu(t, slope), "sigmoid": F.sigmoid,
           "tanh": F.tanh, "softplus": F.softplus}
    results = {}
    for kernels in (False, True):
        monkeypatch.setattr(cuda_kernels, "uses_kernels", lambda array: kernels and isinstance(array, sim.ndarray))
        for name, op in ops.items():
            x = minigan.tensor(values, device="sim", requires_grad=True)
            y = op(x)
            y.backward(minigan.tensor(gy, device="sim"))
            results[kernels, name] = (y.numpy(), x.grad.numpy())
    ulps = 4 * np.finfo(dtype).eps
    for name in ops:
        for arrays, kernel in zip(results[False, name], results[True, name]):
            if name in ("relu", "leaky_relu"):
                np.testing.assert_array_equal(kernel, arrays, err_msg=name)
            else:
                np.testing.assert_allclose(kernel, arrays, rtol=ulps, atol=ulps, err_msg=name)


@pytest.mark.parametrize("shape", [(5, 3), (4, 3, 2, 5)])
def test_batch_norm_kernels_equal_the_array_forms(kernels_on_sim, shape):
    """Forward and backward of F.batch_norm in training, on a batch-last view as conv outputs are."""
    rng = np.random.default_rng(1)
    values = rng.standard_normal(shape[1:] + shape[:1]).astype(np.float32)
    x_values = np.moveaxis(values, -1, 0)  # (N, C, ...) view of a batch-last array
    w, b, gy = rng.standard_normal(shape[1]), rng.standard_normal(shape[1]), rng.standard_normal(shape)
    results = []
    for device in ("cpu", "sim"):
        x = minigan.tensor(x_values, device=device, requires_grad=True)
        weight = minigan.tensor(w.astype(np.float32), device=device, requires_grad=True)
        bias = minigan.tensor(b.astype(np.float32), device=device, requires_grad=True)
        y = minigan.functional.batch_norm(x, None, None, weight, bias, training=True)
        y.backward(minigan.tensor(gy.astype(np.float32), device=device))
        results.append([t.numpy() for t in (y, x.grad, weight.grad, bias.grad)])
    for cpu, kernel in zip(*results):
        np.testing.assert_allclose(kernel, cpu, rtol=1e-5, atol=1e-5)


def test_adam_kernel_equals_the_array_update(kernels_on_sim):
    """Five steps of optim.Adam: sim parameters (the kernel) against CPU ones (the NumPy lines)."""
    rng = np.random.default_rng(0)
    start = rng.standard_normal((3, 5)).astype(np.float32)
    grads = rng.standard_normal((5, 3, 5)).astype(np.float32)
    results = []
    for device in ("cpu", "sim"):
        p = minigan.tensor(start, device=device, requires_grad=True)
        opt = optim.Adam([p], lr=0.01, betas=(0.5, 0.999), weight_decay=0.1)
        for g in grads:
            p.grad = minigan.tensor(g, device=device)
            opt.step()
        results.append((p.numpy(), opt.state[p]["exp_avg"], opt.state[p]["exp_avg_sq"]))
    for cpu, on_kernel in zip(*results):
        on_kernel = on_kernel.get() if isinstance(on_kernel, sim.ndarray) else on_kernel
        np.testing.assert_allclose(on_kernel, cpu, rtol=2e-6, atol=1e-7)
    assert not np.array_equal(results[0][0], start)  # the parameters did move


def test_adam_over_many_parameters_in_one_kernel_equals_the_array_update(kernels_on_sim):
    """Ten parameters (two launches of TENSORS_PER_LAUNCH), one with a transposed gradient, one
    that skips a step (so the step counts differ), weight decay on: against the NumPy lines."""
    rng = np.random.default_rng(3)
    shapes = [(3, 5), (4,), (2, 3, 2, 2), (6, 1), (1,), (5, 2), (3,), (2, 2), (7,), (2, 4, 1, 1)]
    starts = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    grads = [[rng.standard_normal(s).astype(np.float32) for s in shapes] for _ in range(4)]
    results = []
    for device in ("cpu", "sim"):
        params = [minigan.tensor(v, device=device, requires_grad=True) for v in starts]
        opt = optim.Adam(params, lr=0.01, betas=(0.5, 0.999), weight_decay=0.1)
        for step, gs in enumerate(grads):
            for i, (p, g) in enumerate(zip(params, gs)):
                g = minigan.tensor(g.T.copy() if i == 0 else g, device=device)
                p.grad = g.T if i == 0 else g  # a non-contiguous gradient
            params[4].grad = None if step == 1 else params[4].grad
            opt.step()
        results.append([(p.numpy(), sim.asnumpy(opt.state[p]["exp_avg"]), sim.asnumpy(opt.state[p]["exp_avg_sq"]),
                         opt.state[p]["step"]) for p in params])
    assert [r[3] for r in results[1]] == [4, 4, 4, 4, 3, 4, 4, 4, 4, 4]
    u = np.finfo(np.float32).eps / 2
    for cpu, kernel in zip(*results):
        assert cpu[3] == kernel[3]
        for a, b in zip(cpu[:3], kernel[:3]):  # a handful of roundings per step, of each array's scale
            np.testing.assert_allclose(b, a, rtol=0, atol=16 * len(grads) * u * np.max(np.abs(a)))


def test_sum_of_squares_over_many_arrays(kernels_on_sim):
    rng = np.random.default_rng(4)
    arrays = [rng.standard_normal(s) for s in [(3, 4), (5,), (2, 2, 3), (1,)] * 3]  # 12: two launches
    arrays[2] = arrays[2].transpose(2, 0, 1)  # non-contiguous
    got = cuda_kernels.sum_of_squares([sim.asarray(a) for a in arrays]).get()
    expected = sum(float(np.sum(a * a)) for a in arrays)
    np.testing.assert_allclose(got, expected, rtol=4 * 60 * np.finfo(np.float64).eps)  # a sum of 60 squares


# -- the stand-in is strict --------------------------------------------------------------------
def test_stand_in_refuses_what_it_cannot_check():
    axpy = sim.ElementwiseKernel("T x, T y, float32 a", "T z", "z = a * x + y", "axpy")
    x, z = sim.ones((2, 3), dtype="float32"), sim.empty((2, 3), dtype="float32")
    np.testing.assert_array_equal(axpy(x, x, 2.0, z).get(), np.full((2, 3), 3.0))
    row = sim.asarray(np.array([1.0, 2.0, 3.0], dtype=np.float32))
    np.testing.assert_array_equal(axpy(row, x, 2.0, z).get(), [[3.0, 5.0, 7.0]] * 2)  # inputs broadcast
    with pytest.raises(ValueError, match="x of shape \\(2,\\) does not broadcast to the output shape \\(2, 3\\)"):
        axpy(sim.ones((2,), dtype="float32"), x, 2.0, z)
    with pytest.raises(TypeError, match="y is float64, expected float32"):
        axpy(x, sim.ones((2, 3)), 2.0, z)
    with pytest.raises(NotImplementedError, match="all 4 arguments"):
        axpy(x, x, 2.0)
    with pytest.raises(ValueError, match="'n' is reserved"):
        sim.ElementwiseKernel("T n", "T z", "z = n", "bad")
    broken = sim.ElementwiseKernel("T x", "T z", "z = undefined_name * x", "broken")
    with pytest.raises(RuntimeError, match="broken: the kernel does not compile"):
        broken(x, z)


def test_stand_in_writes_back_into_non_contiguous_outputs():
    twice = sim.ElementwiseKernel("T x", "T z", "z = 2 * x", "twice")
    base = sim.zeros((3, 4), dtype="float64")
    out = base.T  # not C-contiguous
    twice(sim.asarray(np.arange(12.0).reshape(4, 3)), out)
    np.testing.assert_array_equal(base.get(), 2 * np.arange(12.0).reshape(4, 3).T)


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="compile-checking the kernels as CUDA needs nvcc")
@pytest.mark.skipif(test_kernels_nvrtc.nvrtc_available(), reason="NVRTC compiles CuPy's own source of every "
                    "kernel here (tests/test_kernels_nvrtc.py), which is closer to a GPU run than this")
def test_kernels_compile_as_cuda(tmp_path):
    """Each kernel body, in float32 and float64, compiles as device code (nvcc -c: no GPU needed),
    wrapped in the stand-in's loop rather than CuPy's: the fallback where CuPy or NVRTC is absent."""
    files = []
    for name in cuda_kernels.KERNELS:
        in_params, out_params, body, preamble = cuda_kernels.spec(name)
        kernel = sim.ElementwiseKernel(in_params, out_params, body, name, preamble=preamble)
        scalars = cuda_kernels.scalar_inputs(name)
        kinds = tuple("raw" if raw else "scalar" if param in scalars else "array" for raw, _, param, out in kernel.params)
        for dtype in ("float32", "float64"):
            source = kernel.source({"T": dtype, **{t: t for t in sim_kernel.C_TYPES}}, kinds, cuda=True)
            files.append(f"{name}_{dtype}.cu")
            (tmp_path / files[-1]).write_text(source)
    with concurrent.futures.ThreadPoolExecutor(os.cpu_count()) as pool:  # one nvcc per file, all cores
        results = list(pool.map(lambda f: subprocess.run(["nvcc", "-c", f], cwd=tmp_path, capture_output=True,
                                                         text=True), files))
    errors = [r.stderr for r in results if r.returncode]
    assert not errors, "\n".join(errors)


def test_stand_in_removes_its_compiled_kernels_at_exit():
    """The folder of compiled .so files lives as long as the process, not longer."""
    script = ("import numpy as np; from minigan import sim, sim_kernel\n"
              "k = sim.ElementwiseKernel('T x', 'T z', 'z = x + 1', 'plus_one')\n"
              "k(sim.asarray(np.zeros(3)), sim.zeros(3))\n"
              "print(sim_kernel._build_dir)\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    folder = result.stdout.strip()
    assert folder and not os.path.exists(folder)
