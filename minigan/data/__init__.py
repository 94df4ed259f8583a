"""Data: the IDX files MNIST ships in, the datasets, and torchvision's transforms.

- :mod:`minigan.data.idx` reads IDX files (gzip or raw), checking every header and bounding
  what it reads; :mod:`minigan.data.download` fetches a file from the first mirror that serves
  it whole, with SHA-256 checks.
- :mod:`minigan.data.mnist`: minigan's :class:`MNIST` and :class:`FashionMNIST`, which its
  scripts and trainer use (found, downloaded or, for MNIST, the 10,000 digits shipped inside
  the package; float32 images in [-1, 1]).
- :mod:`minigan.data.datasets` and :mod:`minigan.data.transforms`: torchvision's
  ``datasets.MNIST(root, train=True, download=True, transform=...)`` and ``transforms.Compose``
  / ``Resize`` / ``ToTensor`` / ``Normalize`` / ``CenterCrop``, so that PyTorch scripts run with
  only their imports changed.

Batches come from :class:`minigan.utils.data.DataLoader` (also importable from here).
"""
from ..utils.data import ArrayDataset, DataLoader, Dataset, TensorDataset  # noqa: F401
from .download import DownloadError, TextProgress, download  # noqa: F401
from .idx import IMAGES_MAGIC, LABELS_MAGIC, DataError, read_idx  # noqa: F401
from .mnist import EmbeddedSampleWarning, FashionMNIST, MNIST, training_set  # noqa: F401
from . import datasets, transforms  # noqa: F401,E402
