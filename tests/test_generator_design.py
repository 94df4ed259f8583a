"""Generator designs of issue #18: resize-convolution against transposed convolution and the
checkerboard score, the style-based generator and its mixing, progressive growing, steering z
by a classifier, and the VAE beside the GAN (models and their training steps; the example
scripts are run in tests/test_generator_examples.py)."""
import numpy as np
import pytest

import minigan
from minigan import nn
from minigan.gan import build
from minigan.metrics import checkerboard_energy


# -- resize-convolution and the checkerboard ------------------------------------------------------
def test_dcgan_resize_has_no_transposed_convolution_and_the_same_interface():
    minigan.manual_seed(0)
    G, D = build("dcgan-resize", "non-saturating")
    assert not any(isinstance(m, nn.ConvTranspose2d) for m in G.modules())
    assert sum(isinstance(m, nn.Upsample) for m in G.modules()) == 2
    images = G(minigan.randn(3, 100))
    assert images.shape == (3, 1, 28, 28) and D(images).shape == (3, 1)
    with pytest.raises(ValueError, match="unknown architecture 'resize': choose one of mlp, dcgan, dcgan-resize"):
        build("resize", "non-saturating")


def test_a_pure_checkerboard_scores_one_and_a_smooth_image_zero():
    rows, columns = np.indices((28, 28))
    board = ((rows + columns) % 2 * 2 - 1.0)[None]  # the period-2 pattern itself
    assert checkerboard_energy(board) == pytest.approx(1.0)
    stripes = np.cos(2 * np.pi * rows / 4.0)[None]  # period 4: frequency 7, none at 14
    assert checkerboard_energy(stripes) == pytest.approx(0.0, abs=1e-20)
    assert checkerboard_energy(stripes, period=4) == pytest.approx(1.0)
    smooth = np.cos(2 * np.pi * rows / 28.0)[None]  # one period over the image: frequency 1
    assert checkerboard_energy(smooth) == pytest.approx(0.0, abs=1e-20)
    assert checkerboard_energy(np.zeros((2, 1, 28, 28))) == 0.0  # no energy at all: nothing to share


def test_the_checkerboard_share_adds_up_over_images():
    """The score is the ratio of the summed energies: one board and one smooth image of equal
    energy give 1/2."""
    rows, columns = np.indices((8, 8))
    board = (rows + columns) % 2 * 2 - 1.0
    smooth = np.cos(2 * np.pi * columns / 8.0) * np.sqrt(2)  # the same energy as the board
    assert checkerboard_energy(np.stack([board, smooth])) == pytest.approx(0.5)
    assert checkerboard_energy(minigan.tensor(np.stack([board, smooth]))) == pytest.approx(0.5)


def test_transposed_convolutions_paint_checkerboards_and_resize_convolutions_do_not():
    """Odena et al.'s observation, at initialisation already: the DCGAN generator's random
    samples put a large share of their energy at the period-2 frequency; the resize generator's
    as little as real digits do (about 0.3%)."""
    from minigan.classifier import embedded_digits
    real = checkerboard_energy(embedded_digits()[0][:200])
    scores = {}
    for arch in ("dcgan", "dcgan-resize"):
        minigan.manual_seed(0)
        G, _ = build(arch, "non-saturating")
        with minigan.no_grad():
            scores[arch] = checkerboard_energy(G.eval()(minigan.randn(100, 100)))
    assert real < 0.01 and scores["dcgan-resize"] < 2 * real
    assert scores["dcgan"] > 10 * scores["dcgan-resize"]


def test_checkerboard_energy_errors():
    with pytest.raises(ValueError, match=r"checkerboard_energy: height and width must be multiples of the period 2, "
                                         r"got images of 5 x 6"):
        checkerboard_energy(np.zeros((1, 1, 5, 6)))
    with pytest.raises(ValueError, match="checkerboard_energy: period must be an int >= 2, got 1"):
        checkerboard_energy(np.zeros((1, 4, 4)), period=1)
    with pytest.raises(ValueError, match=r"expected images \(N, C, H, W\) or \(N, H, W\) with N >= 1, got shape "
                                         r"\(4, 4\)"):
        checkerboard_energy(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="checkerboard_energy: images contains NaN"):
        checkerboard_energy(np.full((1, 4, 4), np.nan))


