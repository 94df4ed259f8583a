"""Goodfellow et al. (2014), Fig. 1, reproduced: a 1-D GAN learns N(4, 0.5^2) from uniform noise.

    python examples/toy1d_gan.py                        # about 30 s on one CPU core
    python examples/toy1d_gan.py --steps 6000 --seed 1 --out runs/toy1d

Four panels, one per stage of training, each on one axis: the data density p_data (black,
dotted), the generator's density p_g (green: a kernel density estimate of G(z), z ~ U[0, 1)),
the discriminator D(x) = sigmoid(logit) (blue, dashed) and, for comparison, the best
discriminator against the current generator, D*(x) = p_data / (p_data + p_g) (grey). Lines
below the axis show the map x = G(z) from an evenly spaced z. At the start D is trained alone
(G frozen), so it approaches D*; at the end p_g is close to p_data and D is close to 1/2.

Writes --out/toy1d_gan.png (needs matplotlib; without it a note is printed) and prints, per
stage: mean |D(x) - 1/2| over the data range [mu - 3 sigma, mu + 3 sigma], the generator's
mean and standard deviation, their distance to the data's, and the 1-Wasserstein distance.
"""
from __future__ import annotations

import argparse
import os
import time

if __name__ == "__main__":  # tiny matrices: BLAS threads only fight each other (set before NumPy loads)
    for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_name, "1")

import numpy as np

import minigan
from minigan import nn, optim
from minigan.cli import add_debug_flag, non_negative_int, positive_float, positive_int, run_script
from minigan.gan import get_loss
from minigan.gan.toy import Affine, UniformNoiseTrainer, decay_learning_rate, toy_mlp

DATA_MEAN, DATA_STD = 4.0, 0.5  # p_data = N(4, 0.5^2)
STAGES = (0.0, 0.08, 0.25, 1.0)  # fractions of --steps at which a panel is taken
EVAL_SAMPLES = 20_000


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--steps", type=positive_int, default=3000,
                   help="D steps after the warm-up (G steps: steps / n-critic)")
    p.add_argument("--hidden", type=positive_int, default=64, help="width of both nets' two hidden layers")
    p.add_argument("--n-critic", type=positive_int, default=1, help="D steps per G step (the paper's k)")
    p.add_argument("--warmup", type=non_negative_int, default=200, help="D steps with G frozen before the first panel")
    p.add_argument("--loss", choices=["minimax", "non-saturating"], default="non-saturating")
    p.add_argument("--batch-size", type=positive_int, default=512)
    p.add_argument("--lr", type=positive_float, default=2e-3, help="Adam's lr, decayed linearly to 2%% of it")
    p.add_argument("--seed", type=non_negative_int, default=0)
    p.add_argument("--out", default=os.path.join("runs", "toy1d_gan"))
    add_debug_flag(p)
    return p


def parse_args(argv=None):
    return build_parser().parse_args(argv)


def data_density(x: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * ((x - DATA_MEAN) / DATA_STD) ** 2) / (DATA_STD * np.sqrt(2 * np.pi))


