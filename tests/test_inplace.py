"""In-place methods (minigan/inplace.py): PyTorch's values, each write bumps the version so
backward refuses stale saved values, PyTorch's errors (a leaf that requires grad, a broadcast
that would grow the tensor, floats into integers, overlapping memory), and a failed call
changes nothing."""
import re

import numpy as np
import pytest

import minigan
import minigan.nn as nn

MODIFIED = "one of the variables needed for gradient computation has been modified by an inplace operation"
LEAF = "a leaf Variable that requires grad is being used in an in-place operation."

# name -> (call on a minigan tensor, the same call on a torch tensor, the expected values from x's)
CASES = {
    "add_": (lambda t: t.add_(2.0), lambda x: x + 2),
    "add_alpha": (lambda t: t.add_(t.detach() * 0 + 1.0, alpha=3), lambda x: x + 3),
    "sub_": (lambda t: t.sub_(0.5), lambda x: x - 0.5),
    "mul_": (lambda t: t.mul_(-2.0), lambda x: x * -2),
    "div_": (lambda t: t.div_(4.0), lambda x: x / 4),
    "pow_": (lambda t: t.pow_(2), lambda x: x ** 2),
    "clamp_": (lambda t: t.clamp_(-0.5, 0.5), lambda x: np.clip(x, -0.5, 0.5)),
    "clamp_min": (lambda t: t.clamp_(min=0.0), lambda x: np.maximum(x, 0)),
    "clip_": (lambda t: t.clip_(max=0.1), lambda x: np.minimum(x, 0.1)),
    "lerp_": (lambda t: t.lerp_(t.detach() * 0 + 1.0, 0.25), lambda x: x + (1 - x) * 0.25),
    "neg_": (lambda t: t.neg_(), lambda x: -x),
    "abs_": (lambda t: t.abs_(), np.abs),
    "exp_": (lambda t: t.exp_(), np.exp),
    "tanh_": (lambda t: t.tanh_(), np.tanh),
    "sigmoid_": (lambda t: t.sigmoid_(), lambda x: 1 / (1 + np.exp(-x))),
    "relu_": (lambda t: t.relu_(), lambda x: np.maximum(x, 0)),
    "fill_": (lambda t: t.fill_(0.9), lambda x: np.full_like(x, 0.9)),
    "fill_tensor": (lambda t: t.fill_(minigan.tensor(2.0)), lambda x: np.full_like(x, 2)),
    "zero_": (lambda t: t.zero_(), np.zeros_like),
    "copy_": (lambda t: t.copy_(minigan.tensor(np.arange(3.0))), lambda x: np.broadcast_to(np.arange(3.0), x.shape)),
    "masked_fill_": (lambda t: t.masked_fill_(t.detach() > 0, -1.0), lambda x: np.where(x > 0, -1, x)),
}


def _values(device, dtype=np.float32):
    return minigan.tensor(np.random.default_rng(0).standard_normal((2, 3)).astype(dtype), device=device)


@pytest.mark.parametrize("name", CASES)
def test_each_method_writes_its_result_into_the_same_memory_and_bumps_the_version(device, name):
    call, expected = CASES[name]
    t = _values(device)
    before, memory, version = t.numpy().copy(), t.array, t._version
    assert call(t) is t  # returns self, as PyTorch
    assert t.array is memory and t.dtype == np.float32
    np.testing.assert_allclose(t.numpy(), expected(before.astype(np.float64)), rtol=1e-6, atol=1e-7)
    assert t._version == version + 1


def test_every_method_matches_pytorch():
    torch = pytest.importorskip("torch", reason="PyTorch is the oracle here and is not installed")
    x = np.random.default_rng(1).standard_normal((2, 3)).astype(np.float32)
    calls = {  # the same spelling on both sides, where it exists in both
        "add_": lambda t, lib: t.add_(lib.ones(2, 3), alpha=0.5), "sub_": lambda t, lib: t.sub_(1.5),
        "mul_": lambda t, lib: t.mul_(3.0), "div_": lambda t, lib: t.div_(-2.0), "pow_": lambda t, lib: t.pow_(3),
        "clamp_": lambda t, lib: t.clamp_(-0.3, 0.2), "clamp_max": lambda t, lib: t.clamp_(max=0.0),
        "neg_": lambda t, lib: t.neg_(), "exp_": lambda t, lib: t.exp_(), "sigmoid_": lambda t, lib: t.sigmoid_(),
        "fill_": lambda t, lib: t.fill_(7), "zero_": lambda t, lib: t.zero_(),
        "lerp_": lambda t, lib: t.lerp_(lib.ones(2, 3), 0.3),
        "copy_row": lambda t, lib: t.copy_(lib.ones(3)),
        "masked_fill_": lambda t, lib: t.masked_fill_(t > 0, 0.5),
        "scatter_value": lambda t, lib: t.scatter_(1, lib.tensor([[2], [0]]), 1.0),
        "scatter_src": lambda t, lib: t.scatter_(0, lib.tensor([[1, 0, 1]]), lib.ones(1, 3) * 4),
    }
    for name, call in calls.items():
        mine, theirs = minigan.tensor(x.copy()), torch.tensor(x.copy())
        call(mine, minigan), call(theirs, torch)
        np.testing.assert_allclose(mine.numpy(), theirs.numpy(), rtol=1e-6, err_msg=name)
        assert mine.dtype == np.float32, name


