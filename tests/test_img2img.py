"""The image-to-image GANs (#17): CycleGAN's domains and image pool, the damage the restoration
games undo (holes, low resolution), the numbers that judge them (accuracy, Frechet distance,
PSNR) on inputs whose answer is known, and each example script end to end on a tiny run."""
import json
import pathlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigan
from minigan import functional as F
from minigan import nn
from minigan.classifier import embedded_digits, pretrained
from minigan.gan import cyclegan as C
from minigan.gan import img2img as I
from minigan.gan import restoration as R
from minigan.gan.scripts import Players
from minigan.metrics import REFERENCE_SIZE
from helpers import grid_size, load_example, png_size

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


# -- CycleGAN's transformation T ----------------------------------------------------------------------
def test_domain_b_inverts_the_ink_and_may_turn_a_quarter_counter_clockwise():
    a = np.array([[[[1.0, 2.0], [3.0, 4.0]]]], dtype=np.float32)
    np.testing.assert_array_equal(C.to_domain_b(a), -a)
    # a quarter turn counter-clockwise: the top row becomes the left column, read upwards
    np.testing.assert_array_equal(C.to_domain_b(a, "invert-rotate"), -np.array([[[[2.0, 4.0], [1.0, 3.0]]]]))
    with pytest.raises(ValueError, match="cyclegan: transform must be one of invert, invert-rotate, got 'flip'"):
        C.to_domain_b(a, "flip")


@given(st.integers(1, 3), st.integers(1, 5), st.integers(0, 2 ** 31 - 1), st.sampled_from(C.TRANSFORMS))
def test_from_domain_b_undoes_to_domain_b(n, side, seed, transform):
    a = np.random.default_rng(seed).uniform(-1, 1, (n, 1, side, side)).astype(np.float32)
    np.testing.assert_array_equal(C.from_domain_b(C.to_domain_b(a, transform), transform), a)
    np.testing.assert_array_equal(C.to_domain_b(C.from_domain_b(a, transform), transform), a)
    assert C.to_domain_b(a, transform).flags.c_contiguous


# -- the image pool ------------------------------------------------------------------------------------
def _batch(start, n, device):
    """n images (1 x 1 x 1) holding start, start + 1, ...: each one's value names it."""
    return minigan.tensor(np.arange(start, start + n, dtype=np.float32).reshape(n, 1, 1, 1), device=device)


def test_image_pool_fills_then_swaps_about_half(device):
    minigan.manual_seed(0)
    pool = C.ImagePool(size=6)
    first = _batch(0, 4, device)
    np.testing.assert_array_equal(pool.query(first).numpy(), first.numpy())  # filling: the new images themselves
    shown = pool.query(_batch(4, 4, device)).numpy().ravel()
    np.testing.assert_array_equal(shown[:2], [4, 5])  # the last two places of the pool
    swapped = 0
    for k in range(50):
        before = set(pool.images.numpy().ravel())
        new = np.arange(100 + 10 * k, 108 + 10 * k)
        shown = pool.query(_batch(new[0], 8, device)).numpy().ravel()
        after = pool.images.numpy().ravel()
        for image, out in zip(new, shown):
            assert out == image or out in before  # D sees the new image or one of the stored ones
        old = shown[shown < new[0]]
        swapped += old.size
        # every stored image D is shown leaves the pool, and only new images D was not shown enter it
        assert after.shape == (6,) and not set(old) & set(after)
        assert set(after) - before <= set(new) - set(shown) and len(set(after) - before) <= old.size
    assert 0.35 < swapped / 400 < 0.65  # each swapped with probability 1/2


def test_image_pool_of_size_zero_passes_the_batch_and_round_trips(tmp_path):
    fakes = _batch(0, 3, "cpu")
    assert C.ImagePool(0).query(fakes).numpy().tolist() == fakes.numpy().tolist()
    pool = C.ImagePool(4)
    empty = C.ImagePool(4)
    empty.load_state_dict(pool.state_dict(), "cpu")
    assert empty.images is None
    pool.query(_batch(0, 3, "cpu"))
    copy = C.ImagePool(1)
    copy.load_state_dict(pool.state_dict(), "cpu")
    assert copy.size == 4 and copy.images.numpy().ravel().tolist() == [0, 1, 2]


