"""Train a progressively grown GAN on MNIST: 7 x 7, then 14 x 14, then 28 x 28.

    python examples/progressive_gan.py                  # 8 epochs on the CPU (the default DCGAN's budget)
    python examples/progressive_gan.py --device cuda --epochs 20
    python examples/progressive_gan.py --phase-images 20000 --epochs 12

minigan.gan.progressive (Karras et al. 2018): both players start at 7 x 7; every --phase-images
real images (one epoch) the growth moves on (stabilise 7, fade in 14, stabilise 14, fade in 28), then
they stay at 28 x 28. New blocks are faded in, every layer has an equalised learning rate, G
normalises its pixels (no batch norm) and D has a minibatch standard deviation map. Adam with
lr 1e-3, betas (0, 0.99) for both, as in the paper. The default 8 epochs take about as much
CPU time as examples/mnist_gan.py's 10 (bench/RESULTS.md).

After every epoch, --out (default runs/progressive_gan) receives samples_epoch_NNN.png (a grid
from a fixed z, at the stage reached, upsampled to 28 x 28) and samples.png, and the run's
checkpoint.npz, snapshots, steps.jsonl (with each step's level and alpha) and metrics.jsonl, as
for examples/conditional_gan.py (--resume, --overwrite, Ctrl-C saves). sample.py and latent.py
read the checkpoint.
"""
from __future__ import annotations

import minigan
from minigan import optim
from minigan.cli import positive_int, run_script
from minigan.gan.progressive import ProgressiveDiscriminator, ProgressiveGenerator, progressive_step
from minigan.gan.scripts import Players, example_parser, parse_example_args, train_variant
from minigan.utils.images import save_grid

GRID = 64


def build_parser():
    p = example_parser(__doc__.split("\n\n")[0], "progressive_gan", epochs=8)
    p.set_defaults(lr=1e-3)
    p._option_string_actions["--lr"].help = "Adam's learning rate for G and D (betas 0, 0.99, as Karras et al.)"
    p.add_argument("--phase-images", type=positive_int, default=10_000,
                   help="real images per phase of the growth (stabilise 7, fade 14, stabilise 14, fade 28); "
                        "10,000: one epoch of the shipped digits")
    return p


def parse_args(argv=None):
    return parse_example_args(build_parser(), argv)


def build(config: dict, device):
    """The players, their step and the grid of each epoch."""
    G = ProgressiveGenerator(phase_images=config["phase_images"]).to(device)
    D = ProgressiveDiscriminator().to(device)
    g_opt = optim.Adam(G.parameters(), lr=config["lr"], betas=(0.0, 0.99))
    d_opt = optim.Adam(D.parameters(), lr=config["lr"], betas=(0.0, 0.99))
    players = Players(G, D, g_opt, d_opt, z=minigan.randn(GRID, G.latent_dim, device=device))

    def step(real, labels):
        return progressive_step(G, D, g_opt, d_opt, real)

    def draw(path):
        G.eval()
        with minigan.no_grad():
            images = G(players.fixed["z"]).numpy()
        G.train()
        save_grid(images, path, nrow=8)
        level, alpha = G.progress()
        print(f"growth: {(7, 14, 28)[level]} x {(7, 14, 28)[level]} pixels"
              + (f", fading in (alpha {alpha:.2f})" if alpha < 1 else ""))

    return players, step, draw


def train(args):
    return train_variant(args, "progressive", lambda config: build(config, args.device),
                         ("d_loss", "g_loss", "d_real", "d_fake", "level", "alpha"),
                         "samples", "a progressively grown GAN")


def main(argv=None) -> None:
    run_script(train, parse_args(argv), build_parser())


if __name__ == "__main__":
    main()