def test_one_hot_labels_by_scatter(device):
    labels = minigan.tensor(np.array([3, 0, 9]), device=device)
    onehot = minigan.zeros(3, 10, device=device).scatter_(1, labels.view(-1, 1), 1)
    np.testing.assert_array_equal(onehot.numpy(), np.eye(10, dtype=np.float32)[[3, 0, 9]])
    with pytest.raises(RuntimeError, match="index 10 is out of bounds for dimension 1 with size 10"):
        onehot.scatter_(1, minigan.tensor([[10], [0], [0]]), 1)
    with pytest.raises(RuntimeError, match="Expected dtype int64 for index"):
        onehot.scatter_(1, minigan.tensor([[1.0], [0.0], [0.0]]), 1)


@pytest.mark.parametrize("fill, mean, spread", [("normal_", 0.5, 0.02), ("uniform_", 0.0, 1 / np.sqrt(3))])
def test_random_fills_have_their_moments_on_every_device(device, fill, mean, spread):
    t = minigan.zeros(20000, device=device)
    args = (0.5, 0.02) if fill == "normal_" else (-1.0, 1.0)
    getattr(t, fill)(*args)
    values = t.numpy()
    assert t._version == 1 and t.dtype == np.float32
    # 2 * 10^4 draws: the mean's standard error is spread / 141; 5 of them
    assert abs(values.mean() - mean) < 5 * spread / np.sqrt(values.size)
    assert abs(values.std() - spread) < 0.05 * spread
    if fill == "uniform_":
        assert values.min() >= -1.0 and values.max() < 1.0


def test_uniform_takes_pytorchs_keyword_names_from_and_to():
    t = minigan.zeros(1000).uniform_(**{"from": 2.0, "to": 3.0})
    assert 2.0 <= t.numpy().min() and t.numpy().max() < 3.0


def test_bernoulli_fill_is_zeros_and_ones():
    t = minigan.zeros(1000).bernoulli_(0.25)
    assert set(np.unique(t.numpy())) <= {0.0, 1.0} and 0.15 < t.numpy().mean() < 0.35


def test_dcgan_weight_init_through_data_and_the_legacy_classname_test():
    """The weights_init of countless DCGAN scripts, unchanged."""
    def weights_init(m):
        classname = m.__class__.__name__
        if classname.find("Conv") != -1:
            m.weight.data.normal_(0.0, 0.02)
        elif classname.find("BatchNorm") != -1:
            m.weight.data.normal_(1.0, 0.02)
            m.bias.data.fill_(0)
    minigan.manual_seed(0)
    net = nn.Sequential(nn.ConvTranspose2d(8, 16, 4, 1, 0, bias=False), nn.BatchNorm2d(16), nn.ReLU(True))
    versions = [p._version for p in net.parameters()]
    net.apply(weights_init)
    w = net[0].weight.numpy()
    assert abs(w.std() - 0.02) < 0.002 and abs(w.mean()) < 0.002  # 2048 draws
    np.testing.assert_array_equal(net[1].bias.numpy(), 0)
    # .data has its own version counter, as in PyTorch: the parameters' versions do not move
    assert [p._version for p in net.parameters()] == versions


def test_wgan_weight_clipping_through_data_and_under_no_grad():
    critic = nn.Linear(4, 1)
    version = critic.weight._version
    for p in critic.parameters():
        p.data.clamp_(-0.01, 0.01)
    assert all(np.abs(p.numpy()).max() <= 0.01 for p in critic.parameters())
    with minigan.no_grad():
        for p in critic.parameters():
            p.clamp_(-0.001, 0.001)  # the modern spelling: in place on the parameter itself
    assert all(np.abs(p.numpy()).max() <= 0.001 for p in critic.parameters())
    assert critic.weight._version == version + 1  # the write under no_grad was counted; the .data ones were not