# -- the style-based generator ----------------------------------------------------------------------
from minigan import optim  # noqa: E402
from minigan.gan.models import dcgan_discriminator, dcgan_init_  # noqa: E402
from minigan.gan.stylegan import (StyleGenerator, mixed_styles, mixing_agreement, mixing_grid,  # noqa: E402
                                  style_gan_step)


def small_style(noise=False, dtype=np.float32):
    minigan.manual_seed(0)
    return StyleGenerator(latent_dim=8, w_dim=8, channels=(4, 4, 2), mapping_layers=2, noise=noise).to(dtype=dtype)


def test_style_generator_styles_each_layer_with_its_own_w():
    G = small_style(dtype=np.float64)  # float64: the same sums in other batch shapes agree to 1e-12
    z_a, z_b = minigan.randn(3, 8).double(), minigan.randn(3, 8).double()
    assert G.num_styles == 6 and G(z_a).shape == (3, 1, 28, 28)
    with minigan.no_grad():
        a, b = G(z_a).numpy(), G(z_b).numpy()
        np.testing.assert_allclose(G.mix(z_a, z_b, 6).numpy(), a, rtol=1e-12, atol=1e-12)  # all coarse: A
        np.testing.assert_allclose(G.mix(z_a, z_b, 0).numpy(), b, rtol=1e-12, atol=1e-12)  # all fine: B
        mixed = G.mix(z_a, z_b, 3).numpy()
    assert not np.allclose(mixed, a, atol=1e-3) and not np.allclose(mixed, b, atol=1e-3)
    with pytest.raises(ValueError, match=r"StyleGenerator.synthesis: expected styles \(N, 6, 8\), got \(3, 8\)"):
        G.synthesis(minigan.randn(3, 8).double())
    with pytest.raises(ValueError, match="StyleGenerator.mix: crossover must be in 0..6, got 7"):
        G.mix(z_a, z_b, 7)


def test_mixing_regularisation_switches_to_the_second_w_after_one_crossover_per_sample():
    G = small_style()
    minigan.manual_seed(1)
    with minigan.no_grad():
        styles = mixed_styles(G, 200, mixing=0.9, device="cpu").numpy()
    changes = np.abs(np.diff(styles, axis=1)).sum(axis=2) > 0  # (n, 5): does layer k + 1 differ from layer k?
    assert changes.sum(axis=1).max() == 1  # at most one crossover per sample, after which the w stays
    crossover = np.where(changes.any(axis=1), changes.argmax(axis=1) + 1, 6)
    share_mixed = np.mean(crossover < 6)
    assert abs(share_mixed - 0.9) < 4 * np.sqrt(0.9 * 0.1 / 200)  # 4 standard deviations of a binomial share
    assert set(crossover[crossover < 6]) == {1, 2, 3, 4, 5}
    with minigan.no_grad():
        plain = mixed_styles(G, 20, mixing=0.0, device="cpu").numpy()
    assert not np.abs(np.diff(plain, axis=1)).any()


def test_style_gan_step_trains_both_players():
    G = small_style(noise=True)
    D = dcgan_init_(dcgan_discriminator())
    before = {name: p.numpy().copy() for name, p in G.named_parameters()}
    g_opt, d_opt = optim.Adam(G.parameters(), lr=1e-3, betas=(0.0, 0.99)), optim.Adam(D.parameters(), lr=2e-4)
    real = minigan.tensor(np.random.default_rng(0).uniform(-1, 1, (8, 1, 28, 28)).astype(np.float32))
    metrics = style_gan_step(G, D, g_opt, d_opt, real)
    assert all(np.isfinite(v.item()) for v in metrics.values())
    moved = [name for name, p in G.named_parameters() if not np.array_equal(p.numpy(), before[name])]
    assert "const.weight" in moved and any(name.startswith("mapping") for name in moved)
    assert any(name.endswith("noise.weight") for name in moved)


