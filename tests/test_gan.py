"""The GAN toolkit: the games' losses, the gradient penalty, the trainer's rules."""
import numpy as np
import pytest

import minigan
from minigan import functional as F
from minigan import nn, optim
from minigan.gan import (LOSSES, GANTrainer, MetricsLog, NonFiniteLossError, get_loss, gradient_penalty)

from helpers import gamma, op_params

LOGITS_REAL = np.array([2.0, -0.5, 0.3, 1.2])
LOGITS_FAKE = np.array([-1.0, 0.7, -2.5, 0.1])


def _softplus(z):
    return np.log1p(np.exp(-np.abs(z))) + np.maximum(z, 0)


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


# Each game written out from its paper's formula with NumPy, independently of minigan.
EXPECTED = {
    "minimax": (-np.mean(np.log(_sigmoid(LOGITS_REAL))) - np.mean(np.log(1 - _sigmoid(LOGITS_FAKE))),
                np.mean(np.log(1 - _sigmoid(LOGITS_FAKE)))),
    "non-saturating": (-np.mean(np.log(_sigmoid(LOGITS_REAL))) - np.mean(np.log(1 - _sigmoid(LOGITS_FAKE))),
                       -np.mean(np.log(_sigmoid(LOGITS_FAKE)))),
    "wasserstein": (LOGITS_FAKE.mean() - LOGITS_REAL.mean(), -LOGITS_FAKE.mean()),
    "wgan-gp": (LOGITS_FAKE.mean() - LOGITS_REAL.mean(), -LOGITS_FAKE.mean()),
    "lsgan": (0.5 * np.mean((LOGITS_REAL - 1) ** 2) + 0.5 * np.mean(LOGITS_FAKE ** 2),
              0.5 * np.mean((LOGITS_FAKE - 1) ** 2)),
    "hinge": (np.mean(np.maximum(0, 1 - LOGITS_REAL)) + np.mean(np.maximum(0, 1 + LOGITS_FAKE)),
              -LOGITS_FAKE.mean()),
}
# the course task each game tests (the losses a game shares with another are graded there)
TASK_OF = {"minimax": "minimax_loss", "non-saturating": "non_saturating_loss", "wasserstein": "wasserstein_loss",
           "wgan-gp": "wasserstein_loss", "lsgan": "lsgan_loss", "hinge": "hinge_loss"}


@pytest.mark.parametrize("name", op_params(sorted(LOSSES), TASK_OF))
def test_losses_match_their_formulas(name):
    game = get_loss(name)
    real, fake = minigan.tensor(LOGITS_REAL), minigan.tensor(LOGITS_FAKE)
    d_expected, g_expected = EXPECTED[name]
    np.testing.assert_allclose(game.d_loss(real, fake).item(), d_expected, rtol=1e-12)
    np.testing.assert_allclose(game.g_loss(fake).item(), g_expected, rtol=1e-12)


@pytest.mark.parametrize("name", op_params(["minimax", "non-saturating"], TASK_OF))
def test_probabilistic_losses_are_finite_for_huge_logits(name):
    game = get_loss(name)
    real = minigan.tensor([1e4, -1e4], requires_grad=True)
    fake = minigan.tensor([-1e4, 1e4], requires_grad=True)
    loss = game.d_loss(real, fake) + game.g_loss(fake)
    loss.backward()
    assert np.isfinite(loss.item())
    assert np.all(np.isfinite(real.grad.numpy())) and np.all(np.isfinite(fake.grad.numpy()))


def test_unknown_loss_lists_the_choices():
    with pytest.raises(ValueError, match="wgan-gp"):
        get_loss("vanilla")
    assert get_loss("wgan_gp") is LOSSES["wgan-gp"]


def _tiny_critic():
    return nn.Sequential(nn.Conv2d(1, 2, 3, 2, 1), nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(2 * 2 * 2, 1))


@pytest.mark.op_gradient_penalty
def test_gradient_penalty_is_zero_for_a_unit_gradient_critic():
    """d(x) = <w, x> with ||w|| = 1 has gradient norm 1 everywhere: no penalty."""
    w = np.random.default_rng(0).normal(size=12)
    w = minigan.tensor(w / np.linalg.norm(w))

    def critic(x):
        return (x.reshape(x.shape[0], -1) * w).sum(axis=1)

    real, fake = minigan.randn(5, 3, 2, 2, dtype="float64"), minigan.randn(5, 3, 2, 2, dtype="float64")
    assert gradient_penalty(critic, real, fake).item() == pytest.approx(0.0, abs=1e-20)