def test_writing_a_leaf_that_requires_grad_raises_pytorchs_error():
    w = minigan.ones(3, requires_grad=True)
    for call in (lambda: w.add_(1), lambda: w.fill_(0), lambda: w.normal_(), lambda: w.copy_(minigan.zeros(3)),
                 lambda: w.zero_(), lambda: w.clamp_(0, 1)):
        with pytest.raises(RuntimeError, match=re.escape(LEAF)):
            call()
    np.testing.assert_array_equal(w.numpy(), 1)
    assert w._version == 0


def test_writing_a_tensor_inside_the_graph_is_refused_with_the_out_of_place_spelling():
    w = minigan.ones(3, requires_grad=True)
    y = w * 2
    with pytest.raises(RuntimeError, match=r"mul_: in-place operations on a tensor inside the graph \(the output "
                                           r"of Mul\) are not supported.*x = x\.mul\(\.\.\.\)"):
        y.mul_(2)
    with minigan.no_grad():  # outside the graph's recording it is a plain write, as in PyTorch
        y.mul_(2)
    np.testing.assert_array_equal(y.numpy(), 4)


def test_a_write_between_forward_and_backward_is_caught():
    x = minigan.tensor([1.0, 2.0])
    w = minigan.tensor([3.0, 4.0], requires_grad=True)
    loss = (w * x).sum()  # Mul saves x for w's gradient
    x.mul_(10)
    with pytest.raises(RuntimeError, match=re.escape(MODIFIED) + r".*input 1 of Mul is at version 1; expected "
                                                                  r"version 0"):
        loss.backward()
    assert w.grad is None


def test_writes_through_views_and_detach_share_the_version_but_data_does_not():
    x = minigan.zeros(2, 3)
    x.view(6).add_(1)  # a view shares x's memory and counter
    x.detach()[0].fill_(5)
    assert x._version == 2
    np.testing.assert_array_equal(x.numpy(), [[5, 5, 5], [1, 1, 1]])
    x.data.zero_()  # .data: the same memory, its own counter (autograd does not see the write)
    assert x._version == 2 and not x.numpy().any()


@pytest.mark.parametrize("call, error, message", [
    (lambda t: t.add_(minigan.ones(3, 2, 3)), RuntimeError,
     r"add_: output with shape \[2, 3\] doesn't match the broadcast shape \[3, 2, 3\]"),
    (lambda t: t.long().add_(1.5), RuntimeError, "result type Float can't be cast to the desired output type Long"),
    (lambda t: t.bool().add_(1), RuntimeError, "result type Long can't be cast to the desired output type Bool"),
    (lambda t: t.long().div_(2), RuntimeError, "result type Float can't be cast to the desired output type Long"),
    (lambda t: t.expand(4, 2, 3).add_(1), RuntimeError, "more than one element of the written-to tensor"),
    (lambda t: t.clamp_(), RuntimeError, "At least one of 'min' or 'max' must not be None"),
    (lambda t: t.copy_(minigan.ones(4)), RuntimeError, r"copy_: the shape of src \[4\] does not broadcast"),
    (lambda t: t.copy_(np.ones(3)), TypeError, "argument 'src' must be Tensor"),
    (lambda t: t.fill_(minigan.ones(2)), RuntimeError, "only supports 0-dimension value tensor"),
    (lambda t: t.fill_("a"), TypeError, "fill_: value must be a real number"),
    (lambda t: t.long().fill_(float("nan")), ValueError, "fill_: value nan does not fit in int64"),
    (lambda t: t.normal_(0, -1), RuntimeError, "normal expects std >= 0.0"),
    (lambda t: t.uniform_(1, 0), RuntimeError, r"uniform_ expects to return a \[from, to\) range"),
    (lambda t: t.long().normal_(), TypeError, "normal_: expected a floating-point tensor, got int64"),
    (lambda t: t.masked_fill_(minigan.ones(3), 0), TypeError, "masked_fill_ only supports boolean masks"),
])
def test_bad_writes_raise_and_change_nothing(call, error, message):
    t = _values("cpu")
    before, version = t.numpy().copy(), t._version
    with pytest.raises(error, match=message):
        call(t)
    np.testing.assert_array_equal(t.numpy(), before)
    assert t._version == version