@pytest.mark.parametrize("downsamplings", [0, 1, 2])
def test_resnet_generator_keeps_the_image_size(downsamplings):
    G = C.ResnetGenerator(width=2, blocks=1, downsamplings=downsamplings)
    out = G(minigan.tensor(np.zeros((2, 1, 28, 28), dtype=np.float32))).numpy()
    assert out.shape == (2, 1, 28, 28) and np.abs(out).max() <= 1
    convs = [m for m in G.modules() if isinstance(m, nn.Conv2d) and m.stride == (2, 2)]
    assert len(convs) == downsamplings


def test_cyclegan_step_trains_all_four_players(device):
    minigan.manual_seed(0)
    G, D = C.CycleGenerators(width=2, blocks=1).to(device), C.CycleDiscriminators(width=2).to(device)
    players = C.CyclePlayers(G, D, minigan.optim.Adam(G.parameters(), lr=1e-2),
                             minigan.optim.Adam(D.parameters(), lr=1e-2), pool_size=2)
    before = {name: p.numpy().copy() for name, p in [*G.named_parameters(), *D.named_parameters()]}
    a, b = (minigan.tensor(np.random.default_rng(k).uniform(-1, 1, (3, 1, 28, 28)).astype(np.float32),
                           device=device) for k in (1, 2))
    metrics = C.cyclegan_step(players, a, b, cycle_weight=10.0, identity_weight=0.5)
    assert {"g_loss", "d_loss", "cycle", "identity", "d_a", "d_b"} <= metrics.keys()
    assert all(np.isfinite(float(v.item())) for v in metrics.values())
    for name, p in [*G.named_parameters(), *D.named_parameters()]:
        if name.endswith("weight") and p.ndim == 4:  # every convolution moved
            assert not np.array_equal(p.numpy(), before[name]), name
    assert players.pools["a"].images.shape[0] == 2


# -- the damage ---------------------------------------------------------------------------------------
def test_masks_are_the_squares_asked_for(device):
    center = R.center_mask(2, hole=4, size=8)
    assert center.sum() == 2 * 16 and center[0, 0, 2:6, 2:6].all()
    corners = np.array([[0, 0], [4, 1], [2, 4]])
    masks = R.square_masks(minigan.backend.to_device(corners, minigan.backend.Device(device)), hole=4, size=8)
    expected = np.zeros((3, 1, 8, 8), dtype=np.float32)
    for k, (row, col) in enumerate(corners):
        expected[k, 0, row:row + 4, col:col + 4] = 1
    np.testing.assert_array_equal(minigan.backend.to_numpy(masks), expected)
    minigan.manual_seed(0)
    random = R.random_masks(50, 5, device).numpy()
    assert (random.sum(axis=(1, 2, 3)) == 25).all()  # one whole square inside each image
    np.testing.assert_array_equal(R.held_out_masks(4, 5, "random", seed=3), R.held_out_masks(4, 5, "random", seed=3))


def test_with_hole_and_fill_hole():
    images = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    masks = R.center_mask(1, hole=2, size=4)
    inputs = R.with_hole(images, masks)
    assert inputs.shape == (1, 2, 4, 4) and (inputs[0, 0][masks[0, 0] == 1] == 0).all()
    np.testing.assert_array_equal(inputs[0, 1], masks[0, 0])
    np.testing.assert_array_equal(inputs[:, :1] + images * masks, images)
    tensor_inputs = R.with_hole(minigan.tensor(images), minigan.tensor(masks)).numpy()
    np.testing.assert_array_equal(tensor_inputs, inputs)
    filled = R.fill_hole(images, masks, -1.0)
    assert (filled[masks == 1] == -1).all() and (filled[masks == 0] == images[masks == 0]).all()


