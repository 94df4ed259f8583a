"""The toy games: mixture samplers, the VEEGAN/PacGAN mode-coverage score, and the two scripts."""
import importlib.util
import itertools
import json
import pathlib
import struct
import sys

import numpy as np
import pytest

import minigan
from minigan import optim
from minigan.gan import GANTrainer, get_loss
from minigan.gan.toy import (Affine, Packed, UniformNoiseTrainer, decay_learning_rate, grid_centers,
                             grid_of_gaussians, mode_coverage, nearest_mode, ring_centers, ring_of_gaussians,
                             toy_mlp)

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _offsets(samples, centers):
    """Each sample minus its nearest centre, and the index of that centre."""
    index = np.linalg.norm(samples[:, None] - centers[None], axis=2).argmin(axis=1)
    return samples - centers[index], index


# ---------------------------------------------------------------- centres and samplers

def test_ring_centers_lie_on_the_circle_evenly_spaced():
    centers = ring_centers(8, radius=2.0)
    assert centers.shape == (8, 2)
    np.testing.assert_allclose(np.linalg.norm(centers, axis=1), 2.0)
    gaps = np.linalg.norm(centers - np.roll(centers, 1, axis=0), axis=1)
    np.testing.assert_allclose(gaps, 2 * 2.0 * np.sin(np.pi / 8))  # chord of 2 pi / 8
    np.testing.assert_allclose(centers.sum(axis=0), 0.0, atol=1e-12)


def test_grid_centers_are_the_literature_lattice():
    expected = {(float(i), float(j)) for i, j in itertools.product(range(-4, 5, 2), repeat=2)}
    assert {tuple(c) for c in grid_centers().tolist()} == expected
    assert {tuple(c) for c in grid_centers(2, spacing=1.0).tolist()} == {(-.5, -.5), (-.5, .5), (.5, -.5), (.5, .5)}


@pytest.mark.parametrize("sampler, centers, std", [
    (ring_of_gaussians, ring_centers(), 0.01),
    (grid_of_gaussians, grid_centers(), 0.05),
])
def test_sampler_statistics(sampler, centers, std):
    n = 40_000
    samples = sampler(n, rng=np.random.default_rng(0))
    assert samples.shape == (n, 2) and samples.dtype == np.float32
    offsets, index = _offsets(samples.astype(np.float64), centers)
    # each component is N(centre, std^2 I): zero mean, std per coordinate, uncorrelated
    np.testing.assert_allclose(offsets.mean(axis=0), 0.0, atol=4 * std / np.sqrt(n))
    np.testing.assert_allclose(offsets.std(axis=0), std, rtol=0.03)
    assert abs(np.corrcoef(offsets.T)[0, 1]) < 0.03
    # equal weights: every mode gets 1/k of the samples, within 5 binomial standard errors
    k = len(centers)
    counts = np.bincount(index, minlength=k)
    assert np.all(np.abs(counts - n / k) < 5 * np.sqrt(n * (1 / k) * (1 - 1 / k)))


def test_sampler_parameters_and_seeding():
    ring = ring_of_gaussians(5000, modes=3, radius=4.0, std=0.1, rng=1, dtype=np.float64)
    assert ring.dtype == np.float64
    np.testing.assert_allclose(np.linalg.norm(ring, axis=1).mean(), 4.0, atol=0.02)
    assert len(np.unique(_offsets(ring, ring_centers(3, 4.0))[1])) == 3
    np.testing.assert_array_equal(ring_of_gaussians(10, rng=7), ring_of_gaussians(10, rng=7))
    rng = np.random.default_rng(7)
    assert not np.array_equal(ring_of_gaussians(10, rng=rng), ring_of_gaussians(10, rng=rng))  # one stream
    grid = grid_of_gaussians(2000, side=3, spacing=10.0, std=0.0, rng=0)
    assert {tuple(p) for p in grid.tolist()} <= {tuple(c) for c in grid_centers(3, 10.0).tolist()}


def test_sampler_errors_name_the_function():
    with pytest.raises(ValueError, match="ring_centers.*modes=0"):
        ring_of_gaussians(4, modes=0)
    with pytest.raises(ValueError, match="grid_centers.*spacing=-1"):
        grid_of_gaussians(4, spacing=-1)
    with pytest.raises(ValueError, match="mixture_sample.*std=-0.1"):
        ring_of_gaussians(4, std=-0.1)


# ---------------------------------------------------------------- mode coverage

CENTERS = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])


def test_all_samples_at_one_mode_cover_one_mode():
    samples = np.tile([[1.0, 0.0]], (50, 1)) + 0.001 * np.random.default_rng(0).standard_normal((50, 2))
    assert mode_coverage(samples, CENTERS, std=0.01) == (1, 1.0)


