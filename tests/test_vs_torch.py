"""Every op of minigan.functional against PyTorch, the oracle (CPU, float64 and float32).

Each case builds the same random inputs for both libraries, compares the forward values, then
backpropagates one random upstream gradient (distinct entries, so mixed-up elements cannot
cancel) and compares the gradient of every input. float64 must agree to 1e-9 relative (the
two libraries sum in different orders, nothing more); float32 to 2e-4.

Random inputs miss the kinks (relu at 0, ties of max/maximum, clip bounds): continuous random
values hit them with probability zero. The kinks themselves are compared on inputs drawn from
a grid (KINKS). A last family compares second derivatives through a WGAN-GP-like penalty
``sum_n (||dD/dx_n|| - 1)^2`` for the ops on the gradient-penalty path.

Skipped without PyTorch, which is never a dependency. CPU only: the device fixture's sim and
cuda runs belong to the op tests, which check each op against finite differences.
"""
import zlib

import numpy as np
import pytest

import minigan
from minigan import functional as F

torch = pytest.importorskip("torch", reason="PyTorch is the oracle for these comparisons and is not installed")
TF = torch.nn.functional

DTYPES = ["float64", "float32"]
TOLERANCE = {"float64": dict(rtol=1e-9, atol=1e-11), "float32": dict(rtol=2e-4, atol=2e-5)}


# -- running one computation in both libraries -----------------------------------------------------
def normal(*shape):
    """Input maker: standard normal values of ``shape``."""
    return lambda rng: rng.standard_normal(shape)


def uniform(low, high, *shape):
    """Input maker: values uniform in [low, high)."""
    return lambda rng: rng.uniform(low, high, shape)


def grid(values, *shape):
    """Input maker: entries drawn from ``values`` (to land exactly on kinks and ties)."""
    return lambda rng: rng.choice(np.asarray(values, dtype=np.float64), shape)


def mg_const(values, like):
    """A constant minigan tensor (no grad) of ``like``'s float dtype, or of ``values``' own dtype."""
    values = np.asarray(values)
    return minigan.tensor(values.astype(like.dtype) if values.dtype.kind == "f" else values)


def th_const(values, like):
    """The torch twin of :func:`mg_const`."""
    values = np.asarray(values)
    return torch.from_numpy(values.astype(str(like.dtype).removeprefix("torch.")) if values.dtype.kind == "f"
                            else values)


def run_both(mg_fn, th_fn, arrays, dtype, rng):
    """Forward both functions on the same inputs (all requiring grad), backprop one random
    upstream gradient; return ((minigan output, grads), (torch output, grads)) as NumPy arrays."""
    arrays = [np.asarray(a, dtype=np.float64).astype(dtype) for a in arrays]
    mg_in = [minigan.tensor(a, requires_grad=True) for a in arrays]
    th_in = [torch.tensor(a, requires_grad=True) for a in arrays]
    mg_out, th_out = mg_fn(*mg_in), th_fn(*th_in)
    upstream = rng.standard_normal(th_out.shape).astype(dtype)
    minigan.backward(mg_out, minigan.tensor(upstream))
    th_out.backward(torch.from_numpy(upstream))
    mg_grads = [None if t.grad is None else t.grad.numpy() for t in mg_in]
    th_grads = [None if t.grad is None else t.grad.numpy() for t in th_in]
    return (mg_out.numpy(), mg_grads), (th_out.detach().numpy(), th_grads)


def assert_same(mg, th, dtype, what, rtol=None):
    """minigan's array equals torch's up to the dtype's tolerance (same shape and dtype too)."""
    th = np.asarray(th)
    assert mg.shape == th.shape, f"{what}: minigan shape {mg.shape}, torch shape {th.shape}"
    assert mg.dtype == np.dtype(dtype), f"{what}: minigan dtype {mg.dtype}, expected {dtype}"
    tolerance = TOLERANCE[dtype] if rtol is None else dict(TOLERANCE[dtype], rtol=rtol)
    np.testing.assert_allclose(mg, th, err_msg=f"{what} ({dtype})", **tolerance)


