"""Timing minigan beside PyTorch honestly: each framework alone in its own process.

Why: NumPy's OpenBLAS worker threads keep spinning for a while after every BLAS call, and so
do PyTorch's OpenMP threads. In one process the two pools take cores from each other; on a
2-core machine that halved PyTorch's speed and made minigan look twice as fast as it was. A
user runs one framework per process, so the bench scripts measure exactly that:

- every measurement is a fresh child process (this file's :func:`run_child`) that imports one
  framework, warms up, times ``repeat`` runs and prints their median and its peak resident
  memory as one JSON line;
- a comparison runs ``rounds`` rounds, each one child per framework, alternating which goes
  first (A B, B A, ...), so slow drifts of the machine hit both alike;
- the ratio is the median over rounds of the per-round ratios minigan / torch, and every
  round's figures are printed beside the summary.
"""
from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time

FRAMEWORKS = ("minigan", "torch")


def peak_rss_mib() -> float:
    """This process's peak resident memory in MiB. Linux's VmHWM starts afresh at exec;
    ru_maxrss keeps the parent's peak from before the fork, so it is only the fallback."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def time_calls(fn, repeat: int, warmup: int) -> list:
    """Seconds taken by each of ``repeat`` calls of ``fn`` after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def report(result: dict) -> None:
    """Print a child's result as the one JSON line :func:`run_child` reads (plus its peak RSS)."""
    print(json.dumps({**result, "peak_rss_mib": peak_rss_mib()}), flush=True)


def torch_available() -> bool:
    """Whether PyTorch can be imported, asked in a child so this process never imports it."""
    probe = subprocess.run([sys.executable, "-c", "import torch"], capture_output=True)
    return probe.returncode == 0


def run_child(script: str, args: list, timeout: float = 1800) -> dict:
    """Run ``python script *args`` in a fresh process and return the JSON its last line holds."""
    done = subprocess.run([sys.executable, script, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})
    if done.returncode != 0:
        raise RuntimeError(f"{os.path.basename(script)} {' '.join(args)} failed (exit {done.returncode}):\n"
                           f"{done.stderr.strip()[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def alternate(run, frameworks, rounds: int, log=print) -> list:
    """``rounds`` rounds of ``run(framework) -> dict``, the order of the frameworks alternating
    from round to round. Returns [{framework: result}] per round; logs each result as it comes."""
    results = []
    for r in range(rounds):
        order = list(frameworks) if r % 2 == 0 else list(reversed(frameworks))
        row = {}
        for framework in order:
            row[framework] = run(framework)
            log(f"  round {r + 1}/{rounds} {framework:>7}: {row[framework]['ms']:9.2f} ms  "
                f"(peak RSS {row[framework]['peak_rss_mib']:.0f} MiB)")
        results.append(row)
    return results


def summarize(rounds: list, key: str = "ms") -> dict:
    """Median over rounds of each framework's ``key``, and the median of per-round ratios."""
    summary = {f: statistics.median(r[f][key] for r in rounds) for f in rounds[0]}
    summary["rss"] = {f: max(r[f]["peak_rss_mib"] for r in rounds) for f in rounds[0]}
    if "torch" in rounds[0]:
        ratios = [r["minigan"][key] / r["torch"][key] for r in rounds]
        summary["ratios"] = ratios
        summary["ratio"] = statistics.median(ratios)
    return summary


def machine_line() -> str:
    """Date, CPU, cores and NumPy's BLAS kernel: what a figure in RESULTS.md must carry."""
    import platform

    import numpy as np
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    blas = ""
    try:
        from threadpoolctl import threadpool_info
        pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
        if pools:
            blas = f", BLAS {pools[0].get('internal_api')} {pools[0].get('architecture')}"
    except ImportError:
        pass
    return (f"{time.strftime('%Y-%m-%d %H:%M')}, {cpu}, {os.cpu_count()} cores, numpy {np.__version__}{blas}, "
            f"python {platform.python_version()}")
