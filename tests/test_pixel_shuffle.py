"""F.pixel_shuffle / F.pixel_unshuffle and nn.PixelShuffle / nn.PixelUnshuffle: values against
the index rule written out here, each the other's inverse, float64 gradients and second
derivatives under Hypothesis, PyTorch's values, gradients, shapes and error texts."""
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigan
import minigan.nn as nn
from minigan import functional as F
from minigan import sim

from helpers import arrays, assert_matches, device_settings, leaf

TORCH_REASON = "PyTorch is the oracle here and is not installed"


@st.composite
def shuffle_cases(draw, max_factor=3, max_side=3):
    """(shape of the shuffled input (..., C r^2, H, W), r), with 0-2 leading axes."""
    r = draw(st.integers(1, max_factor))
    lead = tuple(draw(st.integers(1, 2)) for _ in range(draw(st.integers(0, 2))))
    c, h, w = draw(st.integers(1, 2)), draw(st.integers(1, max_side)), draw(st.integers(1, max_side))
    return lead + (c * r * r, h, w), r


def expected_shuffle(x: np.ndarray, r: int) -> np.ndarray:
    """out[..., c, r y + i, r x + j] = x[..., c r^2 + i r + j, y, x], one (i, j) at a time."""
    *lead, channels, h, w = x.shape
    out = np.empty(tuple(lead) + (channels // (r * r), h * r, w * r), dtype=x.dtype)
    for i in range(r):
        for j in range(r):
            out[..., i::r, j::r] = x[..., i * r + j::r * r, :, :]
    return out


# -- values ---------------------------------------------------------------------------------------
@pytest.mark.op_pixel_shuffle
@device_settings()
@given(case=shuffle_cases(), data=st.data())
def test_pixel_shuffle_moves_each_channel_to_its_pixel(device, case, data):
    shape, r = case
    x = data.draw(arrays(shape), label="x")
    assert_matches(F.pixel_shuffle(leaf(x, device, requires_grad=False), r), expected_shuffle(x, r), rtol=0, atol=0)


@pytest.mark.op_pixel_shuffle
@device_settings()
@given(case=shuffle_cases(), data=st.data())
def test_pixel_unshuffle_undoes_pixel_shuffle_and_back(device, case, data):
    shape, r = case
    x = data.draw(arrays(shape), label="x")
    shuffled = expected_shuffle(x, r)
    assert_matches(F.pixel_unshuffle(leaf(shuffled, device, requires_grad=False), r), x, rtol=0, atol=0)
    t = leaf(shuffled, device, requires_grad=False)
    assert_matches(F.pixel_shuffle(F.pixel_unshuffle(t, r), r), shuffled, rtol=0, atol=0)


@pytest.mark.op_pixel_shuffle
def test_pixel_shuffle_by_hand(device):
    x = minigan.tensor(np.arange(8.0).reshape(1, 8, 1, 1), device=device)  # two groups of four channels
    np.testing.assert_array_equal(F.pixel_shuffle(x, 2).numpy(), [[[[0, 1], [2, 3]], [[4, 5], [6, 7]]]])
    np.testing.assert_array_equal(nn.PixelShuffle(2)(x).numpy(), F.pixel_shuffle(x, 2).numpy())
    np.testing.assert_array_equal(nn.PixelUnshuffle(2)(nn.PixelShuffle(2)(x)).numpy(), x.numpy())
    assert F.pixel_shuffle(minigan.zeros(2, 9, 14, 14), 3).shape == (2, 1, 42, 42)
    assert F.pixel_shuffle(minigan.zeros(3, 4, 2, 2), 1).shape == (3, 4, 2, 2)


# -- gradients ------------------------------------------------------------------------------------
@pytest.mark.op_pixel_shuffle
@device_settings(0.6)
@given(case=shuffle_cases(), data=st.data())
def test_pixel_shuffle_and_unshuffle_gradcheck_float64(device, case, data):
    shape, r = case
    x = leaf(data.draw(arrays(shape), label="x"), device)
    minigan.gradcheck(lambda t: F.pixel_shuffle(t, r), x)
    minigan.gradcheck(lambda t: F.pixel_unshuffle(t, r), leaf(expected_shuffle(x.numpy(), r), device))


@pytest.mark.op_pixel_shuffle
@device_settings(0.2)
@given(case=shuffle_cases(max_factor=2, max_side=2), data=st.data())
def test_pixel_shuffle_gradgradcheck(device, case, data):
    shape, r = case
    x = leaf(data.draw(arrays(shape), label="x"), device)
    minigan.gradgradcheck(lambda t: F.pixel_shuffle(t, r) ** 2, x)
    minigan.gradgradcheck(lambda t: F.pixel_unshuffle(t, r) ** 2, leaf(expected_shuffle(x.numpy(), r), device))


@pytest.mark.op_pixel_shuffle
def test_pixel_shuffle_on_sim_makes_no_host_transfers():
    x = minigan.randn(2, 8, 3, 3, device="sim", requires_grad=True)
    sim.reset_transfers()
    y = (F.pixel_unshuffle(F.pixel_shuffle(x, 2) ** 2, 2) ** 2).sum()
    minigan.grad(y, x, create_graph=True)[0].sum().backward()
    assert sim.transfers == {"to_host": 0, "to_device": 0}


# -- errors ---------------------------------------------------------------------------------------
def _raises(error, message):
    return pytest.raises(error, match=re.escape(message))


def test_bad_calls_raise_pytorchs_errors():
    with _raises(RuntimeError, "pixel_shuffle expects its input's 'channel' dimension to be divisible by the square "
                               "of upscale_factor, but input.size(-3)=3 is not divisible by 4"):
        F.pixel_shuffle(minigan.zeros(1, 3, 2, 2), 2)
    with _raises(RuntimeError, "pixel_shuffle expects input to have at least 3 dimensions, but got input with 2"):
        F.pixel_shuffle(minigan.zeros(4, 2), 2)
    with _raises(RuntimeError, "pixel_shuffle expects a positive upscale_factor, but got 0"):
        F.pixel_shuffle(minigan.zeros(1, 4, 2, 2), 0)
    with _raises(TypeError, "pixel_shuffle: argument 'upscale_factor' must be int, not float"):
        F.pixel_shuffle(minigan.zeros(1, 4, 2, 2), 2.0)
    with _raises(RuntimeError, "pixel_unshuffle expects height to be divisible by downscale_factor, but "
                               "input.size(-2)=3 is not divisible by 2"):
        F.pixel_unshuffle(minigan.zeros(2, 4, 3, 2), 2)
    with _raises(RuntimeError, "pixel_unshuffle expects width to be divisible by downscale_factor"):
        F.pixel_unshuffle(minigan.zeros(2, 4, 2, 3), 2)
    with _raises(TypeError, "pixel_unshuffle: expected a Tensor, got ndarray"):
        F.pixel_unshuffle(np.zeros((1, 1, 2, 2)), 2)


# -- against PyTorch ------------------------------------------------------------------------------
@device_settings(0.6)
@given(case=shuffle_cases(max_factor=4, max_side=5), data=st.data())
def test_values_and_gradients_match_pytorch(case, data):
    torch = pytest.importorskip("torch", reason=TORCH_REASON)
    shape, r = case
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    for mine, theirs, x in [(F.pixel_shuffle, torch.nn.functional.pixel_shuffle, rng.standard_normal(shape)),
                            (F.pixel_unshuffle, torch.nn.functional.pixel_unshuffle,
                             rng.standard_normal(shape[:-3] + (shape[-3] // (r * r), shape[-2] * r, shape[-1] * r)))]:
        mx, tx = minigan.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        my, ty = mine(mx, r), theirs(tx, r)
        assert my.shape == tuple(ty.shape)
        np.testing.assert_array_equal(my.numpy(), ty.detach().numpy())
        g = rng.standard_normal(my.shape)
        my.backward(minigan.tensor(g))
        ty.backward(torch.from_numpy(g))
        np.testing.assert_array_equal(mx.grad.numpy(), tx.grad.numpy())


def test_layers_match_pytorchs_reprs():
    torch = pytest.importorskip("torch", reason=TORCH_REASON)
    assert repr(nn.PixelShuffle(2)) == repr(torch.nn.PixelShuffle(2))
    assert repr(nn.PixelUnshuffle(3)) == repr(torch.nn.PixelUnshuffle(3))