def check(mg_fn, th_fn, makers, dtype, rng, rtol=None):
    """Compare output and every input gradient of ``mg_fn`` and ``th_fn`` on random inputs."""
    arrays = [make(rng) for make in makers]
    (mg_out, mg_grads), (th_out, th_grads) = run_both(mg_fn, th_fn, arrays, dtype, rng)
    assert_same(mg_out, th_out, dtype, "forward")
    for i, (g_mg, g_th) in enumerate(zip(mg_grads, th_grads)):
        assert (g_mg is None) == (g_th is None), f"input {i}: minigan grad {g_mg}, torch grad {g_th}"
        if g_th is not None:
            assert_same(g_mg, g_th, dtype, f"gradient of input {i}", rtol)


@pytest.fixture
def rng(request):
    """A generator seeded by the test's name: each case gets its own fixed random data."""
    return np.random.default_rng(zlib.crc32(request.node.name.encode()))


def case(case_id, mg_fn, th_fn, *makers):
    return pytest.param(mg_fn, th_fn, makers, id=case_id)


def run_cases(cases):
    """The decorator that turns a list of cases into one test per case and dtype."""
    return lambda test: pytest.mark.parametrize("dtype", DTYPES)(
        pytest.mark.parametrize("mg_fn, th_fn, makers", cases)(test))


# -- elementwise ---------------------------------------------------------------------------------
BROADCAST_PAIRS = [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 3), (4, 1)), ((), (2, 3)), ((2, 3), (1, 1))]

ELEMENTWISE = []
for a_shape, b_shape in BROADCAST_PAIRS:
    tag = f"{a_shape}-{b_shape}"
    ELEMENTWISE += [
        case(f"add{tag}", F.add, torch.add, normal(*a_shape), normal(*b_shape)),
        case(f"sub{tag}", F.sub, torch.sub, normal(*a_shape), normal(*b_shape)),
        case(f"mul{tag}", F.mul, torch.mul, normal(*a_shape), normal(*b_shape)),
        case(f"div{tag}", F.div, torch.div, normal(*a_shape), uniform(0.5, 2.0, *b_shape)),
        case(f"div_negative{tag}", F.div, torch.div, normal(*a_shape), uniform(-2.0, -0.5, *b_shape)),
        case(f"pow{tag}", F.pow, torch.pow, uniform(0.5, 2.0, *a_shape), normal(*b_shape)),
        case(f"maximum{tag}", F.maximum, torch.maximum, normal(*a_shape), normal(*b_shape)),
        case(f"minimum{tag}", F.minimum, torch.minimum, normal(*a_shape), normal(*b_shape)),
    ]
ELEMENTWISE += [
    case("add_number", lambda x: 1.5 + x, lambda x: 1.5 + x, normal(3, 4)),
    case("rsub_number", lambda x: 1.5 - x, lambda x: 1.5 - x, normal(3, 4)),
    case("rdiv_number", lambda x: 2.0 / x, lambda x: 2.0 / x, uniform(0.5, 2.0, 3, 4)),
    case("pow_int", lambda x: x ** 3, lambda x: x ** 3, normal(3, 4)),
    case("pow_half", lambda x: x ** 2.5, lambda x: x ** 2.5, uniform(0.1, 3.0, 3, 4)),
    case("pow_negative", lambda x: x ** -0.5, lambda x: x ** -0.5, uniform(0.1, 3.0, 3, 4)),
    case("rpow_number", lambda p: 2.0 ** p, lambda p: 2.0 ** p, normal(3, 4)),
    case("neg", F.neg, torch.neg, normal(2, 3, 4)),
    case("exp", F.exp, torch.exp, uniform(-5, 5, 2, 3, 4)),
    case("log", F.log, torch.log, uniform(0.01, 10, 2, 3, 4)),
    case("sqrt", F.sqrt, torch.sqrt, uniform(0.01, 10, 2, 3, 4)),
    case("abs", F.abs, torch.abs, normal(2, 3, 4)),
    case("clip_both", lambda x: F.clip(x, -0.5, 0.7), lambda x: torch.clamp(x, -0.5, 0.7), normal(4, 5)),
    case("clip_min", lambda x: F.clip(x, min=0.2), lambda x: torch.clamp(x, min=0.2), normal(4, 5)),
    case("clip_max", lambda x: F.clip(x, max=-0.1), lambda x: torch.clamp(x, max=-0.1), normal(4, 5)),
    case("scalar_tensor", lambda x: x * x, lambda x: x * x, normal()),
]


@run_cases(ELEMENTWISE)
def test_elementwise(mg_fn, th_fn, makers, dtype, rng):
    check(mg_fn, th_fn, makers, dtype, rng)


