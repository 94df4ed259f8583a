"""Generate images from a checkpoint written by examples/mnist_gan.py.

    python examples/sample.py runs/mnist_gan/checkpoint.npz --n 64 --out samples.npy

Writes FILE (a .npy of shape (N, 1, 28, 28), values in [-1, 1]) and FILE with .png: a grid.
The generator runs in eval mode (batch norm on its running statistics).
"""
from __future__ import annotations

import argparse
import os

import numpy as np

import minigan
from minigan.gan import build
from minigan.images import save_grid


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="Generate images from a minigan GAN checkpoint.")
    p.add_argument("checkpoint")
    p.add_argument("--n", type=int, default=64, help="number of images")
    p.add_argument("--out", default="samples.npy", help="the .npy file (a .png grid is written beside it)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", type=minigan.backend.device_argument, help="cpu, cuda or cuda:N")
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    checkpoint = minigan.load(args.checkpoint)
    config = checkpoint["config"]
    generator, _ = build(config["arch"], config["loss"], config["latent_dim"])
    generator.load_state_dict(checkpoint["trainer"]["generator"])
    generator.to(args.device).eval()
    minigan.manual_seed(args.seed)
    with minigan.no_grad():
        images = generator(minigan.randn(args.n, config["latent_dim"], device=args.device)).numpy()
    out = args.out if args.out.endswith(".npy") else args.out + ".npy"
    np.save(out, images.astype(np.float32))
    png = os.path.splitext(out)[0] + ".png"
    save_grid(images, png, nrow=int(np.ceil(np.sqrt(args.n))))
    print(f"wrote {out} {images.shape} and {png}")


if __name__ == "__main__":
    main()