def test_samples_at_every_mode_cover_all_of_them():
    assert mode_coverage(np.repeat(CENTERS, 4, axis=0), CENTERS, std=0.01) == (3, 1.0)
    ring = ring_of_gaussians(2500, rng=3)
    modes, quality = mode_coverage(ring, ring_centers(), 0.01)
    # ||offset||^2 / std^2 is chi-square with 2 degrees of freedom: P(<= 9) = 1 - exp(-4.5)
    assert modes == 8 and abs(quality - (1 - np.exp(-4.5))) < 0.01


def test_far_samples_are_not_high_quality_and_cover_nothing():
    far = np.array([[10.0, 10.0], [-7.0, 3.0], [0.5, 0.5]])
    assert mode_coverage(far, CENTERS, std=0.05) == (0, 0.0)


def test_a_low_quality_sample_does_not_cover_its_nearest_mode():
    samples = np.array([[0.0, 0.0], [0.0, 0.0], [0.9, 0.0], [0.0, 0.2]])  # the last two are > 3 std off
    assert mode_coverage(samples, CENTERS, std=0.01) == (1, 0.5)


def test_boundary_at_exactly_three_std_counts_as_high_quality():
    # 1.5 = 3 * 0.5 exactly in binary floating point; a hair further out is not high quality
    assert mode_coverage(np.array([[1.5, 0.0]]), np.zeros((1, 2)), std=0.5) == (1, 1.0)
    assert mode_coverage(np.array([[0.0, -1.5]]), np.zeros((1, 2)), std=0.5) == (1, 1.0)
    assert mode_coverage(np.array([[np.nextafter(1.5, 2.0), 0.0]]), np.zeros((1, 2)), std=0.5) == (0, 0.0)


def test_nearest_mode_and_coverage_inputs():
    index, distance = nearest_mode(np.array([[0.9, 0.1], [0.1, 0.8]]), CENTERS)
    np.testing.assert_array_equal(index, [1, 2])
    np.testing.assert_allclose(distance, [np.hypot(0.1, 0.1), np.hypot(0.1, 0.2)])
    assert mode_coverage(np.zeros((0, 2)), CENTERS, std=0.1) == (0, 0.0)
    with pytest.raises(ValueError, match=r"nearest_mode: samples \(4, 3\) and centers \(3, 2\)"):
        mode_coverage(np.zeros((4, 3)), CENTERS, std=0.1)
    with pytest.raises(ValueError, match="mode_coverage: std must be > 0, got 0"):
        mode_coverage(np.zeros((4, 2)), CENTERS, std=0)


# ---------------------------------------------------------------- training helpers

def test_packed_discriminator_sees_groups_of_samples():
    minigan.manual_seed(0)
    inner = toy_mlp(6, 1, hidden=8)
    packed = Packed(inner, 3)
    x = minigan.randn(12, 2)
    out = packed(x)
    assert out.shape == (4, 1)
    np.testing.assert_allclose(out.numpy(), inner(x.reshape(4, 6)).numpy())
    assert set(dict(packed.named_parameters())) == {"discriminator." + k for k, _ in inner.named_parameters()}
    with pytest.raises(ValueError, match=r"Packed: input of shape \(10, 2\).*pack=3"):
        packed(minigan.randn(10, 2))
    with pytest.raises(ValueError, match="pack must be >= 1"):
        Packed(inner, 0)


def test_affine_is_a_fixed_map_that_standardises_and_back():
    standardise, restore = Affine(1 / 0.5, -4.0 / 0.5), Affine(0.5, 4.0)
    x = minigan.tensor(np.array([[3.0], [4.0], [5.5]], dtype=np.float32), requires_grad=True)
    u = standardise(x)
    np.testing.assert_allclose(u.numpy(), [[-2.0], [0.0], [3.0]])  # (x - 4) / 0.5
    np.testing.assert_allclose(restore(u).numpy(), x.numpy())
    assert list(standardise.parameters()) == []
    u.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2.0)


def test_toy_mlp_shapes():
    net = toy_mlp(2, 1, hidden=16, layers=3)
    assert sum(isinstance(m, minigan.nn.Linear) for m in net.modules()) == 4
    assert net(minigan.randn(5, 2)).shape == (5, 1)
    with pytest.raises(ValueError, match="toy_mlp"):
        toy_mlp(2, 1, layers=0)


