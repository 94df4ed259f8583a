"""A small LeNet-style MNIST classifier, the feature extractor of :mod:`minigan.metrics`.

The Frechet Inception Distance of GAN papers measures samples in the features of an
ImageNet Inception network; for 28 x 28 digits, a LeNet trained on MNIST plays that part
(its 84-dimensional penultimate layer gives the features, its 10 logits the classes).

The weights shipped in ``_assets/classifier/lenet_mnist.npz`` were trained by
``examples/train_classifier.py`` with minigan itself on the embedded 10,000-digit sample
(the last 1,000 digits held out). :func:`pretrained` loads them.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from . import functional as F
from . import nn
from .data import IMAGES_MAGIC, LABELS_MAGIC, MNIST, read_idx
from .io import load
from .tensor import Tensor

WEIGHTS = Path(__file__).parent / "_assets" / "classifier" / "lenet_mnist.npz"
NUM_FEATURES = 84
NUM_CLASSES = 10
HELD_OUT = 1000  # the last HELD_OUT digits of the embedded sample were not trained on


def embedded_digits():
    """The 10,000 MNIST digits shipped with minigan, always these (whatever MNIST finds on
    disk): float32 images (N, 1, 28, 28) in [-1, 1], as MNIST's ``get_batch`` scales them,
    and int64 labels (N,)."""
    images = read_idx(MNIST.sample_dir / "train-images-idx3-ubyte.gz", IMAGES_MAGIC)
    labels = read_idx(MNIST.sample_dir / "train-labels-idx1-ubyte.gz", LABELS_MAGIC)
    scaled = images[:, None].astype(np.float32) / np.float32(127.5) - np.float32(1.0)
    return scaled, labels.astype(np.int64)


def avg_pool2d(x: Tensor, size: int = 2) -> Tensor:
    """Average over non-overlapping ``size`` x ``size`` windows of (N, C, H, W) inputs, H and W
    multiples of ``size``: a reshape to (N, C, H/size, size, W/size, size) and a mean over the
    two window axes, so it is differentiable through existing ops."""
    n, c, h, w = x.shape
    if h % size or w % size:
        raise ValueError(f"avg_pool2d: height and width must be multiples of {size}, got input of shape {x.shape}")
    windows = F.reshape(x, (n, c, h // size, size, w // size, size))
    return F.mean(windows, axis=(3, 5))


class LeNet(nn.Module):
    """LeNet-5 (LeCun et al. 1998) for 1 x 28 x 28 digits in [-1, 1]:

    conv 5x5 (1 -> 6, padding 2) -> relu -> 2x2 average pool   (6 x 14 x 14)
    conv 5x5 (6 -> 16)           -> relu -> 2x2 average pool   (16 x 5 x 5)
    linear 400 -> 120 -> relu -> linear 120 -> 84 -> relu      (the features)
    linear 84 -> 10                                            (the logits)
    """

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, NUM_FEATURES)
        self.fc3 = nn.Linear(NUM_FEATURES, NUM_CLASSES)

    def features(self, x: Tensor) -> Tensor:
        """The penultimate layer: (N, 1, 28, 28) images -> (N, 84) features (after the relu)."""
        if not isinstance(x, Tensor) or x.ndim != 4 or x.shape[1:] != (1, 28, 28):
            shape = x.shape if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"LeNet: expected a Tensor of images (N, 1, 28, 28), got {shape}")
        x = avg_pool2d(F.relu(self.conv1(x)))
        x = avg_pool2d(F.relu(self.conv2(x)))
        x = F.relu(self.fc1(F.flatten(x, 1)))
        return F.relu(self.fc2(x))

    def classify(self, features: Tensor) -> Tensor:
        """The logits (N, 10) of features (N, 84)."""
        return self.fc3(features)

    def forward(self, x: Tensor) -> Tensor:
        """The logits (N, 10) of (N, 1, 28, 28) images in [-1, 1]."""
        return self.classify(self.features(x))


def pretrained(device="cpu", path=None) -> LeNet:
    """The LeNet with the weights shipped in minigan (or those at ``path``), in eval mode,
    on ``device``. Raises ``FileNotFoundError`` naming the file when it is missing."""
    path = Path(path) if path is not None else WEIGHTS
    if not path.is_file():
        raise FileNotFoundError(f"classifier.pretrained: no weights at {path} "
                                "(run examples/train_classifier.py to make them)")
    model = LeNet()
    model.load_state_dict(load(path)["model"])
    return model.to(device).eval()
