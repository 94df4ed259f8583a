"""Train a conditional GAN on MNIST: ask the generator for a digit.

    python examples/conditional_gan.py                   # 25 epochs on the CPU (about six minutes)
    python examples/conditional_gan.py --device cuda --epochs 20

G(z, y) gets the one-hot label beside the noise; D(x, y) scores image and label together
(a projection: see minigan.gan.variants.ConditionalDiscriminator). After every epoch, --out
(default runs/conditional_gan) receives digits_epoch_NNN.png: one row per digit 0-9, one
fixed z per column, so a column keeps its style while the digit changes; digits.png (the
latest grid), checkpoint.npz (config, G, D, optimizers, data order and random states) and
snapshots of the last --keep epochs, steps.jsonl and metrics.jsonl. Ctrl-C or SIGTERM saves
where it stops, --resume continues (see minigan.gan.runs), and sample.py / latent.py read the
checkpoint.
"""
from __future__ import annotations

import minigan
from minigan import optim
from minigan.cli import run_script
from minigan.gan.scripts import Players, example_parser, parse_example_args, train_variant
from minigan.gan.variants import (ConditionalDiscriminator, ConditionalGenerator, conditional_gan_step,
                                  save_class_grid)


def build_parser():
    # 25 epochs: >95% of digits come out as asked
    return example_parser(__doc__.split("\n\n")[0], "conditional_gan", epochs=25)


def parse_args(argv=None):
    return parse_example_args(build_parser(), argv)


def build(config: dict, device):
    """The players, their step and the grid of each epoch."""
    G, D = ConditionalGenerator().to(device), ConditionalDiscriminator().to(device)
    g_opt = optim.Adam(G.parameters(), lr=config["lr"], betas=(0.5, 0.999))
    d_opt = optim.Adam(D.parameters(), lr=config["lr"], betas=(0.5, 0.999))
    players = Players(G, D, g_opt, d_opt, z=minigan.randn(10, G.latent_dim, device=device))

    def step(real, labels):
        return conditional_gan_step(G, D, g_opt, d_opt, real, labels)

    return players, step, lambda path: save_class_grid(G, players.fixed["z"], path)


def train(args):
    return train_variant(args, "conditional", lambda config: build(config, args.device),
                         ("d_loss", "g_loss", "d_real", "d_fake"), "digits", "a conditional GAN")


def main(argv=None) -> None:
    run_script(train, parse_args(argv), build_parser())


if __name__ == "__main__":
    main()
