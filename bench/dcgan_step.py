"""One DCGAN training iteration (D step + G step, Adam, BCE with logits): minigan beside PyTorch.

    python bench/dcgan_step.py                      # CPU, batch 64
    python bench/dcgan_step.py --batch 64 256 --repeat 20
    python bench/dcgan_step.py --device cuda --batch 64 256

Both frameworks train the same architecture (minigan.gan.dcgan_*) from the same weights,
in one process, with repetitions interleaved (minigan, torch, minigan, ...) so that machine
noise hits both alike; the table shows medians. Warm-up iterations are excluded.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np

import minigan
from minigan import backend, optim
from minigan.gan import GANTrainer, dcgan_discriminator, dcgan_generator, dcgan_init_, get_loss


def minigan_step(device, batch):
    """A closure running one minigan iteration on a fixed real batch."""
    minigan.manual_seed(0)
    G, D = dcgan_init_(dcgan_generator()).to(device), dcgan_init_(dcgan_discriminator()).to(device)
    trainer = GANTrainer(G, D, optim.Adam(G.parameters(), 2e-4, betas=(0.5, 0.999)),
                         optim.Adam(D.parameters(), 2e-4, betas=(0.5, 0.999)),
                         get_loss("non-saturating"), device=device)
    real = minigan.rand(batch, 1, 28, 28, device=device) * 2.0 - 1.0

    def step():
        trainer.step(real)
        backend.synchronize(device)
    return step, (G, D)


def torch_step(torch, device, batch, weights=None):
    """The same iteration in PyTorch, starting from minigan's weights (when given)."""
    nn = torch.nn
    G = nn.Sequential(nn.Linear(100, 128 * 7 * 7), nn.BatchNorm1d(128 * 7 * 7), nn.ReLU(), nn.Unflatten(1, (128, 7, 7)),
                      nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),
                      nn.ConvTranspose2d(64, 1, 4, 2, 1), nn.Tanh())
    D = nn.Sequential(nn.Conv2d(1, 64, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(64, 128, 4, 2, 1),
                      nn.BatchNorm2d(128), nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(128 * 7 * 7, 1))
    for model, source in zip((G, D), weights or ()):
        model.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in source.state_dict().items()})
    G.to(device)
    D.to(device)
    opt_g = torch.optim.Adam(G.parameters(), 2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), 2e-4, betas=(0.5, 0.999))
    bce = nn.functional.binary_cross_entropy_with_logits
    real = torch.rand(batch, 1, 28, 28, device=device) * 2 - 1
    ones, zeros = torch.ones(batch, 1, device=device), torch.zeros(batch, 1, device=device)

    def step():
        fake = G(torch.randn(batch, 100, device=device))
        opt_d.zero_grad()
        (bce(D(real), ones) + bce(D(fake.detach()), zeros)).backward()
        opt_d.step()
        opt_g.zero_grad()
        bce(D(G(torch.randn(batch, 100, device=device))), ones).backward()
        opt_g.step()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
    return step


def timed(step) -> float:
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch", type=int, nargs="+", default=[64])
    p.add_argument("--repeat", type=int, default=15)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads (NumPy's BLAS uses all cores)")
    args = p.parse_args(argv)
    try:
        import torch
        torch.set_num_threads(args.threads)
    except ImportError:
        torch = None
    print(f"# DCGAN iteration (D step + G step), {time.strftime('%Y-%m-%d')}, {platform.machine()}, "
          f"{os.cpu_count()} cores, numpy {np.__version__}, torch {torch.__version__ if torch else 'not installed'}, "
          f"device {args.device}, median of {args.repeat} after {args.warmup} warm-up")
    print("| batch | minigan ms/iter | torch ms/iter | ratio | minigan img/s | torch img/s |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for batch in args.batch:
        ours, models = minigan_step(args.device, batch)
        theirs = torch_step(torch, args.device.replace("sim", "cpu"), batch, models) if torch else None
        for _ in range(args.warmup):
            ours()
            theirs and theirs()
        t_ours, t_theirs = [], []
        for _ in range(args.repeat):
            t_ours.append(timed(ours))
            if theirs:
                t_theirs.append(timed(theirs))
        a = statistics.median(t_ours)
        b = statistics.median(t_theirs) if theirs else float("nan")
        print(f"| {batch} | {a * 1e3:.1f} | {b * 1e3:.1f} | {a / b:.2f} | {batch / a:.0f} | {batch / b:.0f} |")


if __name__ == "__main__":
    main()
