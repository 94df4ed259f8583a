"""nn.SyncBatchNorm: its gradients (float64 gradcheck and gradgradcheck with one rank), equality
with one rank's whole batch when the batch is split over ranks (threads here; 2 processes in
test_distributed_mpi.py), PyTorch's semantics (no group or evaluation: plain batch norm) and
convert_sync_batchnorm."""
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import minigan
from minigan import functional as F
from minigan import nn, optim
from minigan.distributed import SingleProcess
from minigan.gan import dcgan_discriminator, dcgan_generator
from minigan.nn.sync_batchnorm import sync_batch_norm

from distributed_helpers import BATCH_NORM_CASES, batch_norm_case, run_ranks
from helpers import arrays, device_settings, gamma, leaf


@st.composite
def batch_norm_shapes(draw):
    """(N, C) or (N, C, H, W), small, with at least two values per channel."""
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    spatial = draw(st.sampled_from([(), (1, 2), (2, 2)]))
    assume(n * int(np.prod(spatial)) >= 2)
    return (n, c) + spatial


def _affine(channels, seed, device):
    rng = np.random.default_rng(seed)
    return leaf(rng.uniform(0.5, 2.0, channels), device), leaf(rng.uniform(-1.0, 1.0, channels), device)


@device_settings(0.6)
@given(shape=batch_norm_shapes(), data=st.data())
def test_sync_batch_norm_gradcheck_on_one_rank(device, shape, data):
    x = leaf(data.draw(arrays(shape)), device)
    weight, bias = _affine(shape[1], data.draw(st.integers(0, 2**32 - 1)), device)
    group = SingleProcess(device)
    minigan.gradcheck(lambda x, w, b: sync_batch_norm(x, None, None, w, b, group), (x, weight, bias))


@device_settings(0.3)
@given(shape=batch_norm_shapes(), data=st.data())
def test_sync_batch_norm_gradgradcheck_on_one_rank(device, shape, data):
    """create_graph differentiates the definition written with the differentiable AllReduce."""
    x = leaf(data.draw(arrays(shape)), device)
    weight, bias = _affine(shape[1], data.draw(st.integers(0, 2**32 - 1)), device)
    group = SingleProcess(device)
    minigan.gradgradcheck(lambda x, w, b: sync_batch_norm(x, None, None, w, b, group), (x, weight, bias))


