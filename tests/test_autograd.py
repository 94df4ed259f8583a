"""The engine: graph recording, backward, grad, grad mode, freeing, errors."""
import gc
import threading
import weakref

import numpy as np
import pytest

import minigan
from minigan import functional as F


@pytest.mark.op_backprop
def test_backward_accumulates_into_leaves():
    x = minigan.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0, 6.0])
    (x * 3.0).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [5.0, 7.0, 9.0])


@pytest.mark.op_backprop
def test_a_leaf_used_twice_gets_both_gradients():
    x = minigan.tensor(3.0, requires_grad=True)
    (x * x + x).backward()
    assert x.grad.item() == 7.0


@pytest.mark.op_backprop
def test_grad_returns_without_touching_dot_grad():
    x = minigan.tensor([1.0, -2.0], requires_grad=True)
    (gx,) = minigan.grad((x ** 3).sum(), x)
    np.testing.assert_allclose(gx.numpy(), [3.0, 12.0])
    assert x.grad is None


@pytest.mark.op_backprop
def test_grad_of_grad_gives_second_derivative():
    x = minigan.tensor([0.5, 2.0], dtype="float64", requires_grad=True)
    (g,) = minigan.grad((x ** 3).sum(), x, create_graph=True)
    (gg,) = minigan.grad(g.sum(), x)
    np.testing.assert_allclose(gg.numpy(), 6 * x.numpy())


@pytest.mark.op_backprop
def test_backward_with_create_graph_keeps_grad_differentiable():
    x = minigan.tensor(1.5, dtype="float64", requires_grad=True)
    F.tanh(x).backward(create_graph=True)
    first = x.grad
    x.grad = None
    first.backward()
    t = np.tanh(1.5)
    np.testing.assert_allclose(x.grad.item(), -2 * t * (1 - t * t))


@pytest.mark.op_backprop
def test_grad_with_respect_to_a_non_leaf():
    x = minigan.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2.0
    y = (h * h).sum()
    gh, gx = minigan.grad(y, [h, x])
    np.testing.assert_allclose(gh.numpy(), [4.0, 8.0])
    np.testing.assert_allclose(gx.numpy(), [8.0, 16.0])


@pytest.mark.op_backprop
def test_grad_unused_input_raises_or_gives_none():
    x = minigan.tensor(1.0, requires_grad=True)
    z = minigan.tensor(1.0, requires_grad=True)
    with pytest.raises(RuntimeError, match="allow_unused"):
        minigan.grad(x * 2.0, [x, z], retain_graph=True)
    gx, gz = minigan.grad(x * 2.0, [x, z], allow_unused=True)
    assert gz is None and gx.item() == 2.0


@pytest.mark.op_backprop
def test_grad_skips_branches_that_lead_to_no_input():
    """minigan.grad visits only the part of the graph between outputs and inputs."""
    calls = []

    class Spy(minigan.Function):
        def forward(self, a):
            return a * 1

        def backward(self, gy):
            calls.append(1)
            return gy

    w = minigan.tensor(2.0, requires_grad=True)
    x = minigan.tensor(3.0, requires_grad=True)
    y = Spy()(w) * x
    minigan.grad(y, x)
    assert calls == []
    minigan.grad(Spy()(w) * x, w)
    assert calls == [1]


@pytest.mark.op_backprop
def test_non_scalar_backward_needs_grad():
    x = minigan.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="scalar output, got shape \\(2,\\)"):
        (x * 2.0).backward()
    (x * 2.0).backward(minigan.tensor([1.0, 10.0]))
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 20.0])


@pytest.mark.op_backprop
def test_second_backward_through_freed_graph_says_retain_graph():
    x = minigan.tensor(2.0, requires_grad=True)
    y = x.exp() * x
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()


@pytest.mark.op_backprop
def test_retain_graph_allows_a_second_backward():
    x = minigan.tensor(2.0, requires_grad=True)
    y = x * x
    y.backward(retain_graph=True)
    y.backward()
    assert x.grad.item() == 8.0


@pytest.mark.op_backprop
def test_backward_frees_saved_arrays():
    x = minigan.tensor(np.ones(1000), requires_grad=True)
    y = x.exp()
    node = y.creator
    z = y.sum()
    assert node.saved is not None
    z.backward()
    assert node.saved is None


@pytest.mark.op_backprop
def test_intermediate_arrays_not_needed_by_backward_are_not_kept():
    """An add saves nothing, so its inputs' arrays die with their tensors."""
    x = minigan.tensor(np.ones(10), requires_grad=True)
    h = x * 2.0
    ref = weakref.ref(h.array)
    y = (h + 1.0).sum()
    del h
    gc.collect()
    assert ref() is None
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2.0)


@pytest.mark.op_backprop
def test_long_chain_needs_no_recursion():
    x = minigan.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(20000):
        y = y * 1.0
    y.backward()
    assert x.grad.item() == 1.0
    del y  # freeing a 20,000-node graph must not overflow the C stack either


def test_no_grad_records_nothing_and_enable_grad_restores():
    x = minigan.tensor(1.0, requires_grad=True)
    with minigan.no_grad():
        y = x * 2.0
        assert not minigan.is_grad_enabled()
        with minigan.enable_grad():
            z = x * 2.0
    assert not y.requires_grad and y.creator is None
    assert z.requires_grad
    assert minigan.is_grad_enabled()


def test_no_grad_as_decorator():
    @minigan.no_grad()
    def f(t):
        return t * 2.0

    assert not f(minigan.tensor(1.0, requires_grad=True)).requires_grad


def test_no_grad_restores_mode_after_an_exception():
    with pytest.raises(ValueError):
        with minigan.no_grad():
            raise ValueError
    assert minigan.is_grad_enabled()


def test_no_grad_in_one_thread_leaves_other_threads_recording():
    """Grad mode is per thread (as in PyTorch): evaluation under no_grad in a background thread
    must not silently stop the training thread from recording its graph."""
    inside, release = threading.Event(), threading.Event()

    def evaluate():
        with minigan.no_grad():
            inside.set()
            release.wait(10)

    worker = threading.Thread(target=evaluate)
    worker.start()
    try:
        assert inside.wait(10)
        assert minigan.is_grad_enabled()
        assert (minigan.tensor(1.0, requires_grad=True) * 2.0).requires_grad
    finally:
        release.set()
        worker.join()


@pytest.mark.op_backprop
def test_leaf_grads_do_not_share_memory():
    a = minigan.tensor([1.0, 2.0], requires_grad=True)
    b = minigan.tensor([3.0, 4.0], requires_grad=True)
    (a + b).sum().backward()
    a.grad.array[0] = 100.0
    assert b.grad.array[0] == 1.0


def test_backward_on_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        minigan.tensor(1.0).backward()


@pytest.mark.op_backprop
def test_grad_through_detach_stops():
    x = minigan.tensor(2.0, requires_grad=True)
    y = x * x.detach()
    y.backward()
    assert x.grad.item() == 2.0
