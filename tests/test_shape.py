"""Shape ops: values against NumPy and gradients against finite differences over random
shapes, axes and indices (on every device); repeated indices by hand; the error messages."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigan
from minigan import sim
from minigan import functional as F
from minigan.functional.shape import memory_order

from helpers import arrays, assert_matches, device_settings, leaf, random_array, shapes, small_shapes


def _prime_factors(n):
    factors, p = [], 2
    while n > 1:
        while n % p == 0:
            factors.append(p)
            n //= p
        p += 1
    return factors


@st.composite
def new_shapes(draw, size):
    """Another shape with ``size`` elements: its prime factors spread over 0-4 axes, and
    maybe one axis written as -1."""
    factors = _prime_factors(size)
    ndim = draw(st.integers(1 if factors else 0, 4))
    dims = [1] * ndim
    for f in factors:
        dims[draw(st.integers(0, ndim - 1))] *= f
    if ndim and draw(st.booleans()):
        dims[draw(st.integers(0, ndim - 1))] = -1
    return tuple(dims)


def _maybe_negative(draw, axis, ndim):
    """``axis``, or the same axis counted from the end."""
    return axis - ndim if draw(st.booleans()) else axis


@st.composite
def broadcast_targets(draw, shape):
    """A shape that ``shape`` broadcasts to: new leading axes, and its 1s stretched."""
    lead = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    return lead + tuple(draw(st.integers(1, 3)) if s == 1 else s for s in shape)


@st.composite
def summed_shapes(draw, shape):
    """A shape that ``shape`` sums down to: some leading axes dropped, some axes set to 1."""
    kept = shape[draw(st.integers(0, len(shape))):]
    return tuple(1 if draw(st.booleans()) else s for s in kept)


def _check(op, x, expected, device):
    """``op`` on a float64 leaf holding ``x`` gives NumPy's ``expected`` and passes gradcheck."""
    t = leaf(x, device)
    assert_matches(op(t), expected)
    minigan.gradcheck(op, t)


# -- moving values around, over random shapes --------------------------------------------------
@device_settings(0.6)
@given(data=st.data())
def test_reshape(device, data):
    x = data.draw(arrays(data.draw(small_shapes(), label="shape")), label="x")
    new_shape = data.draw(new_shapes(x.size), label="new_shape")
    _check(lambda t: F.reshape(t, new_shape), x, x.reshape(new_shape), device)
    assert_matches(leaf(x, device).reshape(*new_shape), x.reshape(new_shape))


@device_settings(0.6)
@given(data=st.data())
def test_permute_and_transpose(device, data):
    x = data.draw(arrays(data.draw(small_shapes(min_dims=1), label="shape")), label="x")
    axes = [_maybe_negative(data.draw, a, x.ndim) for a in data.draw(st.permutations(range(x.ndim)))]
    _check(lambda t: F.permute(t, axes), x, np.transpose(x, axes), device)
    a, b = (_maybe_negative(data.draw, data.draw(st.integers(0, x.ndim - 1)), x.ndim) for _ in range(2))
    _check(lambda t: F.transpose(t, a, b), x, np.swapaxes(x, a, b), device)
    t = leaf(x, device)
    assert_matches(t.permute(*axes), np.transpose(x, axes))
    assert_matches(t.T, x.T)


@device_settings(0.6)
@given(data=st.data())
def test_broadcast_to_and_sum_to(device, data):
    shape = data.draw(small_shapes(), label="shape")
    target = data.draw(broadcast_targets(shape), label="target")
    x = data.draw(arrays(shape), label="x")
    _check(lambda t: F.broadcast_to(t, target), x, np.broadcast_to(x, target), device)
    small = data.draw(summed_shapes(shape), label="small")
    lead = len(shape) - len(small)
    summed_axes = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(small) if s != shape[lead + i])
    expected = x.sum(axis=summed_axes, keepdims=True).reshape(small)
    _check(lambda t: F.sum_to(t, small), x, expected, device)


@device_settings(0.6)
@given(data=st.data())
def test_squeeze_unsqueeze_and_flatten(device, data):
    x = data.draw(arrays(data.draw(shapes(max_dims=4, max_side=2), label="shape")), label="x")
    ones = [a for a, s in enumerate(x.shape) if s == 1]
    axis = data.draw(st.one_of(st.none(), st.sampled_from(ones) if ones else st.nothing(),
                               st.lists(st.sampled_from(ones), unique=True).map(tuple) if ones else st.nothing()))
    _check(lambda t: F.squeeze(t, axis), x, np.squeeze(x, axis), device)
    new_axis = data.draw(st.integers(-x.ndim - 1, x.ndim), label="new_axis")
    _check(lambda t: F.unsqueeze(t, new_axis), x, np.expand_dims(x, new_axis), device)
    if x.ndim:
        start, end = sorted(data.draw(st.lists(st.integers(0, x.ndim - 1), min_size=2, max_size=2)))
        start, end = _maybe_negative(data.draw, start, x.ndim), _maybe_negative(data.draw, end, x.ndim)
        merged = x.reshape(x.shape[:start % x.ndim] + (-1,) + x.shape[end % x.ndim + 1:])
        _check(lambda t: F.flatten(t, start, end), x, merged, device)
    _check(F.flatten, x, x.reshape(-1), device)


