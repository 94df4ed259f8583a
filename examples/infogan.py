"""Train an InfoGAN (Chen et al. 2016) on MNIST: codes that mean something, learned without labels.

    python examples/infogan.py                   # 5 epochs on the CPU (a few minutes)
    python examples/infogan.py --device cuda --epochs 20

Besides 62 noise values, G gets a 10-way categorical code and 2 continuous codes in U(-1, 1).
A head Q on D's body must read the codes back from the image; G and Q train together to make
that possible (the mutual-information term), while D's body learns only real versus fake, so
the codes have to show in how the digit looks. Nothing tells the codes what to mean; on MNIST
the categorical code tends towards the digit's identity and the continuous ones towards slant
and stroke width, more clearly the longer it trains. The labels are never used, so the
categories come in no particular order. G and Q use a 5x larger learning rate than D, as in
Chen et al.'s code (--g-lr); with equal rates G falls behind and hides the codes in noise.

--out (default runs/infogan) receives, after every epoch, categories_epoch_NNN.png (row k:
category k; column j: one fixed noise vector; continuous codes 0) and categories.png, the
run's checkpoint.npz and other files (as for examples/conditional_gan.py); at the end,
continuous_1.png, continuous_2.png (row k: category k and the k-th fixed noise vector;
columns: that code from -range to +range, the other code at 0).
"""
from __future__ import annotations

import os

import numpy as np

import minigan
from minigan import functional as F
from minigan import optim
from minigan.cli import non_negative_float, positive_float, run_script
from minigan.gan.scripts import Players, example_parser, parse_example_args, train_variant
from minigan.gan.variants import (InfoGANDiscriminator, InfoGANGenerator, infogan_d_parameters,
                                  infogan_g_parameters, infogan_step)
from minigan.images import save_grid

COLUMNS = 10


def build_parser():
    p = example_parser(__doc__.split("\n\n")[0], "infogan", epochs=5)
    p.add_argument("--g-lr", type=positive_float, default=1e-3,
                   help="G's and Q's Adam learning rate (Chen et al.'s code)")
    p.add_argument("--info-weight", type=non_negative_float, default=1.0,
                   help="lambda: weight of the mutual-information term")
    p.add_argument("--continuous-weight", type=non_negative_float, default=0.1,
                   help="weight of the continuous codes' Gaussian NLL inside the information term")
    p.add_argument("--code-range", type=positive_float, default=2.0,
                   help="continuous codes are shown from -range to +range (trained on -1..1)")
    return p


def parse_args(argv=None):
    return parse_example_args(build_parser(), argv)


def render(G, z, category, continuous, path: str) -> None:
    """G's images for these codes (eval mode), as a grid of COLUMNS columns."""
    G.eval()
    with minigan.no_grad():
        images = G(z, category, continuous).numpy()
    G.train()
    save_grid(images, path, nrow=COLUMNS)


def category_grid(G, noise, path: str) -> None:
    """Row k: category k; column j: noise[j]; continuous codes 0."""
    k, device = G.num_categories, noise.device
    z = F.broadcast_to(noise[:COLUMNS].unsqueeze(0), (k, COLUMNS, noise.shape[1])).reshape(k * COLUMNS, -1)
    category = minigan.tensor(np.repeat(np.arange(k), COLUMNS), device=device)
    render(G, z, category, minigan.zeros(k * COLUMNS, G.num_continuous, device=device), path)


def continuous_grid(G, noise, code: int, code_range: float, path: str) -> None:
    """Row k: category k and noise[k]; column j: continuous code ``code`` at the j-th of
    COLUMNS values in [-code_range, code_range], the other codes 0."""
    k, device = G.num_categories, noise.device
    z = F.broadcast_to(noise[:k].unsqueeze(1), (k, COLUMNS, noise.shape[1])).reshape(k * COLUMNS, -1)
    category = minigan.tensor(np.repeat(np.arange(k), COLUMNS), device=device)
    values = np.zeros((k * COLUMNS, G.num_continuous), dtype=np.float32)
    values[:, code] = np.tile(np.linspace(-code_range, code_range, COLUMNS, dtype=np.float32), k)
    render(G, z, category, minigan.tensor(values, device=device), path)


def build(config: dict, device):
    """The players (G and Q's head train together: see infogan_step), their step and the grid of each epoch."""
    G, D = InfoGANGenerator().to(device), InfoGANDiscriminator().to(device)
    g_opt = optim.Adam(infogan_g_parameters(G, D), lr=config["g_lr"], betas=(0.5, 0.999))  # G and Q's head
    d_opt = optim.Adam(infogan_d_parameters(D), lr=config["lr"], betas=(0.5, 0.999))  # D's body and head
    players = Players(G, D, g_opt, d_opt,
                      noise=minigan.randn(max(COLUMNS, G.num_categories), G.noise_dim, device=device))

    def step(real, labels):
        return infogan_step(G, D, g_opt, d_opt, real, info_weight=config["info_weight"],
                            continuous_weight=config["continuous_weight"])

    return players, step, lambda path: category_grid(G, players.fixed["noise"], path)


def train(args) -> None:
    players = train_variant(args, "infogan", lambda config: build(config, args.device),
                            ("d_loss", "g_loss", "info_loss", "category_accuracy"), "categories",
                            "an InfoGAN (labels unused)")
    G, noise = players.G, players.fixed["noise"]
    for code in range(G.num_continuous):
        continuous_grid(G, noise, code, args.code_range, os.path.join(args.out, f"continuous_{code + 1}.png"))
    print(f"wrote {args.out}/categories.png and continuous_1.png .. continuous_{G.num_continuous}.png")


def main(argv=None) -> None:
    run_script(train, parse_args(argv), build_parser())


if __name__ == "__main__":
    main()