def test_mixing_grid_puts_sources_on_the_edges():
    G = small_style(dtype=np.float64)
    rows, columns = minigan.randn(2, 8).double(), minigan.randn(3, 8).double()
    cells = mixing_grid(G, rows, columns, crossover=4)
    assert cells.shape == (12, 1, 28, 28) and np.all(cells[0] == -1)  # (2 + 1) x (3 + 1), a blank corner
    with minigan.no_grad():
        np.testing.assert_allclose(cells[1:4], G(columns).numpy(), atol=1e-12)
        np.testing.assert_allclose(cells[[4, 8]], G(rows).numpy(), atol=1e-12)
        np.testing.assert_allclose(cells[6], G.mix(rows[:1], columns[1:2], 4).numpy()[0], atol=1e-12)


def test_mixing_agreement_counts_whose_digit_the_classifier_names():
    """All layers from A names A's digit every time; none from A names B's."""
    G = small_style()
    classifier = minigan.classifier.pretrained()
    all_a = mixing_agreement(G, classifier, pairs=40, crossover=6, seed=0)
    none_a = mixing_agreement(G, classifier, pairs=40, crossover=0, seed=0)
    assert all_a["pairs_used"] == none_a["pairs_used"] > 0
    assert all_a["coarse_share"] == 1.0 and all_a["fine_share"] == 0.0
    assert none_a["coarse_share"] == 0.0 and none_a["fine_share"] == 1.0


# -- progressive growing ------------------------------------------------------------------------------
from minigan.gan.progressive import (GrowthSchedule, ProgressiveDiscriminator, ProgressiveGenerator,  # noqa: E402
                                     blended_reals, progressive_step)


def test_growth_schedule_stabilises_fades_and_stays_at_28():
    s = GrowthSchedule(100)
    assert [s.at(t) for t in (0, 99)] == [(0, 1.0), (0, 1.0)]  # stabilise 7
    assert [s.at(t) for t in (100, 125, 199)] == [(1, 0.0), (1, 0.25), (1, 0.99)]  # fade in 14
    assert s.at(250) == (1, 1.0)  # stabilise 14
    assert [s.at(t) for t in (300, 350)] == [(2, 0.0), (2, 0.5)]  # fade in 28
    assert s.at(400) == s.at(10 ** 9) == (2, 1.0)
    with pytest.raises(ValueError, match="GrowthSchedule: phase_images must be a positive int, got 0"):
        GrowthSchedule(0)


def small_progressive(dtype=np.float64):
    minigan.manual_seed(0)
    return (ProgressiveGenerator(latent_dim=6, channels=(4, 3, 2), phase_images=10).to(dtype=dtype),
            ProgressiveDiscriminator(channels=(4, 3, 2)).to(dtype=dtype))


