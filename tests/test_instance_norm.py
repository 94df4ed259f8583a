"""F.instance_norm and nn.InstanceNorm1d/2d: values and running statistics against the
definition, float64 gradients and second derivatives under Hypothesis (a critic with instance
norm puts it on a gradient penalty's path), PyTorch's values, running statistics, state_dict
keys, reprs and errors, and no host transfers."""
import re
import warnings

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import minigan
import minigan.nn as nn
from minigan import functional as F
from minigan import sim

from helpers import arrays, device_settings, leaf

TORCH_REASON = "PyTorch is the oracle here and is not installed"


@st.composite
def instance_shapes(draw, max_batch=3, max_channels=3, max_side=3):
    """(N, C, L) or (N, C, H, W) with at least two values per image and channel."""
    n, c = draw(st.integers(1, max_batch)), draw(st.integers(1, max_channels))
    spatial = tuple(draw(st.integers(1, max_side)) for _ in range(draw(st.integers(1, 2))))
    assume(int(np.prod(spatial)) >= 2)
    return (n, c) + spatial


def _per_channel(values, ndim):
    return np.asarray(values).reshape((1, -1) + (1,) * (ndim - 2))


def expected_instance_norm(x, weight, bias, eps):
    axes = tuple(range(2, x.ndim))
    y = (x - x.mean(axis=axes, keepdims=True)) / np.sqrt(x.var(axis=axes, keepdims=True) + eps)
    return y * _per_channel(weight, x.ndim) + _per_channel(bias, x.ndim)


def _affine(channels, seed, device, requires_grad=True):
    rng = np.random.default_rng(seed)
    return (leaf(rng.uniform(0.5, 2.0, channels), device, requires_grad),
            leaf(rng.uniform(-1.0, 1.0, channels), device, requires_grad))


# -- values and running statistics ------------------------------------------------------------------
@pytest.mark.op_instance_norm
@device_settings()
@given(shape=instance_shapes(max_batch=4, max_side=4), data=st.data(), momentum=st.floats(0.0, 1.0),
       eps=st.sampled_from([1e-5, 1e-3, 0.1]))
