"""batch_norm (training and evaluation, running statistics) and dropout."""
import re

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import minigan
from minigan import functional as F
from minigan import sim

from helpers import arrays, device_settings, leaf

EPS = 1e-5


@st.composite
def batch_norm_shapes(draw, max_batch=3, max_channels=3, max_side=3):
    """(N, C) or (N, C, H, W) with at least two values per channel (training needs two)."""
    n, c = draw(st.integers(1, max_batch)), draw(st.integers(1, max_channels))
    spatial = draw(st.sampled_from([(), None]))
    if spatial is None:
        spatial = (draw(st.integers(1, max_side)), draw(st.integers(1, max_side)))
    shape = (n, c) + spatial
    assume(n * int(np.prod(spatial)) >= 2)
    return shape


def _stat_axes(shape):
    return (0,) + tuple(range(2, len(shape)))


def _per_channel(values, ndim):
    """A (C,) array shaped to broadcast against (N, C) or (N, C, H, W)."""
    return values.reshape((1, -1) + (1,) * (ndim - 2))


def _parameters(channels, seed, device, requires_grad=True):
    """weight in [0.5, 2], bias in [-1, 1], running_mean in [-1, 1], running_var in [0.5, 2]."""
    rng = np.random.default_rng(seed)
    weight = leaf(rng.uniform(0.5, 2.0, channels), device, requires_grad)
    bias = leaf(rng.uniform(-1.0, 1.0, channels), device, requires_grad)
    running_mean = leaf(rng.uniform(-1.0, 1.0, channels), device, requires_grad=False)
    running_var = leaf(rng.uniform(0.5, 2.0, channels), device, requires_grad=False)
    return weight, bias, running_mean, running_var


# -- batch_norm: gradients -----------------------------------------------------------------------------
@pytest.mark.op_batch_norm
@device_settings(0.6)
@given(shape=batch_norm_shapes(), data=st.data(), affine=st.booleans())
def test_batch_norm_training_gradcheck(device, shape, data, affine):
    x = leaf(data.draw(arrays(shape)), device)
    weight, bias, running_mean, running_var = _parameters(shape[1], data.draw(st.integers(0, 2**32 - 1)), device)
    if not affine:
        weight = bias = None
    minigan.gradcheck(lambda x, w, b: F.batch_norm(x, running_mean, running_var, w, b, training=True),
                      (x, weight, bias))


@device_settings(0.6)
@given(shape=batch_norm_shapes(), data=st.data())
def test_batch_norm_eval_gradcheck(device, shape, data):
    x = leaf(data.draw(arrays(shape)), device)
    weight, bias, running_mean, running_var = _parameters(shape[1], data.draw(st.integers(0, 2**32 - 1)), device)
    minigan.gradcheck(lambda x, w, b: F.batch_norm(x, running_mean, running_var, w, b, training=False),
                      (x, weight, bias))


@pytest.mark.op_batch_norm
@device_settings(0.2)
@given(shape=batch_norm_shapes(max_batch=2, max_channels=2, max_side=2), data=st.data())
def test_batch_norm_training_gradgradcheck(device, shape, data):
    x = leaf(data.draw(arrays(shape)), device)
    weight, bias, _, _ = _parameters(shape[1], data.draw(st.integers(0, 2**32 - 1)), device)
    minigan.gradgradcheck(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), (x, weight, bias))


# -- batch_norm: values and running statistics ---------------------------------------------------------
@pytest.mark.op_batch_norm
@device_settings()
@given(shape=batch_norm_shapes(max_batch=6, max_channels=3, max_side=4), data=st.data())
def test_batch_norm_training_normalises_each_channel(device, shape, data):
    channel_scale = data.draw(arrays((shape[1],), low=0.1, high=10.0))
    channel_shift = data.draw(arrays((shape[1],), low=-5.0, high=5.0))
    ndim = len(shape)
    values = data.draw(arrays(shape)) * _per_channel(channel_scale, ndim) + _per_channel(channel_shift, ndim)
    axes = _stat_axes(shape)
    assume(values.var(axis=axes).min() > 1e-3)  # a constant channel has nothing to normalise
    y = F.batch_norm(leaf(values, device, requires_grad=False), None, None, training=True).numpy()
    variance = values.var(axis=axes)
    np.testing.assert_allclose(y.mean(axis=axes), 0.0, atol=1e-10)
    np.testing.assert_allclose(y.var(axis=axes), variance / (variance + EPS), rtol=1e-10)  # ~1, less eps's share


