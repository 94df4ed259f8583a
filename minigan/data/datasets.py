"""torchvision's ``datasets.MNIST`` and ``datasets.FashionMNIST``: the same arguments
(``root, train=True, transform=None, target_transform=None, download=False``), the same
folder layout (``root/MNIST/raw/train-images-idx3-ubyte[.gz]``, ...), the same items
(``dataset[i]`` is ``(transform(image), target)``, with ``image`` the uint8 (28, 28) array
that torchvision would hand over as a PIL image) and attributes (``data``, ``targets``,
``classes``, ``class_to_idx``).

Files already in ``root/<Name>/raw`` are read as they are: their IDX headers and sizes are
checked (:mod:`minigan.data.idx`), not their checksums, as torchvision does; a download is
checked against SHA-256 before it is kept. When MNIST's training set is neither there nor
downloadable (offline, or ``download=False``), the 10,000 digits shipped with minigan are
used, and an :class:`~minigan.data.mnist.EmbeddedSampleWarning` says so.

:meth:`MNIST.get_batch` transforms a whole batch at once when every transform can (those of
:mod:`minigan.data.transforms` can), which is what :class:`~minigan.utils.data.DataLoader` uses.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from ..tensor import Tensor
from ..utils.data import Dataset
from . import mnist
from .download import DownloadError, download
from .idx import IMAGES_MAGIC, LABELS_MAGIC, read_idx
from .transforms import has_batch


class MNIST(Dataset):
    """torchvision's MNIST: 60,000 training or 10,000 test digits, 28 x 28, with labels 0-9."""

    minigan_set = mnist.MNIST  # where the mirrors, checksums and download limits are kept
    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five", "6 - six", "7 - seven",
               "8 - eight", "9 - nine"]

    def __init__(self, root, train: bool = True, transform=None, target_transform=None, download: bool = False):
        if isinstance(root, (str, os.PathLike)):
            root = os.path.expanduser(root)
        self.root, self.train = root, bool(train)
        self.transform, self.target_transform = transform, target_transform
        images, labels = self._load(bool(download))
        self.data = Tensor(images)  # uint8 (N, 28, 28), as torchvision's
        self.targets = Tensor(labels.astype(np.int64))

    @property
    def raw_folder(self) -> str:
        return os.path.join(self.root, type(self).__name__, "raw")

    @property
    def class_to_idx(self) -> dict:
        return {name: i for i, name in enumerate(self.classes)}

    def _stems(self) -> tuple:
        prefix = "train" if self.train else "t10k"
        return f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"

    def _load(self, download_missing: bool) -> tuple:
        folder, stems = Path(self.raw_folder), self._stems()
        found = [mnist.existing_file(folder, stem) for stem in stems]
        failure = None
        if None in found and download_missing:
            spec = self.minigan_set
            try:
                for stem, path in zip(stems, found):
                    if path is None:
                        download(stem, spec.mirrors, folder, spec.sha256[stem],
                                 max_bytes=spec.download_limit(stem))
                found = [mnist.existing_file(folder, stem) for stem in stems]
            except DownloadError as err:
                failure = err
        if None not in found:
            return read_idx(found[0], IMAGES_MAGIC), read_idx(found[1], LABELS_MAGIC)
        return self._when_missing(folder, stems, failure)

    def _when_missing(self, folder: Path, stems, failure):
        why = "download=False" if failure is None else ("offline" if failure.offline else str(failure))
        if self.train and type(self) is MNIST:
            warnings.warn(f"MNIST: {stems[0]} is not in {folder} and could not be downloaded ({why}); using the "
                          "10,000-digit sample shipped with minigan", mnist.EmbeddedSampleWarning, stacklevel=4)
            sample = mnist.MNIST.sample_dir
            return (read_idx(sample / "train-images-idx3-ubyte.gz", IMAGES_MAGIC),
                    read_idx(sample / "train-labels-idx1-ubyte.gz", LABELS_MAGIC))
        raise RuntimeError(f"Dataset not found. You can use download=True to download it ({type(self).__name__}: "
                           f"{stems[0]}(.gz) and {stems[1]}(.gz) are not in {folder}; {why})")

    def __len__(self):
        return self.data.shape[0]

    def __getitem__(self, index):
        """``(image, target)``: the uint8 (28, 28) image through ``transform``, the int label
        through ``target_transform``."""
        image, target = self.data.array[index], int(self.targets.array[index])
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target

    def get_batch(self, indices: np.ndarray) -> tuple:
        """Images and targets at ``indices`` as arrays, transformed a batch at a time when every
        transform can be (else image by image)."""
        images, targets = self.data.array[indices], self.targets.array[indices]
        if self.transform is not None:
            if has_batch(self.transform):
                images = self.transform.batch(images)
            else:
                images = [self.transform(image) for image in images]
                images = np.stack([i.numpy() if isinstance(i, Tensor) else np.asarray(i) for i in images])
        if self.target_transform is not None:
            targets = np.array([self.target_transform(int(t)) for t in targets])
        return (images.array if isinstance(images, Tensor) else images), targets

    def __repr__(self):
        lines = [f"Dataset {type(self).__name__}", f"    Number of datapoints: {len(self)}",
                 f"    Root location: {self.root}", f"    Split: {'Train' if self.train else 'Test'}"]
        if self.transform is not None:
            lines.append(f"    StandardTransform\nTransform: {self.transform!r}")
        return "\n".join(lines)


class FashionMNIST(MNIST):
    """torchvision's FashionMNIST: Zalando's 28 x 28 images of clothes, ten classes (no shipped
    sample: without the files and a network it raises)."""

    minigan_set = mnist.FashionMNIST
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
               "Ankle boot"]
