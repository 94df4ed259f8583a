"""Train an auxiliary-classifier GAN (ACGAN, Odena et al. 2017) on MNIST.

    python examples/acgan.py                   # 5 epochs on the CPU (a few minutes)
    python examples/acgan.py --device cuda --epochs 20

G(z, y) gets the one-hot label beside the noise, as in the conditional GAN; D never sees the
label but has two heads: real/fake, and a 10-way classifier. D learns to classify real digits
(and G's, by the label they were asked for); G learns to make digits D both believes and
classifies as asked. After every epoch, --out (default runs/acgan) receives
digits_epoch_NNN.png: one row per digit 0-9, one fixed z per column. At the end: digits.png
(the last grid) and checkpoint.npz (config, G and D).
"""
from __future__ import annotations

import os

import minigan
from minigan import optim
from minigan.gan.variants import (ACGANDiscriminator, ConditionalGenerator, acgan_step, example_parser,
                                  mnist_loader, run_epochs, save_class_grid)


def parse_args(argv=None):
    p = example_parser(__doc__.split("\n\n")[0], "acgan", epochs=5)
    p.add_argument("--aux-weight", type=float, default=1.0, help="weight of the class cross-entropy terms")
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    minigan.manual_seed(args.seed)
    dataset, loader = mnist_loader(args)
    G, D = ConditionalGenerator().to(args.device), ACGANDiscriminator().to(args.device)
    g_opt = optim.Adam(G.parameters(), lr=args.lr, betas=(0.5, 0.999))
    d_opt = optim.Adam(D.parameters(), lr=args.lr, betas=(0.5, 0.999))
    fixed_z = minigan.randn(10, G.latent_dim, device=args.device)
    print(f"training an ACGAN on {len(dataset)} images, device {args.device}, "
          f"{len(loader)} steps per epoch")

    def step(real, labels):
        return acgan_step(G, D, g_opt, d_opt, real, labels, aux_weight=args.aux_weight)

    shown = ("d_loss", "g_loss", "d_aux", "g_aux", "class_accuracy")
    run_epochs(loader, step, args, shown, lambda path: save_class_grid(G, fixed_z, path), "digits")
    minigan.save({"config": vars(args), "generator": G.state_dict(), "discriminator": D.state_dict()},
                 os.path.join(args.out, "checkpoint.npz"))


if __name__ == "__main__":
    main()
