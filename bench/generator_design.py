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


def training_seconds(out: Path, key: str = "seconds"):
    """The seconds the run's epochs took, from its metrics.jsonl: wall ("seconds") or this
    process's CPU ("cpu_seconds"; None when an epoch row lacks it, as rows written before the
    field existed do)."""
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
    if any(key not in row for row in rows):
        return None
    return float(sum(row[key] for row in rows))


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
            "seconds": training_seconds(out), "cpu_seconds": training_seconds(out, "cpu_seconds")}


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
        arch, seed = job.name.rsplit("-seed", 1)
        results.setdefault(arch, []).append({**score(job.out, int(seed)),
                                             "checkerboard_at_init": checkerboard_energy(untrained(arch, int(seed)))})
    from minigan.classifier import embedded_digits
    real = checkerboard_energy(embedded_digits()[0][:REFERENCE_SIZE])
    print(f"\n# transposed (dcgan) vs resize (dcgan-resize) convolutions, seeds 0..{args.seeds - 1}; "
          f"2,000 samples per run; real digits' checkerboard energy {real:.4f}\n")
    table(results, [("checkerboard_at_init", "checkerboard energy, epoch 0"),
                    ("checkerboard", "checkerboard energy, epoch 10"), ("frechet_distance", "Frechet distance"),
                    ("modes_covered", "modes covered"), ("seconds", "wall s"), ("cpu_seconds", "CPU s")])
    if args.figure:
        resize_figure(Path(args.runs), IMAGES / "resize_vs_transposed.png")
    return {"real_checkerboard": real, **results}


def untrained(arch: str, seed: int) -> np.ndarray:
    """2,000 samples of ``arch``'s generator as mnist_gan.py initialises it with ``seed`` (epoch 0)."""
    from minigan.gan import build
    minigan.manual_seed(seed)
    G, _ = build(arch, "non-saturating")
    return samples(G, G[0].in_features, seed)


def resize_figure(runs: Path, path: Path) -> None:
    """Seed 0's samples of both generators at initialisation and after 10 epochs (top; each
    image's contrast stretched to the full range, since untrained samples are all near grey),
    and under each the log10 ratio of their mean power spectrum to the real digits', both
    normalised to a total of 1 (bottom; unshifted, so the period-2 frequency 14 is the middle
    row and column): the transposed convolutions' checkerboard is the red cross of the
    untrained DCGAN."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from minigan.classifier import embedded_digits
    from minigan.utils.images import grid_picture
    real = power_spectrum(embedded_digits()[0][:REFERENCE_SIZE])
    sets = []
    for arch, label in (("dcgan", "transposed conv"), ("dcgan-resize", "resize conv")):
        sets.append((f"{label}, epoch 0", untrained(arch, 0)))
        G, latent_dim, _ = load_generator(runs / f"{arch}-seed0" / "checkpoint.npz")
        sets.append((f"{label}, epoch 10", samples(G, latent_dim, seed=0)))
    sets = [sets[0], sets[2], sets[1], sets[3]]  # both untrained, then both trained
    fig, axes = plt.subplots(2, 4, figsize=(8.0, 4.4))
    for column, (label, images) in enumerate(sets):
        axes[0, column].imshow(grid_picture(stretched(images[:4]), nrow=2), cmap="gray")
        axes[0, column].set_title(f"{label}\ncheckerboard {checkerboard_energy(images):.4f}", fontsize=8)
        power = power_spectrum(images)
        shown = axes[1, column].imshow(np.log10(power / power.sum() / (real / real.sum())), cmap="RdBu_r", vmin=-2,
                                       vmax=2)
        for axis in axes[:, column]:
            axis.set_xticks([])
            axis.set_yticks([])
    axes[1, 0].set_ylabel("log10 power / real digits'\n(frequency 14 in the middle)", fontsize=7)
    fig.colorbar(shown, ax=axes[1, :].tolist(), shrink=0.8)
    save_small(fig, path, bbox_inches="tight")


def stretched(images: np.ndarray) -> np.ndarray:
    """Each image mapped linearly onto [-1, 1]."""
    low, high = images.min(axis=(1, 2, 3), keepdims=True), images.max(axis=(1, 2, 3), keepdims=True)
    return 2 * (images - low) / np.maximum(high - low, 1e-12) - 1


def power_spectrum(images: np.ndarray) -> np.ndarray:
    """The mean |FFT|^2 of the images, each with its mean removed."""
    centred = images[:, 0] - images[:, 0].mean(axis=(1, 2), keepdims=True)
    return (np.abs(np.fft.fft2(centred)) ** 2).mean(axis=0)


# -- the other designs, each beside the default DCGAN ---------------------------------------------
def design_jobs(args, name: str) -> list:
    """The runs of one design at its script's defaults, seeds 0 .. --seeds - 1."""
    script, epochs = DESIGNS[name]
    return [Job(f"{name}-seed{seed}", script, ["--seed", str(seed)], Path(args.runs) / f"{name}-seed{seed}", epochs)
            for seed in range(args.seeds)]


DESIGNS = {"style": ("style_mixing.py", 12), "progressive": ("progressive_gan.py", 8), "vae": ("vae.py", 50)}
TIMING = [("frechet_distance", "Frechet distance"), ("modes_covered", "modes covered"),
          ("mean_confidence", "mean confidence"), ("seconds", "wall s"), ("cpu_seconds", "CPU s")]


