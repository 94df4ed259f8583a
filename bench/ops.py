"""The heavy ops of a DCGAN on MNIST, one by one: minigan beside PyTorch, forward and forward+backward.

    python bench/ops.py                          # CPU, batch 64, float32
    python bench/ops.py --batch 256 --repeat 30
    python bench/ops.py --device cuda            # minigan on CuPy, torch on CUDA

Each op runs at the shapes it has in minigan.gan's DCGAN (conv2d and conv_transpose2d with
k=4, s=2, p=1; the generator's input layer and the discriminator's head; batch_norm in training
mode), on the same float32 inputs in both libraries, every input requiring grad (so both record
their graph, as in training). "fwd+bwd" is one forward and one backward of a fixed random
upstream gradient. Each framework runs in child processes of its own, rounds alternating which
goes first (see bench/harness.py for why: in one process their thread pools fight over the
cores); the table shows, per op, the median over rounds of each child's median in milliseconds,
warm-up runs excluded; ratio = minigan / torch. Without PyTorch only minigan's columns are printed.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
from typing import Callable, NamedTuple

import numpy as np

import minigan
from minigan import backend
from minigan import functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


class Case(NamedTuple):
    """One op at one shape: its inputs (NumPy, float32) and how each library calls it."""
    op: str
    shape: str
    arrays: list
    minigan_call: Callable  # (*minigan tensors) -> Tensor
    torch_call: Callable    # (torch module, *torch tensors) -> torch.Tensor


def dcgan_cases(batch: int, seed: int = 0) -> list:
    """The ops of minigan.gan's DCGAN at its shapes for a batch of ``batch`` MNIST images."""
    rng = np.random.default_rng(seed)

    def normal(*shape, scale=1.0):
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    def conv(cin, cout, side):
        return Case("conv2d", f"({batch},{cin},{side},{side}) {cin}->{cout} k4 s2 p1 -> {side // 2}x{side // 2}",
                    [normal(batch, cin, side, side), normal(cout, cin, 4, 4, scale=0.02), normal(cout)],
                    lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1),
                    lambda T, x, w, b: T.nn.functional.conv2d(x, w, b, stride=2, padding=1))

    def conv_transpose(cin, cout, side):
        return Case("conv_transpose2d",
                    f"({batch},{cin},{side},{side}) {cin}->{cout} k4 s2 p1 -> {side * 2}x{side * 2}",
                    [normal(batch, cin, side, side), normal(cin, cout, 4, 4, scale=0.02), normal(cout)],
                    lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1),
                    lambda T, x, w, b: T.nn.functional.conv_transpose2d(x, w, b, stride=2, padding=1))

    def linear(fan_in, fan_out, role):
        return Case("linear", f"({batch},{fan_in}) -> {fan_out} ({role})",
                    [normal(batch, fan_in), normal(fan_out, fan_in, scale=0.02), normal(fan_out)],
                    F.linear, lambda T, x, w, b: T.nn.functional.linear(x, w, b))

    def batch_norm(*shape):
        channels = shape[1]
        return Case("batch_norm", f"({batch},{','.join(map(str, shape[1:]))}) training",
                    [normal(batch, *shape[1:]), 1.0 + normal(channels, scale=0.02), normal(channels)],
                    lambda x, w, b: F.batch_norm(x, minigan.zeros(channels, device=x.device),
                                                 minigan.ones(channels, device=x.device), w, b, training=True),
                    lambda T, x, w, b: T.nn.functional.batch_norm(
                        x, T.zeros(channels, device=x.device), T.ones(channels, device=x.device), w, b,
                        training=True))

    return [conv(1, 64, 28), conv(64, 128, 14), conv_transpose(128, 64, 7), conv_transpose(64, 1, 14),
            linear(100, 128 * 7 * 7, "generator input"), linear(128 * 7 * 7, 1, "discriminator head"),
            batch_norm(batch, 128, 7, 7), batch_norm(batch, 64, 14, 14), batch_norm(batch, 128 * 7 * 7)]


class Runner:
    """One library running one case on one device: ``forward()`` and ``forward_backward()``."""

    def __init__(self, call, inputs, make_grad, sync):
        self.call, self.inputs, self.sync = call, inputs, sync
        self.upstream = make_grad(self._output_shape())

    def _output_shape(self):
        return tuple(self.call(*self.inputs).shape)

    def forward(self):
        self.call(*self.inputs)
        self.sync()

    def forward_backward(self):
        for t in self.inputs:
            t.grad = None  # a fresh gradient each time, not an accumulation
        self.call(*self.inputs).backward(self.upstream)
        self.sync()


