"""Losses: gradients, values against independent formulas, reductions, numerical extremes, errors."""
import re
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigan
from minigan import functional as F

from helpers import arrays, device_settings, leaf, op_params, shapes

REDUCTIONS = st.sampled_from(["mean", "sum", "none"])


def reduce_reference(loss, reduction):
    return {"mean": np.mean, "sum": np.sum, "none": np.asarray}[reduction](loss)


# Independent float64 formulas, each elementwise on (input, target).
def bce_reference(p, t):
    return -(t * np.log(p) + (1 - t) * np.log(1 - p))


def bce_with_logits_reference(z, t):
    probability = 1 / (1 + np.exp(-z))  # fine for the moderate |z| these tests draw
    return bce_reference(probability, t)


def mse_reference(a, b):
    return (a - b) ** 2


def cross_entropy_reference(logits, labels):
    """-log softmax(logits)[label] per row, from a max-shifted log-sum-exp."""
    top = logits.max(axis=1, keepdims=True)
    log_probs = logits - top - np.log(np.exp(logits - top).sum(axis=1, keepdims=True))
    return -log_probs[np.arange(len(labels)), labels]


# (op, reference, input range, whether the target is differentiable)
PAIR_LOSSES = {
    "binary_cross_entropy": (F.binary_cross_entropy, bce_reference, (0.05, 0.95), False),
    "binary_cross_entropy_with_logits": (F.binary_cross_entropy_with_logits, bce_with_logits_reference,
                                         (-4.0, 4.0), True),
    "mse_loss": (F.mse_loss, mse_reference, (-2.0, 2.0), True),
}
TASK_OF = {"binary_cross_entropy_with_logits": None, "mse_loss": None}  # no course task: compositions


@st.composite
def classification(draw, max_rows=4, max_classes=4):
    """Logits (N, C) as float64 values and integer labels (N,) in [0, C)."""
    n, c = draw(st.integers(1, max_rows)), draw(st.integers(1, max_classes))
    logits = draw(arrays((n, c), low=-3.0, high=3.0))
    labels = np.array(draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)), dtype=np.int64)
    return logits, labels


def _pair_operands(name, data, device):
    _, _, (low, high), target_grad = PAIR_LOSSES[name]
    shape = data.draw(shapes(min_dims=1))
    target_low, target_high = (0.0, 1.0) if name != "mse_loss" else (-2.0, 2.0)
    values = data.draw(arrays(shape, low=low, high=high))
    targets = data.draw(arrays(shape, low=target_low, high=target_high))
    return leaf(values, device), leaf(targets, device, requires_grad=target_grad)


# -- gradients ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", op_params(sorted(PAIR_LOSSES), TASK_OF))
@device_settings(0.6)
@given(data=st.data(), reduction=REDUCTIONS)
def test_pair_loss_gradcheck(device, name, data, reduction):
    op = PAIR_LOSSES[name][0]
    minigan.gradcheck(lambda a, b: op(a, b, reduction=reduction), _pair_operands(name, data, device))


@device_settings(0.6)
@given(case=classification(), reduction=REDUCTIONS)
def test_cross_entropy_gradcheck(device, case, reduction):
    logits, labels = case
    labels = minigan.tensor(labels, device=device)
    minigan.gradcheck(lambda z: F.cross_entropy(z, labels, reduction=reduction), leaf(logits, device))


@pytest.mark.parametrize("name", ["binary_cross_entropy_with_logits", "mse_loss"])
@device_settings(0.2)
@given(data=st.data())
def test_pair_loss_gradgradcheck(device, name, data):
    a, b = _pair_operands(name, data, device)
    minigan.gradgradcheck(lambda a, b: PAIR_LOSSES[name][0](a, b), (a, b))


@device_settings(0.2)
@given(case=classification(max_rows=3, max_classes=3))
def test_cross_entropy_gradgradcheck(device, case):
    logits, labels = case
    labels = minigan.tensor(labels, device=device)
    minigan.gradgradcheck(lambda z: F.cross_entropy(z, labels), leaf(logits, device))


# -- values and reductions --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", op_params(sorted(PAIR_LOSSES), TASK_OF))
@device_settings()
@given(data=st.data(), reduction=REDUCTIONS)
def test_pair_loss_values_and_reductions(device, name, data, reduction):
    op, reference, _, _ = PAIR_LOSSES[name]
    a, b = _pair_operands(name, data, device)
    loss = op(a, b, reduction=reduction)
    expected = reduce_reference(reference(a.numpy(), b.numpy()), reduction)
    assert loss.shape == np.shape(expected)
    np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-10, atol=1e-12)


