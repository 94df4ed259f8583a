"""A training run's folder, and the rules that keep a good run from being lost.

A run writes into one folder (the scripts' ``--out``)::

    checkpoint.npz              the latest consistent state: the end of an epoch, or the step
                                at which a stop signal (Ctrl-C, SIGTERM) arrived
    checkpoint_epoch_NNN.npz    the last ``keep`` end-of-epoch snapshots, to go back to
    steps.jsonl                 one row of metrics per training step
    metrics.jsonl               one row per finished epoch

The rules, each against a way a run could be lost or spoiled:

- Nothing diverged is saved. Every flush of the metrics checks the losses and the largest
  weight (:class:`~minigan.gan.MetricsLog`): a NaN or infinite loss or weight, or a weight
  larger than ``max_weight`` in magnitude (:data:`MAX_WEIGHT`: trained GAN weights stay far
  below it, while a learning rate far too large sends them past it within a step or two),
  stops the run with :class:`DivergenceError` naming the step and the checkpoints really on
  disk. A state holding any non-finite float is never written.
- The checkpoint is the commit point. The logs are appended before it is written, and a
  resumed run first drops the log rows past its checkpoint: a crash between the two leaves no
  duplicate rows, and resuming from an older snapshot drops that abandoned future too.
- A folder holding a run is not written over unless asked (``overwrite``); ``--resume``
  continues it with its saved configuration (:func:`resumed_config`).
- Ctrl-C and SIGTERM let the step in progress finish, save a checkpoint there and stop with
  :class:`RunStopped`; a second signal stops at once (saves are atomic, so the checkpoint on
  disk stays whole).
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import signal
import threading
from pathlib import Path

import numpy as np

from .. import backend
from ..cli import UsageError
from ..files import temp_path
from ..io import load, save
from ..tensor import Tensor
from .trainer import DivergenceError, MetricsLog, largest_weight

CHECKPOINT = "checkpoint.npz"
SNAPSHOT = re.compile(r"checkpoint_epoch_(\d{3,})\.npz")
MAX_WEIGHT = 1e3  # |w| above this is divergence: DCGAN starts at std 0.02, trained weights stay below ~10
LOGS = ("steps.jsonl", "metrics.jsonl")


class RunError(RuntimeError):
    """A run that cannot go ahead as asked (a folder in use, nothing to resume); says what to do."""


class RunStopped(Exception):
    """Training stopped by a signal, after saving what there was to save. ``exit_code`` is
    128 + the signal's number, as a shell reports a process ended by it."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.exit_code = 128 + signum


class StopSignals:
    """While active (``with``), SIGINT and SIGTERM only set :attr:`received` (the signal's name),
    so the loop can stop at a step boundary; a second signal raises KeyboardInterrupt at once.
    A signal the process ignores (SIG_IGN, as for background jobs) stays ignored; outside the
    main thread nothing is installed."""

    def __init__(self):
        self.received, self.signum, self._previous = None, None, {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                if signal.getsignal(signum) is not signal.SIG_IGN:
                    self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.received is not None:
            raise KeyboardInterrupt
        self.received, self.signum = signal.Signals(signum).name, signum

    def __exit__(self, *exc):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}
        return False


