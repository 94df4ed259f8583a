"""The engine: graph recording, backward, grad, grad mode, freeing, errors."""
import gc
import threading
import weakref

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


# -- the order of the backward pass and the sums at each node (course task backprop) ------------------
# each a function of h = 2x where h reaches the output by paths of different lengths, and dy/dx at x = 1
# (small integers: exact in float64). Breadth-first order runs h's backward before every path's
# gradient has arrived: for the first graph, dx comes out 2 instead of 26.
ORDER_GRAPHS = {
    "short-and-long-path": (lambda h: h + (h * h) * 3.0, 26.0),  # dy/dh = 1 + 6 h = 13
    "paths-of-2-and-4-ops": (lambda h: h * 3.0 + ((h * 0.5) * 2.0) * 4.0, 14.0),  # dy/dh = 3 + 4
    "three-paths": (lambda h: h + h * 2.0 + ((h * 2.0) * 2.0) * 2.0, 22.0),  # dy/dh = 1 + 2 + 8
    "diamond-then-tail": (lambda h: (lambda c: c * c + c)(h * 3.0 + ((h * 1.0) * 1.0) * 1.0), 136.0),  # c = 4h
    "product-of-a-sum": (lambda h: (h + h * h) * h, 32.0),  # y = h^2 + h^3: dy/dh = 2h + 3h^2 = 16
}


@pytest.mark.op_backprop
@pytest.mark.parametrize("graph", list(ORDER_GRAPHS))
def test_backward_visits_a_node_after_every_path_to_it(graph):
    build, expected = ORDER_GRAPHS[graph]
    x = minigan.tensor(1.0, dtype="float64", requires_grad=True)
    build(x * 2.0).backward()
    assert x.grad.item() == expected
    x2 = minigan.tensor(1.0, dtype="float64", requires_grad=True)
    (gx,) = minigan.grad(build(x2 * 2.0), x2)  # the same through grad()
    assert gx.item() == expected


@pytest.mark.op_backprop
def test_gradients_reaching_a_node_by_several_edges_are_summed():
    """Edges of equal length (so that any order that puts users first gets it): an inner node
    used by two ops, and a leaf used twice by one op."""
    x = minigan.tensor([1.0, -2.0], dtype="float64", requires_grad=True)
    h = x * 2.0
    y = (h * h + h * 3.0).sum()  # dy/dh = 2 h + 3
    (gh, gx) = minigan.grad(y, [h, x])
    np.testing.assert_array_equal(gh.numpy(), 2 * h.numpy() + 3)
    np.testing.assert_array_equal(gx.numpy(), 2 * (2 * h.numpy() + 3))
    x.grad = None
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), 2 * x.numpy())


@pytest.mark.op_backprop
def test_a_second_backward_through_ops_that_save_nothing_says_retain_graph():
    """An add saves no values, so only the walk over the graph can tell that it was freed."""
    x = minigan.tensor(2.0, requires_grad=True)
    y = (x + 1.0) - 3.0
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()
    assert x.grad.item() == 1.0


@st.composite
def _graphs(draw):
    """A random graph of elementwise ops over 1-3 inputs: each node applies an op to earlier
    nodes, so that paths of different lengths meet at shared nodes."""
    inputs = draw(st.integers(1, 3))
    steps = []
    for i in range(draw(st.integers(2, 9))):
        earlier = st.integers(0, inputs + i - 1)
        steps.append((draw(st.sampled_from(["add", "mul", "tanh", "sub"])), draw(earlier), draw(earlier)))
    values = [draw(st.lists(st.floats(-1.5, 1.5), min_size=2, max_size=2)) for _ in range(inputs)]
    return values, steps


def _run_graph(steps, *inputs):
    nodes = list(inputs)
    ops = {"add": lambda a, b: a + b, "mul": lambda a, b: a * b, "tanh": lambda a, b: F.tanh(a) * 1.5,
           "sub": lambda a, b: a - b * 0.5}
    for op, i, j in steps:
        nodes.append(ops[op](nodes[i], nodes[j]))
    return nodes[-1] + nodes[len(inputs)] * 0.25  # the first node reaches the output directly too


@pytest.mark.op_backprop
@settings(deadline=None)
@given(graph=_graphs())
def test_backward_through_random_graphs_gradcheck(graph):
    values, steps = graph
    inputs = tuple(minigan.tensor(np.array(v), dtype="float64", requires_grad=True) for v in values)
    minigan.gradcheck(lambda *xs: _run_graph(steps, *xs), inputs)
