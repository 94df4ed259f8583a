"""Activations: gradients (first and second order), forward values, kinks, extremes, errors."""
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigan
from minigan import functional as F

from helpers import arrays, device_settings, gamma, leaf, op_params, shapes

# Each smooth activation with an independent float64 NumPy formula for its forward values.
SMOOTH = {
    "sigmoid": (F.sigmoid, lambda x: 1 / (1 + np.exp(-x))),
    "tanh": (F.tanh, lambda x: np.expm1(2 * x) / (np.exp(2 * x) + 1)),
    "softplus": (F.softplus, lambda x: np.log1p(np.exp(x))),
    "logsigmoid": (F.logsigmoid, lambda x: -np.log1p(np.exp(-x))),
}
TASK_OF = {"logsigmoid": "softplus"}  # the course task each activation tests
SOFTMAX_FAMILY = op_params(["softmax", "log_softmax"], values={"softmax": F.softmax, "log_softmax": F.log_softmax})
SLOPES = st.floats(0.0, 1.0).filter(lambda s: s != 1.0) | st.sampled_from([0.01, 0.2])


# -- first derivatives ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", op_params(sorted(SMOOTH), TASK_OF))
@device_settings()
@given(data=st.data())
def test_smooth_activation_gradcheck(device, name, data):
    op, _ = SMOOTH[name]
    x = leaf(data.draw(arrays(data.draw(shapes()), low=-4.0, high=4.0)), device)
    minigan.gradcheck(op, x)


@pytest.mark.op_relu
@device_settings()
@given(data=st.data())
def test_relu_gradcheck_away_from_the_kink(device, data):
    x = leaf(data.draw(arrays(data.draw(shapes()), away_from=(0.0,))), device)
    minigan.gradcheck(F.relu, x)


@pytest.mark.op_leaky_relu
@device_settings()
@given(data=st.data(), slope=SLOPES)
def test_leaky_relu_gradcheck_away_from_the_kink(device, data, slope):
    x = leaf(data.draw(arrays(data.draw(shapes()), away_from=(0.0,))), device)
    minigan.gradcheck(lambda t: F.leaky_relu(t, slope), x)


@pytest.mark.parametrize("op", SOFTMAX_FAMILY)
@device_settings()
@given(data=st.data())
def test_softmax_family_gradcheck_along_any_axis(device, op, data):
    shape = data.draw(shapes(min_dims=1))
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = leaf(data.draw(arrays(shape, low=-3.0, high=3.0)), device)
    minigan.gradcheck(lambda t: op(t, axis), x)


# -- kinks, by hand -----------------------------------------------------------------------------------
@pytest.mark.op_relu
def test_relu_derivative_at_zero_is_zero_like_pytorch(device):
    x = leaf([-1.0, 0.0, 2.0], device)
    y = F.relu(x)
    y.sum().backward()
    np.testing.assert_array_equal(y.numpy(), [0.0, 0.0, 2.0])
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 1.0])


@pytest.mark.op_leaky_relu
@pytest.mark.parametrize("slope", [0.01, 0.2, 0.0])
def test_leaky_relu_derivative_at_zero_is_the_negative_slope(device, slope):
    x = leaf([-2.0, 0.0, 3.0], device)
    y = F.leaky_relu(x, slope)
    y.sum().backward()
    np.testing.assert_array_equal(y.numpy(), [-2.0 * slope, 0.0, 3.0])
    np.testing.assert_array_equal(x.grad.numpy(), [slope, slope, 1.0])


# -- second derivatives (the WGAN-GP path) ----------------------------------------------------------------
@pytest.mark.parametrize("name", op_params(["sigmoid", "tanh", "softplus", "logsigmoid"], TASK_OF))
@device_settings(0.4)
@given(data=st.data())
def test_smooth_activation_gradgradcheck(device, name, data):
    op, _ = SMOOTH[name]
    x = leaf(data.draw(arrays(data.draw(shapes(max_dims=2)), low=-3.0, high=3.0)), device)
    minigan.gradgradcheck(op, x)


@pytest.mark.op_relu
@pytest.mark.op_leaky_relu
@device_settings(0.4)
@given(data=st.data(), slope=SLOPES)
def test_relu_and_leaky_relu_gradgradcheck(device, data, slope):
    x = leaf(data.draw(arrays(data.draw(shapes(max_dims=2)), away_from=(0.0,))), device)
    minigan.gradgradcheck(F.relu, x)
    minigan.gradgradcheck(lambda t: F.leaky_relu(t, slope), x)


