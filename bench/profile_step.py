"""Where a DCGAN training iteration spends its time, op by op (minigan.profile()).

    python bench/profile_step.py                 # CPU, batch 64
    python bench/profile_step.py --batch 256 --device cuda
    python bench/profile_step.py --torch         # and PyTorch's profiler on the same step

Prints the per-op table (self time, forward and backward separately) for one iteration
(D step + G step) after warm-up, and how much of the iteration the ops account for. With
``--torch``, a child process (never this one: see bench/harness.py) runs the iteration of
bench/dcgan_step.py under torch.profiler and prints its table of self CPU time per op.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
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
    p.add_argument("--torch", action="store_true", help="also profile PyTorch's iteration (in a child process)")
    p.add_argument("--torch-child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.torch_child:
        return torch_profile(args)
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
    if args.torch:
        sys.stdout.flush()
        subprocess.run([sys.executable, __file__, "--torch-child", "--batch", str(args.batch), "--device", args.device,
                        "--iterations", str(args.iterations), "--rows", str(args.rows)], check=True)


def torch_profile(args) -> None:
    """PyTorch's profiler on bench/dcgan_step.py's PyTorch iteration (run in a fresh process)."""
    import torch
    from torch.profiler import ProfilerActivity, profile
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import dcgan_step
    step = dcgan_step.torch_step(args.device, args.batch)
    for _ in range(2):
        step()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if args.device.startswith("cuda") else [])
    with profile(activities=activities) as prof:
        start = time.perf_counter()
        for _ in range(args.iterations):
            step()
        elapsed = time.perf_counter() - start
    print(f"\n# PyTorch {torch.__version__}, the same iteration, batch {args.batch}, {args.iterations} iterations, "
          f"{torch.get_num_threads()} threads")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.rows))
    print(f"{elapsed / args.iterations * 1e3:.1f} ms per iteration (under the profiler)")


if __name__ == "__main__":
    main()
