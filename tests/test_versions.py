"""In-place writes between a forward and its backward raise, as in PyTorch (version counters).

Every Tensor carries a version that in-place writes bump; values saved for backward remember
theirs. The GAN mistake this guards against: G's loss computed through D, D stepped, then G's
loss backpropagated through D's *new* weights (silently 16% off after one Adam step, before).
"""
import re

import numpy as np
import pytest

import minigan
import minigan.nn as nn
from minigan import functional as F
from minigan.gan import losses
from minigan.gan.trainer import GANTrainer

MODIFIED = "one of the variables needed for gradient computation has been modified by an inplace operation"


def _mlp_gan(seed=0):
    minigan.manual_seed(seed)
    G = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 3))
    D = nn.Sequential(nn.Linear(3, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1))
    return G, D


def _conv_gan(seed=0):
    minigan.manual_seed(seed)
    G = nn.Sequential(nn.Linear(2, 16), nn.Unflatten(1, (1, 4, 4)), nn.ConvTranspose2d(1, 2, 3))
    D = nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3), nn.LeakyReLU(0.2), nn.Conv2d(3, 1, 4), nn.Flatten())
    return G, D


def _d_step(G, D, d_opt, real):
    with minigan.no_grad():
        fake = G(minigan.randn(real.shape[0], 2))
    d_opt.zero_grad()
    losses.minimax_d_loss(D(real), D(fake)).backward()
    d_opt.step()


@pytest.mark.parametrize("make, real_shape, message", [
    # D's last weight (1, 8) itself: its input is column-major (see matmul), so the product ran as (W h^T)^T
    (_mlp_gan, (4, 3), r"\[float32 \(1, 8\)\] input 0 of MatMul is at version 2; expected version 1 instead"),
    (_conv_gan, (4, 2, 6, 6), r"\[float32 \(1, 3, 4, 4\)\] input 1 of Conv2d is at version 2; expected version 1"),
])
def test_the_gan_mistake_raises_with_the_op_the_input_and_the_versions(make, real_shape, message):
    G, D = make()
    d_opt = minigan.optim.Adam(D.parameters(), lr=1e-3)
    g_loss = losses.non_saturating_g_loss(D(G(minigan.randn(4, 2))))  # G's loss through D ...
    _d_step(G, D, d_opt, minigan.randn(*real_shape))  # ... then D steps ...
    with pytest.raises(RuntimeError, match=re.escape(MODIFIED)) as err:
        g_loss.backward()  # ... then G's loss backprops through D's new weights: refused
    assert re.search(message, str(err.value)), str(err.value)
    assert "Hint:" in str(err.value)
    assert all(p.grad is None for p in G.parameters())  # nothing half-accumulated into G


def test_the_correct_order_does_not_raise_and_matches_a_fresh_forward():
    G, D = _mlp_gan()
    d_opt, g_opt = minigan.optim.Adam(D.parameters()), minigan.optim.Adam(G.parameters())
    z = minigan.randn(4, 2)
    _d_step(G, D, d_opt, minigan.randn(4, 3))
    g_loss = losses.non_saturating_g_loss(D(G(z)))  # forward after D's step
    g_loss.backward()
    grads = [p.grad.numpy().copy() for p in G.parameters()]
    G.zero_grad()
    losses.non_saturating_g_loss(D(G(z))).backward()
    for g, again in zip(grads, G.parameters()):
        np.testing.assert_array_equal(g, again.grad.numpy())
    g_opt.step()


def test_the_trainer_steps_every_game_without_tripping_the_check():
    for name in ("non-saturating", "wasserstein", "wgan-gp", "hinge"):
        G, D = _mlp_gan()
        trainer = GANTrainer(G, D, minigan.optim.Adam(G.parameters()), minigan.optim.Adam(D.parameters()),
                             losses.get_loss(name), latent_dim=2, n_critic=2)
        for _ in range(4):
            trainer.step(minigan.randn(4, 3))
        assert trainer.g_steps == 2


@pytest.mark.parametrize("write", ["load_state_dict", "clip", "to", "init", "sgd", "rmsprop"])
def test_every_in_place_write_of_the_library_is_seen_by_backward(write):
    G, D = _mlp_gan()
    loss = D(G(minigan.randn(4, 2))).sum()
    if write == "load_state_dict":
        D.load_state_dict(nn.Sequential(nn.Linear(3, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1)).state_dict())
    elif write == "clip":
        GANTrainer._clip_weights(list(D.parameters()), 0.01)
    elif write == "to":
        D.double().float()
    elif write == "init":
        nn.init.zeros_(D[2].weight)
    else:
        opt = (minigan.optim.SGD if write == "sgd" else minigan.optim.RMSprop)(D.parameters(), lr=0.1)
        for p in D.parameters():
            p.grad = minigan.ones_like(p)
        opt.step()
    with pytest.raises(RuntimeError, match=re.escape(MODIFIED)):
        loss.backward()


