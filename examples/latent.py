"""Walk a trained generator's latent space: the truncation trick and interpolations.

    python examples/latent.py runs/mnist_gan/checkpoint.npz
    python examples/latent.py runs/mnist_gan/checkpoint.npz --tau 0.3 0.7 1.5 inf --pairs 4

Reads any checkpoint written by examples/mnist_gan.py (any --arch and --loss), or by a variant
example (conditional GAN, ACGAN, InfoGAN: column j of the truncation grid and row r of the
interpolations keep the digit, or InfoGAN category, j or r modulo 10, with continuous codes
at 0, so only z moves), and writes into --out (default runs/latent):

    truncation.png            one row per --tau: z ~ N(0, I) with every |z_i| > tau redrawn
                              (Brock et al. 2019). The same seed starts every row, so entries
                              already inside tau are shared and columns stay comparable:
                              small tau trades variety for typical, cleaner samples.
    interpolation_linear.png  one row per pair of random endpoints, the straight line between them
    interpolation_slerp.png   the same endpoints, along the great circle (spherical
                              interpolation, White 2016), which keeps |z| near its typical sqrt(d)

The generator runs in eval mode (batch norm on its running statistics).
"""
from __future__ import annotations

import argparse
import os

import numpy as np

import minigan
from minigan.cli import (add_debug_flag, add_device_flag, non_negative_int, positive_float_or_inf, positive_int,
                         run_script)
from minigan.gan.checkpoints import generate, load_generator
from minigan.gan.latent import lerp, slerp, truncated_normal
from minigan.utils.images import save_grid


def at_least_two(text: str) -> int:
    value = positive_int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"must be >= 2 (the two endpoints), got {value}")
    return value


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("checkpoint", help="a checkpoint.npz written by examples/mnist_gan.py or a variant example")
    p.add_argument("--tau", type=positive_float_or_inf, nargs="+", default=[0.25, 0.5, 1.0, 1.5, 2.0, float("inf")],
                   help="truncation thresholds, one grid row each (inf: no truncation)")
    p.add_argument("--columns", type=positive_int, default=10, help="images per truncation row")
    p.add_argument("--pairs", type=positive_int, default=8, help="interpolation rows (pairs of endpoints)")
    p.add_argument("--steps", type=at_least_two, default=10, help="images per interpolation row, endpoints included")
    p.add_argument("--seed", type=non_negative_int, default=0)
    add_device_flag(p)
    p.add_argument("--out", default=os.path.join("runs", "latent"))
    add_debug_flag(p)
    return p


def parse_args(argv=None):
    return build_parser().parse_args(argv)


def truncation_grid(generator, kind: str, latent_dim: int, args, path: str) -> None:
    """Row r: ``args.columns`` samples with z truncated at ``args.tau[r]``, each row from the same
    seed (a labelled G: column j shows label j modulo 10 in every row)."""
    rows = []
    for tau in args.tau:
        minigan.manual_seed(args.seed)  # the same first draw in every row
        rows.append(generate(generator, kind, truncated_normal(args.columns, latent_dim, tau, device=args.device)))
    save_grid(np.concatenate(rows), path, nrow=args.columns)


def interpolation_grids(generator, kind: str, latent_dim: int, args, paths: dict) -> None:
    """For each method in ``paths`` ("linear", "slerp"): one row per pair of random endpoints
    (a labelled G: row r keeps label r modulo 10)."""
    minigan.manual_seed(args.seed + 1)
    start = minigan.randn(args.pairs, latent_dim, device=args.device)
    end = minigan.randn(args.pairs, latent_dim, device=args.device)
    t = minigan.tensor(np.linspace(0.0, 1.0, args.steps, dtype=np.float32), device=args.device)
    labels = minigan.tensor(np.repeat(np.arange(args.pairs) % 10, args.steps), device=args.device)  # row r: r % 10
    for method, path in paths.items():
        points = (lerp if method == "linear" else slerp)(start, end, t)  # (pairs, steps, latent_dim)
        images = generate(generator, kind, points.reshape(args.pairs * args.steps, latent_dim), labels)
        save_grid(images, path, nrow=args.steps)


def draw(args) -> None:
    os.makedirs(args.out, exist_ok=True)
    generator, latent_dim, kind = load_generator(args.checkpoint, args.device)
    truncation = os.path.join(args.out, "truncation.png")
    truncation_grid(generator, kind, latent_dim, args, truncation)
    paths = {m: os.path.join(args.out, f"interpolation_{m}.png") for m in ("linear", "slerp")}
    interpolation_grids(generator, kind, latent_dim, args, paths)
    print(f"wrote {truncation} (rows: tau = {', '.join(f'{t:g}' for t in args.tau)}), "
          f"{paths['linear']} and {paths['slerp']} ({args.pairs} pairs, {args.steps} steps)")


def main(argv=None) -> None:
    run_script(draw, parse_args(argv), build_parser())


if __name__ == "__main__":
    main()