class Run:
    """One training run in its folder ``out`` (see the module docstring).

    The scripts' loops use it this way::

        run = Run(out, keep=3)
        with run.stop_signals():
            checkpoint = run.open(resume=None, overwrite=False)  # None for a new run
            ... build models, optimizers, loader; restore them from checkpoint ...
            run.track(loader, G, D)
            run.stop_if_asked(state)  # a signal during the set-up
            for epoch in run.epochs(total):
                for real, labels in loader:
                    new_rows = run.record(step(real, labels), log_every)
                    run.stop_if_asked(state)  # saves here and raises RunStopped after a signal
                rows = run.end_epoch()  # every step row of the epoch, now in steps.jsonl
                run.finish_epoch(summary, state)  # the metrics row, then the checkpoint
    """

    def __init__(self, out, keep: int = 3, max_weight: float = MAX_WEIGHT, outputs=()):
        self.out, self.keep, self.max_weight = Path(out), keep, max_weight
        self.outputs = [re.compile(pattern) for pattern in outputs]  # the script's own files (grids, plots)
        self.epoch = 0  # epochs finished
        self.step = 0  # training steps (batches) taken
        self.batches_done = 0  # batches of the epoch in progress
        self.saved = None  # (path, epoch, step) of the checkpoint.npz this run wrote or resumed from
        self._log, self._unwritten, self._loader, self._models = MetricsLog(max_weight), [], None, ()
        self._first_step = 0  # the step count when track() was called (steps since: this process's)
        self._signals = StopSignals()

    @property
    def checkpoint_path(self) -> Path:
        return self.out / CHECKPOINT

    # -- starting ---------------------------------------------------------------------------
    def open(self, resume=None, overwrite: bool = False):
        """Claim ``out`` for a new run (returns None), or load the checkpoint to continue from:
        ``resume`` is a file name in ``out`` (``"checkpoint.npz"``, a snapshot) or a path."""
        if resume is None:
            self._claim(overwrite)
            return None
        path = Path(resume) if os.path.dirname(str(resume)) else self.out / resume
        if not path.is_file():
            raise RunError(f"there is no {path} to resume from (start a new run without --resume)")
        checkpoint = load(path)
        if not isinstance(checkpoint, dict) or not {"epoch", "loader", "config"} <= set(checkpoint):
            raise RunError(f"{path} holds no training state to resume (written by another script, or by an "
                           "older minigan); start a new run")
        self.epoch = int(checkpoint["epoch"])
        self.batches_done = int(checkpoint["loader"]["batches_served"])
        self.step = int(checkpoint.get("step", checkpoint.get("trainer", {}).get("d_steps", 0)))
        self.saved = (path, self.epoch, self.step)
        self._rewind()
        return checkpoint

    def _claim(self, overwrite: bool) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        ours = self._run_files()
        if ours and not overwrite:
            names = ", ".join(sorted(p.name for p in ours)[:4]) + (", ..." if len(ours) > 4 else "")
            raise RunError(f"{self.out} already holds a run ({names}): continue it with --resume, "
                           "start it again with --overwrite, or choose another --out")
        for path in ours:
            path.unlink()

    def _run_files(self) -> list:
        """The files a run of this kind writes in ``out`` (what --overwrite removes)."""
        def ours(name):
            return (name == CHECKPOINT or name in LOGS or SNAPSHOT.fullmatch(name)
                    or any(p.fullmatch(name) for p in self.outputs))
        return [p for p in self.out.iterdir() if p.is_file() and ours(p.name)]

    def _rewind(self) -> None:
        """Drop what came after the checkpoint being resumed: log rows past its step or epoch,
        snapshots of later epochs (a crash after the logs, or a return to an older snapshot),
        and a last line torn by a crash mid-write."""
        self.out.mkdir(parents=True, exist_ok=True)
        self._keep_rows("steps.jsonl", lambda row: row["step"] <= self.step)
        self._keep_rows("metrics.jsonl", lambda row: row["epoch"] <= self.epoch)
        for epoch, path in self._snapshots():
            if epoch > self.epoch:
                path.unlink()

    def _keep_rows(self, name: str, keep) -> None:
        path = self.out / name
        if not path.exists():
            return
        with open(path) as f:
            lines = [line for line in f if line.strip()]
        kept = [line for line in lines if (row := _json_or_none(line)) is not None and keep(row)]
        if len(kept) != len(lines):
            _write_text(path, "".join(kept))

    def track(self, loader, *models) -> None:
        """The loader whose epochs the run counts, and the models whose weights it watches."""
        self._loader, self._models, self._first_step = loader, models, self.step

    @contextlib.contextmanager
    def stop_signals(self):
        """The context in which Ctrl-C and SIGTERM stop the run at a step boundary (a second
        one at once: RunStopped, saying what is on disk)."""
        with self._signals:
            try:
                yield self._signals
            except KeyboardInterrupt:
                if self._signals.received is None:
                    raise
                raise RunStopped(f"stopped at once by a second {self._signals.received}, nothing more saved. "
                                 f"{self.on_disk()}", self._signals.signum) from None

    def epochs(self, total: int) -> range:
        """The epochs still to run of ``total``; a ``total`` below the epochs done is an error."""
        if total < self.epoch:
            raise UsageError(f"--epochs {total} is fewer than the {self.epoch} epochs the run in {self.out} "
                             "has already done")
        return range(self.epoch + 1, total + 1)

    # -- steps ------------------------------------------------------------------------------
    def record(self, metrics: dict, log_every: int) -> list:
        """Count one training step and log ``metrics`` (0-d tensors) with the largest weight;
        every ``log_every`` steps (and at the end of the epoch, or when a signal came) copy the
        log to the host and check it. Returns the rows copied now ([(step, {name: float})])."""
        self.step += 1
        self.batches_done += 1
        self._log.record(self.step, {**metrics, "weight_max": largest_weight(*self._models)})
        at_end = self.batches_done == len(self._loader)
        if self.batches_done % log_every and not at_end and self._signals.received is None:
            return []
        try:
            rows = self._log.flush()
        except DivergenceError as err:
            raise type(err)(f"{err}: training diverged and stopped. {self._what_now()}") from err
        self._unwritten += rows
        return rows

    def stop_if_asked(self, state) -> None:
        """After a signal: save the state at this step (``state()`` builds it) and raise
        RunStopped. At the last batch of an epoch the epoch's end saves instead; before the
        first step there is nothing new to save."""
        if self._signals.received is None or self.batches_done == len(self._loader):
            return
        if self.step == self._first_step:
            raise RunStopped(f"stopped by {self._signals.received} before the first step; nothing new to save. "
                             f"{self.on_disk()}", self._signals.signum)
        self._append_steps()
        self._save(state(), snapshot=False)
        raise RunStopped(f"stopped by {self._signals.received} at step {self.step} (epoch {self.epoch + 1}, "
                         f"batch {self.batches_done} of {len(self._loader)}); saved {self.checkpoint_path}: "
                         "continue with --resume", self._signals.signum)

    # -- epochs -----------------------------------------------------------------------------
    def end_epoch(self) -> list:
        """Every step row of the epoch just finished ([(step, row)], those from before a
        mid-epoch resume included), after appending the new ones to steps.jsonl."""
        self._append_steps()
        first = self.step - self.batches_done
        return [(step, row) for step, row in self.read_steps() if step > first]

    def finish_epoch(self, summary: dict, state) -> None:
        """Append ``summary`` to metrics.jsonl, then save ``state()`` as checkpoint.npz and the
        epoch's snapshot (keeping the last ``keep``); stop here if a signal came."""
        with open(self.out / "metrics.jsonl", "a") as f:
            f.write(json.dumps(summary) + "\n")
        self.epoch, self.batches_done = self.epoch + 1, 0
        self._save(state(), snapshot=True)
        if self._signals.received is not None:
            raise RunStopped(f"stopped by {self._signals.received} at the end of epoch {self.epoch} "
                             f"(step {self.step}); saved {self.checkpoint_path}: continue with --resume",
                             self._signals.signum)

    # -- files ------------------------------------------------------------------------------
    def read_steps(self) -> list:
        """[(step, metrics)] from steps.jsonl."""
        path = self.out / "steps.jsonl"
        if not path.exists():
            return []
        with open(path) as f:
            rows = [json.loads(line) for line in f if line.strip()]
        return [(row.pop("step"), row) for row in rows]

    def _append_steps(self) -> None:
        """Append the step rows not yet in steps.jsonl."""
        with open(self.out / "steps.jsonl", "a") as f:
            f.writelines(json.dumps({"step": step, **row}) + "\n" for step, row in self._unwritten)
        self._unwritten = []

    def _save(self, state: dict, snapshot: bool) -> None:
        state = {**state, "epoch": self.epoch, "step": self.step}
        where = non_finite_value(state)
        if where is not None:
            raise DivergenceError(f"step {self.step}: {where} is not finite: training diverged and stopped, and "
                                  f"this state was not saved. {self._what_now()}")
        save(state, self.checkpoint_path)
        self.saved = (self.checkpoint_path, self.epoch, self.step)
        if snapshot and self.keep > 0:
            _link_or_copy(self.checkpoint_path, self.out / f"checkpoint_epoch_{self.epoch:03d}.npz")
            for _, path in self._snapshots()[:-self.keep]:
                path.unlink()

    def _snapshots(self) -> list:
        """[(epoch, path)] of the snapshots in ``out``, oldest first."""
        found = [(int(m.group(1)), p) for p in self.out.iterdir() if (m := SNAPSHOT.fullmatch(p.name))]
        return sorted(found)

    def _what_now(self) -> str:
        if self.saved is None:
            return f"{self.on_disk()}. Lower the learning rate and start again with --overwrite"
        return f"{self.on_disk()}. Lower the learning rate, or resume from one of them with --resume [FILE]"

    def on_disk(self) -> str:
        """What a user can go back to, in words: the checkpoint and snapshots really in ``out``."""
        if self.saved is not None and self.saved[0].exists():
            path, epoch, step = self.saved
            latest = f"The last good checkpoint is {path} (epoch {epoch}, step {step})"
        else:
            latest = f"No checkpoint was saved in {self.out} yet"
        epochs = [epoch for epoch, _ in self._snapshots()] if self.out.is_dir() else []
        if epochs:
            latest += f"; snapshots of epoch{'s' if len(epochs) > 1 else ''} {', '.join(map(str, epochs))}"
        return latest


