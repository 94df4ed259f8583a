"""minigan.gan.runs: a run's folder and its rules (divergence guard, snapshots, overwrite and
resume, logs consistent with the checkpoint, stopping on a signal), on a tiny model; and
minigan.cli's option helpers. The example scripts' use of them is in test_examples.py."""
import argparse
import json
import os
import signal

import numpy as np
import pytest

import minigan
from minigan import nn, optim
from minigan.cli import UsageError, given_options, positive_int
from minigan.data import ArrayDataset, DataLoader
from minigan.gan import DivergenceError, NonFiniteLossError
from minigan.gan.runs import Run, RunError, RunStopped, non_finite_value, resumed_config

BATCHES = 4  # per epoch


class Tiny:
    """A linear model trained to map x to 2x, with hooks to break it at a given step."""

    def __init__(self, seed=0):
        minigan.manual_seed(seed)
        self.model = nn.Linear(3, 3)
        self.optimizer = optim.Adam(self.model.parameters(), lr=1e-2)
        self.loader = DataLoader(ArrayDataset(np.random.default_rng(0).standard_normal((4 * BATCHES, 3))
                                              .astype(np.float32)), batch_size=4, shuffle=True, seed=seed)
        self.steps, self.sabotage = 0, {}  # {step: function(model)} applied after that step

    def step(self, x):
        loss = ((self.model(x) - 2 * x) ** 2).mean()
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.steps += 1
        if self.steps in self.sabotage:
            self.sabotage[self.steps](self.model)
        return {"d_loss": loss.detach()}

    def state(self):
        return {"config": {"lr": 1e-2}, "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "loader": self.loader.state_dict(), "rng": minigan.backend.rng_state()}

    def restore(self, checkpoint):
        self.model.load_state_dict(checkpoint["model"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.loader.load_state_dict(checkpoint["loader"])
        minigan.backend.set_rng_state(checkpoint["rng"])
        self.steps = checkpoint["step"]


def train(out, epochs, tiny=None, keep=3, resume=None, overwrite=False, log_every=2, stop_at=None):
    """The loop of the example scripts, on the tiny model; ``stop_at``: (step, signal) sent to
    this process after that step."""
    tiny = tiny or Tiny()
    run = Run(out, keep=keep)
    with run.stop_signals():
        checkpoint = run.open(resume, overwrite)
        if checkpoint:
            tiny.restore(checkpoint)
        run.track(tiny.loader, tiny.model)
        for epoch in run.epochs(epochs):
            for (x,) in tiny.loader:
                run.record(tiny.step(x), log_every)
                if stop_at and run.step in stop_at:
                    os.kill(os.getpid(), stop_at[run.step])
                run.stop_if_asked(tiny.state)
            rows = run.end_epoch()
            run.finish_epoch({"epoch": epoch, "step": run.step, "steps_in_epoch": len(rows)}, tiny.state)
    return tiny, run


def lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def weights(tiny):
    return [p.numpy().copy() for p in tiny.model.parameters()]


# -- snapshots --------------------------------------------------------------------------------------
@pytest.mark.parametrize("keep, kept", [(2, [4, 5]), (0, []), (9, [1, 2, 3, 4, 5])])
def test_the_last_keep_epoch_snapshots_stay_on_disk(tmp_path, keep, kept):
    train(tmp_path, 5, keep=keep)
    snapshots = sorted(p.name for p in tmp_path.glob("checkpoint_epoch_*.npz"))
    assert snapshots == [f"checkpoint_epoch_{e:03d}.npz" for e in kept]
    for epoch in kept:
        snapshot = minigan.load(tmp_path / f"checkpoint_epoch_{epoch:03d}.npz")
        assert snapshot["epoch"] == epoch and snapshot["step"] == epoch * BATCHES
    assert minigan.load(tmp_path / "checkpoint.npz")["epoch"] == 5
    assert [row["epoch"] for row in lines(tmp_path / "metrics.jsonl")] == [1, 2, 3, 4, 5]


# -- divergence -------------------------------------------------------------------------------------
def _set_weight(value):
    def sabotage(model):
        model.weight.array[0, 0] = value
    return sabotage


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # the NaN and inf are planted
@pytest.mark.parametrize("value, match", [
    (5e3, r"step 7: a weight reached 5e\+03, past max_weight=1000"),
    (float("inf"), r"step 7: a weight reached inf"),
    (float("nan"), r"step 7: a weight reached nan"),
])
def test_a_weight_past_the_bound_or_not_finite_stops_the_run_at_its_step(tmp_path, value, match):
    tiny = Tiny()
    train(tmp_path, 1, tiny)
    good = (tmp_path / "checkpoint.npz").read_bytes()
    tiny.sabotage = {7: _set_weight(value)}
    with pytest.raises(DivergenceError, match=match + r": training diverged and stopped\. The last good checkpoint is "
                                                      r"\S+checkpoint\.npz \(epoch 1, step 4\); snapshots of epoch 1\. "
                                                      r"Lower the learning rate, or resume from one of them"):
        train(tmp_path, 3, tiny, resume="checkpoint.npz", log_every=100)  # found at the epoch's end, named exactly
    assert (tmp_path / "checkpoint.npz").read_bytes() == good
    assert [row["epoch"] for row in lines(tmp_path / "metrics.jsonl")] == [1]


def test_a_diverged_fresh_run_says_nothing_was_saved(tmp_path):
    tiny = Tiny()
    tiny.sabotage = {1: _set_weight(1e6)}
    with pytest.raises(DivergenceError, match=r"step 1: .* No checkpoint was saved in \S+ yet\. Lower the learning "
                                              r"rate and start again with --overwrite"):
        train(tmp_path, 2, tiny)
    assert not (tmp_path / "checkpoint.npz").exists()


def test_a_non_finite_loss_is_named_with_its_step(tmp_path):
    tiny = Tiny()
    real_step = tiny.step
    tiny.step = lambda x: {"d_loss": real_step(x)["d_loss"] * float("inf")}
    with pytest.raises(NonFiniteLossError, match=r"step 1: d_loss is inf"):
        train(tmp_path, 1, tiny)


def test_a_state_with_a_non_finite_value_is_never_saved(tmp_path):
    """Weights fine, but an optimizer moment overflowed: the epoch's checkpoint is refused."""
    tiny = Tiny()
    train(tmp_path, 1, tiny)
    good = (tmp_path / "checkpoint.npz").read_bytes()
    tiny.sabotage = {8: lambda model: _poison_optimizer(tiny.optimizer)}
    with pytest.raises(DivergenceError, match=r"step 8: optimizer/state/\S+ is not finite: training diverged and "
                                              r"stopped, and this state was not saved\. The last good checkpoint is "
                                              r"\S+ \(epoch 1, step 4\)"):
        train(tmp_path, 2, tiny, resume="checkpoint.npz")
    assert (tmp_path / "checkpoint.npz").read_bytes() == good
    assert not (tmp_path / "checkpoint_epoch_002.npz").exists()


def _poison_optimizer(optimizer):
    """Put an infinity into the first float array of the optimizer's state."""
    for state in optimizer.state.values():
        for value in state.values():
            if isinstance(value, np.ndarray) and value.dtype.kind == "f":
                value.reshape(-1)[0] = np.inf
                return
    raise AssertionError("no optimizer state to poison")


def test_the_weight_gauge_stays_on_the_device_until_the_flush(tmp_path):
    """The divergence guard costs no host copy per step: one copy per flush, as before."""
    from minigan import sim
    model = nn.Linear(3, 3).to("sim")
    run = Run(tmp_path)
    run.track(DataLoader(ArrayDataset(np.zeros((40, 3), np.float32)), batch_size=4, device="sim"), model)
    loss = minigan.zeros((), device="sim")
    sim.reset_transfers()
    for _ in range(3):
        assert run.record({"d_loss": loss}, log_every=4) == []
    assert sim.transfers == {"to_host": 0, "to_device": 0}
    rows = run.record({"d_loss": loss}, log_every=4)
    assert sim.transfers["to_host"] == 1 and [step for step, _ in rows] == [1, 2, 3, 4]
    largest = max(float(np.abs(p.numpy()).max()) for p in model.parameters())
    assert rows[-1][1]["weight_max"] == largest  # float32 values, compared in float64: exact


def test_non_finite_value_names_the_path():
    state = {"a": [1.0, {"b": minigan.tensor([1.0, float("nan")])}], "c": np.arange(3)}
    assert non_finite_value(state) == "a/1/b"
    assert non_finite_value({"x": float("-inf")}) == "x"
    assert non_finite_value({"x": minigan.ones(2), "n": 3, "s": "nan"}) is None


# -- overwrite, resume, consistent logs ------------------------------------------------------------
def test_a_folder_holding_a_run_is_refused_unless_overwrite(tmp_path):
    train(tmp_path, 2)
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(RunError, match=r"already holds a run \(checkpoint\.npz, checkpoint_epoch_001\.npz, "
                                       r"checkpoint_epoch_002\.npz, metrics\.jsonl, \.\.\.\): continue it with "
                                       "--resume, start it again with --overwrite, or choose another --out"):
        train(tmp_path, 1)
    train(tmp_path, 1, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.npz", "checkpoint_epoch_001.npz",
                                                          "metrics.jsonl", "notes.txt", "steps.jsonl"]
    assert [row["epoch"] for row in lines(tmp_path / "metrics.jsonl")] == [1]


def test_resume_without_a_checkpoint_or_from_a_foreign_file_is_a_run_error(tmp_path):
    with pytest.raises(RunError, match=r"there is no \S+checkpoint\.npz to resume from"):
        train(tmp_path, 1, resume="checkpoint.npz")
    minigan.save({"model": {}}, tmp_path / "other.npz")
    with pytest.raises(RunError, match=r"other\.npz holds no training state to resume"):
        train(tmp_path, 1, resume="other.npz")


def test_a_crash_between_the_logs_and_the_checkpoint_leaves_no_duplicate_rows(tmp_path, monkeypatch):
    straight, _ = train(tmp_path / "straight", 3)
    crashed = tmp_path / "crashed"
    train(crashed, 1)
    real_save = minigan.gan.runs.save

    def crash_at_epoch_2(state, path):
        if state["epoch"] == 2:
            raise OSError("No space left on device (simulated)")
        real_save(state, path)

    monkeypatch.setattr(minigan.gan.runs, "save", crash_at_epoch_2)
    with pytest.raises(OSError, match="simulated"):
        train(crashed, 3, resume="checkpoint.npz")
    assert [row["epoch"] for row in lines(crashed / "metrics.jsonl")] == [1, 2]  # the row is written first
    monkeypatch.setattr(minigan.gan.runs, "save", real_save)
    resumed, _ = train(crashed, 3, resume="checkpoint.npz")
    assert [row["epoch"] for row in lines(crashed / "metrics.jsonl")] == [1, 2, 3]
    assert [row["step"] for row in lines(crashed / "steps.jsonl")] == list(range(1, 3 * BATCHES + 1))
    assert lines(crashed / "steps.jsonl") == lines(tmp_path / "straight" / "steps.jsonl")
    for a, b in zip(weights(straight), weights(resumed)):
        np.testing.assert_array_equal(a, b)


def test_a_log_line_torn_by_a_crash_is_dropped_on_resume(tmp_path):
    train(tmp_path / "straight", 2)
    train(tmp_path / "torn", 1)
    with open(tmp_path / "torn" / "steps.jsonl", "a") as f:
        f.write('{"step": 5, "d_lo')  # the process died mid-line
    train(tmp_path / "torn", 2, resume="checkpoint.npz")
    assert lines(tmp_path / "torn" / "steps.jsonl") == lines(tmp_path / "straight" / "steps.jsonl")


def test_resuming_from_an_older_snapshot_drops_the_abandoned_future(tmp_path):
    train(tmp_path, 4)
    train(tmp_path, 4, resume="checkpoint_epoch_002.npz")  # the same run again from epoch 2
    assert [row["epoch"] for row in lines(tmp_path / "metrics.jsonl")] == [1, 2, 3, 4]
    assert [row["step"] for row in lines(tmp_path / "steps.jsonl")] == list(range(1, 4 * BATCHES + 1))
    with pytest.raises(UsageError, match=r"--epochs 2 is fewer than the 4 epochs the run in \S+ has already done"):
        train(tmp_path, 2, resume="checkpoint.npz")


def test_resumed_config_keeps_the_saved_values_and_names_a_conflict():
    saved = {"lr": 2e-4, "betas": [0.5, 0.999], "limit": None}
    assert resumed_config(saved, {"lr": 0.0002, "betas": (0.5, 0.999)}, "c.npz") == saved
    assert resumed_config(saved, {"data_dir": "/data"}, "c.npz") == {**saved, "data_dir": "/data"}  # older files
    with pytest.raises(UsageError, match=r"--lr 0\.001 conflicts with the run being resumed, which has 0\.0002 "
                                         r"\(c\.npz\); leave --lr out to continue the run"):
        resumed_config(saved, {"lr": 1e-3}, "c.npz")
    with pytest.raises(UsageError, match=r"--limit 96 conflicts with the run being resumed, which has \(none\)"):
        resumed_config(saved, {"limit": 96}, "c.npz")


# -- signals ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_mid_epoch_saves_that_step_and_resume_continues_exactly(tmp_path, signum):
    straight, _ = train(tmp_path / "straight", 2)
    stopped, handler = tmp_path / "stopped", signal.getsignal(signum)
    with pytest.raises(RunStopped, match=rf"stopped by {signum.name} at step 6 \(epoch 2, batch 2 of 4\); saved "
                                         r"\S+checkpoint\.npz: continue with --resume") as caught:
        train(stopped, 2, stop_at={6: signum})
    assert caught.value.exit_code == 128 + signum
    checkpoint = minigan.load(stopped / "checkpoint.npz")
    assert (checkpoint["epoch"], checkpoint["step"], checkpoint["loader"]["batches_served"]) == (1, 6, 2)
    assert len(lines(stopped / "steps.jsonl")) == 6
    assert signal.getsignal(signum) is handler  # the run's handler is gone again
    resumed, _ = train(stopped, 2, resume="checkpoint.npz")
    for a, b in zip(weights(straight), weights(resumed)):
        np.testing.assert_array_equal(a, b)
    assert lines(stopped / "steps.jsonl") == lines(tmp_path / "straight" / "steps.jsonl")
    assert lines(stopped / "metrics.jsonl") == lines(tmp_path / "straight" / "metrics.jsonl")


def test_a_signal_at_the_last_batch_saves_the_whole_epoch(tmp_path):
    with pytest.raises(RunStopped, match=r"stopped by SIGTERM at the end of epoch 1 \(step 4\)"):
        train(tmp_path, 3, stop_at={4: signal.SIGTERM})
    assert minigan.load(tmp_path / "checkpoint.npz")["epoch"] == 1
    assert (tmp_path / "checkpoint_epoch_001.npz").exists()


def test_a_second_signal_stops_at_once_and_says_what_is_on_disk(tmp_path):
    tiny = Tiny()
    train(tmp_path, 1, tiny)
    tiny.sabotage = {6: lambda model: os.kill(os.getpid(), signal.SIGTERM)}  # during the step, before the check

    with pytest.raises(RunStopped, match=r"stopped at once by a second SIGTERM, nothing more saved\. The last good "
                                         r"checkpoint is \S+ \(epoch 1, step 4\)"):
        train(tmp_path, 2, tiny, resume="checkpoint.npz", stop_at={6: signal.SIGTERM})
    assert minigan.load(tmp_path / "checkpoint.npz")["step"] == 4


# -- command-line helpers ------------------------------------------------------------------------
def test_given_options_are_those_typed_not_the_defaults():
    def parser():
        p = argparse.ArgumentParser()
        p.add_argument("--lr", type=float, default=2e-4)
        p.add_argument("--name", default="x")
        p.add_argument("--flag", action="store_true")
        p.add_argument("--n", type=positive_int, default=3)
        return p
    assert given_options(parser(), []) == set()
    assert given_options(parser(), ["--lr", "2e-4", "--flag"]) == {"lr", "flag"}
    assert given_options(parser(), ["--name", "x", "--n", "3"]) == {"name", "n"}
