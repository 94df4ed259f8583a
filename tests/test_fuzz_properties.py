"""Property-style bad inputs (#14): over generated dtypes, shapes, axes, numbers and conv
parameters, each call either raises a clear error naming the op and the offending values, or
gives PyTorch's result (values and dtype). Plus: an in-place write between a forward and its
backward raises exactly when backward needs the written tensor."""
import numbers

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigan
import minigan.nn as nn
from minigan import functional as F

torch = pytest.importorskip("torch", reason="these properties compare with PyTorch")

# x / 0 for bool operands is inf or NaN by definition here; PyTorch warns when it makes a complex
# half tensor (float16 next to a complex number), which minigan refuses anyway
pytestmark = [pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning"),
              pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning"),
              pytest.mark.filterwarnings("ignore:ComplexHalf support is experimental:UserWarning")]

DTYPES = ["bool", "uint8", "int8", "int32", "int64", "float16", "float32", "float64"]
BINARY = {"add": ("__add__", torch.add), "sub": ("__sub__", torch.sub), "mul": ("__mul__", torch.mul),
          "div": ("__truediv__", torch.div), "pow": ("__pow__", torch.pow),
          "maximum": (F.maximum, torch.maximum), "minimum": (F.minimum, torch.minimum),
          "lt": ("__lt__", torch.lt), "eq": ("__eq__", torch.eq)}


def _values(dtype, shape, seed):
    """Small values every dtype holds, away from 0 (no 0 ** -x, no x / 0)."""
    rng = np.random.default_rng(seed)
    if dtype == "bool":
        return rng.integers(0, 2, shape).astype(bool)
    if dtype[0] in "ui":
        return rng.integers(1, 4, shape).astype(dtype)
    return rng.uniform(0.5, 2.0, shape).astype(dtype)


def _call(op, a, b):
    fn = BINARY[op][0]
    return getattr(a, fn)(b) if isinstance(fn, str) else fn(a, b)


def _assert_like(got, want):
    want = want.numpy()
    assert got.shape == want.shape
    assert got.dtype == want.dtype, f"dtype {got.dtype}, PyTorch {want.dtype}"
    rtol = 1e-3 if np.float16 in (got.dtype, want.dtype) else 1e-6
    np.testing.assert_allclose(got.numpy().astype(np.float64), want.astype(np.float64), rtol=rtol)


def _assert_named(err, *words):
    text = str(err).lower()
    missing = [w for w in words if str(w).lower() not in text]
    assert not missing, f"{type(err).__name__}: {err} does not name {missing}"


def _raises_or_matches(op, mine, theirs, refusals_allowed):
    """``mine()`` raises a clear error where ``theirs()`` (PyTorch) raises, or for one of the
    ``refusals_allowed`` reasons; otherwise it gives PyTorch's values and dtype."""
    try:
        want = theirs()
    except (RuntimeError, TypeError, ValueError):
        want = None
    try:
        got = mine()
    except (TypeError, ValueError) as err:
        _assert_named(err, op)
        assert want is None or refusals_allowed(err), f"refused where PyTorch gives {want}: {err}"
        return
    assert want is not None, f"PyTorch raises, minigan gave {got}"
    _assert_like(got, want)


@given(op=st.sampled_from(sorted(BINARY)), da=st.sampled_from(DTYPES), db=st.sampled_from(DTYPES),
       seed=st.integers(0, 2**16))
def test_binary_ops_over_dtype_pairs_raise_by_name_or_match_pytorch(op, da, db, seed):
    a, b = _values(da, (3,), seed), _values(db, (3,), seed + 1)
    # minigan's one refusal where PyTorch promotes: two different float dtypes (say which)
    allowed = (lambda err: da.startswith("float") and db.startswith("float") and da in str(err) and db in str(err))
    _raises_or_matches(op, lambda: _call(op, minigan.tensor(a), minigan.tensor(b)),
                       lambda: BINARY[op][1](torch.tensor(a), torch.tensor(b)), allowed)


NUMBERS = st.one_of(st.integers(1, 3), st.floats(0.5, 2.0), st.booleans(), st.complex_numbers(max_magnitude=2))


@given(op=st.sampled_from(["add", "sub", "mul", "div", "pow", "lt"]), dtype=st.sampled_from(DTYPES), number=NUMBERS,
       reflected=st.booleans(), seed=st.integers(0, 2**16))