def test_downsample_averages_each_two_by_two_block():
    images = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    expected = [[[[2.5, 4.5], [10.5, 12.5]]]]
    np.testing.assert_array_equal(R.downsample(images), expected)
    np.testing.assert_array_equal(R.downsample(minigan.tensor(images)).numpy(), expected)


def test_super_resolver_doubles_the_side_with_either_upsampler():
    for upsample in R.UPSAMPLERS:
        G = R.SuperResolver(width=4, blocks=1, upsample=upsample)
        assert G(minigan.zeros(2, 1, 14, 14)).shape == (2, 1, 28, 28)
    with pytest.raises(ValueError, match="SuperResolver: upsample must be one of"):
        R.SuperResolver(upsample="bicubic")


def test_restoration_step_keeps_the_plain_copy_free_of_the_game():
    """The plain copy's step is the same whatever the GAN loss's weight: its gradient comes
    from its content loss alone."""
    real = minigan.tensor(np.random.default_rng(0).uniform(-1, 1, (4, 1, 28, 28)).astype(np.float32))
    weights = {}
    for weight in (0.0, 1.0):
        minigan.manual_seed(0)
        G = R.TwinGenerators(lambda: R.SuperResolver(width=4, blocks=1))
        D = R.ImageDiscriminator(width=4)
        players = Players(G, D, minigan.optim.Adam(G.parameters(), lr=1e-2),
                                              minigan.optim.Adam(D.parameters(), lr=1e-2))
        R.restoration_step(players, R.downsample(real), real, lambda g, low: g(low), F.mse_loss,
                           weight)
        weights[weight] = ({k: v.numpy() for k, v in G.plain.state_dict().items()},
                           {k: v.numpy() for k, v in G.adversarial.state_dict().items()})
    for key, value in weights[0.0][0].items():
        np.testing.assert_array_equal(value, weights[1.0][0][key], err_msg=key)
    assert any(not np.array_equal(v, weights[1.0][1][k]) for k, v in weights[0.0][1].items())


# -- the measures -------------------------------------------------------------------------------------
def test_psnr_on_known_errors():
    originals = np.zeros((2, 1, 4, 4), dtype=np.float32)
    assert I.psnr(originals + 0.1, originals) == pytest.approx(10 * np.log10(4 / 0.01))
    assert I.psnr(originals, originals) == float("inf")
    assert I.psnr(originals + 2, originals) == pytest.approx(0.0)  # the error as large as the whole range


def test_accuracy_and_frechet_distance_on_known_inputs():
    images, labels = I.held_out_digits(200)
    predicted = I.apply(pretrained(), images).argmax(axis=1)
    assert I.accuracy(images, predicted) == 1.0
    assert I.accuracy(images, (predicted + 1) % 10) == 0.0
    assert I.accuracy(images, labels) == np.mean(predicted == labels) > 0.9
    reference, _ = embedded_digits()
    # the reference digits themselves are at distance 0 (up to rounding); real held-out digits
    # are close, the same digits with their ink inverted far
    assert abs(I.frechet_to_real(reference[:REFERENCE_SIZE])) < 1e-6
    near, far = I.frechet_to_real(images), I.frechet_to_real(-images)
    assert 0 < near < 20 and far > 10 * near


@pytest.mark.parametrize("transform", C.TRANSFORMS)
def test_label_preservation_of_the_exact_translation_is_the_classifiers_accuracy(transform):
    """Generators that are T and T^-1 themselves keep every label the classifier reads."""
    class Exactly(nn.Module):
        def __init__(self, transform):
            super().__init__()
            self.transform = transform

        def forward(self, x):
            return minigan.tensor(self.transform(x.numpy()))

    generators = nn.Module()
    generators.ab = Exactly(lambda x: C.to_domain_b(x, transform))
    generators.ba = Exactly(lambda x: C.from_domain_b(x, transform))
    images, labels = I.held_out_digits(100)
    found = C.label_preservation(generators, images, labels, transform=transform)
    assert found["a_to_b_accuracy"] == found["b_to_a_accuracy"] == I.accuracy(images, labels)
    assert found["cycle_l1"] == 0
    rows = C.translation_grid(generators, images[:3], C.to_domain_b(images[3:6], transform))
    np.testing.assert_array_equal(rows[6:9], images[:3])  # a's reconstruction
    np.testing.assert_array_equal(rows[12:15], images[3:6])  # b's translation back to A