def test_each_image_is_normalised_by_its_own_statistics_and_the_running_ones_by_their_batch_mean(
        device, shape, data, momentum, eps):
    x = data.draw(arrays(shape, low=-3.0, high=3.0), label="x")
    weight, bias = _affine(shape[1], data.draw(st.integers(0, 2**32 - 1)), device, requires_grad=False)
    running_mean, running_var = leaf(np.full(shape[1], 0.5), device, False), leaf(np.full(shape[1], 2.0), device, False)
    y = F.instance_norm(leaf(x, device, False), running_mean, running_var, weight, bias, momentum=momentum, eps=eps)
    np.testing.assert_allclose(y.numpy(), expected_instance_norm(x, weight.numpy(), bias.numpy(), eps),
                               rtol=1e-9, atol=1e-9)
    axes = tuple(range(2, x.ndim))
    image_means, image_vars = x.mean(axis=axes), x.var(axis=axes, ddof=1)  # (N, C): unbiased, as PyTorch
    np.testing.assert_allclose(running_mean.numpy(), (1 - momentum) * 0.5 + momentum * image_means.mean(0),
                               rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(running_var.numpy(), (1 - momentum) * 2.0 + momentum * image_vars.mean(0),
                               rtol=1e-12)


@pytest.mark.op_instance_norm
def test_without_input_statistics_the_running_ones_normalise(device):
    x = np.random.default_rng(0).normal(size=(2, 3, 2, 2))
    mean, var = np.array([0.5, -1.0, 0.0]), np.array([4.0, 1.0, 0.25])
    y = F.instance_norm(leaf(x, device, False), leaf(mean, device, False), leaf(var, device, False),
                        use_input_stats=False, eps=0.0)
    np.testing.assert_allclose(y.numpy(), (x - _per_channel(mean, 4)) / np.sqrt(_per_channel(var, 4)), rtol=1e-14)


@pytest.mark.op_instance_norm
def test_one_image_and_one_channel_by_hand(device):
    x = minigan.tensor(np.array([[[1.0, 3.0, 5.0, 7.0]]]), device=device)  # mean 4, variance 5
    np.testing.assert_allclose(F.instance_norm(x, eps=0.0).numpy()[0, 0], np.array([-3, -1, 1, 3]) / np.sqrt(5.0),
                               rtol=1e-15)


# -- gradients ------------------------------------------------------------------------------------
@pytest.mark.op_instance_norm
@device_settings(0.6)
@given(shape=instance_shapes(), data=st.data(), affine=st.booleans())
def test_instance_norm_gradcheck_float64(device, shape, data, affine):
    x = leaf(data.draw(arrays(shape), label="x"), device)
    weight, bias = _affine(shape[1], data.draw(st.integers(0, 2**32 - 1)), device)
    running = (leaf(np.zeros(shape[1]), device, False), leaf(np.ones(shape[1]), device, False))
    if affine:
        minigan.gradcheck(lambda t, w, b: F.instance_norm(t, *running, w, b), (x, weight, bias))
    else:
        minigan.gradcheck(lambda t: F.instance_norm(t), x)
    minigan.gradcheck(lambda t, w: F.instance_norm(t, *running, w, use_input_stats=False), (x, weight))


@pytest.mark.op_instance_norm
@device_settings(0.2)
@given(shape=instance_shapes(max_batch=2, max_channels=2, max_side=2), data=st.data())
def test_instance_norm_gradgradcheck(device, shape, data):
    x = leaf(data.draw(arrays(shape), label="x"), device)
    weight, bias = _affine(shape[1], data.draw(st.integers(0, 2**32 - 1)), device)
    minigan.gradgradcheck(lambda t, w, b: F.instance_norm(t, weight=w, bias=b), (x, weight, bias))


def test_instance_norm_on_sim_makes_no_host_transfers():
    layer = nn.InstanceNorm2d(3, affine=True, track_running_stats=True).to("sim")
    x = minigan.randn(4, 3, 2, 2, device="sim", requires_grad=True)
    sim.reset_transfers()
    (g,) = minigan.grad((layer(x) ** 2).sum(), x, create_graph=True)
    g.sum().backward()
    assert sim.transfers == {"to_host": 0, "to_device": 0}
    assert layer.weight.grad.shape == (3,)


# -- the layers -----------------------------------------------------------------------------------
def test_layer_defaults_are_pytorchs_no_affine_no_running_statistics():
    layer = nn.InstanceNorm2d(4)
    assert (layer.affine, layer.track_running_stats, layer.eps, layer.momentum) == (False, False, 1e-5, 0.1)
    assert list(layer.state_dict()) == []
    layer.eval()  # in evaluation, too, each image by its own statistics
    y = layer(minigan.randn(2, 4, 3, 3) * 5 + 2)
    np.testing.assert_allclose(y.numpy().mean(axis=(2, 3)), 0.0, atol=1e-5)
    full = nn.InstanceNorm2d(4, affine=True, track_running_stats=True)
    assert list(full.state_dict()) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    assert list(nn.InstanceNorm2d(4, affine=True, bias=False).state_dict()) == ["weight"]


def test_layers_take_unbatched_inputs_and_check_the_channels():
    layer = nn.InstanceNorm2d(3, affine=True)
    x = minigan.randn(3, 4, 4)
    np.testing.assert_allclose(layer(x).numpy(), layer(x.unsqueeze(0)).numpy()[0], rtol=1e-6)
    with pytest.raises(ValueError, match=re.escape("InstanceNorm2d: expected input's size at dim=1 to match "
                                                   "num_features (3), but got: 4.")):
        layer(minigan.randn(2, 4, 4, 4))
    with pytest.warns(UserWarning, match="does not match num_features"):
        nn.InstanceNorm2d(3)(minigan.randn(2, 4, 4, 4))
    with pytest.raises(ValueError, match=re.escape("InstanceNorm2d: expected 3D or 4D input (got 2D input")):
        layer(minigan.randn(4, 4))
    with pytest.raises(ValueError, match=re.escape("InstanceNorm1d: expected 2D or 3D input (got 4D input")):
        nn.InstanceNorm1d(3)(minigan.randn(1, 3, 4, 4))


# -- errors ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("call, error, message", [
    (lambda x: F.instance_norm(x[:, :, :1, :1]), ValueError,
     "instance_norm: Expected more than 1 spatial element when training, got input size (2, 3, 1, 1)"),
    (lambda x: F.instance_norm(x[:, :, 0, 0]), ValueError, "expected an input (N, C, ...) with spatial axes"),
    (lambda x: F.instance_norm(x, use_input_stats=False), ValueError,
     "Expected running_mean and running_var to be defined when use_input_stats is false"),
    (lambda x: F.instance_norm(x, weight=minigan.ones(2)), ValueError, "weight must have shape (3,), got (2,)"),
    (lambda x: F.instance_norm(x, weight=minigan.ones(3, dtype="float64")), TypeError,
     "input is float32 but weight is float64"),
    (lambda x: F.instance_norm(x.long()), TypeError, "expected a floating-point input, got int64"),
    (lambda x: F.instance_norm(x, weight=minigan.ones(3, device="sim")), RuntimeError, "input on cpu and weight on sim"),
])
def test_bad_calls_raise_naming_what_is_wrong(call, error, message):
    with pytest.raises(error, match=re.escape(message)):
        call(minigan.zeros(2, 3, 4, 4))


