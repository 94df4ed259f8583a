"""Train an auxiliary-classifier GAN (ACGAN, Odena et al. 2017) on MNIST.

    python examples/acgan.py                   # 5 epochs on the CPU (a few minutes)
    python examples/acgan.py --device cuda --epochs 20

G(z, y) gets the one-hot label beside the noise, as in the conditional GAN; D never sees the
label but has two heads: real/fake, and a 10-way classifier. D learns to classify real digits
(and G's, by the label they were asked for); G learns to make digits D both believes and
classifies as asked. After every epoch, --out (default runs/acgan) receives
digits_epoch_NNN.png: one row per digit 0-9, one fixed z per column; digits.png (the latest
grid), checkpoint.npz and the run's other files, as for examples/conditional_gan.py.
"""
from __future__ import annotations

import minigan
from minigan import optim
from minigan.cli import non_negative_float, run_script
from minigan.gan.scripts import Players, example_parser, parse_example_args, train_variant
from minigan.gan.variants import ACGANDiscriminator, ConditionalGenerator, acgan_step, save_class_grid


def build_parser():
    p = example_parser(__doc__.split("\n\n")[0], "acgan", epochs=5)
    p.add_argument("--aux-weight", type=non_negative_float, default=1.0, help="weight of the class cross-entropy terms")
    return p


def parse_args(argv=None):
    return parse_example_args(build_parser(), argv)


def build(config: dict, device):
    """The players, their step and the grid of each epoch."""
    G, D = ConditionalGenerator().to(device), ACGANDiscriminator().to(device)
    g_opt = optim.Adam(G.parameters(), lr=config["lr"], betas=(0.5, 0.999))
    d_opt = optim.Adam(D.parameters(), lr=config["lr"], betas=(0.5, 0.999))
    players = Players(G, D, g_opt, d_opt, z=minigan.randn(10, G.latent_dim, device=device))

    def step(real, labels):
        return acgan_step(G, D, g_opt, d_opt, real, labels, aux_weight=config["aux_weight"])

    return players, step, lambda path: save_class_grid(G, players.fixed["z"], path)


def train(args):
    return train_variant(args, "acgan", lambda config: build(config, args.device),
                         ("d_loss", "g_loss", "d_aux", "g_aux", "class_accuracy"), "digits", "an ACGAN")


def main(argv=None) -> None:
    run_script(train, parse_args(argv), build_parser())


if __name__ == "__main__":
    main()
