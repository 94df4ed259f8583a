"""Data: IDX files, the MNIST and Fashion-MNIST datasets, and a :class:`DataLoader`.

- :func:`read_idx` (from :mod:`minigan.idx`) reads the IDX format MNIST ships in, gzip or
  raw, checking every header; :func:`download` (from :mod:`minigan.download`) fetches a file.
- :class:`MNIST` and :class:`FashionMNIST` find their files (``root``, then ``$MINIGAN_DATA``,
  then ``~/.cache/minigan``, then system folders), or download them with SHA-256 checks. When
  the full MNIST training set can be neither found nor downloaded, ``MNIST(train=True)`` falls
  back to the 10,000-digit sample shipped inside the package and says so in one warning.
- :class:`DataLoader` yields ``(images, labels)`` tensor batches on a device, shuffled by its
  own seeded generator so that the order is reproducible and resumable.
"""
from __future__ import annotations

import hashlib
import operator
import os
import warnings
from pathlib import Path

import numpy as np

from . import backend
from .download import DownloadError, TextProgress, download  # noqa: F401  (part of minigan.data's API)
from .idx import IMAGES_MAGIC, LABELS_MAGIC, DataError, _parse_idx, _read_bytes, read_idx  # noqa: F401
from .tensor import Tensor

ASSETS = Path(__file__).parent / "_assets"


class EmbeddedSampleWarning(UserWarning):
    """MNIST fell back to the 10,000-digit sample shipped with minigan."""


# -- datasets ---------------------------------------------------------------------------------
class ArrayDataset:
    """A dataset of equally long arrays (e.g. images and labels): ``ArrayDataset(x, y)``."""

    def __init__(self, *arrays):
        if not arrays:
            raise ValueError("ArrayDataset needs at least one array")
        self.arrays = tuple(np.asarray(a) for a in arrays)
        lengths = [len(a) for a in self.arrays]
        if len(set(lengths)) != 1:
            raise ValueError(f"ArrayDataset: the arrays differ in length: {lengths}")

    def __len__(self):
        return len(self.arrays[0])

    def __getitem__(self, index):
        return tuple(a[index] for a in self.arrays)

    def get_batch(self, indices: np.ndarray) -> tuple:
        """The rows at ``indices`` of every array (one fancy-indexing gather each)."""
        return tuple(a[indices] for a in self.arrays)


