"""matmul and linear: values against NumPy and gradients against finite differences over batch
broadcasting, 1-D operands and optional bias (on every device); the error messages."""
import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import minigan
from minigan import functional as F
from minigan import sim

from helpers import arrays, assert_matches, broadcastable_pair, device_settings, leaf, shapes


@st.composite
def matmul_shapes(draw):
    """Shapes of a matmul's operands: batch axes that broadcast, and 1-D operands now and then."""
    batch_a, batch_b = draw(broadcastable_pair(max_dims=2, max_side=3))
    n, k, m = (draw(st.integers(1, 3)) for _ in range(3))
    shape_a = (k,) if draw(st.integers(0, 3)) == 0 else batch_a + (n, k)  # a vector: a row
    shape_b = (k,) if draw(st.integers(0, 3)) == 0 else batch_b + (k, m)  # a vector: a column
    return shape_a, shape_b


@st.composite
def linear_operands(draw, max_lead_dims=2):
    """x (..., in), weight (out, in) in PyTorch's layout, and a bias (out,) or None."""
    lead = draw(shapes(max_dims=max_lead_dims, max_side=3))
    n_in, n_out = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    x, weight = draw(arrays(lead + (n_in,))), draw(arrays((n_out, n_in)))
    bias = draw(st.none() | arrays((n_out,)))
    return x, weight, bias


def _leaves(values, device):
    return tuple(leaf(v, device) for v in values if v is not None)


@pytest.mark.op_matmul
@device_settings()
@given(data=st.data())
def test_matmul_matches_numpy_and_gradcheck(device, data):
    shape_a, shape_b = data.draw(matmul_shapes(), label="shapes")
    a, b = data.draw(arrays(shape_a), label="a"), data.draw(arrays(shape_b), label="b")
    ta, tb = leaf(a, device), leaf(b, device)
    expected = np.matmul(a, b)
    assert_matches(F.matmul(ta, tb), expected)
    assert_matches(ta @ tb, expected)
    assert_matches(ta.matmul(tb), expected)
    minigan.gradcheck(F.matmul, (ta, tb))


@pytest.mark.op_matmul
@device_settings()
@given(operands=linear_operands())
def test_linear_matches_numpy_and_gradcheck(device, operands):
    x, weight, bias = operands
    expected = x @ weight.T + (0.0 if bias is None else bias)
    inputs = _leaves(operands, device)
    assert_matches(F.linear(*inputs), expected)
    minigan.gradcheck(F.linear, inputs)


@pytest.mark.op_matmul
@device_settings(0.4)
@given(data=st.data())
def test_matmul_gradgradcheck(device, data):
    shape_a, shape_b = data.draw(matmul_shapes(), label="shapes")
    a, b = data.draw(arrays(shape_a), label="a"), data.draw(arrays(shape_b), label="b")
    minigan.gradgradcheck(F.matmul, (leaf(a, device), leaf(b, device)))


@pytest.mark.op_matmul
@device_settings(0.4)
@given(operands=linear_operands(max_lead_dims=1))
def test_linear_gradgradcheck(device, operands):
    minigan.gradgradcheck(F.linear, _leaves(operands, device))


@pytest.mark.op_matmul
def test_linear_uses_pytorchs_out_by_in_weight_layout(device):
    x = leaf([1.0, 2.0], device)
    weight = leaf([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], device)  # 3 outputs from 2 inputs
    bias = leaf([0.0, 10.0, 100.0], device)
    np.testing.assert_array_equal(F.linear(x, weight, bias).numpy(), [1.0, 12.0, 103.0])
    gx, gw, gb = minigan.grad(F.linear(x, weight, bias).sum(), [x, weight, bias])
    np.testing.assert_array_equal(gx.numpy(), [2.0, 2.0])  # column sums of the weight
    np.testing.assert_array_equal(gw.numpy(), [[1.0, 2.0]] * 3)  # each row sees x
    np.testing.assert_array_equal(gb.numpy(), [1.0, 1.0, 1.0])


@pytest.mark.op_matmul
def test_vector_dot_vector_is_a_scalar(device):
    a, b = leaf([1.0, 2.0, 3.0], device), leaf([4.0, 5.0, 6.0], device)
    y = a @ b
    assert y.shape == ()
    assert y.item() == 32.0
    ga, gb = minigan.grad(y, [a, b])
    np.testing.assert_array_equal(ga.numpy(), [4.0, 5.0, 6.0])
    np.testing.assert_array_equal(gb.numpy(), [1.0, 2.0, 3.0])