@device_settings(0.6)
@given(data=st.data())
def test_concatenate_and_stack(device, data):
    shape = data.draw(small_shapes(min_dims=1), label="shape")
    axis = data.draw(st.integers(0, len(shape) - 1), label="axis")
    sizes = data.draw(st.lists(st.integers(1, 3), min_size=1, max_size=3), label="sizes")
    xs = [data.draw(arrays(shape[:axis] + (n,) + shape[axis + 1:])) for n in sizes]
    ts = [leaf(x, device) for x in xs]
    signed_axis = _maybe_negative(data.draw, axis, len(shape))
    assert_matches(F.concatenate(ts, signed_axis), np.concatenate(xs, axis))
    minigan.gradcheck(lambda *us: F.concatenate(us, signed_axis), ts)
    same = [data.draw(arrays(shape)) for _ in sizes]
    new_axis = data.draw(st.integers(-len(shape) - 1, len(shape)), label="new_axis")
    ts = [leaf(x, device) for x in same]
    assert_matches(F.stack(ts, new_axis), np.stack(same, new_axis))
    minigan.gradcheck(lambda *us: F.stack(us, new_axis), ts)


# -- indexing ------------------------------------------------------------------------------
@device_settings()
@given(data=st.data())
def test_getitem_with_ints_slices_none_and_ellipsis(device, data):
    x = data.draw(arrays(data.draw(small_shapes(), label="shape")), label="x")
    index = data.draw(hnp.basic_indices(x.shape, allow_newaxis=True, allow_ellipsis=True), label="index")
    _check(lambda t: t[index], x, x[index], device)


def _on_device_or_not(draw, index_array, device):
    """The index as a NumPy array, a list or a Tensor on ``device`` (getitem takes all three)."""
    kind = draw(st.sampled_from(["numpy", "list", "tensor"]))
    if kind == "tensor":
        return minigan.tensor(index_array, device=device)
    return index_array.tolist() if kind == "list" else index_array


@device_settings(0.6)
@given(data=st.data())
def test_getitem_with_integer_arrays_adds_up_repeats(device, data):
    x = data.draw(arrays(data.draw(small_shapes(min_dims=1), label="shape")), label="x")
    small = small_shapes(min_dims=1, max_dims=2)
    full = data.draw(hnp.integer_array_indices(x.shape, result_shape=small), label="full index")
    index = tuple(_on_device_or_not(data.draw, i, device) for i in full)
    _check(lambda t: t[index], x, x[full], device)
    # one axis indexed by an array, the others by slices: x[:, [i, j, i]]
    axis = data.draw(st.integers(0, x.ndim - 1), label="axis")
    (picks,) = data.draw(hnp.integer_array_indices(x.shape[axis:axis + 1], result_shape=small), label="picks")
    index = (slice(None),) * axis + (_on_device_or_not(data.draw, picks, device),)
    _check(lambda t: t[index], x, x[(slice(None),) * axis + (picks,)], device)


@device_settings(0.6)
@given(data=st.data())
def test_getitem_with_boolean_masks(device, data):
    x = data.draw(arrays(data.draw(small_shapes(min_dims=1), label="shape")), label="x")
    masked_axes = data.draw(st.integers(1, x.ndim), label="masked_axes")
    mask = data.draw(hnp.arrays(np.bool_, x.shape[:masked_axes]), label="mask")
    index = _on_device_or_not(data.draw, mask, device)
    _check(lambda t: t[index], x, x[mask], device)


def test_getitem_repeated_indices_collect_every_gradient(device):
    x = leaf([10.0, 20.0, 30.0], device)
    y = x[minigan.tensor([0, 0, 2, 0], device=device)]
    np.testing.assert_array_equal(y.numpy(), [10.0, 10.0, 30.0, 10.0])
    (g,) = minigan.grad((y * leaf([1.0, 2.0, 3.0, 4.0], device, requires_grad=False)).sum(), x)
    np.testing.assert_array_equal(g.numpy(), [1.0 + 2.0 + 4.0, 0.0, 3.0])


# -- second derivatives: each backward is itself differentiable ------------------------------------
GRADGRAD = {
    "reshape": lambda t: F.reshape(t, (-1,)),
    "permute": lambda t: F.permute(t, (1, 0)),
    "broadcast_to": lambda t: F.broadcast_to(t, (2,) + t.shape),
    "sum_to": lambda t: F.sum_to(t, (1, t.shape[1])),
    "getitem": lambda t: t[[1, 0, 1], ::-1],
    "concatenate": lambda t: F.concatenate([t, t * t], axis=1),
}