def add_run_flags(parser) -> None:
    """The flags of a guarded run: how it starts (--resume [FILE] or --overwrite), the snapshots
    it keeps (--keep) and what counts as divergence (--max-weight)."""
    from ..cli import non_negative_int, positive_float_or_inf
    start = parser.add_mutually_exclusive_group()
    start.add_argument("--resume", nargs="?", const=CHECKPOINT, default=None, metavar="FILE",
                       help=f"continue the run in --out from its {CHECKPOINT}, or from FILE (a snapshot in --out, "
                            "or a path), with its saved settings")
    start.add_argument("--overwrite", action="store_true", help="start a new run in an --out that holds one")
    parser.add_argument("--keep", type=non_negative_int, default=3,
                        help="end-of-epoch snapshots to keep (checkpoint_epoch_NNN.npz), to go back to")
    parser.add_argument("--max-weight", type=positive_float_or_inf, default=MAX_WEIGHT,
                        help="a weight larger than this in magnitude means divergence: the run stops (inf: only "
                             "NaN and infinities stop it)")


def non_finite_value(tree, where: str = "") -> str | None:
    """Where in ``tree`` (dicts, lists, tuples of tensors, arrays, numbers) the first NaN or
    infinity is, as a path like ``trainer/generator/0.weight``; None when all are finite."""
    if isinstance(tree, dict):
        items = tree.items()
    elif isinstance(tree, (list, tuple)):
        items = enumerate(tree)
    else:
        if isinstance(tree, Tensor):
            tree = backend.to_numpy(tree.array)
        if isinstance(tree, (np.ndarray, np.generic)) and tree.dtype.kind in "fc":
            return None if np.isfinite(tree).all() else where or "the state"
        if isinstance(tree, float) and not math.isfinite(tree):
            return where or "the state"
        return None
    for key, value in items:
        found = non_finite_value(value, f"{where}/{key}" if where else str(key))
        if found is not None:
            return found
    return None


