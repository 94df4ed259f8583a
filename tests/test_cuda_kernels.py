"""The CUDA kernels (minigan/cuda_kernels.py), run on the CPU by sim.ElementwiseKernel.

The kernel bodies are compiled with the host's C++ compiler and must give what the array forms
give: im2col and col2im equal conv.im2col / conv.col2im, the Adam kernel equals optim.Adam's
NumPy update, and convolutions built on the kernels pass the conv tests (values against naive
loops, gradcheck, gradgradcheck). Also: the stand-in is as strict as its docstring says.
"""
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
from minigan.functional import conv

import test_conv
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


ARRAY_INPUTS = {"minigan_adam": {"grad"},
                "minigan_batch_norm_forward": {"centered", "inv_std", "weight", "bias"},
                "minigan_batch_norm_backward": {"gy", "xhat", "g_weight", "g_bias", "scale"}}  # the other non-raw inputs are scalars


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="compile-checking the kernels as CUDA needs nvcc")
def test_kernels_compile_as_cuda(tmp_path):
    """Each kernel body, in float32 and float64, compiles as device code (nvcc -c: no GPU needed)."""
    files = []
    for name, (in_params, out_params, body, *preamble) in cuda_kernels.KERNELS.items():
        kernel = sim.ElementwiseKernel(in_params, out_params, body, name, preamble="".join(preamble))
        kinds = tuple("raw" if raw else "array" if out or param in ARRAY_INPUTS.get(name, ()) else "scalar"
                      for raw, _, param, out in kernel.params)
        for dtype in ("float32", "float64"):
            source = kernel.source({"T": dtype, **{t: t for t in sim_kernel.C_TYPES}}, kinds, cuda=True)
            files.append(f"{name}_{dtype}.cu")
            (tmp_path / files[-1]).write_text(source)
    result = subprocess.run(["nvcc", "-c", *files], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_stand_in_removes_its_compiled_kernels_at_exit():
    """The folder of compiled .so files lives as long as the process, not longer."""
    script = ("import numpy as np; from minigan import sim, sim_kernel\n"
              "k = sim.ElementwiseKernel('T x', 'T z', 'z = x + 1', 'plus_one')\n"
              "k(sim.asarray(np.zeros(3)), sim.zeros(3))\n"
              "print(sim_kernel._build_dir)\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    folder = result.stdout.strip()
    assert folder and not os.path.exists(folder)
