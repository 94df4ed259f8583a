"""The generator-design examples of issue #18 run end to end on a few images: their files,
their resume, their measurements, and the same code on the strict "sim" stand-in for a GPU
(``--device sim``, what ``--device cuda`` runs)."""
import json
import pathlib

import numpy as np
import pytest

import minigan
from helpers import grid_size, load_example, png_size
from minigan.classifier import pretrained
from minigan.gan.checkpoints import load_generator
from minigan.gan.stylegan import mixing_agreement

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"
TINY = ["--limit", "64", "--batch-size", "32", "--log-every", "1"]  # 2 steps an epoch





@pytest.fixture(autouse=True)
def offline_data(tmp_path, monkeypatch):
    """No downloads in tests: an empty data folder, so the embedded 10k sample is used."""
    monkeypatch.setenv("MINIGAN_DATA", str(tmp_path / "no-data"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(minigan.data.MNIST, "mirrors", ("http://127.0.0.1:9/",), raising=False)


def _rows(out):
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_style_mixing_draws_the_grid_and_measures_every_crossover(tmp_path, capsys):
    out = tmp_path / "style"
    load_example("style_mixing").main(TINY + ["--epochs", "1", "--pairs", "30", "--out", str(out)])
    assert png_size(out / "mixing.png") == png_size(out / "mixing_epoch_001.png") == grid_size(7, 7)
    results = json.loads((out / "mixing.json").read_text())
    assert [r["crossover"] for r in results] == [1, 2, 3, 4, 5]
    for r in results:
        assert 0 <= r["pairs_used"] <= 30
        if r["pairs_used"]:
            assert 0 <= r["coarse_share"] <= 1 and 0 <= r["fine_share"] <= 1
            assert r["coarse_share"] + r["fine_share"] <= 1  # a mix named as A is not also named as B
    assert "classifier names the coarse source's digit" in capsys.readouterr().out
    G, _, _ = load_generator(out / "checkpoint.npz")  # as bench/generator_design.py measures a run
    classifier = pretrained()  # (building it draws its initial weights: before the seed)
    minigan.manual_seed(0)
    again = mixing_agreement(G, classifier, 30, 4, seed=0)
    assert again == results[3]  # the script's figures are reproducible from its checkpoint
    load_example("sample").main([str(out / "checkpoint.npz"), "--n", "4", "--out", str(tmp_path / "s.npy")])
    assert np.load(tmp_path / "s.npy").shape == (4, 1, 28, 28)


def test_style_mixing_refuses_a_crossover_past_its_layers(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        load_example("style_mixing").main(TINY + ["--crossover", "6", "--out", str(tmp_path / "x")])
    assert stop.value.code == 2 and "--crossover 6: the generator has 6 layers" in capsys.readouterr().err


def test_a_progressive_run_grows_and_resumes_exactly(tmp_path):
    """The growth is in G's state: a run stopped mid-fade continues at the same stage, to the
    same bits as a straight run."""
    script = load_example("progressive_gan")
    grow = TINY + ["--phase-images", "48"]  # 64 images an epoch: the resumed epoch 2 starts fading in 14
    script.main(grow + ["--epochs", "2", "--out", str(tmp_path / "straight")])
    script.main(grow + ["--epochs", "1", "--out", str(tmp_path / "resumed")])
    script.main(["--epochs", "2", "--resume", "--out", str(tmp_path / "resumed")])
    a, b = (minigan.load(tmp_path / name / "checkpoint.npz")["trainer"] for name in ("straight", "resumed"))
    for part in ("generator", "discriminator"):
        for key in a[part]:
            np.testing.assert_array_equal(a[part][key].numpy(), b[part][key].numpy(), err_msg=key)
    assert int(a["generator"]["images_seen"].item()) == 128
    steps = [json.loads(line) for line in (tmp_path / "resumed" / "steps.jsonl").read_text().splitlines()]
    # steps at 0, 32, 64, 96 images seen; phases of 48: stabilise 7 (0-47), fade in 14 (48-95), stabilise 14
    assert [(s["level"], round(s["alpha"], 3)) for s in steps] == [(0, 1), (0, 1), (1, 0.333), (1, 1)]
    assert png_size(tmp_path / "straight" / "samples.png") == grid_size(8, 8)


@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_vae_trains_and_its_decoder_samples(tmp_path, arch):
    out = tmp_path / arch
    load_example("vae").main(TINY + ["--epochs", "1", "--arch", arch, "--latent-dim", "4", "--out", str(out)])
    row = _rows(out)[0]
    assert row["loss"] == pytest.approx(row["reconstruction"] + row["kl"], rel=1e-5) and row["kl"] >= 0
    assert png_size(out / "samples.png") == grid_size(8, 8)
    load_example("sample").main([str(out / "checkpoint.npz"), "--n", "6", "--out", str(tmp_path / "s.npy")])
    images = np.load(tmp_path / "s.npy")
    assert images.shape == (6, 1, 28, 28) and images.min() >= -1 and images.max() <= 1


@pytest.fixture(scope="module")
def tiny_gan(tmp_path_factory):
    """One step of the default DCGAN, shared by the steering tests (what G draws does not matter
    to them: steering works on any G)."""
    out = tmp_path_factory.mktemp("gan")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MINIGAN_DATA", str(out / "no-data"))
        patch.setattr(minigan.data.MNIST, "mirrors", ("http://127.0.0.1:9/",), raising=False)
        load_example("mnist_gan").main(["--limit", "32", "--batch-size", "32", "--epochs", "1", "--out", str(out / "run")])
    return out / "run" / "checkpoint.npz"


def test_steer_z_measures_requests_and_draws_the_path(tmp_path, capsys, tiny_gan):
    out = tmp_path / "steer"
    load_example("steer_z").main([str(tiny_gan), "--requests", "12", "--batch-size", "8", "--steps", "3",
                           "--path-steps", "2", "--out", str(out)])
    result = json.loads((out / "steering.json").read_text())
    assert result["requests"] == 12 and 0 <= result["already_at_start"] <= result["reached"] <= 1
    assert png_size(out / "steering.png") == grid_size(10, 4)  # steps 0, 1, 2 and the first step named
    assert "of 12 requests named as asked within 3 steps" in capsys.readouterr().out


def test_steer_z_refuses_a_conditional_generator(tmp_path, capsys):
    run = tmp_path / "cgan"
    load_example("conditional_gan").main(["--limit", "32", "--batch-size", "32", "--epochs", "1", "--out", str(run)])
    with pytest.raises(SystemExit) as stop:
        load_example("steer_z").main([str(run / "checkpoint.npz"), "--out", str(tmp_path / "steer")])
    assert stop.value.code == 2 and "takes the digit as an input already" in capsys.readouterr().err


@pytest.mark.parametrize("script, flags", [
    ("mnist_gan", ["--arch", "dcgan-resize"]),
    ("style_mixing", ["--pairs", "4"]),
    ("progressive_gan", ["--phase-images", "8"]),  # 16 images: the step at 8 seen fades in 14
    ("vae", []),
])
def test_the_examples_run_their_cuda_code_on_the_sim_device(tmp_path, script, flags):
    """--device sim takes the array-module path --device cuda takes (minigan/sim.py: any
    silent trip through NumPy raises). Each epoch row records its CPU seconds."""
    out = tmp_path / script
    load_example(script).main(["--limit", "16", "--batch-size", "8", "--epochs", "1", "--device", "sim", "--out", str(out),
                        *flags])
    checkpoint = minigan.load(out / "checkpoint.npz")
    row = _rows(out)[0]
    assert all(np.isfinite(v) for k, v in row.items() if isinstance(v, float)) and row["cpu_seconds"] > 0
    if script == "mnist_gan":  # the resize generator: no (in, out, 4, 4) transposed-conv weight
        assert checkpoint["config"]["arch"] == "dcgan-resize"
        assert not any(k.endswith("weight") and v.ndim == 4 and v.shape[2:] == (4, 4)
                       for k, v in checkpoint["trainer"]["generator"].items())


def test_steer_z_runs_on_the_sim_device(tmp_path, tiny_gan):
    load_example("steer_z").main([str(tiny_gan), "--requests", "4", "--steps", "2", "--path-steps", "1",
                           "--device", "sim", "--out", str(tmp_path / "steer")])
    assert json.loads((tmp_path / "steer" / "steering.json").read_text())["requests"] == 4
