"""One DCGAN training iteration: minigan beside PyTorch, each framework alone in its own process.

    python bench/dcgan_step.py                           # CPU, batch 64, 5 rounds
    python bench/dcgan_step.py --batch 64 256 --rounds 7
    python bench/dcgan_step.py --batch 64 256 --max-ratio 1.0   # exits 1 if minigan is slower
    python bench/dcgan_step.py --device cuda --batch 64 256

The iteration is Goodfellow et al.'s Algorithm 1 with the DCGAN of minigan.gan: a D step on a
real batch and G(z1) made under no_grad, then a G step on fresh z2; Adam(2e-4, 0.5, 0.999);
BCE with logits (the non-saturating game). minigan runs it through GANTrainer.step, as
examples/mnist_gan.py does; PyTorch runs the same layers, written the usual way.

Each framework runs in a child process of its own (see bench/harness.py for why: in one
process their BLAS/OpenMP thread pools fight over the cores), with its default threads. Each
round starts one child per framework, alternating which goes first; a child takes the median
of ``--repeat`` iterations after ``--warmup``. The table gives the median over rounds, the
median of the per-round ratios (minigan / torch) and their range, and each child's peak
resident memory. ``--max-ratio`` makes it a regression guard for use by hand (never in CI:
timings on shared machines are noise).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


# -- the children: one framework each ----------------------------------------------------------
def minigan_step(device: str, batch: int):
    """A closure running one minigan iteration on a fixed real batch."""
    import minigan
    from minigan import backend, optim
    from minigan.gan import GANTrainer, dcgan_discriminator, dcgan_generator, dcgan_init_, get_loss
    minigan.manual_seed(0)
    G, D = dcgan_init_(dcgan_generator()).to(device), dcgan_init_(dcgan_discriminator()).to(device)
    trainer = GANTrainer(G, D, optim.Adam(G.parameters(), 2e-4, betas=(0.5, 0.999)),
                         optim.Adam(D.parameters(), 2e-4, betas=(0.5, 0.999)),
                         get_loss("non-saturating"), device=device)
    real = minigan.rand(batch, 1, 28, 28, device=device) * 2.0 - 1.0

    def step():
        trainer.step(real)
        backend.synchronize(device)
    return step


def torch_step(device: str, batch: int):
    """The same iteration in PyTorch, DCGAN-initialised (N(0, 0.02) weights, N(1, 0.02) scales)."""
    import torch
    nn = torch.nn
    torch.manual_seed(0)
    G = nn.Sequential(nn.Linear(100, 128 * 7 * 7), nn.BatchNorm1d(128 * 7 * 7), nn.ReLU(), nn.Unflatten(1, (128, 7, 7)),
                      nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),
                      nn.ConvTranspose2d(64, 1, 4, 2, 1), nn.Tanh()).to(device)
    D = nn.Sequential(nn.Conv2d(1, 64, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(64, 128, 4, 2, 1),
                      nn.BatchNorm2d(128), nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(128 * 7 * 7, 1)).to(device)
    for m in [*G.modules(), *D.modules()]:
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    opt_g = torch.optim.Adam(G.parameters(), 2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), 2e-4, betas=(0.5, 0.999))
    bce = nn.functional.binary_cross_entropy_with_logits
    real = torch.rand(batch, 1, 28, 28, device=device) * 2 - 1
    ones, zeros = torch.ones(batch, 1, device=device), torch.zeros(batch, 1, device=device)

    def step():
        with torch.no_grad():
            fake = G(torch.randn(batch, 100, device=device))
        opt_d.zero_grad()
        (bce(D(real), ones) + bce(D(fake), zeros)).backward()
        opt_d.step()
        opt_g.zero_grad()
        bce(D(G(torch.randn(batch, 100, device=device))), ones).backward()
        opt_g.step()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
    return step


def child(framework: str, device: str, batch: int, repeat: int, warmup: int) -> None:
    """Time one framework's iteration in this (fresh) process and print the JSON result."""
    if framework == "torch":
        import torch
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise SystemExit("this PyTorch has no CUDA")
        step = torch_step(device.replace("sim", "cpu"), batch)
    else:
        step = minigan_step(device, batch)
    times = harness.time_calls(step, repeat, warmup)
    harness.report({"ms": statistics.median(times) * 1e3, "times_ms": [t * 1e3 for t in times]})


# -- the parent: rounds of children, the table -------------------------------------------------
def compare(args, batch: int, frameworks) -> dict:
    """Alternating rounds of one child per framework at ``batch``; their summary."""
    def run(framework):
        return harness.run_child(__file__, ["--child", framework, "--device", args.device, "--batch", str(batch),
                                            "--repeat", str(args.repeat), "--warmup", str(args.warmup)])
    print(f"batch {batch}:", flush=True)
    return harness.summarize(harness.alternate(run, frameworks, args.rounds))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch", type=int, nargs="+", default=[64])
    p.add_argument("--rounds", type=int, default=5, help="child processes per framework (alternating)")
    p.add_argument("--repeat", type=int, default=10, help="timed iterations per child")
    p.add_argument("--warmup", type=int, default=3, help="untimed iterations per child")
    p.add_argument("--max-ratio", type=float, help="exit 1 if a batch's ratio minigan/torch is above this")
    p.add_argument("--child", choices=harness.FRAMEWORKS, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        child(args.child, args.device, args.batch[0], args.repeat, args.warmup)
        return 0
    frameworks = harness.FRAMEWORKS if harness.torch_available() else ("minigan",)
    print(f"# DCGAN iteration (D step + G step), {harness.machine_line()}, device {args.device}; "
          f"{args.rounds} rounds, each child the median of {args.repeat} after {args.warmup} warm-up")
    rows = []
    for batch in args.batch:
        try:
            rows.append((batch, compare(args, batch, frameworks)))
        except RuntimeError as err:  # e.g. PyTorch without CUDA: still print minigan's figures
            if frameworks == ("minigan",):
                raise
            print(f"  torch failed, minigan alone: {str(err).splitlines()[0]}")
            rows.append((batch, compare(args, batch, ("minigan",))))
    print("\n| batch | minigan ms/iter | torch ms/iter | ratio (median of rounds) | ratio range "
          "| minigan img/s | torch img/s | peak RSS MiB minigan / torch |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    too_slow = []
    for batch, s in rows:
        theirs, ratio = s.get("torch", float("nan")), s.get("ratio", float("nan"))
        spread = f"{min(s['ratios']):.2f}-{max(s['ratios']):.2f}" if "ratios" in s else "-"
        rss = f"{s['rss']['minigan']:.0f} / {s['rss'].get('torch', float('nan')):.0f}"
        print(f"| {batch} | {s['minigan']:.1f} | {theirs:.1f} | {ratio:.2f} | {spread} | "
              f"{batch / s['minigan'] * 1e3:.0f} | {batch / theirs * 1e3:.0f} | {rss} |")
        if args.max_ratio is not None and not ratio <= args.max_ratio:
            too_slow.append(f"batch {batch}: ratio {ratio:.2f} > {args.max_ratio}")
    for line in too_slow:
        print(f"REGRESSION: {line}")
    return 1 if too_slow else 0


if __name__ == "__main__":
    sys.exit(main())