def test_module_to_bumps_only_what_it_changes():
    D = _mlp_gan()[1]
    before = [p._version for p in D.parameters()]
    D.to("cpu").float()  # already there, already float32: nothing moves
    assert [p._version for p in D.parameters()] == before
    D.double()
    assert [p._version for p in D.parameters()] == [v + 1 for v in before]


def test_batch_norm_running_statistics_are_versioned_without_false_alarms():
    bn = nn.BatchNorm1d(3).eval()
    x, r = minigan.randn(4, 3, requires_grad=True), minigan.randn(4, 3)
    y = (bn(x) * r).sum()  # eval mode: the graph keeps 1/sqrt(var + eps), not the running var itself
    bn.train()(minigan.randn(4, 3))  # a training forward updates the running statistics in place
    assert bn.running_mean._version == 1 and bn.running_var._version == 1 and bn.num_batches_tracked._version == 1
    y.backward()  # the values backward needs did not change: no error, and the forward's gradient
    np.testing.assert_allclose(x.grad.numpy(), r.numpy() / np.sqrt(1 + bn.eps), rtol=1e-6)


def test_saved_outputs_are_checked_too():
    x = minigan.randn(3, requires_grad=True)
    y = F.exp(x)  # Exp saves its output
    loss = y.sum()  # (Sum saves nothing: Exp's output is the only saved value)
    y._bump_version()  # an in-place write into y (what #15's in-place methods will do)
    with pytest.raises(RuntimeError, match=r"\[float32 \(3,\)\] output 0 of Exp is at version 1; expected version 0"):
        loss.backward()


def test_retain_graph_and_create_graph_paths_check_and_still_work():
    G, D = _mlp_gan()
    real, fake = minigan.randn(4, 3), minigan.randn(4, 3)
    penalty = losses.gradient_penalty(D, real, fake)  # create_graph inside
    weights = [D[0].weight, D[2].weight]  # what the gradient penalty depends on (not the biases)
    grads = minigan.grad(penalty, weights, retain_graph=True)
    assert all(np.isfinite(g.numpy()).all() for g in grads)
    again = minigan.grad(penalty, weights, retain_graph=True)  # retained: runs twice
    for g, h in zip(grads, again):
        np.testing.assert_array_equal(g.numpy(), h.numpy())
    for p, g in zip(weights, grads):
        p.grad = g
    minigan.optim.SGD(weights, lr=0.1).step()
    with pytest.raises(RuntimeError, match=MODIFIED):  # the retained graph saw the weights change
        minigan.grad(penalty, weights)


def test_detach_and_views_share_the_counter_data_does_not():
    w = minigan.randn(3, 4, requires_grad=True)
    shared = [w.detach(), w.reshape(12), w.T, w[1:], F.broadcast_to(w, (2, 3, 4)),
              nn.Parameter(w.detach()), w.detach().reshape(4, 3)]
    copies = [w.data, w[minigan.tensor([0, 2])], w.T.reshape(12), w.astype(np.float64), w * 1.0]
    w._bump_version()
    assert [t._version for t in shared] == [1] * len(shared)
    assert [t._version for t in copies] == [0] * len(copies)
    shared[0]._bump_version()  # a write through a view is a write to w
    assert w._version == 2


def test_a_leaf_whose_array_was_replaced_raises():
    w = minigan.randn(3, requires_grad=True)
    loss = (w * w).sum()
    w.array = np.zeros(3, dtype=np.float32)  # a raw assignment bumps no version: caught by identity
    with pytest.raises(RuntimeError, match=r"Mul: input 0 \(a leaf of shape \(3,\)\) had its array replaced"):
        loss.backward()


def test_where_condition_is_checked_and_index_arrays_are_copied():
    x = minigan.randn(4, requires_grad=True)
    mask = minigan.tensor([True, False, True, False])
    y = F.where(mask, x, 0.0).sum()
    mask.array[...] = True
    mask._bump_version()
    with pytest.raises(RuntimeError, match=r"\[bool \(4,\)\] input 2 of Where is at version 1"):
        y.backward()
    index = minigan.tensor([0, 0, 3])
    picked = x[index].sum()
    index.array[...] = 1  # the index changes after the gather: backward still scatters to 0, 0, 3
    picked.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2, 0, 0, 1])


def test_a_failed_backward_leaves_grads_untouched_and_the_error_repeats():
    w = minigan.randn(2, 2, requires_grad=True)
    x = minigan.randn(3, 2, requires_grad=True)
    loss = (x @ w).sum()
    w._bump_version()
    for _ in range(2):  # the graph is not released by the failed attempt
        with pytest.raises(RuntimeError, match="input 1 of MatMul is at version 1; expected version 0"):
            loss.backward()
    assert w.grad is None and x.grad is None


def test_gradcheck_still_works_and_bumps_its_inputs():
    x = minigan.randn(2, 3, dtype=np.float64, requires_grad=True)
    w = minigan.randn(3, 2, dtype=np.float64, requires_grad=True)
    assert minigan.gradcheck(lambda a, b: F.tanh(a @ b), (x, w))
    assert minigan.gradgradcheck(lambda a, b: F.tanh(a @ b), (x, w))
    assert x._version > 0 and w._version > 0