@pytest.mark.parametrize("name", list(GRADGRAD))
@device_settings(0.2)
@given(data=st.data())
def test_shape_op_gradgradcheck(device, name, data):
    shape = data.draw(shapes(min_dims=2, max_dims=2, min_side=2, max_side=3), label="shape")
    minigan.gradgradcheck(GRADGRAD[name], leaf(data.draw(arrays(shape), label="x"), device))


def test_shape_ops_make_no_host_transfers_on_sim():
    x = minigan.tensor(np.arange(24.0).reshape(2, 3, 4), device="sim", requires_grad=True)
    picks = minigan.tensor([2, 0, 2], device="sim")
    mask = minigan.tensor(np.arange(4) % 2 == 0, device="sim")
    sim.reset_transfers()
    parts = [F.reshape(x, (6, 4)), F.flatten(F.permute(x, (1, 0, 2)), 0, 1), x[:, picks].reshape(6, 4),
             F.squeeze(F.unsqueeze(x, 0), 0).reshape(6, 4), F.pad(x[..., mask], (1, 1)).reshape(6, 4),
             F.sum_to(F.broadcast_to(x, (2, 2, 3, 4)), (2, 3, 4)).reshape(6, 4)]
    out = F.stack(parts, 0) + F.concatenate(parts, 0).reshape(6, 6, 4)
    minigan.grad(out.sum(), x, create_graph=True)
    assert sim.transfers == {"to_host": 0, "to_device": 0}


# -- errors -----------------------------------------------------------------------------------
def test_reshape_broadcast_and_sum_to_name_the_shapes_they_cannot_reach():
    x = minigan.ones(2, 3)
    for bad in [(4, -1), (-1, -1), (5,), (0, -1)]:
        with pytest.raises(ValueError, match=rf"reshape: cannot reshape a tensor of shape \(2, 3\) into"):
            F.reshape(x, bad)
    with pytest.raises(ValueError, match=r"broadcast_to: cannot broadcast shape \(2, 3\) to \(3,\)"):
        F.broadcast_to(x, (3,))
    with pytest.raises(ValueError, match=r"broadcast_to: cannot broadcast shape \(2, 3\) to \(4, 3\)"):
        F.broadcast_to(x, (4, 3))
    with pytest.raises(ValueError, match=r"sum_to: cannot sum shape \(2, 3\) down to \(2,\)"):
        F.sum_to(x, (2,))
    with pytest.raises(ValueError, match=r"sum_to: cannot sum shape \(2, 3\) down to \(1, 2, 3\)"):
        F.sum_to(x, (1, 2, 3))


def test_joining_errors_name_the_shapes_and_dtypes():
    a, b = minigan.ones(2, 3), minigan.ones(2, 4)
    with pytest.raises(ValueError, match=r"concatenate: shapes \(2, 3\) and \(2, 4\) differ outside axis 0"):
        F.concatenate([a, b], axis=0)
    with pytest.raises(ValueError, match=r"concatenate: shapes \(2, 3\) and \(3,\) differ outside axis 0"):
        F.concatenate([a, minigan.ones(3)])
    with pytest.raises(TypeError, match="concatenate: dtypes float32 and float64 differ"):
        F.concatenate([a, minigan.ones(2, 3, dtype="float64")])
    with pytest.raises(ValueError, match="concatenate: expected at least one tensor"):
        F.concatenate([])
    with pytest.raises(ValueError, match=r"stack: shapes \(2, 3\) and \(2, 4\) differ"):
        F.stack([a, b])
    with pytest.raises(ValueError, match="stack: expected at least one tensor"):
        F.stack([])


@pytest.mark.parametrize("call, message", [
    (lambda x: F.transpose(x, 0, 2), "transpose: axis 2 is out of range for a tensor with 2 dimensions"),
    (lambda x: F.permute(x, (0, -3)), "permute: axis -3 is out of range for a tensor with 2 dimensions"),
    (lambda x: F.unsqueeze(x, 3), "unsqueeze: axis 3 is out of range for a tensor with 3 dimensions"),
    (lambda x: F.squeeze(x, 2), "squeeze: axis 2 is out of range for a tensor with 2 dimensions"),
    (lambda x: F.flatten(x, 0, 5), "flatten: axis 5 is out of range for a tensor with 2 dimensions"),
    (lambda x: F.concatenate([x, x], 2), "concatenate: axis 2 is out of range for a tensor with 2 dimensions"),
    (lambda x: F.stack([x, x], -4), "stack: axis -4 is out of range for a tensor with 3 dimensions"),
])
def test_out_of_range_axes_name_the_op(call, message):
    with pytest.raises(ValueError, match=message):
        call(minigan.ones(2, 3))


