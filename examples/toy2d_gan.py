"""Mode collapse on 2-D mixtures of Gaussians, measured as VEEGAN and PacGAN do.

    python examples/toy2d_gan.py                       # ring: 5 losses and PacGAN x 5 seeds
    python examples/toy2d_gan.py --quick               # 1 seed: a smoke run
    python examples/toy2d_gan.py --dataset grid --losses non-saturating wgan-gp non-saturating:pack2

Datasets (minigan.gan.toy): the *ring*, 8 Gaussians on a circle of radius 1 with std 0.01
(VEEGAN's), and the *grid*, 25 Gaussians at {-4, -2, 0, 2, 4}^2 with std 0.05 (VEEGAN's and
PacGAN's spacing, unscaled). Fresh data every step.

Each game is a name of minigan.gan.LOSSES, optionally with ``:packN`` for PacGAN's remedy
(the discriminator judges N samples at once); the default run plays minimax, non-saturating,
wgan-gp, lsgan, hinge and non-saturating:pack2. Nets: G z (2-D, N(0, I)) -> 128 -> 128 -> 2 and
D 2 -> 128 -> 128 -> 1, ReLU, Adam with the lr decayed linearly to 2% over the run.

After training, 2,500 samples are scored per seed (minigan.gan.toy.mode_coverage): a sample is
*high quality* within 3 std of its nearest mode, and a mode is *covered* when some high-quality
sample is nearest to it. The table gives the means over seeds (and the range). --out gets, per
game, one PNG of frames (a row per seed, samples at four stages of the run, from a fixed z),
and results.json with every number.
"""
from __future__ import annotations

import argparse
import json
import os
import time

if __name__ == "__main__":  # tiny matrices: BLAS threads only fight each other (set before NumPy loads)
    for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_name, "1")

import numpy as np

import minigan
from minigan import optim
from minigan.cli import add_debug_flag, positive_int, run_script
from minigan.gan import LOSSES, GANTrainer, get_loss
from minigan.gan.toy import (Packed, decay_learning_rate, grid_centers, grid_of_gaussians, mode_coverage,
                             ring_centers, ring_of_gaussians, toy_mlp)
from minigan.images import save_grid

DATASETS = {  # name: (sampler, centres, std, plot half-width)
    "ring": (ring_of_gaussians, ring_centers(), 0.01, 1.5),
    "grid": (grid_of_gaussians, grid_centers(), 0.05, 5.5),
}
DEFAULT_GAMES = ["minimax", "non-saturating", "wgan-gp", "lsgan", "hinge", "non-saturating:pack2"]
EVAL_SAMPLES = 2500  # as in VEEGAN and PacGAN
FRAMES = (0.0, 0.1, 0.3, 1.0)  # fractions of each run at which a frame is drawn
LATENT_DIM = 2
# Adam's settings per game: (G lr, D lr, betas, D steps per G step). The GAN games take DCGAN's
# beta1 = 0.5. WGAN-GP keeps Algorithm 1 of Gulrajani et al. (betas (0, 0.9), 5 critic steps)
# with a 10x slower generator (Heusel et al.'s two time scales): with equal rates the fake
# cloud swings around the ring instead of settling. The weight-clipped WGAN (not in the
# default run) is not tuned.
HYPER = {"wgan-gp": (1e-4, 1e-3, (0.0, 0.9), 5), "wasserstein": (5e-4, 5e-4, (0.5, 0.999), 5)}
DEFAULT_HYPER = (1e-3, 1e-3, (0.5, 0.999), 1)


def parse_game(text: str) -> tuple:
    """'hinge' -> ('hinge', 1); 'non-saturating:pack2' -> ('non-saturating', 2)."""
    name, _, pack = text.partition(":")
    get_loss(name)  # raises on an unknown game
    if pack and not (pack.startswith("pack") and pack[4:].isdigit() and int(pack[4:]) >= 1):
        raise argparse.ArgumentTypeError(f"bad game {text!r}: write LOSS or LOSS:packN, e.g. hinge:pack2")
    return get_loss(name).name, int(pack[4:]) if pack else 1


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--dataset", choices=sorted(DATASETS), default="ring")
    p.add_argument("--losses", nargs="+", type=parse_game, default=[parse_game(g) for g in DEFAULT_GAMES],
                   metavar="GAME", help=f"games among {', '.join(LOSSES)}, each optionally ':packN'")
    p.add_argument("--seeds", type=positive_int, default=5, help="runs per game, seeds 0..N-1")
    p.add_argument("--steps", type=positive_int, default=3000, help="D steps per run (G steps = steps / n_critic)")
    p.add_argument("--batch-size", type=positive_int, default=128)
    p.add_argument("--jobs", type=positive_int, default=min(2, os.cpu_count() or 1), help="runs trained in parallel")
    p.add_argument("--quick", action="store_true", help="one seed: a smoke run")
    p.add_argument("--out", default=os.path.join("runs", "toy2d_gan"))
    add_debug_flag(p)
    return p


