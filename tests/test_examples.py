"""The example scripts run end to end on a few images, write their files, and resume exactly."""
import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import minigan
from helpers import load_example

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"
TINY = ["--limit", "96", "--batch-size", "32", "--log-every", "2"]



@pytest.fixture(scope="module")
def mnist_gan():
    return load_example("mnist_gan")


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
    load_example("sample").main([str(out / "checkpoint.npz"), "--n", "10", "--out", str(tmp_path / "s.npy")])
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


# -- runs that must not be lost (issue #14) --------------------------------------------------------
MLP = ["--limit", "32", "--batch-size", "16", "--log-every", "1", "--arch", "mlp"]  # 2 steps an epoch


@pytest.fixture
def no_plots(mnist_gan, monkeypatch):
    """losses.png costs more than these runs' steps; the tests above draw it."""
    monkeypatch.setattr(mnist_gan, "plot_losses", lambda history, path: True)


def _exit(main, argv, capsys) -> tuple:
    """(exit status, last stderr line) of a script run that must end in SystemExit."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:
        main(argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return stop.value.code, err.strip().splitlines()[-1]


def _trained(out) -> dict:
    state = minigan.load(out / "checkpoint.npz")["trainer"]
    return {f"{m}/{k}": v.numpy() for m in ("generator", "discriminator") for k, v in state[m].items()}


def _rows(path, drop=("seconds", "cpu_seconds", "images_per_s")) -> list:
    return [{k: v for k, v in json.loads(line).items() if k not in drop} for line in path.read_text().splitlines()]


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # lr 1e6 overflows, as it should
def test_a_learning_rate_far_too_large_stops_at_the_first_step_and_saves_nothing(mnist_gan, no_plots, tmp_path, capsys):
    code, line = _exit(mnist_gan.main, MLP + ["--epochs", "2", "--lr", "1e6", "--out", str(tmp_path)], capsys)
    assert code == 1
    assert re.search(r"error: step 1: a weight reached 1e\+06, past max_weight=1000: training diverged and stopped\. "
                     r"No checkpoint was saved in \S+ yet\. Lower the learning rate", line)
    assert not list(tmp_path.glob("checkpoint*.npz"))


def test_an_out_that_holds_a_run_needs_resume_or_overwrite(mnist_gan, no_plots, tmp_path, capsys):
    mnist_gan.main(MLP + ["--epochs", "2", "--out", str(tmp_path)])
    before = (tmp_path / "metrics.jsonl").read_text()
    code, line = _exit(mnist_gan.main, MLP + ["--epochs", "1", "--out", str(tmp_path)], capsys)
    assert code == 1 and re.search(r"already holds a run \(.*\): continue it with --resume, start it again with "
                                   "--overwrite", line)
    assert (tmp_path / "metrics.jsonl").read_text() == before
    mnist_gan.main(MLP + ["--epochs", "1", "--out", str(tmp_path), "--overwrite"])
    assert [row["epoch"] for row in _rows(tmp_path / "metrics.jsonl")] == [1]
    assert not (tmp_path / "samples_epoch_002.png").exists() and not (tmp_path / "checkpoint_epoch_002.npz").exists()


def test_resume_takes_the_saved_configuration_and_refuses_a_contradiction(mnist_gan, no_plots, tmp_path, capsys):
    flags = MLP + ["--lr", "1e-3", "--loss", "hinge"]
    mnist_gan.main(flags + ["--epochs", "2", "--out", str(tmp_path / "straight")])
    mnist_gan.main(flags + ["--epochs", "1", "--out", str(tmp_path / "resumed")])
    mnist_gan.main(["--resume", "--epochs", "2", "--out", str(tmp_path / "resumed")])  # nothing else given
    straight, resumed = _trained(tmp_path / "straight"), _trained(tmp_path / "resumed")
    for key in straight:
        np.testing.assert_array_equal(straight[key], resumed[key], err_msg=key)
    for flag, value, saved in (("--lr", "2e-4", "0.001"), ("--limit", "200", "32"), ("--loss", "wgan-gp", "hinge"),
                               ("--batch-size", "32", "16")):
        argv = ["--resume", "--epochs", "3", flag, value, "--out", str(tmp_path / "resumed")]
        code, line = _exit(mnist_gan.main, argv, capsys)
        shown = float(value) if flag == "--lr" else value
        assert code == 2 and f"error: {flag} {shown} conflicts with the run being resumed, which has {saved}" in line
    code, line = _exit(mnist_gan.main, ["--resume", "--epochs", "1", "--out", str(tmp_path / "resumed")], capsys)
    assert code == 2 and "--epochs 1 is fewer than the 2 epochs the run" in line
    mnist_gan.main(["--resume", "--epochs", "2", "--out", str(tmp_path / "resumed")])
    assert "nothing to do: the run in" in capsys.readouterr().out


def test_resume_refuses_other_data_than_the_run_trained_on(mnist_gan, no_plots, tmp_path, capsys):
    """E.g. a run on the full MNIST set whose files are gone: it would resume on the embedded sample."""
    mnist_gan.main(MLP + ["--epochs", "1", "--out", str(tmp_path)])
    checkpoint = minigan.load(tmp_path / "checkpoint.npz")
    minigan.save({**checkpoint, "dataset_size": 60000}, tmp_path / "checkpoint.npz")  # as if trained on 60,000
    code, line = _exit(mnist_gan.main, ["--resume", "--epochs", "2", "--out", str(tmp_path)], capsys)
    assert code == 1 and re.search(r"error: the run trained on 60000 images, but 32 are found now \(the embedded "
                                   r"10,000-digit sample\): give it the same data", line)


def test_a_crash_between_metrics_and_checkpoint_leaves_no_duplicate_rows(mnist_gan, no_plots, tmp_path, monkeypatch,
                                                                         capsys):
    mnist_gan.main(MLP + ["--epochs", "3", "--out", str(tmp_path / "straight")])
    out = tmp_path / "crashed"
    mnist_gan.main(MLP + ["--epochs", "1", "--out", str(out)])
    real_save = minigan.gan.runs.save
    monkeypatch.setattr(minigan.gan.runs, "save", lambda state, path: (_ for _ in ()).throw(
        OSError("No space left on device (simulated)")) if state["epoch"] == 2 else real_save(state, path))
    code, line = _exit(mnist_gan.main, ["--resume", "--epochs", "3", "--out", str(out)], capsys)
    assert code == 1 and line.endswith("error: No space left on device (simulated)")
    assert [row["epoch"] for row in _rows(out / "metrics.jsonl")] == [1, 2]  # epoch 2's row, not its checkpoint
    monkeypatch.setattr(minigan.gan.runs, "save", real_save)
    mnist_gan.main(["--resume", "--epochs", "3", "--out", str(out)])
    assert _rows(out / "metrics.jsonl") == _rows(tmp_path / "straight" / "metrics.jsonl")
    assert _rows(out / "steps.jsonl") == _rows(tmp_path / "straight" / "steps.jsonl")
    names = [sorted(p.name for p in folder.glob("checkpoint*")) for folder in (out, tmp_path / "straight")]
    assert names[0] == names[1]


def test_going_back_to_a_snapshot_continues_from_there(mnist_gan, no_plots, tmp_path):
    mnist_gan.main(MLP + ["--epochs", "3", "--out", str(tmp_path / "straight")])
    out = tmp_path / "back"
    mnist_gan.main(MLP + ["--epochs", "3", "--keep", "2", "--out", str(out)])
    assert sorted(p.name for p in out.glob("checkpoint_epoch_*")) == [f"checkpoint_epoch_00{e}.npz" for e in (2, 3)]
    mnist_gan.main(["--resume", "checkpoint_epoch_002.npz", "--epochs", "3", "--out", str(out)])
    straight, back = _trained(tmp_path / "straight"), _trained(out)
    for key in straight:
        np.testing.assert_array_equal(straight[key], back[key], err_msg=key)
    assert _rows(out / "steps.jsonl") == _rows(tmp_path / "straight" / "steps.jsonl")


OFFLINE_CHILD = """
import runpy, sys
sys.modules["matplotlib"] = None  # no plots: the child starts faster
import minigan.data
minigan.data.MNIST.mirrors = ("http://127.0.0.1:9/",)  # offline: the embedded sample
sys.argv = [sys.argv[1] + ".py"] + sys.argv[2:]
runpy.run_path(str(EXAMPLES / sys.argv[0]), run_name="__main__")
"""


@pytest.mark.skipif(os.name != "posix", reason="sends POSIX signals to a child process")
@pytest.mark.parametrize("script, signum, flags", [
    ("mnist_gan", signal.SIGTERM, ["--arch", "mlp", "--limit", "64", "--batch-size", "16", "--log-every", "3"]),
    ("conditional_gan", signal.SIGINT, ["--limit", "64", "--batch-size", "16", "--log-every", "3"]),
])
def test_a_signal_mid_training_saves_that_step_and_resume_is_bit_exact(tmp_path, monkeypatch, script, signum, flags):
    """A real training process gets the signal after its first epoch: it ends with one line, the
    exit status of that signal and a checkpoint at the step reached; resuming that checkpoint in
    this process gives the bits of a run that was never stopped."""
    out = tmp_path / "stopped"
    env = {**os.environ, "PYTHONPATH": str(EXAMPLES.parent), "PYTHONUNBUFFERED": "1"}
    child = subprocess.Popen([sys.executable, "-c", f"EXAMPLES = __import__('pathlib').Path({str(EXAMPLES)!r})"
                              + OFFLINE_CHILD, script] + flags + ["--epochs", "50", "--out", str(out)],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        for line in child.stdout:  # wait for the end of epoch 1, then let epoch 2 begin
            if line.startswith("epoch 1:"):
                break
        time.sleep(0.3)
        child.send_signal(signum)
        _, err = child.communicate(timeout=120)
    finally:
        child.kill()
    assert child.returncode == 128 + signum and "Traceback" not in err
    assert re.fullmatch(rf"{script}\.py: stopped by {signum.name} (at step \d+ \(epoch \d+, batch \d+ of \d+\)|at the "
                        rf"end of epoch \d+ \(step \d+\)); saved \S+checkpoint\.npz: continue with --resume",
                        err.strip().splitlines()[-1])
    checkpoint = minigan.load(out / "checkpoint.npz")
    assert checkpoint["epoch"] >= 1 and len((out / "steps.jsonl").read_text().splitlines()) == checkpoint["step"]
    epochs = str(checkpoint["epoch"] + 1)  # finish the epoch that was interrupted
    module = load_example(script)
    if script == "mnist_gan":
        monkeypatch.setattr(module, "plot_losses", lambda history, path: True)
    main = module.main
    main(["--resume", "--epochs", epochs, "--out", str(out)])
    main(flags + ["--epochs", epochs, "--out", str(tmp_path / "straight")])
    straight, resumed = _trained(tmp_path / "straight"), _trained(out)
    for key in straight:
        np.testing.assert_array_equal(straight[key], resumed[key], err_msg=key)
    assert _rows(out / "steps.jsonl") == _rows(tmp_path / "straight" / "steps.jsonl")
    assert _rows(out / "metrics.jsonl") == _rows(tmp_path / "straight" / "metrics.jsonl")


# -- the command line ----------------------------------------------------------------------------
@pytest.mark.parametrize("script, argv, message", [
    ("mnist_gan", ["--epochs", "0"], "argument --epochs: must be >= 1, got 0"),
    ("mnist_gan", ["--epochs", "-1"], "argument --epochs: must be >= 1, got -1"),
    ("mnist_gan", ["--batch-size", "0"], "argument --batch-size: must be >= 1, got 0"),
    ("mnist_gan", ["--limit", "0"], "argument --limit: must be >= 1, got 0"),
    ("mnist_gan", ["--log-every", "0"], "argument --log-every: must be >= 1, got 0"),
    ("mnist_gan", ["--lr", "nan"], "argument --lr: must be a finite number > 0, got nan"),
    ("mnist_gan", ["--betas", "1.5", "0.9"], r"argument --betas: must be in \[0, 1\), got 1\.5"),
    ("mnist_gan", ["--keep", "-1"], "argument --keep: must be >= 0, got -1"),
    ("mnist_gan", ["--max-weight", "0"], r"argument --max-weight: must be > 0 \(or inf\), got 0"),
    ("mnist_gan", ["--data-dir", "/no/such/minigan/dir"], "argument --data-dir: no such folder: /no/such/minigan/dir"),
    ("mnist_gan", ["--resume", "--overwrite"], "argument --overwrite: not allowed with argument --resume"),
    ("conditional_gan", ["--epochs", "0"], "argument --epochs: must be >= 1, got 0"),
    ("acgan", ["--aux-weight", "-1"], "argument --aux-weight: must be a finite number >= 0, got -1"),
    ("infogan", ["--log-every", "0"], "argument --log-every: must be >= 1, got 0"),
    ("sample", ["c.npz", "--n", "0"], "argument --n: must be >= 1, got 0"),
    ("sample", ["c.npz", "--label", "10"], "argument --label: invalid choice: 10"),
    ("latent", ["c.npz", "--steps", "1"], r"argument --steps: must be >= 2 \(the two endpoints\), got 1"),
    ("latent", ["c.npz", "--tau", "-1"], r"argument --tau: must be > 0 \(or inf\), got -1"),
    ("train_classifier", ["--lr", "0"], "argument --lr: must be a finite number > 0, got 0"),
    ("train_classifier", ["--out", "x.npz", "--install"], "argument --install: not allowed with argument --out"),
    ("toy1d_gan", ["--steps", "0"], "argument --steps: must be >= 1, got 0"),
    ("toy2d_gan", ["--jobs", "0"], "argument --jobs: must be >= 1, got 0"),
])
def test_bad_flags_are_argparse_errors(tmp_path, capsys, script, argv, message):
    code, line = _exit(load_example(script).main, argv + (["--out", str(tmp_path / "o")] if script == "mnist_gan" else []),
                       capsys)
    assert code == 2 and re.search("error: " + message, line)


@pytest.mark.parametrize("argv, message", [
    (["--limit", "10"], "--limit 10 is below --batch-size 64: not one full batch to train on"),
    (["--batch-size", "20000"], r"--batch-size 20000 is larger than the dataset \(10000 images\)"),
    (["--dataset", "fashion", "--eval-every", "1"], "--eval-every scores digits with an MNIST classifier"),
])
def test_choices_that_cannot_work_with_the_data_are_argparse_errors(mnist_gan, tmp_path, capsys, argv, message):
    code, line = _exit(mnist_gan.main, argv + ["--out", str(tmp_path)], capsys)
    assert code == 2 and re.search(r"usage|error: " + message, line) and message.split()[0] in line


def test_a_runtime_error_is_one_line_and_debug_shows_the_exception(tmp_path, capsys):
    sample = load_example("sample")
    code, line = _exit(sample.main, [str(tmp_path / "missing.npz")], capsys)
    assert code == 1 and re.fullmatch(r"\S+: error: load: no checkpoint file at \S+missing\.npz", line)
    with pytest.raises(FileNotFoundError, match="no checkpoint file"):
        sample.main([str(tmp_path / "missing.npz"), "--debug"])


def test_train_classifier_writes_into_the_package_only_with_install():
    script = load_example("train_classifier")
    package = pathlib.Path(minigan.__file__).parent.resolve()
    default = pathlib.Path(script.parse_args([]).out).resolve()
    assert package not in default.parents and default.parts[-3:] == ("runs", "classifier", "lenet_mnist.npz")
    assert pathlib.Path(script.parse_args(["--install"]).out) == minigan.classifier.WEIGHTS


def test_sample_grids_get_the_same_mode_as_the_other_outputs(tmp_path):
    minigan.utils.images.save_grid(np.zeros((4, 1, 8, 8)), tmp_path / "grid.png")
    (tmp_path / "other.txt").write_text("x")
    assert (tmp_path / "grid.png").stat().st_mode == (tmp_path / "other.txt").stat().st_mode
