"""Sample quality of every game, over seeds, measured with the shipped classifier.

    python bench/quality.py                                  # 10 epochs, 3 seeds, every loss (hours on 2 cores)
    python bench/quality.py --epochs 1 --seeds 1 --losses non-saturating --limit 2000
    python bench/quality.py --cgan                           # also: are cGAN digits the requested ones?
    python bench/quality.py --cgan --jobs 2 --json runs/quality.json   # two runs at a time

For each loss and seed it trains the default DCGAN with examples/mnist_gan.py on the
embedded 10,000-digit sample (or --limit N of it), scores 2,000 samples from the final
generator (minigan.metrics: Frechet distance in LeNet features, modes covered, KL to
uniform, mean confidence) and notes whether any step had a non-finite loss. It prints one
row per loss (mean and spread over seeds). With --cgan it also trains
examples/conditional_gan.py per seed and reports how often the classifier names the digit
that was asked for. Bars from the evaluation issue: all ten classes covered by the default
DCGAN; cGAN digits classified as requested at least 95% of the time; WGAN-GP with no
non-finite value.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import tempfile
import time

import numpy as np

import minigan
from minigan.gan import LOSSES

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "examples")


def _example(name: str):
    spec = importlib.util.spec_from_file_location(name, os.path.join(EXAMPLES, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def train_and_score(loss: str, seed: int, epochs: int, limit, out: str) -> dict:
    """One run of examples/mnist_gan.py, scored after its last epoch."""
    flags = ["--loss", loss, "--seed", str(seed), "--epochs", str(epochs), "--eval-every", str(epochs),
             "--out", out, "--log-every", "50", "--debug"]  # --debug: errors come back as exceptions
    if limit:
        flags += ["--limit", str(limit)]
    try:
        _example("mnist_gan").main(flags)
    except minigan.gan.DivergenceError as err:  # a NaN or infinite loss or weight, or a weight past the bound
        return {"non_finite": str(err)}
    with open(os.path.join(out, "metrics.jsonl")) as f:
        return json.loads(f.read().splitlines()[-1])


def cgan_accuracy(seed: int, epochs: int, limit, out: str, per_class: int = 200) -> float:
    """Train examples/conditional_gan.py, then the fraction of its samples that the shipped
    classifier assigns to the class that was asked for."""
    flags = ["--seed", str(seed), "--epochs", str(epochs), "--out", out, "--log-every", "100", "--debug"]
    if limit:
        flags += ["--limit", str(limit)]
    _example("conditional_gan").main(flags)
    from minigan.gan.variants import ConditionalGenerator
    G = ConditionalGenerator()
    G.load_state_dict(minigan.load(os.path.join(out, "checkpoint.npz"))["trainer"]["generator"])
    G.eval()
    classifier = minigan.classifier.pretrained()
    labels = np.repeat(np.arange(10), per_class)
    minigan.manual_seed(seed + 1000)
    with minigan.no_grad():
        images = G(minigan.randn(len(labels), G.latent_dim), minigan.tensor(labels))
        predicted = classifier(images).numpy().argmax(axis=1)
    return float(np.mean(predicted == labels))


def _summary(values):
    values = [v for v in values if v is not None]
    if not values:
        return "n/a"
    if len(values) == 1:
        return f"{values[0]:.3g}"
    return f"{statistics.mean(values):.3g} +- {statistics.stdev(values):.2g}"


def run_job(job: tuple) -> dict:
    """One training run, ("gan", loss, seed) or ("cgan", None, seed), with its result."""
    kind, loss, seed, epochs, limit, out = job
    started = time.time()
    if kind == "gan":
        result = train_and_score(loss, seed, epochs, limit, out)
    else:
        result = {"requested_label_accuracy": cgan_accuracy(seed, epochs, limit, out)}
    return {"kind": kind, "loss": loss, "seed": seed, "epochs": epochs, **result,
            "wall_seconds": round(time.time() - started)}


def run_jobs(jobs: list, processes: int) -> list:
    """Every job, in `processes` fresh processes with one BLAS thread each (on 2 cores two
    single-threaded runs finish sooner than two runs one after the other on 2 threads)."""
    if processes <= 1:
        return [run_job(job) for job in jobs]
    import multiprocessing
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = "1"  # read by NumPy in each spawned child, before it loads
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        return pool.map(run_job, jobs, chunksize=1)


def print_table(results: list, losses: list) -> None:
    print("| loss | Frechet distance | modes covered | KL to uniform | mean confidence | non-finite runs |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for loss in losses:
        runs = [r for r in results if r["kind"] == "gan" and r["loss"] == loss]
        finite = [r for r in runs if "non_finite" not in r]
        cells = [_summary([r[key] for r in finite])
                 for key in ("frechet_distance", "modes_covered", "kl_to_uniform", "mean_confidence")]
        print(f"| {loss} | {' | '.join(cells)} | {len(runs) - len(finite)} of {len(runs)} |")
    accuracy = [r["requested_label_accuracy"] for r in results if r["kind"] == "cgan"]
    if accuracy:
        print(f"\ncGAN: digits classified as the requested label: {_summary(accuracy)} "
              f"(seeds: {', '.join(f'{a:.4f}' for a in accuracy)}; bar: 0.95)")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--losses", nargs="+", default=sorted(LOSSES), choices=sorted(LOSSES))
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--limit", type=int, default=None, help="train on the first N digits only")
    p.add_argument("--cgan", action="store_true", help="also measure the conditional GAN's accuracy")
    p.add_argument("--cgan-epochs", type=int, default=25, help="epochs of the cGAN (its script's default)")
    p.add_argument("--jobs", type=int, default=1, help="runs trained in parallel, one BLAS thread each")
    p.add_argument("--json", default=None, help="also write every run's figures to this file")
    args = p.parse_args(argv)
    started = time.time()
    print(f"# sample quality, {time.strftime('%Y-%m-%d')}, {args.epochs} epochs, seeds 0..{args.seeds - 1}, "
          f"{args.limit or 10000} digits; 2,000 samples scored per run")
    with tempfile.TemporaryDirectory() as tmp:
        jobs = [("gan", loss, seed, args.epochs, args.limit, os.path.join(tmp, f"{loss}-{seed}"))
                for loss in args.losses for seed in range(args.seeds)]
        if args.cgan:
            jobs = [("cgan", None, seed, args.cgan_epochs, args.limit, os.path.join(tmp, f"cgan-{seed}"))
                    for seed in range(args.seeds)] + jobs  # the longest runs first
        results = run_jobs(jobs, args.jobs)
    print_table(results, args.losses)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    print(f"\n{time.time() - started:.0f} s in all ({args.jobs} job(s))")


if __name__ == "__main__":
    main()