@pytest.mark.parametrize("op", SOFTMAX_FAMILY)
@device_settings(0.2)
@given(data=st.data())
def test_softmax_family_gradgradcheck(device, op, data):
    x = leaf(data.draw(arrays(data.draw(shapes(min_dims=1, max_dims=2)))), device)
    minigan.gradgradcheck(lambda t: op(t, -1), x)


@pytest.mark.op_tanh
def test_second_derivative_of_tanh_by_hand(device):
    x = leaf([-0.7, 0.0, 1.3], device)
    (g,) = minigan.grad(F.tanh(x).sum(), x, create_graph=True)
    (gg,) = minigan.grad(g.sum(), x)
    t = np.tanh([-0.7, 0.0, 1.3])
    np.testing.assert_allclose(gg.numpy(), -2 * t * (1 - t * t), rtol=1e-12)  # tanh'' = -2 tanh tanh'


# -- forward values ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", op_params(sorted(SMOOTH), TASK_OF))
@device_settings()
@given(data=st.data())
def test_smooth_activation_values(device, name, data):
    op, reference = SMOOTH[name]
    values = data.draw(arrays(data.draw(shapes()), low=-20.0, high=20.0))
    got, expected = op(leaf(values, device)).numpy(), reference(values)
    # Each formula rounds a few times, and these functions' condition numbers are at most |x| <= 20:
    # both are within gamma_8 (1 + |x|) of the exact value, relative to it or, for a small value
    # computed from terms of size 1 (sigmoid = (1 + tanh(x / 2)) / 2), relative to 1.
    bound = gamma(8, np.float64) * (1 + np.abs(values)) * np.maximum(np.abs(expected), 1.0)
    assert np.all(np.abs(got - expected) <= bound), f"{got} != {expected}"


@pytest.mark.op_relu
@pytest.mark.op_leaky_relu
@device_settings()
@given(data=st.data(), slope=SLOPES)
def test_relu_and_leaky_relu_values(device, data, slope):
    values = data.draw(arrays(data.draw(shapes())))
    x = leaf(values, device, requires_grad=False)
    np.testing.assert_array_equal(F.relu(x).numpy(), np.maximum(values, 0))
    np.testing.assert_allclose(F.leaky_relu(x, slope).numpy(), np.where(values > 0, values, slope * values))


def _log_softmax_reference(values, axis):
    """x - log(sum(exp(x))) along axis, shifted by the max so that it cannot overflow."""
    top = values.max(axis=axis, keepdims=True)
    return values - top - np.log(np.exp(values - top).sum(axis=axis, keepdims=True))


@pytest.mark.op_softmax
@pytest.mark.op_log_softmax
@device_settings()
@given(data=st.data())
def test_softmax_and_log_softmax_values(device, data):
    shape = data.draw(shapes(min_dims=1))
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    values = data.draw(arrays(shape, low=-50.0, high=50.0))
    x = leaf(values, device, requires_grad=False)
    expected = _log_softmax_reference(values, axis)
    np.testing.assert_allclose(F.log_softmax(x, axis).numpy(), expected, rtol=1e-10, atol=1e-10)
    probs = F.softmax(x, axis).numpy()
    np.testing.assert_allclose(probs, np.exp(expected), rtol=1e-10)
    np.testing.assert_allclose(probs.sum(axis=axis), 1.0, rtol=1e-12)


@pytest.mark.op_softmax
@pytest.mark.op_log_softmax
def test_without_an_axis_pytorchs_implicit_choice_is_made_with_its_warning(device):
    values = np.arange(24.0).reshape(2, 3, 4)
    for shape, axis in (((24,), 0), ((4, 6), 1), ((2, 3, 4), 0), ((1, 2, 3, 4), 1)):  # PyTorch's rule
        x = leaf(values.reshape(shape), device, requires_grad=False)
        expected = _log_softmax_reference(values.reshape(shape), axis)
        with pytest.warns(UserWarning, match=f"Implicit dimension choice for softmax.*dim={axis}"):
            np.testing.assert_allclose(F.softmax(x).numpy(), np.exp(expected))
        with pytest.warns(UserWarning, match=f"Implicit dimension choice for log_softmax.*dim={axis}"):
            np.testing.assert_allclose(x.log_softmax().numpy(), expected)
    x = leaf(values, device, requires_grad=False)
    np.testing.assert_allclose(F.softmax(x, dim=2).numpy(), F.softmax(x, axis=-1).numpy())
    with pytest.raises(TypeError, match="softmax: got both dim=1 .* and axis=2"):
        F.softmax(x, 2, dim=1)