def test_axis_errors_name_the_shape():
    x = minigan.ones(2, 1, 3)
    with pytest.raises(ValueError, match=r"squeeze: axis 2 of shape \(2, 1, 3\) has size 3, not 1"):
        F.squeeze(x, (1, 2))
    with pytest.raises(ValueError, match=r"permute: axes \(0, 0, 2\) are not a permutation of the 3 axes "
                                         r"of shape \(2, 1, 3\)"):
        F.permute(x, (0, 0, 2))
    with pytest.raises(ValueError, match="flatten: start_axis 2 comes after end_axis 1"):
        F.flatten(x, 2, 1)


def test_getitem_errors_name_the_index_and_the_shape():
    x = minigan.ones(2, 3)
    with pytest.raises(IndexError, match=r"getitem: index 5 is out of bounds .* \(tensor of shape \(2, 3\)\)"):
        x[5]
    with pytest.raises(IndexError, match=r"getitem: too many indices .* \(tensor of shape \(2, 3\)\)"):
        x[0, 0, 0]
    with pytest.raises(IndexError, match=r"getitem: an index must be an int, slice, .* got float"):
        x[1.5]
    with pytest.raises(IndexError, match="getitem: index arrays must be integers or booleans, got float64"):
        x[np.array([0.0, 1.0])]
    with pytest.raises(RuntimeError, match="getitem: index on cpu for a tensor on sim"):
        minigan.ones(2, device="sim")[minigan.tensor([0, 1])]


@pytest.mark.parametrize("call", [
    lambda a: F.reshape(a, (3,)), lambda a: F.permute(a, (0,)), lambda a: F.transpose(a, 0, 0),
    lambda a: F.broadcast_to(a, (2, 3)), lambda a: F.sum_to(a, (1,)), lambda a: F.squeeze(a),
    lambda a: F.unsqueeze(a, 0), lambda a: F.flatten(a), lambda a: F.concatenate([a]),
    lambda a: F.stack([a]), lambda a: F.getitem(a, 0), lambda a: F.pad(a, (1, 1)),
], ids=["reshape", "permute", "transpose", "broadcast_to", "sum_to", "squeeze", "unsqueeze", "flatten",
        "concatenate", "stack", "getitem", "pad"])
def test_shape_ops_refuse_non_tensors(request, call):
    name = request.node.callspec.id
    with pytest.raises(TypeError, match=f"{name}: expected a Tensor, got ndarray"):
        call(np.ones(3))


# -- memory layout: reshape's gradient comes back laid out as its input was -------------------
@pytest.mark.parametrize("order", [(0, 1, 2, 3), (1, 2, 3, 0), (3, 2, 1, 0), (0, 2, 3, 1)])
def test_memory_order_reads_back_the_axis_order_of_a_transposed_array(order):
    base = np.zeros([(2, 3, 4, 5)[a] for a in order])
    assert memory_order(base.transpose(np.argsort(order))) == order


def test_memory_order_is_none_for_strided_slices():
    assert memory_order(np.zeros((4, 6))[:, ::2]) is None
    assert memory_order(np.zeros((3, 4, 5)).transpose(1, 2, 0)[:, 1:3]) is None


def _laid_out(values, order, device):
    """A (non-leaf) tensor holding ``values`` whose array is laid out in memory in axis ``order``."""
    permuted = leaf(values, device).permute(*order)
    stored = F.reshape(F.reshape(permuted, (-1,)), permuted.shape)  # a C-order copy of the view
    return stored.permute(*[int(i) for i in np.argsort(order)])


@pytest.mark.parametrize("order", [(1, 2, 3, 0), (0, 1, 2, 3), (0, 2, 3, 1)])
def test_reshape_gives_its_gradient_in_the_layout_of_its_input(device, order):
    """A batch-last conv output flattened for a Linear gets its gradient back batch last, so the
    ops before it read their gradient in the layout they wrote (no slow mixed-layout pass)."""
    values, upstream = random_array((3, 4, 2, 5), seed=1), random_array((3, 40), seed=2)
    x = _laid_out(values, order, device)
    assert memory_order(x.array) == order
    (gx,) = minigan.grad((F.reshape(x, (3, 40)) * minigan.tensor(upstream, device=device)).sum(), x)
    assert_matches(gx, upstream.reshape(3, 4, 2, 5))
    assert memory_order(gx.array) == order


def test_reshape_of_a_batch_last_array_has_right_second_derivatives(device):
    minigan.gradgradcheck(lambda t: F.reshape(_laid_out(t, (1, 2, 3, 0), t.device), (5, 24)) ** 2,
                          leaf(random_array((5, 4, 3, 2), seed=3), device))