# On the kinks themselves minigan picks PyTorch's subgradients: 0 for relu and abs at 0, the slope
# for leaky_relu at 0, the whole gradient at a clip bound, ties of max/maximum share evenly, and
# where x^p is constant (p = 0, or x = 0 with p >= 0) its derivatives are 0.
KINKS = [
    case("relu", F.relu, TF.relu, grid([-1, 0, 1], 4, 5)),
    case("leaky_relu", lambda x: F.leaky_relu(x, 0.2), lambda x: TF.leaky_relu(x, 0.2), grid([-1, 0, 1], 4, 5)),
    case("abs", F.abs, torch.abs, grid([-1, 0, 1], 4, 5)),
    case("clip", lambda x: F.clip(x, -0.5, 0.5), lambda x: torch.clamp(x, -0.5, 0.5),
         grid([-1, -0.5, 0, 0.5, 1], 4, 5)),
    case("maximum", F.maximum, torch.maximum, grid([0, 1], 4, 5), grid([0, 1], 5)),
    case("minimum", F.minimum, torch.minimum, grid([0, 1], 4, 5), grid([0, 1], 4, 1)),
    case("max_all", F.max, torch.amax, grid([0, 1, 2], 3, 4)),
    case("max_axis", lambda x: F.max(x, 1), lambda x: torch.amax(x, 1), grid([0, 1], 3, 4)),
    case("min_axes", lambda x: F.min(x, (0, 2), True), lambda x: torch.amin(x, (0, 2), keepdim=True),
         grid([0, 1], 2, 3, 2)),
    case("pow_zero", lambda x: x ** 0.0, lambda x: x ** 0.0, grid([-1, 0, 2], 4, 5)),
    case("pow_at_zero", lambda x: x ** 2.0, lambda x: x ** 2.0, grid([-1, 0, 2], 4, 5)),
    case("pow_tensors_at_zero", F.pow, torch.pow, grid([0, 1, 2], 4, 5), grid([0, 1, 2, 3], 4, 5)),
]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # 0 ** -1 and log(0), in branches not picked
@run_cases(KINKS)
def test_kinks_pick_torchs_subgradients(mg_fn, th_fn, makers, dtype, rng):
    check(mg_fn, th_fn, makers, dtype, rng)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cond_shape, a_shape, b_shape", [((3, 4), (3, 4), (3, 4)), ((3, 1), (4,), (3, 4)),
                                                           ((2, 3, 4), (3, 4), ())])
def test_where(cond_shape, a_shape, b_shape, dtype, rng):
    cond = rng.random(cond_shape) < 0.5
    check(lambda a, b: F.where(minigan.tensor(cond), a, b), lambda a, b: torch.where(torch.from_numpy(cond), a, b),
          [normal(*a_shape), normal(*b_shape)], dtype, rng)


# -- reductions (NumPy's axis/keepdims against torch's dim/keepdim) ---------------------------------
def torch_dims(axis, ndim):
    """torch's ``dim`` for NumPy's ``axis`` (None: all axes, spelled out for ops that need it)."""
    return tuple(range(ndim)) if axis is None else axis


REDUCE_AXES = [None, 0, -1, (0, 2), (1,)]
REDUCTIONS = []
for axis in REDUCE_AXES:
    for keep in (False, True):
        tag = f"axis={axis}-keepdims={keep}"
        dims = torch_dims(axis, 3)
        REDUCTIONS += [
            case(f"sum-{tag}", lambda x, a=axis, k=keep: F.sum(x, a, k),
                 lambda x, d=dims, k=keep: torch.sum(x, d, keepdim=k), normal(2, 3, 4)),
            case(f"mean-{tag}", lambda x, a=axis, k=keep: F.mean(x, a, k),
                 lambda x, d=dims, k=keep: torch.mean(x, d, keepdim=k), normal(2, 3, 4)),
            case(f"var0-{tag}", lambda x, a=axis, k=keep: F.var(x, a, k, ddof=0),
                 lambda x, d=dims, k=keep: torch.var(x, d, correction=0, keepdim=k), normal(2, 3, 4)),
            case(f"var1-{tag}", lambda x, a=axis, k=keep: F.var(x, a, k, ddof=1),
                 lambda x, d=dims, k=keep: torch.var(x, d, correction=1, keepdim=k), normal(2, 3, 4)),
            case(f"max-{tag}", lambda x, a=axis, k=keep: F.max(x, a, k),
                 lambda x, d=dims, k=keep: torch.amax(x, d, keepdim=k), normal(2, 3, 4)),
            case(f"min-{tag}", lambda x, a=axis, k=keep: F.min(x, a, k),
                 lambda x, d=dims, k=keep: torch.amin(x, d, keepdim=k), normal(2, 3, 4)),
            case(f"logsumexp-{tag}", lambda x, a=axis, k=keep: F.logsumexp(x, a, k),
                 lambda x, d=dims, k=keep: torch.logsumexp(x, d, keepdim=k), uniform(-30, 30, 2, 3, 4)),
        ]


