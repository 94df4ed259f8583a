"""Train the LeNet of minigan.classifier on the embedded MNIST sample, with minigan itself.

    python examples/train_classifier.py                     # writes runs/classifier/lenet_mnist.npz
    python examples/train_classifier.py --out /tmp/lenet.npz --epochs 3 --limit 2000
    python examples/train_classifier.py --install           # replaces the weights shipped in the package

The 10,000 digits shipped with minigan are split: the first 9,000 train (Adam, cross-entropy,
each digit shifted by up to 2 pixels), the last 1,000 are held out and only measure accuracy.
Seeds are fixed, so a run gives the same weights each time on the same machine. The weights
are what :func:`minigan.classifier.pretrained` loads, for :mod:`minigan.metrics`: only
--install writes them into the package (minigan/_assets/classifier/lenet_mnist.npz); any other
run writes to --out, so a smoke run cannot replace the shipped classifier.

On a busy shared CPU, OPENBLAS_NUM_THREADS=1 can make this many times faster: the small
matrix products of LeNet gain nothing from threads and lose a lot when the cores are taken.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

import minigan
from minigan import functional as F
from minigan import optim
from minigan.cli import add_debug_flag, add_device_flag, non_negative_int, positive_float, positive_int, run_script
from minigan.classifier import HELD_OUT, WEIGHTS, LeNet, embedded_digits
from minigan.data import ArrayDataset, DataLoader

MAX_SHIFT = 2  # pixels: random translations make the features less sensitive to where a digit sits


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--epochs", type=positive_int, default=12)
    p.add_argument("--batch-size", type=positive_int, default=64)
    p.add_argument("--lr", type=positive_float, default=1e-3, help="Adam's learning rate, halved every 4 epochs")
    p.add_argument("--seed", type=non_negative_int, default=0)
    add_device_flag(p)
    p.add_argument("--limit", type=positive_int, default=None,
                   help="train on the first N training digits only (a smoke test)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--out", default=os.path.join("runs", "classifier", "lenet_mnist.npz"),
                       help="where the weights go")
    where.add_argument("--install", action="store_true",
                       help=f"write the weights into the package ({WEIGHTS}), for minigan.metrics")
    add_debug_flag(p)
    return p


def parse_args(argv=None):
    args = build_parser().parse_args(argv)
    if args.install:
        args.out = str(WEIGHTS)
    return args


def random_shifts(images: np.ndarray, rng: np.random.Generator, max_shift: int = MAX_SHIFT) -> np.ndarray:
    """Each image (N, 1, H, W) moved by its own random offset in [-max_shift, max_shift] along
    each axis, the background (-1) filling in: one gather from a padded copy, no loop."""
    n, _, h, w = images.shape
    padded = np.pad(images, ((0, 0), (0, 0), (max_shift, max_shift), (max_shift, max_shift)),
                    constant_values=-1.0)
    dy, dx = rng.integers(0, 2 * max_shift + 1, size=(2, n))
    rows = dy[:, None, None] + np.arange(h)[None, :, None]  # (N, H, 1)
    cols = dx[:, None, None] + np.arange(w)[None, None, :]  # (N, 1, W)
    return padded[np.arange(n)[:, None, None], 0, rows, cols][:, None]


def accuracy(model, images: np.ndarray, labels: np.ndarray, device, batch_size: int = 500) -> float:
    """The fraction of ``images`` that ``model`` (in eval mode) labels correctly."""
    model.eval()
    correct = 0
    with minigan.no_grad():
        for start in range(0, len(images), batch_size):
            x = minigan.tensor(images[start:start + batch_size], device=device)
            predicted = model(x).argmax(axis=1).numpy()
            correct += int((predicted == labels[start:start + batch_size]).sum())
    model.train()
    return correct / len(images)


def train_epoch(model, optimizer, loader, rng, device) -> float:
    """One pass over ``loader`` with shifted images; returns the mean training loss."""
    losses = []
    for images, labels in loader:
        x = minigan.tensor(random_shifts(images.numpy(), rng), device=device)
        loss = F.cross_entropy(model(x), minigan.tensor(labels.numpy(), device=device))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.detach())  # the value only: keeping the graph would keep its activations
    return float(F.stack(losses).mean().item())  # one host copy per epoch


def main(argv=None) -> dict:
    return run_script(train, parse_args(argv), build_parser())


def train(args) -> dict:
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    minigan.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    images, labels = embedded_digits()
    train = ArrayDataset(images[:-HELD_OUT][:args.limit], labels[:-HELD_OUT][:args.limit])
    val_images, val_labels = images[-HELD_OUT:], labels[-HELD_OUT:]
    loader = DataLoader(train, batch_size=args.batch_size, shuffle=True, seed=args.seed, device="cpu")
    model = LeNet().to(args.device)
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    print(f"training LeNet on {len(train)} digits, {len(val_images)} held out, device {args.device}")
    started = time.time()
    for epoch in range(1, args.epochs + 1):
        optimizer.param_groups[0]["lr"] = args.lr * 0.5 ** ((epoch - 1) // 4)
        loss = train_epoch(model, optimizer, loader, rng, args.device)
        val = accuracy(model, val_images, val_labels, args.device)
        print(f"epoch {epoch}: loss {loss:.4f}, held-out accuracy {val:.2%} ({time.time() - started:.0f}s)")
    seconds = time.time() - started
    info = {"held_out_accuracy": val, "train_accuracy": accuracy(model, train.arrays[0], train.arrays[1], args.device),
            "epochs": args.epochs, "seed": args.seed, "train_digits": len(train),
            "held_out_digits": len(val_images), "seconds": round(seconds, 1)}
    model.to("cpu")
    minigan.save({"model": model.state_dict(), "info": info}, args.out)
    print(f"held-out accuracy {val:.2%} after {seconds:.0f}s; wrote {args.out}")
    return info


if __name__ == "__main__":
    main()
