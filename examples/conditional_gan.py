"""Train a conditional GAN on MNIST: ask the generator for a digit.

    python examples/conditional_gan.py                   # 25 epochs on the CPU (about six minutes)
    python examples/conditional_gan.py --device cuda --epochs 20

G(z, y) gets the one-hot label beside the noise; D(x, y) scores image and label together
(a projection: see minigan.gan.variants.ConditionalDiscriminator). After every epoch, --out
(default runs/conditional_gan) receives digits_epoch_NNN.png: one row per digit 0-9, one
fixed z per column, so a column keeps its style while the digit changes. At the end:
digits.png (the last grid) and checkpoint.npz (config, G and D).
"""
from __future__ import annotations

import os

import minigan
from minigan import optim
from minigan.gan.variants import (ConditionalDiscriminator, ConditionalGenerator, conditional_gan_step,
                                  example_parser, mnist_loader, run_epochs, save_class_grid)


def parse_args(argv=None):
    p = example_parser(__doc__.split("\n\n")[0], "conditional_gan", epochs=25)  # 25: >95% of digits come out as asked
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    minigan.manual_seed(args.seed)
    dataset, loader = mnist_loader(args)
    G, D = ConditionalGenerator().to(args.device), ConditionalDiscriminator().to(args.device)
    g_opt = optim.Adam(G.parameters(), lr=args.lr, betas=(0.5, 0.999))
    d_opt = optim.Adam(D.parameters(), lr=args.lr, betas=(0.5, 0.999))
    fixed_z = minigan.randn(10, G.latent_dim, device=args.device)
    print(f"training a conditional GAN on {len(dataset)} images, device {args.device}, "
          f"{len(loader)} steps per epoch")

    def step(real, labels):
        return conditional_gan_step(G, D, g_opt, d_opt, real, labels)

    shown = ("d_loss", "g_loss", "d_real", "d_fake")
    run_epochs(loader, step, args, shown, lambda path: save_class_grid(G, fixed_z, path), "digits")
    minigan.save({"config": vars(args), "generator": G.state_dict(), "discriminator": D.state_dict()},
                 os.path.join(args.out, "checkpoint.npz"))


if __name__ == "__main__":
    main()