@run_cases(REDUCTIONS)
def test_reductions(mg_fn, th_fn, makers, dtype, rng):
    check(mg_fn, th_fn, makers, dtype, rng)


def test_logsumexp_of_huge_values_matches(rng):
    values = rng.uniform(500, 800, (3, 5))  # e^800 overflows float64: both must shift first
    check(lambda x: F.logsumexp(x, 1), lambda x: torch.logsumexp(x, 1), [lambda _: values], "float64", rng)


# -- shape ops ------------------------------------------------------------------------------------
def th_index(index):
    """A NumPy-style index with its arrays as torch tensors."""
    index = index if isinstance(index, tuple) else (index,)
    return tuple(torch.from_numpy(np.asarray(i)) if isinstance(i, (np.ndarray, list)) else i for i in index)


GETITEM_INDICES = {
    "slices": (slice(1, 3), slice(None, None, 2)),
    "int_and_ellipsis": (Ellipsis, 1),
    "negative_int": -1,
    "none_and_int": (None, 0),
    "repeated_rows": np.array([0, 2, 0, 0]),
    "int_array_pairs": (np.array([0, 1, 2]), slice(None), np.array([3, 0, 3])),
    "bool_mask": np.array([True, False, True]),
    "list_columns": (slice(None), [1, 0, 1]),
}

SHAPE_OPS = [
    case("reshape", lambda x: F.reshape(x, (4, -1)), lambda x: torch.reshape(x, (4, -1)), normal(2, 3, 4)),
    case("reshape_same", lambda x: F.reshape(x, (2, 3, 4)), lambda x: torch.reshape(x, (2, 3, 4)), normal(2, 3, 4)),
    case("transpose", lambda x: F.transpose(x, 0, -1), lambda x: torch.transpose(x, 0, -1), normal(2, 3, 4)),
    case("permute", lambda x: F.permute(x, (1, 2, 0)), lambda x: torch.permute(x, (1, 2, 0)), normal(2, 3, 4)),
    case("T", lambda x: x.T, lambda x: x.permute(2, 1, 0), normal(2, 3, 4)),
    case("broadcast_to", lambda x: F.broadcast_to(x, (2, 3, 4)), lambda x: torch.broadcast_to(x, (2, 3, 4)),
         normal(3, 1)),
    case("broadcast_to_new_axes", lambda x: F.broadcast_to(x, (5, 2, 4)),
         lambda x: torch.broadcast_to(x, (5, 2, 4)), normal(4)),
    case("squeeze_all", lambda x: F.squeeze(x), lambda x: torch.squeeze(x), normal(1, 3, 1, 2)),
    case("squeeze_axis", lambda x: F.squeeze(x, 2), lambda x: torch.squeeze(x, 2), normal(1, 3, 1, 2)),
    case("squeeze_axes", lambda x: F.squeeze(x, (0, -2)), lambda x: torch.squeeze(x, (0, -2)), normal(1, 3, 1, 2)),
    case("unsqueeze", lambda x: F.unsqueeze(x, 1), lambda x: torch.unsqueeze(x, 1), normal(3, 2)),
    case("unsqueeze_last", lambda x: F.unsqueeze(x, -1), lambda x: torch.unsqueeze(x, -1), normal(3, 2)),
    case("flatten", lambda x: F.flatten(x), lambda x: torch.flatten(x), normal(2, 3, 4)),
    case("flatten_from_1", lambda x: F.flatten(x, 1), lambda x: torch.flatten(x, 1), normal(2, 3, 4, 2)),
    case("flatten_middle", lambda x: F.flatten(x, 1, 2), lambda x: torch.flatten(x, 1, 2), normal(2, 3, 4, 2)),
    case("concatenate_axis0", lambda a, b: F.concatenate([a, b]), lambda a, b: torch.cat([a, b]),
         normal(2, 3), normal(4, 3)),
    case("concatenate_axis1", lambda a, b, c: F.concatenate([a, b, c], axis=1),
         lambda a, b, c: torch.cat([a, b, c], dim=1), normal(2, 1, 4), normal(2, 3, 4), normal(2, 2, 4)),
    case("concatenate_same_twice", lambda a: F.concatenate([a, a], axis=-1), lambda a: torch.cat([a, a], dim=-1),
         normal(2, 3)),
    case("stack", lambda a, b: F.stack([a, b]), lambda a, b: torch.stack([a, b]), normal(2, 3), normal(2, 3)),
    case("stack_last", lambda a, b, c: F.stack([a, b, c], axis=-1), lambda a, b, c: torch.stack([a, b, c], dim=-1),
         normal(2, 3), normal(2, 3), normal(2, 3)),
    case("pad_last", lambda x: F.pad(x, (1, 2)), lambda x: TF.pad(x, (1, 2)), normal(2, 3, 4)),
    case("pad_two_axes_value", lambda x: F.pad(x, (0, 1, 2, 3), value=-1.5),
         lambda x: TF.pad(x, (0, 1, 2, 3), value=-1.5), normal(2, 3, 4)),
    case("pad_image", lambda x: F.pad(x, (1, 1, 1, 1)), lambda x: TF.pad(x, (1, 1, 1, 1)), normal(2, 1, 3, 3)),
] + [
    case(f"getitem_{name}", lambda x, i=index: x[i], lambda x, i=index: x[th_index(i)], normal(3, 4, 5))
    for name, index in GETITEM_INDICES.items()
]