def test_decay_learning_rate_is_linear_to_the_floor():
    opt = optim.Adam(toy_mlp(1, 1, hidden=2).parameters(), lr=1.0)
    assert [decay_learning_rate(opt, 2e-3, p, final_fraction=0.1) for p in (0.0, 0.5, 1.0, 1.5)] == \
        pytest.approx([2e-3, 1.1e-3, 2e-4, 2e-4])
    assert opt.param_groups[0]["lr"] == pytest.approx(2e-4)


def test_uniform_noise_trainer_draws_from_the_unit_interval():
    G, D = toy_mlp(3, 1, hidden=4), toy_mlp(1, 1, hidden=4)
    trainer = UniformNoiseTrainer(G, D, optim.Adam(G.parameters()), optim.Adam(D.parameters()),
                                  get_loss("minimax"), latent_dim=3)
    z = trainer.sample_z(4000).numpy()
    assert z.shape == (4000, 3) and z.min() >= 0 and z.max() < 1
    assert abs(z.mean() - 0.5) < 0.02 and abs(z.var() - 1 / 12) < 0.005  # U[0, 1): mean 1/2, var 1/12
    assert isinstance(trainer, GANTrainer) and trainer.step(minigan.rand(8, 1))["d_loss"].shape == ()


# ---------------------------------------------------------------- the scripts, end to end

def test_toy1d_script_writes_its_figure_and_table(tmp_path, capsys):
    snapshots = _load("toy1d_gan").main(["--steps", "8", "--warmup", "2", "--seed", "3", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert len(snapshots) == 4 and [s["step"] for s in snapshots] == [0, 1, 2, 8]
    assert "mean|D-1/2|" in out and out.count("\n  (") >= 4
    for s in snapshots:
        assert 0 <= s["d_gap"] <= 0.5 and np.all((s["d"] >= 0) & (s["d"] <= 1))
        assert np.all(np.isfinite(s["p_g"])) and s["w1"] >= 0
    figure = tmp_path / "toy1d_gan.png"
    if importlib.util.find_spec("matplotlib"):
        assert figure.read_bytes().startswith(b"\x89PNG")
    else:
        assert "matplotlib is not installed" in out


def test_toy1d_script_without_matplotlib_prints_a_note(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    _load("toy1d_gan").main(["--steps", "2", "--warmup", "1", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "matplotlib is not installed" in out and "W1" in out
    assert not (tmp_path / "toy1d_gan.png").exists()


def test_toy2d_script_scores_each_game_and_keeps_frames(tmp_path, capsys):
    games = ["wgan-gp", "hinge:pack2"]  # a critic with its penalty, and a packed discriminator
    rows = _load("toy2d_gan").main(["--quick", "--steps", "6", "--batch-size", "16", "--jobs", "1",
                                    "--losses", *games, "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert [r["game"] for r in rows] == games and all(r["seeds"] == 1 for r in rows)
    for r in rows:
        assert 0 <= r["modes_mean"] <= 8 and 0 <= r["hq_mean"] <= 100
        assert r["game"] in out
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["dataset"] == "ring" and len(saved["runs"]) == 2
    for game in games:
        frame = tmp_path / f"ring_{game.replace(':', '_')}.png"
        assert frame.read_bytes().startswith(b"\x89PNG")


def test_toy2d_frames_without_matplotlib_are_density_images(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    toy2d = _load("toy2d_gan")
    toy2d.main(["--seeds", "2", "--steps", "10", "--batch-size", "8", "--jobs", "1", "--dataset", "grid",
                "--losses", "lsgan", "--out", str(tmp_path)])
    png = (tmp_path / "grid_lsgan.png").read_bytes()
    assert png.startswith(b"\x89PNG")
    width, height = struct.unpack(">II", png[16:24])  # IHDR: a row per seed, a column per stage
    assert (width, height) == (4 * 98 + 2, 2 * 98 + 2)  # 96-pixel images, 2-pixel padding
    image = toy2d.density_image(np.array([[0.0, 0.0]] * 9 + [[1.0, 1.0]]), half=2.0, pixels=4)
    assert image.shape == (4, 4) and image.min() == -1.0 and image.max() == 1.0
    assert image[1, 2] == -1.0 and -1.0 < image[0, 3] < 1.0  # (0, 0) is darkest; (1, 1) is top right


def test_toy2d_rejects_a_bad_game():
    toy2d = _load("toy2d_gan")
    with pytest.raises(ValueError, match="unknown GAN loss 'vanilla'"):
        toy2d.parse_game("vanilla")
    with pytest.raises(Exception, match="LOSS:packN"):
        toy2d.parse_game("hinge:pak2")
    assert toy2d.parse_game("non_saturating:pack4") == ("non-saturating", 4)