def test_a_fade_starting_at_alpha_0_is_exactly_the_smaller_network():
    """The point of the fade-in: the moment a block is added, neither player changes."""
    G, D = small_progressive()
    z = minigan.randn(4, 6).double()
    x = minigan.tensor(np.random.default_rng(0).uniform(-1, 1, (4, 1, 28, 28)))
    with minigan.no_grad():
        for level in (1, 2):
            np.testing.assert_allclose(G(z, level, 0.0).numpy(), G(z, level - 1, 1.0).numpy(), rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(D(x, level, 0.0).numpy(), D(x, level - 1, 1.0).numpy(), rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(blended_reals(x, level, 0.0).numpy(), blended_reals(x, level - 1, 1.0).numpy(),
                                       rtol=1e-12, atol=1e-12)
        small = G(z, 0, 1.0).numpy()
    assert small.shape == (4, 1, 28, 28)
    np.testing.assert_array_equal(small, small[:, :, ::4, ::4].repeat(4, axis=2).repeat(4, axis=3))  # a 7x7 image


def test_a_gradient_penalty_through_the_progressive_discriminator_gradchecks_mid_fade():
    """WGAN-GP's penalty differentiates D's input gradient with respect to D's weights: here
    |dD/dx|^2 at a fixed x, as a function of the new block's and the old path's weights, goes
    through the fade, the pooling, the minibatch stddev and the equalised layers."""
    _, D = small_progressive()
    x = minigan.tensor(np.random.default_rng(1).uniform(-1, 1, (2, 1, 28, 28)), requires_grad=True)

    def penalty(new_weight, old_weight):  # the Parameters themselves: gradcheck perturbs them in place
        with minigan.enable_grad():  # gradcheck's numeric side runs under no_grad; the penalty needs a graph
            (gx,) = minigan.grad(D(x, 2, 0.3).sum(), [x], create_graph=True)
            return (gx * gx).sum()

    assert minigan.gradcheck(penalty, [D.from_image[2][0].weight, D.from_image[1][0].weight])


def test_progressive_step_grows_counts_and_leaves_ungrown_blocks_alone():
    G, D = small_progressive(np.float32)
    g_opt, d_opt = (optim.Adam(m.parameters(), lr=1e-3, betas=(0.0, 0.99)) for m in (G, D))
    real = minigan.tensor(np.random.default_rng(2).uniform(-1, 1, (8, 1, 28, 28)).astype(np.float32))
    metrics = progressive_step(G, D, g_opt, d_opt, real)
    assert G.seen() == 8 and (metrics["level"].item(), metrics["alpha"].item()) == (0.0, 1.0)
    assert G.blocks[0][1].weight.grad is None and D.blocks[1][0].weight.grad is None  # not grown yet: no Adam state
    assert len(g_opt.state) < len(list(G.parameters()))
    progressive_step(G, D, g_opt, d_opt, real)
    assert G.progress() == (1, 0.6)  # 16 images: fading in 14
    progressive_step(G, D, g_opt, d_opt, real)
    assert G.blocks[0][1].weight.grad is not None and D.blocks[1][0].weight.grad is None  # 14 grown, not 28
    fresh, _ = small_progressive(np.float32)
    fresh.load_state_dict(G.state_dict())
    assert fresh.seen() == 24 and fresh.progress() == (1, 1.0)  # the growth is saved with G


# -- the VAE --------------------------------------------------------------------------------------------
from minigan.gan import vae as V  # noqa: E402


def test_gaussian_kl_is_the_closed_form_and_zero_at_the_prior():
    rng = np.random.default_rng(0)
    mu, logvar = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    expected = np.mean(np.sum(0.5 * (np.exp(logvar) + mu ** 2 - 1 - logvar), axis=1))
    assert V.gaussian_kl(minigan.tensor(mu), minigan.tensor(logvar)).item() == pytest.approx(expected, rel=1e-12)
    assert V.gaussian_kl(minigan.zeros(4, 2).double(), minigan.zeros(4, 2).double()).item() == 0.0
    assert minigan.gradcheck(V.gaussian_kl, [minigan.tensor(mu, requires_grad=True),
                                             minigan.tensor(logvar, requires_grad=True)])


def test_reparameterize_samples_the_posterior_and_passes_gradients():
    minigan.manual_seed(0)
    n = 20_000
    mu = minigan.full((n, 1), 2.0, dtype=np.float64, requires_grad=True)
    logvar = minigan.full((n, 1), np.log(0.25), dtype=np.float64, requires_grad=True)
    z = V.reparameterize(mu, logvar)
    values = z.numpy()
    assert abs(values.mean() - 2.0) < 5 * 0.5 / np.sqrt(n) and abs(values.std() - 0.5) < 5 * 0.5 / np.sqrt(2 * n)
    g_mu, g_logvar = minigan.grad(z.sum(), [mu, logvar])
    np.testing.assert_allclose(g_mu.numpy(), 1.0)
    np.testing.assert_allclose(g_logvar.numpy(), 0.5 * (values - 2.0), rtol=1e-12, atol=1e-15)  # dz/dlogvar = sigma eps / 2


def test_bernoulli_reconstruction_is_the_summed_cross_entropy():
    rng = np.random.default_rng(1)
    logits, images = rng.normal(size=(3, 1, 28, 28)), rng.uniform(-1, 1, (3, 1, 28, 28))
    p, t = 1 / (1 + np.exp(-logits)), (images + 1) / 2
    expected = np.mean(np.sum(-(t * np.log(p) + (1 - t) * np.log(1 - p)), axis=(1, 2, 3)))
    got = V.bernoulli_reconstruction(minigan.tensor(logits), minigan.tensor(images)).item()
    assert got == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_vae_steps_lower_the_negative_elbo_on_a_batch(arch):
    minigan.manual_seed(0)
    model = V.build_vae(arch, latent_dim=4)
    real = minigan.tensor(minigan.classifier.embedded_digits()[0][:16])
    decoder_opt, encoder_opt = (optim.Adam(m.parameters(), lr=2e-3) for m in (model.decoder, model.encoder))
    first = V.vae_step(model, decoder_opt, encoder_opt, real)
    for _ in range(15):
        last = V.vae_step(model, decoder_opt, encoder_opt, real)
    assert last["loss"].item() < 0.8 * first["loss"].item()
    assert last["loss"].item() == pytest.approx(last["reconstruction"].item() + last["kl"].item(), rel=1e-6)
    samples = model.decoder(minigan.randn(5, 4))
    assert samples.shape == (5, 1, 28, 28) and -1 <= samples.numpy().min() and samples.numpy().max() <= 1
    with pytest.raises(ValueError, match=r"expected images \(N, 1, 28, 28\), got \(5, 784\)"):
        model.encode(minigan.zeros(5, 784))


# -- steering z by a classifier -------------------------------------------------------------------------
from minigan.gan.latent import steer, typicality_penalty  # noqa: E402


def test_the_typicality_penalty_is_smallest_on_the_shell_of_radius_sqrt_d_minus_1():
    direction = np.random.default_rng(0).normal(size=(1, 16))
    direction /= np.linalg.norm(direction)
    value = lambda r: typicality_penalty(minigan.tensor(direction * r)).item()
    shell = np.sqrt(15)
    assert value(shell) < value(shell * 0.9) and value(shell) < value(shell * 1.1)
    z = minigan.tensor(direction * shell, requires_grad=True)
    np.testing.assert_allclose(minigan.grad(typicality_penalty(z), [z])[0].numpy(), 0.0, atol=1e-12)
    assert minigan.gradcheck(typicality_penalty, minigan.tensor(direction * 3.0, requires_grad=True))


def linear_world(latent=10):
    """G paints z into an image with a fixed matrix; the "classifier" reads it back: logits = z."""
    rng = np.random.default_rng(0)
    paint = rng.normal(size=(784, latent))
    G = nn.Sequential(nn.Linear(latent, 784, bias=False), nn.Unflatten(1, (1, 28, 28)))
    C = nn.Sequential(nn.Flatten(), nn.Linear(784, 10, bias=False))
    G[0].weight.array[...] = paint
    C[1].weight.array[...] = np.linalg.pinv(paint)  # pinv(P) P = I
    return G.double(), C.double()


def test_steering_reaches_the_requested_class_and_keeps_the_z_that_did():
    G, C = linear_world()
    rng = np.random.default_rng(3)
    z, targets = minigan.tensor(rng.normal(size=(40, 10))), minigan.tensor(rng.integers(0, 10, 40))
    result = steer(G, C, z, targets, steps=100, lr=0.1)
    assert result["reached"].all()
    final = result["z"].numpy()
    np.testing.assert_array_equal(final.argmax(axis=1), targets.numpy())  # logits = z here
    at_start = z.numpy().argmax(axis=1) == targets.numpy()
    assert at_start.any() and np.all(result["steps_taken"][at_start] == 0)
    np.testing.assert_array_equal(final[at_start], z.numpy()[at_start])  # named at the start: never moved
    assert np.all(result["steps_taken"][~at_start] > 0)


def test_steering_without_stopping_records_every_step_and_leaves_the_models_alone():
    G, C = linear_world()
    before = [p.numpy().copy() for p in list(G.parameters()) + list(C.parameters())]
    z, targets = minigan.tensor(np.zeros((2, 10)) + 0.1), minigan.tensor(np.array([3, 7]))
    result = steer(G, C, z, targets, steps=5, record_every=1, stop_when_named=False)
    assert [step for step, _ in result["path"]] == [0, 1, 2, 3, 4, 5]
    assert result["path"][0][1].shape == (2, 1, 28, 28)
    for p, old in zip(list(G.parameters()) + list(C.parameters()), before):
        np.testing.assert_array_equal(p.numpy(), old)
        assert p.grad is None
    with pytest.raises(ValueError, match=r"steer: expected z \(N, latent_dim\) and targets \(N,\), got \(2, 10\) and "
                                         r"\(3,\)"):
        steer(G, C, z, minigan.tensor(np.array([1, 2, 3])))
