"""What the example scripts of the labelled and coded GANs (examples/conditional_gan.py,
acgan.py, infogan.py), of the image-to-image GANs (cyclegan.py, inpainting.py,
super_resolution.py) and of the generator designs (style_mixing.py, progressive_gan.py, vae.py)
share: their flags, their data, and their training loop in a run folder.

The loop is :func:`train_variant`: a :class:`~minigan.gan.runs.Run` in ``--out`` (divergence
guard, checkpoints and snapshots every epoch, ``--resume`` with the saved configuration,
``--overwrite``, Ctrl-C and SIGTERM saving where they land), one ``step(*batch)`` per batch,
a progress bar, a progress line every ``--log-every`` steps and a grid after each epoch. A
script only builds its models: a ``build(config)`` that returns :class:`Players` and its step
and grid functions (a grid function may also measure the models and return the numbers, which
go into the epoch's row of metrics.jsonl).
"""
from __future__ import annotations

import argparse
import os
import shutil
import time

import numpy as np

from .. import backend
from ..cli import (ProgressBar, UsageError, add_debug_flag, add_device_flag, existing_dir, given_options,
                   non_negative_int, positive_float, positive_int)
from ..data import DataLoader, training_set
from ..backend import manual_seed
from ..tensor import Tensor
from .runs import Run, RunError, add_run_flags, resumed_config

# options a resumed run may change; every other one must match the saved configuration
CHANGEABLE = {"epochs", "device", "out", "resume", "overwrite", "keep", "max_weight", "log_every", "debug",
              "code_range"}
CHANGEABLE |= {"crossover", "pairs"}  # what examples/style_mixing.py draws and measures after training


def example_parser(description: str, name: str, epochs: int, data_dir: bool = True) -> argparse.ArgumentParser:
    """The flags every variant example shares (their own are added by each script);
    ``data_dir=False`` for scripts that train on the digits shipped with minigan only."""
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--epochs", type=positive_int, default=epochs)
    p.add_argument("--batch-size", type=positive_int, default=64)
    p.add_argument("--lr", type=positive_float, default=2e-4,
                   help="Adam's learning rate (betas 0.5, 0.999, as DCGAN): D's and G's, or D's alone where "
                        "a script has its own flag for G's (infogan.py's --g-lr)")
    p.add_argument("--seed", type=non_negative_int, default=0)
    add_device_flag(p)
    if data_dir:
        p.add_argument("--data-dir", type=existing_dir, default=None, help="where the MNIST IDX files are")
    p.add_argument("--out", default=os.path.join("runs", name))
    add_run_flags(p)
    p.add_argument("--limit", type=positive_int, default=None, help="train on the first N images only")
    p.add_argument("--log-every", type=positive_int, default=25, help="steps between progress lines")
    add_debug_flag(p)
    return p


def parse_example_args(parser: argparse.ArgumentParser, argv=None) -> argparse.Namespace:
    """``parser``'s arguments, and in ``.given`` the options typed (for the resume check)."""
    args = parser.parse_args(argv)
    args.given = given_options(parser, argv)
    return args