@pytest.mark.op_gradient_penalty
def test_gradient_penalty_backprops_into_the_critic_weights():
    """The penalty's gradient w.r.t. the weights needs double backward through conv layers."""
    critic = _tiny_critic()
    for p in critic.parameters():
        p.array = p.array.astype(np.float64)
    real = minigan.randn(3, 1, 4, 4, dtype="float64")
    fake = minigan.randn(3, 1, 4, 4, dtype="float64")
    params = list(critic.parameters())
    originals = [minigan.tensor(p.array, requires_grad=True) for p in params]

    def as_function_of(*weights):
        # rebuild the critic's forward with the given weight tensors (differentiable)
        minigan.manual_seed(7)
        conv_w, conv_b, lin_w, lin_b = weights

        def f(x):
            h = F.leaky_relu(F.conv2d(x, conv_w, conv_b, 2, 1), 0.2)
            return F.linear(F.flatten(h, 1), lin_w, lin_b)
        return gradient_penalty(f, real, fake)

    assert minigan.gradcheck(as_function_of, originals, atol=1e-6, rtol=1e-4)
    minigan.manual_seed(7)
    module_penalty = gradient_penalty(critic, real, fake).item()
    np.testing.assert_allclose(as_function_of(*originals).item(), module_penalty, rtol=1e-10)


def _tiny_gan(loss="non-saturating", n_critic=1, seed=0):
    minigan.manual_seed(seed)
    G = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Unflatten(1, (1, 4, 4)))
    D = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1))
    return GANTrainer(G, D, optim.Adam(G.parameters(), 1e-2), optim.Adam(D.parameters(), 1e-2),
                      get_loss(loss), latent_dim=4, n_critic=n_critic)


def _snapshot(module):
    return [p.array.copy() for p in module.parameters()]


def _changed(before, module):
    return [not np.array_equal(b, p.array) for b, p in zip(before, module.parameters())]


def test_discriminator_step_leaves_the_generator_alone():
    trainer = _tiny_gan()
    g_before, d_before = _snapshot(trainer.G), _snapshot(trainer.D)
    trainer.discriminator_step(minigan.randn(8, 1, 4, 4))
    assert not any(_changed(g_before, trainer.G))
    assert all(_changed(d_before, trainer.D))
    assert all(p.grad is None for p in trainer.G.parameters())


def test_generator_step_leaves_the_discriminator_alone():
    trainer = _tiny_gan()
    g_before, d_before = _snapshot(trainer.G), _snapshot(trainer.D)
    trainer.generator_step(8)
    assert all(_changed(g_before, trainer.G))
    assert not any(_changed(d_before, trainer.D))
    assert all(p.grad is None for p in trainer.D.parameters())


def test_n_critic_discriminator_steps_per_generator_step():
    trainer = _tiny_gan(n_critic=3)
    keys = [set(trainer.step(minigan.randn(8, 1, 4, 4))) for _ in range(6)]
    assert ["g_loss" in k for k in keys] == [False, False, True, False, False, True]
    assert (trainer.d_steps, trainer.g_steps) == (6, 2)


def test_wasserstein_clips_critic_weights():
    trainer = _tiny_gan("wasserstein")
    trainer.discriminator_step(minigan.randn(8, 1, 4, 4))
    for p in trainer.D.parameters():
        assert np.abs(p.array).max() <= 0.01 + 1e-12


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_every_game_trains_a_few_steps(name):
    trainer = _tiny_gan(name, n_critic=1)
    g_before, d_before = _snapshot(trainer.G), _snapshot(trainer.D)
    log = MetricsLog()
    for step in range(1, 5):
        log.record(step, trainer.step(minigan.randn(8, 1, 4, 4)))
    rows = log.flush()
    assert len(rows) == 4
    for _, row in rows:
        assert all(np.isfinite(v) for v in row.values())
        assert ("d_accuracy" in row) == get_loss(name).probabilistic
    assert all(_changed(g_before, trainer.G))
    # every D weight moves; D's last bias need not: Wasserstein-type losses cancel it exactly
    weights = [changed for changed, p in zip(_changed(d_before, trainer.D), trainer.D.parameters()) if p.ndim > 1]
    assert all(weights)


def test_non_finite_loss_names_the_step():
    log = MetricsLog()
    log.record(1, {"d_loss": minigan.tensor(0.5), "g_loss": minigan.tensor(1.0)})
    log.record(2, {"d_loss": minigan.tensor(float("nan")), "g_loss": minigan.tensor(1.0)})
    with pytest.raises(NonFiniteLossError, match="step 2: d_loss is nan"):
        log.flush()


def test_metrics_stay_on_the_device_until_flushed():
    """A training step on the sim device copies nothing to the host; flush copies once."""
    from minigan import sim
    trainer = _tiny_gan()
    trainer.G.to("sim")
    trainer.D.to("sim")
    trainer.device = "sim"
    real = minigan.randn(8, 1, 4, 4, device="sim")
    log = MetricsLog()
    trainer.step(real)  # warm-up: optimizer state is created on the device
    sim.reset_transfers()
    for step in range(3):
        log.record(step, trainer.step(real))
    assert sim.transfers == {"to_host": 0, "to_device": 0}
    log.flush()
    assert sim.transfers["to_host"] == 1


