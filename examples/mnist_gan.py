"""Train a GAN on MNIST (or Fashion-MNIST) with minigan.

    python examples/mnist_gan.py                          # DCGAN, non-saturating loss, CPU
    python examples/mnist_gan.py --device cuda --epochs 20
    python examples/mnist_gan.py --loss wgan-gp --epochs 10
    python examples/mnist_gan.py --arch dcgan-resize      # resize-convolutions: no checkerboard
    python examples/mnist_gan.py --epochs 20 --resume     # continue a run in --out
    python examples/mnist_gan.py --epochs 20 --resume checkpoint_epoch_003.npz  # go back to epoch 3
    mpiexec -bind-to core -n 2 python examples/mnist_gan.py --distributed   # one model, 2 processes

At the end of every epoch, --out (default runs/mnist_gan) receives:
    samples_epoch_NNN.png  a grid from a fixed batch of z, so epochs can be compared
    losses.png             D and G losses, mean D(x) and D(G(z)) per step (needs matplotlib)
    metrics.jsonl          one line of epoch averages (with --eval-every: sample-quality figures)
    quality.png            with --eval-every: Frechet distance, modes covered and KL per evaluated epoch
    steps.jsonl            one line per step (what losses.png plots)
    checkpoint.npz         G, D, both optimizers, epoch, step and RNG states (minigan.save)
    checkpoint_epoch_NNN.npz  the same at the end of each of the last --keep epochs

A run is guarded (minigan.gan.runs): a NaN or infinite loss or weight, or a weight past
--max-weight, stops it with a message naming the step and the checkpoints on disk, and a
non-finite state is never saved. Ctrl-C or SIGTERM saves a checkpoint at the step reached and
stops; --resume continues from it (or from a snapshot: --resume checkpoint_epoch_003.npz)
exactly as if the run had not stopped, with the saved configuration: a flag that contradicts
it (--lr, --loss, --limit...) is an error, while --epochs, --device, --log-every, --eval-every,
--keep and --max-weight may change. An --out that holds a run needs --resume or --overwrite.

--distributed trains one model on the N processes mpiexec started (minigan.distributed: MPI,
or with --device cuda NCCL, one GPU per process). As in PyTorch, --batch-size is per process:
each takes its own shard of every global batch of N x --batch-size images, and the gradients
are averaged over the processes, so an epoch has N times fewer steps. --sync-bn normalises
with the statistics of the global batch (nn.SyncBatchNorm); without it each process's batch
norm sees its own shard, as one process with --batch-size would. Rank 0 writes --out and
prints; --resume needs the same number of processes. mpiexec comes with pip install
"minigan[mpi]"; its -bind-to core gives each process a core of its own (and so one BLAS thread).
"""
from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

import minigan
from minigan import optim
from minigan.cli import (ProgressBar, UsageError, add_debug_flag, add_device_flag, existing_dir, given_options,
                         non_negative_int, positive_float, positive_int, run_script, unit_interval)
from minigan.data import DataLoader, training_set
from minigan.distributed import abort_on_error, broadcast_module, rank_seed
from minigan.distributed.scripts import gathered_rng_state, restore_rng_state, say_on_rank_zero, script_group
from minigan.gan import ARCHS, LOSSES, GANTrainer, build, get_loss
from minigan.gan.remedies import REMEDIES, with_remedy
from minigan.gan.runs import Run, RunError, RunStopped, add_run_flags, resumed_config
from minigan.gan.trainer import DivergenceError
from minigan.utils.images import save_grid
from minigan.metrics import REFERENCE_SIZE, SampleEvaluator

# Optimiser settings from the papers: DCGAN (Radford et al.), WGAN (Arjovsky et al.),
# WGAN-GP (Gulrajani et al.). Flags override them.
PAPER_DEFAULTS = {
    "wasserstein": {"optimizer": "rmsprop", "lr": 5e-5, "betas": None, "n_critic": 5},
    "wgan-gp": {"optimizer": "adam", "lr": 1e-4, "betas": (0.0, 0.9), "n_critic": 5},
}
DCGAN_DEFAULTS = {"optimizer": "adam", "lr": 2e-4, "betas": (0.5, 0.999), "n_critic": 1}
SAMPLE_GRID = 64  # images in each epoch's grid
SHOWN = ("d_loss", "g_loss", "d_real", "d_fake")  # on the progress bar


