"""The example scripts run end to end on a few images, write their files, and resume exactly."""
import importlib.util
import json
import pathlib
import re

import numpy as np
import pytest

import minigan

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"
TINY = ["--limit", "96", "--batch-size", "32", "--log-every", "2"]


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def mnist_gan():
    return _load("mnist_gan")


@pytest.fixture(autouse=True)
def offline_data(tmp_path, monkeypatch):
    """No downloads in tests: an empty data folder, so the embedded 10k sample is used."""
    monkeypatch.setenv("MINIGAN_DATA", str(tmp_path / "no-data"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(minigan.data.MNIST, "mirrors", ("http://127.0.0.1:9/",), raising=False)


def test_cli_writes_samples_metrics_and_checkpoint(mnist_gan, tmp_path, capsys):
    out = tmp_path / "run"
    mnist_gan.main(TINY + ["--epochs", "1", "--out", str(out)])
    notes = [line for line in capsys.readouterr().out.splitlines() if "10,000-digit sample" in line]
    assert len(notes) == 1  # offline, the embedded sample is used and said so in one line
    assert (out / "samples_epoch_001.png").read_bytes().startswith(b"\x89PNG")
    line = json.loads((out / "metrics.jsonl").read_text().splitlines()[0])
    assert line["epoch"] == 1 and line["step"] == 3
    assert np.isfinite(line["d_loss"]) and np.isfinite(line["g_loss"])
    checkpoint = minigan.load(out / "checkpoint.npz")
    assert checkpoint["epoch"] == 1 and checkpoint["config"]["arch"] == "dcgan"
    assert len((out / "steps.jsonl").read_text().splitlines()) == 3


@pytest.mark.parametrize("loss", sorted(minigan.gan.LOSSES))
def test_every_game_trains_end_to_end_on_mnist(mnist_gan, tmp_path, loss):
    """A few steps on 256 real digits: finite losses, and every weight of G and D moved."""
    out = tmp_path / loss
    mnist_gan.main(["--limit", "256", "--batch-size", "64", "--epochs", "1", "--loss", loss,
                    "--n-critic", "2", "--out", str(out)])
    line = json.loads((out / "metrics.jsonl").read_text())
    assert all(np.isfinite(line[k]) for k in ("d_loss", "g_loss", "d_real", "d_fake"))
    assert ("wasserstein" in line) != minigan.gan.get_loss(loss).probabilistic
    minigan.manual_seed(0)  # the run's seed: build() then gives the initial weights again
    initial = minigan.gan.build("dcgan", loss)
    trained = minigan.load(out / "checkpoint.npz")["trainer"]
    for model, state in zip(initial, (trained["generator"], trained["discriminator"])):
        for name, p in model.named_parameters():
            if name.endswith("weight") and p.ndim > 1:
                assert not np.array_equal(p.numpy(), state[name].numpy()), f"{loss}: {name} did not move"


def test_resume_gives_the_same_weights_as_a_straight_run(mnist_gan, tmp_path):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    mnist_gan.main(TINY + ["--epochs", "2", "--out", str(straight)])
    mnist_gan.main(TINY + ["--epochs", "1", "--out", str(resumed)])
    mnist_gan.main(TINY + ["--epochs", "2", "--resume", "--out", str(resumed)])
    a = minigan.load(straight / "checkpoint.npz")["trainer"]
    b = minigan.load(resumed / "checkpoint.npz")["trainer"]
    for model in ("generator", "discriminator"):
        assert a[model].keys() == b[model].keys()
        for key in a[model]:
            np.testing.assert_array_equal(a[model][key].numpy(), b[model][key].numpy(), err_msg=key)
    assert a["d_steps"] == b["d_steps"] == 6


def test_sample_script_writes_images_in_range(mnist_gan, tmp_path):
    out = tmp_path / "run"
    mnist_gan.main(TINY + ["--epochs", "1", "--arch", "mlp", "--out", str(out)])
    _load("sample").main([str(out / "checkpoint.npz"), "--n", "10", "--out", str(tmp_path / "s.npy")])
    images = np.load(tmp_path / "s.npy")
    assert images.shape == (10, 1, 28, 28) and images.dtype == np.float32
    assert images.min() >= -1 and images.max() <= 1
    assert (tmp_path / "s.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # the NaN is planted
def test_non_finite_loss_stops_training_and_keeps_the_last_checkpoint(mnist_gan, tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    mnist_gan.main(TINY + ["--epochs", "1", "--out", str(out)])
    before = (out / "checkpoint.npz").read_bytes()
    game = minigan.gan.get_loss("non-saturating")
    broken = type(game)(game.name, lambda r, f: game.d_loss(r, f) * float("nan"), game.g_loss, True)
    monkeypatch.setattr(mnist_gan, "get_loss", lambda name: broken)
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:
        mnist_gan.main(TINY + ["--epochs", "2", "--resume", "--out", str(out)])
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert stop.value.code == 1 and "Traceback" not in error
    assert re.search(r"error: step 4: d_loss is nan: training diverged and stopped\. The last good checkpoint is "
                     r"\S+checkpoint\.npz \(epoch 1, step 3\); snapshots of epoch 1\. Lower the learning rate", error)
    assert (out / "checkpoint.npz").read_bytes() == before
    with pytest.raises(minigan.gan.NonFiniteLossError, match="step 4: d_loss is nan"):  # --debug: the exception
        mnist_gan.main(TINY + ["--epochs", "2", "--resume", "--out", str(out), "--debug"])


def test_eval_every_scores_samples_into_metrics(mnist_gan, tmp_path):
    out = tmp_path / "run"
    mnist_gan.main(TINY + ["--epochs", "1", "--arch", "mlp", "--eval-every", "1", "--out", str(out)])
    line = json.loads((out / "metrics.jsonl").read_text())
    assert np.isfinite(line["frechet_distance"]) and 0 <= line["modes_covered"] <= 10
    assert len(line["class_histogram"]) == 10
    pytest.importorskip("matplotlib", reason="quality.png needs matplotlib")
    assert (out / "quality.png").read_bytes().startswith(b"\x89PNG")


def test_quality_plot_waits_for_the_first_evaluation(mnist_gan, tmp_path):
    pytest.importorskip("matplotlib", reason="quality.png needs matplotlib")
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text(json.dumps({"epoch": 1, "d_loss": 1.0}) + "\n")
    assert not mnist_gan.plot_quality(str(metrics), str(tmp_path / "quality.png"))
    with metrics.open("a") as f:
        for epoch, fd in ((2, 80.0), (4, 50.0)):
            f.write(json.dumps({"epoch": epoch, "frechet_distance": fd, "modes_covered": 10, "kl_to_uniform": 0.1}) + "\n")
    assert mnist_gan.plot_quality(str(metrics), str(tmp_path / "quality.png"))
    assert (tmp_path / "quality.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize("remedy", ["minibatch-stddev", "minibatch-discrimination"])
def test_remedies_are_selectable(mnist_gan, tmp_path, remedy):
    out = tmp_path / remedy
    mnist_gan.main(TINY + ["--epochs", "1", "--remedy", remedy, "--out", str(out)])
    checkpoint = minigan.load(out / "checkpoint.npz")
    assert checkpoint["config"]["remedy"] == remedy
    assert np.isfinite(json.loads((out / "metrics.jsonl").read_text())["d_loss"])