@run_cases(SHAPE_OPS)
def test_shape_ops(mg_fn, th_fn, makers, dtype, rng):
    check(mg_fn, th_fn, makers, dtype, rng)


# -- matrix products --------------------------------------------------------------------------------
MATMUL_SHAPES = [((3, 4), (4, 5)), ((2, 3, 4), (4, 5)), ((2, 1, 3, 4), (5, 4, 2)), ((4,), (4,)),
                 ((4,), (4, 3)), ((2, 3, 4), (4,)), ((1, 1), (1, 1))]
LINALG = [case(f"matmul{a}@{b}", F.matmul, torch.matmul, normal(*a), normal(*b)) for a, b in MATMUL_SHAPES] + [
    case("linear", F.linear, TF.linear, normal(5, 4), normal(3, 4), normal(3)),
    case("linear_no_bias", F.linear, TF.linear, normal(5, 4), normal(3, 4)),
    case("linear_batched", F.linear, TF.linear, normal(2, 3, 4), normal(6, 4), normal(6)),
    case("linear_vector", F.linear, TF.linear, normal(4), normal(3, 4), normal(3)),
    case("linear_to_one", F.linear, TF.linear, normal(8, 6), normal(1, 6), normal(1)),
]


@run_cases(LINALG)
def test_linalg(mg_fn, th_fn, makers, dtype, rng):
    check(mg_fn, th_fn, makers, dtype, rng)


# -- activations ------------------------------------------------------------------------------------
ACTIVATIONS = [
    case("relu", F.relu, TF.relu, normal(3, 4, 5)),
    case("leaky_relu_default", F.leaky_relu, TF.leaky_relu, normal(3, 4, 5)),
    case("leaky_relu_0.2", lambda x: F.leaky_relu(x, 0.2), lambda x: TF.leaky_relu(x, 0.2), normal(3, 4, 5)),
    case("sigmoid", F.sigmoid, torch.sigmoid, uniform(-40, 40, 3, 4, 5)),
    case("tanh", F.tanh, torch.tanh, uniform(-5, 5, 3, 4, 5)),
    # torch's softplus returns x itself above its threshold 20 (an approximation): stay below it
    case("softplus", F.softplus, TF.softplus, uniform(-40, 18, 3, 4, 5)),
    case("logsigmoid", F.logsigmoid, TF.logsigmoid, uniform(-40, 40, 3, 4, 5)),
] + [
    case(f"{name}_axis{axis}", lambda x, f=mg, a=axis: f(x, a), lambda x, f=th, a=axis: f(x, dim=a),
         uniform(-20, 20, 3, 4, 5))
    for name, mg, th in (("softmax", F.softmax, TF.softmax), ("log_softmax", F.log_softmax, TF.log_softmax))
    for axis in (-1, 0, 1)
]