@pytest.mark.parametrize("name", ["non-saturating", "wgan-gp"])
def test_dcgan_training_step_makes_no_host_transfers(name):
    """The whole DCGAN iteration (convs, batch norm, Adam, the gradient penalty) stays on the device."""
    from minigan import sim
    from minigan.gan import build
    minigan.manual_seed(0)
    G, D = build("dcgan", name)
    G.to("sim")
    D.to("sim")
    trainer = GANTrainer(G, D, optim.Adam(G.parameters(), 2e-4, betas=(0.5, 0.999)),
                         optim.Adam(D.parameters(), 2e-4, betas=(0.5, 0.999)), get_loss(name), device="sim")
    real = minigan.rand(4, 1, 28, 28, device="sim")
    trainer.step(real)
    sim.reset_transfers()
    metrics = trainer.step(real)
    assert sim.transfers == {"to_host": 0, "to_device": 0}
    assert all(v.device == "sim" for v in metrics.values())


# -- each game on random logits: the loss values, and the gradients that flow from them -----------------------
def _sigmoid_exact(z):
    return np.where(z >= 0, 1 / (1 + np.exp(-np.abs(z))), np.exp(-np.abs(z)) / (1 + np.exp(-np.abs(z))))


def _games(real, fake):
    """Each game's D loss and G loss on logits (float64, written from the papers), and their
    gradients: d D / d real, d D / d fake, d G / d fake."""
    n_real, n_fake = real.size, fake.size
    s_real, s_fake = _sigmoid_exact(real), _sigmoid_exact(fake)
    minimax_d = (_softplus(-real).mean() + _softplus(fake).mean(), -(1 - s_real) / n_real, s_fake / n_fake)
    wasserstein_d = (fake.mean() - real.mean(), np.full_like(real, -1 / n_real), np.full_like(fake, 1 / n_fake))
    wasserstein_g = (-fake.mean(), np.full_like(fake, -1 / n_fake))
    return {
        "minimax": (*minimax_d, -_softplus(fake).mean(), -s_fake / n_fake),
        "non-saturating": (*minimax_d, _softplus(-fake).mean(), -(1 - s_fake) / n_fake),
        "wasserstein": (*wasserstein_d, *wasserstein_g),
        "wgan-gp": (*wasserstein_d, *wasserstein_g),
        "lsgan": (0.5 * np.mean((real - 1) ** 2) + 0.5 * np.mean(fake ** 2), (real - 1) / n_real, fake / n_fake,
                  0.5 * np.mean((fake - 1) ** 2), (fake - 1) / n_fake),
        "hinge": (np.mean(np.maximum(0, 1 - real)) + np.mean(np.maximum(0, 1 + fake)),
                  -(real < 1).astype(float) / n_real, (fake > -1).astype(float) / n_fake, *wasserstein_g),
    }


def _logits(seed, size):
    """Logits from -30 to 30 (D sure either way), none within 0.01 of the hinge's kinks at +-1."""
    z = np.random.default_rng(seed).uniform(-30.0, 30.0, size) * np.random.default_rng(seed + 1).choice(
        [0.1, 1.0], size)
    return np.where(np.abs(np.abs(z) - 1) < 0.01, z * 1.05, z)


@pytest.mark.parametrize("name", op_params(sorted(LOSSES), TASK_OF))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_losses_match_their_formulas_on_random_logits(name, seed):
    """Values only: a mean of n <= 7 terms, each rounded a few times (softplus: within a few u of
    its value, for any logit), is within gamma_(n + 8) of the terms' size."""
    real, fake = _logits(seed, 7), _logits(seed + 10, 5)
    game, (d, _, _, g, _) = get_loss(name), _games(real, fake)[name]
    with minigan.no_grad():
        d_got = game.d_loss(minigan.tensor(real), minigan.tensor(fake)).item()
        g_got = game.g_loss(minigan.tensor(fake)).item()
    magnitude = np.abs(real).mean() + np.abs(fake).mean() + 1  # the terms' size, where the loss may cancel them
    for got, expected, what in ((d_got, d, "D"), (g_got, g, "G")):
        bound = gamma(16, np.float64) * max(abs(expected), magnitude)
        assert abs(got - expected) <= bound, f"{name} {what} loss: {got} != {expected}"


@pytest.mark.parametrize("name", op_params(sorted(LOSSES), TASK_OF))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_loss_gradients_match_their_formulas(name, seed):
    """The gradients with respect to the logits: a loss written in Tensor ops gets them from
    backprop; a loss computed on arrays gets none."""
    real, fake = _logits(seed, 7), _logits(seed + 10, 5)
    game, (_, d_real, d_fake, _, g_fake) = get_loss(name), _games(real, fake)[name]
    t_real, t_fake = minigan.tensor(real, requires_grad=True), minigan.tensor(fake, requires_grad=True)
    got_real, got_fake = minigan.grad(game.d_loss(t_real, t_fake), [t_real, t_fake])
    (got_g,) = minigan.grad(game.g_loss(t_fake), [t_fake])
    for got, expected in ((got_real, d_real), (got_fake, d_fake), (got_g, g_fake)):
        np.testing.assert_allclose(got.numpy(), expected, rtol=gamma(8, np.float64), atol=gamma(8, np.float64) / 5)
