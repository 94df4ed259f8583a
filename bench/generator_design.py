"""Generator designs of issue #18, trained over seeds and measured with the shipped classifier.

    python bench/generator_design.py resize --seeds 3 --jobs 2   # DCGAN: transposed vs resize convolutions
    python bench/generator_design.py style --seeds 3 --jobs 2    # style mixing: whose digit is it?
    python bench/generator_design.py progressive --seeds 3 --jobs 2
    python bench/generator_design.py steer --seeds 3             # steering z (uses the DCGAN runs of `resize`)
    python bench/generator_design.py vae --seeds 3 --jobs 2

Every run is an example script at its defaults on the embedded 10,000 digits, in its own
process with one BLAS thread (--jobs of them at a time), kept in --runs
(runs/generator_design/<name>-seed<k>): a second call scores without training again, and a
call that was stopped continues the runs with --resume. Each generator is scored from its last
checkpoint on 2,000 samples from a fixed z (G in eval mode), as examples/mnist_gan.py's
--eval-every does: Frechet distance in the LeNet's features, modes covered (minigan.metrics),
and for `resize` the checkerboard energy (minigan.metrics.checkerboard_energy). The tables are
printed as Markdown; --json keeps every run's figures.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's minigan, when run from anywhere

import minigan  # noqa: E402
from minigan.gan.checkpoints import load_generator  # noqa: E402
from minigan.metrics import REFERENCE_SIZE, checkerboard_energy, default_evaluator  # noqa: E402

IMAGES = ROOT / "docs" / "images"


# -- training runs --------------------------------------------------------------------------------
class Job:
    """One example run: ``script`` with ``flags`` into ``out`` for ``epochs`` epochs."""

    def __init__(self, name: str, script: str, flags: list, out: Path, epochs: int):
        self.name, self.script, self.flags, self.out, self.epochs = name, script, flags, out, epochs

    def epochs_done(self) -> int:
        metrics = self.out / "metrics.jsonl"
        if not (self.out / "checkpoint.npz").exists() or not metrics.exists():
            return 0
        rows = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
        return max((row["epoch"] for row in rows), default=0)

    def command(self) -> list:
        start = ["--resume"] if self.epochs_done() else ["--overwrite"]
        return [sys.executable, str(ROOT / "examples" / self.script), *self.flags, "--epochs", str(self.epochs),
                "--out", str(self.out), "--log-every", "100", *start]


def run_jobs(jobs: list, processes: int) -> None:
    """Train the jobs not yet done, ``processes`` at a time, each with one BLAS thread; the
    output of each goes to its folder's train.log."""
    todo = [job for job in jobs if job.epochs_done() < job.epochs]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    running = []
    while todo or running:
        while todo and len(running) < processes:
            job = todo.pop(0)
            job.out.mkdir(parents=True, exist_ok=True)
            log = open(job.out / "train.log", "a")
            print(f"training {job.name}: {' '.join(job.command()[1:])}", flush=True)
            running.append((job, subprocess.Popen(job.command(), stdout=log, stderr=subprocess.STDOUT, env=env,
                                                  cwd=ROOT), log))
        time.sleep(2)
        for entry in [e for e in running if e[1].poll() is not None]:
            job, process, log = entry
            log.close()
            running.remove(entry)
            if process.returncode != 0:
                print(f"{job.name} failed (exit {process.returncode}); see {job.out / 'train.log'}", flush=True)


def training_seconds(out: Path) -> float:
    """The seconds the run's epochs took, from its metrics.jsonl."""
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return float(sum(row.get("seconds", 0.0) for row in rows))


# -- scoring --------------------------------------------------------------------------------------
def samples(G, latent_dim: int, seed: int, n: int = REFERENCE_SIZE, batch: int = 250) -> np.ndarray:
    """n images from z drawn by NumPy's generator seeded with ``seed`` (as mnist_gan.py's
    evaluation does), G in eval mode."""
    z = np.random.default_rng(seed).standard_normal((n, latent_dim)).astype(np.float32)
    G.eval()
    with minigan.no_grad():
        return np.concatenate([G(minigan.tensor(z[i:i + batch])).numpy() for i in range(0, n, batch)])


def score(out: Path, seed: int) -> dict:
    """The figures of the generator in ``out``/checkpoint.npz."""
    G, latent_dim, kind = load_generator(out / "checkpoint.npz")
    images = samples(G, latent_dim, seed)
    metrics = default_evaluator()(images)
    return {"frechet_distance": metrics["frechet_distance"], "modes_covered": metrics["modes_covered"],
            "mean_confidence": metrics["mean_confidence"], "checkerboard": checkerboard_energy(images),
            "seconds": training_seconds(out)}