def beside_dcgan(args, name: str, title: str) -> dict:
    """Train (or find) the design's runs and the DCGAN's, score both, print one table."""
    dcgan, design = dcgan_jobs(args, archs=("dcgan",)), design_jobs(args, name)
    run_jobs(dcgan + design, args.jobs)
    results = {"dcgan (10 epochs)": [score(job.out, seed) for seed, job in enumerate(dcgan)],
               f"{name} ({DESIGNS[name][1]} epochs)": [score(job.out, seed) for seed, job in enumerate(design)]}
    print(f"\n# {title}, seeds 0..{args.seeds - 1}; 2,000 samples per run\n")
    table(results, TIMING)
    if args.figure:
        samples_figure([("DCGAN, 10 epochs", dcgan[0].out), (f"{name}, {DESIGNS[name][1]} epochs", design[0].out)],
                       IMAGES / f"{name}_vs_dcgan.png")
    return results


def progressive(args) -> dict:
    return beside_dcgan(args, "progressive", "progressive growing 7 -> 14 -> 28 beside the DCGAN")


def vae(args) -> dict:
    return beside_dcgan(args, "vae", "the conv VAE (negative ELBO) beside the DCGAN")


def style(args) -> dict:
    """Whose digit is a mix? Every crossover, 2,000 pairs per run (minigan.gan.stylegan)."""
    from minigan.classifier import pretrained
    from minigan.gan.stylegan import mixing_agreement
    jobs = design_jobs(args, "style")
    run_jobs(jobs, args.jobs)
    classifier, results = pretrained(), {}
    for seed, job in enumerate(jobs):
        G, _, _ = load_generator(job.out / "checkpoint.npz")
        results.setdefault("style", []).append(score(job.out, seed))
        for crossover in range(1, G.num_styles):
            minigan.manual_seed(seed)  # the noise inputs' draws: the same figures on every call
            r = mixing_agreement(G, classifier, 2000, crossover, seed=seed)
            results.setdefault(f"crossover {crossover}", []).append(r)
    print(f"\n# style mixing: share of mixes (coarse layers from A, fine from B) the LeNet names as A's digit "
          f"and as B's, over the pairs whose sources it names differently; seeds 0..{args.seeds - 1}\n")
    table({k: v for k, v in results.items() if k != "style"},
          [("coarse_share", "named as A (coarse source)"), ("fine_share", "named as B (fine source)"),
           ("pairs_used", "pairs used")])
    print()
    table({"style": results["style"]}, TIMING)
    if args.figure:
        copy_png(jobs[0].out / "mixing.png", IMAGES / "style_mixing.png")
    return results


def steer(args) -> dict:
    """Steering z toward requested digits through each seed's DCGAN (examples/steer_z.py)."""
    sys.path.insert(0, str(ROOT / "examples"))
    import steer_z
    dcgan = dcgan_jobs(args, archs=("dcgan",))
    run_jobs(dcgan, args.jobs)
    results = {"dcgan": []}
    for seed, job in enumerate(dcgan):
        out = Path(args.runs) / f"steer-seed{seed}"
        started, cpu = time.time(), time.process_time()
        result = steer_z.main_body(steer_z.parse_args([str(job.out / "checkpoint.npz"), "--seed", str(seed),
                                                       "--out", str(out)]))
        results["dcgan"].append({**result, "seconds": time.time() - started, "cpu_seconds": time.process_time() - cpu})
    print(f"\n# steering z through the DCGAN (10 epochs) toward a random digit, 1,000 requests per seed, "
          f"at most 100 steps; seeds 0..{args.seeds - 1}\n")
    table(results, [("reached", "named as asked"), ("already_at_start", "already at the start"),
                    ("reached_when_not_at_start", "named as asked, of those not at the start"),
                    ("median_steps", "median steps"), ("seconds", "wall s"), ("cpu_seconds", "CPU s")])
    if args.figure:
        copy_png(Path(args.runs) / "steer-seed0" / "steering.png", IMAGES / "steering_path.png")
    return results


def copy_png(source: Path, path: Path) -> None:
    path.write_bytes(source.read_bytes())
    print(f"wrote {path}")


def samples_figure(runs: list, path: Path) -> None:
    """36 samples (seed 0's fixed z) of each (label, run folder), side by side, with the scores."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from minigan.utils.images import grid_picture
    fig, axes = plt.subplots(1, len(runs), figsize=(2.6 * len(runs), 2.9))
    for axis, (label, out) in zip(axes, runs):
        G, latent_dim, _ = load_generator(out / "checkpoint.npz")
        images = samples(G, latent_dim, seed=0)
        fd = default_evaluator()(images)["frechet_distance"]
        axis.imshow(grid_picture(images[:36], nrow=6), cmap="gray")
        axis.set_title(f"{label}\nFrechet distance {fd:.1f}", fontsize=8)
        axis.set_xticks([])
        axis.set_yticks([])
    fig.tight_layout()
    save_small(fig, path)


def save_small(fig, path: Path, **options) -> None:
    """The figure as a PNG of 64 colours (a README figure, a few tens of kB), then closed."""
    import io
    import matplotlib.pyplot as plt
    from PIL import Image
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=72, **options)
    plt.close(fig)
    Image.open(buffer).convert("RGB").quantize(colors=64).save(path, optimize=True)
    print(f"wrote {path}")


EXPERIMENTS = {"resize": resize, "style": style, "progressive": progressive, "steer": steer, "vae": vae}


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