OUTPUTS = (r"samples_epoch_\d+\.png", "losses.png", "quality.png")  # what --overwrite removes, with the run's files


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_device_flag(p)
    p.add_argument("--arch", choices=ARCHS, default="dcgan",
                   help="dcgan-resize: the DCGAN with nearest-upsample + 3x3 conv in place of each stride-2 "
                        "transposed conv (Odena et al. 2016: no checkerboard)")
    p.add_argument("--loss", choices=sorted(LOSSES), default="non-saturating")
    p.add_argument("--epochs", type=positive_int, default=10)
    p.add_argument("--batch-size", type=positive_int, default=64)
    p.add_argument("--lr", type=positive_float, default=None, help="default: from the paper of the loss")
    p.add_argument("--betas", type=unit_interval, nargs=2, default=None, help="Adam's betas (default: from the paper)")
    p.add_argument("--n-critic", type=positive_int, default=None, help="D steps per G step (default: from the paper)")
    p.add_argument("--remedy", choices=REMEDIES, default="none",
                   help="a minibatch layer in D against mode collapse: minibatch-stddev (Karras et al. 2018) "
                        "or minibatch-discrimination (Salimans et al. 2016)")
    p.add_argument("--seed", type=non_negative_int, default=0)
    p.add_argument("--dataset", choices=["mnist", "fashion"], default="mnist")
    p.add_argument("--data-dir", type=existing_dir, default=None,
                   help="where the IDX files are (then $MINIGAN_DATA, ~/.cache/minigan)")
    p.add_argument("--out", default=os.path.join("runs", "mnist_gan"))
    add_run_flags(p)
    p.add_argument("--limit", type=positive_int, default=None, help="train on the first N images only")
    p.add_argument("--log-every", type=positive_int, default=10,
                   help="steps between progress-bar updates (and divergence checks)")
    p.add_argument("--eval-every", type=non_negative_int, default=0, metavar="N",
                   help="every N epochs, score 2,000 samples with minigan.metrics (Frechet distance in "
                        "LeNet features, modes covered, ...) into metrics.jsonl; 0: never")
    p.add_argument("--distributed", action="store_true",
                   help="train one model on the processes mpiexec started (mpiexec -n N ...); --batch-size is per "
                        "process")
    p.add_argument("--sync-bn", action="store_true",
                   help="with --distributed: batch norm over the global batch (nn.SyncBatchNorm)")
    add_debug_flag(p)
    return p