@run_cases(ACTIVATIONS)
def test_activations(mg_fn, th_fn, makers, dtype, rng):
    check(mg_fn, th_fn, makers, dtype, rng)


# -- convolutions -----------------------------------------------------------------------------------
# (x shape, weight shape, bias?, keyword arguments) -- weights in PyTorch's layouts
CONV2D = {
    "3x3": ((2, 3, 7, 7), (4, 3, 3, 3), True, {}),
    "dcgan_k4s2p1": ((2, 3, 8, 8), (4, 3, 4, 4), True, dict(stride=2, padding=1)),
    "dcgan_first_layer": ((2, 1, 28, 28), (4, 1, 4, 4), True, dict(stride=2, padding=1)),
    "rect_kernel_mixed": ((1, 2, 9, 7), (3, 2, 3, 2), False, dict(stride=(2, 1), padding=(1, 2), dilation=(2, 1))),
    "1x1": ((2, 2, 5, 6), (3, 2, 1, 1), True, {}),
    "stride3_leftover_rows": ((2, 1, 10, 11), (2, 1, 3, 3), True, dict(stride=3, padding=2, dilation=2)),
    "same_padding": ((2, 3, 5, 5), (2, 3, 5, 5), True, dict(padding=2)),
}
CONV_TRANSPOSE2D = {
    "3x3": ((2, 3, 3, 3), (3, 2, 3, 3), True, {}),
    "dcgan_k4s2p1": ((2, 4, 4, 4), (4, 3, 4, 4), True, dict(stride=2, padding=1)),
    "dcgan_last_layer": ((2, 4, 14, 14), (4, 1, 4, 4), True, dict(stride=2, padding=1)),
    "rect_output_padding": ((1, 2, 4, 3), (2, 3, 3, 2), False, dict(stride=(2, 3), padding=(1, 0),
                                                                    output_padding=(1, 2))),
    "dilation_output_padding": ((2, 2, 3, 3), (2, 2, 3, 3), True, dict(stride=2, padding=1, output_padding=1,
                                                                       dilation=2)),
    "1x1": ((2, 3, 5, 5), (3, 2, 1, 1), True, {}),
    "stride3": ((2, 2, 3, 3), (2, 2, 3, 3), True, dict(stride=3, padding=2, output_padding=2)),
}


def conv_cases(mg_op, th_op, configs):
    cases = []
    for name, (x_shape, w_shape, bias, kwargs) in configs.items():
        makers = [normal(*x_shape), normal(*w_shape)] + ([normal(w_shape[0 if mg_op is F.conv2d else 1])]
                                                         if bias else [])
        cases.append(case(name, lambda *t, k=kwargs, f=mg_op: f(*t, **k),
                          lambda *t, k=kwargs, f=th_op: f(*t, **k), *makers))
    return cases


@run_cases(conv_cases(F.conv2d, TF.conv2d, CONV2D))
def test_conv2d(mg_fn, th_fn, makers, dtype, rng):
    check(mg_fn, th_fn, makers, dtype, rng)


@run_cases(conv_cases(F.conv_transpose2d, TF.conv_transpose2d, CONV_TRANSPOSE2D))
def test_conv_transpose2d(mg_fn, th_fn, makers, dtype, rng):
    check(mg_fn, th_fn, makers, dtype, rng)