@pytest.mark.parametrize("shape", list(BATCH_NORM_CASES), ids=["4-D, 4 + 4 rows", "2-D, 5 + 2 rows"])
def test_two_ranks_on_shards_equal_one_rank_on_the_whole_batch(device, shape):
    """Threads as ranks, on the CPU and on sim (whose group stages through the host): output,
    dx, dw + db summed over the ranks, running statistics and a second derivative, to a few
    sums' rounding (each value goes through at most 4 sums over the batch, on 2 routes)."""
    x_all, w_all, b_all, gy_all = batch_norm_case(shape)
    rows = BATCH_NORM_CASES[shape]

    def rank(group):
        mine = slice(sum(rows[:group.rank]), sum(rows[:group.rank + 1]))
        x, w, b = leaf(x_all[mine], device), leaf(w_all, device), leaf(b_all, device)
        running = minigan.zeros(3, dtype="float64", device=device), minigan.ones(3, dtype="float64", device=device)
        y = sync_batch_norm(x, *running, w, b, group)
        gx, gw, gb = minigan.grad(y, [x, w, b], minigan.tensor(gy_all[mine], device=device))
        x2 = leaf(x_all[mine], device)
        y2 = sync_batch_norm(x2, None, None, w, b, group)
        (g2,) = minigan.grad((y2 * y2 * y2).sum(), [x2], create_graph=True)
        (hw,) = minigan.grad((g2 * g2).sum(), [w])
        return {"y": y.numpy(), "gx": gx.numpy(), "gw": gw.numpy(), "gb": gb.numpy(), "hw": hw.numpy(),
                "running": np.concatenate([t.numpy() for t in running])}

    got = run_ranks(2, rank, device)
    x, w, b = leaf(x_all, "cpu"), leaf(w_all, "cpu"), leaf(b_all, "cpu")
    running = minigan.zeros(3, dtype="float64"), minigan.ones(3, dtype="float64")
    y = F.batch_norm(x, *running, w, b, training=True)
    gx, gw, gb = minigan.grad(y, [x, w, b], minigan.tensor(gy_all))
    x2 = leaf(x_all, "cpu")
    y2 = F.batch_norm(x2, None, None, w, b, training=True)
    (g2,) = minigan.grad((y2 * y2 * y2).sum(), [x2], create_graph=True)
    (hw,) = minigan.grad((g2 * g2).sum(), [w])
    expected = {"y": y.numpy(), "gx": gx.numpy(), "gw": gw.numpy(), "gb": gb.numpy(), "hw": hw.numpy(),
                "running": np.concatenate([t.numpy() for t in running])}
    tolerance = 2 * 4 * gamma(x_all.size // 3, np.float64)
    for name, value in expected.items():
        if name in ("y", "gx"):  # each rank's own rows
            actual = np.concatenate([r[name] for r in got])
        elif name in ("gw", "gb", "hw"):  # this rank's sums: the gradient all-reduce adds them
            actual = got[0][name] + got[1][name]
        else:  # the same on every rank
            np.testing.assert_array_equal(got[0][name], got[1][name])
            actual = got[0][name]
        np.testing.assert_allclose(actual, value, rtol=0, atol=tolerance * max(1.0, float(np.abs(value).max())),
                                   err_msg=name)


def test_one_rank_is_batch_norm(device):
    """With a group of one, the module's output, running statistics and gradients are
    BatchNorm2d's (the statistics combined in float64, then rounded: the same float32 values)."""
    x_np = np.random.default_rng(0).standard_normal((4, 3, 5, 5)).astype(np.float32) * 2 + 1
    modules = [nn.SyncBatchNorm(3, process_group=SingleProcess(device)).to(device), nn.BatchNorm2d(3).to(device)]
    results = []
    for m in modules:
        x = minigan.tensor(x_np, device=device, requires_grad=True)
        y = m(x)
        grads = minigan.grad((y * y * y).sum(), [x, m.weight, m.bias])
        results.append([y.numpy(), m.running_mean.numpy(), m.running_var.numpy(), m.num_batches_tracked.numpy()]
                       + [g.numpy() for g in grads])
    for name, a, b in zip(("y", "running_mean", "running_var", "batches", "dx", "dw", "db"), *results):
        np.testing.assert_allclose(a, b, rtol=0, atol=4 * gamma(100, np.float32) * max(1.0, float(np.abs(b).max())),
                                   err_msg=name)


class NoCollectives(SingleProcess):
    """A group that fails the test if anything is sent."""

    def all_reduce(self, array, op="sum"):
        raise AssertionError("a collective ran")

    all_gather = broadcast = all_reduce


def test_evaluation_and_no_group_are_plain_batch_norm():
    """As in PyTorch: evaluation normalises by the running statistics and sends nothing; no
    process group means each process's batch alone."""
    x = minigan.randn(4, 3, 2, 2)
    sync, plain = nn.SyncBatchNorm(3, process_group=NoCollectives()), nn.BatchNorm2d(3)
    sync.running_mean.array[:] = plain.running_mean.array[:] = [1.0, 2.0, 3.0]
    sync.eval(), plain.eval()
    np.testing.assert_array_equal(sync(x).numpy(), plain(x).numpy())
    alone, plain = nn.SyncBatchNorm(3), nn.BatchNorm2d(3)
    np.testing.assert_array_equal(alone(x).numpy(), plain(x).numpy())
    np.testing.assert_array_equal(alone.running_var.numpy(), plain.running_var.numpy())


def test_bad_input_is_refused_before_anything_is_sent():
    m = nn.SyncBatchNorm(3, process_group=NoCollectives())
    with pytest.raises(ValueError, match=r"SyncBatchNorm: expected a 2-D \(N, C\) or 4-D .* got shape \(2, 3, 4\)"):
        m(minigan.randn(2, 3, 4))
    with pytest.raises(ValueError, match="expected 3 channels, got input of shape"):
        m(minigan.randn(2, 4))
    with pytest.raises(TypeError, match="SyncBatchNorm: expected a Tensor"):
        m(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="more than one value per channel"):
        sync_batch_norm(minigan.randn(1, 3), None, None, None, None, SingleProcess())
    assert int(m.num_batches_tracked.item()) == 0


def test_convert_sync_batchnorm_takes_over_every_batch_norm():
    """PyTorch's classmethod: every BatchNorm1d/2d becomes a SyncBatchNorm holding the same
    Parameter and buffer tensors (an optimizer made before still trains them), mode kept, the
    state_dict unchanged; a batch norm given alone comes back as a new module."""
    group = SingleProcess()
    G = dcgan_generator()
    G.eval()
    optimizer = optim.Adam(G.parameters(), 1e-3)
    before_params, before_state = list(G.parameters()), G.state_dict()
    converted = nn.SyncBatchNorm.convert_sync_batchnorm(G, group)
    assert converted is G
    kinds = [type(m).__name__ for m in G.modules() if "BatchNorm" in type(m).__name__]
    assert kinds == ["SyncBatchNorm", "SyncBatchNorm"]
    assert all(a is b for a, b in zip(G.parameters(), before_params)) and optimizer.param_groups[0]["params"][0] is \
        before_params[0]
    assert list(G.state_dict()) == list(before_state)
    assert all(m.process_group is group and not m.training for m in G.modules() if isinstance(m, nn.SyncBatchNorm))
    bn = nn.BatchNorm1d(4, momentum=None, affine=False)
    single = nn.SyncBatchNorm.convert_sync_batchnorm(bn, group)
    assert isinstance(single, nn.SyncBatchNorm) and single.momentum is None and not single.affine
    assert single.running_var is bn.running_var
    D = dcgan_discriminator(batch_norm=False)
    assert nn.SyncBatchNorm.convert_sync_batchnorm(D) is D and not any(
        isinstance(m, nn.SyncBatchNorm) for m in D.modules())