@pytest.mark.op_matmul
@pytest.mark.parametrize("shape_a, shape_b", [((64, 1), (1, 6272)), ((2, 1, 3, 1), (4, 1, 5)), ((1,), (1, 3))])
def test_inner_dimension_one_gives_numpys_products_exactly(device, shape_a, shape_b):
    """K = 1 (an outer product; a Linear's dx when it has one output) runs as a broadcast multiply:
    the same numbers, bit for bit, batch broadcasting included."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(shape_a).astype(np.float32), rng.standard_normal(shape_b).astype(np.float32)
    product = F.matmul(minigan.tensor(a, device=device), minigan.tensor(b, device=device))
    np.testing.assert_array_equal(product.numpy(), np.matmul(a, b))


@device_settings()
@given(m=st.integers(1, 8), k=st.integers(1, 5), n=st.integers(1, 8), seed=st.integers(0, 2**16))
@example(m=5, k=3, n=4, seed=1)
@example(m=2, k=3, n=40, seed=1)
@example(m=30, k=4, n=6, seed=1)
def test_matmul_with_a_column_major_operand(device, m, k, n, seed):
    """When the larger operand is column-major (a weight.T, a flattened batch-last conv output),
    the product is computed as (b^T a^T)^T: the same values, laid out column-major too; the
    gradients (products themselves) and second derivatives stay right."""
    rng = np.random.default_rng(seed)
    a_rows, w = rng.standard_normal((m, k)), rng.standard_normal((n, k))
    for a_is_column_major in (False, True):  # a as rows, or a as the transpose of a (k, m) array
        a = leaf(a_rows.T.copy(), device).T if a_is_column_major else leaf(a_rows, device)
        weight = leaf(w, device)
        y = a @ weight.T
        np.testing.assert_allclose(y.numpy(), a_rows @ w.T, rtol=1e-12, atol=1e-12)
        if min(m, k, n) > 1:  # (a vector's layout is both)
            larger_is_column_major = a_is_column_major if m * k >= n * k else True
            assert _is_column_major(y.array) == larger_is_column_major
        ga, gw = minigan.grad((y * y).sum(), [a, weight])
        np.testing.assert_allclose(ga.numpy(), 2 * (a_rows @ w.T) @ w, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(gw.numpy(), 2 * (a_rows @ w.T).T @ a_rows, rtol=1e-12, atol=1e-12)
        minigan.gradcheck(lambda p, q: p @ q.T, (a, weight))
        minigan.gradgradcheck(lambda p, q: p @ q.T, (a, weight))


def test_a_linear_on_a_batch_last_conv_output_gives_a_batch_last_gradient():
    """The DCGAN discriminator's flatten -> Linear: the gradient reaching the conv output is
    laid out batch last, as the conv made it, so reshaping it back is a view, not a copy."""
    x = minigan.tensor(np.random.default_rng(0).standard_normal((4, 3, 3, 8)).transpose(3, 0, 1, 2),
                       requires_grad=True)  # (N, C, H, W) = (8, 4, 3, 3) over (C, H, W, N) memory
    linear = minigan.nn.Linear(4 * 3 * 3, 2).to(dtype=np.float64)
    gx, = minigan.grad(linear(x.flatten(1)).sum(), [x])
    assert gx.array.transpose(1, 2, 3, 0).flags.c_contiguous
    expected = np.broadcast_to(linear.weight.numpy().sum(0).reshape(4, 3, 3), (8, 4, 3, 3))
    np.testing.assert_allclose(gx.numpy(), expected, rtol=1e-12, atol=1e-12)


def _is_column_major(array) -> bool:
    return array.strides[0] < array.strides[1]


def test_matmul_and_linear_make_no_host_transfers_on_sim():
    x = minigan.tensor(np.linspace(-1.0, 1.0, 24).reshape(2, 3, 4), device="sim", requires_grad=True)
    w = minigan.tensor(np.linspace(0.5, 1.5, 20).reshape(5, 4), device="sim", requires_grad=True)
    b = minigan.tensor(np.linspace(0.0, 1.0, 5), device="sim", requires_grad=True)
    sim.reset_transfers()
    out = F.linear(x, w, b).sum() + (x @ w.T).sum() + (x[0, 0] @ x[1, 1])
    minigan.grad(out, [x, w, b], create_graph=True)
    assert sim.transfers == {"to_host": 0, "to_device": 0}


# -- errors -----------------------------------------------------------------------------------
def test_matmul_errors_name_both_shapes():
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(4, 2\) do not match in the inner "
                                         r"dimension"):
        F.matmul(minigan.ones(2, 3), minigan.ones(4, 2))
    with pytest.raises(ValueError, match=r"matmul: shapes \(3,\) and \(2,\) do not match"):
        minigan.ones(3) @ minigan.ones(2)
    with pytest.raises(ValueError, match=r"matmul: the batch dimensions of shapes \(2, 2, 3\) and \(3, 3, 2\) "
                                         r"do not broadcast"):
        F.matmul(minigan.ones(2, 2, 3), minigan.ones(3, 3, 2))
    with pytest.raises(ValueError, match=r"matmul: operands must have at least 1 dimension, got shapes \(\) "
                                         r"and \(2,\)"):
        F.matmul(minigan.ones(()), minigan.ones(2))


def test_matmul_refuses_other_dtypes_and_non_tensors():
    with pytest.raises(TypeError, match="matmul: dtypes differ, float32 and float64"):
        minigan.ones(2, 2) @ minigan.ones(2, 2, dtype="float64")
    with pytest.raises(TypeError, match="matmul: expected Tensors, got ndarray"):
        np.ones((2, 2)) @ minigan.ones(2, 2)
    with pytest.raises(TypeError, match="matmul: expected Tensors, got list"):
        F.matmul(minigan.ones(2), [1.0, 2.0])


def test_linear_errors_name_the_shapes():
    x = minigan.ones(4, 3)
    with pytest.raises(ValueError, match=r"linear: expected x of shape \(\.\.\., 2\) and weight of shape "
                                         r"\(out, in\); got x \(4, 3\), weight \(5, 2\)"):
        F.linear(x, minigan.ones(5, 2))
    with pytest.raises(ValueError, match=r"got x \(4, 3\), weight \(3,\)"):
        F.linear(x, minigan.ones(3))
    with pytest.raises(ValueError, match=r"linear: bias must have shape \(5,\), got \(3,\)"):
        F.linear(x, minigan.ones(5, 3), minigan.ones(3))
    with pytest.raises(TypeError, match="linear: x must be a Tensor, got ndarray"):
        F.linear(np.ones((4, 3)), minigan.ones(5, 3))