def kde(samples: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Gaussian kernel density estimate of ``samples`` at ``x`` (Silverman's bandwidth)."""
    spread = min(samples.std(), np.subtract(*np.percentile(samples, [75, 25])) / 1.34)
    bandwidth = 0.9 * max(spread, 1e-3) * len(samples) ** -0.2
    density = np.zeros_like(x)
    for chunk in np.array_split(samples, max(1, len(samples) // 2000)):  # bounded memory
        density += np.exp(-0.5 * ((x[:, None] - chunk[None, :]) / bandwidth) ** 2).sum(axis=1)
    return density / (len(samples) * bandwidth * np.sqrt(2 * np.pi))


def wasserstein1(a: np.ndarray, b: np.ndarray) -> float:
    """W1 between two equal-size 1-D samples: the mean gap between their sorted values."""
    return float(np.abs(np.sort(a) - np.sort(b)).mean())


def build_trainer(args) -> UniformNoiseTrainer:
    """G: z (1-D, uniform) -> h -> h -> x and D: x -> h -> h -> logit (h = --hidden), ReLU MLPs, Adam.

    Both nets work in standardised units u = (x - mu) / sigma (fixed Affine maps at D's input
    and G's output), so D's ReLU kinks fall where the data are. G's last bias starts at
    u = -2, so the first panel shows p_g beside p_data, as in the paper's figure."""
    G = nn.Sequential(toy_mlp(1, 1, hidden=args.hidden), Affine(DATA_STD, DATA_MEAN))
    D = nn.Sequential(Affine(1 / DATA_STD, -DATA_MEAN / DATA_STD), toy_mlp(1, 1, hidden=args.hidden))
    nn.init.constant_(G[0][-1].bias, -2.0)
    g_opt = optim.Adam(G.parameters(), lr=args.lr, betas=(0.5, 0.999))
    d_opt = optim.Adam(D.parameters(), lr=args.lr, betas=(0.5, 0.999))
    return UniformNoiseTrainer(G, D, g_opt, d_opt, get_loss(args.loss), latent_dim=1, n_critic=args.n_critic)


def snapshot(trainer, step: int, rng: np.random.Generator) -> dict:
    """Everything one panel and one table row need, computed on the host."""
    x = np.linspace(DATA_MEAN - 5 * DATA_STD, DATA_MEAN + 5 * DATA_STD, 400)
    z_line = np.linspace(0.0, 1.0, 21, dtype=np.float32)[:, None]
    with minigan.no_grad():
        fake = trainer.G(trainer.sample_z(EVAL_SAMPLES)).numpy().ravel().astype(np.float64)
        d = minigan.functional.sigmoid(trainer.D(minigan.tensor(x[:, None].astype(np.float32)))).numpy().ravel()
        mapped = trainer.G(minigan.tensor(z_line)).numpy().ravel()
    p_data, p_g = data_density(x), kde(fake, x)
    real = rng.normal(DATA_MEAN, DATA_STD, EVAL_SAMPLES)
    in_range = np.abs(x - DATA_MEAN) <= 3 * DATA_STD
    return {"step": step, "x": x, "p_data": p_data, "p_g": p_g, "d": d,
            "d_star": p_data / np.maximum(p_data + p_g, 1e-12), "z": z_line.ravel(), "g_of_z": mapped,
            "d_gap": float(np.abs(d[in_range] - 0.5).mean()), "g_mean": float(fake.mean()),
            "g_std": float(fake.std()), "w1": wasserstein1(fake, real)}


def train(args, log=print) -> list:
    """Warm up D, then play the game for --steps D steps; returns the snapshots of STAGES."""
    minigan.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    trainer = build_trainer(args)

    def real_batch():
        return minigan.tensor(rng.normal(DATA_MEAN, DATA_STD, (args.batch_size, 1)).astype(np.float32))

    for _ in range(args.warmup):  # panel (a): D against a frozen G, approaching D*
        trainer.discriminator_step(real_batch())
    marks = sorted({round(f * args.steps) for f in STAGES})
    snapshots = [snapshot(trainer, 0, rng)] if marks[0] == 0 else []
    for step in range(1, args.steps + 1):
        progress = (step - 1) / max(args.steps, 1)
        for opt in (trainer.g_optimizer, trainer.d_optimizer):
            decay_learning_rate(opt, args.lr, progress, final_fraction=0.02)
        trainer.step(real_batch())
        if step in marks:
            snapshots.append(snapshot(trainer, step, rng))
            log(f"  step {step}/{args.steps}")
    return snapshots


def table(snapshots) -> str:
    head = (f"{'stage':>5} {'D step':>7} {'mean|D-1/2|':>12} {'G mean':>8} {'G std':>7} "
            f"{'|dmean|':>8} {'|dstd|':>7} {'W1':>7}")
    rows = [head, "-" * len(head)]
    for label, s in zip("abcd", snapshots):
        rows.append(f"{'(' + label + ')':>5} {s['step']:>7} {s['d_gap']:>12.3f} {s['g_mean']:>8.3f} "
                    f"{s['g_std']:>7.3f} {abs(s['g_mean'] - DATA_MEAN):>8.3f} "
                    f"{abs(s['g_std'] - DATA_STD):>7.3f} {s['w1']:>7.3f}")
    rows.append(f"data: mean {DATA_MEAN}, std {DATA_STD}; mean|D-1/2| over [{DATA_MEAN - 3 * DATA_STD}, "
                f"{DATA_MEAN + 3 * DATA_STD}]")
    return "\n".join(rows)


def plot(snapshots, path: str) -> bool:
    """The four panels of Fig. 1 in one PNG; False when matplotlib is missing."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.collections import LineCollection
    except ImportError:
        return False
    fig, axes = plt.subplots(1, len(snapshots), figsize=(4 * len(snapshots), 3.4), sharey=True)
    axes = np.atleast_1d(axes)
    for label, axis, s in zip("abcd", axes, snapshots):
        x, lo, hi = s["x"], s["x"][0], s["x"][-1]
        axis.plot(x, s["p_data"], "k:", linewidth=2, label="p_data")
        axis.plot(x, s["p_g"], "g-", label="p_g (KDE of G(z))")
        axis.plot(x, s["d"], "b--", label="D(x)")
        axis.plot(x, s["d_star"], color="0.6", linewidth=0.8, label="D* = p_data/(p_data+p_g)")
        axis.axhline(0.5, color="0.85", linewidth=0.8, zorder=0)
        z_shown = lo + s["z"] * (hi - lo)  # the z line, drawn under the x axis, mapped up to x = G(z)
        g_shown = np.clip(s["g_of_z"], lo, hi)
        axis.add_collection(LineCollection([[(zx, -0.32), (gx, -0.06)] for zx, gx in zip(z_shown, g_shown)],
                                           colors="0.4", linewidths=0.6))
        axis.plot(g_shown, np.full_like(g_shown, -0.06), "v", color="0.4", markersize=2.5)
        axis.axhline(-0.32, color="0.4", linewidth=0.6)
        axis.set_xlim(lo, hi)
        axis.set_ylim(-0.4, 1.05)
        axis.set_title(f"({label}) D step {s['step']}: mean|D-1/2| = {s['d_gap']:.2f}", fontsize=9)
        axis.set_xlabel("x   (lines: z on the bottom line -> x = G(z))", fontsize=8)
    axes[0].legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def main(argv=None) -> list:
    return run_script(run, parse_args(argv), build_parser())


def run(args) -> list:
    os.makedirs(args.out, exist_ok=True)
    started = time.time()
    print(f"1-D GAN ({args.loss} loss): data N({DATA_MEAN}, {DATA_STD}^2), z ~ U[0, 1), "
          f"{args.warmup} D warm-up steps, then {args.steps} steps, seed {args.seed}")
    snapshots = train(args)
    print(table(snapshots))
    path = os.path.join(args.out, "toy1d_gan.png")
    if plot(snapshots, path):
        print(f"wrote {path}")
    else:
        print("note: matplotlib is not installed, so no figure was drawn (pip install matplotlib); "
              "the table above has the numbers")
    print(f"done in {time.time() - started:.1f}s")
    return snapshots


if __name__ == "__main__":
    main()