class _IDXDataset:
    """Images and labels from a pair of IDX files, found locally or downloaded.

    Subclasses set ``name`` (the cache sub-folder), ``mirrors`` (base URLs), ``sha256`` (of each
    file's gunzipped content), ``system_dirs`` and ``classes``.
    """

    name = ""
    torchvision_name = ""  # also found in torchvision's layout: <root>/<torchvision_name>/raw/
    mirrors: tuple = ()
    sha256: dict = {}
    system_dirs: tuple = ()
    classes: tuple = ()
    install_hint = ""  # another way to get the files, for the not-found message
    split_sizes = {"train": 60_000, "t10k": 10_000}  # examples per split, for the download size limit

    def __init__(self, root=None, train=True, download=True, limit=None, mirrors=None, progress=True):
        if limit is not None and (not isinstance(limit, int) or limit < 0):
            raise ValueError(f"{type(self).__name__}: limit must be a non-negative int or None, "
                             f"got {limit!r}")
        self.train = bool(train)
        if mirrors is not None:  # base URLs to use instead of the class's (e.g. a local mirror)
            self.mirrors = (mirrors,) if isinstance(mirrors, str) else tuple(mirrors)
        stems = self._stems()
        images, labels, self.source = self._load(root, stems, download, self.mirrors, progress)
        if len(images) != len(labels):
            raise DataError(f"{type(self).__name__} ({self.source}): {len(images)} images but "
                            f"{len(labels)} labels")
        if limit is not None and limit < len(images):
            images, labels = images[:limit].copy(), labels[:limit].copy()
        self.images = images  # uint8, (N, rows, cols)
        self.labels = labels  # uint8, (N,)

    def _stems(self) -> tuple:
        prefix = "train" if self.train else "t10k"
        return f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"

    # -- where the files are ------------------------------------------------------------------
    def _bases(self, root) -> list:
        """The folders searched, in order (each holds the data in a sub-folder ``name``)."""
        bases = [Path(root)] if root is not None else []
        if os.environ.get("MINIGAN_DATA"):
            bases.append(Path(os.environ["MINIGAN_DATA"]))
        return bases + [Path.home() / ".cache" / "minigan"]

    def search_dirs(self, root=None) -> list:
        """Every folder where the files are looked for, in order."""
        dirs = []
        for i, base in enumerate(self._bases(root)):
            dirs += [base / self.name, base / self.torchvision_name / "raw"]
            if i == 0 and root is not None:
                dirs.append(base)  # an explicit root may hold the files themselves
        return dirs + [Path(d) for d in self.system_dirs]

    @staticmethod
    def _existing(folder: Path, stem: str):
        for candidate in (folder / f"{stem}.gz", folder / stem):
            if candidate.is_file():
                return candidate
        return None

    def _find(self, root, stems):
        for folder in self.search_dirs(root):
            if all(self._existing(folder, stem) for stem in stems):
                return folder
        return None

    # -- reading, downloading, falling back ---------------------------------------------------
    def _load(self, root, stems, download_missing, mirrors, progress):
        folder = self._find(root, stems)
        if folder is not None:
            return (*self._read_verified(folder, stems), str(folder))
        failure = None
        if download_missing:
            destination = self._bases(root)[0] / self.name
            try:
                for stem in stems:
                    if self._existing(destination, stem) is None:
                        download(stem, mirrors, destination, self.sha256[stem], progress,
                                 max_bytes=self._download_limit(stem))
                return (*self._read_verified(destination, stems), f"downloaded to {destination}")
            except DownloadError as err:
                failure = err
        return self._when_missing(root, stems, failure)

    def _download_limit(self, stem: str) -> int:
        """The most bytes ``stem``.gz may have: its content's size (a 16-byte header and 28 x 28
        bytes per image, or an 8-byte header and a byte per label) plus gzip's worst overhead."""
        count = self.split_sizes[stem.split("-")[0]]
        content = 16 + 28 * 28 * count if "-images-" in stem else 8 + count
        return content + content // 100 + 4096

    def _read_verified(self, folder: Path, stems) -> tuple:
        """Images and labels from ``folder``, each file checked against its known SHA-256."""
        arrays = []
        for stem, magic in zip(stems, (IMAGES_MAGIC, LABELS_MAGIC)):
            path = self._existing(folder, stem)
            raw = _read_bytes(path)
            actual = hashlib.sha256(raw).hexdigest()
            if actual != self.sha256[stem]:
                raise DataError(f"{path}: the SHA-256 of its content is {actual}, but "
                                f"{type(self).__name__}'s {stem} has {self.sha256[stem]}: a corrupt "
                                "file or another dataset (delete it to download it again)")
            arrays.append(_parse_idx(raw, path, magic))
        return tuple(arrays)

    def _when_missing(self, root, stems, failure):
        """Called when the files are neither found nor downloadable: explain and raise."""
        places = "\n  ".join(str(d) for d in self.search_dirs(root))
        why = str(failure) if failure is not None else "download=False, so nothing was downloaded"
        raise FileNotFoundError(
            f"{type(self).__name__}: {stems[0]}(.gz) and {stems[1]}(.gz) were not found in any of\n  "
            f"{places}\n{why}\nDownload them from {self.mirrors[0]} into one of those folders"
            f"{self.install_hint}, or pass root= (the CLI's --data-dir) or set MINIGAN_DATA to the "
            "folder that holds them.")

    # -- access ------------------------------------------------------------------------------
    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        """``(image, label)``: a float32 (1, rows, cols) image in [-1, 1] and an int label."""
        index = operator.index(index)
        if not -len(self) <= index < len(self):
            raise IndexError(f"{type(self).__name__}: index {index} out of range for {len(self)} images")
        images, labels = self.get_batch(np.array([index]))
        return images[0], int(labels[0])

    def get_batch(self, indices: np.ndarray) -> tuple:
        """Images at ``indices`` as float32 (B, 1, rows, cols) in [-1, 1], labels as int64 (B,)."""
        images = self.images[indices][:, None].astype(np.float32)
        return images / np.float32(127.5) - np.float32(1.0), self.labels[indices].astype(np.int64)

    def __repr__(self):
        split = "train" if self.train else "test"
        return f"{type(self).__name__}({split}, {len(self)} images, from {self.source})"


# Checksums are SHA-256 of the gunzipped IDX files, as published for these datasets: they hold
# whichever tool compressed the file (the .gz bytes of Debian's copies differ from the mirrors').
class MNIST(_IDXDataset):
    """The MNIST digits (LeCun, Cortes, Burges): 60,000 training and 10,000 test images, 28 x 28.

    ``MNIST(root=None, train=True, download=True, limit=None)``. ``.images`` is uint8
    (N, 28, 28), ``.labels`` uint8 (N,); ``dataset[i]`` is ``(image, label)`` with a float32
    (1, 28, 28) image in [-1, 1]; ``limit`` keeps the first ``limit`` examples; ``.source``
    says where the data came from. When the training set is neither found nor downloadable,
    the 10,000-digit sample shipped with minigan is used and an
    :class:`EmbeddedSampleWarning` says so in one line.
    """

    name = "mnist"
    torchvision_name = "MNIST"
    mirrors = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")
    sha256 = {
        "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    }
    classes = tuple("0123456789")
    sample_dir = ASSETS / "mnist-10k"

    def _when_missing(self, root, stems, failure):
        if not self.train:
            return super()._when_missing(root, stems, failure)
        if failure is None:
            why = "download=False"
        else:
            why = "offline" if failure.offline else str(failure).replace("\n", " ")
        bases = ", ".join(str(b / self.name) for b in self._bases(root))
        warnings.warn(f"MNIST: the full training set is not in {bases} and could not be downloaded "
                      f"({why}); using the 10,000-digit sample shipped with minigan",
                      EmbeddedSampleWarning, stacklevel=4)
        images = read_idx(self.sample_dir / "train-images-idx3-ubyte.gz", IMAGES_MAGIC)
        labels = read_idx(self.sample_dir / "train-labels-idx1-ubyte.gz", LABELS_MAGIC)
        return images, labels, "the embedded 10,000-digit sample"


class FashionMNIST(_IDXDataset):
    """Zalando's Fashion-MNIST: 60,000 training and 10,000 test images of clothes, 28 x 28.

    Same interface as :class:`MNIST`; also found in ``/usr/share/datasets/fashion-mnist/``
    (``apt-get install dataset-fashion-mnist``). There is no embedded fallback.
    """

    name = "fashion-mnist"
    torchvision_name = "FashionMNIST"
    mirrors = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)
    sha256 = {
        "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    }
    system_dirs = ("/usr/share/datasets/fashion-mnist",)
    install_hint = " (or run: apt-get install dataset-fashion-mnist)"
    classes = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
               "Bag", "Ankle boot")


