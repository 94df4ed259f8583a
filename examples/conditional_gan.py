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

import argparse
import os
import shutil

import minigan
from minigan import optim
from minigan.data import DataLoader, training_set
from minigan.gan.variants import (ConditionalDiscriminator, ConditionalGenerator, conditional_gan_step,
                                  run_epochs, save_class_grid)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--epochs", type=int, default=25, help="25 gets >95%% of digits classified as asked")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-4, help="Adam's learning rate (betas 0.5, 0.999, as DCGAN)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--data-dir", default=None, help="where the MNIST IDX files are")
    p.add_argument("--out", default=os.path.join("runs", "conditional_gan"))
    p.add_argument("--limit", type=int, default=None, help="train on the first N images only")
    p.add_argument("--log-every", type=int, default=25, help="steps between progress lines")
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    minigan.manual_seed(args.seed)
    dataset = training_set("mnist", args.data_dir, args.limit)
    loader = DataLoader(dataset, batch_size=args.batch_size, shuffle=True, drop_last=True, seed=args.seed,
                        device=args.device)
    G, D = ConditionalGenerator().to(args.device), ConditionalDiscriminator().to(args.device)
    g_opt = optim.Adam(G.parameters(), lr=args.lr, betas=(0.5, 0.999))
    d_opt = optim.Adam(D.parameters(), lr=args.lr, betas=(0.5, 0.999))
    fixed_z = minigan.randn(10, G.latent_dim, device=args.device)
    print(f"training a conditional GAN on {len(dataset)} images, device {args.device}, "
          f"{len(loader)} steps per epoch")

    grids = []

    def end_of_epoch(epoch, means, seconds):
        grids.append(os.path.join(args.out, f"digits_epoch_{epoch:03d}.png"))
        save_class_grid(G, fixed_z, grids[-1])
        summary = " ".join(f"{k} {v:.3f}" for k, v in means.items())
        print(f"epoch {epoch}: {summary} ({seconds:.1f}s); wrote {grids[-1]}", flush=True)

    def step(real, labels):
        return conditional_gan_step(G, D, g_opt, d_opt, real, labels)

    shown = ("d_loss", "g_loss", "d_real", "d_fake")
    run_epochs(loader, step, args.epochs, args.log_every, shown, end_of_epoch)
    if grids:
        shutil.copyfile(grids[-1], os.path.join(args.out, "digits.png"))
    minigan.save({"config": vars(args), "generator": G.state_dict(), "discriminator": D.state_dict()},
                 os.path.join(args.out, "checkpoint.npz"))


if __name__ == "__main__":
    main()