def resumed_config(saved: dict, given: dict, source) -> dict:
    """The saved configuration, after checking the options typed on the command line (``given``:
    {key: value}): one that differs from the saved value raises UsageError naming both. A typed
    option the saved configuration lacks (a checkpoint from an older minigan) is taken as typed."""
    for key, value in given.items():
        if key in saved and _normal(value) != _normal(saved[key]):
            flag = "--" + key.replace("_", "-")
            raise UsageError(f"{flag} {_shown(value)} conflicts with the run being resumed, which has "
                             f"{_shown(saved[key])} ({source}); leave {flag} out to continue the run, "
                             "or start a new one in another --out")
    return {**{key: value for key, value in given.items() if key not in saved}, **saved}


def _json_or_none(line: str):
    try:
        return json.loads(line) if line.endswith("\n") else None  # no newline: a torn last line
    except json.JSONDecodeError:
        return None


def _normal(value):
    return [_normal(v) for v in value] if isinstance(value, (list, tuple)) else value


def _shown(value) -> str:
    if isinstance(value, (list, tuple)):
        return " ".join(map(str, value))
    return "(none)" if value is None else str(value)


def _write_text(path: Path, text: str) -> None:
    """Replace ``path``'s content atomically."""
    temp = temp_path(path)
    try:
        temp.write_text(text)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _link_or_copy(source: Path, target: Path) -> None:
    """``target`` becomes the same file as ``source`` (a hard link, or a copy where links are
    not allowed), atomically."""
    temp = temp_path(target)
    try:
        try:
            os.link(source, temp)
        except OSError:
            shutil.copyfile(source, temp)
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