# -- batches ----------------------------------------------------------------------------------
class DataLoader:
    """Batches of a dataset as tensors on ``device``: ``for images, labels in loader: ...``.

    ``dataset`` needs ``len()`` and ``get_batch(indices)`` returning a tuple of arrays
    (:class:`MNIST`, :class:`FashionMNIST` and :class:`ArrayDataset` have both). Each epoch
    gathers its batches with one fancy-indexing call per batch; with ``shuffle`` the order is a
    fresh permutation from the loader's own ``numpy.random.Generator(seed)``, so a seed fixes
    every epoch's order. :meth:`state_dict` / :meth:`load_state_dict` resume it, mid-epoch too.
    """

    def __init__(self, dataset, batch_size: int, shuffle: bool = False, drop_last: bool = False,
                 seed=None, device="cpu"):
        if not (hasattr(dataset, "get_batch") and hasattr(dataset, "__len__")):
            raise TypeError(f"DataLoader: the dataset ({type(dataset).__name__}) needs __len__ and "
                            "get_batch(indices); wrap arrays in minigan.data.ArrayDataset")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        self.dataset, self.batch_size = dataset, batch_size
        self.shuffle, self.drop_last = bool(shuffle), bool(drop_last)
        self.device = backend.Device(device)
        self._rng = np.random.default_rng(seed)
        self._epoch_start = None  # the generator state when the epoch in progress began
        self._served = 0  # batches of that epoch handed out so far
        self._resume_at = 0  # batches to skip at the start of the next epoch (after a restore)

    def __len__(self):
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self):
        start = self._rng.bit_generator.state
        n = len(self.dataset)
        order = self._rng.permutation(n) if self.shuffle else np.arange(n)
        first, self._resume_at = self._resume_at, 0
        self._epoch_start, self._served = start, first
        for b in range(first, len(self)):
            arrays = self.dataset.get_batch(order[b * self.batch_size:(b + 1) * self.batch_size])
            self._served = b + 1
            yield tuple(Tensor(backend.to_device(a, self.device)) for a in arrays)
        self._epoch_start, self._served = None, 0

    def state_dict(self) -> dict:
        """What :meth:`load_state_dict` needs to continue from here: the generator state at
        the start of the epoch in progress (or now, between epochs) and the batches served."""
        if self._epoch_start is None:
            return {"rng": self._rng.bit_generator.state, "batches_served": 0}
        return {"rng": self._epoch_start, "batches_served": self._served}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`'s output: the next epoch replays the saved one's order
        and starts after its ``batches_served`` batches (all of them: an empty rest of that
        epoch). A count past this loader's epoch raises ValueError; nothing changes then."""
        missing = {"rng", "batches_served"} - set(state)
        if missing:
            raise ValueError(f"DataLoader.load_state_dict: missing keys {sorted(missing)}")
        served = state["batches_served"]
        if isinstance(served, bool) or not isinstance(served, (int, np.integer)) or not 0 <= served <= len(self):
            raise ValueError(f"DataLoader.load_state_dict: batches_served must be an int from 0 to the "
                             f"{len(self)} batches of an epoch here ({len(self.dataset)} items, batch_size "
                             f"{self.batch_size}), got {served!r}: a state from another dataset or batch size?")
        self._rng.bit_generator.state = state["rng"]
        self._resume_at = int(served)
        self._epoch_start, self._served = None, 0


def training_set(name: str = "mnist", root=None, limit=None, notify=print):
    """The MNIST (``"mnist"``) or Fashion-MNIST (``"fashion"``) training set, for scripts.

    When only the embedded 10,000-digit MNIST sample is at hand, ``notify`` receives one line
    saying so, instead of a Python warning with its source line.
    """
    datasets = {"mnist": MNIST, "fashion": FashionMNIST}
    if name not in datasets:
        raise ValueError(f"training_set: unknown dataset {name!r}: choose 'mnist' or 'fashion'")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", EmbeddedSampleWarning)
        dataset = datasets[name](root=root, train=True, limit=limit)
    for warning in caught:
        if issubclass(warning.category, EmbeddedSampleWarning):
            notify(f"note: {warning.message}")
        else:
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    return dataset
