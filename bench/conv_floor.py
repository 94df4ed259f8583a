"""What limits minigan's CPU convolutions: the big products of a DCGAN iteration, PyTorch's
whole convolution beside minigan's op and the bare GEMM inside it, each framework alone in its
own process.

    python bench/conv_floor.py                       # batch 64, 5 rounds
    python bench/conv_floor.py --batch 64 256 --rounds 5

minigan computes a convolution as im2col (a copy) and one GEMM (NumPy's matmul, OpenBLAS), and
a transposed one as a GEMM and col2im (a sum of shifted slabs). If the GEMM *alone*, on the
operand shapes and layouts the op uses, already takes as long as PyTorch's whole convolution
(oneDNN's direct convolution, which never writes a column matrix), no arrangement of the
copies around it brings the op to PyTorch's time: that is the floor this script measures.

The three products below are the big ones of bench/dcgan_step.py's iteration (D's 64 -> 128
channel convolution at 14 -> 7 pixels and G's 128 -> 64 transposed one at 7 -> 14 pixels, with
their gradients), with how many times each runs per iteration; together they are ~85% of the
iteration's convolution time (the 1-channel layers are the rest). Children, rounds and the
alternation are bench/harness.py's (see its docstring for why one framework per process).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

STRIDE, PADDING, KERNEL = 2, 1, 4
# name, calls per DCGAN iteration, what runs: a conv of (64, 14, 14) into 128 channels, its
# transpose from (128, 7, 7), or the weight gradient of the first from x and dy
PRODUCTS = (
    ("conv 64->128, 14->7", 4, "conv"),  # D's forward x3, G's dx of its 128->64 transposed conv
    ("conv_transpose 128->64, 7->14", 5, "conv_transpose"),  # G's forward x2, D's dx x3
    ("weight gradient 64x128x4x4", 3, "grad_weight"),  # D's dW x2 (real, fake), G's dW
)


def minigan_timings(batch: int, repeat: int, warmup: int) -> dict:
    """Per product: minigan's op (the Function's forward, inputs laid out as the iteration lays
    them out: batch last) and the bare GEMM of the same operands."""
    import numpy as np

    from minigan.functional import conv as C
    rng = np.random.default_rng(0)
    params = ((STRIDE,) * 2, (PADDING,) * 2, (1, 1))

    def batch_last(c, h):  # conv outputs are (C, H, W, N) in memory, seen as (N, C, H, W)
        return rng.standard_normal((c, h, h, batch), dtype=np.float32).transpose(3, 0, 1, 2)
    x, gy = batch_last(64, 14), batch_last(128, 7)
    weight = rng.standard_normal((128, 64, KERNEL, KERNEL), dtype=np.float32)
    cols = C.im2col(x, (KERNEL, KERNEL), *params)  # (64*16, 49N): x's windows
    rows_gy = C._as_rows(gy)  # (128, 49N)
    out = {"conv": np.empty((128, cols.shape[1]), np.float32),
           "conv_transpose": np.empty((64 * 16, rows_gy.shape[1]), np.float32),
           "grad_weight": np.empty((128, 64 * 16), np.float32)}
    ops = {"conv": lambda: C.Conv2d(*params).forward(x, weight),
           "conv_transpose": lambda: C.ConvTranspose2d(*params).forward(gy, weight),
           "grad_weight": lambda: C.Conv2dGradW(*params, (KERNEL, KERNEL)).forward(x, gy)}
    gemms = {"conv": lambda: np.matmul(weight.reshape(128, -1), cols, out=out["conv"]),
             "conv_transpose": lambda: np.matmul(weight.reshape(128, -1).T, rows_gy, out=out["conv_transpose"]),
             "grad_weight": lambda: np.matmul(rows_gy, cols.T, out=out["grad_weight"])}
    result = {}
    for _, _, kind in PRODUCTS:
        result[kind] = statistics.median(harness.time_calls(ops[kind], repeat, warmup)) * 1e3
        result[kind + " gemm"] = statistics.median(harness.time_calls(gemms[kind], repeat, warmup)) * 1e3
    return result


def torch_timings(batch: int, repeat: int, warmup: int) -> dict:
    """Per product: PyTorch's convolution (the weight gradient by aten's convolution_backward)."""
    import torch
    import torch.nn.functional as F
    x, gy = torch.randn(batch, 64, 14, 14), torch.randn(batch, 128, 7, 7)
    weight = torch.randn(128, 64, KERNEL, KERNEL)
    ops = {"conv": lambda: F.conv2d(x, weight, stride=STRIDE, padding=PADDING),
           "conv_transpose": lambda: F.conv_transpose2d(gy, weight, stride=STRIDE, padding=PADDING),
           "grad_weight": lambda: torch.ops.aten.convolution_backward(
               gy, x, weight, None, [STRIDE] * 2, [PADDING] * 2, [1, 1], False, [0, 0], 1, [False, True, False])}
    with torch.no_grad():
        return {kind: statistics.median(harness.time_calls(ops[kind], repeat, warmup)) * 1e3 for _, _, kind in PRODUCTS}


def child(framework: str, batch: int, repeat: int, warmup: int) -> None:
    timings = (torch_timings if framework == "torch" else minigan_timings)(batch, repeat, warmup)
    harness.report({"ms": sum(timings[kind] * calls for _, calls, kind in PRODUCTS), **timings})


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, nargs="+", default=[64])
    p.add_argument("--rounds", type=int, default=5, help="child processes per framework (alternating)")
    p.add_argument("--repeat", type=int, default=20, help="timed calls of each product per child")
    p.add_argument("--warmup", type=int, default=3, help="untimed calls per child")
    p.add_argument("--child", choices=harness.FRAMEWORKS, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        child(args.child, args.batch[0], args.repeat, args.warmup)
        return 0
    if not harness.torch_available():
        raise SystemExit("conv_floor.py compares against PyTorch: pip install torch==2.13.0 (a CPU wheel)")
    print(f"# the DCGAN iteration's big convolutions, {harness.machine_line()}; {args.rounds} rounds, "
          f"each child the median of {args.repeat} calls per product after {args.warmup} warm-up")
    for batch in args.batch:
        print(f"batch {batch}:", flush=True)
        rounds = harness.alternate(lambda f: harness.run_child(__file__, [
            "--child", f, "--batch", str(batch), "--repeat", str(args.repeat), "--warmup", str(args.warmup)]),
            harness.FRAMEWORKS, args.rounds)
        med = {f: {k: statistics.median(r[f][k] for r in rounds) for k in rounds[0][f]} for f in harness.FRAMEWORKS}
        mine, theirs = med["minigan"], med["torch"]
        print(f"\n| batch {batch}: product | calls/iter | minigan op ms | its GEMM alone ms | torch ms "
              f"| GEMM alone / torch |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        for name, calls, kind in PRODUCTS:
            print(f"| {name} | {calls} | {mine[kind]:.2f} | {mine[kind + ' gemm']:.2f} | {theirs[kind]:.2f} | "
                  f"{mine[kind + ' gemm'] / theirs[kind]:.2f} |")
        gemm_total = sum(mine[kind + " gemm"] * calls for _, calls, kind in PRODUCTS)
        print(f"| per iteration | | {mine['ms']:.1f} | {gemm_total:.1f} | {theirs['ms']:.1f} | "
              f"{gemm_total / theirs['ms']:.2f} |\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