def test_python_numbers_next_to_tensors_raise_by_name_or_match_pytorch(op, dtype, number, reflected, seed):
    a = _values(dtype, (3,), seed)
    fn = BINARY[op][0]
    if reflected and op != "lt":
        fn = fn.replace("__", "__r", 1)
    # minigan's refusals where PyTorch computes: complex numbers (minigan has no complex tensors);
    # powers of bools by bools (PyTorch refuses them between tensors, not with a Python bool)
    allowed = (lambda err: (not isinstance(number, numbers.Real) and "complex" in str(err))
               or "bool ** bool" in str(err))
    _raises_or_matches(op, lambda: getattr(minigan.tensor(a), fn)(number),
                       lambda: getattr(torch.tensor(a), fn)(number), allowed)


@given(shapes=st.lists(st.lists(st.integers(0, 3), max_size=3), min_size=2, max_size=2))
def test_shapes_that_do_not_broadcast_are_named(shapes):
    a, b = (tuple(s) for s in shapes)
    try:
        expected = np.broadcast_shapes(a, b)
    except ValueError:
        with pytest.raises(ValueError) as err:
            minigan.zeros(a) + minigan.zeros(b)
        _assert_named(err.value, "add", a, b)
        return
    assert (minigan.zeros(a) * minigan.zeros(b)).shape == expected


# (not the empty tuple: NumPy reduces over no axis, PyTorch over all; minigan's axis= is NumPy's)
AXES = st.one_of(st.none(), st.integers(-4, 4), st.lists(st.integers(-3, 3), min_size=1, max_size=3).map(tuple))


@given(op=st.sampled_from(["sum", "mean"]), shape=st.lists(st.integers(0, 3), min_size=1, max_size=3).map(tuple),
       axis=AXES, seed=st.integers(0, 2**16))
def test_reduction_axes_raise_when_pytorch_raises_and_match_it_otherwise(op, shape, axis, seed):
    x = _values("float32", shape, seed)
    try:
        reduce = getattr(torch, op)
        want = reduce(torch.tensor(x)) if axis is None else reduce(torch.tensor(x), dim=axis)
    except (RuntimeError, IndexError):
        with pytest.raises((ValueError, TypeError)) as err:
            getattr(minigan.tensor(x), op)(axis=axis)
        _assert_named(err.value, op, "axis")
        return
    got = getattr(minigan.tensor(x), op)(axis=axis)
    want = want.numpy()
    assert got.shape == want.shape
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-6, equal_nan=True)


CONV = st.fixed_dictionaries({
    "side": st.integers(1, 5), "kernel": st.integers(0, 3), "stride": st.integers(-1, 3),
    "padding": st.integers(-1, 2), "dilation": st.integers(0, 2), "seed": st.integers(0, 2**16)})


@given(c=CONV)
def test_conv2d_parameters_raise_by_name_when_pytorch_raises_and_match_it_otherwise(c):
    x = _values("float32", (1, 2, c["side"], c["side"]), c["seed"])
    w = _values("float32", (3, 2, c["kernel"], c["kernel"]), c["seed"] + 1)
    kwargs = {k: c[k] for k in ("stride", "padding", "dilation")}
    try:
        want = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w), **kwargs)
    except RuntimeError:
        with pytest.raises(ValueError) as err:
            F.conv2d(minigan.tensor(x), minigan.tensor(w), **kwargs)
        _assert_named(err.value, "conv2d")
        return
    got = F.conv2d(minigan.tensor(x), minigan.tensor(w), **kwargs)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-5)


@given(stepped=st.lists(st.booleans(), min_size=4, max_size=4), optimizer=st.sampled_from(["SGD", "Adam", "RMSprop"]))
def test_a_step_between_forward_and_backward_raises_exactly_when_backward_needs_what_it_changed(stepped, optimizer):
    minigan.manual_seed(0)
    G = nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 3))
    D = nn.Sequential(nn.Linear(3, 4), nn.LeakyReLU(0.2), nn.Linear(4, 1))
    loss = minigan.gan.losses.non_saturating_g_loss(D(G(minigan.randn(5, 2))))
    chosen = [p for p, s in zip(D.parameters(), stepped) if s]  # 0.weight, 0.bias, 2.weight, 2.bias
    if chosen:
        for p in chosen:
            p.grad = minigan.ones_like(p)
        getattr(minigan.optim, optimizer)(chosen, lr=0.1).step()
    weights_changed = stepped[0] or stepped[2]  # backward reads D's weights (for dx), never its biases
    if weights_changed:
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            minigan.grad(loss, list(G.parameters()))
    else:
        minigan.grad(loss, list(G.parameters()))  # the biases went into additions, which save nothing
