"""Elementwise ops: values against NumPy, gradients against finite differences over random
shapes, broadcasting and parameters (on every device), the kinks by hand, and the errors."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigan
from minigan import functional as F
from minigan import sim

from helpers import (arrays, assert_matches, device_settings, distinct_arrays, leaf, op_params, small_pairs,
                     small_shapes)


def positive(shape):
    """Values in [0.5, 2]: inside the domain of log, sqrt, 1/x and x^p for any real p."""
    return arrays(shape, low=0.5, high=2.0)


def nonzero(shape):
    """Values in [-2, 2] at least 0.3 from 0 (the pole of 1/x, the kink of |x|)."""
    return arrays(shape, away_from=(0.0,), margin=0.3)


def _pair(first, second):
    return lambda shape_a, shape_b: st.tuples(first(shape_a), second(shape_b))


# op, NumPy's version, and a strategy for its two operands (kept off kinks and poles)
BINARY = {
    "add": (F.add, np.add, _pair(arrays, arrays)),
    "sub": (F.sub, np.subtract, _pair(arrays, arrays)),
    "mul": (F.mul, np.multiply, _pair(arrays, arrays)),
    "div": (F.div, np.divide, _pair(arrays, nonzero)),
    "pow": (F.pow, np.power, _pair(positive, arrays)),  # d/dp x^p = x^p log x needs x > 0
    "maximum": (F.maximum, np.maximum, lambda sa, sb: distinct_arrays([sa, sb])),  # no ties
    "minimum": (F.minimum, np.minimum, lambda sa, sb: distinct_arrays([sa, sb])),
}

UNARY = {
    "neg": (F.neg, np.negative, arrays),
    "exp": (F.exp, np.exp, arrays),
    "log": (F.log, np.log, positive),
    "sqrt": (F.sqrt, np.sqrt, positive),
    "abs": (F.abs, np.abs, nonzero),
}

# each works on NumPy arrays and on Tensors alike, so NumPy is the oracle for the operators
OPERATORS = {
    "a + b": lambda a, b: a + b,
    "a - b": lambda a, b: a - b,
    "a * b": lambda a, b: a * b,
    "a / b": lambda a, b: a / b,
    "a ** b": lambda a, b: a ** b,
    "-a": lambda a, b: -a,
    "abs(-a)": lambda a, b: abs(-a),
    "1.5 + a": lambda a, b: 1.5 + a,
    "1.5 - a": lambda a, b: 1.5 - a,
    "a - 1.5": lambda a, b: a - 1.5,
    "2 * a * 0.5": lambda a, b: 2 * a * 0.5,
    "1.5 / a": lambda a, b: 1.5 / a,
    "a / 1.5": lambda a, b: a / 1.5,
    "a ** 2": lambda a, b: a ** 2,
    "2.0 ** a": lambda a, b: 2.0 ** a,
}


# -- values and first derivatives over random shapes ------------------------------------------
@pytest.mark.parametrize("name", op_params(BINARY, {"minimum": "maximum"}))
@device_settings(0.6)
@given(data=st.data())
def test_binary_op_matches_numpy_and_gradcheck_with_broadcasting(device, name, data):
    op, reference, operands = BINARY[name]
    shape_a, shape_b = data.draw(small_pairs(), label="shapes")
    a, b = data.draw(operands(shape_a, shape_b), label="values")
    ta, tb = leaf(a, device), leaf(b, device)
    assert_matches(op(ta, tb), reference(a, b))
    minigan.gradcheck(op, (ta, tb))


@pytest.mark.parametrize("name", op_params(BINARY, {"minimum": "maximum"}))
@device_settings(0.3)
@given(data=st.data(), number=st.floats(0.5, 2.0))
def test_binary_op_with_a_python_number_on_either_side(device, name, data, number):
    op, reference, _ = BINARY[name]
    x = data.draw(arrays(data.draw(small_shapes(), label="shape"), low=0.5, high=2.5, away_from=(number,)))
    t = leaf(x, device)
    assert_matches(op(t, number), reference(x, number))
    assert_matches(op(number, t), reference(number, x))
    minigan.gradcheck(lambda u: op(u, number), t)
    minigan.gradcheck(lambda u: op(number, u), t)


@pytest.mark.parametrize("name", op_params(UNARY))
@device_settings(0.6)
@given(data=st.data())
def test_unary_op_matches_numpy_and_gradcheck(device, name, data):
    op, reference, values = UNARY[name]
    x = data.draw(values(data.draw(small_shapes(), label="shape")), label="x")
    t = leaf(x, device)
    assert_matches(op(t), reference(x))
    minigan.gradcheck(op, t)


@pytest.mark.op_pow
@device_settings()
@given(data=st.data(), p=st.one_of(st.integers(-2, 3), st.floats(-2.5, 2.5)))
def test_pow_with_a_number_exponent(device, data, p):
    shape = data.draw(small_shapes(), label="shape")
    # integer powers are defined for negative x too; other powers only for x > 0
    x = data.draw(nonzero(shape) if isinstance(p, int) else positive(shape), label="x")
    t = leaf(x, device)
    assert_matches(t ** p, x ** p)
    assert_matches(F.pow(t, p), x ** p)
    minigan.gradcheck(lambda u: u ** p, t)


@pytest.mark.op_clip
@device_settings()
@given(data=st.data(), low=st.none() | st.floats(-1.5, 0.0), high=st.none() | st.floats(0.5, 1.5))
def test_clip_matches_numpy_and_gradcheck(device, data, low, high):
    bounds = tuple(v for v in (low, high) if v is not None)
    x = data.draw(arrays(data.draw(small_shapes(), label="shape"), away_from=bounds), label="x")
    t = leaf(x, device)
    expected = np.minimum(np.maximum(x, -np.inf if low is None else low), np.inf if high is None else high)
    assert_matches(F.clip(t, low, high), expected)
    assert_matches(t.clip(low, high), expected)
    minigan.gradcheck(lambda u: F.clip(u, low, high), t)


@pytest.mark.parametrize("expression", list(OPERATORS))
def test_tensor_operators_match_numpy_and_gradcheck(device, expression):
    """Each operator calls the right op with its operands in the right order (the ops
    themselves are property-tested above)."""
    fn = OPERATORS[expression]
    rng = np.random.default_rng(len(expression))
    a, b = rng.uniform(0.5, 2.0, (2, 3)), rng.uniform(0.5, 2.0, (3,))  # b broadcasts over a
    ta, tb = leaf(a, device), leaf(b, device)
    assert_matches(fn(ta, tb), fn(a, b), rtol=1e-10)
    minigan.gradcheck(fn, (ta, tb))


@pytest.mark.op_where
@device_settings()
@given(data=st.data())
def test_where_picks_values_and_routes_gradients_with_broadcasting(device, data):
    three = hnp.mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3, max_side=3)
    cond_shape, shape_a, shape_b = data.draw(three, label="shapes").input_shapes
    condition = data.draw(hnp.arrays(np.bool_, cond_shape), label="condition")
    a, b = data.draw(arrays(shape_a), label="a"), data.draw(arrays(shape_b), label="b")
    tc, ta, tb = minigan.tensor(condition, device=device), leaf(a, device), leaf(b, device)
    assert_matches(F.where(tc, ta, tb), np.where(condition, a, b))
    assert_matches(F.where(tc, ta, 0.5), np.where(condition, a, 0.5))
    minigan.gradcheck(lambda u, v: F.where(tc, u, v), (ta, tb))


# -- second derivatives (the ops on the WGAN-GP path) --------------------------------------------
GRADGRAD_BINARY = ["add", "sub", "mul", "div", "pow"]


@pytest.mark.parametrize("name", op_params(GRADGRAD_BINARY))
@device_settings(0.3)
@given(data=st.data())
def test_binary_op_gradgradcheck(device, name, data):
    op, _, operands = BINARY[name]
    shape_a, shape_b = data.draw(small_pairs(max_dims=2), label="shapes")
    a, b = data.draw(operands(shape_a, shape_b), label="values")
    minigan.gradgradcheck(op, (leaf(a, device), leaf(b, device)))


@pytest.mark.parametrize("name", op_params(["exp", "log", "sqrt", "neg"]))
@device_settings(0.3)
@given(data=st.data())
def test_unary_op_gradgradcheck(device, name, data):
    op, _, values = UNARY[name]
    x = data.draw(values(data.draw(small_shapes(max_dims=2), label="shape")), label="x")
    minigan.gradgradcheck(op, leaf(x, device))


@pytest.mark.op_pow
@device_settings(0.3)
@given(data=st.data(), p=st.sampled_from([2, 3, -1, 0.5, 1.5]))
def test_pow_with_a_number_exponent_gradgradcheck(device, data, p):
    x = data.draw(positive(data.draw(small_shapes(max_dims=2), label="shape")), label="x")
    minigan.gradgradcheck(lambda u: u ** p, leaf(x, device))


# -- kinks and domain edges, by hand -----------------------------------------------------------
def _grads(fn, *values, device):
    """The gradients of sum(fn(*inputs)) for float64 leaves holding ``values``."""
    inputs = [leaf(v, device) for v in values]
    return [g.numpy() for g in minigan.grad(fn(*inputs).sum(), inputs)]


@pytest.mark.op_abs
def test_abs_at_zero_has_gradient_zero(device):
    (g,) = _grads(F.abs, [-1.5, 0.0, 2.0], device=device)
    np.testing.assert_array_equal(g, [-1.0, 0.0, 1.0])


@pytest.mark.op_clip
def test_clip_at_its_bounds_passes_the_gradient_like_pytorch(device):
    (g,) = _grads(lambda t: F.clip(t, -1.0, 1.0), [-2.0, -1.0, 0.0, 1.0, 2.0], device=device)
    np.testing.assert_array_equal(g, [0.0, 1.0, 1.0, 1.0, 0.0])
    (g,) = _grads(lambda t: F.clip(t, min=0.0), [-1.0, 0.0, 1.0], device=device)
    np.testing.assert_array_equal(g, [0.0, 1.0, 1.0])


@pytest.mark.op_maximum
def test_maximum_and_minimum_split_the_gradient_of_a_tie(device):
    a, b = [1.0, 2.0, 3.0], [1.0, 0.0, 5.0]  # a tie, a wins, b wins
    ga, gb = _grads(F.maximum, a, b, device=device)
    np.testing.assert_array_equal(ga, [0.5, 1.0, 0.0])
    np.testing.assert_array_equal(gb, [0.5, 0.0, 1.0])
    ga, gb = _grads(F.minimum, a, b, device=device)
    np.testing.assert_array_equal(ga, [0.5, 0.0, 1.0])
    np.testing.assert_array_equal(gb, [0.5, 1.0, 0.0])


@pytest.mark.op_maximum
def test_maximum_tie_with_a_broadcast_operand(device):
    ga, gb = _grads(F.maximum, [1.0, 2.0, 1.0], 1.0, device=device)  # b ties with a twice
    np.testing.assert_array_equal(ga, [0.5, 1.0, 0.5])
    np.testing.assert_array_equal(gb, 1.0)


@pytest.mark.op_pow
@np.errstate(divide="ignore", invalid="ignore")  # 0^(p-1) for p < 1
def test_pow_at_zero_base(device):
    for p, slope in [(0, 0.0), (1, 1.0), (2, 0.0), (3, 0.0), (0.5, np.inf)]:  # d/dx x^p at x = 0
        (g,) = _grads(lambda t: t ** p, [0.0], device=device)
        np.testing.assert_array_equal(g, [slope], err_msg=f"p = {p}")
    x = leaf([0.0, 0.0], device)
    p = leaf([1.0, 2.0], device)
    gx, gp = minigan.grad((x ** p).sum(), [x, p])
    np.testing.assert_array_equal(gx.numpy(), [1.0, 0.0])  # p 0^(p-1)
    np.testing.assert_array_equal(gp.numpy(), [0.0, 0.0])  # 0^p = 0 for all p > 0: flat in p


@pytest.mark.op_pow
def test_square_at_zero_has_second_derivative_two(device):
    x = leaf([0.0, 1.0], device)
    (g,) = minigan.grad((x ** 2).sum(), x, create_graph=True)
    (gg,) = minigan.grad(g.sum(), x)
    np.testing.assert_array_equal(g.numpy(), [0.0, 2.0])
    np.testing.assert_array_equal(gg.numpy(), [2.0, 2.0])


@pytest.mark.op_sqrt
@pytest.mark.op_log
def test_sqrt_and_log_at_the_edge_of_their_domain_behave_like_numpy_and_pytorch(device):
    """At 0: sqrt has slope +inf and log has value -inf and slope +inf. Below 0 both are NaN.
    No error is raised (as in NumPy and PyTorch); the values say what happened."""
    with np.errstate(divide="ignore", invalid="ignore"):
        (g,) = _grads(F.sqrt, [0.0, 4.0], device=device)
        np.testing.assert_array_equal(g, [np.inf, 0.25])
        (g,) = _grads(F.log, [0.0, 4.0], device=device)
        np.testing.assert_array_equal(g, [np.inf, 0.25])
        assert F.log(leaf([0.0], device)).numpy()[0] == -np.inf
        assert np.isnan(F.sqrt(leaf([-1.0], device)).numpy()[0])
        assert np.isnan(F.log(leaf([-1.0], device)).numpy()[0])


# -- dtype and device conversions ---------------------------------------------------------------
def test_astype_between_floats_is_differentiable(device):
    x = leaf([[0.3, -1.7, 2.0]], device)
    # the float32 round trip is linear, so a large step gives exact finite differences
    minigan.gradcheck(lambda t: t.astype("float32").astype("float64") * 3.0, x, eps=1e-3)
    x32 = minigan.tensor([1.0, 2.0], dtype="float32", device=device, requires_grad=True)
    weights = leaf([0.25, -3.0], device, requires_grad=False)
    (x32.astype("float64") * weights).sum().backward()
    assert x32.grad.dtype == np.float32
    np.testing.assert_array_equal(x32.grad.numpy(), [0.25, -3.0])


def test_astype_to_the_same_dtype_is_the_tensor_and_to_int_is_a_constant(device):
    x = leaf([1.7, -2.5], device)
    assert x.astype("float64") is x
    as_int = x.astype("int64")
    assert as_int.dtype == np.int64 and not as_int.requires_grad
    np.testing.assert_array_equal(as_int.numpy(), np.array([1.7, -2.5]).astype(np.int64))


def test_to_device_moves_values_and_brings_the_gradient_back(device):
    other = "sim" if device != "sim" else "cpu"
    x = leaf([[1.0, -2.0], [0.5, 3.0]], device)
    moved = x.to(other)
    assert moved.device == other and x.to(device) is x
    np.testing.assert_array_equal(moved.numpy(), x.numpy())
    minigan.gradcheck(lambda t: t.to(other) * 2.0, x)
    (g,) = minigan.grad(F.to_device(x, other).sum(), x)
    assert g.device == x.device


def test_elementwise_forward_and_backward_make_no_host_transfers_on_sim():
    x = minigan.tensor(np.linspace(0.5, 2.0, 6).reshape(2, 3), device="sim", requires_grad=True)
    y = minigan.tensor(np.linspace(-1.0, 1.0, 3), device="sim", requires_grad=True)
    sim.reset_transfers()
    out = (x + y) * (x - y) / x + x ** y + 2.0 ** y + F.exp(y) + F.log(x) + F.sqrt(x) + F.abs(y)
    out = out + F.clip(y, -0.5, 0.5) + F.maximum(x, y) + F.minimum(x, 1.0) + F.where(x > 1.0, x, y) - x
    minigan.grad(out.sum(), [x, y], create_graph=True)
    assert sim.transfers == {"to_host": 0, "to_device": 0}


# -- errors -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(BINARY))
def test_binary_op_names_itself_and_the_shapes_that_do_not_broadcast(name):
    op = BINARY[name][0]
    with pytest.raises(ValueError, match=rf"{name}: shapes \(2, 3\), \(4,\) do not broadcast"):
        op(minigan.ones(2, 3), minigan.ones(4))


@pytest.mark.parametrize("name", list(BINARY))
def test_binary_op_names_itself_and_both_dtypes_when_they_differ(name):
    op = BINARY[name][0]
    with pytest.raises(TypeError, match=f"{name}: dtypes differ, float32 and float64"):
        op(minigan.ones(2), minigan.ones(2, dtype="float64"))


@pytest.mark.parametrize("name", list(BINARY))
def test_binary_op_refuses_non_tensor_operands(name):
    op = BINARY[name][0]
    with pytest.raises(TypeError, match=f"{name}: expected a Tensor or a Python number, got ndarray"):
        op(minigan.ones(2), np.ones(2))
    with pytest.raises(TypeError, match=f"{name}: expected at least one Tensor, got float and int"):
        op(1.0, 2)


@pytest.mark.parametrize("name", ["neg", "exp", "log", "sqrt", "abs", "clip", "astype"])
def test_unary_op_refuses_non_tensors(name):
    op = getattr(F, name)
    args = ("float64",) if name == "astype" else ()
    with pytest.raises(TypeError, match=f"{name}: expected a Tensor, got ndarray"):
        op(np.ones(2), *args)


def test_numpy_array_on_the_left_of_an_operator_is_refused():
    with pytest.raises(TypeError, match="mul: expected a Tensor or a Python number, got ndarray"):
        np.ones(2) * minigan.ones(2)


def test_ops_on_two_devices_name_both():
    with pytest.raises(RuntimeError, match="expected all tensors on one device, got cpu and sim"):
        F.add(minigan.ones(2), minigan.ones(2, device="sim"))
    condition = minigan.tensor([True, False], device="sim")
    with pytest.raises(RuntimeError, match="where: expected all tensors on one device, got sim and cpu"):
        F.where(condition, minigan.ones(2), minigan.zeros(2))


def test_where_errors_name_the_condition():
    x = minigan.ones(2, 3)
    with pytest.raises(TypeError, match="where: condition must be a bool Tensor, got float32"):
        F.where(x, x, x)
    with pytest.raises(TypeError, match="where: condition must be a bool Tensor, got list"):
        F.where([True, False], x, x)
    with pytest.raises(ValueError, match=r"where: shapes \(2,\), \(2, 3\), \(2, 3\) do not broadcast"):
        F.where(minigan.tensor([True, False]), x, x)


def test_clip_refuses_min_above_max():
    with pytest.raises(ValueError, match="clip: min 2.0 is larger than max 1.0"):
        F.clip(minigan.ones(2), 2.0, 1.0)


# -- the values alone (course tasks grade an op's forward apart from its gradients) ------------------------
@pytest.mark.parametrize("name", op_params(BINARY, {"minimum": "maximum"}))
@device_settings(0.6)
@given(data=st.data())
def test_binary_op_values_match_numpy_with_broadcasting(device, name, data):
    op, reference, operands = BINARY[name]
    shape_a, shape_b = data.draw(small_pairs(), label="shapes")
    a, b = data.draw(operands(shape_a, shape_b), label="values")
    ta, tb = leaf(a, device, requires_grad=False), leaf(b, device, requires_grad=False)
    assert_matches(op(ta, tb), reference(a, b))
    assert_matches(op(ta, 1.25), reference(a, 1.25))  # a Python number on either side
    assert_matches(op(1.25, tb), reference(1.25, b))


@pytest.mark.parametrize("name", op_params(UNARY))
@device_settings(0.6)
@given(data=st.data())
def test_unary_op_values_match_numpy(device, name, data):
    op, reference, values = UNARY[name]
    x = data.draw(values(data.draw(small_shapes(), label="shape")), label="x")
    assert_matches(op(leaf(x, device, requires_grad=False)), reference(x))


@pytest.mark.op_clip
@pytest.mark.op_where
@pytest.mark.op_abs
def test_clip_where_and_abs_values_by_hand(device):
    x = leaf([-3.0, -1.0, -0.0, 0.0, 0.5, 2.0], device, requires_grad=False)
    np.testing.assert_array_equal(F.clip(x, -1.5, 1.0).numpy(), [-1.5, -1.0, 0.0, 0.0, 0.5, 1.0])
    np.testing.assert_array_equal(F.clip(x, None, 0.25).numpy(), [-3.0, -1.0, 0.0, 0.0, 0.25, 0.25])
    np.testing.assert_array_equal(F.clip(x, -2.0, None).numpy(), [-2.0, -1.0, 0.0, 0.0, 0.5, 2.0])
    condition = minigan.tensor(np.array([[True], [False]]), device=device)
    picked = F.where(condition, leaf([1.0, 2.0, 3.0], device, requires_grad=False), -1.0)  # broadcast to (2, 3)
    np.testing.assert_array_equal(picked.numpy(), [[1.0, 2.0, 3.0], [-1.0, -1.0, -1.0]])
    np.testing.assert_array_equal(F.abs(x).numpy(), [3.0, 1.0, 0.0, 0.0, 0.5, 2.0])
