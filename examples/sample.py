"""Generate images from a checkpoint written by examples/mnist_gan.py or a variant example.

    python examples/sample.py runs/mnist_gan/checkpoint.npz --n 64 --out samples.npy
    python examples/sample.py runs/conditional_gan/checkpoint.npz --n 100 --label 7

Writes FILE (a .npy of shape (N, 1, 28, 28), values in [-1, 1]) and FILE with .png: a grid.
The generator runs in eval mode (batch norm on its running statistics). A generator that
takes a label (conditional GAN, ACGAN; InfoGAN's categorical code, its continuous codes at 0)
gets --label, or by default the digits 0-9 in turn: one digit per column of a 10-wide grid.
"""
from __future__ import annotations

import argparse
import os

import numpy as np

import minigan
from minigan.cli import UsageError, add_debug_flag, add_device_flag, non_negative_int, positive_int, run_script
from minigan.gan.checkpoints import LABELLED, generate, load_generator
from minigan.utils.images import save_grid


def build_parser():
    p = argparse.ArgumentParser(description="Generate images from a minigan GAN checkpoint.")
    p.add_argument("checkpoint")
    p.add_argument("--n", type=positive_int, default=64, help="number of images")
    p.add_argument("--label", type=int, choices=range(10), default=None, metavar="0-9",
                   help="the digit (or InfoGAN category) for a labelled generator (default: 0-9 in turn)")
    p.add_argument("--out", default="samples.npy", help="the .npy file (a .png grid is written beside it)")
    p.add_argument("--seed", type=non_negative_int, default=0)
    add_device_flag(p)
    add_debug_flag(p)
    return p


def sample(args) -> None:
    generator, latent_dim, kind = load_generator(args.checkpoint, args.device)
    if args.label is not None and kind not in LABELLED:
        raise UsageError(f"--label: {args.checkpoint} holds a generator without labels")
    minigan.manual_seed(args.seed)
    z = minigan.randn(args.n, latent_dim, device=args.device)
    labels = minigan.full((args.n,), args.label, dtype="int64", device=args.device) if args.label is not None else None
    images = generate(generator, kind, z, labels)
    out = args.out if args.out.endswith(".npy") else args.out + ".npy"
    np.save(out, images.astype(np.float32))
    png = os.path.splitext(out)[0] + ".png"
    labelled_columns = kind in LABELLED and args.label is None  # one digit per column
    save_grid(images, png, nrow=10 if labelled_columns else int(np.ceil(np.sqrt(args.n))))
    print(f"wrote {out} {images.shape} and {png}")


def main(argv=None) -> None:
    parser = build_parser()
    run_script(sample, parser.parse_args(argv), parser)


if __name__ == "__main__":
    main()