@device_settings()
@given(case=classification(max_rows=6, max_classes=5), reduction=REDUCTIONS)
def test_cross_entropy_matches_an_independent_log_softmax(device, case, reduction):
    logits, labels = case
    loss = F.cross_entropy(leaf(logits, device), minigan.tensor(labels, device=device), reduction=reduction)
    expected = reduce_reference(cross_entropy_reference(logits, labels), reduction)
    assert loss.shape == np.shape(expected)
    np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("label_dtype", ["int32", "uint8", "int64"])
def test_cross_entropy_accepts_any_integer_labels(device, label_dtype):
    logits = np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
    labels = np.array([1, 2], dtype=label_dtype)
    loss = F.cross_entropy(leaf(logits, device), minigan.tensor(labels, device=device))
    np.testing.assert_allclose(loss.item(), cross_entropy_reference(logits, labels.astype(np.int64)).mean())


def test_default_reduction_is_mean(device):
    a, b = leaf([0.2, 0.7], device), leaf([1.0, 0.0], device, requires_grad=False)
    for op in (F.binary_cross_entropy, F.binary_cross_entropy_with_logits, F.mse_loss):
        assert op(a, b).item() == pytest.approx(op(a, b, reduction="sum").item() / 2, rel=1e-12)


def test_losses_match_pytorch():
    torch = pytest.importorskip("torch", reason="PyTorch is the oracle for loss values and gradients")
    tf = torch.nn.functional
    rng = np.random.default_rng(11)
    p, z, t = rng.uniform(0.01, 0.99, (3, 4)), rng.normal(0, 3, (3, 4)), rng.uniform(0, 1, (3, 4))
    labels = np.array([0, 3, 1])
    cases = [(F.binary_cross_entropy, tf.binary_cross_entropy, p, t),
             (F.binary_cross_entropy_with_logits, tf.binary_cross_entropy_with_logits, z, t),
             (F.mse_loss, tf.mse_loss, z, t),
             (F.cross_entropy, tf.cross_entropy, z, labels)]
    for ours, theirs, a, b in cases:
        for reduction in ("mean", "sum", "none"):
            x, tx = minigan.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
            loss = ours(x, minigan.tensor(b), reduction=reduction)
            t_loss = theirs(tx, torch.tensor(b), reduction=reduction)
            np.testing.assert_allclose(loss.numpy(), t_loss.detach().numpy(), rtol=1e-10)
            loss.sum().backward()
            t_loss.sum().backward()
            np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-14)


# -- numerical extremes -------------------------------------------------------------------------------------
@pytest.mark.op_binary_cross_entropy
@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")  # NumPy's log(0) = -inf, then clamped
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_bce_at_probabilities_zero_and_one_is_finite_like_pytorch(device, dtype):
    p_values = np.array([0.0, 1.0, 0.0, 1.0, 0.0], dtype=dtype)
    t_values = np.array([1.0, 0.0, 0.0, 1.0, 0.5], dtype=dtype)
    p = minigan.tensor(p_values, requires_grad=True, device=device)
    loss = F.binary_cross_entropy(p, minigan.tensor(t_values, device=device), reduction="none")
    # each log is clamped at -100: a wrong certain answer costs 100, a right one 0
    np.testing.assert_array_equal(loss.numpy(), [100.0, 100.0, 0.0, 0.0, 50.0])
    assert loss.dtype == dtype
    loss.sum().backward()
    grad = p.grad.numpy()
    assert np.isfinite(grad).all()
    # PyTorch's gradient: (p - t) / max(p (1 - p), 1e-12)
    expected = (p_values.astype(np.float64) - t_values) / np.maximum(p_values * (1.0 - p_values), 1e-12)
    np.testing.assert_allclose(grad, expected, rtol=1e-6)


