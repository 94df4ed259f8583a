"""minigan.nn: Module bookkeeping, the layers (by hand and against PyTorch), state_dict, init."""
import math
from collections import OrderedDict

import numpy as np
import pytest

import minigan
from minigan import nn, sim
from minigan.nn import init

TORCH_REASON = "PyTorch is the oracle for layer outputs, gradients and state_dict names"


def rng(seed=0):
    return np.random.default_rng(seed)


def randn(*shape, seed=0):
    return rng(seed).standard_normal(shape).astype(np.float32)


class Block(nn.Module):
    """A hand-made module: a parameter, a buffer, a child, an absent bias, a plain attribute."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(minigan.ones(3))
        self.register_parameter("shift", None)
        self.register_buffer("count", minigan.zeros(()))
        self.inner = nn.Linear(3, 2)
        self.plain = minigan.ones(3, requires_grad=True)  # not a Parameter: not registered

    def forward(self, x):
        return self.inner(x * self.scale)


# -- Module bookkeeping ------------------------------------------------------------------------
def test_attributes_register_parameters_buffers_and_children():
    block = Block()
    assert [n for n, _ in block.named_parameters()] == ["scale", "inner.weight", "inner.bias"]
    assert [n for n, _ in block.named_buffers()] == ["count"]
    assert [n for n, _ in block.named_children()] == ["inner"]
    assert list(block.children()) == [block.inner]
    assert [type(m).__name__ for m in block.modules()] == ["Block", "Linear"]
    assert [n for n, _ in block.named_parameters(recurse=False)] == ["scale"]
    assert block.shift is None and isinstance(block.scale, nn.Parameter)
    assert list(block.parameters())[1] is block.inner.weight
    assert block.plain not in set(block.parameters())
    assert block(minigan.ones(4, 3)).shape == (4, 2)


def test_parameter_is_a_leaf_that_shares_its_tensors_memory():
    t = minigan.tensor([1.0, 2.0])
    p = nn.Parameter(t)
    assert p.requires_grad and p.is_leaf and p.array is t.array
    assert repr(p).startswith("Parameter containing:\ntensor(")
    with pytest.raises(TypeError, match="floating-point"):
        nn.Parameter(minigan.tensor([1, 2]))
    with pytest.raises(TypeError, match="Parameter: expected a Tensor or an array"):
        nn.Parameter([1.0, 2.0])


def test_a_shared_parameter_is_listed_once():
    layer = nn.Linear(2, 2)
    model = nn.Sequential(layer, nn.Tanh(), layer)
    assert len(list(model.parameters())) == 2
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias"]
    assert [type(m).__name__ for m in model.modules()] == ["Sequential", "Linear", "Tanh"]


def test_reassignment_moves_a_name_between_registries_and_del_forgets_it():
    block = Block()
    block.inner = nn.Parameter(minigan.zeros(2))
    assert "inner" not in dict(block.named_children())
    assert [n for n, _ in block.named_parameters()] == ["scale", "inner"]
    block.scale = None
    assert [n for n, _ in block.named_parameters()] == ["inner"]
    del block.inner
    with pytest.raises(AttributeError, match="'Block' object has no attribute 'inner'"):
        block.inner


def test_assignment_errors_name_the_attribute():
    block = Block()
    with pytest.raises(TypeError, match="cannot assign a Tensor to parameter 'scale'"):
        block.scale = minigan.ones(3)
    with pytest.raises(TypeError, match="cannot assign a int to sub-module 'inner'"):
        block.inner = 3
    with pytest.raises(TypeError, match="buffer 'count'"):
        block.count = 1.0
    block.count = minigan.ones(())
    assert block.count.item() == 1.0

    class Forgetful(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(minigan.ones(1))

    with pytest.raises(AttributeError, match="super\\(\\).__init__\\(\\)"):
        Forgetful()
    with pytest.raises(KeyError, match="without '.'"):
        nn.Module().register_buffer("a.b", minigan.ones(1))


def test_forward_must_be_defined():
    with pytest.raises(NotImplementedError, match="Module has no forward"):
        nn.Module()(minigan.ones(1))


def test_train_and_eval_reach_every_submodule():
    model = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Dropout(), nn.BatchNorm1d(2)))
    assert all(m.training for m in model.modules())
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    model[1].train()
    assert [m.training for m in model.modules()] == [False, False, True, True, True]
    with pytest.raises(TypeError, match="mode must be a bool"):
        model.train("yes")


def test_zero_grad_sets_grads_to_none():
    model = nn.Sequential(nn.Linear(3, 2), nn.Tanh(), nn.Linear(2, 1))
    model(minigan.ones(4, 3)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_requires_grad_freezes_and_unfreezes():
    model = nn.Linear(2, 1)
    model.requires_grad_(False)
    assert not model(minigan.ones(1, 2)).requires_grad
    model.requires_grad_()
    assert all(p.requires_grad for p in model.parameters())


def test_apply_visits_children_before_parents():
    visited = []
    model = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.ReLU()))
    assert model.apply(lambda m: visited.append(type(m).__name__)) is model
    assert visited == ["Linear", "ReLU", "Sequential", "Sequential"]


def test_to_moves_parameters_buffers_and_grads_in_place():
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    model(minigan.tensor(randn(5, 3))).sum().backward()
    params, buffers = list(model.parameters()), list(model.buffers())
    before = {k: v.numpy() for k, v in model.state_dict().items()}
    assert model.to("sim") is model
    assert list(model.parameters()) == params and all(a is b for a, b in zip(model.parameters(), params))
    assert all(a is b for a, b in zip(model.buffers(), buffers))
    assert all(p.device == "sim" and p.grad.device == "sim" for p in params)
    assert all(b.device == "sim" for b in buffers)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), before[k])
    model.cpu()
    assert all(p.device == "cpu" for p in model.parameters())


def test_to_dtype_casts_floating_point_state_only():
    model = nn.BatchNorm1d(3).double()
    assert model.weight.dtype == np.float64 and model.running_var.dtype == np.float64
    assert model.num_batches_tracked.dtype == np.int64
    assert model.float().weight.dtype == np.float32


def test_a_training_step_on_the_sim_device_makes_no_host_transfers():
    model = nn.Sequential(nn.Conv2d(1, 4, 3, 2, 1), nn.BatchNorm2d(4), nn.LeakyReLU(0.2), nn.Flatten(),
                          nn.Linear(64, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.3),
                          nn.Unflatten(1, (2, 2, 2)), nn.ConvTranspose2d(2, 1, 4, 2, 1), nn.Tanh(),
                          nn.Flatten(), nn.Linear(16, 1), nn.Sigmoid()).to("sim")
    x = minigan.tensor(rng().random((3, 1, 8, 8), dtype=np.float32), device="sim")
    sim.reset_transfers()
    model(x).sum().backward()
    model.eval()
    model(x)
    assert sim.transfers == {"to_host": 0, "to_device": 0}
    assert all(p.grad.device == "sim" for p in model.parameters())


# -- repr ----------------------------------------------------------------------------------
def test_repr_nests_like_pytorch():
    model = nn.Sequential(nn.Conv2d(1, 8, 4, 2, 1, bias=False), nn.BatchNorm2d(8), nn.LeakyReLU(0.2),
                          nn.Sequential(nn.Flatten(), nn.Linear(8, 1)))
    assert repr(model) == (
        "Sequential(\n"
        "  (0): Conv2d(1, 8, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1), bias=False)\n"
        "  (1): BatchNorm2d(8, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)\n"
        "  (2): LeakyReLU(negative_slope=0.2)\n"
        "  (3): Sequential(\n"
        "    (0): Flatten(start_dim=1, end_dim=-1)\n"
        "    (1): Linear(in_features=8, out_features=1, bias=True)\n"
        "  )\n"
        ")")
    assert repr(Block()) == "Block(\n  (inner): Linear(in_features=3, out_features=2, bias=True)\n)"


def test_repr_matches_pytorch_layer_by_layer():
    torch = pytest.importorskip("torch", reason=TORCH_REASON)
    for args in [("Conv2d", 1, 8, 3), ("Conv2d", 2, 3, (3, 5), 2, 1, 2), ("ConvTranspose2d", 8, 4, 4, 2, 1),
                 ("ConvTranspose2d", 8, 4, 4, 2, 1, 1), ("Linear", 3, 4), ("LeakyReLU", 0.2), ("ReLU",),
                 ("Tanh",), ("Sigmoid",), ("Dropout", 0.3), ("Flatten",), ("Unflatten", 1, (1, 2, 2)),
                 ("Embedding", 10, 3)]:
        name, *rest = args
        assert repr(getattr(nn, name)(*rest)) == repr(getattr(torch.nn, name)(*rest))
    assert repr(nn.ReLU(True)) == repr(torch.nn.ReLU(True))
    assert repr(nn.Linear(3, 4, bias=False)) == repr(torch.nn.Linear(3, 4, bias=False))


# -- Sequential --------------------------------------------------------------------------------
def test_sequential_indexes_iterates_and_slices():
    a, b, c = nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1)
    model = nn.Sequential(a, b, c)
    assert len(model) == 3 and list(model) == [a, b, c]
    assert model[0] is a and model[-1] is c
    tail = model[1:]
    assert isinstance(tail, nn.Sequential) and list(tail) == [b, c]
    assert [n for n, _ in tail.named_parameters()] == ["2.weight", "2.bias"]  # original names kept
    x = minigan.tensor(randn(4, 2))
    np.testing.assert_allclose(model(x).numpy(), c(b(a(x))).numpy())
    with pytest.raises(IndexError, match="index 3 is out of range for 3 modules"):
        model[3]
    with pytest.raises(TypeError, match="integers or slices"):
        model["0"]
    model.append(nn.Sigmoid())
    assert len(model) == 4 and type(model[3]).__name__ == "Sigmoid"


def test_sequential_takes_names_from_an_ordered_dict():
    model = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 2)), ("act", nn.ReLU())]))
    assert list(model.state_dict()) == ["fc.weight", "fc.bias"]
    assert model.fc is model[0]


# -- state_dict ------------------------------------------------------------------------------------
def dcgan_like():
    return nn.Sequential(nn.ConvTranspose2d(4, 3, 4, 1, 0, bias=False), nn.BatchNorm2d(3), nn.ReLU(True),
                         nn.Conv2d(3, 2, 3, 1, 1), nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(32, 2),
                         nn.BatchNorm1d(2, affine=False), nn.Sigmoid())


def test_state_dict_has_pytorchs_keys_in_pytorchs_order():
    model = dcgan_like()
    assert list(model.state_dict()) == [
        "0.weight", "1.weight", "1.bias", "1.running_mean", "1.running_var", "1.num_batches_tracked",
        "3.weight", "3.bias", "6.weight", "6.bias", "7.running_mean", "7.running_var", "7.num_batches_tracked"]
    assert model.state_dict()["0.weight"].shape == (4, 3, 4, 4)  # ConvTranspose2d: (in, out, kh, kw)
    assert model.state_dict()["1.num_batches_tracked"].dtype == np.int64


def test_state_dict_values_are_detached_but_share_memory():
    model = nn.Linear(2, 2)
    state = model.state_dict()
    assert not isinstance(state["weight"], nn.Parameter) and not state["weight"].requires_grad
    assert state["weight"].array is model.weight.array
    assert model.state_dict(keep_vars=True)["weight"] is model.weight


def test_non_persistent_buffers_are_moved_but_not_saved():
    model = nn.Module()
    model.register_buffer("saved", minigan.zeros(2))
    model.register_buffer("scratch", minigan.zeros(2), persistent=False)
    assert list(model.state_dict()) == ["saved"]
    model.to("sim")
    assert model.scratch.device == "sim"


def test_state_dict_round_trip_gives_identical_outputs():
    model = dcgan_like()
    x = minigan.tensor(randn(5, 4, 1, 1))
    for _ in range(2):
        model(x)  # move the running statistics away from their initial values
    fresh = dcgan_like()
    assert fresh.load_state_dict(model.state_dict()) == ([], [])
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(fresh.state_dict()[k].numpy(), v.numpy())
    model.eval(), fresh.eval()
    np.testing.assert_array_equal(fresh(x).numpy(), model(x).numpy())
    assert fresh.state_dict()["1.weight"].array is not model.state_dict()["1.weight"].array  # copied


def test_load_state_dict_accepts_arrays_casts_dtype_and_crosses_devices():
    model = nn.Linear(2, 3).to("sim")
    weight = rng().standard_normal((3, 2))  # float64, on the host
    model.load_state_dict({"weight": weight, "bias": minigan.tensor([1.0, 2.0, 3.0])})
    assert model.weight.device == "sim" and model.weight.dtype == np.float32
    np.testing.assert_allclose(model.weight.numpy(), weight.astype(np.float32))
    np.testing.assert_array_equal(model.bias.numpy(), [1.0, 2.0, 3.0])


def test_load_state_dict_names_missing_and_unexpected_keys_and_loads_nothing():
    model = dcgan_like()
    before = {k: v.numpy() for k, v in model.state_dict().items()}
    source = {k: minigan.tensor(v.numpy() + 1) for k, v in dcgan_like().state_dict().items()}
    del source["1.running_var"], source["6.bias"]
    source["9.weight"] = minigan.ones(2)
    with pytest.raises(RuntimeError, match='Error\\(s\\) in loading state_dict for Sequential:\n\t'
                                           'Missing key\\(s\\) in state_dict: "1.running_var", "6.bias".\n\t'
                                           'Unexpected key\\(s\\) in state_dict: "9.weight".'):
        model.load_state_dict(source)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), before[k])  # all or nothing
    missing, unexpected = model.load_state_dict(source, strict=False)
    assert (missing, unexpected) == (["1.running_var", "6.bias"], ["9.weight"])
    np.testing.assert_array_equal(model.state_dict()["6.weight"].numpy(), source["6.weight"].numpy())


def test_load_state_dict_refuses_shape_mismatches_even_when_not_strict():
    model = nn.Sequential(nn.Linear(2, 3))
    state = nn.Sequential(nn.Linear(2, 4)).state_dict()
    message = ("size mismatch for 0.weight: copying a param with shape \\(4, 2\\) from checkpoint, "
               "the shape in current model is \\(3, 2\\).")
    with pytest.raises(RuntimeError, match=message):
        model.load_state_dict(state, strict=False)
    with pytest.raises(RuntimeError, match="size mismatch for 0.bias"):
        model.load_state_dict(state)
    with pytest.raises(TypeError, match="load_state_dict: value for '0.bias' is a str, not numbers"):
        model.load_state_dict({"0.weight": np.zeros((3, 2)), "0.bias": "zeros"})


def test_weights_move_between_minigan_and_pytorch_by_name():
    torch = pytest.importorskip("torch", reason=TORCH_REASON)
    tnn = torch.nn
    ours = dcgan_like()
    theirs = tnn.Sequential(tnn.ConvTranspose2d(4, 3, 4, 1, 0, bias=False), tnn.BatchNorm2d(3), tnn.ReLU(True),
                            tnn.Conv2d(3, 2, 3, 1, 1), tnn.LeakyReLU(0.2), tnn.Flatten(), tnn.Linear(32, 2),
                            tnn.BatchNorm1d(2, affine=False), tnn.Sigmoid())
    assert list(ours.state_dict()) == list(theirs.state_dict())
    theirs.load_state_dict({k: torch.from_numpy(v.numpy()) for k, v in ours.state_dict().items()})
    x = randn(5, 4, 1, 1)
    for _ in range(3):  # training mode: batch statistics, running statistics updated
        np.testing.assert_allclose(ours(minigan.tensor(x)).numpy(), theirs(torch.from_numpy(x)).detach().numpy(),
                                   rtol=1e-5, atol=1e-6)
    fresh = dcgan_like()
    fresh.load_state_dict(theirs.state_dict())  # torch -> minigan
    for k, v in theirs.state_dict().items():
        np.testing.assert_allclose(fresh.state_dict()[k].numpy(), v.numpy(), rtol=1e-6, atol=1e-7)
    fresh.eval(), theirs.eval()
    np.testing.assert_allclose(fresh(minigan.tensor(x)).numpy(), theirs(torch.from_numpy(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-6)


# -- layers by hand -----------------------------------------------------------------------------
def test_linear_computes_x_wt_plus_b():
    layer = nn.Linear(3, 2)
    assert layer.weight.shape == (2, 3) and layer.bias.shape == (2,)
    x = randn(4, 5, 3)  # leading axes are batch axes
    w, b = layer.weight.numpy(), layer.bias.numpy()
    np.testing.assert_allclose(layer(minigan.tensor(x)).numpy(), x @ w.T + b, rtol=1e-5, atol=1e-6)
    no_bias = nn.Linear(3, 2, bias=False)
    assert no_bias.bias is None and [n for n, _ in no_bias.named_parameters()] == ["weight"]
    np.testing.assert_allclose(no_bias(minigan.tensor(x)).numpy(), x @ no_bias.weight.numpy().T, rtol=1e-5)


def test_conv2d_sums_windows_by_hand():
    layer = nn.Conv2d(1, 2, 2, bias=True)
    layer.load_state_dict({"weight": np.stack([np.ones((1, 2, 2)), [[[1, 0], [0, -1]]]]),
                           "bias": np.array([0.5, 0.0])})
    x = np.arange(9, dtype=np.float32).reshape(1, 1, 3, 3)
    y = layer(minigan.tensor(x)).numpy()
    # channel 0: window sums + 0.5; channel 1: top-left minus bottom-right = -4 everywhere
    np.testing.assert_allclose(y[0, 0], [[8.5, 12.5], [20.5, 24.5]])
    np.testing.assert_allclose(y[0, 1], [[-4, -4], [-4, -4]])
    strided = nn.Conv2d(3, 5, 4, stride=2, padding=1)
    assert strided(minigan.zeros(2, 3, 8, 8)).shape == (2, 5, 4, 4)


def test_conv_transpose2d_paints_each_pixel_by_hand():
    layer = nn.ConvTranspose2d(1, 1, 2, stride=2, bias=False)
    assert layer.weight.shape == (1, 1, 2, 2)  # (in, out, kh, kw)
    layer.load_state_dict({"weight": np.ones((1, 1, 2, 2))})
    x = np.array([[[[1.0, 2.0], [3.0, 4.0]]]], dtype=np.float32)
    expected = np.kron(x[0, 0], np.ones((2, 2)))  # each pixel becomes a 2 x 2 block
    np.testing.assert_array_equal(layer(minigan.tensor(x)).numpy()[0, 0], expected)
    dcgan = nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1)
    assert dcgan.weight.shape == (8, 4, 4, 4)
    assert dcgan(minigan.zeros(2, 8, 4, 4)).shape == (2, 4, 8, 8)


def test_conv_layers_refuse_groups():
    with pytest.raises(ValueError, match="Conv2d: only groups=1 is supported"):
        nn.Conv2d(2, 2, 3, groups=2)


def test_batch_norm_training_and_running_statistics_by_hand():
    layer = nn.BatchNorm1d(2)
    layer.load_state_dict({"weight": np.array([2.0, 1.0]), "bias": np.array([0.0, 1.0])}, strict=False)
    x = np.array([[1.0, 0.0], [3.0, 0.0], [5.0, 6.0]], dtype=np.float32)
    y = layer(minigan.tensor(x)).numpy()
    # column 0: mean 3, biased var 8/3; column 1: mean 2, biased var 8
    expected = np.stack([(x[:, 0] - 3) / np.sqrt(8 / 3 + 1e-5) * 2, (x[:, 1] - 2) / np.sqrt(8 + 1e-5) + 1], 1)
    np.testing.assert_allclose(y, expected, rtol=1e-5)
    # running = 0.9 * initial + 0.1 * batch, with the unbiased variance (4 and 12)
    np.testing.assert_allclose(layer.running_mean.numpy(), [0.3, 0.2], rtol=1e-6)
    np.testing.assert_allclose(layer.running_var.numpy(), [0.9 + 0.4, 0.9 + 1.2], rtol=1e-6)
    assert layer.num_batches_tracked.item() == 1
    layer.eval()
    y_eval = layer(minigan.tensor(x)).numpy()
    np.testing.assert_allclose(y_eval[:, 0], (x[:, 0] - 0.3) / np.sqrt(1.3 + 1e-5) * 2, rtol=1e-5)
    assert layer.num_batches_tracked.item() == 1  # evaluation does not count


def test_batch_norm_checks_its_input():
    with pytest.raises(ValueError, match="BatchNorm2d: expected a 4-D input, got shape \\(2, 3\\)"):
        nn.BatchNorm2d(3)(minigan.ones(2, 3))
    with pytest.raises(ValueError, match="BatchNorm1d: expected 3 channels"):
        nn.BatchNorm1d(3)(minigan.ones(2, 4))


def test_batch_norm_state_and_init():
    layer = nn.BatchNorm2d(3)
    assert [n for n, _ in layer.named_parameters()] == ["weight", "bias"]
    assert [n for n, _ in layer.named_buffers()] == ["running_mean", "running_var", "num_batches_tracked"]
    np.testing.assert_array_equal(layer.weight.numpy(), 1)
    np.testing.assert_array_equal(layer.bias.numpy(), 0)
    assert not layer.running_mean.requires_grad
    bare = nn.BatchNorm2d(3, affine=False, track_running_stats=False)
    assert list(bare.state_dict()) == []


@pytest.mark.parametrize("make", [
    lambda: nn.BatchNorm2d(3), lambda: nn.BatchNorm2d(3, momentum=None), lambda: nn.BatchNorm2d(3, affine=False),
    lambda: nn.BatchNorm2d(3, track_running_stats=False), lambda: nn.BatchNorm1d(3, eps=0.1, momentum=0.3)],
    ids=["2d", "cumulative_average", "not_affine", "batch_stats_only", "1d_eps_momentum"])
def test_batch_norm_matches_pytorch_over_training_steps(make):
    torch = pytest.importorskip("torch", reason=TORCH_REASON)
    ours = make()
    kwargs = dict(eps=ours.eps, momentum=ours.momentum, affine=ours.affine,
                  track_running_stats=ours.track_running_stats)
    theirs = getattr(torch.nn, type(ours).__name__)(3, **kwargs)
    if ours.affine:
        ours.load_state_dict({"weight": randn(3, seed=1), "bias": randn(3, seed=2)}, strict=False)
        theirs.load_state_dict({k: torch.from_numpy(v.numpy()) for k, v in ours.state_dict().items()})
    shape = (4, 3, 2, 2) if isinstance(ours, nn.BatchNorm2d) else (5, 3)
    for step in range(3):
        x = randn(*shape, seed=10 + step) * (step + 1) + step
        np.testing.assert_allclose(ours(minigan.tensor(x)).numpy(), theirs(torch.from_numpy(x)).detach().numpy(),
                                   rtol=1e-4, atol=1e-5)
    for k, v in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[k].numpy(), v.numpy(), rtol=1e-5, atol=1e-6)
    ours.eval(), theirs.eval()
    x = randn(*shape, seed=99)
    np.testing.assert_allclose(ours(minigan.tensor(x)).numpy(), theirs(torch.from_numpy(x)).detach().numpy(),
                               rtol=1e-4, atol=1e-5)


def test_activation_layers():
    x = np.array([-2.0, -0.5, 0.0, 0.5, 2.0], dtype=np.float32)
    t = minigan.tensor(x)
    np.testing.assert_array_equal(nn.ReLU()(t).numpy(), [0, 0, 0, 0.5, 2])
    np.testing.assert_allclose(nn.LeakyReLU(0.2)(t).numpy(), [-0.4, -0.1, 0, 0.5, 2])
    np.testing.assert_allclose(nn.LeakyReLU()(t).numpy(), [-0.02, -0.005, 0, 0.5, 2])
    np.testing.assert_allclose(nn.Tanh()(t).numpy(), np.tanh(x), rtol=1e-6)
    np.testing.assert_allclose(nn.Sigmoid()(t).numpy(), 1 / (1 + np.exp(-x)), rtol=1e-6)


def test_flatten_and_unflatten_are_inverse_reshapes():
    x = randn(2, 3, 4, 5)
    flat = nn.Flatten()(minigan.tensor(x))
    np.testing.assert_array_equal(flat.numpy(), x.reshape(2, 60))
    assert nn.Flatten(0, 1)(minigan.tensor(x)).shape == (6, 4, 5)
    back = nn.Unflatten(1, (3, 4, 5))(flat)
    np.testing.assert_array_equal(back.numpy(), x)
    assert nn.Unflatten(-1, (-1, 5))(minigan.tensor(x)).shape == (2, 3, 4, 1, 5)
    with pytest.raises(ValueError, match="Unflatten: cannot split axis 1 of size 60 .* into \\(7, 8\\)"):
        nn.Unflatten(1, (7, 8))(flat)


def test_dropout_drops_and_scales_in_training_only():
    layer = nn.Dropout(0.25)
    x = minigan.ones(100, 100)
    y = layer(x).numpy()
    assert set(np.unique(y)) == {0.0, np.float32(1 / 0.75)}
    assert abs((y == 0).mean() - 0.25) < 0.02  # 10^4 draws: standard error 0.004
    layer.eval()
    assert layer(x) is x
    with pytest.raises(ValueError, match="Dropout: p must be in \\[0, 1\\], got 1.5"):
        nn.Dropout(1.5)


def test_embedding_looks_up_rows_and_scatters_gradients():
    layer = nn.Embedding(5, 3)
    idx = minigan.tensor([[0, 4], [4, 4]])
    out = layer(idx)
    assert out.shape == (2, 2, 3)
    np.testing.assert_array_equal(out.numpy(), layer.weight.numpy()[[[0, 4], [4, 4]]])
    out.sum().backward()
    np.testing.assert_array_equal(layer.weight.grad.numpy()[:, 0], [1, 0, 0, 0, 3])  # row 4 used 3 times


def test_embedding_rejects_bad_indices():
    layer = nn.Embedding(5, 3)
    with pytest.raises(IndexError, match="Embedding: indices must be in \\[0, 5\\)"):
        layer(minigan.tensor([0, 5]))
    with pytest.raises(IndexError, match="Embedding: indices must be in \\[0, 5\\)"):
        layer(minigan.tensor([-1]))
    with pytest.raises(TypeError, match="Embedding: expected a Tensor of integer indices, got float32"):
        layer(minigan.tensor([1.0]))


# -- layers against PyTorch (forward and backward) on every device ------------------------------------
LAYERS = {
    "linear": (lambda: nn.Linear(6, 4), (3, 6)),
    "linear_no_bias": (lambda: nn.Linear(6, 4, bias=False), (3, 2, 6)),
    "conv2d": (lambda: nn.Conv2d(2, 3, 3, stride=2, padding=1), (2, 2, 7, 6)),
    "conv2d_dilated": (lambda: nn.Conv2d(2, 3, (3, 2), stride=(1, 2), padding=(2, 1), dilation=2), (2, 2, 6, 6)),
    "conv_transpose2d": (lambda: nn.ConvTranspose2d(3, 2, 4, stride=2, padding=1), (2, 3, 3, 3)),
    "conv_transpose2d_extra": (lambda: nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1,
                                                          dilation=2, bias=False), (2, 3, 3, 4)),
    "batch_norm2d": (lambda: nn.BatchNorm2d(3), (4, 3, 2, 2)),
    "batch_norm1d": (lambda: nn.BatchNorm1d(3), (5, 3)),
    "leaky_relu": (lambda: nn.LeakyReLU(0.2), (3, 4)),
    "embedding": (lambda: nn.Embedding(7, 3), None),
}


def _torch_twin(torch, layer):
    """A PyTorch layer with the same arguments and, through state_dict, the same weights."""
    tnn = torch.nn
    if isinstance(layer, nn.Linear):
        twin = tnn.Linear(layer.in_features, layer.out_features, bias=layer.bias is not None)
    elif isinstance(layer, nn.Conv2d):
        twin = tnn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride, layer.padding,
                          layer.dilation, bias=layer.bias is not None)
    elif isinstance(layer, nn.ConvTranspose2d):
        twin = tnn.ConvTranspose2d(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride,
                                   layer.padding, layer.output_padding, bias=layer.bias is not None,
                                   dilation=layer.dilation)
    elif isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d)):
        twin = getattr(tnn, type(layer).__name__)(layer.num_features)
    elif isinstance(layer, nn.LeakyReLU):
        twin = tnn.LeakyReLU(layer.negative_slope)
    else:
        twin = tnn.Embedding(layer.num_embeddings, layer.embedding_dim)
    twin.load_state_dict({k: torch.from_numpy(v.numpy()) for k, v in layer.state_dict().items()})
    return twin


@pytest.mark.parametrize("name", list(LAYERS))
def test_layer_matches_pytorch_forward_and_backward(name, device):
    torch = pytest.importorskip("torch", reason=TORCH_REASON)
    make, shape = LAYERS[name]
    layer = make()
    twin = _torch_twin(torch, layer)
    layer.to(device)
    if shape is None:  # embedding: integer indices, with repeats
        x_np = np.array([[1, 6, 1], [0, 1, 3]])
        x, x_t = minigan.tensor(x_np, device=device), torch.from_numpy(x_np)
    else:
        x_np = randn(*shape, seed=3)
        x = minigan.tensor(x_np, requires_grad=True, device=device)
        x_t = torch.from_numpy(x_np).requires_grad_()
    y, y_t = layer(x), twin(x_t)
    np.testing.assert_allclose(y.numpy(), y_t.detach().numpy(), rtol=1e-5, atol=1e-5)
    upstream = randn(*y.shape, seed=4)
    y.backward(minigan.tensor(upstream, device=device))
    y_t.backward(torch.from_numpy(upstream))
    if shape is not None:
        np.testing.assert_allclose(x.grad.numpy(), x_t.grad.numpy(), rtol=1e-4, atol=1e-5)
    theirs = dict(twin.named_parameters())
    for k, p in layer.named_parameters():
        assert p.grad.device == device
        np.testing.assert_allclose(p.grad.numpy(), theirs[k].grad.numpy(), rtol=1e-4, atol=1e-5, err_msg=k)
    for k, b in layer.named_buffers():
        np.testing.assert_allclose(b.numpy(), twin.state_dict()[k].numpy(), rtol=1e-5, atol=1e-6, err_msg=k)


# -- default initialisation ---------------------------------------------------------------------------
@pytest.mark.parametrize("make, fan_in", [
    (lambda: nn.Linear(64, 32), 64),
    (lambda: nn.Conv2d(4, 8, 3), 4 * 9),
    (lambda: nn.ConvTranspose2d(4, 6, 3), 6 * 9),  # PyTorch's fan_in for (in, out, k, k) is out * k * k
])
def test_default_init_is_uniform_within_one_over_sqrt_fan_in(make, fan_in):
    minigan.manual_seed(0)
    layer = make()
    bound = 1 / math.sqrt(fan_in)
    w, b = layer.weight.numpy(), layer.bias.numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound  # >= 216 draws reach the edge
    assert np.abs(b).max() <= bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.15 * bound / math.sqrt(3)  # U(-b, b) has std b/sqrt(3)
    minigan.manual_seed(0)
    np.testing.assert_array_equal(make().weight.numpy(), w)  # seeded: reproducible


@pytest.mark.parametrize("make, fan_in", [(lambda: nn.Linear(4, 2000), 4), (lambda: nn.Conv2d(3, 2000, 2), 12),
                                          (lambda: nn.ConvTranspose2d(3, 2000, 1), 2000)])
def test_default_bias_is_uniform_within_one_over_sqrt_fan_in(make, fan_in):
    minigan.manual_seed(1)
    b = make().bias.numpy()
    bound = 1 / math.sqrt(fan_in)
    assert np.abs(b).max() <= bound and np.abs(b).max() > 0.99 * bound  # 2000 draws reach the edge


def test_default_init_bound_agrees_with_pytorch():
    torch = pytest.importorskip("torch", reason=TORCH_REASON)
    torch.manual_seed(0)
    theirs = torch.nn.ConvTranspose2d(40, 6, 3)  # fan_in 54: bound 0.136 (fan_in 360 would give 0.053)
    ours = nn.ConvTranspose2d(40, 6, 3)
    assert np.abs(ours.weight.numpy()).max() == pytest.approx(theirs.weight.abs().max().item(), rel=0.01)


def test_embedding_init_is_standard_normal():
    w = nn.Embedding(1000, 20).weight.numpy()
    assert abs(w.mean()) < 0.02 and abs(w.std() - 1) < 0.02  # 2 * 10^4 draws: standard errors 0.007, 0.005


def test_layers_can_be_built_on_a_device_and_dtype():
    layer = nn.Linear(3, 2, device="sim", dtype="float64")
    assert layer.weight.device == "sim" and layer.bias.dtype == np.float64
    assert nn.BatchNorm2d(2, device="sim").num_batches_tracked.device == "sim"


# -- init functions ----------------------------------------------------------------------------------
def test_init_fills_in_place_and_returns_the_tensor():
    t = minigan.zeros(50, 40)
    array = t.array
    for fill in (init.normal_, init.uniform_, init.zeros_, init.ones_, init.xavier_uniform_, init.xavier_normal_,
                 init.kaiming_uniform_, init.kaiming_normal_):
        assert fill(t) is t and t.array is array
    assert init.constant_(t, 0.5) is t
    np.testing.assert_array_equal(t.numpy(), 0.5)
    init.zeros_(t)
    np.testing.assert_array_equal(t.numpy(), 0)
    init.ones_(t.array)  # a raw array works too (e.g. layer.weight.array)
    np.testing.assert_array_equal(t.numpy(), 1)


def test_normal_and_uniform_statistics():
    t = minigan.zeros(200, 100)
    init.normal_(t, mean=3.0, std=0.5)
    assert abs(t.numpy().mean() - 3) < 0.02 and abs(t.numpy().std() - 0.5) < 0.02
    init.uniform_(t, -2.0, 4.0)
    v = t.numpy()
    assert v.min() >= -2 and v.max() < 4 and v.min() < -1.99 and v.max() > 3.99
    assert abs(v.mean() - 1) < 0.05


@pytest.mark.parametrize("fill, bound", [
    (lambda t: init.xavier_uniform_(t, gain=2.0), 2.0 * math.sqrt(6 / (30 * 9 + 20 * 9))),
    (lambda t: init.kaiming_uniform_(t), math.sqrt(2) * math.sqrt(3 / (30 * 9))),  # a=0: gain sqrt(2)
    (lambda t: init.kaiming_uniform_(t, a=math.sqrt(5)), 1 / math.sqrt(30 * 9)),
    (lambda t: init.kaiming_uniform_(t, mode="fan_out", nonlinearity="relu"), math.sqrt(6 / (20 * 9))),
    (lambda t: init.kaiming_uniform_(t, nonlinearity="tanh"), 5 / 3 * math.sqrt(3 / (30 * 9))),
])
def test_fan_based_uniform_bounds(fill, bound):
    t = minigan.zeros(20, 30, 3, 3)  # fan_in = 30 * 9, fan_out = 20 * 9
    v = fill(t).numpy()
    assert np.abs(v).max() <= bound and np.abs(v).max() > 0.99 * bound


def test_fan_based_normal_std():
    t = minigan.zeros(200, 300)
    assert abs(init.xavier_normal_(t).numpy().std() - math.sqrt(2 / 500)) < 0.01 * math.sqrt(2 / 500) * 3
    std = math.sqrt(2) / math.sqrt(300)
    assert abs(init.kaiming_normal_(t, nonlinearity="relu").numpy().std() - std) < 0.03 * std


def test_calculate_gain_table():
    assert init.calculate_gain("linear") == 1 and init.calculate_gain("conv2d") == 1
    assert init.calculate_gain("sigmoid") == 1
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + 0.01 ** 2)))
    assert init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    assert init.calculate_gain("selu") == 0.75
    with pytest.raises(ValueError, match="unsupported nonlinearity 'swish'"):
        init.calculate_gain("swish")


def test_init_errors():
    with pytest.raises(ValueError, match="at least 2 dimensions, got shape \\(5,\\)"):
        init.xavier_uniform_(minigan.zeros(5))
    with pytest.raises(ValueError, match="mode must be 'fan_in' or 'fan_out'"):
        init.kaiming_uniform_(minigan.zeros(2, 2), mode="fan_avg")
    with pytest.raises(TypeError, match="floating-point"):
        init.normal_(minigan.zeros(2, dtype="int64"))
    with pytest.raises(TypeError, match="expected a Tensor or an array, got list"):
        init.normal_([1.0])


def test_init_draws_on_the_tensors_device_without_transfers():
    t = minigan.zeros(30, 20, device="sim")
    sim.reset_transfers()
    for fill in (init.normal_, init.uniform_, init.kaiming_uniform_, init.xavier_uniform_, init.ones_):
        fill(t)
    assert t.device == "sim" and sim.transfers == {"to_host": 0, "to_device": 0}


# -- gradients through a whole module ---------------------------------------------------------------
def test_gradcheck_and_gradgradcheck_through_a_critic(device):
    """A WGAN-GP critic in float64: its input gradient, and the gradient of that, are right."""
    minigan.manual_seed(0)
    critic = nn.Sequential(nn.Conv2d(1, 2, 3, stride=2, padding=1), nn.LeakyReLU(0.2), nn.Flatten(),
                           nn.Linear(8, 1)).double().to(device)
    x = minigan.tensor(rng(5).standard_normal((2, 1, 4, 4)), requires_grad=True, device=device)
    minigan.gradcheck(critic, x)
    minigan.gradgradcheck(critic, x)