def parse_args(argv=None):
    args = build_parser().parse_args(argv)
    if args.quick:
        args.seeds = 1
    return args


def game_label(loss: str, pack: int) -> str:
    return loss if pack == 1 else f"{loss}:pack{pack}"


def build_trainer(loss: str, pack: int) -> GANTrainer:
    g_lr, d_lr, betas, n_critic = HYPER.get(loss, DEFAULT_HYPER)
    G = toy_mlp(LATENT_DIM, 2)
    D = toy_mlp(2 * pack, 1)
    D = Packed(D, pack) if pack > 1 else D
    return GANTrainer(G, D, optim.Adam(G.parameters(), lr=g_lr, betas=betas),
                      optim.Adam(D.parameters(), lr=d_lr, betas=betas), get_loss(loss), LATENT_DIM, n_critic)


def generate(trainer, z) -> np.ndarray:
    with minigan.no_grad():
        return trainer.G(z).numpy()


def run(job: tuple) -> dict:
    """Train one game on one seed; returns its scores and its frames."""
    dataset, loss, pack, seed, steps, batch_size = job
    sampler, centers, std, _ = DATASETS[dataset]
    minigan.manual_seed(seed)
    rng = np.random.default_rng(10_000 + seed)
    trainer = build_trainer(loss, pack)
    g_lr, d_lr = HYPER.get(loss, DEFAULT_HYPER)[:2]
    fixed_z = trainer.sample_z(EVAL_SAMPLES)  # the frames show G(fixed_z), so stages compare
    marks = {round(f * steps) for f in FRAMES}
    frames, started = [], time.time()
    for step in range(steps + 1):
        if step in marks:
            frames.append((step, generate(trainer, fixed_z)))
        if step == steps:
            break
        for opt, lr in ((trainer.g_optimizer, g_lr), (trainer.d_optimizer, d_lr)):
            decay_learning_rate(opt, lr, step / steps, final_fraction=0.02)
        trainer.step(minigan.tensor(sampler(batch_size, rng=rng)))
    samples = generate(trainer, trainer.sample_z(EVAL_SAMPLES))  # fresh z for the score
    modes, quality = mode_coverage(samples, centers, std)  # a NaN sample is never high quality
    return {"game": game_label(loss, pack), "seed": seed, "modes": modes, "high_quality": quality,
            "diverged": not bool(np.isfinite(samples).all()), "seconds": time.time() - started,
            "frames": frames}


def run_all(args, log=print) -> list:
    """Every (game, seed) run, in --jobs processes; logs one line per finished run."""
    jobs = [(args.dataset, loss, pack, seed, args.steps, args.batch_size)
            for loss, pack in args.losses for seed in range(args.seeds)]
    results = []
    if args.jobs > 1 and len(jobs) > 1:
        import multiprocessing
        with multiprocessing.get_context("fork").Pool(args.jobs) as pool:
            for r in pool.imap(run, jobs):
                log(run_line(r))
                results.append(r)
        return results
    for job in jobs:
        results.append(run(job))
        log(run_line(results[-1]))
    return results


def run_line(r: dict) -> str:
    note = " DIVERGED (non-finite samples)" if r["diverged"] else ""
    return (f"  {r['game']:>22} seed {r['seed']}: {r['modes']} modes, "
            f"{100 * r['high_quality']:.1f}% high quality ({r['seconds']:.0f}s){note}")


def summarize(results: list, n_modes: int) -> list:
    """Per game: mean and range over seeds of modes covered and % high-quality samples."""
    rows = []
    for game in dict.fromkeys(r["game"] for r in results):
        mine = [r for r in results if r["game"] == game]
        modes = np.array([r["modes"] for r in mine], dtype=float)
        quality = 100 * np.array([r["high_quality"] for r in mine])
        rows.append({"game": game, "seeds": len(mine), "modes_mean": float(modes.mean()),
                     "modes_min": int(modes.min()), "modes_max": int(modes.max()),
                     "hq_mean": float(quality.mean()), "hq_min": float(quality.min()),
                     "hq_max": float(quality.max()),
                     "all_modes_every_seed": bool((modes == n_modes).all()),
                     "diverged": sum(r["diverged"] for r in mine),
                     "seconds": float(sum(r["seconds"] for r in mine))})
    return rows


