"""Train a GAN on MNIST (or Fashion-MNIST) with minigan.

    python examples/mnist_gan.py                          # DCGAN, non-saturating loss, CPU
    python examples/mnist_gan.py --device cuda --epochs 20
    python examples/mnist_gan.py --loss wgan-gp --epochs 10
    python examples/mnist_gan.py --epochs 20 --resume     # continue a run in --out

At the end of every epoch, --out (default runs/mnist_gan) receives:
    samples_epoch_NNN.png  a grid from a fixed batch of z, so epochs can be compared
    losses.png             D and G losses, mean D(x) and D(G(z)) per step (needs matplotlib)
    metrics.jsonl          one line of epoch averages (with --eval-every: sample-quality figures)
    quality.png            with --eval-every: Frechet distance, modes covered and KL per evaluated epoch
    steps.jsonl            one line per step (what losses.png plots)
    checkpoint.npz         G, D, both optimizers, epoch, step and RNG states (minigan.save)
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

import minigan
from minigan import optim
from minigan.data import DataLoader, training_set
from minigan.gan import LOSSES, GANTrainer, MetricsLog, build, get_loss
from minigan.gan.remedies import REMEDIES, with_remedy
from minigan.images import save_grid
from minigan.metrics import REFERENCE_SIZE, SampleEvaluator

# Optimiser settings from the papers: DCGAN (Radford et al.), WGAN (Arjovsky et al.),
# WGAN-GP (Gulrajani et al.). Flags override them.
PAPER_DEFAULTS = {
    "wasserstein": {"optimizer": "rmsprop", "lr": 5e-5, "betas": None, "n_critic": 5},
    "wgan-gp": {"optimizer": "adam", "lr": 1e-4, "betas": (0.0, 0.9), "n_critic": 5},
}
DCGAN_DEFAULTS = {"optimizer": "adam", "lr": 2e-4, "betas": (0.5, 0.999), "n_critic": 1}
SAMPLE_GRID = 64  # images in each epoch's grid


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--device", default="cpu", type=minigan.backend.device_argument, help="cpu, cuda or cuda:N")
    p.add_argument("--arch", choices=["mlp", "dcgan"], default="dcgan")
    p.add_argument("--loss", choices=sorted(LOSSES), default="non-saturating")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=None, help="default: from the paper of the loss")
    p.add_argument("--betas", type=float, nargs=2, default=None, help="Adam's betas (default: from the paper)")
    p.add_argument("--n-critic", type=int, default=None, help="D steps per G step (default: from the paper)")
    p.add_argument("--remedy", choices=REMEDIES, default="none",
                   help="a minibatch layer in D against mode collapse: minibatch-stddev (Karras et al. 2018) "
                        "or minibatch-discrimination (Salimans et al. 2016)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dataset", choices=["mnist", "fashion"], default="mnist")
    p.add_argument("--data-dir", default=None, help="where the IDX files are (then $MINIGAN_DATA, ~/.cache/minigan)")
    p.add_argument("--out", default=os.path.join("runs", "mnist_gan"))
    p.add_argument("--resume", action="store_true", help="continue from --out/checkpoint.npz")
    p.add_argument("--limit", type=int, default=None, help="train on the first N images only")
    p.add_argument("--log-every", type=int, default=10, help="steps between progress-bar updates")
    p.add_argument("--eval-every", type=int, default=0, metavar="N",
                   help="every N epochs, score 2,000 samples with minigan.metrics (Frechet distance in "
                        "LeNet features, modes covered, ...) into metrics.jsonl; 0: never")
    args = p.parse_args(argv)
    if args.eval_every < 0:
        p.error("--eval-every must be >= 0")
    if args.eval_every and args.dataset != "mnist":
        p.error("--eval-every scores digits with an MNIST classifier: it needs --dataset mnist")
    return args


def settings(args) -> dict:
    """The run's configuration: the paper's defaults, overridden by the flags given."""
    base = PAPER_DEFAULTS.get(args.loss, DCGAN_DEFAULTS)
    return {"arch": args.arch, "loss": args.loss, "dataset": args.dataset, "batch_size": args.batch_size,
            "seed": args.seed, "limit": args.limit, "latent_dim": 100, "remedy": args.remedy,
            "optimizer": base["optimizer"],
            "lr": args.lr if args.lr is not None else base["lr"],
            "betas": list(args.betas) if args.betas is not None else base["betas"],
            "n_critic": args.n_critic if args.n_critic is not None else base["n_critic"]}


def make_optimizer(config, params):
    if config["optimizer"] == "rmsprop":
        return optim.RMSprop(params, lr=config["lr"])
    return optim.Adam(params, lr=config["lr"], betas=tuple(config["betas"]))


class ProgressBar:
    """tqdm when it is installed; otherwise a one-line text bar on stderr."""

    def __init__(self, total: int, desc: str):
        try:
            from tqdm import tqdm
            self._bar = tqdm(total=total, desc=desc, unit="step", dynamic_ncols=True)
        except ImportError:
            self._bar = None
        self.total, self.desc, self.n, self.postfix = total, desc, 0, ""

    def update(self, n: int, postfix: dict) -> None:
        text = " ".join(f"{k}={v:.3g}" for k, v in postfix.items())
        if self._bar is not None:
            self._bar.set_postfix_str(text, refresh=False)
            self._bar.update(n)
            return
        self.n += n
        width = 30
        filled = width * self.n // max(self.total, 1)
        sys.stderr.write(f"\r{self.desc} [{'#' * filled}{'.' * (width - filled)}] {self.n}/{self.total} {text}")
        sys.stderr.flush()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        else:
            sys.stderr.write("\n")


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


def read_steps(path: str) -> list:
    """[(step, metrics)] from steps.jsonl, as written by earlier epochs of this run."""
    if not os.path.exists(path):
        return []
    with open(path) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return [(row.pop("step"), row) for row in rows]


def epoch_means(rows: list) -> dict:
    keys = sorted({k for _, row in rows for k in row})
    return {k: float(np.mean([row[k] for _, row in rows if k in row])) for k in keys}


def main(argv=None) -> None:
    args = parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    checkpoint_path = os.path.join(args.out, "checkpoint.npz")
    checkpoint = minigan.load(checkpoint_path) if args.resume else None
    config = checkpoint["config"] if checkpoint else settings(args)
    minigan.manual_seed(config["seed"])

    dataset = training_set(args.dataset, args.data_dir, args.limit)
    loader = DataLoader(dataset, batch_size=config["batch_size"], shuffle=True, drop_last=True,
                        seed=config["seed"], device=args.device)
    G, D = build(config["arch"], config["loss"], config["latent_dim"])
    D = with_remedy(D, config["remedy"])
    G.to(args.device)
    D.to(args.device)
    trainer = GANTrainer(G, D, make_optimizer(config, G.parameters()), make_optimizer(config, D.parameters()),
                         get_loss(config["loss"]), config["latent_dim"], config["n_critic"], args.device)
    fixed_z = trainer.sample_z(SAMPLE_GRID)
    evaluator = SampleEvaluator(device=args.device) if args.eval_every else None
    start_epoch = 1
    if checkpoint:
        trainer.load_state_dict(checkpoint["trainer"])
        loader.load_state_dict(checkpoint["loader"])
        minigan.backend.set_rng_state(checkpoint["rng"])
        fixed_z = checkpoint["fixed_z"].to(args.device)
        start_epoch = int(checkpoint["epoch"]) + 1
        print(f"resuming from {checkpoint_path} after epoch {start_epoch - 1}")
    print(f"training {config['arch']} with the {config['loss']} loss on {len(dataset)} images, "
          f"device {args.device}, {len(loader)} steps per epoch")

    steps_path = os.path.join(args.out, "steps.jsonl")  # every step's metrics, for the plot
    history, log = (read_steps(steps_path) if checkpoint else []), MetricsLog()
    if not checkpoint and os.path.exists(steps_path):
        os.remove(steps_path)  # a fresh run in an old folder starts a fresh record
    for epoch in range(start_epoch, args.epochs + 1):
        bar, rows, started = ProgressBar(len(loader), f"epoch {epoch}/{args.epochs}"), [], time.time()
        for i, (real, _) in enumerate(loader, 1):
            log.record(trainer.d_steps + 1, trainer.step(real))
            if i % args.log_every == 0 or i == len(loader):
                new = log.flush()  # the one host copy of the metrics, and the NaN check
                rows += new
                bar.update(len(new), {k: v for k, v in new[-1][1].items() if k in ("d_loss", "g_loss", "d_real", "d_fake")})
        bar.close()
        history += rows
        with open(steps_path, "a") as f:
            f.writelines(json.dumps({"step": step, **row}) + "\n" for step, row in rows)
        seconds = time.time() - started
        summary = {"epoch": epoch, "step": trainer.d_steps, **epoch_means(rows), "seconds": round(seconds, 2),
                   "images_per_s": round(len(loader) * config["batch_size"] / seconds, 1)}
        if evaluator is not None and epoch % args.eval_every == 0:
            summary.update(evaluate_generator(trainer.G, evaluator, config["latent_dim"], args.device,
                                              seed=config["seed"]))
        save_samples(trainer, fixed_z, os.path.join(args.out, f"samples_epoch_{epoch:03d}.png"))
        with open(os.path.join(args.out, "metrics.jsonl"), "a") as f:
            f.write(json.dumps(summary) + "\n")
        if not plot_losses(history, os.path.join(args.out, "losses.png")) and epoch == start_epoch:
            print("matplotlib is not installed: skipping losses.png (pip install matplotlib)")
        if evaluator is not None:
            plot_quality(os.path.join(args.out, "metrics.jsonl"), os.path.join(args.out, "quality.png"))
        minigan.save({"config": config, "trainer": trainer.state_dict(), "loader": loader.state_dict(),
                      "rng": minigan.backend.rng_state(), "fixed_z": fixed_z, "epoch": epoch}, checkpoint_path)
        quality = (f", FD {summary['frechet_distance']:.1f}, {summary['modes_covered']} modes"
                   if "frechet_distance" in summary else "")
        print(f"epoch {epoch}: d_loss {summary.get('d_loss', float('nan')):.3f} "
              f"g_loss {summary.get('g_loss', float('nan')):.3f} ({seconds:.1f}s{quality}); wrote {args.out}")


if __name__ == "__main__":
    main()