# -- batch normalisation ----------------------------------------------------------------------------
BATCH_NORM_SHAPES = [(8, 3), (4, 3, 5, 5), (2, 4, 3, 2)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", BATCH_NORM_SHAPES, ids=str)
@pytest.mark.parametrize("affine", [True, False], ids=["affine", "plain"])
def test_batch_norm_training(shape, affine, dtype, rng):
    channels = shape[1]
    start_mean, start_var = rng.standard_normal(channels), rng.uniform(0.5, 2, channels)
    mg_stats = [minigan.tensor(start_mean.astype(dtype)), minigan.tensor(start_var.astype(dtype))]
    th_stats = [torch.tensor(start_mean.astype(dtype)), torch.tensor(start_var.astype(dtype))]
    makers = [uniform(-3, 5, *shape)] + ([normal(channels), normal(channels)] if affine else [])
    check(lambda x, *wb: F.batch_norm(x, *mg_stats, *wb, training=True, momentum=0.3, eps=1e-3),
          lambda x, *wb: TF.batch_norm(x, *th_stats, *wb, training=True, momentum=0.3, eps=1e-3),
          makers, dtype, rng)
    for name, mg, th in zip(("running_mean", "running_var"), mg_stats, th_stats):
        assert_same(mg.numpy(), th.numpy(), dtype, name)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", BATCH_NORM_SHAPES, ids=str)
def test_batch_norm_eval(shape, dtype, rng):
    channels = shape[1]
    running_mean, running_var = rng.standard_normal(channels), rng.uniform(0.5, 2, channels)
    mg_stats = [minigan.tensor(running_mean.astype(dtype)), minigan.tensor(running_var.astype(dtype))]
    th_stats = [torch.tensor(running_mean.astype(dtype)), torch.tensor(running_var.astype(dtype))]
    check(lambda x, w, b: F.batch_norm(x, *mg_stats, w, b, training=False),
          lambda x, w, b: TF.batch_norm(x, *th_stats, w, b, training=False),
          [normal(*shape), normal(channels), normal(channels)], dtype, rng)
    for name, mg, value in zip(("running_mean", "running_var"), mg_stats, (running_mean, running_var)):
        assert_same(mg.numpy(), value.astype(dtype), dtype, f"{name} must not change in evaluation")


# -- losses -----------------------------------------------------------------------------------------
REDUCTION_MODES = ["mean", "sum", "none"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTION_MODES)
def test_binary_cross_entropy(reduction, dtype, rng):
    target = np.concatenate([rng.uniform(0, 1, 6), [0.0, 1.0]]).reshape(2, 4)  # soft and hard labels
    check(lambda p: F.binary_cross_entropy(p, mg_const(target, p), reduction=reduction),
          lambda p: TF.binary_cross_entropy(p, th_const(target, p), reduction=reduction),
          [uniform(0.02, 0.98, 2, 4)], dtype, rng)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # log(0) before the clamp at -100
@pytest.mark.parametrize("dtype", DTYPES)
def test_binary_cross_entropy_of_certain_probabilities(dtype, rng):
    """p = 0 or 1 exactly: each log is clamped at -100 and the gradient's denominator at 1e-12
    (torch's 1e-12 is a float32 constant, 4e-9 off in float64: hence rtol 1e-8)."""
    target = np.array([[0.0, 0.5, 1.0], [0.0, 0.5, 1.0]])
    check(lambda p: F.binary_cross_entropy(p, mg_const(target, p), reduction="none"),
          lambda p: TF.binary_cross_entropy(p, th_const(target, p), reduction="none"),
          [lambda _: np.array([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])], dtype, rng, rtol=1e-8)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTION_MODES)
def test_binary_cross_entropy_with_logits(reduction, dtype, rng):
    """Gradients with respect to both the logits and the (soft) targets."""
    check(lambda z, t: F.binary_cross_entropy_with_logits(z, t, reduction=reduction),
          lambda z, t: TF.binary_cross_entropy_with_logits(z, t, reduction=reduction),
          [uniform(-30, 30, 3, 5), uniform(0, 1, 3, 5)], dtype, rng)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTION_MODES)
def test_mse_loss(reduction, dtype, rng):
    check(lambda x, y: F.mse_loss(x, y, reduction=reduction), lambda x, y: TF.mse_loss(x, y, reduction=reduction),
          [normal(3, 4), normal(3, 4)], dtype, rng)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTION_MODES)
def test_cross_entropy(reduction, dtype, rng):
    labels = np.array([0, 3, 3, 1, 2, 0])
    check(lambda z: F.cross_entropy(z, minigan.tensor(labels), reduction=reduction),
          lambda z: TF.cross_entropy(z, torch.from_numpy(labels), reduction=reduction),
          [uniform(-10, 10, 6, 4)], dtype, rng)


# -- second derivatives: a WGAN-GP-like penalty --------------------------------------------------------
MG = dict(lib=F, grad=minigan.grad, tanh=F.tanh)
TH = dict(lib=TF, grad=torch.autograd.grad, tanh=torch.tanh)