def table(rows: list, n_modes: int) -> str:
    head = (f"{'game':>22} {'seeds':>5} {'modes covered (of ' + str(n_modes) + ')':>26} "
            f"{'% high quality':>22} {'diverged':>8} {'train s':>8}")
    lines = [head, "-" * len(head)]
    for r in rows:
        modes = f"{r['modes_mean']:.1f} [{r['modes_min']}-{r['modes_max']}]"
        quality = f"{r['hq_mean']:.1f} [{r['hq_min']:.1f}-{r['hq_max']:.1f}]"
        lines.append(f"{r['game']:>22} {r['seeds']:>5} {modes:>26} {quality:>22} {r['diverged']:>8} {r['seconds']:>8.0f}")
    reference = "; VEEGAN's ring figure: 8 modes, 52.9% high quality" if n_modes == 8 else ""
    lines.append(f"means over seeds, [min-max]{reference}")
    return "\n".join(lines)


def save_frames(runs: list, dataset: str, path: str) -> str:
    """One game's frames: a row per seed, a column per stage; scatter plots with matplotlib,
    density images without it."""
    _, centers, std, half = DATASETS[dataset]
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        images = [density_image(samples, half) for r in runs for _, samples in r["frames"]]
        save_grid(np.stack(images), path, nrow=len(runs[0]["frames"]))
        return "density images (matplotlib is not installed)"
    rows, cols = len(runs), len(runs[0]["frames"])
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 2.6 * rows + 0.4), squeeze=False)
    for axes_row, r in zip(axes, runs):
        for axis, (step, samples) in zip(axes_row, r["frames"]):
            modes, quality = mode_coverage(samples, centers, std)
            axis.scatter(samples[:, 0], samples[:, 1], s=1.5, alpha=0.4, color="tab:green", linewidths=0)
            axis.scatter(centers[:, 0], centers[:, 1], s=10, marker="x", color="k", linewidths=0.7)
            axis.set_xlim(-half, half)
            axis.set_ylim(-half, half)
            axis.set_aspect("equal")
            axis.set_xticks([])
            axis.set_yticks([])
            axis.set_title(f"seed {r['seed']}, step {step}: {modes} modes, {100 * quality:.0f}% HQ", fontsize=7)
    fig.suptitle(f"{runs[0]['game']} on the {dataset} (x: the modes; G of a fixed z)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return "scatter plots"


def density_image(samples: np.ndarray, half: float, pixels: int = 96) -> np.ndarray:
    """A 2-D histogram of the samples as a (pixels, pixels) image in [-1, 1], dark = dense."""
    counts, _, _ = np.histogram2d(samples[:, 1], samples[:, 0], bins=pixels, range=[[-half, half]] * 2)
    shade = np.sqrt(counts[::-1] / max(counts.max(), 1))  # y up; sqrt shows sparse regions too
    return 1.0 - 2.0 * shade


def main(argv=None) -> list:
    return run_script(compare, parse_args(argv), build_parser())


def compare(args) -> list:
    os.makedirs(args.out, exist_ok=True)
    _, centers, std, _ = DATASETS[args.dataset]
    started = time.time()
    print(f"{args.dataset}: {len(centers)} modes, std {std}; {len(args.losses)} games x {args.seeds} seeds, "
          f"{args.steps} D steps of batch {args.batch_size}, {args.jobs} job(s)")
    results = run_all(args)
    for game in dict.fromkeys(r["game"] for r in results):
        path = os.path.join(args.out, f"{args.dataset}_{game.replace(':', '_')}.png")
        kind = save_frames([r for r in results if r["game"] == game], args.dataset, path)
        print(f"wrote {path} ({kind})")
    rows = summarize(results, len(centers))
    elapsed = time.time() - started
    print(table(rows, len(centers)))
    print(f"wall time {elapsed:.0f}s")
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump({"dataset": args.dataset, "steps": args.steps, "batch_size": args.batch_size,
                   "wall_seconds": elapsed, "summary": rows,
                   "runs": [{k: v for k, v in r.items() if k != "frames"} for r in results]}, f, indent=1)
    return rows


if __name__ == "__main__":
    main()