@pytest.mark.op_binary_cross_entropy
@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")  # NumPy's log(0) = -inf, then clamped
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_bce_values_at_probabilities_zero_and_one_are_clamped_like_pytorch(device, dtype):
    """The values alone (the test above checks the gradient too): each log is clamped at -100."""
    p = minigan.tensor(np.array([0.0, 1.0, 0.0, 1.0, 0.0, 1.0], dtype=dtype), device=device)
    t = minigan.tensor(np.array([1.0, 0.0, 0.0, 1.0, 0.5, 0.25], dtype=dtype), device=device)
    loss = F.binary_cross_entropy(p, t, reduction="none")
    np.testing.assert_array_equal(loss.numpy(), [100.0, 100.0, 0.0, 0.0, 50.0, 75.0])
    assert loss.dtype == dtype


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_bce_with_logits_is_exact_at_huge_float32_logits(device, reduction):
    z = minigan.tensor(np.array([1e4, -1e4, 1e4, -1e4, 1e4, -1e4], dtype=np.float32),
                       requires_grad=True, device=device)
    t = minigan.tensor(np.array([1.0, 0.0, 0.0, 1.0, 0.5, 0.5], dtype=np.float32), device=device)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # exp overflow would warn
        loss = F.binary_cross_entropy_with_logits(z, t, reduction=reduction)
        (grad,) = minigan.grad(loss.sum(), z)
    per_element = np.array([0.0, 0.0, 1e4, 1e4, 5e3, 5e3])  # max(z, 0) - t z: the log term vanishes
    assert loss.dtype == np.float32
    np.testing.assert_array_equal(loss.numpy(), reduce_reference(per_element, reduction).astype(np.float32))
    scale = 1 / 6 if reduction == "mean" else 1.0
    sigmoid_minus_target = np.array([1.0, 0.0, 1.0, 0.0, 1.0, 0.0]) - t.numpy()  # sigmoid(+-1e4) = 1 or 0
    np.testing.assert_allclose(grad.numpy(), scale * sigmoid_minus_target, rtol=1e-6)


def test_cross_entropy_is_finite_for_huge_float32_logits(device):
    logits = minigan.tensor(np.array([[1e4, 0.0, -1e4], [1e4, 0.0, -1e4]], dtype=np.float32),
                            requires_grad=True, device=device)
    loss = F.cross_entropy(logits, minigan.tensor(np.array([0, 2]), device=device), reduction="none")
    np.testing.assert_array_equal(loss.numpy(), [0.0, 2e4])
    loss.sum().backward()
    np.testing.assert_array_equal(logits.grad.numpy(), [[0.0, 0.0, 0.0], [1.0, 0.0, -1.0]])  # softmax - onehot


# -- errors -------------------------------------------------------------------------------------------------
def _raises(error, message):
    return pytest.raises(error, match=re.escape(message))


@pytest.mark.parametrize("name", sorted(PAIR_LOSSES))
def test_pair_loss_shape_mismatch_names_the_op_and_shapes(name):
    op = PAIR_LOSSES[name][0]
    with _raises(ValueError, f"{name}: input shape (2, 3) and target shape (3,) differ"):
        op(minigan.full((2, 3), 0.5), minigan.full((3,), 0.5))
    with _raises(TypeError, f"{name}: target must be a Tensor, got ndarray"):
        op(minigan.full((2, 3), 0.5), np.full((2, 3), 0.5))


@pytest.mark.parametrize("name", sorted(PAIR_LOSSES))
def test_pair_loss_dtype_mismatch_names_the_op(name):
    op = PAIR_LOSSES[name][0]
    with _raises(TypeError, f"{name}: dtypes differ, float32 and float64"):
        op(minigan.full((2,), 0.5), minigan.full((2,), 0.5, dtype="float64"))


@pytest.mark.parametrize("name", sorted(PAIR_LOSSES) + ["cross_entropy"])
def test_unknown_reduction_raises(name):
    op = getattr(F, name)
    target = minigan.tensor([0, 1]) if name == "cross_entropy" else minigan.full((2, 2), 0.5)
    with _raises(ValueError, f"{name}: reduction must be 'mean', 'sum' or 'none', got 'avg'"):
        op(minigan.full((2, 2), 0.5), target, reduction="avg")


def test_bce_target_must_not_require_grad():
    with _raises(ValueError, "binary_cross_entropy: target must not require grad"):
        F.binary_cross_entropy(minigan.full((2,), 0.5), minigan.full((2,), 0.5, requires_grad=True))


def test_cross_entropy_bad_labels_raise(device):
    logits = minigan.zeros(3, 4, device=device)
    with _raises(ValueError, "cross_entropy: labels must lie in [0, 4), got 0..4"):
        F.cross_entropy(logits, minigan.tensor([0, 4, 1], device=device))
    with _raises(ValueError, "cross_entropy: labels must lie in [0, 4), got -1..2"):
        F.cross_entropy(logits, minigan.tensor([2, -1, 0], device=device))
    with _raises(TypeError, "cross_entropy: labels must be integers, got float32"):
        F.cross_entropy(logits, minigan.tensor([0.0, 1.0, 2.0], device=device))
    with _raises(TypeError, "cross_entropy: labels must be integers, got bool"):
        F.cross_entropy(logits, minigan.tensor([True, False, True], device=device))