def test_training_and_held_out_digits_are_disjoint():
    train, _ = I.training_digits()
    held, _ = I.held_out_digits()
    everything, _ = embedded_digits()
    assert len(train) + len(held) == len(everything) == 10_000
    np.testing.assert_array_equal(np.concatenate([train, held]), everything)
    assert len(I.training_set(100)) == 100


# -- the example scripts end to end ---------------------------------------------------------------------



TINY = ["--limit", "64", "--epochs", "1", "--batch-size", "32", "--log-every", "1", "--width", "4",
        "--eval-digits", "100"]
SMALLER = {"cyclegan": ["--blocks", "1", "--pool-size", "12"], "inpainting": [], "super_resolution": ["--blocks", "1"]}
SCRIPTS = [
    ("cyclegan", "translations", 6, ["a_to_b_accuracy", "b_to_a_accuracy", "cycle_l1"]),
    ("inpainting", "completions", 4,
     [f"{name}_{measure}" for name in ("masked", "l2", "gan", "original") for measure in ("accuracy", "frechet")]),
    ("super_resolution", "upscaled", 5,
     [f"{name}_{measure}" for name in ("bilinear", "content", "adversarial") for measure in ("psnr", "accuracy",
                                                                                            "frechet")]),
]


@pytest.mark.parametrize("script, grid, rows, measured", SCRIPTS, ids=[s[0] for s in SCRIPTS])
def test_script_trains_draws_measures_and_saves_on_the_strict_device(script, grid, rows, measured, tmp_path):
    """One epoch on the "sim" stand-in for CuPy (so the --device cuda path), with the grid,
    the epoch's measures in metrics.jsonl and the checkpoint."""
    out = tmp_path / script
    load_example(script).main(TINY + SMALLER[script] + ["--device", "sim", "--out", str(out)])
    assert png_size(out / f"{grid}_epoch_001.png") == png_size(out / f"{grid}.png") == grid_size(rows, 10)
    row = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    for name in measured:
        assert np.isfinite(row[name]), name
    assert all(0 <= row[name] <= 1 for name in measured if name.endswith("accuracy"))
    assert {"generator", "discriminator"} <= minigan.load(out / "checkpoint.npz")["trainer"].keys()


@pytest.mark.parametrize("script", ["cyclegan", "inpainting"])
def test_script_resumes_exactly(script, tmp_path):
    """Stopped after epoch 1 and resumed, a run ends as a straight one: weights, the image
    pools (CycleGAN; --pool-size 12 fills in the first epoch and swaps in the second), the data
    order and the random masks (inpainting --mask random)."""
    module = load_example(script)
    flags = TINY[2:] + SMALLER[script] + (["--limit", "32"] if script == "cyclegan" else
                                          ["--limit", "32", "--mask", "random"])
    flags[flags.index("--batch-size") + 1] = "8" if script == "cyclegan" else "32"  # two steps an epoch
    module.main(flags + ["--epochs", "2", "--out", str(tmp_path / "straight")])
    module.main(flags + ["--out", str(tmp_path / "resumed")])
    module.main(["--resume", "--epochs", "2", "--out", str(tmp_path / "resumed")])
    a, b = (minigan.load(tmp_path / name / "checkpoint.npz")["trainer"] for name in ("straight", "resumed"))
    for part in ("generator", "discriminator"):
        for key in a[part]:
            np.testing.assert_array_equal(a[part][key].numpy(), b[part][key].numpy(), err_msg=key)
    if script == "cyclegan":
        for name in "ab":
            np.testing.assert_array_equal(a["pools"][name]["images"].numpy(), b["pools"][name]["images"].numpy())
