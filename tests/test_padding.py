"""F.pad in its four modes (constant, reflect, replicate, circular) and the padding layers:
values against each mode's index rule written out here, float64 gradients against finite
differences and second derivatives under Hypothesis, the adjoint identity of pad and its
fold, PyTorch's values, gradients, output sizes and error texts, and no host transfers."""
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigan
import minigan.nn as nn
from minigan import functional as F
from minigan import sim

from helpers import arrays, assert_matches, device_settings, leaf, small_shapes

TORCH_REASON = "PyTorch is the oracle here and is not installed"
MODES = ["constant", "reflect", "replicate", "circular"]


def _source(i: np.ndarray, n: int, mode: str) -> np.ndarray:
    """The input index copied to position i (counted from the first input pixel) of an axis of n."""
    if mode == "reflect":  # mirrored about pixels 0 and n - 1, which are not repeated
        return np.where(i < 0, -i, np.where(i > n - 1, 2 * (n - 1) - i, i))
    if mode == "replicate":
        return np.clip(i, 0, n - 1)
    return i % n  # circular


def expected_pad(x: np.ndarray, pad, mode: str, value: float = 0.0) -> np.ndarray:
    """Each mode's rule, axis by axis: take the source pixel of each output pixel, or ``value``."""
    out = x
    for k in range(len(pad) // 2):
        axis, before, after = x.ndim - 1 - k, pad[2 * k], pad[2 * k + 1]
        n = out.shape[axis]
        positions = np.arange(-before, n + after)
        if mode == "constant":
            inside = (positions >= 0) & (positions < n)
            taken = np.take(out, np.clip(positions, 0, n - 1), axis=axis)
            shape = [1] * out.ndim
            shape[axis] = len(positions)
            out = np.where(inside.reshape(shape), taken, value)
        else:
            out = np.take(out, _source(positions, n, mode), axis=axis)
    return out


@st.composite
def pad_cases(draw, modes=MODES, max_side=4, max_width=3):
    """(shape, pad, mode): a mode's legal call, widths from 0 to the most the mode allows."""
    mode = draw(st.sampled_from(modes))
    if mode == "constant":
        shape = draw(small_shapes(min_dims=1))
        axes = draw(st.integers(0, len(shape)))
    else:  # the last 1-3 axes of a tensor with one or two more
        axes = draw(st.integers(1, 3))
        shape = tuple(draw(st.integers(1, 2)) for _ in range(draw(st.integers(1, 2)))) + tuple(
            draw(st.integers(2 if mode == "reflect" else 1, max_side)) for _ in range(axes))
    pad = []
    for k in range(axes):
        n = shape[len(shape) - 1 - k]
        most = {"reflect": n - 1, "circular": n}.get(mode, max_width)
        pad += [draw(st.integers(0, min(most, max_width))) for _ in range(2)]
    return shape, tuple(pad), mode


# -- values -------------------------------------------------------------------------------------
@pytest.mark.op_pad
@device_settings()
@given(case=pad_cases(), data=st.data(), value=st.floats(-2.0, 2.0))
def test_pad_values_follow_each_modes_index_rule(device, case, data, value):
    shape, pad, mode = case
    x = data.draw(arrays(shape), label="x")
    fill = value if mode == "constant" else None
    assert_matches(F.pad(leaf(x, device, requires_grad=False), pad, mode, fill), expected_pad(x, pad, mode, value),
                   rtol=0, atol=0)


@pytest.mark.op_pad
def test_pad_by_hand_on_one_row(device):
    x = minigan.tensor(np.arange(4.0).reshape(1, 1, 4), device=device)
    expected = {"reflect": [3, 2, 1, 0, 1, 2, 3, 2, 1], "replicate": [0, 0, 0, 0, 1, 2, 3, 3, 3],
                "circular": [1, 2, 3, 0, 1, 2, 3, 0, 1], "constant": [0, 0, 0, 0, 1, 2, 3, 0, 0]}
    for mode, row in expected.items():
        np.testing.assert_array_equal(F.pad(x, (3, 2), mode).numpy()[0, 0], row, err_msg=mode)
    np.testing.assert_array_equal(F.pad(x, (1, 1), value=-1.0).numpy()[0, 0], [-1, 0, 1, 2, 3, -1])


@pytest.mark.op_pad
def test_pad_keeps_float32_and_pads_integers_too():
    x = minigan.tensor(np.arange(6, dtype=np.float32).reshape(1, 2, 3))
    assert F.pad(x, (1, 1), "reflect").dtype == np.float32
    ints = minigan.tensor(np.arange(6).reshape(1, 2, 3))
    np.testing.assert_array_equal(F.pad(ints, (1, 2, 1, 0), "replicate").numpy(),
                                  expected_pad(ints.numpy(), (1, 2, 1, 0), "replicate"))


# -- gradients ------------------------------------------------------------------------------------
@pytest.mark.op_pad
@device_settings(0.6)
@given(case=pad_cases(), data=st.data())
def test_pad_gradcheck_float64(device, case, data):
    shape, pad, mode = case
    minigan.gradcheck(lambda t: F.pad(t, pad, mode), leaf(data.draw(arrays(shape), label="x"), device))


@pytest.mark.op_pad
@device_settings()
@given(case=pad_cases(max_side=5), data=st.data())
def test_pad_gradient_is_its_adjoint(device, case, data):
    """<pad(x), g> = <x, dpad^T g> for every x and g: the gradient adds each border pixel's
    gradient onto the pixel it copied (here checked with the rule written out above)."""
    shape, pad, mode = case
    x = leaf(data.draw(arrays(shape), label="x"), device)
    g = data.draw(arrays(expected_pad(np.zeros(shape), pad, mode).shape), label="g")
    (gx,) = minigan.grad((F.pad(x, pad, mode) * minigan.tensor(g, device=device)).sum(), [x])
    expected = np.zeros(shape)  # every output pixel's gradient onto its source pixel
    index = expected_pad(np.arange(expected.size).reshape(shape), pad, mode, value=-1)
    np.add.at(expected.reshape(-1), index[index >= 0], g[index >= 0])
    np.testing.assert_allclose(gx.numpy(), expected, rtol=1e-13, atol=1e-13)


@pytest.mark.op_pad
@device_settings(0.2)
@given(case=pad_cases(max_side=3, max_width=2), data=st.data())
def test_pad_gradgradcheck(device, case, data):
    shape, pad, mode = case
    minigan.gradgradcheck(lambda t: F.pad(t, pad, mode) ** 2, leaf(data.draw(arrays(shape), label="x"), device))


@pytest.mark.op_pad
def test_pad_on_sim_makes_no_host_transfers():
    x = minigan.randn(2, 3, 4, 5, device="sim", requires_grad=True)
    sim.reset_transfers()
    y = sum((F.pad(x, (2, 1, 1, 3), mode) ** 2).sum() for mode in MODES)
    minigan.grad(y, x, create_graph=True)[0].sum().backward()
    assert sim.transfers == {"to_host": 0, "to_device": 0}
    assert x.grad.shape == x.shape


# -- layers ---------------------------------------------------------------------------------------
def test_padding_layers_pad_as_f_pad():
    x = minigan.randn(2, 1, 4, 5)
    for layer, mode in [(nn.ReflectionPad2d((1, 2, 3, 0)), "reflect"), (nn.ReplicationPad2d((1, 2, 3, 0)), "replicate"),
                        (nn.ZeroPad2d((1, 2, 3, 0)), "constant")]:
        np.testing.assert_array_equal(layer(x).numpy(), F.pad(x, (1, 2, 3, 0), mode).numpy())
    np.testing.assert_array_equal(nn.ConstantPad2d(1, 0.5)(x).numpy(), F.pad(x, (1, 1, 1, 1), value=0.5).numpy())
    np.testing.assert_array_equal(nn.ReflectionPad1d(2)(x[:, 0]).numpy(), F.pad(x[:, 0], (2, 2), "reflect").numpy())
    assert nn.ReflectionPad2d(3)(x).shape == (2, 1, 10, 11)
    assert list(nn.ReflectionPad2d(1).state_dict()) == []


@pytest.mark.parametrize("layer", [lambda: nn.ReflectionPad2d(-1.5), lambda: nn.ReplicationPad2d((1, 2, 3)),
                                   lambda: nn.ZeroPad1d((1, 2, 3, 4))])
def test_padding_layers_refuse_bad_widths_when_built(layer):
    with pytest.raises(ValueError, match=r"Pad[12]d: padding must be an int or [24] ints"):
        layer()


# -- errors ---------------------------------------------------------------------------------------
def _raises(error, message):
    return pytest.raises(error, match=re.escape(message))


def test_non_constant_modes_pad_only_the_last_one_to_three_axes_of_a_batch_or_image():
    with _raises(NotImplementedError, "pad: Padding size 2 is not supported for 4D input tensor"):
        F.pad(minigan.zeros(1, 1, 3, 3), (1, 1), "reflect")
    with _raises(NotImplementedError, "pad: Padding size 2 is not supported for 1D input tensor"):
        F.pad(minigan.zeros(3), (1, 1), "replicate")
    assert F.pad(minigan.zeros(1, 1, 3, 3), (1, 1), "constant").shape == (1, 1, 3, 5)  # constant: any axes


def test_reflection_wider_than_the_side_and_wrapping_twice_are_refused():
    with _raises(RuntimeError, "pad: Padding size should be less than the corresponding input dimension, but got: "
                               "padding (3, 3) at dimension 3 of input [1, 1, 3, 3]"):
        F.pad(minigan.zeros(1, 1, 3, 3), (3, 3, 0, 0), "reflect")
    with _raises(RuntimeError, "pad: Padding value causes wrapping around more than once"):
        F.pad(minigan.zeros(1, 2, 1, 3), (1, 1, 2, 0), "circular")
    with _raises(RuntimeError, "pad: mode 'replicate' cannot pad axis 2 of size 0"):
        F.pad(minigan.zeros(1, 2, 0, 3), (1, 1, 1, 1), "replicate")


def test_bad_modes_and_values_are_refused_naming_them():
    x = minigan.zeros(1, 2, 3)
    with _raises(NotImplementedError, "pad: Unrecognised padding mode 'foo'"):
        F.pad(x, (1, 1), "foo")
    with _raises(TypeError, "pad: mode must be a string (constant, reflect, replicate, circular), got 0.5"):
        F.pad(x, (1, 1), 0.5)  # PyTorch's third argument is the mode, not the fill value
    with _raises(RuntimeError, "pad: Padding mode \"replicate\" doesn't take in value argument (got value=2.0)"):
        F.pad(x, (1, 1), "replicate", 2.0)
    assert F.pad(x, (1, 1), "reflect", 0).shape == (1, 2, 5)  # a zero value is accepted, as PyTorch does
    with _raises(TypeError, "pad: value must be a real number, got 'a'"):
        F.pad(x, (1, 1), value="a")


@pytest.mark.parametrize("widths", [(1,), (1, 2, 3), (1, -1), (1, 1, 1, 1, 1, 1)])
def test_pad_refuses_bad_widths(widths):
    with pytest.raises(ValueError, match=r"pad: expected an even number of non-negative widths for at most 2 "
                                         rf"axes, got \({', '.join(map(str, widths))},?\)"):
        F.pad(minigan.ones(2, 3), widths)


def test_a_refused_pad_records_nothing():
    x = minigan.ones(1, 1, 2, requires_grad=True)
    with pytest.raises(RuntimeError):
        F.pad(x, (2, 0), "reflect")
    assert x.grad is None and x.creator is None


# -- against PyTorch ------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@device_settings(0.6)
@given(case=pad_cases(max_side=6, max_width=5), data=st.data())
def test_values_gradients_and_shapes_match_pytorch(dtype, case, data):
    torch = pytest.importorskip("torch", reason=TORCH_REASON)
    shape, pad, mode = case
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    x = rng.standard_normal(shape).astype(dtype)
    mx, tx = minigan.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    my, ty = F.pad(mx, pad, mode), torch.nn.functional.pad(tx, pad, mode)
    assert my.shape == tuple(ty.shape) and my.dtype == x.dtype
    np.testing.assert_array_equal(my.numpy(), ty.detach().numpy())  # copies: exact
    g = rng.integers(-8, 8, my.shape).astype(dtype)  # small integers: every sum of them is exact in float32
    my.backward(minigan.tensor(g))
    ty.backward(torch.from_numpy(g))
    np.testing.assert_array_equal(mx.grad.numpy(), tx.grad.numpy())


def test_layers_match_pytorchs_reprs():
    torch = pytest.importorskip("torch", reason=TORCH_REASON)
    for args in [("ReflectionPad2d", 2), ("ReflectionPad2d", (1, 2, 3, 4)), ("ReplicationPad2d", 1),
                 ("ZeroPad2d", (0, 1, 2, 3)), ("ConstantPad2d", 1, 0.5), ("ReflectionPad1d", 2),
                 ("ReplicationPad1d", (1, 2)), ("ConstantPad1d", 2, 1.0), ("ZeroPad1d", 3)]:
        name, *rest = args
        assert repr(getattr(nn, name)(*rest)) == repr(getattr(torch.nn, name)(*rest))
