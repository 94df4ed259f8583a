"""Does the cost per image stay flat as the batch grows, and how much memory does training take?

    python bench/scaling.py                       # batches 16 64 256 1024, CPU, 3 rounds
    python bench/scaling.py --batch 16 64 --rounds 5

Times the DCGAN iteration of bench/dcgan_step.py at each batch size, each framework alone in
its own child process (see bench/harness.py for why), rounds alternating which goes first, and
prints milliseconds per image (median over rounds) and each framework's peak resident memory
(VmHWM of its child: the import, the models and ``--warmup`` + ``--repeat`` iterations).
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

STEP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dcgan_step.py")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, nargs="+", default=[16, 64, 256, 1024])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    frameworks = harness.FRAMEWORKS if harness.torch_available() else ("minigan",)
    print(f"# DCGAN iteration time per image, {harness.machine_line()}, device {args.device}; {args.rounds} rounds, "
          f"each child the median of {args.repeat} after {args.warmup} warm-up")
    rows = []
    for batch in args.batch:
        print(f"batch {batch}:", flush=True)

        def run(framework):
            return harness.run_child(STEP, ["--child", framework, "--device", args.device, "--batch", str(batch),
                                            "--repeat", str(args.repeat), "--warmup", str(args.warmup)])
        rows.append((batch, harness.summarize(harness.alternate(run, frameworks, args.rounds))))
    print("\n| batch | minigan ms/image | torch ms/image | ratio | peak RSS MiB minigan | torch | RSS ratio |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for batch, s in rows:
        theirs = s.get("torch", float("nan"))
        rss_mg, rss_th = s["rss"]["minigan"], s["rss"].get("torch", float("nan"))
        print(f"| {batch} | {s['minigan'] / batch:.3f} | {theirs / batch:.3f} | {s.get('ratio', float('nan')):.2f} "
              f"| {rss_mg:.0f} | {rss_th:.0f} | {rss_mg / rss_th:.2f} |")


if __name__ == "__main__":
    main()
