"""Reductions (sum, mean, var, max, min, logsumexp): values against NumPy and gradients
against finite differences for every kind of ``axis`` and ``keepdims``; ties by hand; errors."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigan
from minigan import functional as F
from minigan import sim

from helpers import (arrays, assert_matches, axis_args, device_settings, distinct_arrays, leaf, op_params,
                     small_shapes)


def distinct(shape):
    """Values with no ties, so that max and min each pick one element (off their kinks)."""
    return distinct_arrays([shape]).map(lambda arrays_: arrays_[0])


def numpy_logsumexp(x, axis=None, keepdims=False):
    return np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims))  # no overflow for |x| <= 2


# op, NumPy's version, and a strategy for the values
REDUCTIONS = {
    "sum": (F.sum, np.sum, arrays),
    "mean": (F.mean, np.mean, arrays),
    "var": (F.var, np.var, arrays),
    "max": (F.max, np.max, distinct),
    "min": (F.min, np.min, distinct),
    "logsumexp": (F.logsumexp, numpy_logsumexp, arrays),
}
TASK_OF = {"mean": "sum", "var": "sum", "min": "max"}  # the course task each reduction tests


@pytest.mark.parametrize("name", op_params(REDUCTIONS, TASK_OF))
@device_settings(0.6)
@given(data=st.data(), keepdims=st.booleans())
def test_reduction_matches_numpy_and_gradcheck(device, name, data, keepdims):
    op, reference, values = REDUCTIONS[name]
    shape = data.draw(small_shapes(), label="shape")
    axis = data.draw(axis_args(len(shape)), label="axis")
    x = data.draw(values(shape), label="x")
    t = leaf(x, device)
    expected = reference(x, axis=axis, keepdims=keepdims)
    assert_matches(op(t, axis, keepdims), expected)
    assert_matches(getattr(t, name)(axis=axis, keepdims=keepdims), expected)  # the Tensor method
    minigan.gradcheck(lambda u: op(u, axis, keepdims), t)


@pytest.mark.op_sum
@device_settings(0.6)
@given(data=st.data(), keepdims=st.booleans())
def test_var_with_ddof_matches_numpy_and_gradcheck(device, data, keepdims):
    shape = data.draw(small_shapes(min_dims=1), label="shape")
    axis = data.draw(axis_args(len(shape)), label="axis")
    axes = range(len(shape)) if axis is None else np.atleast_1d(axis)
    count = int(np.prod([shape[a] for a in axes]))
    ddof = data.draw(st.integers(0, count - 1), label="ddof")
    x = data.draw(arrays(shape), label="x")
    t = leaf(x, device)
    assert_matches(F.var(t, axis, keepdims, ddof), np.var(x, axis=axis, keepdims=keepdims, ddof=ddof))
    assert_matches(t.var(axis=axis, keepdims=keepdims, ddof=ddof), np.var(x, axis=axis, keepdims=keepdims, ddof=ddof))
    minigan.gradcheck(lambda u: F.var(u, axis, keepdims, ddof), t)


@pytest.mark.parametrize("name", op_params(["sum", "mean", "var", "logsumexp"], TASK_OF))
@device_settings(0.3)
@given(data=st.data(), keepdims=st.booleans())
def test_reduction_gradgradcheck(device, name, data, keepdims):
    op, _, values = REDUCTIONS[name]
    shape = data.draw(small_shapes(max_dims=2), label="shape")
    axis = data.draw(axis_args(len(shape)), label="axis")
    x = data.draw(values(shape), label="x")
    minigan.gradgradcheck(lambda u: op(u, axis, keepdims), leaf(x, device))


# -- ties and extremes, by hand ------------------------------------------------------------------
def _grad(fn, values, device):
    x = leaf(values, device)
    (g,) = minigan.grad(fn(x).sum(), x)
    return g.numpy()


@pytest.mark.op_max
def test_max_and_min_split_the_gradient_of_ties_evenly(device):
    np.testing.assert_array_equal(_grad(F.max, [1.0, 3.0, 3.0, 2.0], device), [0.0, 0.5, 0.5, 0.0])
    np.testing.assert_array_equal(_grad(F.min, [1.0, 3.0, 1.0, 1.0], device), [1 / 3, 0.0, 1 / 3, 1 / 3])
    np.testing.assert_array_equal(_grad(F.max, np.full((2, 2), 5.0), device), np.full((2, 2), 0.25))


@pytest.mark.op_max
def test_max_ties_are_split_within_each_reduced_slice(device):
    rows = [[1.0, 1.0, 0.0], [2.0, 0.0, 2.0], [3.0, 1.0, 2.0]]
    g = _grad(lambda t: F.max(t, axis=1, keepdims=True), rows, device)
    np.testing.assert_array_equal(g, [[0.5, 0.5, 0.0], [0.5, 0.0, 0.5], [1.0, 0.0, 0.0]])
    columns_tie = [[1.0, 0.0, 2.0], [1.0, 3.0, 2.0], [2.0, 0.0, 5.0]]
    g = _grad(lambda t: F.min(t, axis=0), columns_tie, device)
    np.testing.assert_array_equal(g, [[0.5, 0.5, 0.5], [0.5, 0.0, 0.5], [0.0, 0.5, 0.0]])


@pytest.mark.op_logsumexp
@np.errstate(divide="ignore")  # log(0) for the row of -inf
def test_logsumexp_of_huge_and_minus_infinite_values(device):
    x = leaf([[1000.0, 1000.0], [-np.inf, -np.inf]], device)
    y = F.logsumexp(x, axis=1)
    np.testing.assert_allclose(y.numpy(), [1000.0 + np.log(2.0), -np.inf])
    g = _grad(lambda t: F.logsumexp(t, axis=1), [[1000.0, 1000.0], [1001.0, 1001.0 - np.log(3.0)]], device)
    np.testing.assert_allclose(g, [[0.5, 0.5], [0.75, 0.25]])  # softmax of each row


def test_reductions_make_no_host_transfers_on_sim():
    x = minigan.tensor(np.linspace(-1.0, 2.0, 12).reshape(3, 4), device="sim", requires_grad=True)
    sim.reset_transfers()
    out = (F.sum(x, 0) + F.mean(x, -2) + F.var(x, 0, ddof=1) + F.max(x, 0) + F.min(x, (0,)) + F.logsumexp(x, 0))
    minigan.grad(out.sum(), x, create_graph=True)
    assert sim.transfers == {"to_host": 0, "to_device": 0}


# -- errors -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(REDUCTIONS))
def test_reduction_names_itself_and_the_axis_out_of_range(name):
    op = REDUCTIONS[name][0]
    x = minigan.ones(2, 3)
    with pytest.raises(ValueError, match=f"{name}: axis 2 is out of range for a tensor with 2 dimensions"):
        op(x, 2)
    with pytest.raises(ValueError, match=f"{name}: axis -3 is out of range for a tensor with 2 dimensions"):
        op(x, (0, -3))


@pytest.mark.parametrize("name", list(REDUCTIONS))
def test_reduction_refuses_non_tensors(name):
    with pytest.raises(TypeError, match=f"{name}: expected a Tensor, got ndarray"):
        REDUCTIONS[name][0](np.ones(3))


@pytest.mark.parametrize("name", ["max", "min"])
def test_max_and_min_of_an_empty_tensor_raise(name):
    with pytest.raises(ValueError, match=rf"{name}: cannot reduce an empty tensor of shape \(0, 3\)"):
        getattr(F, name)(minigan.zeros(0, 3))


def test_var_refuses_a_ddof_that_leaves_no_degrees_of_freedom():
    x = minigan.ones(2, 3)
    with pytest.raises(ValueError, match=r"var: ddof=3 needs more than 3 elements per variance, got 3 "
                                         r"\(shape \(2, 3\), axis 1\)"):
        F.var(x, axis=1, ddof=3)
    with pytest.raises(ValueError, match="var: ddof=7 needs more than 7 elements per variance, got 6"):
        F.var(x, ddof=7)


# -- the values alone (course tasks grade a reduction's forward apart from its gradients) -----------------
@pytest.mark.parametrize("name", op_params(REDUCTIONS, TASK_OF))
@device_settings(0.6)
@given(data=st.data(), keepdims=st.booleans())
def test_reduction_values_match_numpy(device, name, data, keepdims):
    op, reference, values = REDUCTIONS[name]
    shape = data.draw(small_shapes(), label="shape")
    axis = data.draw(axis_args(len(shape)), label="axis")
    x = data.draw(values(shape), label="x")
    assert_matches(op(leaf(x, device, requires_grad=False), axis, keepdims),
                   reference(x, axis=axis, keepdims=keepdims))