@pytest.mark.op_batch_norm
@device_settings()
@given(shape=batch_norm_shapes(max_batch=4, max_side=4), data=st.data(),
       momentum=st.floats(0.0, 1.0), eps=st.sampled_from([1e-5, 1e-3, 0.1]))
def test_batch_norm_training_values_and_running_statistics_like_pytorch(device, shape, data, momentum, eps):
    values = data.draw(arrays(shape))
    weight, bias, running_mean, running_var = _parameters(shape[1], data.draw(st.integers(0, 2**32 - 1)), device)
    old_mean, old_var = running_mean.numpy().copy(), running_var.numpy().copy()
    y = F.batch_norm(leaf(values, device, requires_grad=False), running_mean, running_var, weight, bias,
                     training=True, momentum=momentum, eps=eps)
    axes, ndim = _stat_axes(shape), len(shape)
    batch_mean, batch_var = values.mean(axis=axes), values.var(axis=axes)
    expected = ((values - _per_channel(batch_mean, ndim)) / np.sqrt(_per_channel(batch_var, ndim) + eps)
                * _per_channel(weight.numpy(), ndim) + _per_channel(bias.numpy(), ndim))
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-9, atol=1e-9)
    # PyTorch's update: the running variance takes the *unbiased* batch variance
    np.testing.assert_allclose(running_mean.numpy(), (1 - momentum) * old_mean + momentum * batch_mean, rtol=1e-12)
    np.testing.assert_allclose(running_var.numpy(),
                               (1 - momentum) * old_var + momentum * values.var(axis=axes, ddof=1), rtol=1e-12)