def gradient_penalty(ns, critic, x, params):
    """sum_n (||dD/dx_n|| - 1)^2 + ||dD/dparams||^2 for D = ``critic(ns, x, *params)``,
    with the gradients recorded (create_graph) so the penalty can be differentiated again."""
    grads = ns["grad"](critic(ns, x, *params), [x, *params], create_graph=True)
    gx = grads[0].reshape(x.shape[0], -1)
    norms = (gx * gx).sum(1).sqrt()
    penalty = ((norms - 1.0) ** 2).sum()
    for g in grads[1:]:  # also differentiates the backward of each weight gradient
        penalty = penalty + (g * g).sum()
    return penalty


def conv_critic(ns, x, w, b, u, kwargs):
    return (u * ns["tanh"](ns["lib"].conv2d(x, w, b, **kwargs))).sum()


def conv_transpose_critic(ns, x, w, b, u, kwargs):
    return (u * ns["tanh"](ns["lib"].conv_transpose2d(x, w, b, **kwargs))).sum()


def mlp_critic(ns, x, w1, b1, w2, b2, activation):
    hidden = ns["tanh"](ns["lib"].linear(x, w1, b1)) if activation == "tanh" else \
        ns["lib"].leaky_relu(ns["lib"].linear(x, w1, b1), 0.2)
    return ns["lib"].linear(hidden, w2, b2).sum()


def as_zero_if_none(grad, like):
    return np.zeros(like.shape, like.dtype) if grad is None else grad


def check_penalty_gradients(critic, arrays, dtype, extra=()):
    """Gradients of the penalty with respect to the input and every parameter, both libraries.

    An input that a penalty does not reach (leaky_relu's second derivative is zero) is None in
    minigan and zeros in torch: both count as zeros.
    """
    arrays = [a.astype(dtype) for a in arrays]
    mg_in = [minigan.tensor(a, requires_grad=True) for a in arrays]
    th_in = [torch.tensor(a, requires_grad=True) for a in arrays]
    mg_p = gradient_penalty(MG, lambda ns, x, *p: critic(ns, x, *p, *extra), mg_in[0], mg_in[1:])
    th_p = gradient_penalty(TH, lambda ns, x, *p: critic(ns, x, *p, *extra), th_in[0], th_in[1:])
    assert_same(mg_p.numpy(), th_p.detach().numpy(), dtype, "penalty")
    mg_g = minigan.grad(mg_p, mg_in, allow_unused=True)
    th_g = torch.autograd.grad(th_p, th_in, allow_unused=True)
    for i, (a, g_mg, g_th) in enumerate(zip(arrays, mg_g, th_g)):
        g_mg = as_zero_if_none(None if g_mg is None else g_mg.numpy(), a)
        g_th = as_zero_if_none(None if g_th is None else g_th.numpy(), a)
        assert_same(g_mg, g_th, dtype, f"penalty gradient of input {i}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["3x3", "dcgan_k4s2p1", "rect_kernel_mixed", "stride3_leftover_rows"])
def test_conv2d_second_derivatives(name, dtype, rng):
    x_shape, w_shape, _, kwargs = CONV2D[name]
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape) * 0.3, rng.standard_normal(w_shape[0])
    out_shape = TF.conv2d(torch.tensor(x), torch.tensor(w), **kwargs).shape
    u = rng.standard_normal(out_shape).astype(dtype)
    critic = lambda ns, x, w, b: conv_critic(ns, x, w, b, mg_const(u, x) if ns is MG else th_const(u, x), kwargs)
    check_penalty_gradients(critic, [x, w, b], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["3x3", "dcgan_k4s2p1", "rect_output_padding", "dilation_output_padding"])
def test_conv_transpose2d_second_derivatives(name, dtype, rng):
    x_shape, w_shape, _, kwargs = CONV_TRANSPOSE2D[name]
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape) * 0.3, rng.standard_normal(w_shape[1])
    out_shape = TF.conv_transpose2d(torch.tensor(x), torch.tensor(w), **kwargs).shape
    u = rng.standard_normal(out_shape).astype(dtype)
    critic = lambda ns, x, w, b: conv_transpose_critic(ns, x, w, b, mg_const(u, x) if ns is MG else th_const(u, x),
                                                       kwargs)
    check_penalty_gradients(critic, [x, w, b], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ["tanh", "leaky_relu"])
def test_linear_and_activation_second_derivatives(activation, dtype, rng):
    arrays = [rng.standard_normal((5, 4)), rng.standard_normal((6, 4)), rng.standard_normal(6),
              rng.standard_normal((1, 6)), rng.standard_normal(1)]
    check_penalty_gradients(mlp_critic, arrays, dtype, extra=(activation,))