def test_a_refused_call_leaves_the_running_statistics_alone():
    mean, var = minigan.zeros(3), minigan.ones(3)
    with pytest.raises(ValueError):
        F.instance_norm(minigan.randn(2, 3, 4, 4), mean, var, weight=minigan.ones(2))
    assert mean.numpy().tolist() == [0, 0, 0] and var.numpy().tolist() == [1, 1, 1]


# -- against PyTorch ------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs", [{}, {"affine": True}, {"affine": True, "bias": False},
                                    {"track_running_stats": True, "momentum": 0.3},
                                    {"track_running_stats": True, "momentum": None, "affine": True}],
                         ids=["default", "affine", "weight_only", "running", "momentum_none"])
def test_layer_matches_pytorch_over_training_steps_and_in_evaluation(kwargs):
    torch = pytest.importorskip("torch", reason=TORCH_REASON)
    ours, theirs = nn.InstanceNorm2d(3, **kwargs), torch.nn.InstanceNorm2d(3, **kwargs)
    assert repr(ours) == repr(theirs)
    rng = np.random.default_rng(0)
    if ours.affine:
        ours.weight.array[...] = rng.uniform(0.5, 2, 3)
        theirs.load_state_dict({k: torch.from_numpy(v.numpy()) for k, v in ours.state_dict().items()})
    for step in range(4):
        if step == 3:
            ours.eval()
            theirs.eval()
        x = (rng.standard_normal((4, 3, 5, 5)) * (step + 1) + step).astype(np.float32)
        mx, tx = minigan.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        my, ty = ours(mx), theirs(tx)
        np.testing.assert_allclose(my.numpy(), ty.detach().numpy(), rtol=1e-4, atol=1e-5)
        g = rng.standard_normal(x.shape).astype(np.float32)
        my.backward(minigan.tensor(g))
        ty.backward(torch.from_numpy(g))
        np.testing.assert_allclose(mx.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-4)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for k, v in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[k].numpy(), v.numpy(), rtol=1e-5, atol=1e-6, err_msg=k)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_functional_values_and_gradients_match_pytorch(dtype):
    torch = pytest.importorskip("torch", reason=TORCH_REASON)
    rng = np.random.default_rng(1)
    x, w, b = (rng.standard_normal(s).astype(dtype) for s in [(3, 2, 7), (2,), (2,)])
    inputs = [minigan.tensor(a, requires_grad=True) for a in (x, w, b)]
    t_inputs = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    y = F.instance_norm(inputs[0], weight=inputs[1], bias=inputs[2])
    ty = torch.nn.functional.instance_norm(t_inputs[0], weight=t_inputs[1], bias=t_inputs[2])
    tolerance = dict(rtol=1e-9, atol=1e-11) if dtype == "float64" else dict(rtol=2e-4, atol=2e-5)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), **tolerance)
    g = rng.standard_normal(x.shape).astype(dtype)
    y.backward(minigan.tensor(g))
    ty.backward(torch.from_numpy(g))
    for mine, theirs in zip(inputs, t_inputs):
        np.testing.assert_allclose(mine.grad.numpy(), theirs.grad.numpy(), **tolerance)


def test_instance_norm1d_matches_pytorch():
    torch = pytest.importorskip("torch", reason=TORCH_REASON)
    x = np.random.default_rng(2).standard_normal((2, 3, 6)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(nn.InstanceNorm1d(3)(minigan.tensor(x)).numpy(),
                                   torch.nn.InstanceNorm1d(3)(torch.tensor(x)).numpy(), rtol=1e-4, atol=1e-5)
