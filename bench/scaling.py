"""Does the cost per image stay flat as the batch grows, and how much memory does training take?

    python bench/scaling.py                       # batches 16 64 256 1024, CPU
    python bench/scaling.py --batch 16 64 --memory-steps 5

Part 1 times the DCGAN iteration of bench/dcgan_step.py at each batch size (minigan and
PyTorch in one process, interleaved, medians) and prints milliseconds per image.
Part 2 runs a short training (batch 64) in a fresh child process per framework and reports
the peak resident memory (VmHWM) of each, side by side.
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dcgan_step  # noqa: E402  (the same iteration, built the same way)


def per_image(batch: int, repeat: int, torch) -> tuple:
    ours, models = dcgan_step.minigan_step("cpu", batch)
    theirs = dcgan_step.torch_step(torch, "cpu", batch, models) if torch else None
    for _ in range(2):
        ours()
        theirs and theirs()
    t_ours, t_theirs = [], []
    for _ in range(repeat):
        t_ours.append(dcgan_step.timed(ours))
        if theirs:
            t_theirs.append(dcgan_step.timed(theirs))
    a = statistics.median(t_ours) / batch
    b = statistics.median(t_theirs) / batch if theirs else float("nan")
    return a, b


def child(framework: str, steps: int, batch: int) -> None:
    """Train ``steps`` iterations and print the peak RSS in MiB (run in a fresh process)."""
    if framework == "torch":
        import torch
        step = dcgan_step.torch_step(torch, "cpu", batch)
    else:
        step, _ = dcgan_step.minigan_step("cpu", batch)
    for _ in range(steps):
        step()
    print(_peak_rss_mib())


def _peak_rss_mib() -> float:
    """This process's peak resident memory. Linux's VmHWM starts afresh at exec; ru_maxrss
    does not (it keeps the parent's peak from before the fork), so it is only the fallback."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_rss(framework: str, steps: int, batch: int) -> float:
    out = subprocess.run([sys.executable, __file__, "--child", framework, "--memory-steps", str(steps),
                          "--memory-batch", str(batch)], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, nargs="+", default=[16, 64, 256, 1024])
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--memory-steps", type=int, default=10)
    p.add_argument("--memory-batch", type=int, default=64)
    p.add_argument("--child", choices=["minigan", "torch"], help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return child(args.child, args.memory_steps, args.memory_batch)
    try:
        import torch
        torch.set_num_threads(os.cpu_count())
    except ImportError:
        torch = None
    print(f"# DCGAN iteration time per image, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, "
          f"median of {args.repeat}")
    print("| batch | minigan ms/image | torch ms/image | ratio |")
    print("| ---: | ---: | ---: | ---: |")
    for batch in args.batch:
        a, b = per_image(batch, args.repeat, torch)
        print(f"| {batch} | {a * 1e3:.3f} | {b * 1e3:.3f} | {a / b:.2f} |")
    print(f"\n# peak resident memory of {args.memory_steps} training iterations at batch {args.memory_batch} "
          "(fresh process each)")
    print("| framework | peak RSS MiB |")
    print("| --- | ---: |")
    ours = peak_rss("minigan", args.memory_steps, args.memory_batch)
    print(f"| minigan | {ours:.0f} |")
    if torch:
        theirs = peak_rss("torch", args.memory_steps, args.memory_batch)
        print(f"| torch | {theirs:.0f} |")
        print(f"| ratio minigan/torch | {ours / theirs:.2f} |")


if __name__ == "__main__":
    main()
