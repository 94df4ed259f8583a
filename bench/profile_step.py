"""Where a DCGAN training iteration spends its time, op by op (minigan.profile()).

    python bench/profile_step.py                 # CPU, batch 64
    python bench/profile_step.py --batch 256 --device cuda

Prints the per-op table (self time, forward and backward separately) for one iteration
(D step + G step) after warm-up, and how much of the iteration the ops account for.
"""
from __future__ import annotations

import argparse
import time

import minigan
from minigan import backend, optim
from minigan.gan import GANTrainer, dcgan_discriminator, dcgan_generator, dcgan_init_, get_loss


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--iterations", type=int, default=3, help="iterations profiled (after 2 warm-up)")
    p.add_argument("--rows", type=int, default=25)
    args = p.parse_args(argv)
    minigan.manual_seed(0)
    G = dcgan_init_(dcgan_generator()).to(args.device)
    D = dcgan_init_(dcgan_discriminator()).to(args.device)
    trainer = GANTrainer(G, D, optim.Adam(G.parameters(), 2e-4, betas=(0.5, 0.999)),
                         optim.Adam(D.parameters(), 2e-4, betas=(0.5, 0.999)),
                         get_loss("non-saturating"), device=args.device)
    real = minigan.rand(args.batch, 1, 28, 28, device=args.device) * 2.0 - 1.0
    for _ in range(2):
        trainer.step(real)
    backend.synchronize(args.device)
    with minigan.profile(sync=args.device.startswith("cuda")) as prof:
        start = time.perf_counter()
        for _ in range(args.iterations):
            trainer.step(real)
        backend.synchronize(args.device)
        elapsed = time.perf_counter() - start
    print(f"# DCGAN iteration, batch {args.batch}, device {args.device}, {args.iterations} iterations profiled")
    print(prof.table(args.rows))
    print(f"\n{elapsed / args.iterations * 1e3:.1f} ms per iteration, of which ops "
          f"{prof.total() / args.iterations * 1e3:.1f} ms; the rest is optimizers and Python between ops")


if __name__ == "__main__":
    main()
