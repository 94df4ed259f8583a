"""Shared by the tests: strategies, tolerances and checks for the ops, and the example scripts loaded in-process."""
import importlib.util
import pathlib
import struct
from typing import NamedTuple

import numpy as np
import pytest
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigan


def shapes(min_dims=0, max_dims=3, min_side=1, max_side=4):
    """Small array shapes (gradcheck costs two forwards per element)."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def broadcastable_pair(max_dims=3, max_side=4):
    """Two shapes that broadcast together (either may have fewer axes or size-1 axes)."""
    return hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=max_dims,
                                             max_side=max_side).map(lambda r: r.input_shapes)


@st.composite
def arrays(draw, shape, low=-2.0, high=2.0, away_from=(), margin=0.1):
    """A float64 array with values in [low, high], each at least ``margin`` from every kink in
    ``away_from`` (kept off kinks by construction: values are pushed out of the margin)."""
    seed = draw(st.integers(0, 2**32 - 1))
    values = np.random.default_rng(seed).uniform(low, high, size=shape)
    for kink in away_from:
        near = np.abs(values - kink) < margin
        values = np.where(near, kink + np.where(values >= kink, margin, -margin) * 1.5, values)
    return values


def leaf(values, device, requires_grad=True):
    """A float64 leaf tensor on ``device``."""
    return minigan.tensor(np.asarray(values, dtype=np.float64), requires_grad=requires_grad, device=device)


# -- convolution cases (appended for tests/test_conv.py) ------------------------------------------
class ConvCase(NamedTuple):
    """Shapes and keyword arguments of one convolution call."""
    x_shape: tuple
    weight_shape: tuple
    kwargs: dict


def _int_or_pair(draw, pair):
    """``pair`` as given, or as a single int when both entries agree (conv takes either form)."""
    if pair[0] == pair[1] and draw(st.booleans()):
        return pair[0]
    return tuple(pair)


@st.composite
def conv2d_cases(draw, max_batch=2, max_channels=2, max_side=6, max_kernel=3, max_stride=3,
                 max_padding=2, max_dilation=2):
    """A valid conv2d call: x (N, C, H, W), weight (O, C, kh, kw), stride/padding/dilation as
    ints or pairs, with every spatial side big enough for at least a 1 x 1 output."""
    n, c, o = (draw(st.integers(1, m)) for m in (max_batch, max_channels, max_channels))
    kernel, stride, padding, dilation, sides = [], [], [], [], []
    for _ in range(2):
        k, s = draw(st.integers(1, max_kernel)), draw(st.integers(1, max_stride))
        p, d = draw(st.integers(0, max_padding)), draw(st.integers(1, max_dilation))
        smallest = max(1, d * (k - 1) + 1 - 2 * p)  # the dilated kernel must fit the padded input
        sides.append(draw(st.integers(smallest, max(smallest, max_side))))
        for values, v in ((kernel, k), (stride, s), (padding, p), (dilation, d)):
            values.append(v)
    kwargs = {"stride": _int_or_pair(draw, stride), "padding": _int_or_pair(draw, padding),
              "dilation": _int_or_pair(draw, dilation)}
    return ConvCase((n, c, *sides), (o, c, *kernel), kwargs)


@st.composite
def conv_transpose2d_cases(draw, max_batch=2, max_channels=2, max_side=4, max_kernel=3, max_stride=3,
                           max_padding=2, max_dilation=2):
    """A valid conv_transpose2d call: x (N, Cin, H, W), weight (Cin, Cout, kh, kw), stride,
    padding, output_padding (< stride) and dilation as ints or pairs, output at least 1 x 1."""
    n, cin, cout = (draw(st.integers(1, m)) for m in (max_batch, max_channels, max_channels))
    kernel, stride, padding, output_padding, dilation, sides = [], [], [], [], [], []
    for _ in range(2):
        side, k = draw(st.integers(1, max_side)), draw(st.integers(1, max_kernel))
        s, d = draw(st.integers(1, max_stride)), draw(st.integers(1, max_dilation))
        op = draw(st.integers(0, s - 1))
        reach = (side - 1) * s + d * (k - 1) + op  # output size before padding, minus one
        p = draw(st.integers(0, min(max_padding, reach // 2)))
        for values, v in ((sides, side), (kernel, k), (stride, s), (padding, p),
                          (output_padding, op), (dilation, d)):
            values.append(v)
    kwargs = {"stride": _int_or_pair(draw, stride), "padding": _int_or_pair(draw, padding),
              "output_padding": _int_or_pair(draw, output_padding),
              "dilation": _int_or_pair(draw, dilation)}
    return ConvCase((n, cin, *sides), (cin, cout, *kernel), kwargs)


def pair(value) -> tuple:
    """An int-or-pair convolution argument as a pair."""
    return (value, value) if isinstance(value, int) else tuple(value)


def random_array(shape, seed, low=-1.0, high=1.0):
    """A float64 array of uniform values in [low, high) from ``seed`` (for @example-pinned tests)."""
    return np.random.default_rng(seed).uniform(low, high, size=shape)


# -- strategies and checks for the elementwise, reduce, shape and linalg tests ---------------
from hypothesis import HealthCheck, settings  # noqa: E402


def device_settings(fraction=1.0):
    """Hypothesis settings for a ``@given`` test that takes the ``device`` fixture.

    The fixture is only a device name that no test changes, so sharing it between generated
    examples is safe: the function-scoped-fixture health check is suppressed. ``fraction``
    scales the profile's ``max_examples`` down for costly tests (gradgradcheck).
    """
    base = settings.default
    return settings(max_examples=max(2, int(base.max_examples * fraction)),
                    suppress_health_check=[*base.suppress_health_check, HealthCheck.function_scoped_fixture])


@st.composite
def distinct_arrays(draw, array_shapes, low=-2.0, high=2.0):
    """float64 arrays of the given shapes whose values, across all of them, are pairwise at
    least (high - low) / (2 n) apart: no ties, so max/min/maximum never sit on a kink."""
    sizes = [int(np.prod(s)) for s in array_shapes]
    n = max(sum(sizes), 1)
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    step = (high - low) / n
    values = low + step * (rng.permutation(n) + 0.5 + rng.uniform(-0.25, 0.25, n))
    bounds = np.cumsum([0] + sizes)
    return tuple(values[a:b].reshape(s) for a, b, s in zip(bounds[:-1], bounds[1:], array_shapes))


@st.composite
def axis_args(draw, ndim):
    """A reduction's ``axis``: None, an int or a tuple of distinct axes (any order; each may
    be written negative)."""
    if ndim == 0:
        return draw(st.sampled_from([None, ()]))
    axes = draw(st.lists(st.integers(0, ndim - 1), unique=True, max_size=ndim))
    as_tuple = tuple(a - ndim if draw(st.booleans()) else a for a in axes)
    return draw(st.one_of(st.none(), st.integers(-ndim, ndim - 1), st.just(as_tuple)))


# -- tolerances from the float type and the size of the computation -----------------------------
def unit_roundoff(dtype) -> float:
    """u, the largest relative error of one rounding in ``dtype``: half its machine epsilon."""
    return float(np.finfo(dtype).eps) / 2


def gamma(terms: int, dtype) -> float:
    """gamma_n = n u / (1 - n u): the largest relative error of a sum of n products in ``dtype``,
    whatever the order of the additions (Higham, Accuracy and Stability of Numerical Algorithms,
    section 3.1). Any BLAS kernel, blocking or split over threads stays within it, relative to
    the sum of the absolute values of the products."""
    nu = (terms + 1) * unit_roundoff(dtype)  # + 1: the products' own rounding
    assert nu < 0.5, f"{terms} terms are too many for a bound in {np.dtype(dtype).name}"
    return nu / (1 - nu)


def assert_sums_close(actual, expected, magnitude, terms, dtype, err_msg=""):
    """``actual`` and ``expected`` are the same sums of ``terms`` products each, computed by two
    correct routes (at most one of them in ``dtype``, the other in ``dtype`` or wider), and
    ``magnitude`` is those sums taken over the products' absolute values (the same route run on
    |inputs|). Each route is within gamma_n * magnitude of the exact sum, so they may differ by
    twice that, element by element, and no more: the tolerance of any BLAS on any CPU."""
    actual, expected, magnitude = (np.asarray(a, dtype=np.float64) for a in (actual, expected, magnitude))
    assert actual.shape == expected.shape, f"{err_msg}: shape {actual.shape}, expected {expected.shape}"
    bound = 2 * gamma(terms, dtype) * magnitude
    worst = np.max(np.abs(actual - expected) - bound, initial=-np.inf)
    assert worst <= 0, (f"{err_msg}: differs by more than 2 gamma_{terms} ({np.dtype(dtype).name}) times the "
                        f"magnitude, by {worst:.3g} beyond it")


def assert_matches(t, expected, rtol=1e-12, atol=1e-12):
    """``t`` has the shape and values of the NumPy array ``expected`` (and its dtype if float)."""
    expected = np.asarray(expected)
    assert t.shape == expected.shape, f"shape {t.shape}, expected {expected.shape}"
    if expected.dtype.kind == "f":
        assert t.dtype == expected.dtype, f"dtype {t.dtype}, expected {expected.dtype}"
    np.testing.assert_allclose(t.numpy(), expected, rtol=rtol, atol=atol)


def small_shapes(**kwargs):
    """:func:`shapes` with sides of at most 3 (at most 27 elements in 3-D), to keep gradcheck cheap."""
    return shapes(**{"max_side": 3, **kwargs})


def small_pairs(**kwargs):
    """:func:`broadcastable_pair` with sides of at most 3."""
    return broadcastable_pair(**{"max_side": 3, **kwargs})


# -- the course kit's task marks (docs/course.md): ``pytest -m op_relu`` grades task relu --------
def op_params(names, tasks=None, values=None):
    """``names`` as pytest params (id: the name), each marked ``op_<task>`` for its task.

    ``tasks`` maps a name to its task id, a tuple of ids, or None for no mark (default: the
    name itself); ``values`` maps a name to the value the test receives (default: the name).
    """
    tasks, values = tasks or {}, values or {}
    params = []
    for name in names:
        task = tasks.get(name, name)
        ids = () if task is None else (task,) if isinstance(task, str) else tuple(task)
        params.append(pytest.param(values.get(name, name), id=name,
                                   marks=[getattr(pytest.mark, f"op_{t}") for t in ids]))
    return params


# -- the example scripts, for the tests that run them in-process ---------------------------------------
EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def load_example(name: str):
    """examples/<name>.py as a module (its main() not run)."""
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def png_size(path):
    """(width, height) from a PNG's IHDR chunk."""
    data = pathlib.Path(path).read_bytes()
    assert data.startswith(b"\x89PNG")
    return struct.unpack(">II", data[16:24])


def grid_size(rows, columns, side=28, padding=2):
    """(width, height) of a grid of rows x columns images of side x side with padding between."""
    return columns * (side + padding) + padding, rows * (side + padding) + padding