# -- extremes: float32, no overflow, exact limits -------------------------------------------------------
@pytest.mark.op_sigmoid
@pytest.mark.op_softplus
@pytest.mark.op_tanh
def test_activations_are_finite_and_exact_at_extreme_float32_inputs(device):
    x = minigan.tensor(np.array([-1e4, -100.0, 0.0, 100.0, 1e4], dtype=np.float32), device=device)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow inside exp would warn
        sig, soft, logsig = F.sigmoid(x).numpy(), F.softplus(x).numpy(), F.logsigmoid(x).numpy()
        tanh = F.tanh(x).numpy()
    assert sig.dtype == soft.dtype == logsig.dtype == tanh.dtype == np.float32
    np.testing.assert_array_equal(sig[[0, 2, 4]], [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(soft[[0, 4]], [0.0, 1e4])
    np.testing.assert_array_equal(logsig[[0, 4]], [-1e4, 0.0])
    np.testing.assert_array_equal(tanh[[0, 2, 4]], [-1.0, 0.0, 1.0])


@pytest.mark.op_sigmoid
@pytest.mark.op_softplus
@pytest.mark.op_tanh
def test_activation_gradients_are_finite_at_extreme_float32_inputs(device):
    # the exact limits: sigmoid' and tanh' vanish, softplus' = sigmoid, logsigmoid' = 1 - sigmoid
    limits = {F.sigmoid: [0.0, 0.0], F.tanh: [0.0, 0.0], F.softplus: [0.0, 1.0], F.logsigmoid: [1.0, 0.0]}
    for op, limit in limits.items():
        x = minigan.tensor(np.array([-1e4, 1e4], dtype=np.float32), requires_grad=True, device=device)
        op(x).sum().backward()
        assert np.isfinite(x.grad.numpy()).all(), op.__name__
        np.testing.assert_array_equal(x.grad.numpy(), limit, err_msg=op.__name__)
    x = minigan.tensor(np.array([-1e4, 1e4], dtype=np.float32), requires_grad=True, device=device)
    F.softplus(x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 1.0])  # softplus' = sigmoid


@pytest.mark.op_softmax
@pytest.mark.op_log_softmax
def test_softmax_of_huge_logits_is_finite(device):
    x = minigan.tensor(np.array([[1e4, 0.0, -1e4]], dtype=np.float32), device=device)
    np.testing.assert_array_equal(F.softmax(x, dim=1).numpy(), [[1.0, 0.0, 0.0]])
    np.testing.assert_array_equal(F.log_softmax(x, dim=1).numpy(), [[0.0, -1e4, -2e4]])


def test_float32_in_float32_out(device):
    x = minigan.tensor(np.array([-1.0, 0.5], dtype=np.float32), device=device)
    for op in (F.relu, F.leaky_relu, F.sigmoid, F.tanh, F.softplus, F.logsigmoid, F.softmax, F.log_softmax):
        assert (op(x, dim=0) if "softmax" in op.__name__ else op(x)).dtype == np.float32, op.__name__


# -- errors -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["relu", "leaky_relu", "sigmoid", "tanh", "softplus", "logsigmoid",
                                  "softmax", "log_softmax"])
def test_bad_inputs_raise_naming_the_op(name):
    op = getattr(F, name)
    with pytest.raises(TypeError, match=f"{name}: expected a Tensor, got ndarray"):
        op(np.ones(3))
    with pytest.raises(TypeError, match=f"{name}: expected a floating-point tensor, got int64"):
        op(minigan.tensor([1, 2]))


@pytest.mark.parametrize("op", [F.softmax, F.log_softmax], ids=["softmax", "log_softmax"])
def test_softmax_axis_out_of_range_raises(op):
    name = op.__name__
    with pytest.raises(ValueError, match=f"{name}: axis 2 is out of range for a tensor with 2 dimensions"):
        op(minigan.zeros(2, 3), axis=2)