class Players:
    """G, D, their optimizers and the fixed inputs of the script's grids: the state a variant's
    checkpoint saves, under GANTrainer's keys (generator, discriminator, g_optimizer,
    d_optimizer), so tools read either kind."""

    def __init__(self, generator, discriminator, g_optimizer, d_optimizer, **fixed: Tensor):
        self.G, self.D, self.g_optimizer, self.d_optimizer = generator, discriminator, g_optimizer, d_optimizer
        self.fixed = fixed

    def state_dict(self) -> dict:
        return {"generator": self.G.state_dict(), "discriminator": self.D.state_dict(),
                "g_optimizer": self.g_optimizer.state_dict(), "d_optimizer": self.d_optimizer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.G.load_state_dict(state["generator"])
        self.D.load_state_dict(state["discriminator"])
        self.g_optimizer.load_state_dict(state["g_optimizer"])
        self.d_optimizer.load_state_dict(state["d_optimizer"])


def variant_config(args, model: str, checkpoint, source) -> dict:
    """The configuration of a new run (its flags, minus those a resume may change, and the
    model's name) or of a resumed one (the saved values: a typed flag that differs is an error)."""
    options = {key: value for key, value in vars(args).items() if key not in CHANGEABLE | {"given"}}
    data_dir = getattr(args, "data_dir", None)
    options["data_dir"] = os.path.abspath(data_dir) if data_dir else None
    if checkpoint is None:
        config = {"model": model, **options}
    else:
        config = resumed_config(checkpoint["config"], {k: v for k, v in options.items() if k in args.given}, source)
        if config.get("model", model) != model:
            raise RunError(f"{source} is a checkpoint of the {config['model']} example, not of {model}")
    if config["limit"] is not None and config["limit"] < config["batch_size"]:
        raise UsageError(f"--limit {config['limit']} is below --batch-size {config['batch_size']}: "
                         "not one full batch to train on")
    return config


def mnist_loader(config: dict, device, checkpoint=None, dataset=None):
    """(dataset, shuffled DataLoader) of MNIST's training digits as the configuration says, or
    of ``dataset`` (a script's own, with ``get_batch``)."""
    if dataset is None:
        dataset = training_set("mnist", config["data_dir"], config["limit"])
    if config["batch_size"] > len(dataset):
        raise UsageError(f"--batch-size {config['batch_size']} is larger than the dataset ({len(dataset)} images)")
    if checkpoint is not None and checkpoint.get("dataset_size", len(dataset)) != len(dataset):
        raise RunError(f"the run trained on {checkpoint['dataset_size']} images, but {len(dataset)} are found now "
                       f"({getattr(dataset, 'source', 'the data')}): give it the same data (--data-dir, "
                       "$MINIGAN_DATA)")
    loader = DataLoader(dataset, batch_size=config["batch_size"], shuffle=True, drop_last=True,
                        seed=config["seed"], device=device)
    return dataset, loader


def train_variant(args, model: str, build, shown, grid_name: str, what: str, dataset=None) -> Players:
    """Train a variant in the run folder ``args.out`` (see the module docstring); returns its
    Players. ``build(config)`` makes ``(players, step, draw)``: ``step(*batch)`` plays one step
    on a batch of the loader ((real, labels) for MNIST) and returns 0-d metrics, ``draw(path)``
    writes a grid and returns a dict of numbers measured at the epoch's end, or None.
    ``shown``: the metrics printed; the grids are ``<grid_name>_epoch_NNN.png``, the last also
    ``<grid_name>.png``; ``what`` names the model in the first line printed. ``dataset(config)``
    gives the data when it is not MNIST's training set."""
    run = Run(args.out, keep=args.keep, max_weight=args.max_weight,
              outputs=(rf"{grid_name}_epoch_\d+\.png", rf"{grid_name}\.png"))
    with run.stop_signals():
        checkpoint = run.open(args.resume, args.overwrite)
        config = variant_config(args, model, checkpoint, run.saved and run.saved[0])
        manual_seed(config["seed"])
        dataset, loader = mnist_loader(config, args.device, checkpoint, dataset and dataset(config))
        players, step, draw = build(config)
        if checkpoint:
            players.load_state_dict(checkpoint["trainer"])
            loader.load_state_dict(checkpoint["loader"])
            backend.set_rng_state(checkpoint["rng"])
            for name, value in checkpoint["fixed"].items():
                players.fixed[name] = value.to(args.device)
            print(f"resuming from {run.saved[0]} at epoch {run.epoch}, step {run.step}")
        epochs = run.epochs(args.epochs)
        if not epochs:
            print(f"nothing to do: the run in {args.out} has done its {run.epoch} epochs (ask for more with --epochs)")
            return players
        print(f"training {what} on {len(dataset)} images, device {args.device}, {len(loader)} steps per epoch")

        def state() -> dict:
            return {"config": config, "trainer": players.state_dict(), "loader": loader.state_dict(),
                    "rng": backend.rng_state(), "fixed": dict(players.fixed), "dataset_size": len(dataset)}

        run.track(loader, players.G, players.D)
        run.stop_if_asked(state)  # a signal during the set-up
        for epoch in epochs:
            started, cpu_started = time.time(), time.process_time()
            bar = ProgressBar(len(loader), f"epoch {epoch}/{args.epochs}")
            bar.update(run.batches_done, {})  # after a mid-epoch resume
            try:
                for batch in loader:
                    new = run.record(step(*batch), args.log_every)
                    if new:
                        bar.update(len(new), {k: v for k, v in new[-1][1].items() if k in shown})
                    if new and run.batches_done % args.log_every == 0:
                        print(f"epoch {epoch} step {run.step}: " + _means(new[-1:], shown), flush=True)
                    run.stop_if_asked(state)
            finally:
                bar.close()
            rows = run.end_epoch()
            path = os.path.join(args.out, f"{grid_name}_epoch_{epoch:03d}.png")
            measured = draw(path) or {}
            seconds, cpu_seconds = time.time() - started, time.process_time() - cpu_started  # the grid's included
            print(f"epoch {epoch}: {_means(rows, shown)}{_measures(measured)} ({seconds:.1f}s); wrote {path}",
                  flush=True)
            run.finish_epoch({"epoch": epoch, "step": run.step, **_mean_row(rows), **measured,
                              "seconds": round(seconds, 2), "cpu_seconds": round(cpu_seconds, 2)}, state)
            shutil.copyfile(path, os.path.join(args.out, f"{grid_name}.png"))
    return players


def _mean_row(rows: list) -> dict:
    keys = sorted({k for _, row in rows for k in row})
    return {k: float(np.mean([row[k] for _, row in rows if k in row])) for k in keys}


def _measures(measured: dict) -> str:
    return "".join(f", {k} {v:.4g}" for k, v in measured.items())


def _means(rows: list, shown) -> str:
    means = _mean_row(rows)
    return " ".join(f"{k} {means[k]:.3f}" for k in shown if k in means)