def test_cross_entropy_shape_mismatch_names_the_op_and_shapes():
    with _raises(ValueError, "cross_entropy: expected logits (N, C) and labels (N,), got (3, 4) and (2,)"):
        F.cross_entropy(minigan.zeros(3, 4), minigan.tensor([0, 1]))
    with _raises(ValueError, "cross_entropy: expected logits (N, C) and labels (N,), got (4,) and (4,)"):
        F.cross_entropy(minigan.zeros(4), minigan.tensor([0, 1, 2, 3]))
    with _raises(ValueError, "cross_entropy: expected logits (N, C) and labels (N,), got (3, 4) and (3, 1)"):
        F.cross_entropy(minigan.zeros(3, 4), minigan.tensor([[0], [1], [2]]))
    with _raises(TypeError, "cross_entropy: input and target must be Tensors"):
        F.cross_entropy(minigan.zeros(3, 4), [0, 1, 2])


def test_cross_entropy_labels_on_another_device_raise():
    with _raises(RuntimeError, "cross_entropy: expected all tensors on one device, got cpu and sim"):
        F.cross_entropy(minigan.zeros(2, 3), minigan.tensor([0, 1], device="sim"))


# -- PyTorch's other arguments: weights, pos_weight, ignore_index; l1 and nll ---------------------------------
@device_settings(0.6)
@given(data=st.data(), reduction=REDUCTIONS)
def test_weighted_losses_and_l1_gradcheck_against_their_formulas(device, data, reduction):
    shape = data.draw(shapes(min_dims=1, max_dims=2), label="shape")
    p = data.draw(arrays(shape, low=0.05, high=0.95), label="p")
    z = data.draw(arrays(shape, low=-3.0, high=3.0, away_from=(0.0,)), label="z")
    t = data.draw(arrays(shape, low=0.0, high=1.0), label="t")
    w = data.draw(arrays(shape[-1:], low=0.1, high=2.0), label="w")
    weight, target = leaf(w, device, requires_grad=False), leaf(t, device, requires_grad=False)
    cases = [  # (loss of the leaf, its independent float64 formula)
        (lambda u: F.binary_cross_entropy(u, target, weight, reduction=reduction), p, w * bce_reference(p, t)),
        (lambda u: F.binary_cross_entropy_with_logits(u, target, pos_weight=weight, reduction=reduction), z,
         w * t * np.logaddexp(0, -z) + (1 - t) * np.logaddexp(0, z)),
        (lambda u: F.l1_loss(u, target, reduction=reduction), z, np.abs(z - t)),
    ]
    for loss, x, expected in cases:
        np.testing.assert_allclose(loss(leaf(x, device)).numpy(), reduce_reference(expected, reduction), rtol=1e-12)
        minigan.gradcheck(loss, leaf(x, device))


@device_settings(0.6)
@given(case=classification(), reduction=REDUCTIONS, data=st.data())
def test_nll_and_cross_entropy_with_class_weights_and_an_ignored_label(device, case, reduction, data):
    logits, labels = case
    c = logits.shape[1]
    w = data.draw(arrays((c,), low=0.1, high=2.0), label="w")
    ignored = data.draw(st.sampled_from([-100, 0]), label="ignore_index")
    rows = labels != ignored
    per_row = np.where(rows, w[labels] * cross_entropy_reference(logits, labels), 0.0)
    expected = per_row if reduction == "none" else per_row.sum()
    y, weight = minigan.tensor(labels, device=device), leaf(w, device, requires_grad=False)

    def loss(z):
        return F.cross_entropy(z, y, weight, ignore_index=ignored, reduction=reduction)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # every row ignored: a mean of nothing, 0 / 0
        if reduction == "mean":
            expected = np.float64(expected) / (w[labels] * rows).sum()  # divided by the counted rows' weights
        np.testing.assert_allclose(loss(leaf(logits, device)).numpy(), expected, rtol=1e-12)  # (NaN as in PyTorch)
        np.testing.assert_allclose(F.nll_loss(F.log_softmax(leaf(logits, device), dim=1), y, weight,
                                              ignore_index=ignored, reduction=reduction).numpy(), expected, rtol=1e-12)
    if reduction != "mean" or rows.any():
        minigan.gradcheck(loss, leaf(logits, device))


def test_dropout2d_gradcheck_with_its_mask_fixed_by_the_seed(device):
    x = leaf(np.random.default_rng(0).uniform(-1, 1, (2, 3, 2, 2)), device)

    def dropped(u):
        minigan.manual_seed(4)  # the same channels dropped at every evaluation
        return F.dropout2d(u, 0.5, training=True)
    kept = dropped(x).numpy().reshape(2, 3, 4)
    assert np.all((kept == 0).all(-1) | np.isclose(kept, 2 * x.numpy().reshape(2, 3, 4)).all(-1))
    minigan.gradcheck(dropped, x)
