"""F.interpolate and nn.Upsample: PyTorch's values (nearest, nearest-exact, linear, bilinear,
align_corners, size or scale_factor), float64 gradients against finite differences under
Hypothesis, second derivatives, the output sizes and the errors."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigan
import minigan.nn as nn
from minigan import functional as F

from helpers import assert_sums_close, device_settings, leaf, random_array

MODES_2D = [("nearest", None), ("nearest-exact", None), ("bilinear", False), ("bilinear", True)]


@st.composite
def resize_cases(draw, modes=MODES_2D, max_side=5):
    """(input shape, mode, align_corners, keyword arguments) of one 4-D resize."""
    mode, align = draw(st.sampled_from(modes))
    h, w = draw(st.integers(1, max_side)), draw(st.integers(1, max_side))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2)), h, w)
    if draw(st.booleans()):
        kwargs = {"size": (draw(st.integers(1, 7)), draw(st.integers(1, 7)))}
    else:
        scales = [draw(st.sampled_from([0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0])) for _ in range(2)]
        scales = [max(s, 1.0 / n + 0.01) for s, n in zip(scales, (h, w))]  # at least one output pixel
        kwargs = {"scale_factor": tuple(scales)}
    return shape, mode, align, kwargs


def _resize(mode, align, kwargs):
    return lambda t: F.interpolate(t, mode=mode, align_corners=align, **kwargs)


@device_settings(0.6)
@given(case=resize_cases())
def test_interpolate_gradcheck_float64(device, case):
    shape, mode, align, kwargs = case
    x = leaf(random_array(shape, seed=sum(shape)), device)
    minigan.gradcheck(_resize(mode, align, kwargs), x)


@device_settings(0.3)
@given(case=resize_cases(max_side=3))
def test_interpolate_gradgradcheck(device, case):
    shape, mode, align, kwargs = case
    minigan.gradgradcheck(_resize(mode, align, kwargs), leaf(random_array(shape, seed=1), device))


def test_linear_mode_on_3d_inputs_gradchecks(device):
    x = leaf(random_array((2, 3, 5), seed=2), device)
    for align in (False, True):
        minigan.gradcheck(lambda t: F.interpolate(t, size=8, mode="linear", align_corners=align), x)
        minigan.gradcheck(lambda t: F.interpolate(t, scale_factor=0.6, mode="linear", align_corners=align), x)
    minigan.gradcheck(lambda t: F.interpolate(t, scale_factor=2), x)  # nearest, the default


def test_nearest_upsampling_by_two_repeats_each_pixel(device):
    x = minigan.tensor(np.arange(4.0, dtype=np.float32).reshape(1, 1, 2, 2), device=device)
    expected = np.arange(4.0).reshape(2, 2).repeat(2, axis=0).repeat(2, axis=1)
    np.testing.assert_array_equal(F.interpolate(x, scale_factor=2).numpy()[0, 0], expected)
    np.testing.assert_array_equal(nn.Upsample(scale_factor=2)(x).numpy()[0, 0], expected)
    assert F.interpolate(x, scale_factor=2).dtype == np.float32  # float32 in, float32 out


def test_bilinear_with_aligned_corners_keeps_the_corners_and_interpolates_between(device):
    x = minigan.tensor(np.array([[[[0.0, 3.0], [6.0, 9.0]]]]), device=device)
    y = F.interpolate(x, size=(3, 4), mode="bilinear", align_corners=True).numpy()[0, 0]
    np.testing.assert_allclose(y, [[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9]], rtol=1e-15, atol=1e-15)


def test_output_sizes_are_floor_of_in_times_scale():
    x = minigan.zeros(1, 1, 5, 7)
    assert F.interpolate(x, scale_factor=1.5).shape == (1, 1, 7, 10)
    assert F.interpolate(x, scale_factor=(0.5, 2)).shape == (1, 1, 2, 14)
    assert F.interpolate(x, size=3).shape == (1, 1, 3, 3)
    assert nn.Upsample(size=(32, 32), mode="bilinear")(minigan.zeros(2, 1, 28, 28)).shape == (2, 1, 32, 32)


@pytest.mark.parametrize("call, error, message", [
    (lambda x: F.interpolate(x), ValueError, "either size or scale_factor"),
    (lambda x: F.interpolate(x, size=4, scale_factor=2), ValueError, "only one of size or scale_factor"),
    (lambda x: F.interpolate(x, scale_factor=2, mode="bicubic"), NotImplementedError, "bicubic"),
    (lambda x: F.interpolate(x, scale_factor=2, align_corners=True), ValueError, "align_corners"),
    (lambda x: F.interpolate(x[0], scale_factor=2, mode="bilinear"), NotImplementedError, "3D input"),
    (lambda x: F.interpolate(x, scale_factor=(2,)), ValueError, "scale_factor"),
    (lambda x: F.interpolate(x, scale_factor=0.1), RuntimeError, "greater than 0"),
    (lambda x: F.interpolate(x.long(), scale_factor=2), TypeError, "int64"),
    (lambda x: F.interpolate(x.numpy(), scale_factor=2), TypeError, "ndarray"),
])
def test_bad_calls_raise_naming_what_is_wrong(call, error, message):
    with pytest.raises(error, match=message):
        call(minigan.zeros(1, 1, 3, 3))


def test_upsample_is_deprecated_for_interpolate_as_in_pytorch():
    with pytest.warns(UserWarning, match="upsample` is deprecated"):
        y = F.upsample(minigan.ones(1, 1, 2, 2), scale_factor=2)
    assert y.shape == (1, 1, 4, 4)


def test_upsample_repr_is_pytorchs():
    assert repr(nn.Upsample(scale_factor=2)) == "Upsample(scale_factor=2.0, mode='nearest')"
    assert repr(nn.Upsample(size=(4, 5), mode="bilinear")) == "Upsample(size=(4, 5), mode='bilinear')"


# -- against PyTorch -------------------------------------------------------------------------------
def _both(torch, x, g, mode, align, kwargs):
    """(minigan output, minigan dx, torch output, torch dx) for one resize of x, upstream g."""
    mx, tx = minigan.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    my = F.interpolate(mx, mode=mode, align_corners=align, **kwargs)
    ty = torch.nn.functional.interpolate(tx, mode=mode, align_corners=align, **kwargs)
    my.backward(minigan.tensor(g))
    ty.backward(torch.from_numpy(g))
    return my.numpy(), mx.grad.numpy(), ty.detach().numpy(), tx.grad.numpy()


def _compare(torch, x, mode, align, kwargs, rng):
    """Values and gradients within the bounds of their sums (assert_sums_close): the weights are
    non-negative, so the same resize of |x| (and backward of |g|) gives the magnitudes. Terms: the
    taps (at most every output pixel, for a gradient), plus PyTorch's weights, which it computes by
    another route: its source coordinate (o + 1/2) in/out - 1/2 carries a rounding relative to
    the coordinate itself, up to the largest side, on a weight in [0, 1]."""
    out_shape = F.interpolate(minigan.tensor(x), mode=mode, align_corners=align, **kwargs).shape
    g = rng.standard_normal(out_shape).astype(x.dtype)
    mine, my_dx, theirs, their_dx = _both(torch, x, g, mode, align, kwargs)
    assert mine.shape == theirs.shape and mine.dtype == theirs.dtype
    _, magnitude_dx, magnitude, _ = _both(torch, np.abs(x), np.abs(g), mode, align, kwargs)
    weights = 2 * max(x.shape[2:] + out_shape[2:])
    assert_sums_close(mine, theirs, magnitude, 4 + weights, x.dtype, "forward")
    taps = int(np.prod(out_shape[2:]))
    assert_sums_close(my_dx, their_dx, magnitude_dx, taps + weights, x.dtype, "gradient")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@device_settings(0.6)
@given(case=resize_cases(max_side=9))
def test_values_and_gradients_match_pytorch(dtype, case):
    torch = pytest.importorskip("torch", reason="PyTorch is the oracle here and is not installed")
    shape, mode, align, kwargs = case
    rng = np.random.default_rng(sum(shape))
    _compare(torch, rng.standard_normal(shape).astype(dtype), mode, align, kwargs, rng)


@pytest.mark.parametrize("mode, align", MODES_2D)
@pytest.mark.parametrize("kwargs", [{"size": 32}, {"size": 64}, {"scale_factor": 2}, {"scale_factor": 3}],
                         ids=["32", "64", "x2", "x3"])
def test_mnist_sizes_match_pytorch(mode, align, kwargs):
    torch = pytest.importorskip("torch", reason="PyTorch is the oracle here and is not installed")
    rng = np.random.default_rng(0)
    _compare(torch, rng.uniform(-1, 1, (2, 1, 28, 28)).astype(np.float32), mode, align, kwargs, rng)