def minigan_runner(case: Case, device: str, seed: int) -> Runner:
    inputs = [minigan.tensor(a, requires_grad=True, device=device) for a in case.arrays]
    rng = np.random.default_rng(seed)
    return Runner(case.minigan_call, inputs,
                  lambda shape: minigan.tensor(rng.standard_normal(shape).astype(np.float32), device=device),
                  lambda: backend.synchronize(device))


def torch_runner(torch, case: Case, device: str, seed: int) -> Runner:
    inputs = [torch.tensor(a, requires_grad=True, device=device) for a in case.arrays]
    rng = np.random.default_rng(seed)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    return Runner(lambda *t: case.torch_call(torch, *t), inputs,
                  lambda shape: torch.tensor(rng.standard_normal(shape).astype(np.float32), device=device), sync)


def measure(runner, repeat: int, warmup: int) -> list:
    """Median milliseconds of [forward, forward_backward] of one runner."""
    forward = harness.time_calls(runner.forward, repeat, warmup)
    both = harness.time_calls(runner.forward_backward, repeat, warmup)
    return [statistics.median(forward) * 1e3, statistics.median(both) * 1e3]


def child(framework: str, args) -> None:
    """Time every case in one framework, in this (fresh) process; print the JSON result."""
    if framework == "torch":
        import torch
        if args.device.startswith("cuda") and not torch.cuda.is_available():
            raise SystemExit(f"this PyTorch ({torch.__version__}) has no CUDA")
        make = lambda case, seed: torch_runner(torch, case, args.device, seed)  # noqa: E731
    else:
        make = lambda case, seed: minigan_runner(case, args.device, seed)  # noqa: E731
    cases = [measure(make(case, i), args.repeat, args.warmup) for i, case in enumerate(dcgan_cases(args.batch))]
    harness.report({"ms": sum(both for _, both in cases), "cases": cases})


def ms(t: float) -> str:
    """Milliseconds with about three significant digits (never rounded to 0)."""
    return f"{t:.0f}" if t >= 100 else f"{t:.1f}" if t >= 10 else f"{t:.2f}" if t >= 0.1 else f"{t:.2g}"


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if a / b >= 0.1 else f"{a / b:.2g}"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu", help="cpu or cuda (minigan on CuPy, torch on CUDA)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--rounds", type=int, default=3, help="child processes per framework (alternating)")
    p.add_argument("--repeat", type=int, default=15, help="timed repetitions per op (median reported)")
    p.add_argument("--warmup", type=int, default=2, help="untimed runs per op first")
    p.add_argument("--child", choices=harness.FRAMEWORKS, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.device not in ("cpu", "cuda") and not args.device.startswith("cuda:"):
        p.error(f"--device must be cpu or cuda, got {args.device!r}")
    if args.child:
        return child(args.child, args)
    frameworks = harness.FRAMEWORKS if harness.torch_available() else ("minigan",)
    print(f"# minigan ops vs PyTorch, {harness.machine_line()}")
    print(f"# each framework in its own process, default threads, device {args.device}, float32, batch {args.batch}; "
          f"{args.rounds} rounds, each the median of {args.repeat} after {args.warmup} warm-up; times in ms")

    def run(framework):
        return harness.run_child(__file__, ["--child", framework, "--device", args.device, "--batch", str(args.batch),
                                            "--repeat", str(args.repeat), "--warmup", str(args.warmup)])
    try:
        rounds = harness.alternate(run, frameworks, args.rounds)
    except RuntimeError as err:  # e.g. PyTorch without CUDA
        print(f"# torch failed: {str(err).splitlines()[0]}")
        frameworks = ("minigan",)
        rounds = harness.alternate(run, frameworks, args.rounds)
    cases = dcgan_cases(args.batch)
    # per case and column (forward, forward+backward): the median over rounds
    median = {f: [[statistics.median(r[f]["cases"][i][k] for r in rounds) for k in (0, 1)]
                  for i in range(len(cases))] for f in frameworks}
    if "torch" not in frameworks:
        print("# PyTorch is not installed or failed: minigan's columns only")
        print("| op | shape | minigan fwd | minigan fwd+bwd |")
        print("| --- | --- | ---: | ---: |")
        for case, (fwd, both) in zip(cases, median["minigan"]):
            print(f"| {case.op} | {case.shape} | {ms(fwd)} | {ms(both)} |")
        return
    print("| op | shape | minigan fwd | torch fwd | ratio | minigan fwd+bwd | torch fwd+bwd | ratio |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for case, (mg_fwd, mg_both), (th_fwd, th_both) in zip(cases, median["minigan"], median["torch"]):
        print(f"| {case.op} | {case.shape} | {ms(mg_fwd)} | {ms(th_fwd)} | {ratio(mg_fwd, th_fwd)} "
              f"| {ms(mg_both)} | {ms(th_both)} | {ratio(mg_both, th_both)} |")


if __name__ == "__main__":
    main()
