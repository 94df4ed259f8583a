"""The ops and layers of the style-based and progressive generators (issue #18): AdaIN, pixel
norm, fade-in, the equalised-learning-rate layers, the mapping network, the constant input and
the noise inputs. Values against NumPy's formulas (and PyTorch's instance norm), float64
gradients against finite differences under Hypothesis, second derivatives (a gradient penalty
reaches the equalised layers and the fade-in of a progressive discriminator), the errors."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigan
from minigan import functional as F
from minigan import nn, optim

from helpers import device_settings, leaf, random_array


@st.composite
def feature_shapes(draw, max_batch=3, max_channels=3, max_side=4):
    """(N, C, *spatial) with one or two spatial axes and at least two positions per channel."""
    n, c = draw(st.integers(1, max_batch)), draw(st.integers(1, max_channels))
    spatial = tuple(draw(st.lists(st.integers(1, max_side), min_size=1, max_size=2)))
    if math.prod(spatial) < 2:
        spatial = spatial[:-1] + (2,)
    return (n, c) + spatial


def numpy_adain(x, scale, shift, eps=1e-5):
    axes = tuple(range(2, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    per_channel = x.shape[:2] + (1,) * len(axes)
    return (x - mean) / np.sqrt(var + eps) * scale.reshape(per_channel) + shift.reshape(per_channel)


# -- adaptive instance norm -----------------------------------------------------------------------
@device_settings()
@given(shape=feature_shapes(), seed=st.integers(0, 2**32 - 1))
def test_adaptive_instance_norm_matches_numpy(device, shape, seed):
    rng = np.random.default_rng(seed)
    x, scale, shift = rng.normal(size=shape) * 3 + 1, rng.normal(size=shape[:2]), rng.normal(size=shape[:2])
    out = F.adaptive_instance_norm(*(leaf(a, device, requires_grad=False) for a in (x, scale, shift)))
    assert out.shape == shape and out.dtype == np.float64
    np.testing.assert_allclose(out.numpy(), numpy_adain(x, scale, shift), rtol=1e-10, atol=1e-10)


def test_adaptive_instance_norm_is_pytorchs_instance_norm_then_the_style():
    torch = pytest.importorskip("torch", reason="PyTorch is the reference for instance_norm")
    rng = np.random.default_rng(0)
    x, scale, shift = rng.normal(size=(3, 4, 5, 6)), rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    expected = (torch.nn.functional.instance_norm(torch.tensor(x)) * torch.tensor(scale)[:, :, None, None]
                + torch.tensor(shift)[:, :, None, None]).numpy()
    out = F.adaptive_instance_norm(*(minigan.tensor(a) for a in (x, scale, shift))).numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


def test_adaptive_instance_norm_forgets_the_inputs_statistics():
    """Each sample's channel statistics come from its style alone: AdaIN(a x + b) = AdaIN(x)
    for every per-channel a > 0 and b, and the output has mean shift and std |scale|."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 3, 6, 6))
    scale, shift = rng.uniform(0.5, 2, size=(2, 3)), rng.normal(size=(2, 3))
    a, b = rng.uniform(0.1, 10, size=(2, 3, 1, 1)), rng.normal(size=(2, 3, 1, 1)) * 5
    style = [minigan.tensor(scale), minigan.tensor(shift)]
    plain = F.adaptive_instance_norm(minigan.tensor(x), *style, eps=1e-12).numpy()
    moved = F.adaptive_instance_norm(minigan.tensor(a * x + b), *style, eps=1e-12).numpy()
    np.testing.assert_allclose(moved, plain, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(plain.mean(axis=(2, 3)), shift, atol=1e-12)
    np.testing.assert_allclose(plain.std(axis=(2, 3)), scale, rtol=1e-9)


@device_settings(0.6)
@given(shape=feature_shapes(max_side=3), seed=st.integers(0, 2**32 - 1))
def test_adaptive_instance_norm_gradcheck_float64(device, shape, seed):
    inputs = [leaf(random_array(s, seed + k, -2, 2), device) for k, s in enumerate((shape, shape[:2], shape[:2]))]
    assert minigan.gradcheck(F.adaptive_instance_norm, inputs)


@device_settings(0.2)
@given(shape=feature_shapes(max_batch=2, max_channels=2, max_side=3), seed=st.integers(0, 2**32 - 1))
def test_adaptive_instance_norm_gradgradcheck(device, shape, seed):
    inputs = [leaf(random_array(s, seed + k, -2, 2), device) for k, s in enumerate((shape, shape[:2], shape[:2]))]
    assert minigan.gradgradcheck(F.adaptive_instance_norm, inputs)


def test_adaptive_instance_norm_errors():
    x, style = minigan.zeros(2, 3, 4, 4), minigan.zeros(2, 3)
    with pytest.raises(ValueError, match=r"adaptive_instance_norm: scale and shift must have shape \(N, C\) = "
                                         r"\(2, 3\) to go with input of shape \(2, 3, 4, 4\), got \(3,\)"):
        F.adaptive_instance_norm(x, minigan.zeros(3), style)
    with pytest.raises(ValueError, match=r"at least one spatial axis, got shape \(2, 3\)"):
        F.adaptive_instance_norm(style, style, style)
    with pytest.raises(TypeError, match="adaptive_instance_norm: input is float32 but shift is float64"):
        F.adaptive_instance_norm(x, style, style.double())
    with pytest.raises(RuntimeError, match="one device, got input on cpu and scale on sim"):
        F.adaptive_instance_norm(x, style.to("sim"), style)
    with pytest.raises(ValueError, match="adaptive_instance_norm: eps must be a number > 0, got 0"):
        F.adaptive_instance_norm(x, style, style, eps=0)
    with pytest.raises(TypeError, match="adaptive_instance_norm: scale must be a Tensor, got ndarray"):
        F.adaptive_instance_norm(x, np.zeros((2, 3)), style)


# -- pixel norm -------------------------------------------------------------------------------------
@device_settings()
@given(shape=feature_shapes(), seed=st.integers(0, 2**32 - 1))
def test_pixel_norm_matches_numpy_and_gives_unit_rms(device, shape, seed):
    x = np.random.default_rng(seed).normal(size=shape) * 4
    out = F.pixel_norm(leaf(x, device, requires_grad=False)).numpy()
    square = (x ** 2).mean(axis=1)
    np.testing.assert_allclose(out, x / np.sqrt(square[:, None] + 1e-8), rtol=1e-12)
    np.testing.assert_allclose((out ** 2).mean(axis=1), square / (square + 1e-8), rtol=1e-12)  # ~1 unless x ~ 0


@device_settings(0.5)
@given(shape=feature_shapes(max_side=3), seed=st.integers(0, 2**32 - 1))
def test_pixel_norm_gradcheck_and_gradgradcheck(device, shape, seed):
    x = leaf(random_array(shape, seed, -2, 2), device)
    assert minigan.gradcheck(F.pixel_norm, x)
    if math.prod(shape) <= 12:
        assert minigan.gradgradcheck(F.pixel_norm, x)


def test_pixel_norm_errors():
    with pytest.raises(ValueError, match=r"pixel_norm: expected floating-point features \(N, C, \.\.\.\), got "
                                         r"shape \(3,\)"):
        F.pixel_norm(minigan.zeros(3))
    with pytest.raises(TypeError, match="pixel_norm: expected a Tensor, got list"):
        F.pixel_norm([1.0, 2.0])


# -- fade-in ------------------------------------------------------------------------------------------
@device_settings(0.5)
@given(shape=feature_shapes(max_side=3), alpha=st.floats(0, 1), seed=st.integers(0, 2**32 - 1))
def test_fade_in_blends_and_gradchecks(device, shape, alpha, seed):
    old, new = (leaf(random_array(shape, seed + k), device) for k in range(2))
    out = F.fade_in(old, new, alpha)
    np.testing.assert_allclose(out.numpy(), (1 - alpha) * old.numpy() + alpha * new.numpy(), rtol=1e-12, atol=1e-15)
    fade = lambda a, b: F.fade_in(a, b, alpha)
    assert minigan.gradcheck(fade, [old, new])
    assert minigan.gradgradcheck(fade, [old, new])


def test_fade_in_ends_are_the_old_and_the_new_path_and_both_get_gradients():
    old, new = minigan.randn(2, 3, requires_grad=True), minigan.randn(2, 3, requires_grad=True)
    np.testing.assert_array_equal(F.fade_in(old, new, 0).numpy(), old.numpy())
    np.testing.assert_array_equal(F.fade_in(old, new, 1).numpy(), new.numpy())
    g_old, g_new = minigan.grad(F.fade_in(old, new, 0.0).sum(), [old, new])
    np.testing.assert_array_equal(g_old.numpy(), 1.0)
    np.testing.assert_array_equal(g_new.numpy(), 0.0)


def test_fade_in_errors():
    a = minigan.zeros(2, 3)
    with pytest.raises(ValueError, match=r"fade_in: alpha must be a number in \[0, 1\], got 1.5"):
        F.fade_in(a, a, 1.5)
    with pytest.raises(ValueError, match=r"fade_in: old and new must have one shape, got \(2, 3\) and \(3, 2\)"):
        F.fade_in(a, minigan.zeros(3, 2), 0.5)
    with pytest.raises(TypeError, match="fade_in: old is float32 but new is float64|fade_in: input is float32"):
        F.fade_in(a, a.double(), 0.5)


# -- equalised learning rate ----------------------------------------------------------------------
EQUALIZED = {
    "linear": (lambda: nn.EqualizedLinear(5, 3), (4, 5), lambda m, x: F.linear(x, m.weight * m.weight_scale, m.bias)),
    "conv": (lambda: nn.EqualizedConv2d(2, 3, 3, padding=1), (2, 2, 4, 4),
             lambda m, x: F.conv2d(x, m.weight * m.weight_scale, m.bias, 1, 1)),
}


@pytest.mark.parametrize("kind", sorted(EQUALIZED))
def test_equalized_layers_compute_with_he_scaled_weights(device, kind):
    make, shape, reference = EQUALIZED[kind]
    minigan.manual_seed(0)
    layer = make().to(device, np.float64)
    nn.init.normal_(layer.bias)
    x = leaf(random_array(shape, 1), device, requires_grad=False)
    fan_in = math.prod(layer.weight.shape[1:])
    assert layer.weight_scale == pytest.approx(math.sqrt(2) / math.sqrt(fan_in))
    np.testing.assert_allclose(layer(x).numpy(), reference(layer, x).numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", sorted(EQUALIZED))
def test_equalized_layers_gradcheck_and_gradgradcheck(device, kind):
    make, shape, _ = EQUALIZED[kind]
    minigan.manual_seed(2)
    layer = make().to(device, np.float64)
    x = leaf(random_array(shape, 3), device)
    run = lambda x, w, b: type(layer).forward(_with(layer, w, b), x)
    assert minigan.gradcheck(run, [x, layer.weight, layer.bias])
    small = leaf(random_array((1,) + shape[1:], 4), device)
    assert minigan.gradgradcheck(lambda x: layer(x), small)  # the path of a gradient penalty through D


def _with(layer, weight, bias):
    layer.weight, layer.bias = weight, bias  # the same Parameters: gradcheck perturbs them in place
    return layer


def test_stored_weights_are_standard_normal_and_the_lr_multiplier_scales_them():
    minigan.manual_seed(0)
    plain, slow = nn.EqualizedLinear(400, 400), nn.EqualizedLinear(400, 400, lr_multiplier=0.01, bias_init=1.0)
    n = 400 * 400  # the std of n normal samples is within 5 / sqrt(2 n) of the truth, relatively
    assert plain.weight.numpy().std() == pytest.approx(1.0, rel=5 / math.sqrt(2 * n))
    assert slow.weight.numpy().std() == pytest.approx(100.0, rel=5 / math.sqrt(2 * n))
    effective = slow.scaled_weight().numpy()  # the same function as a plain equalised layer
    assert effective.std() == pytest.approx(math.sqrt(2 / 400), rel=5 / math.sqrt(2 * n))
    np.testing.assert_allclose(slow.scaled_bias().numpy(), 1.0, rtol=1e-6)


def test_one_adam_step_moves_every_equalized_layer_by_the_same_fraction():
    """The point of the equalised learning rate: Adam's first step moves each stored weight by
    lr (it is lr * g / |g|), so each layer's *effective* weights move by lr times their scale
    c = sqrt(2 / fan_in): by the same fraction of their size whatever the fan-in. With He's
    constant in the weights themselves, every weight moves by lr, which is 10x more of a
    fan-in-400 layer's size than of a fan-in-4 layer's."""
    lr = 1e-3

    def move_in_units_of_he_std(layer, effective):
        before = effective(layer).numpy().copy()
        optimizer = optim.Adam([layer.weight], lr=lr)
        layer.weight.grad = minigan.grad((layer(minigan.randn(16, layer.in_features)) ** 2).sum(), [layer.weight])[0]
        optimizer.step()
        return np.abs(effective(layer).numpy() - before).mean() / math.sqrt(2 / layer.in_features)

    minigan.manual_seed(1)
    for fan_in in (4, 400):
        equalized = move_in_units_of_he_std(nn.EqualizedLinear(fan_in, 8), lambda m: m.scaled_weight())
        assert equalized == pytest.approx(lr, rel=1e-3)
    he = []
    for fan_in in (4, 400):
        layer = nn.Linear(fan_in, 8)
        nn.init.kaiming_normal_(layer.weight)
        he.append(move_in_units_of_he_std(layer, lambda m: m.weight))
    assert he[1] / he[0] == pytest.approx(10.0, rel=1e-3)


def test_equalized_layer_errors():
    with pytest.raises(ValueError, match="EqualizedLinear: gain must be a number > 0, got 0"):
        nn.EqualizedLinear(2, 3, gain=0)
    with pytest.raises(ValueError, match="EqualizedConv2d: lr_multiplier must be a number > 0, got -1"):
        nn.EqualizedConv2d(2, 3, 3, lr_multiplier=-1)
    with pytest.raises(ValueError, match="EqualizedLinear: in_features must be a positive int, got 0"):
        nn.EqualizedLinear(0, 3)
    with pytest.raises(ValueError, match="EqualizedConv2d: kernel_size must be an int or a pair of ints >= 1"):
        nn.EqualizedConv2d(2, 3, 0)


def test_equalized_layers_save_and_load_like_pytorch_layers():
    layer = nn.EqualizedConv2d(2, 3, 3)
    assert list(layer.state_dict()) == ["weight", "bias"]
    assert repr(layer) == "EqualizedConv2d(2, 3, kernel_size=(3, 3), stride=(1, 1), gain=1.414)"


# -- the style-based generator's pieces -----------------------------------------------------------
def test_mapping_network_normalises_z_first():
    minigan.manual_seed(0)
    mapping = nn.MappingNetwork(8, 16, layers=3)
    z = minigan.randn(5, 8)
    w = mapping(z)
    assert w.shape == (5, 16)
    np.testing.assert_allclose(mapping(z * 7.0).numpy(), w.numpy(), rtol=1e-5, atol=1e-6)  # only z's direction counts
    assert all(m.lr_multiplier == 0.01 for m in mapping.modules() if isinstance(m, nn.EqualizedLinear))
    with pytest.raises(ValueError, match=r"MappingNetwork: expected z of shape \(N, 8\), got \(5, 7\)"):
        mapping(minigan.randn(5, 7))


def test_constant_input_is_one_learned_tensor_for_every_sample():
    const = nn.ConstantInput(4, size=7)
    out = const(3)
    assert out.shape == (3, 4, 7, 7) and np.all(out.numpy() == 1.0)
    (g,) = minigan.grad((out * minigan.tensor(np.arange(3.0, dtype=np.float32).reshape(3, 1, 1, 1))).sum(),
                        [const.weight])
    np.testing.assert_array_equal(g.numpy(), 3.0)  # 0 + 1 + 2: the samples' gradients add up
    with pytest.raises(ValueError, match="ConstantInput: batch_size must be a positive int, got 0"):
        const(0)


def test_noise_input_starts_off_and_adds_weighted_noise(device):
    layer = nn.NoiseInput(3).to(device, np.float64)
    x = leaf(random_array((2, 3, 4, 4), 5), device, requires_grad=False)
    np.testing.assert_array_equal(layer(x).numpy(), x.numpy())  # weight 0
    layer.weight.array[...] = layer.weight.array + 2.0
    noise = leaf(random_array((2, 1, 4, 4), 6), device, requires_grad=False)
    np.testing.assert_allclose(layer(x, noise).numpy(), x.numpy() + 2.0 * noise.numpy(), rtol=1e-15)
    assert minigan.gradcheck(lambda x, w: x + noise * F.reshape(w, (1, -1, 1, 1)),
                             [leaf(x.numpy(), device), leaf(np.ones(3), device)])
    drawn = layer(x)  # fresh noise from minigan's generator, on x's device
    assert drawn.device == x.device and not np.allclose(drawn.numpy(), x.numpy())
    with pytest.raises(ValueError, match=r"NoiseInput: noise must have shape \(2, 1, 4, 4\), got \(2, 3, 4, 4\)"):
        layer(x, x)


def test_adain_layer_sets_each_channels_statistics_from_w(device):
    minigan.manual_seed(3)
    adain = nn.AdaIN(3, 5).to(device, np.float64)
    x = leaf(random_array((2, 3, 6, 6), 7, -3, 3), device, requires_grad=False)
    w = leaf(random_array((2, 5), 8), device, requires_grad=False)
    out = adain(x, w).numpy()
    scale, shift = adain.scale(w).numpy(), adain.shift(w).numpy()
    np.testing.assert_allclose(out, numpy_adain(x.numpy(), scale, shift), rtol=1e-10, atol=1e-12)
    zero = adain(x, leaf(np.zeros((2, 5)), device, requires_grad=False)).numpy()
    np.testing.assert_allclose(zero.std(axis=(2, 3)), 1.0, rtol=1e-5)  # w = 0: the scale's bias, 1
    w_leaf = leaf(w.numpy(), device)
    assert minigan.gradcheck(lambda w: adain(x, w), w_leaf)
