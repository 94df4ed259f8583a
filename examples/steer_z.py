"""Ask a trained generator for a digit it was never told about: steer z with a classifier.

    python examples/steer_z.py runs/mnist_gan/checkpoint.npz
    python examples/steer_z.py runs/mnist_gan/checkpoint.npz --requests 2000 --steps 50 --device cuda

Controllable generation with a pretrained classifier: for a requested digit y, start from a random
z ~ N(0, I) and take gradient steps on z (Adam, --lr) that lower the shipped LeNet's cross-entropy
of G(z) against y, plus --prior-weight times a penalty that keeps |z| where Gaussian latents live
(minigan.gan.latent.steer, typicality_penalty): the classifier's gradient flows back through G
into z, and neither network changes. A request succeeds when the classifier names y within
--steps steps.

Reads any unconditional generator's checkpoint (examples/mnist_gan.py, style_mixing.py,
progressive_gan.py, vae.py) and writes into --out (default runs/steer_z):

    steering.json   --requests random (start, digit) requests, digits uniform: the share that
                    succeed, the share already named as asked at the start, the steps taken
    steering.png    the path: row d asks for digit d, every row from the same start z;
                    column k is step k (of --path-steps, without stopping), the last column
                    the step where the classifier first named d
"""
from __future__ import annotations

import argparse
import json
import os

import numpy as np

import minigan
from minigan.cli import (UsageError, add_debug_flag, add_device_flag, non_negative_float, non_negative_int,
                         positive_float, positive_int, run_script)
from minigan.classifier import pretrained
from minigan.gan.checkpoints import LABELLED, load_generator
from minigan.gan.latent import steer
from minigan.utils.images import save_grid
from minigan.files import atomic_write_bytes


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("checkpoint", help="a checkpoint.npz of an unconditional generator")
    p.add_argument("--requests", type=positive_int, default=1000, help="random (start z, digit) requests measured")
    p.add_argument("--steps", type=positive_int, default=100, help="the most gradient steps a request may take")
    p.add_argument("--lr", type=positive_float, default=0.1, help="Adam's learning rate on z")
    p.add_argument("--prior-weight", type=non_negative_float, default=1.0, help="weight of the typicality penalty")
    p.add_argument("--path-steps", type=positive_int, default=10, help="columns of steering.png before the last")
    p.add_argument("--batch-size", type=positive_int, default=250)
    p.add_argument("--seed", type=non_negative_int, default=0)
    add_device_flag(p)
    p.add_argument("--out", default=os.path.join("runs", "steer_z"))
    add_debug_flag(p)
    return p


def parse_args(argv=None):
    return build_parser().parse_args(argv)


def measure(G, classifier, latent_dim: int, args) -> dict:
    """Steer --requests random starts toward uniform random digits, --batch-size at a time,
    with a progress line per batch."""
    rng = np.random.default_rng(args.seed)
    z = rng.standard_normal((args.requests, latent_dim)).astype(np.float32)
    digits = rng.integers(0, 10, args.requests)
    reached, steps_taken = [], []
    for start in range(0, args.requests, args.batch_size):
        part = slice(start, start + args.batch_size)
        result = steer(G, classifier, minigan.tensor(z[part], device=args.device),
                       minigan.tensor(digits[part], device=args.device), args.steps, args.lr, args.prior_weight)
        reached.append(result["reached"])
        steps_taken.append(result["steps_taken"])
        done = start + len(result["reached"])
        print(f"{done}/{args.requests} requests: {np.concatenate(reached).mean():.1%} named as asked", flush=True)
    reached, steps_taken = np.concatenate(reached), np.concatenate(steps_taken)
    return {"requests": args.requests, "max_steps": args.steps, "lr": args.lr, "prior_weight": args.prior_weight,
            "reached": float(reached.mean()), "already_at_start": float(np.mean(steps_taken == 0)),
            "reached_when_not_at_start": float(reached[steps_taken > 0].mean()) if np.any(steps_taken > 0) else None,
            "median_steps": float(np.median(steps_taken[reached])) if reached.any() else None,
            "max_steps_taken": int(steps_taken[reached].max()) if reached.any() else None}


def draw_path(G, classifier, latent_dim: int, args, path: str) -> None:
    """Row d: digit d asked of one shared start z; columns: steps 0 .. --path-steps (no
    stopping), then the first step named d (or the last one)."""
    start = np.random.default_rng(args.seed + 1).standard_normal((1, latent_dim)).astype(np.float32)
    z = minigan.tensor(np.repeat(start, 10, axis=0), device=args.device)
    targets = minigan.tensor(np.arange(10), device=args.device)
    walk = steer(G, classifier, z, targets, args.path_steps, args.lr, args.prior_weight, record_every=1,
                 stop_when_named=False)["path"]
    first = steer(G, classifier, z, targets, args.steps, args.lr, args.prior_weight, record_every=1)
    at_first = np.stack([first["path"][min(k, len(first["path"]) - 1)][1][d]
                         for d, k in enumerate(first["steps_taken"])])
    columns = [images for _, images in walk] + [at_first]
    grid = np.stack(columns, axis=1).reshape(-1, 1, 28, 28)  # row d: its images along the steps
    save_grid(grid, path, nrow=len(columns))


def main_body(args) -> dict:
    G, latent_dim, kind = load_generator(args.checkpoint, args.device)
    if kind in LABELLED:
        raise UsageError(f"{args.checkpoint} holds a {kind} generator, which takes the digit as an input "
                                     "already; steer an unconditional one")
    classifier = pretrained(args.device)
    os.makedirs(args.out, exist_ok=True)
    result = measure(G, classifier, latent_dim, args)
    print(f"{result['reached']:.1%} of {args.requests} requests named as asked within {args.steps} steps "
          f"({result['already_at_start']:.1%} at the start; median {result['median_steps']} steps)")
    atomic_write_bytes(os.path.join(args.out, "steering.json"), json.dumps(result, indent=1).encode())
    draw_path(G, classifier, latent_dim, args, os.path.join(args.out, "steering.png"))
    print(f"wrote {args.out}/steering.json and steering.png")
    return result


def main(argv=None) -> None:
    run_script(main_body, parse_args(argv), build_parser())


if __name__ == "__main__":
    main()