@pytest.mark.op_batch_norm
def test_batch_norm_running_statistics_match_pytorch_over_steps():
    torch = pytest.importorskip("torch", reason="PyTorch is the oracle for batch_norm's running statistics")
    rng = np.random.default_rng(3)
    running_mean, running_var = minigan.zeros(3, dtype="float64"), minigan.ones(3, dtype="float64")
    t_mean, t_var = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    for _ in range(3):
        values = rng.normal(2.0, 3.0, size=(4, 3, 2, 2))
        y = F.batch_norm(minigan.tensor(values), running_mean, running_var, training=True, momentum=0.3)
        t_y = torch.nn.functional.batch_norm(torch.tensor(values), t_mean, t_var, training=True, momentum=0.3)
        np.testing.assert_allclose(y.numpy(), t_y.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(running_mean.numpy(), t_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(running_var.numpy(), t_var.numpy(), rtol=1e-12)


@device_settings()
@given(shape=batch_norm_shapes(), data=st.data())
def test_batch_norm_eval_uses_running_statistics_and_leaves_them_alone(device, shape, data):
    values = data.draw(arrays(shape))
    weight, bias, running_mean, running_var = _parameters(shape[1], data.draw(st.integers(0, 2**32 - 1)), device)
    old_mean, old_var = running_mean.numpy().copy(), running_var.numpy().copy()
    y = F.batch_norm(leaf(values, device, requires_grad=False), running_mean, running_var, weight, bias)
    ndim = len(shape)
    expected = ((values - _per_channel(old_mean, ndim)) / np.sqrt(_per_channel(old_var, ndim) + EPS)
                * _per_channel(weight.numpy(), ndim) + _per_channel(bias.numpy(), ndim))
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(running_mean.numpy(), old_mean)
    np.testing.assert_array_equal(running_var.numpy(), old_var)


def test_batch_norm_eval_works_on_a_single_sample(device):
    x = minigan.tensor(np.array([[1.0, 2.0]]), device=device)
    y = F.batch_norm(x, minigan.tensor(np.array([1.0, 0.0]), device=device),
                     minigan.tensor(np.array([4.0, 1.0]), device=device), eps=0.0)
    np.testing.assert_allclose(y.numpy(), [[0.0, 2.0]])


@pytest.mark.op_batch_norm
def test_batch_norm_training_on_sim_makes_no_host_transfers():
    x = minigan.randn(4, 3, 2, 2, device="sim", requires_grad=True)
    running_mean, running_var = minigan.zeros(3, device="sim"), minigan.ones(3, device="sim")
    weight = minigan.ones(3, device="sim", requires_grad=True)
    sim.reset_transfers()
    F.batch_norm(x, running_mean, running_var, weight, training=True).sum().backward()
    assert sim.transfers == {"to_host": 0, "to_device": 0}
    assert x.grad.shape == x.shape and weight.grad.shape == (3,)


# -- batch_norm: errors ------------------------------------------------------------------------------------
def _raises(error, message):
    return pytest.raises(error, match=re.escape(message))


@pytest.mark.parametrize("shape", [(1, 3), (1, 3, 1, 1)])
def test_batch_norm_training_with_one_value_per_channel_raises(device, shape):
    x = minigan.zeros(shape, device=device)
    with _raises(ValueError, f"batch_norm: training needs more than one value per channel, got x of shape {shape}"):
        F.batch_norm(x, None, None, training=True)


def test_batch_norm_bad_inputs_raise():
    with _raises(ValueError, "batch_norm: expected x.ndim == 2 (N, C) or 4 (N, C, H, W), got 3 (shape (2, 3, 4))"):
        F.batch_norm(minigan.zeros(2, 3, 4), None, None, training=True)
    for name in ("running_mean", "running_var", "weight", "bias"):
        args = {"running_mean": None, "running_var": None, "weight": None, "bias": None, name: minigan.zeros(2)}
        with _raises(ValueError, f"batch_norm: {name} must have shape (3,), got (2,) (x shape (4, 3))"):
            F.batch_norm(minigan.zeros(4, 3), training=True, **args)
    with _raises(ValueError, "batch_norm: evaluation mode needs running_mean and running_var"):
        F.batch_norm(minigan.zeros(4, 3), None, None, training=False)
    with _raises(TypeError, "batch_norm: x must be a Tensor, got list"):
        F.batch_norm([[1.0, 2.0]], None, None)


# -- dropout ---------------------------------------------------------------------------------------------------
P_VALUES = st.floats(0.05, 0.95)


@device_settings()
@given(data=st.data(), p=P_VALUES)
def test_dropout_identity_when_p_is_zero_or_not_training(device, data, p):
    values = data.draw(arrays((3, 4)))
    x = leaf(values, device)
    np.testing.assert_array_equal(F.dropout(x, 0.0).numpy(), values)
    np.testing.assert_array_equal(F.dropout(x, p, training=False).numpy(), values)
    np.testing.assert_array_equal(F.dropout(x, 1.0, training=False).numpy(), values)


@device_settings()
@given(data=st.data(), p=P_VALUES)
def test_dropout_scales_kept_values_and_its_gradient_is_the_mask(device, data, p):
    values = data.draw(arrays((5, 6), away_from=(0.0,)))  # nonzero, so a zero output means dropped
    x = leaf(values, device)
    y = F.dropout(x, p)
    y.backward(minigan.ones_like(y))
    out = y.numpy()
    kept = out != 0
    np.testing.assert_allclose(out[kept], values[kept] / (1 - p), rtol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), kept / (1 - p), rtol=1e-12)


@device_settings(0.5)
@given(data=st.data(), p=P_VALUES, seed=st.integers(0, 2**31))
def test_dropout_gradcheck_with_a_fixed_mask(device, data, p, seed):
    x = leaf(data.draw(arrays(data.draw(st.sampled_from([(4,), (2, 3), (2, 2, 2)])))), device)

    def dropout_with_fixed_mask(t):
        minigan.manual_seed(seed)  # every evaluation draws the same mask
        return F.dropout(t, p)

    minigan.gradcheck(dropout_with_fixed_mask, x)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dropout_zeroes_about_a_fraction_p_and_keeps_the_mean(device, p, dtype):
    n = 200_000
    y = F.dropout(minigan.ones(n, dtype=dtype, device=device), p).numpy()
    assert y.dtype == dtype
    sigma = np.sqrt(p * (1 - p) / n)  # binomial standard deviation of the dropped fraction
    assert abs((y == 0).mean() - p) < 6 * sigma
    assert abs(y.mean() - 1.0) < 6 * sigma / (1 - p)  # E[dropout(x)] = x


def test_dropout_draws_a_new_mask_each_call_and_follows_manual_seed(device):
    x = minigan.ones(1000, device=device)
    minigan.manual_seed(5)
    first, second = F.dropout(x, 0.5).numpy(), F.dropout(x, 0.5).numpy()
    minigan.manual_seed(5)
    again = F.dropout(x, 0.5).numpy()
    assert (first != second).any()
    np.testing.assert_array_equal(first, again)


def test_dropout_with_p_one_zeroes_everything(device):
    x = leaf([1.0, -2.0, 3.0], device)
    y = F.dropout(x, 1.0)
    y.sum().backward()
    np.testing.assert_array_equal(y.numpy(), [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 0.0])


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_dropout_bad_p_raises(p):
    with _raises(ValueError, f"dropout: p must be in [0, 1], got {p}"):
        F.dropout(minigan.ones(3), p)


def test_dropout_rejects_non_tensors():
    with _raises(TypeError, "dropout: x must be a Tensor, got ndarray"):
        F.dropout(np.ones(3), 0.5)
