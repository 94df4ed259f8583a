"""Data-parallel DCGAN training on the CPU: images per second on 1 and N processes, and the
share of the step spent in the gradient all-reduce.

    python bench/distributed.py                          # 1 and 2 processes, 64 images each, 3 rounds
    python bench/distributed.py --processes 1 2 4 --batch 32 --rounds 5

Each configuration is a fresh MPI job of children (``mpiexec -n N python bench/distributed.py
--child ...``) running GANTrainer.step on random images, as examples/mnist_gan.py --distributed
does: every process with ``--batch`` images (PyTorch's convention), so N processes train on a
global batch of N x --batch. One process runs alone with every core (no group, no all-reduce:
the plain run), and again bound to one core (the cost of one image on one core); N > 1
processes are bound one per core (``mpiexec -bind-to core``), so each one's BLAS and minigan's
copy threads use its own core and none fight over one. With 2 processes, one process on their
global batch (every core) is timed too, for comparison.

A child times ``--repeat`` iterations between two barriers after ``--warmup`` (images per
second = global batch x iterations / seconds) and the seconds spent inside the all-reduce calls
(GradientAllReduce.seconds of D and G, rank 0; this includes waiting for the slower rank to get
there). Then it times all-reduces of the same two buffers alone, each after a barrier: the cost
of the communication itself. Rounds alternate the order of the configurations; the table gives
medians over rounds, and every round's figure is printed as it comes.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


# -- the children: one MPI job per configuration ---------------------------------------------------
def child(batch: int, repeat: int, warmup: int, distributed: bool) -> None:
    import minigan
    from minigan import distributed as dist
    from minigan import optim
    from minigan.gan import GANTrainer, dcgan_discriminator, dcgan_generator, dcgan_init_, get_loss
    group = dist.init_process_group("mpi") if distributed else None
    rank = 0 if group is None else group.rank
    minigan.manual_seed(dist.rank_seed(0, rank))
    G, D = dcgan_init_(dcgan_generator()), dcgan_init_(dcgan_discriminator())
    if group is not None:
        for model in (G, D):
            dist.broadcast_module(model, group)
    trainer = GANTrainer(G, D, optim.Adam(G.parameters(), 2e-4, betas=(0.5, 0.999)),
                         optim.Adam(D.parameters(), 2e-4, betas=(0.5, 0.999)), get_loss("non-saturating"),
                         process_group=group)
    real = minigan.rand(batch, 1, 28, 28) * 2.0 - 1.0
    barrier = group.barrier if group is not None else (lambda: None)
    for _ in range(warmup):
        trainer.step(real)
    reducers = [trainer.d_reduce, trainer.g_reduce] if group is not None else []
    for r in reducers:
        r.seconds = 0.0
    barrier()
    start = time.perf_counter()
    for _ in range(repeat):
        trainer.step(real)
    barrier()
    seconds = time.perf_counter() - start
    world = 1 if group is None else group.world_size
    result = {"processes": world, "batch": batch, "seconds": seconds, "iterations": repeat,
              "images_per_s": world * batch * repeat / seconds, "ms_per_iteration": 1e3 * seconds / repeat,
              "all_reduce_ms": 1e3 * sum(r.seconds for r in reducers) / repeat,
              "threads": _threads(), "cores": len(os.sched_getaffinity(0))}
    if group is not None:
        result["all_reduce_alone_ms"] = 1e3 * _all_reduce_alone(group, trainer, repeat) / repeat
        shares = group.all_gather_object(result["all_reduce_ms"])
        result["all_reduce_ms_per_rank"] = shares
    if rank == 0:
        print(json.dumps({**result, "peak_rss_mib": harness.peak_rss_mib()}), flush=True)


def _all_reduce_alone(group, trainer, repeat: int) -> float:
    """Seconds for ``repeat`` rounds of the two gradient all-reduces, each started after a barrier."""
    import numpy as np
    buffers = [np.ones(sum(p.numel() for p in model.parameters()), dtype=np.float32)
               for model in (trainer.D, trainer.G)]
    total = 0.0
    for _ in range(repeat):
        for buffer in buffers:
            group.barrier()
            start = time.perf_counter()
            group.all_reduce(buffer)
            total += time.perf_counter() - start
    return total


def _threads() -> str:
    try:
        from threadpoolctl import threadpool_info
        return ",".join(f"{p['user_api']} {p['num_threads']}" for p in threadpool_info())
    except ImportError:
        return "?"


# -- the parent ------------------------------------------------------------------------------------
def run_configuration(processes: int, batch: int, bound: bool, args) -> dict:
    mpiexec = shutil.which("mpiexec", path=os.pathsep.join([os.path.dirname(sys.executable),
                                                             os.environ.get("PATH", "")]))
    flags = ["--child", "--batch", str(batch), "--repeat", str(args.repeat), "--warmup", str(args.warmup)]
    if not bound:
        command = [sys.executable, __file__, *flags]
    else:
        command = [mpiexec, "-bind-to", "core", "-n", str(processes), sys.executable, __file__, *flags]
        command += ["--distributed"] if processes > 1 else []
    done = subprocess.run(command, capture_output=True, text=True, timeout=1800, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed (exit {done.returncode}):\n{done.stdout[-2000:]}"
                           f"{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    p.add_argument("--batch", type=int, default=64, help="images per process and iteration")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--repeat", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--distributed", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return child(args.batch, args.repeat, args.warmup, args.distributed)
    configurations = [(n, args.batch, n > 1) for n in args.processes]  # (processes, batch each, bound to cores)
    if 1 in args.processes:
        configurations.insert(1, (1, args.batch, True))  # one process on one core
    if 2 in args.processes:
        configurations.insert(2, (1, 2 * args.batch, False))  # one process on the 2-process global batch
    print(f"# data-parallel DCGAN iteration, {harness.machine_line()}; load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}; {args.rounds} rounds of {args.repeat} iterations "
          f"after {args.warmup}", flush=True)
    rounds = []
    for r in range(args.rounds):
        order = configurations if r % 2 == 0 else configurations[::-1]
        row = {}
        for processes, batch, bound in order:
            result = run_configuration(processes, batch, bound, args)
            row[(processes, batch, bound)] = result
            print(f"  round {r + 1}/{args.rounds}: {_label(processes, batch, bound)}: "
                  f"{result['images_per_s']:7.1f} images/s, "
                  f"{result['ms_per_iteration']:7.1f} ms/iteration, all-reduce {result['all_reduce_ms']:6.1f} ms "
                  f"(alone {result.get('all_reduce_alone_ms', 0.0):5.1f} ms), {result['threads']}", flush=True)
        rounds.append(row)
    print(f"\nload average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}\n")
    print("| processes x images each | global batch | images/s (range) | ms/iteration | all-reduce ms (share) | "
          "all-reduce alone ms (share) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for processes, batch, bound in configurations:
        runs = [row[(processes, batch, bound)] for row in rounds]
        ms = statistics.median(x["ms_per_iteration"] for x in runs)
        reduce_ms = statistics.median(x["all_reduce_ms"] for x in runs)
        alone = statistics.median(x.get("all_reduce_alone_ms", 0.0) for x in runs)
        rates = [x["images_per_s"] for x in runs]
        print(f"| {_label(processes, batch, bound)} | {processes * batch} | {statistics.median(rates):.1f} "
              f"({min(rates):.0f}-{max(rates):.0f}) | {ms:.1f} | {reduce_ms:.1f} ({100 * reduce_ms / ms:.0f}%) "
              f"| {alone:.1f} ({100 * alone / ms:.0f}%) |")


def _label(processes: int, batch: int, bound: bool) -> str:
    cores = ("one core each" if processes > 1 else "one core") if bound else "every core"
    return f"{processes} x {batch} ({cores})"


if __name__ == "__main__":
    main()
