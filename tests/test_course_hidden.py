"""Hidden tests of the course kit: they grade their tasks like the visible ones, but
make-assignment keeps them out of the students' copy (any tests/test_*_hidden.py file) and puts
them in the autograder only, so that a solution cannot be shaped to the tests it can see.
They check what the visible tests check, on other inputs."""
import numpy as np
import pytest

import minigan
from minigan import functional as F
from minigan import nn, optim

from helpers import gamma, leaf


@pytest.mark.op_relu
def test_relu_of_a_float32_batch(device):
    values = np.linspace(-3.0, 3.0, 24, dtype=np.float32).reshape(2, 3, 4)
    y = F.relu(minigan.tensor(values, device=device))
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y.numpy(), np.maximum(values, 0))


@pytest.mark.op_sigmoid
def test_sigmoid_is_symmetric_and_its_derivative_peaks_at_zero(device):
    x = leaf(np.linspace(-8.0, 8.0, 17), device)
    y = F.sigmoid(x)
    mirrored = F.sigmoid(leaf(-np.linspace(-8.0, 8.0, 17), device, requires_grad=False))
    np.testing.assert_allclose(y.numpy() + mirrored.numpy(), 1.0, rtol=0, atol=gamma(8, np.float64))
    (g,) = minigan.grad(y.sum(), x)
    # sigma' <= 1/4, computed from y in [0, 1]: right to within a few u, not relative to its value
    np.testing.assert_allclose(g.numpy(), y.numpy() * (1 - y.numpy()), rtol=0, atol=gamma(8, np.float64))
    assert g.numpy()[8] == 0.25


@pytest.mark.op_matmul
def test_matmul_of_broadcast_batches_and_its_gradients(device):
    rng = np.random.default_rng(11)
    a, b = rng.uniform(-1, 1, (2, 1, 3, 4)), rng.uniform(-1, 1, (5, 4, 2))
    ta, tb = leaf(a, device), leaf(b, device)
    y = F.matmul(ta, tb)
    np.testing.assert_allclose(y.numpy(), np.matmul(a, b), rtol=gamma(4, np.float64), atol=gamma(4, np.float64))
    ga, gb = minigan.grad(y.sum(), [ta, tb])
    ones = np.ones((2, 5, 3, 2))  # dy: the batch axes broadcast to (2, 5)
    expected_a = np.matmul(ones, np.swapaxes(b, -1, -2)).sum(axis=1, keepdims=True)
    expected_b = np.matmul(np.swapaxes(a, -1, -2), ones).sum(axis=0)
    for got, expected in ((ga, expected_a), (gb, expected_b)):
        assert got.shape == expected.shape
        np.testing.assert_allclose(got.numpy(), expected, rtol=gamma(16, np.float64), atol=gamma(16, np.float64))


@pytest.mark.op_adam
def test_adam_first_step_moves_each_parameter_by_lr():
    """After one step the bias-corrected ratio m_hat / sqrt(v_hat) is g / |g|: each parameter
    moves by lr (less eps's share), whatever the size of its gradient."""
    p0, g = np.array([1.0, -1.0, 0.5, 2.0]), np.array([1e-3, -5.0, 200.0, -0.25])
    p = nn.Parameter(minigan.tensor(p0))
    opt = optim.Adam([p], lr=0.1)
    p.grad = minigan.tensor(g)
    opt.step()
    np.testing.assert_allclose(p.numpy(), p0 - 0.1 * g / (np.abs(g) + 1e-8), rtol=gamma(16, np.float64), atol=0)


@pytest.mark.op_backprop
def test_backward_through_a_residual_block():
    """y = h + f(f(h)) with f(t) = t * t: h reaches y by a path of one op and one of three."""
    x = minigan.tensor(0.5, dtype="float64", requires_grad=True)
    h = x * 2.0
    y = h + (h * h) * (h * h)  # h + h^4: dy/dh = 1 + 4 h^3 = 5 at h = 1
    y.backward()
    assert x.grad.item() == 10.0
