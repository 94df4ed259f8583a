"""conv2d, conv_transpose2d and Conv2dGradW: values against naive loops, shapes against
PyTorch's formulas, the adjoint identity, first and second derivatives, and errors."""
import re
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

import minigan
from minigan import functional as F
from minigan.functional.conv import Conv2dGradW, col2im, col2im_by_phases, conv_output_size, im2col

from helpers import (ConvCase, assert_sums_close, conv2d_cases, conv_transpose2d_cases, device_settings, leaf, pair,
                     random_array)

SEEDS = st.integers(0, 2**32 - 1)
# DCGAN's layers: kernel 4, stride 2, padding 1 halves (conv2d) or doubles (conv_transpose2d) the side
DCGAN_CONV = ConvCase((1, 2, 6, 6), (2, 2, 4, 4), {"stride": 2, "padding": 1, "dilation": 1})
DCGAN_CONV_T = ConvCase((1, 2, 3, 3), (2, 2, 4, 4),
                        {"stride": 2, "padding": 1, "output_padding": 0, "dilation": 1})


# -- independent references (loops are fine here: tiny shapes) -------------------------------------
def expected_conv_side(size, kernel, stride, padding, dilation):
    """PyTorch's conv2d size formula: floor((size + 2p - d(k-1) - 1) / s) + 1."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def expected_conv_transpose_side(size, kernel, stride, padding, output_padding, dilation):
    """PyTorch's conv_transpose2d size formula: (size-1) s - 2p + d(k-1) + output_padding + 1."""
    return (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1


def _padded(x, padding):
    (ph, pw) = padding
    out = np.zeros(x.shape[:2] + (x.shape[2] + 2 * ph, x.shape[3] + 2 * pw))
    out[:, :, ph:ph + x.shape[2], pw:pw + x.shape[3]] = x
    return out


def _window_starts(padded_size, kernel, stride, dilation):
    """Top-left corners of every window that fits: counted, not computed by the formula."""
    return range(0, padded_size - dilation * (kernel - 1), stride)


def conv2d_reference(x, w, b, stride, padding, dilation):
    """Cross-correlation by explicit loops over output pixels and kernel offsets."""
    (sh, sw), (dh, dw) = pair(stride), pair(dilation)
    xp = _padded(x, pair(padding))
    kh, kw = w.shape[2:]
    rows, cols = _window_starts(xp.shape[2], kh, sh, dh), _window_starts(xp.shape[3], kw, sw, dw)
    out = np.zeros((x.shape[0], w.shape[0], len(rows), len(cols)))
    for i, top in enumerate(rows):
        for j, left in enumerate(cols):
            for a in range(kh):
                for c in range(kw):
                    pixel = xp[:, :, top + a * dh, left + c * dw]  # (N, C)
                    out[:, :, i, j] += pixel @ w[:, :, a, c].T
    return out if b is None else out + b.reshape(1, -1, 1, 1)


def conv_transpose2d_reference(x, w, b, stride, padding, output_padding, dilation):
    """Every input pixel paints weight * value onto a k x k (dilated) patch; then crop padding."""
    (sh, sw), (ph, pw), (oh, ow), (dh, dw) = map(pair, (stride, padding, output_padding, dilation))
    n, _, h, wd = x.shape
    kh, kw = w.shape[2:]
    full = np.zeros((n, w.shape[1], (h - 1) * sh + dh * (kh - 1) + 1 + oh, (wd - 1) * sw + dw * (kw - 1) + 1 + ow))
    for i in range(h):
        for j in range(wd):
            for a in range(kh):
                for c in range(kw):
                    full[:, :, i * sh + a * dh, j * sw + c * dw] += x[:, :, i, j] @ w[:, :, a, c]
    out = full[:, :, ph:full.shape[2] - ph, pw:full.shape[3] - pw]
    return out if b is None else out + b.reshape(1, -1, 1, 1)


def weight_gradient_reference(x, gy, kernel, stride, padding, dilation):
    """dW[o, c, a, b] = sum over n, i, j of gy[n, o, i, j] * padded_x[n, c, i s + a d, j s + b d]."""
    (sh, sw), (dh, dw) = pair(stride), pair(dilation)
    xp = _padded(x, pair(padding))
    gw = np.zeros((gy.shape[1], x.shape[1]) + tuple(kernel))
    for i in range(gy.shape[2]):
        for j in range(gy.shape[3]):
            for a in range(kernel[0]):
                for c in range(kernel[1]):
                    gw[:, :, a, c] += gy[:, :, i, j].T @ xp[:, :, i * sh + a * dh, j * sw + c * dw]
    return gw


def _operands(case, seed, device, bias=True, requires_grad=True):
    """x, weight and (optionally) bias tensors for ``case``, float64 on ``device``."""
    transposed = "output_padding" in case.kwargs  # conv_transpose2d's weight is (Cin, Cout, kh, kw)
    out_channels = case.weight_shape[1] if transposed else case.weight_shape[0]
    x = leaf(random_array(case.x_shape, seed), device, requires_grad)
    w = leaf(random_array(case.weight_shape, seed + 1), device, requires_grad)
    b = leaf(random_array((out_channels,), seed + 2), device, requires_grad) if bias else None
    return x, w, b


# -- forward values ---------------------------------------------------------------------------------
@pytest.mark.op_conv2d
@pytest.mark.op_im2col
@device_settings()
@given(case=conv2d_cases(), seed=SEEDS, with_bias=st.booleans())
@example(case=DCGAN_CONV, seed=0, with_bias=True)
def test_conv2d_matches_naive_loops(device, case, seed, with_bias):
    x, w, b = _operands(case, seed, device, bias=with_bias, requires_grad=False)
    expected = conv2d_reference(x.numpy(), w.numpy(), b.numpy() if with_bias else None, **case.kwargs)
    magnitude = conv2d_reference(abs(x.numpy()), abs(w.numpy()), abs(b.numpy()) if with_bias else None, **case.kwargs)
    y = F.conv2d(x, w, b, **case.kwargs)
    assert y.shape == expected.shape
    assert_sums_close(y.numpy(), expected, magnitude, w[0].numel() + 1, np.float64)


@pytest.mark.op_conv_transpose2d
@pytest.mark.op_col2im
@device_settings()
@given(case=conv_transpose2d_cases(), seed=SEEDS)
@example(case=DCGAN_CONV_T, seed=0)
def test_conv_transpose2d_matches_naive_loops(device, case, seed):
    x, w, b = _operands(case, seed, device, requires_grad=False)
    expected = conv_transpose2d_reference(x.numpy(), w.numpy(), b.numpy(), **case.kwargs)
    magnitude = conv_transpose2d_reference(abs(x.numpy()), abs(w.numpy()), abs(b.numpy()), **case.kwargs)
    y = F.conv_transpose2d(x, w, b, **case.kwargs)
    assert y.shape == expected.shape
    assert_sums_close(y.numpy(), expected, magnitude, w[:, 0].numel() + 1, np.float64)


@pytest.mark.op_conv2d
@pytest.mark.op_conv_transpose2d
@pytest.mark.op_im2col
@pytest.mark.op_col2im
@pytest.mark.parametrize("padding", [0, 1])
def test_conv_accepts_non_contiguous_inputs(device, padding):
    """A permuted view (as a channels-last image or another layer's output may be) gives the same values."""
    nhwc = random_array((2, 5, 4, 3), seed=1)
    x = F.permute(leaf(nhwc, device, requires_grad=False), (0, 3, 1, 2))  # (N, C, H, W) view
    w = random_array((2, 3, 3, 3), seed=2)
    nchw = nhwc.transpose(0, 3, 1, 2)
    y = F.conv2d(x, leaf(w, device, requires_grad=False), stride=2, padding=padding)
    np.testing.assert_allclose(y.numpy(), conv2d_reference(nchw, w, None, 2, padding, 1), rtol=1e-12)
    wt = random_array((3, 2, 3, 3), seed=3)
    yt = F.conv_transpose2d(x, leaf(wt, device, requires_grad=False), stride=2, padding=padding)
    np.testing.assert_allclose(yt.numpy(), conv_transpose2d_reference(nchw, wt, None, 2, padding, 0, 1),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.op_conv2d
@pytest.mark.op_conv_transpose2d
def test_dcgan_layers_halve_and_double_the_side(device):
    x = minigan.randn(2, 3, 8, 8, device=device)
    down = F.conv2d(x, minigan.randn(4, 3, 4, 4, device=device), stride=2, padding=1)
    up = F.conv_transpose2d(down, minigan.randn(4, 3, 4, 4, device=device), stride=2, padding=1)
    assert down.shape == (2, 4, 4, 4) and up.shape == (2, 3, 8, 8)
    assert down.dtype == up.dtype == np.float32  # float32 in, float32 out


# -- output shapes against PyTorch's formulas ---------------------------------------------------------
@pytest.mark.op_conv2d
@device_settings()
@given(case=conv2d_cases(max_side=12, max_kernel=5, max_stride=4, max_padding=3, max_dilation=3))
def test_conv2d_output_shape_follows_pytorch_formula(case):
    x, w = minigan.zeros(case.x_shape), minigan.zeros(case.weight_shape)
    k, s, p, d = case.weight_shape[2:], *(pair(case.kwargs[a]) for a in ("stride", "padding", "dilation"))
    sides = tuple(expected_conv_side(case.x_shape[2 + i], k[i], s[i], p[i], d[i]) for i in range(2))
    assert F.conv2d(x, w, **case.kwargs).shape == (case.x_shape[0], case.weight_shape[0]) + sides


@pytest.mark.op_conv_transpose2d
@device_settings()
@given(case=conv_transpose2d_cases(max_side=8, max_kernel=5, max_stride=4, max_padding=3, max_dilation=3))
def test_conv_transpose2d_output_shape_follows_pytorch_formula(case):
    x, w = minigan.zeros(case.x_shape), minigan.zeros(case.weight_shape)
    s, p, op, d = (pair(case.kwargs[a]) for a in ("stride", "padding", "output_padding", "dilation"))
    k = case.weight_shape[2:]
    sides = tuple(expected_conv_transpose_side(case.x_shape[2 + i], k[i], s[i], p[i], op[i], d[i])
                  for i in range(2))
    assert F.conv_transpose2d(x, w, **case.kwargs).shape == (case.x_shape[0], case.weight_shape[1]) + sides


@pytest.mark.op_conv2d
@pytest.mark.op_conv_transpose2d
def test_int_and_pair_arguments_agree(device):
    x, w = minigan.randn(1, 2, 7, 7, device=device), minigan.randn(3, 2, 3, 3, device=device)
    as_ints = F.conv2d(x, w, stride=2, padding=1, dilation=2)
    as_pairs = F.conv2d(x, w, stride=(2, 2), padding=[1, 1], dilation=(2, 2))
    np.testing.assert_array_equal(as_ints.numpy(), as_pairs.numpy())
    wt = minigan.randn(2, 3, 3, 3, device=device)
    np.testing.assert_array_equal(F.conv_transpose2d(x, wt, stride=2, output_padding=1).numpy(),
                                  F.conv_transpose2d(x, wt, stride=(2, 2), output_padding=(1, 1)).numpy())


# -- the adjoint identity <conv2d(x, w), y> = <x, conv_transpose2d(y, w)> ------------------------------
@pytest.mark.op_conv2d
@pytest.mark.op_conv_transpose2d
@pytest.mark.op_im2col
@pytest.mark.op_col2im
@device_settings()
@given(case=conv2d_cases(), seed=SEEDS)
@example(case=DCGAN_CONV, seed=0)
def test_conv_transpose2d_is_the_adjoint_of_conv2d(device, case, seed):
    x, w, _ = _operands(case, seed, device, bias=False, requires_grad=False)
    conv_x = F.conv2d(x, w, **case.kwargs)
    y = leaf(random_array(conv_x.shape, seed + 3), device, requires_grad=False)
    s, p, d = (pair(case.kwargs[a]) for a in ("stride", "padding", "dilation"))
    k = case.weight_shape[2:]
    # the rows of x that conv2d's last window skips come back as output_padding
    extra = tuple(case.x_shape[2 + i] - expected_conv_transpose_side(conv_x.shape[2 + i], k[i], s[i], p[i], 0, d[i])
                  for i in range(2))
    transposed_y = F.conv_transpose2d(y, w, stride=s, padding=p, output_padding=extra, dilation=d)
    assert transposed_y.shape == x.shape
    lhs = float((conv_x * y).sum().item())
    rhs = float((x * transposed_y).sum().item())
    # both are the sum over every (window, weight) pair of x * w * y: bound them as one sum
    magnitude = float((F.conv2d(abs(x), abs(w), **case.kwargs) * abs(y)).sum().item())
    assert_sums_close(lhs, rhs, magnitude, w[0].numel() + y.numel(), np.float64)


# -- first derivatives -----------------------------------------------------------------------------------
@pytest.mark.op_conv2d
@device_settings(0.5)
@given(case=conv2d_cases(), seed=SEEDS)
@example(case=DCGAN_CONV, seed=0)
def test_conv2d_gradcheck(device, case, seed):
    minigan.gradcheck(lambda x, w, b: F.conv2d(x, w, b, **case.kwargs), _operands(case, seed, device))


@pytest.mark.op_conv_transpose2d
@device_settings(0.5)
@given(case=conv_transpose2d_cases(), seed=SEEDS)
@example(case=DCGAN_CONV_T, seed=0)
def test_conv_transpose2d_gradcheck(device, case, seed):
    minigan.gradcheck(lambda x, w, b: F.conv_transpose2d(x, w, b, **case.kwargs), _operands(case, seed, device))


def _grad_w_args(case):
    s, p, d = (pair(case.kwargs[a]) for a in ("stride", "padding", "dilation"))
    return s, p, d, case.weight_shape[2:]


@pytest.mark.op_conv2d_grad_w
@pytest.mark.op_im2col
@device_settings(0.5)
@given(case=conv2d_cases(max_batch=1, max_side=5), seed=SEEDS)
def test_conv2d_grad_w_values_and_gradcheck(device, case, seed):
    """Conv2dGradW(x, dy) is conv2d's weight gradient, and is itself differentiable in both."""
    x, w, _ = _operands(case, seed, device, bias=False)
    out_shape = F.conv2d(x, w, **case.kwargs).shape
    gy = leaf(random_array(out_shape, seed + 4), device)
    expected = weight_gradient_reference(x.numpy(), gy.numpy(), case.weight_shape[2:], **case.kwargs)
    magnitude = weight_gradient_reference(abs(x.numpy()), abs(gy.numpy()), case.weight_shape[2:], **case.kwargs)
    got = Conv2dGradW(*_grad_w_args(case))(x, gy).numpy()
    assert_sums_close(got, expected, magnitude, gy[:, 0].numel(), np.float64)
    minigan.gradcheck(lambda a, b: Conv2dGradW(*_grad_w_args(case))(a, b), (x, gy))


@pytest.mark.op_conv2d_grad_w
@device_settings(0.5)
@given(case=conv2d_cases(max_batch=1, max_side=5), seed=SEEDS)
def test_conv2d_grad_w_values(device, case, seed):
    """Conv2dGradW(x, dy) alone (its forward): conv2d's weight gradient, against loops."""
    x, w, _ = _operands(case, seed, device, bias=False, requires_grad=False)
    gy = leaf(random_array(F.conv2d(x, w, **case.kwargs).shape, seed + 4), device, requires_grad=False)
    expected = weight_gradient_reference(x.numpy(), gy.numpy(), case.weight_shape[2:], **case.kwargs)
    magnitude = weight_gradient_reference(abs(x.numpy()), abs(gy.numpy()), case.weight_shape[2:], **case.kwargs)
    got = Conv2dGradW(*_grad_w_args(case))(x, gy).numpy()
    assert_sums_close(got, expected, magnitude, gy[:, 0].numel(), np.float64)


# -- second derivatives (WGAN-GP differentiates the critic's input gradient) ------------------------------
SMALL_CONV = conv2d_cases(max_batch=1, max_side=4, max_padding=1)
SMALL_CONV_T = conv_transpose2d_cases(max_batch=1, max_side=3, max_padding=1)


@pytest.mark.op_conv2d
@device_settings(0.2)
@given(case=SMALL_CONV, seed=SEEDS)
@example(case=ConvCase((1, 1, 4, 4), (1, 1, 4, 4), DCGAN_CONV.kwargs), seed=0)
def test_conv2d_gradgradcheck(device, case, seed):
    x, w, b = _operands(case, seed, device)
    minigan.gradgradcheck(lambda x, w, b: F.conv2d(x, w, b, **case.kwargs), (x, w, b))


@pytest.mark.op_conv2d_grad_w
@device_settings(0.2)
@given(case=SMALL_CONV, seed=SEEDS)
def test_conv2d_gradgradcheck_in_weight_only_exercises_grad_w_backward(device, case, seed):
    x = leaf(random_array(case.x_shape, seed), device, requires_grad=False)
    w = leaf(random_array(case.weight_shape, seed + 1), device)
    # x is a constant, so the first derivative is Conv2dGradW(x, r) alone
    minigan.gradgradcheck(lambda w: F.conv2d(x, w, **case.kwargs), w)


@pytest.mark.op_conv_transpose2d
@device_settings(0.2)
@given(case=SMALL_CONV_T, seed=SEEDS)
@example(case=ConvCase((1, 1, 2, 2), (1, 1, 4, 4), DCGAN_CONV_T.kwargs), seed=0)
def test_conv_transpose2d_gradgradcheck(device, case, seed):
    x, w, b = _operands(case, seed, device)
    minigan.gradgradcheck(lambda x, w, b: F.conv_transpose2d(x, w, b, **case.kwargs), (x, w, b))


@pytest.mark.op_conv2d_grad_w
@device_settings(0.2)
@given(case=conv2d_cases(max_batch=1, max_side=3, max_padding=1, max_kernel=2), seed=SEEDS)
def test_conv2d_grad_w_gradgradcheck(device, case, seed):
    x, w, _ = _operands(case, seed, device, bias=False)
    gy = leaf(random_array(F.conv2d(x, w, **case.kwargs).shape, seed + 4), device)
    minigan.gradgradcheck(lambda a, b: Conv2dGradW(*_grad_w_args(case))(a, b), (x, gy))


# -- a small WGAN-GP critic: the penalty's gradient with respect to the weights ----------------------------
CRITIC_X, CRITIC_W1, CRITIC_B1, CRITIC_W2 = (2, 1, 4, 4), (2, 1, 4, 4), (2,), (1, 2, 2, 2)


def critic(x, w1, b1, w2):
    """conv(k4 s2 p1) -> leaky_relu(0.2) -> conv(k2): one score per sample."""
    h = F.leaky_relu(F.conv2d(x, w1, b1, stride=2, padding=1), 0.2)
    return F.conv2d(h, w2).reshape(x.shape[0])


def gradient_penalty(x, w1, b1, w2):
    """mean over samples of (||d critic(x) / dx|| - 1)^2, differentiable in the weights."""
    with minigan.enable_grad():  # gradcheck evaluates under no_grad; the penalty needs a graph
        x = x.detach().requires_grad_()
        (gx,) = minigan.grad(critic(x, w1, b1, w2).sum(), x, create_graph=True)
        norms = (gx * gx).sum(axis=(1, 2, 3)).sqrt()
        return ((norms - 1.0) * (norms - 1.0)).mean()


def _critic_inputs(seed, device):
    shapes = (CRITIC_X, CRITIC_W1, CRITIC_B1, CRITIC_W2)
    return [leaf(random_array(s, seed + i), device, requires_grad=i > 0) for i, s in enumerate(shapes)]


@pytest.mark.op_conv2d
@device_settings(0.2)
@given(seed=SEEDS)
def test_gradient_penalty_gradcheck_on_the_weights(device, seed):
    x, w1, b1, w2 = _critic_inputs(seed, device)
    hidden = conv2d_reference(x.numpy(), w1.numpy(), b1.numpy(), 2, 1, 1)
    assume(np.abs(hidden).min() > 1e-3)  # keep every pre-activation off leaky_relu's kink
    minigan.gradcheck(gradient_penalty, (x, w1, b1, w2))


@pytest.mark.op_conv2d
def test_gradient_penalty_gradients_match_pytorch():
    torch = pytest.importorskip("torch", reason="PyTorch is the oracle for the WGAN-GP penalty gradient")
    x, w1, b1, w2 = _critic_inputs(7, "cpu")
    penalty = gradient_penalty(x, w1, b1, w2)
    grads = minigan.grad(penalty, [w1, b1, w2], allow_unused=True)  # b1 only moves the kinks
    tx, tw1, tb1, tw2 = (torch.tensor(t.numpy(), requires_grad=True) for t in (x, w1, b1, w2))
    h = torch.nn.functional.leaky_relu(torch.nn.functional.conv2d(tx, tw1, tb1, stride=2, padding=1), 0.2)
    score = torch.nn.functional.conv2d(h, tw2).reshape(-1)
    (tgx,) = torch.autograd.grad(score.sum(), tx, create_graph=True)
    t_penalty = ((tgx.flatten(1).norm(dim=1) - 1) ** 2).mean()
    t_grads = torch.autograd.grad(t_penalty, [tw1, tb1, tw2], allow_unused=True)
    np.testing.assert_allclose(penalty.item(), t_penalty.item(), rtol=1e-12)
    for ours, theirs, w in zip(grads, t_grads, (w1, b1, w2)):
        ours = np.zeros(w.shape) if ours is None else ours.numpy()
        theirs = np.zeros(w.shape) if theirs is None else theirs.numpy()
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)
    assert np.abs(grads[0].numpy()).max() > 1e-3  # the second-order term is really there


# -- errors -------------------------------------------------------------------------------------------
def _raises(error, message):
    return pytest.raises(error, match=re.escape(message))


def test_conv_rejects_inputs_that_are_not_4d():
    w = minigan.zeros(2, 2, 3, 3)
    with _raises(ValueError, "conv2d: expected x.ndim == 4, got 3 (shape (2, 5, 5))"):
        F.conv2d(minigan.zeros(2, 5, 5), w)
    with _raises(ValueError, "conv2d: expected weight.ndim == 4, got 2 (shape (2, 2))"):
        F.conv2d(minigan.zeros(1, 2, 5, 5), minigan.zeros(2, 2))
    with _raises(ValueError, "conv_transpose2d: expected x.ndim == 4, got 5 (shape (1, 1, 2, 5, 5))"):
        F.conv_transpose2d(minigan.zeros(1, 1, 2, 5, 5), w)
    with _raises(TypeError, "conv2d: x must be a Tensor, got ndarray"):
        F.conv2d(np.zeros((1, 2, 5, 5)), w)


def test_conv_channel_mismatch_names_both_shapes():
    with _raises(ValueError, "conv2d: x has 3 channels but weight (4, 2, 3, 3) expects 2 (x shape (1, 3, 5, 5))"):
        F.conv2d(minigan.zeros(1, 3, 5, 5), minigan.zeros(4, 2, 3, 3))
    with _raises(ValueError, "conv_transpose2d: x has 4 channels but weight (2, 3, 3, 3) expects 2 "
                             "(x shape (1, 4, 5, 5))"):
        F.conv_transpose2d(minigan.zeros(1, 4, 5, 5), minigan.zeros(2, 3, 3, 3))


@pytest.mark.parametrize("name, value, minimum", [
    ("stride", 0, 1), ("stride", (1, 2, 3), 1), ("stride", 1.5, 1), ("stride", (2, -1), 1),
    ("padding", -1, 0), ("padding", (0, 0.5), 0), ("dilation", 0, 1)])
def test_bad_stride_padding_dilation_raise(name, value, minimum):
    x, w = minigan.zeros(1, 1, 5, 5), minigan.zeros(1, 1, 2, 2)
    message = f"must be an int or a pair of ints >= {minimum}, got {value!r}"
    with _raises(ValueError, f"conv2d: {name} {message}"):
        F.conv2d(x, w, **{name: value})
    with _raises(ValueError, f"conv_transpose2d: {name} {message}"):
        F.conv_transpose2d(x, w, **{name: value})


def test_output_padding_must_be_smaller_than_stride():
    x, w = minigan.zeros(1, 1, 3, 3), minigan.zeros(1, 1, 3, 3)
    with _raises(ValueError, "conv_transpose2d: output_padding (2, 2) must be smaller than stride (2, 2)"):
        F.conv_transpose2d(x, w, stride=2, output_padding=2)
    with _raises(ValueError, "conv_transpose2d: output_padding (0, 1) must be smaller than stride (2, 1)"):
        F.conv_transpose2d(x, w, stride=(2, 1), output_padding=(0, 1))
    with _raises(ValueError, "conv_transpose2d: output_padding must be an int or a pair of ints >= 0, got -1"):
        F.conv_transpose2d(x, w, stride=2, output_padding=-1)


def test_dtype_mismatch_names_both_dtypes():
    x32, w64 = minigan.zeros(1, 2, 5, 5), minigan.zeros(2, 2, 3, 3, dtype="float64")
    with _raises(TypeError, "conv2d: x is float32 but weight is float64"):
        F.conv2d(x32, w64)
    with _raises(TypeError, "conv_transpose2d: x is float32 but weight is float64"):
        F.conv_transpose2d(x32, w64)
    with _raises(TypeError, "conv2d: x is float32 but bias is float64"):
        F.conv2d(x32, minigan.zeros(2, 2, 3, 3), minigan.zeros(2, dtype="float64"))


def test_bad_bias_raises():
    x, w = minigan.zeros(1, 2, 5, 5), minigan.zeros(3, 2, 3, 3)
    with _raises(ValueError, "conv2d: bias must have shape (3,), got (2,)"):
        F.conv2d(x, w, minigan.zeros(2))
    with _raises(ValueError, "conv_transpose2d: bias must have shape (3,), got (2,)"):
        F.conv_transpose2d(minigan.zeros(1, 2, 5, 5), minigan.zeros(2, 3, 3, 3), minigan.zeros(2))
    with _raises(TypeError, "conv2d: bias must be a Tensor or None, got list"):
        F.conv2d(x, w, [0.0, 0.0, 0.0])


def test_input_too_small_for_the_kernel_raises():
    with _raises(ValueError, "conv2d: input (1, 1, 2, 2) padded by (0, 0) is smaller than the dilated "
                             "kernel (3, 3) (dilation (1, 1))"):
        F.conv2d(minigan.zeros(1, 1, 2, 2), minigan.zeros(1, 1, 3, 3))
    with _raises(ValueError, "conv2d: input (1, 1, 4, 4) padded by (0, 0) is smaller than the dilated "
                             "kernel (3, 3) (dilation (2, 2))"):
        F.conv2d(minigan.zeros(1, 1, 4, 4), minigan.zeros(1, 1, 3, 3), dilation=2)
    with _raises(ValueError, "conv_transpose2d: padding (1, 1) leaves no output for input (1, 1, 1, 1) "
                             "and kernel (1, 1)"):
        F.conv_transpose2d(minigan.zeros(1, 1, 1, 1), minigan.zeros(1, 1, 1, 1), padding=1)


def test_operands_on_different_devices_raise():
    with pytest.raises(RuntimeError, match="Conv2d: expected all tensors on one device, got cpu and sim"):
        F.conv2d(minigan.zeros(1, 1, 3, 3), minigan.zeros(1, 1, 3, 3, device="sim"))


# -- the scratch buffers that big convolutions reuse (im2col's columns, the padded image) --------
SCRATCH_CASES = [  # (x shape, weight shape, stride, dtype): each column matrix > 2**18 numbers
    ((4, 8, 26, 26), (6, 8, 4, 4), 1, np.float32),
    ((2, 12, 30, 30), (4, 12, 3, 3), 1, np.float64),  # other dtype, bigger buffer
    ((6, 8, 24, 24), (5, 8, 4, 4), 2, np.float32),  # smaller: a view of the buffer's start
]


def _conv_and_grads(x_values, w_values, stride, seed):
    """conv2d(padding=1) of the arrays and its gradients for a random upstream, as NumPy arrays."""
    x, w = minigan.tensor(x_values, requires_grad=True), minigan.tensor(w_values, requires_grad=True)
    y = F.conv2d(x, w, stride=stride, padding=1)
    upstream = random_array(y.shape, seed).astype(x_values.dtype)
    gx, gw = minigan.grad((y * minigan.tensor(upstream)).sum(), [x, w])
    return y.numpy(), gx.numpy(), gw.numpy(), upstream


@pytest.mark.op_conv2d
@pytest.mark.op_im2col
def test_reused_scratch_buffers_give_right_values_call_after_call():
    """Big convolutions of several shapes and dtypes in a row (forward, dx and dW all use the
    buffers) match the loop references; the first case run again gives the same bits."""
    operands = [(random_array(xs, 10 + i).astype(dt), random_array(ws, 20 + i).astype(dt), s)
                for i, (xs, ws, s, dt) in enumerate(SCRATCH_CASES)]
    first = None
    for i, (x, w, stride) in enumerate(operands + operands[:1]):
        y, gx, gw, upstream = _conv_and_grads(x, w, stride, seed=30 + i % len(operands))
        if first is None:
            first = (y, gx, gw)
        x64, w64, up64 = x.astype(np.float64), w.astype(np.float64), upstream.astype(np.float64)
        extra = x.shape[2] - expected_conv_transpose_side(y.shape[2], w.shape[2], stride, 1, 0, 1)
        references = {  # name: (the float64 loops, their number of terms)
            "y": (lambda a, b, c: conv2d_reference(a, b, None, stride, 1, 1), w[0].size),
            "dx": (lambda a, b, c: conv_transpose2d_reference(c, b, None, stride, 1, extra, 1), w[:, 0].size),
            "dW": (lambda a, b, c: weight_gradient_reference(a, c, w.shape[2:], pair(stride), pair(1), pair(1)),
                   y[:, 0].size)}
        for (name, (reference, terms)), got in zip(references.items(), (y, gx, gw)):
            assert_sums_close(got, reference(x64, w64, up64), reference(abs(x64), abs(w64), abs(up64)), terms,
                              x.dtype, err_msg=f"case {i % len(operands)}: {name}")
    for a, b in zip(first, (y, gx, gw)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.op_im2col
def test_im2col_reuses_one_buffer_only_when_asked():
    x = random_array((4, 8, 24, 24), seed=1).astype(np.float32)  # 270,848 numbers of columns
    fresh = [im2col(x, (4, 4), (1, 1), (1, 1), (1, 1)) for _ in range(2)]
    reused = [im2col(x, (4, 4), (1, 1), (1, 1), (1, 1), reuse=True) for _ in range(2)]
    assert not np.shares_memory(*fresh)
    assert np.shares_memory(*reused)
    np.testing.assert_array_equal(fresh[0], reused[1])


@pytest.mark.op_conv2d
def test_threads_get_their_own_scratch_buffers():
    """Two threads convolving different inputs at once get what each gets alone."""
    x, w, stride, _ = SCRATCH_CASES[0]
    inputs = [(random_array(x, seed).astype(np.float32), random_array(w, seed + 1).astype(np.float32))
              for seed in (1, 2)]
    alone = [_conv_and_grads(a, b, stride, seed=3)[:3] for a, b in inputs]
    with ThreadPoolExecutor(2) as pool:
        together = list(pool.map(lambda ab: [_conv_and_grads(*ab, stride, seed=3)[:3] for _ in range(5)], inputs))
    for mine, runs in zip(alone, together):
        for run in runs:
            for a, b in zip(mine, run):
                np.testing.assert_array_equal(a, b)


# -- columns made once: conv2d keeps forward's im2col(x) for dW; conv_transpose2d's backward shares im2col(dy)
# (the reference's speed-ups, not part of the course tasks: no op_ marks, a student's plain forms need not keep them)
@pytest.mark.parametrize("case", [DCGAN_CONV, ConvCase((2, 3, 7, 5), (4, 3, 3, 2), {"stride": (1, 2), "padding": (2, 0),
                                                                                    "dilation": (2, 1)})])
def test_kept_columns_give_the_gradients_of_fresh_ones(case):
    """conv2d's weight gradient from the columns its forward kept equals Conv2dGradW making them
    again (the same bits), and the forward kept them only because the weight wants a gradient."""
    x, w = (random_array(s, seed).astype(np.float32) for s, seed in ((case.x_shape, 1), (case.weight_shape, 2)))
    params = tuple(pair(case.kwargs[k]) for k in ("stride", "padding", "dilation"))
    xt, wt = minigan.tensor(x, requires_grad=True), minigan.tensor(w, requires_grad=True)
    y = F.conv2d(xt, wt, **case.kwargs)
    assert y.creator.columns is not None
    upstream = minigan.tensor(random_array(y.shape, 3).astype(np.float32))
    gx, gw = minigan.grad((y * upstream).sum(), [xt, wt])
    fresh = Conv2dGradW(*params, w.shape[2:])(minigan.tensor(x), upstream).numpy()
    np.testing.assert_array_equal(gw.numpy(), fresh)
    frozen = F.conv2d(minigan.tensor(x, requires_grad=True), minigan.tensor(w), **case.kwargs)
    assert frozen.creator.columns is None  # no dW wanted: the scratch buffer, nothing kept


def test_columns_above_the_size_limit_are_made_again_with_the_same_gradients(monkeypatch):
    """Past KEEP_COLUMNS_MAX_BYTES (memory before a copy), conv2d keeps nothing and
    conv_transpose2d's backward shares nothing; the gradients are the same bits either way."""
    from minigan.functional import conv as conv_module
    x = minigan.tensor(random_array((2, 3, 8, 8), 1).astype(np.float32), requires_grad=True)
    w = minigan.tensor(random_array((4, 3, 4, 4), 2).astype(np.float32), requires_grad=True)
    wt = minigan.tensor(random_array((3, 4, 4, 4), 3).astype(np.float32), requires_grad=True)

    def run():
        y = F.conv2d(x, w, stride=2, padding=1)
        kept = y.creator.columns is not None
        loss = (y * y).sum() + (F.conv_transpose2d(x, wt, stride=2, padding=1) ** 2).sum()
        return kept, [g.numpy() for g in minigan.grad(loss, [x, w, wt])]
    kept, grads = run()
    monkeypatch.setattr(conv_module, "KEEP_COLUMNS_MAX_BYTES", 100)  # smaller than any of these matrices
    not_kept, again = run()
    assert kept and not not_kept
    for a, b in zip(grads, again):
        np.testing.assert_array_equal(a, b)


def test_kept_columns_do_not_hide_an_in_place_write_to_x():
    """The columns copy x; writing x in place after the forward still makes backward raise."""
    x = minigan.tensor(random_array((2, 2, 6, 6), 1))
    y = F.conv2d(x, minigan.tensor(random_array((3, 2, 4, 4), 2), requires_grad=True), stride=2, padding=1)
    assert y.creator.columns is not None
    x.add_(1.0)
    with pytest.raises(RuntimeError, match="Conv2d.*version"):
        y.sum().backward()


def test_conv_transpose2d_backward_shares_one_im2col_of_dy():
    """With both gradients wanted, conv_transpose2d's backward makes im2col(dy) once and gives
    dx and dW equal (bit for bit) to computing each alone."""
    x = minigan.tensor(random_array((3, 4, 5, 5), 1).astype(np.float32), requires_grad=True)
    w = minigan.tensor(random_array((4, 2, 4, 4), 2).astype(np.float32), requires_grad=True)
    y = F.conv_transpose2d(x, w, stride=2, padding=1)
    upstream = minigan.tensor(random_array(y.shape, 3).astype(np.float32))
    loss = lambda: (F.conv_transpose2d(x, w, stride=2, padding=1) * upstream).sum()
    both = minigan.grad(loss(), [x, w])
    alone = [minigan.grad(loss(), [t])[0] for t in (x, w)]
    for a, b in zip(both, alone):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


# -- strides that leave input rows unused (course task conv2d) -----------------------------------------------
@pytest.mark.op_conv2d
@pytest.mark.parametrize("x_shape, kwargs", [((1, 2, 8, 7), dict(stride=2)),
                                             ((2, 1, 7, 9), dict(stride=(3, 2), padding=1)),
                                             ((1, 1, 6, 6), dict(stride=3, dilation=2))])
def test_conv2d_gradient_when_the_stride_leaves_rows_unused(device, x_shape, kwargs):
    """Several input sizes give the same output size: dx must have x's shape (the last rows,
    which no window covers, get zero), not the smallest one that gives that output."""
    x = leaf(random_array(x_shape, 5), device)
    w = leaf(random_array((3, x_shape[1], 3, 3), 6), device)
    y = F.conv2d(x, w, **kwargs)
    gx, gw = minigan.grad(y.sum(), [x, w])
    assert gx.shape == x.shape and gw.shape == w.shape
    minigan.gradcheck(lambda a, b: F.conv2d(a, b, **kwargs), (x, w))


# -- col2im by stride phases (the fast form the conv Functions use) against the plain loop ---------
@pytest.mark.op_col2im
@device_settings()
@given(case=conv2d_cases(max_batch=3, max_channels=3, max_side=9, max_kernel=4, max_stride=3), seed=SEEDS,
       dtype=st.sampled_from([np.float32, np.float64]), overwrite=st.booleans())
@example(case=DCGAN_CONV, seed=0, dtype=np.float32, overwrite=True)
@example(case=DCGAN_CONV, seed=0, dtype=np.float32, overwrite=False)
def test_col2im_by_phases_equals_the_plain_loop(device, case, seed, dtype, overwrite):
    """Every pixel gets the same columns, summed in another order: equal up to the rounding of
    a sum of (at most) kh*kw terms. With ``overwrite`` (the flat slabs), what it changes in cols
    is only entries that col2im drops in the padding: plain col2im gives the same bits after."""
    kernel = case.weight_shape[2:]
    stride, padding, dilation = (pair(case.kwargs[a]) for a in ("stride", "padding", "dilation"))
    inner = [conv_output_size(*args) for args in zip(case.x_shape[2:], kernel, stride, padding, dilation)]
    n, c = case.x_shape[:2]
    values = random_array((c * kernel[0] * kernel[1], inner[0] * inner[1] * n), seed).astype(dtype)
    cols = minigan.tensor(values, device=device).array
    args = (n, case.x_shape[2:], kernel, stride, padding, dilation)
    plain = col2im(cols, *args)
    scratch = minigan.tensor(values, device=device).array
    fast = col2im_by_phases(scratch, *args, overwrite=overwrite)
    np.testing.assert_array_equal(minigan.Tensor(col2im(scratch, *args)).numpy(), minigan.Tensor(plain).numpy())
    assert fast.shape == plain.shape == case.x_shape and fast.dtype == plain.dtype
    magnitude = col2im(abs(cols), *args)
    assert_sums_close(minigan.Tensor(fast).numpy(), minigan.Tensor(plain).numpy(),
                      minigan.Tensor(magnitude).numpy(), kernel[0] * kernel[1], dtype)


def test_col2im_by_phases_by_hand():
    """A 1-D picture: kernel 4, stride 2, padding 1 on 3 inputs gives 6 outputs; output y sums
    the taps i of inputs a with 2a + i - 1 = y."""
    cols = np.arange(1.0, 13.0).reshape(4, 3)  # cols[i, a]: tap i of input a
    expected = [cols[1, 0], cols[2, 0] + cols[0, 1], cols[3, 0] + cols[1, 1], cols[2, 1] + cols[0, 2],
                cols[3, 1] + cols[1, 2], cols[2, 2]]
    image = col2im_by_phases(cols, 1, (1, 6), (1, 4), (1, 2), (0, 1), (1, 1))
    np.testing.assert_array_equal(image[0, 0, 0], expected)
    # the flat slabs: tap 0 of input 0 and tap 3 of input 2 land in the padding (outputs -1 and 6)
    scratch = cols.copy()
    image = col2im_by_phases(scratch, 1, (1, 6), (1, 4), (1, 2), (0, 1), (1, 1), overwrite=True)
    np.testing.assert_array_equal(image[0, 0, 0], expected)
    dropped = np.zeros_like(cols, dtype=bool)
    dropped[0, 0] = dropped[3, 2] = True
    np.testing.assert_array_equal(scratch[~dropped], cols[~dropped])
    np.testing.assert_array_equal(scratch[dropped], 0)