def parse_args(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    args.given = given_options(parser, argv)  # for the resume check: what was typed
    return args


def settings(args) -> dict:
    """The run's configuration: the paper's defaults, overridden by the flags given."""
    base = PAPER_DEFAULTS.get(args.loss, DCGAN_DEFAULTS)
    return {"arch": args.arch, "loss": args.loss, "dataset": args.dataset, "batch_size": args.batch_size,
            "seed": args.seed, "limit": args.limit, "latent_dim": 100, "remedy": args.remedy,
            "data_dir": os.path.abspath(args.data_dir) if args.data_dir else None, "sync_bn": args.sync_bn,
            "optimizer": base["optimizer"],
            "lr": args.lr if args.lr is not None else base["lr"],
            "betas": list(args.betas) if args.betas is not None else base["betas"],
            "n_critic": args.n_critic if args.n_critic is not None else base["n_critic"]}


def configuration(args, checkpoint, source, world_size: int = 1) -> dict:
    """A new run's settings, or a resumed run's saved ones (a typed flag that contradicts them is
    an error; so is another number of processes); then the checks that need the whole
    configuration."""
    if args.sync_bn and not args.distributed:
        raise UsageError("--sync-bn synchronises batch norm across the processes of --distributed: give both")
    if checkpoint is None:
        config = {**settings(args), "world_size": world_size}
    else:
        typed = {key: value for key, value in settings(args).items() if key in args.given}
        config = resumed_config(checkpoint["config"], typed, source)
        trained_on = config.get("world_size", 1)
        if trained_on != world_size:
            raise UsageError(f"the run being resumed trained on {trained_on} process(es) (a global batch of "
                             f"{trained_on} x {config['batch_size']}), this is {world_size}: resume it with the same "
                             f"number ({source})")
    global_batch = config["batch_size"] * world_size
    if config["limit"] is not None and config["limit"] < global_batch:
        batch = (f"--batch-size {global_batch}" if world_size == 1 else
                 f"the global batch {global_batch} ({world_size} x --batch-size {config['batch_size']})")
        raise UsageError(f"--limit {config['limit']} is below {batch}: not one full batch to train on")
    if args.eval_every and config["dataset"] != "mnist":
        raise UsageError("--eval-every scores digits with an MNIST classifier: it needs --dataset mnist")
    return config


def make_optimizer(config, params):
    if config["optimizer"] == "rmsprop":
        return optim.RMSprop(params, lr=config["lr"])
    return optim.Adam(params, lr=config["lr"], betas=tuple(config["betas"]))


def plot_losses(history: list, path: str) -> bool:
    """D and G losses and mean D(x), D(G(z)) per step; False when matplotlib is missing."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    for name, axis in (("d_loss", top), ("g_loss", top), ("d_real", bottom), ("d_fake", bottom)):
        steps = [s for s, row in history if name in row]
        axis.plot(steps, [row[name] for s, row in history if name in row], label=name, linewidth=0.8)
    top.set_ylabel("loss")
    bottom.set_ylabel("mean D output")
    bottom.set_xlabel("D step")
    top.legend()
    bottom.legend()
    fig.tight_layout()
    fig.savefig(path + ".tmp.png", dpi=100)
    plt.close(fig)
    os.replace(path + ".tmp.png", path)
    return True


def plot_quality(metrics_path: str, path: str) -> bool:
    """Frechet distance, modes covered and KL to uniform at each evaluated epoch (from
    metrics.jsonl, so a resumed run plots its whole history); False without matplotlib or
    before the first evaluation."""
    with open(metrics_path) as f:
        rows = [row for row in map(json.loads, f) if "frechet_distance" in row]
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    if not rows:
        return False
    epochs = [row["epoch"] for row in rows]
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
    for axis, key, label in zip(axes, ("frechet_distance", "modes_covered", "kl_to_uniform"),
                                ("Frechet distance (LeNet features)", "modes covered (of 10)", "KL(classes || uniform)")):
        axis.plot(epochs, [row[key] for row in rows], marker="o")
        axis.set_xlabel("epoch")
        axis.set_title(label, fontsize=10)
    axes[1].set_ylim(0, 10.5)
    fig.tight_layout()
    fig.savefig(path + ".tmp.png", dpi=100)
    plt.close(fig)
    os.replace(path + ".tmp.png", path)
    return True


def save_samples(trainer, fixed_z, path: str) -> None:
    """A grid of G(fixed_z) with G in eval mode (batch norm on its running statistics)."""
    trainer.G.eval()
    with minigan.no_grad():
        images = trainer.G(fixed_z).numpy()
    trainer.G.train()
    save_grid(images, path, nrow=8)


def evaluate_generator(G, evaluator, latent_dim: int, device, seed: int = 0, n: int = REFERENCE_SIZE,
                       batch_size: int = 250) -> dict:
    """Sample-quality metrics of G (minigan.metrics): n samples from a fixed z, G in eval mode.

    z comes from its own NumPy generator seeded with ``seed``, so evaluating leaves the training
    run's random numbers alone and every evaluation scores the same z (epochs compare fairly).
    n defaults to the size of the real reference set, as Frechet distances depend on n."""
    z = np.random.default_rng(seed).standard_normal((n, latent_dim)).astype(np.float32)
    was_training = G.training
    G.eval()
    try:
        with minigan.no_grad():
            samples = [G(minigan.tensor(z[i:i + batch_size], device=device)) for i in range(0, n, batch_size)]
    finally:
        G.train(was_training)
    return evaluator(minigan.functional.concatenate(samples))


def epoch_means(rows: list) -> dict:
    keys = sorted({k for _, row in rows for k in row})
    return {k: float(np.mean([row[k] for _, row in rows if k in row])) for k in keys}


def load_data(config: dict, checkpoint, device, group=None, notify=print):
    """(dataset, loader) as the configuration says, the loader this rank's shard of each batch
    (with a group); a resumed run must find the same number of images it trained on (not, say,
    the embedded sample in place of the full set)."""
    dataset = training_set(config["dataset"], config.get("data_dir"), config["limit"], notify=notify)
    rank, world = (0, 1) if group is None else (group.rank, group.world_size)
    if config["batch_size"] * world > len(dataset):
        processes = "" if world == 1 else f" on {world} processes"
        raise UsageError(f"--batch-size {config['batch_size']}{processes} is larger than the dataset "
                         f"({len(dataset)} images)")
    if checkpoint is not None and checkpoint.get("dataset_size", len(dataset)) != len(dataset):
        raise RunError(f"the run trained on {checkpoint['dataset_size']} images, but {len(dataset)} are found now "
                       f"({dataset.source}): give it the same data (--data-dir, $MINIGAN_DATA)")
    loader = DataLoader(dataset, batch_size=config["batch_size"], shuffle=True, drop_last=True,
                        seed=config["seed"], device=device, rank=rank, world_size=world)
    return dataset, loader


def main(argv=None) -> None:
    args = parse_args(argv)
    run_script(train, args, build_parser())


# errors that every process of a --distributed run meets at the same point (the others end the whole job)
AGREED_ERRORS = (RunStopped, DivergenceError, UsageError, RunError)


def train(args) -> None:
    group, args.device = script_group(args.distributed, args.device)
    rank, world = (0, 1) if group is None else (group.rank, group.world_size)
    say = say_on_rank_zero(group)
    run = Run(args.out, keep=args.keep, max_weight=args.max_weight, outputs=OUTPUTS, group=group)
    with run.stop_signals(), abort_on_error(group, agreed=AGREED_ERRORS):
        checkpoint = run.open(args.resume, args.overwrite)
        config = configuration(args, checkpoint, run.saved and run.saved[0], world)
        minigan.manual_seed(rank_seed(config["seed"], rank))  # rank 0: the seed itself
        dataset, loader = load_data(config, checkpoint, args.device, group, notify=say)
        G, D = build(config["arch"], config["loss"], config["latent_dim"])
        D = with_remedy(D, config["remedy"])
        if config.get("sync_bn"):
            G, D = (minigan.nn.SyncBatchNorm.convert_sync_batchnorm(model, group) for model in (G, D))
        G.to(args.device)
        D.to(args.device)
        trainer = GANTrainer(G, D, make_optimizer(config, G.parameters()), make_optimizer(config, D.parameters()),
                             get_loss(config["loss"]), config["latent_dim"], config["n_critic"], args.device,
                             process_group=group)
        fixed_z = trainer.sample_z(SAMPLE_GRID)
        evaluator = SampleEvaluator(device=args.device) if args.eval_every and run.writes else None
        if checkpoint:
            trainer.load_state_dict(checkpoint["trainer"])
            loader.load_state_dict(checkpoint["loader"])
            restore_rng_state(checkpoint, group)
            fixed_z = checkpoint["fixed_z"].to(args.device)
            say(f"resuming from {run.saved[0]} at epoch {run.epoch}, step {run.step}")
        elif group is not None:
            for model in (G, D):  # every rank starts from rank 0's initial weights
                broadcast_module(model, group)
        epochs = run.epochs(args.epochs)
        if not epochs:
            say(f"nothing to do: the run in {args.out} has done its {run.epoch} epochs (ask for more with --epochs)")
            return
        processes = "" if group is None else f", {world} processes (global batch {world} x {config['batch_size']})"
        say(f"training {config['arch']} with the {config['loss']} loss on {len(dataset)} images, "
            f"device {args.device}{processes}, {len(loader)} steps per epoch")

        def state() -> dict:  # with a group, a collective: every rank's random state goes in
            return {"config": config, "trainer": trainer.state_dict(), "loader": loader.state_dict(),
                    **gathered_rng_state(group), "fixed_z": fixed_z, "dataset_size": len(dataset)}

        run.track(loader, trainer.G, trainer.D)
        run.stop_if_asked(state)  # a signal during the set-up
        for epoch in epochs:
            timing = train_epoch(run, trainer, loader, args, epoch, state)
            end_epoch(run, trainer, config, args, epoch, fixed_z, evaluator, state, timing, first=epoch == epochs[0],
                      world=world)


def train_epoch(run, trainer, loader, args, epoch: int, state) -> tuple:
    """The steps of one epoch (those left of it, after a mid-epoch resume), with a progress bar
    (on rank 0); returns (steps taken, seconds, CPU seconds of this process)."""
    bar, started, steps = ProgressBar(len(loader), f"epoch {epoch}/{args.epochs}", shown=run.writes), time.time(), 0
    cpu_started = time.process_time()
    bar.update(run.batches_done, {})
    try:
        for real, _ in loader:
            new = run.record(trainer.step(real), args.log_every)  # the host copy and divergence check
            steps += 1
            if new:
                bar.update(len(new), {k: v for k, v in new[-1][1].items() if k in SHOWN})
            run.stop_if_asked(state)
    finally:
        bar.close()
    return steps, time.time() - started, time.process_time() - cpu_started


def end_epoch(run, trainer, config, args, epoch: int, fixed_z, evaluator, state, timing, first: bool,
              world: int = 1) -> None:
    """The epoch's grid, metrics row and plots (rank 0's job), and its checkpoint."""
    rows, (steps, seconds, cpu_seconds) = run.end_epoch(), timing
    summary = {"epoch": epoch, "step": run.step, **epoch_means(rows), "seconds": round(seconds, 2),
               "cpu_seconds": round(cpu_seconds, 2),  # every thread's: with one BLAS thread, the time a free core takes
               "images_per_s": round(steps * config["batch_size"] * world / max(seconds, 1e-9), 1)}
    if run.writes:
        write_epoch_outputs(run, trainer, config, args, epoch, fixed_z, evaluator, summary, first)
    run.finish_epoch(summary, state)
    if evaluator is not None:
        plot_quality(os.path.join(args.out, "metrics.jsonl"), os.path.join(args.out, "quality.png"))


def write_epoch_outputs(run, trainer, config, args, epoch: int, fixed_z, evaluator, summary, first: bool) -> None:
    """The evaluation (with --eval-every), the grid, the loss plot and the epoch's line."""
    if evaluator is not None and epoch % args.eval_every == 0:
        summary.update(evaluate_generator(trainer.G, evaluator, config["latent_dim"], args.device, seed=config["seed"]))
    save_samples(trainer, fixed_z, os.path.join(args.out, f"samples_epoch_{epoch:03d}.png"))
    if not plot_losses(run.read_steps(), os.path.join(args.out, "losses.png")) and first:
        print("matplotlib is not installed: skipping losses.png (pip install matplotlib)")
    quality = (f", FD {summary['frechet_distance']:.1f}, {summary['modes_covered']} modes"
               if "frechet_distance" in summary else "")
    print(f"epoch {epoch}: d_loss {summary.get('d_loss', float('nan')):.3f} "
          f"g_loss {summary.get('g_loss', float('nan')):.3f} ({summary['seconds']:.1f}s{quality}); wrote {args.out}")


if __name__ == "__main__":
    main()
