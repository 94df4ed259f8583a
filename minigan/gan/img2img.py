"""What the image-to-image GANs (CycleGAN, inpainting, super-resolution) share: the digits they
train on and those they are judged on, a model run over many images, and the numbers that
judge the results, measured by the LeNet shipped with minigan (:mod:`minigan.classifier`).

The data is the 10,000-digit MNIST sample shipped with minigan, split as the LeNet was trained:
the models train on the first 9,000 digits, and are measured on the last 1,000, which neither
they nor the classifier ever saw. The measures:

- **accuracy**: how often the classifier reads the digit's true label in an image (the
  original digits score 97.8%);
- **Frechet distance** of a set of images to the first 2,000 real digits, in the LeNet's
  features (:mod:`minigan.metrics`): how far the images are, as a whole, from looking like
  real digits (blurry averages of several possible digits sit far away);
- **PSNR**: 10 log10(peak^2 / mean squared error) against the originals, in dB, for images
  in [-1, 1] (peak 2): how close each image is to its own original, pixel by pixel.
"""
from __future__ import annotations

import argparse
import functools

import numpy as np

from .. import backend
from ..autograd import no_grad
from ..classifier import HELD_OUT, embedded_digits, pretrained
from ..metrics import REFERENCE_SIZE, feature_statistics, frechet_distance
from ..tensor import Tensor
from ..utils.data import ArrayDataset

TRAINING = 10_000 - HELD_OUT  # the first 9,000 shipped digits


@functools.lru_cache(maxsize=1)
def _shipped_digits() -> tuple:
    """The shipped digits, read (and decompressed) once, read-only."""
    images, labels = embedded_digits()
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def training_digits(limit=None) -> tuple:
    """(images (N, 1, 28, 28) float32 in [-1, 1], labels (N,)) of the first ``limit`` (default
    all 9,000) training digits."""
    images, labels = _shipped_digits()
    n = TRAINING if limit is None else min(limit, TRAINING)
    return images[:n].copy(), labels[:n].copy()


def held_out_digits(n: int = HELD_OUT) -> tuple:
    """The first ``n`` of the 1,000 held-out digits: (images, labels)."""
    images, labels = _shipped_digits()
    return images[TRAINING:TRAINING + n].copy(), labels[TRAINING:TRAINING + n].copy()


def add_measure_flag(parser: argparse.ArgumentParser) -> None:
    """``--eval-digits``: how many of the held-out digits the scripts measure after each epoch."""
    parser.add_argument("--eval-digits", type=_held_out_count, default=HELD_OUT, metavar="N",
                        help=f"held-out digits measured after every epoch (of {HELD_OUT}); compare Frechet "
                             "distances only between runs with the same N")


def _held_out_count(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 2 <= n <= HELD_OUT:
        raise argparse.ArgumentTypeError(f"must be between 2 and {HELD_OUT} (the held-out digits), got {n}")
    return n


def training_set(limit=None) -> ArrayDataset:
    """The training digits as a dataset of (image, label), for a DataLoader."""
    dataset = ArrayDataset(*training_digits(limit))
    dataset.source = "the first 9,000 digits of the embedded 10,000-digit sample"
    return dataset


def apply(model, *inputs: np.ndarray, device="cpu", batch_size: int = 250) -> np.ndarray:
    """``model(*inputs)`` over (N, ...) NumPy arrays in batches, in eval mode and without a
    graph; the outputs as one NumPy array."""
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            return np.concatenate([
                model(*(Tensor(backend.to_device(a[i:i + batch_size], device)) for a in inputs)).numpy()
                for i in range(0, len(inputs[0]), batch_size)])
    finally:
        model.train(was_training)


@functools.lru_cache(maxsize=4)
def _classifier(device: str):
    return pretrained(device)


def accuracy(images: np.ndarray, labels: np.ndarray, device="cpu") -> float:
    """How often the shipped LeNet reads ``labels`` in ``images`` (N, 1, 28, 28)."""
    predicted = apply(_classifier(str(device)), images, device=device, batch_size=500).argmax(axis=1)
    return float(np.mean(predicted == labels))


@functools.lru_cache(maxsize=4)
def _reference_statistics(device: str) -> tuple:
    """The LeNet features' mean and covariance over the first 2,000 real digits."""
    images, _ = _shipped_digits()
    return feature_statistics(_features(images[:REFERENCE_SIZE], device))


def _features(images: np.ndarray, device: str) -> np.ndarray:
    classifier = _classifier(device)
    with no_grad():
        return np.concatenate([classifier.features(Tensor(backend.to_device(images[i:i + 500], device))).numpy()
                               for i in range(0, len(images), 500)])


def frechet_to_real(images: np.ndarray, device="cpu") -> float:
    """The Frechet distance between ``images`` and the first 2,000 real digits, in LeNet
    features (compare only sets of one size: the distance depends on it)."""
    return frechet_distance(*feature_statistics(_features(np.asarray(images, np.float32), str(device))),
                            *_reference_statistics(str(device)))


def psnr(images: np.ndarray, originals: np.ndarray, peak: float = 2.0) -> float:
    """10 log10(peak^2 / MSE) in dB over all the images together (peak 2: images in [-1, 1])."""
    mse = float(np.mean((np.asarray(images, np.float64) - originals) ** 2))
    return float("inf") if mse == 0 else 10.0 * float(np.log10(peak ** 2 / mse))