def summary(values) -> str:
    values = [v for v in values if v is not None]
    if len(values) < 2:
        return f"{values[0]:.3g}" if values else "n/a"
    return f"{statistics.mean(values):.3g} +- {statistics.stdev(values):.2g}"


def table(rows: dict, columns: list) -> None:
    """A Markdown table: one row per name, mean +- std over its seeds per column."""
    print("| model | " + " | ".join(label for _, label in columns) + " |")
    print("| --- |" + " ---: |" * len(columns))
    for name, results in rows.items():
        cells = [summary([r[key] for r in results]) for key, _ in columns]
        print(f"| {name} | " + " | ".join(cells) + " |")


# -- resize-convolution ---------------------------------------------------------------------------
def dcgan_jobs(args, archs=("dcgan", "dcgan-resize")) -> list:
    return [Job(f"{arch}-seed{seed}", "mnist_gan.py", ["--arch", arch, "--seed", str(seed)],
                Path(args.runs) / f"{arch}-seed{seed}", 10) for arch in archs for seed in range(args.seeds)]


def resize(args) -> dict:
    jobs = dcgan_jobs(args)
    run_jobs(jobs, args.jobs)
    results = {}
    for job in jobs:
        arch = job.name.rsplit("-seed", 1)[0]
        results.setdefault(arch, []).append(score(job.out, int(job.name.rsplit("seed", 1)[1])))
    from minigan.classifier import embedded_digits
    real = checkerboard_energy(embedded_digits()[0][:REFERENCE_SIZE])
    print(f"\n# transposed (dcgan) vs resize (dcgan-resize) convolutions, 10 epochs, seeds 0..{args.seeds - 1}; "
          f"2,000 samples per run; real digits' checkerboard energy {real:.4f}\n")
    table(results, [("checkerboard", "checkerboard energy (period 2)"), ("frechet_distance", "Frechet distance"),
                    ("modes_covered", "modes covered"), ("seconds", "training seconds")])
    if args.figure:
        resize_figure([Path(args.runs) / f"{arch}-seed0" for arch in ("dcgan", "dcgan-resize")],
                      IMAGES / "resize_vs_transposed.png")
    return {"real_checkerboard": real, **results}


def resize_figure(outs: list, path: Path) -> None:
    """Samples of the two generators (seed 0) beside their mean power spectra and the real
    digits': the transposed convolutions' energy at the period-2 frequency shows as the bright
    centre cross of a spectrum shifted so that frequency 0 sits at the corners."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from minigan.classifier import embedded_digits
    from minigan.utils.images import grid_picture
    sets = [("real digits", embedded_digits()[0][:REFERENCE_SIZE])]
    for out, label in zip(outs, ("transposed conv (dcgan)", "resize conv (dcgan-resize)")):
        G, latent_dim, _ = load_generator(out / "checkpoint.npz")
        sets.append((label, samples(G, latent_dim, seed=0)))
    fig, axes = plt.subplots(2, 3, figsize=(7.2, 5.0), gridspec_kw={"height_ratios": [1, 1]})
    for column, (label, images) in enumerate(sets):
        axes[0, column].imshow(grid_picture(images[:16], nrow=4), cmap="gray")
        centred = images[:, 0] - images[:, 0].mean(axis=(1, 2), keepdims=True)
        power = (np.abs(np.fft.fft2(centred)) ** 2).mean(axis=0)
        axes[1, column].imshow(np.log10(power + 1e-3), cmap="magma")  # unshifted: the period-2 row/column at 14
        axes[0, column].set_title(f"{label}\ncheckerboard {checkerboard_energy(images):.3f}", fontsize=8)
        for axis in axes[:, column]:
            axis.set_xticks([])
            axis.set_yticks([])
    axes[1, 0].set_ylabel("log power spectrum\n(frequency 14 in the middle)", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    print(f"wrote {path}")


EXPERIMENTS = {"resize": resize}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("experiment", choices=sorted(EXPERIMENTS))
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--jobs", type=int, default=2, help="runs trained at a time, one BLAS thread each")
    p.add_argument("--runs", default=str(ROOT / "runs" / "generator_design"))
    p.add_argument("--figure", action="store_true", help="also draw the experiment's figure into docs/images/")
    p.add_argument("--json", default=None, help="write every run's figures to this file")
    args = p.parse_args(argv)
    started = time.time()
    print(f"# {args.experiment}, {time.strftime('%Y-%m-%d')}, seeds 0..{args.seeds - 1}, {args.jobs} job(s)")
    results = EXPERIMENTS[args.experiment](args)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    print(f"\n{time.time() - started:.0f} s in all")


if __name__ == "__main__":
    main()
